"""Study curriculum schedulers on a simulated GRPO learner, in seconds, over many seeds.

Example:
  banditcurr simulate --scenario kk12 --schedulers uniform,dump-ucb --seeds 100 --steps 200 --out out/kk12

Scheduler specs: NAME[@LEVEL][:KEY=VALUE]..., e.g. dump-ucb, thompson@distribution,
dump-ucb:count_discount=0.99. Scenarios: kk12, math-pool, drift, or module:function /
file.py:function returning a banditcurr.sims.Scenario. Writes DIR/results.json and
DIR/curves.png; prints a comparison table (mean and 95% interval over seeds).
"""

import inspect
import json
import os
import signal
import sys
import tempfile
import time

from banditcurr._atomic import write_atomically
from banditcurr._params import add_option, check_arguments, option_help

from ._options import add_target, parse_target, report
from .simulate import RUN_ARGUMENTS, SIMULATE_ARGUMENTS, simulate

#: simulate's arguments that are options of this command (their declarations and defaults are simulate's)
OPTIONS = ("seeds", "steps", "batch_size", "group_size", "arm_level", "max_rounds", "screening", "allocation",
           "saturation", "eval_every", "seed", "engine", "threads")


def add_arguments(parser):
    parser.add_argument("--scenario", default="kk12",
                        help="preset (kk12, math-pool, drift), module:function / file.py:function, or a scenario "
                             "file NAME.json (banditcurr calibrate --out) (default kk12)")
    parser.add_argument("--schedulers", default="uniform,dump-ucb",
                        help="comma-separated scheduler specs NAME[@LEVEL][:KEY=VALUE]... (default uniform,dump-ucb)")
    declared = {p.name: p for p in SIMULATE_ARGUMENTS + RUN_ARGUMENTS}
    defaults = inspect.signature(simulate).parameters
    for name in OPTIONS:
        add_option(parser, declared[name], default=defaults[name].default)
    add_target(parser)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="scenario parameter override, repeatable (e.g. --param transfer=0.5); the "
                             "presets' parameters are listed below")
    parser.epilog = preset_help()
    parser.add_argument("--gate", default="none", metavar="SPEC",
                        help="post-rollout gate: none, dynamic-sampling = DAPO (train on mixed groups only, "
                             "refill), band[:lo=0.25,hi=0.75] (pass rate k/n in the band), std:lo=X,hi=Y "
                             "(sqrt(p(1-p)) in the band) (default none)")
    parser.add_argument("--out", default=None, metavar="DIR", help="write DIR/results.json and DIR/curves.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--ledger", default=None, metavar="DIR",
                        help="also write every run's rollout ledger, one per scheduler and seed, to "
                             "DIR/<scheduler>/seed-<k>/ (banditcurr.ledger format, source 'simulate')")


def preset_help():
    """The presets' parameters with their bounds and defaults, from their declarations."""
    from .presets import PRESET_PARAMS

    lines = ["scenario parameters (--param KEY=VALUE):"]
    for name, params in PRESET_PARAMS.items():
        lines.append(f"  {name}:")
        lines += [f"    {p.name}: {option_help(p)}".replace("%%", "%") for p in params]
    return "\n".join(lines)


def _quiet(n_steps):
    """The progress callback when the bar is off."""


def _parse_params(pairs):
    from .schedulers import _value

    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --param expects KEY=VALUE, got {pair!r}")
        value = [_value(v) for v in text.split(",")] if "," in text else _value(text)
        params[key] = tuple(value) if isinstance(value, list) else value
    return params


def _cell(value, ci=None, fmt="{:.3f}"):
    if value is None:
        return "-"
    text = fmt.format(value)
    if ci and (ci[0] is not None or ci[1] is not None):
        bound = lambda v, missing: missing if v is None else fmt.format(v)  # noqa: E731
        text += f" [{bound(ci[0], '-')}, {bound(ci[1], 'never')}]"
    return text


