"""Simulator benchmark: the compiled engine against the NumPy reference engine.

    python -m benchmarks.sims [--scenario kk12] [--schedulers uniform,dump-ucb] [--seeds 100]
                              [--steps 200] [--numpy-seeds N] [--threads N] [--json [PATH]]

Workload (default, the issue's target): kk12, 100 seeds x 200 steps x B = 128 prompts
x G = 16 rollouts, evaluation on the held-out set after every step. Both engines run
the same model, settings and seeds; the compiled one runs every seed (threads over
seed blocks), the NumPy one runs ``--numpy-seeds`` of them (all by default) and its
time is scaled to the full seed count (its cost is linear in seeds: one seed after
another). Compilation is excluded (a warm-up run first). Prints wall seconds per engine
and their ratio, plus the ratio of CPU seconds (all threads; what the ratio would be on
one core), and the load average: on a shared machine other processes take cores from
the compiled engine's threads. Target: compiled < 5 s per scheduler, >= 20x faster.

The NumPy engine drives the schedulers through their public classes, whose kernels are
compiled: for a scheduler with a costly update (dump-ucb), both engines pay it, and
the ratio measures the engines' share only for ``uniform``.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from banditcurr import sims
from banditcurr.sims.simulate import default_threads

TARGET_SECONDS, TARGET_RATIO = 5.0, 20.0


def bench(scenario, scheduler, seeds, steps, numpy_seeds, threads):
    sims.simulate(scenario, scheduler, seeds=2, steps=2, threads=threads)  # compile / load the cache
    start, cpu = time.perf_counter(), time.process_time()
    fast = sims.simulate(scenario, scheduler, seeds=seeds, steps=steps, threads=threads)
    compiled, compiled_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    slow = sims.simulate(scenario, scheduler, seeds=numpy_seeds, steps=steps, engine="numpy")
    scale = seeds / numpy_seeds
    reference, reference_cpu = (time.perf_counter() - start) * scale, (time.process_time() - cpu) * scale
    return {
        "scheduler": scheduler, "compiled_s": compiled, "numpy_s": reference, "ratio": reference / compiled,
        "compiled_cpu_s": compiled_cpu, "numpy_cpu_s": reference_cpu, "cpu_ratio": reference_cpu / compiled_cpu,
        "numpy_seeds_run": numpy_seeds,
        "final_accuracy_compiled": float(fast.mean_accuracy[:, -1].mean()),
        "final_accuracy_numpy": float(slow.mean_accuracy[:, -1].mean()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sims", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="kk12")
    parser.add_argument("--schedulers", default="uniform,dump-ucb")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--numpy-seeds", type=int, default=None, help="seeds the NumPy engine runs (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="compiled engine threads (default: all cores)")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                        help="also write the figures as JSON (to stdout with no PATH)")
    args = parser.parse_args(argv)
    scenario = sims.make_scenario(args.scenario)
    numpy_seeds = min(args.seeds, args.numpy_seeds or args.seeds)
    threads = args.threads or default_threads()
    print(f"{scenario.name}: {args.seeds} seeds x {args.steps} steps x B={scenario.batch_size} x "
          f"G={scenario.group_size}; compiled engine on {threads} thread(s) of {os.cpu_count()} CPUs; "
          f"NumPy engine on {numpy_seeds} seed(s), scaled to {args.seeds}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before: {load:.2f} (other processes share the cores: wall-clock ratios drop)")
    print(f"{'scheduler':14s} {'compiled s':>10s} {'numpy s':>9s} {'ratio':>7s} {'cpu ratio':>9s}  "
          f"final accuracy (compiled / numpy)")
    rows = []
    for scheduler in [s for s in args.schedulers.split(",") if s]:
        row = bench(scenario, scheduler, args.seeds, args.steps, numpy_seeds, args.threads)
        rows.append(row)
        verdict = "ok" if row["compiled_s"] < TARGET_SECONDS and row["ratio"] >= TARGET_RATIO else "MISSED"
        print(f"{scheduler:14s} {row['compiled_s']:10.2f} {row['numpy_s']:9.1f} {row['ratio']:6.1f}x "
              f"{row['cpu_ratio']:8.1f}x  "
              f"{row['final_accuracy_compiled']:.3f} / {row['final_accuracy_numpy']:.3f}   "
              f"[target < {TARGET_SECONDS:g} s and >= {TARGET_RATIO:g}x: {verdict}]")
    if args.json:
        document = json.dumps({"scenario": scenario.name, "seeds": args.seeds, "steps": args.steps,
                               "threads": threads, "cpus": os.cpu_count(), "rows": rows}, indent=1)
        if args.json == "-":
            print(document)
        else:
            with open(args.json, "w") as handle:
                handle.write(document + "\n")
    return 0 if all(np.isfinite(row["ratio"]) for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
