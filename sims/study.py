"""The validation study of docs/simulator-study.md, reproducible with one command.

    python -m banditcurr.sims.study --seeds 100 --out out/study [--images docs/img]

For each scenario (kk12, math-pool, drift): every registered scheduler at its default
arm level, plus the variants the claims need (the Beta-posterior schedulers at
distribution level on kk12, Thompson also with MoPPS's decay 0.5; on every scenario
uniform with DAPO dynamic sampling, with the pass-rate band gate and with SPEED-RL
screening, GRESO with DAPO's gate, AdaRFT and E2H on per-prompt difficulty labels, and
uniform with the Knapsack-RL allocation from the true success rates; CurES with its
rollout allocation and uniform with the Neyman allocation from the true success rates
on math-pool; discounted UCB on drift). Writes
OUT/<scenario>/results.json and curves.png (as ``banditcurr simulate`` does),
OUT/tables.md (the markdown tables of the study), and copies the figures to
IMAGES/sim-<scenario>.png when ``--images`` is given.
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

import banditcurr as bc

from .cli import build_results, format_table
from .metrics import compare, mean_interval
from .plots import plot_curves
from .presets import make_scenario
from .simulate import simulate

#: Issue 14's options on every scenario: the post-rollout gates (DAPO's mixed-group gate,
#: the pass-rate band [0.25, 0.75]), SPEED-RL screening with N_init = 4, GRESO on top of
#: DAPO's gate (as the paper runs it), AdaRFT and E2H on each prompt's own difficulty
#: (their default labels are the distribution index, which on drift does not order
#: difficulty: two families side by side), and Knapsack-RL's allocation (with uniform: from
#: the true p, as the oracle Neyman allocation on math-pool).
NEW_OPTIONS = [("uniform", {"gate": "dynamic-sampling"}), ("uniform", {"gate": "band"}),
               ("uniform", {"screening": 4}), ("greso", {"gate": "dynamic-sampling"}),
               ("adarft:difficulty=prompts", {}), ("e2h@prompt:difficulty=prompts", {}),
               ("uniform", {"allocation": "knapsack"})]
EXTRA = {
    "kk12": [("thompson@distribution", {}), ("thompson@distribution:decay=0.5", {}),
             ("learnability@distribution", {})] + NEW_OPTIONS,
    "math-pool": NEW_OPTIONS + [("cures", {"allocation": "posterior"}), ("uniform", {"allocation": "oracle"})],
    "drift": [("dump-ucb:count_discount=0.99", {})] + NEW_OPTIONS,
}


def runs_for(name, seeds, progress=None):
    scenario = make_scenario(name)
    plan = [(spec, {}) for spec in ["uniform"] + [s for s in bc.available() if s != "uniform"]] + EXTRA[name]
    runs = []
    for spec, options in plan:
        run = simulate(scenario, spec, seeds=seeds, **options)
        if options.get("gate"):
            run.label = f"{spec}+{options['gate']}"
        if options.get("screening"):
            run.label = f"{spec}+screening-{options['screening']}"
        if options.get("allocation"):
            run.label = f"{spec}+{options['allocation']}-allocation"
        runs.append(run)
        if progress:
            progress(f"{name}: {run.label} {run.seconds:.1f} s")
    return scenario, runs


def markdown_table(comparison, baseline="uniform"):
    lines = ["| scheduler | arms | final accuracy [95% CI] | AUC | steps to target [95% CI] | speed-up vs uniform "
             "| rollouts to target | zero-variance groups |", "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)  # noqa: E731
    for label, s in comparison["schedulers"].items():
        lo, hi = s["steps_to_target_ci"]
        steps = "never" if s["steps_to_target"] is None else \
            f"{s['steps_to_target']:.0f} [{fmt(lo, '{:.0f}')}, {'never' if hi is None else f'{hi:.0f}'}]"
        ci = s["final_mean_accuracy_ci"]
        lines.append(f"| {label} | {s['arm_level']} | {s['final_mean_accuracy']:.3f} [{fmt(ci[0])}, {fmt(ci[1])}] "
                     f"| {s['auc']:.3f} | {steps} | {fmt(s.get(f'speedup_vs_{baseline}'), '{:.2f}x')} "
                     f"| {fmt(s['rollouts_to_target'], '{:.3g}')} | {s['zero_variance_fraction']:.3f} |")
    return "\n".join(lines)


def per_distribution_table(scenario, runs, labels):
    """Final held-out accuracy per distribution, and each label's gain over uniform
    with a Welch 95% interval."""
    by_label = {run.label: run for run in runs}
    base = by_label["uniform"].accuracy[:, -1]
    head = "| distribution | uniform | " + " | ".join(f"{lab} | gain" for lab in labels) + " |"
    lines = [head, "|---" * (2 + 2 * len(labels)) + "|"]
    for c, dist in enumerate(scenario.distributions):
        cells = [dist, f"{base[:, c].mean():.3f}"]
        for lab in labels:
            mine = by_label[lab].accuracy[:, -1, c]
            gain = mine.mean() - base[:, c].mean()
            se = np.sqrt(mine.var(ddof=1) / mine.size + base[:, c].var(ddof=1) / base.shape[0])
            cells += [f"{mine.mean():.3f}", f"{gain:+.3f} +- {1.96 * se:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m banditcurr.sims.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--out", default="out/study")
    parser.add_argument("--images", default=None, help="copy the figures here as sim-<scenario>.png")
    parser.add_argument("--scenarios", default="kk12,math-pool,drift")
    args = parser.parse_args(argv)
    sections = []
    for name in args.scenarios.split(","):
        scenario, runs = runs_for(name, args.seeds, progress=lambda text: print(text, file=sys.stderr))
        comparison = compare(runs, default=scenario.target)
        print(format_table(comparison))
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        settings = {k: v for k, v in runs[0].settings.items() if k not in ("hyperparameters", "arm_level", "n_arms")}
        results = build_results(scenario, runs, comparison, settings)
        with open(os.path.join(folder, "results.json"), "w") as handle:
            json.dump(results, handle, indent=1)
        plot_curves(results, os.path.join(folder, "curves.png"))
        if args.images:
            os.makedirs(args.images, exist_ok=True)
            shutil.copyfile(os.path.join(folder, "curves.png"), os.path.join(args.images, f"sim-{name}.png"))
        start = mean_interval(runs[0].zero_variance[:, 0])[0]
        sections.append(f"## {name}\n\n{scenario.summary()}\n\nuniform's zero-variance share at step 1: "
                        f"{start:.3f}\n\ntarget: {comparison['target']:.3f} ({comparison['target_source']})\n\n"
                        + markdown_table(comparison))
        if name == "kk12":
            sections.append(per_distribution_table(scenario, runs, ["dump-ucb", "thompson", "learnability"]))
    with open(os.path.join(args.out, "tables.md"), "w") as handle:
        handle.write("\n\n".join(sections) + "\n")
    print(f"wrote {os.path.join(args.out, 'tables.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