def format_table(comparison, baseline="uniform"):
    """The comparison table as text, one row per scheduler."""
    header = ["scheduler", "level", "final acc [95% CI]", "AUC [95% CI]", "steps to target",
              f"x vs {baseline}", "rollouts to target", "zero-var frac"]
    rows = []
    for label, s in comparison["schedulers"].items():
        rows.append([label, s["arm_level"], _cell(s["final_mean_accuracy"], s["final_mean_accuracy_ci"]),
                     _cell(s["auc"], s["auc_ci"]), _cell(s["steps_to_target"], s["steps_to_target_ci"], "{:.0f}"),
                     _cell(s.get(f"speedup_vs_{baseline}"), None, "{:.2f}"),
                     _cell(s["rollouts_to_target"], None, "{:.3g}"), _cell(s["zero_variance_fraction"])])
    widths = [max(len(str(r[k])) for r in rows + [header]) for k in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    title = f"target mean accuracy {comparison['target']:.3f} ({comparison['target_source']})"
    return "\n".join([title, line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def build_results(scenario, runs, comparison, settings):
    """The results.json document."""
    from .metrics import mean_interval

    schedulers = {}
    for run in runs:
        summary = dict(comparison["schedulers"][run.label])
        mean = run.mean_accuracy
        bands = [mean_interval(mean[:, e]) for e in range(mean.shape[1])]
        summary["hyperparameters"] = run.settings.get("hyperparameters", {})
        summary["curve"] = {
            "steps": run.eval_steps.tolist(),
            "mean_accuracy": [b[0] for b in bands],
            "mean_accuracy_ci_low": [b[1] if b[1] == b[1] else None for b in bands],
            "mean_accuracy_ci_high": [b[2] if b[2] == b[2] else None for b in bands],
            "accuracy_per_distribution": run.accuracy.mean(axis=0).round(6).tolist(),
            "zero_variance_fraction": run.zero_variance.mean(axis=0).round(6).tolist(),
            "sampling_fraction": run.sampling_fraction().round(6).tolist(),
            "rollouts": run.rollouts.mean(axis=0).tolist(),
        }
        schedulers[run.label] = summary
    return {
        "scenario": scenario.name,
        "scenario_params": {k: list(v) if isinstance(v, tuple) else v for k, v in scenario.params.items()},
        "distributions": list(scenario.distributions),
        "settings": settings,
        "target": comparison["target"],
        "target_source": comparison["target_source"],
        "schedulers": schedulers,
    }


def _check_writable(folder):
    """Create ``folder`` if needed and prove a file can be written there, before any run."""
    try:
        os.makedirs(folder, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"--out {folder!r} is not a writable folder: {error.strerror or error}.") from None


def _dump_json(document, path):
    with open(path, "w") as handle:
        json.dump(document, handle, indent=1)


def _load_scenario(name, params):
    """A preset or module:function with --param overrides, or a saved scenario NAME.json."""
    from .presets import load_scenario
    from .scenario import Scenario

    if name.endswith(".json"):
        if params:
            raise ValueError("--param applies to presets and scenario functions, not to a scenario file.")
        return Scenario.load(name)
    return load_scenario(name, **_parse_params(params))


def _write_ledgers(runs, scenario, directory):
    from .ledgers import write_ledgers

    written = [path for run in runs for path in write_ledgers(run, scenario, directory)]
    print(f"wrote {len(written)} ledger(s) under {directory}")


def run(args):
    from .simulate import check_record_memory, prepare
    from .metrics import compare

    try:
        scenario = _load_scenario(args.scenario, args.param)
        specs = [s for s in (x.strip() for x in args.schedulers.split(",")) if s]
        if not specs:
            raise ValueError("The --schedulers list is empty: name at least one, e.g. uniform,dump-ucb.")
        if len(set(specs)) != len(specs):
            raise ValueError(f"The --schedulers list names a scheduler twice: {args.schedulers!r}.")
        options = dict(seeds=args.seeds, steps=args.steps, batch_size=args.batch_size, group_size=args.group_size,
                       arm_level=args.arm_level, seed=args.seed, eval_every=args.eval_every, gate=args.gate,
                       max_rounds=args.max_rounds, allocation=args.allocation, saturation=args.saturation,
                       screening=args.screening)
        setups = [prepare(scenario, spec, **options) for spec in specs]  # fail before running
        check_arguments("simulate", RUN_ARGUMENTS, {"engine": args.engine, "threads": args.threads,
                                                    "trace": bool(args.ledger)})
        for setup in setups:
            check_record_memory(setup, bool(args.ledger))
        target = parse_target(args.target, "banditcurr simulate")
        if args.out:
            _check_writable(args.out)
    except (TypeError, ValueError) as error:
        return report(error)
    steps = setups[0].steps
    bar = None
    started = time.perf_counter()
    runs = []
    # Ctrl-C is recorded, not raised where it lands: inside Numba's compiler a
    # KeyboardInterrupt is swallowed or turned into another error. The run stops at the
    # next check: before each compile, between two chunks of the engine (progress is
    # always a callable, so the engine runs in chunks), after the last one.
    interrupted = []

    def stop_if_interrupted():
        if interrupted:
            raise KeyboardInterrupt

    def check(advance):
        def progress(n_steps):
            stop_if_interrupted()
            advance(n_steps)
        return progress

    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        if args.engine == "numba":  # compile before the bar starts, saying so when it takes time
            from banditcurr._jit import compile_with_notice

            from .simulate import compile_engines

            jobs, close = compile_engines(specs, setups, before_each=stop_if_interrupted)
            try:
                compile_with_notice(jobs)
            finally:
                close()
        progress = check(_quiet)
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=steps * len(specs), unit="step", desc=scenario.name, file=sys.stderr)
        for spec in specs:
            stop_if_interrupted()
            if bar is not None:
                bar.set_postfix_str(spec)
                progress = check(bar.update)
            runs.append(simulate(scenario, spec, engine=args.engine, threads=args.threads,
                                            progress=progress, trace=bool(args.ledger), **options))
        stop_if_interrupted()
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - started:.1f} s: nothing written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        if bar is not None:
            bar.close()
    comparison = compare(runs, target=target, default=scenario.target)
    print(format_table(comparison))
    print(f"{len(specs)} scheduler(s) x {args.seeds} seeds x {steps} steps in {time.perf_counter() - started:.1f} s "
          f"({args.engine} engine)")
    if args.ledger:
        _write_ledgers(runs, scenario, args.ledger)
    if args.out:
        settings = {**runs[0].settings, "engine": args.engine}
        settings.pop("hyperparameters", None)
        settings.pop("arm_level", None)
        settings.pop("n_arms", None)
        results = build_results(scenario, runs, comparison, settings)
        write_atomically(os.path.join(args.out, "results.json"), lambda path: _dump_json(results, path))
        from .plots import plot_curves

        write_atomically(os.path.join(args.out, "curves.png"), lambda path: plot_curves(results, path))
        print(f"wrote {os.path.join(args.out, 'results.json')} and {os.path.join(args.out, 'curves.png')}")
    return 0
