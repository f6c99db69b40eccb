"""Rank schedulers for a run from its ledger: calibrate, then simulate (``banditcurr predict``).

Predict the steps each scheduler would have saved in the run of LEDGER (ideally a uniform run).

Example:
  banditcurr predict out/run/ledger --schedulers uniform,dump-ucb,thompson,learnability,sec --out out/predict

Calibrates the simulated learner to the ledger (docs/calibration.md), then simulates every
scheduler on the calibrated scenario. Fit uncertainty is included: the seeds are split over
--draws parameter sets drawn from the fit's Laplace posterior (each with its own draw of the
prompts' difficulties), and the speed-up against uniform (uniform's steps to its final mean
held-out accuracy over the scheduler's) is computed per draw; the table shows the median
and the 2.5-97.5% range over draws. Writes DIR/prediction.json, DIR/prediction.png and the
calibrated DIR/scenario.json.
"""

import inspect
import json
import os
import time

import numpy as np

from banditcurr._params import add_option, argument, check_arguments

from ._options import add_target, parse_target, report

#: predict's arguments, declared once (checked by ``predict``, listed by ``--help``).
PREDICT_ARGUMENTS = (
    argument("seeds", "int", low=1, doc="simulated seeds per scheduler, all draws together"),
    argument("draws", "int", low=1, doc="parameter sets drawn from the fit's posterior; seeds are split over them"),
    argument("seed", "int", low=0, doc="base seed"),
    argument("eval_every", "int", low=1, doc="evaluate every N steps, as the run did: steps to target count "
                                             "evaluations"),
    argument("threads", "int", low=1, none_means=0, doc="threads of the compiled engine (None: all cores)"),
)


def parameter_draws(fit, draws, seed=0):
    """``draws`` parameter vectors: the fit itself first, then draws from the Laplace
    posterior N(x_hat, covariance), clipped to the parameters' bounds. Without a
    covariance (unidentifiable fit, or uncertainty=False) every draw is the fit."""
    rng = np.random.default_rng(seed)
    bounds = np.array(fit.objective.bounds())
    out = [fit.x.copy()]
    for _ in range(draws - 1):
        if np.any(fit.covariance):
            x = rng.multivariate_normal(fit.x, fit.covariance, method="eigh")
            out.append(np.clip(x, bounds[:, 0], bounds[:, 1]))
        else:
            out.append(fit.x.copy())
    return out


def predict(fit, schedulers, *, seeds=100, draws=10, seed=0, target="auto", eval_every=1, threads=None,
            progress=None):
    """Predicted speed-ups of ``schedulers`` (spec strings) against uniform for the run
    ``fit`` was calibrated on (a :class:`~banditcurr.sims.calibrate.Fit`).

    ``seeds`` are split evenly over ``draws`` parameter sets (``parameter_draws``); draw r
    simulates on ``fit.scenario_at(x_r, pool_seed=r)`` with base seed ``seed + r``.
    ``eval_every``: evaluate every that many steps, as the run did (steps to target are
    counted at evaluations). Returns a JSON-ready dict: per scheduler the median speed-up,
    its 2.5-97.5% range over draws, the per-draw values (None: never reached the target)
    and steps to target.
    """
    from .metrics import compare
    from .simulate import simulate

    specs = list(dict.fromkeys(["uniform", *schedulers]))
    checked = check_arguments("predict", PREDICT_ARGUMENTS, dict(seeds=seeds, draws=draws, seed=seed,
                                                               eval_every=eval_every, threads=threads))
    seeds, draws = checked["seeds"], checked["draws"]
    if seeds < draws:
        raise ValueError(f"predict needs draws <= seeds (each draw simulates at least one seed). "
                         f"Got draws={draws}, seeds={seeds}.")
    per_draw = seeds // draws
    started = time.perf_counter()
    table = {spec: {"speedups": [], "steps_to_target": [], "final_accuracy": []} for spec in specs}
    targets = []
    for r, x in enumerate(parameter_draws(fit, draws, seed)):
        scenario = fit.scenario_at(x, pool_seed=r)
        runs = [simulate(scenario, spec, seeds=per_draw, seed=seed + r, eval_every=eval_every, threads=threads,
                         progress=progress) for spec in specs]
        comparison = compare(runs, target=target, default=scenario.target)
        targets.append(comparison["target"])
        for spec in specs:
            summary = comparison["schedulers"][spec]
            table[spec]["speedups"].append(summary.get("speedup_vs_uniform"))
            table[spec]["steps_to_target"].append(summary["steps_to_target"])
            table[spec]["final_accuracy"].append(summary["final_mean_accuracy"])
    for spec, row in table.items():
        values = np.array([np.nan if v is None else v for v in row["speedups"]])
        reached = values[np.isfinite(values)]
        row["speedup"] = float(np.median(reached)) if reached.size > values.size / 2 else None
        row["speedup_interval"] = [float(np.percentile(reached, 2.5)), float(np.percentile(reached, 97.5))] \
            if reached.size else [None, None]
        row["draws_reaching_target"] = int(reached.size)
    return {"schedulers": table, "seeds": per_draw * draws, "draws": draws, "seeds_per_draw": per_draw,
            "target": target, "targets": targets, "seconds": time.perf_counter() - started,
            "calibration": fit.summary()}


