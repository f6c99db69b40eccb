"""Cold start: a first run (empty Numba cache) against the next one (warm cache).

    python -m benchmarks.cold_start                 # both workloads, 3 repeats
    python -m benchmarks.cold_start --repeats 1 --skip-demo
    python -m benchmarks.cold_start --baseline /tmp/old   # also an older copy, interleaved

Each measurement is a fresh process with its own NUMBA_CACHE_DIR: "cold" starts with
the directory empty, "warm" runs the same command again on it. Workloads:

- ``make``: ``import banditcurr as bc; bc.make('dump-ucb', n_arms=12).sample(8)``
  (target: cold <= 10 s);
- ``demo``: ``make demo``'s command (kk12, uniform, dump-ucb, thompson, learnability,
  100 seeds x 200 steps, no progress bar; target: cold <= 2 x warm + 15 s).

Reported per run: wall seconds and CPU seconds (user + system of the process). On a
shared 2-core machine the wall time grows with the other processes' load (printed);
the CPU time barely does, and compiling is single-threaded, so CPU seconds are the
better estimate of a quiet machine's wall time for ``make`` and for the compile part
of ``demo`` (whose engine runs on both cores: its warm wall time on a quiet machine is
about half its CPU time). ``--baseline DIR`` runs the same commands with
``PYTHONPATH=DIR`` (a copy of an older banditcurr, with sims/ and llm/ copied inside
it as banditcurr/sims and banditcurr/llm), alternating with the current code so that
both see the same load.

Measured 2026-12-04, 23:22 UTC, on the shared 2-core machine at load average 1.5-2
(``--repeats 3 --baseline DIR``, medians; ``baseline``: commit d113403, which compiled
one engine per scheduler with its kernels inside; ``current``: the engine takes the
kernels and the allocation as first-class functions and is compiled once):

=====  ===================================  ===================================
run    current: cold / warm                 baseline: cold / warm
=====  ===================================  ===================================
make   6.4 s (6.6 CPU) / 0.7 s              6.5 s (6.7 CPU) / 0.7 s
demo   28.7 s (52.5 CPU) / 12.3 s (21.9)    56.1 s (95.4 CPU) / 12.2 s (21.9)
=====  ===================================  ===================================

Both targets are met by the current code (demo: 28.7 s against 2 x 12.3 + 15 = 39.7
s); the baseline missed the demo's by 17 s. The subprocesses run outside the checkout
(their working directory is the temporary folder): run from the repository root, a
``-m`` module would import the checkout's ``banditcurr/`` ahead of ``PYTHONPATH`` and
time the current code under both labels (the first attempt at the figures above did).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MAKE = [sys.executable, "-c", "import banditcurr as bc; bc.make('dump-ucb', n_arms=12).sample(8)"]
DEMO = [sys.executable, "-m", "banditcurr.cli", "simulate", "--scenario", "kk12", "--schedulers",
        "uniform,dump-ucb,thompson,learnability", "--seeds", "100", "--steps", "200", "--no-progress"]


def timed(command, cache_dir, out_dir, pythonpath=None):
    """(wall seconds, CPU seconds) of the command in a fresh process with
    NUMBA_CACHE_DIR=cache_dir (and PYTHONPATH=pythonpath when given)."""
    command = command + (["--out", out_dir] if "simulate" in command else [])
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    os.makedirs(os.path.dirname(cache_dir), exist_ok=True)
    start = time.perf_counter()  # run outside the checkout: its banditcurr/ would shadow PYTHONPATH's
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=os.path.dirname(cache_dir))
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{command} failed: {process.stderr.read().decode()[-2000:]}")
    process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def measure(name, command, repeats, versions):
    """{version: {"cold": [(wall, cpu)], "warm": [...]}}, versions alternating."""
    results = {label: {"cold": [], "warm": []} for label, _ in versions}
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as root:
            dirs = {label: (os.path.join(root, label, "cache"), os.path.join(root, label, "out"))
                    for label, _ in versions}
            for phase in ("cold", "warm"):
                for label, path in versions:
                    results[label][phase].append(timed(command, *dirs[label], path))
        for label, _ in versions:
            (cw, cc), (ww, wc) = results[label]["cold"][-1], results[label]["warm"][-1]
            print(f"{name:5s} {label:8s} repeat {repeat + 1}: cold {cw:6.1f} s wall {cc:6.1f} s CPU, "
                  f"warm {ww:6.1f} s wall {wc:6.1f} s CPU; load {os.getloadavg()[0]:.1f}", flush=True)
    return results


def medians(runs):
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold/warm pairs per workload (default 3)")
    parser.add_argument("--skip-demo", action="store_true", help="only the make/sample workload")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="also time an older copy of banditcurr importable from DIR (PYTHONPATH)")
    args = parser.parse_args(argv)
    versions = [("current", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    workloads = [("make", MAKE)] + ([] if args.skip_demo else [("demo", DEMO)])
    for name, command in workloads:
        results = measure(name, command, args.repeats, versions)
        for label, _ in versions:
            (cold_wall, cold_cpu), (warm_wall, warm_cpu) = medians(results[label]["cold"]), \
                medians(results[label]["warm"])
            if name == "make":
                target = f"target cold <= 10 s: wall {'met' if cold_wall <= 10 else 'missed'}, " \
                         f"CPU {'met' if cold_cpu <= 10 else 'missed'}"
            else:
                bound = 2 * warm_wall + 15
                target = f"target cold <= 2 x warm + 15 s: wall {cold_wall:.1f} vs {bound:.1f} s " \
                         f"({'met' if cold_wall <= bound else 'missed'})"
            print(f"{name:5s} {label:8s} median: cold {cold_wall:.1f} s wall / {cold_cpu:.1f} s CPU, "
                  f"warm {warm_wall:.1f} s wall / {warm_cpu:.1f} s CPU; {target}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
