"""Domain-mix shift of prompt retirement: per-level sampling shares on ``math-pool``.

    python -m benchmarks.retire_mix [--seeds 100] [--steps 300] [--schedulers uniform,retire,greso]
                                    [--scenario math-pool]

Retiring solved prompts (ScaleRL, open-instruct) removes the easy levels' prompts first,
so the batch drifts toward the hard levels: practitioners warn of this. For each
scheduler, the share of generated groups from each level over the whole run, over the
last quarter of it, and the final held-out accuracy per level (means over seeds), as a
markdown table (docs/schedulers/retire.md).
"""

import argparse

import numpy as np

from banditcurr.sims import make_scenario, simulate


def shares(result, first_step=0):
    """Share of groups per distribution over steps first_step.., pooled over seeds."""
    counts = result.arm_counts[:, first_step:].sum(axis=(0, 1)).astype(np.float64)
    return counts / counts.sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=None, help="default: the scenario's")
    parser.add_argument("--schedulers", default="uniform,retire,greso")
    parser.add_argument("--scenario", default="math-pool", help="a preset scenario (default math-pool)")
    args = parser.parse_args(argv)
    scenario = make_scenario(args.scenario)
    rows = []
    for spec in args.schedulers.split(","):
        result = simulate(scenario, spec, seeds=args.seeds, steps=args.steps, progress=None)
        steps = result.arm_counts.shape[1]
        final = result.accuracy[:, -1].mean(axis=0)
        rows.append((spec, shares(result), shares(result, 3 * steps // 4), final,
                     float(result.zero_variance.mean()), result.seconds))
    levels = " | ".join(result.distributions)
    print(f"| scheduler | what | {levels} |\n|---|---|" + "---|" * len(result.distributions))
    for spec, whole, late, final, _, _ in rows:
        for what, values, fmt in (("share, whole run", whole, "{:.3f}"), ("share, last quarter", late, "{:.3f}"),
                                  ("final accuracy", final, "{:.3f}")):
            print(f"| {spec} | {what} | " + " | ".join(fmt.format(v) for v in values) + " |")
    print()
    for spec, _, _, final, zero, seconds in rows:
        print(f"{spec}: mean final accuracy {final.mean():.3f}, zero-variance groups {zero:.3f}, {seconds:.1f} s")


if __name__ == "__main__":
    main()