def format_prediction(prediction):
    """The prediction as a text table."""
    header = ["scheduler", "speed-up vs uniform", "2.5-97.5% over draws", "draws reaching target",
              "final acc (median)"]
    rows = []
    for spec, row in prediction["schedulers"].items():
        low, high = row["speedup_interval"]
        rows.append([spec, "never" if row["speedup"] is None else f"{row['speedup']:.2f}",
                     "-" if low is None else f"[{low:.2f}, {high:.2f}]",
                     f"{row['draws_reaching_target']}/{prediction['draws']}",
                     f"{np.median(row['final_accuracy']):.3f}"])
    widths = [max(len(str(r[k])) for r in rows + [header]) for k in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def plot_prediction(prediction, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(prediction["schedulers"])
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
    for k, name in enumerate(names):
        row = prediction["schedulers"][name]
        values = [v for v in row["speedups"] if v is not None]
        ax.scatter(np.full(len(values), k), values, s=12, alpha=0.5, color="C0")
        if row["speedup"] is not None:
            ax.plot([k - 0.25, k + 0.25], [row["speedup"]] * 2, color="C3")
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("predicted speed-up vs uniform")
    ax.set_title("one dot per parameter draw; line: median")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser):
    parser.add_argument("ledger", help="ledger directory of the run (banditcurr.ledger; ideally a uniform run)")
    parser.add_argument("--schedulers", default="uniform,dump-ucb,thompson,learnability,sec",
                        help="comma-separated scheduler specs NAME[@LEVEL][:KEY=VALUE]... (uniform is always added)")
    defaults = inspect.signature(predict).parameters
    for param in PREDICT_ARGUMENTS:
        add_option(parser, param, default=defaults[param.name].default)
    add_target(parser)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write DIR/prediction.json, DIR/prediction.png and DIR/scenario.json")


def run(args):
    from .calibrate import calibrate

    try:
        specs = [s for s in (x.strip() for x in args.schedulers.split(",")) if s]
        if not specs:
            raise ValueError("The --schedulers list is empty: name at least one, e.g. uniform,dump-ucb.")
        target = parse_target(args.target, "banditcurr predict")
        options = dict(seeds=args.seeds, draws=args.draws, seed=args.seed, eval_every=args.eval_every,
                       threads=args.threads)
        check_arguments("predict", PREDICT_ARGUMENTS, options)  # before the fit, which takes a while
        fit = calibrate(args.ledger)
        print(fit.report())
        prediction = predict(fit, specs, target=target, **options)
    except (TypeError, ValueError) as error:  # a CalibrationError is a ValueError
        return report(error, args.ledger)
    print(format_prediction(prediction))
    print(f"{len(prediction['schedulers'])} scheduler(s) x {prediction['seeds']} seeds over {prediction['draws']} "
          f"parameter draws in {prediction['seconds']:.1f} s")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "prediction.json"), "w") as handle:
            json.dump(prediction, handle, indent=1)
        fit.scenario.save(os.path.join(args.out, "scenario.json"))
        plot_prediction(prediction, os.path.join(args.out, "prediction.png"))
        print(f"wrote {args.out}/prediction.json, prediction.png, scenario.json")
    return 0
