"""Core benchmark: every registered scheduler, its Numba path against its NumPy twin.

    python -m benchmarks.core [--json [PATH]] [--schedulers a,b] [--repeats N] [--sizes 12,1000000]
                              [--full-k] [--knapsack] [--gate mixed --gate band --gate std:lo=0.4,hi=0.5]

One step is what a GRPO loop does with a scheduler: ``update`` with a batch of B = 128
groups of G = 16 rewards, then ``sample(128)``. The Numba path goes through the public
API (validation included); the twin is the plain implementation in ``tests/naive.py``,
driven with the same feedback and a copy of the same random stream, so the two should
also draw the same arms (the ``same draws`` column). Each figure is the median over
timed steps of microseconds per step, after warm-up steps (compilation excluded).

Cases: K = 12 (distribution level: each slot its own draw) and K = 1,000,000 (prompt
level: distinct prompts). At K = 1,000,000 some presets need an option, printed with
the case: dump-ucb keeps a window of K x W floats, so W = 8 instead of 300; the
Beta-posterior samplers score a candidate pool of 8 B prompts (their prompt-level
mode) instead of all K; ``--full-k`` drops that pool, so they score all K prompts
each step as their presets do. Twins too slow for the requested repeats run fewer timed
steps within a time budget (3 s a case; the count is printed), and a twin whose single
step passes 10 s is abandoned and reported so (TSCL's twin enumerates every joint draw
of its windows: exact, but only for a few arms).

``--gate SPEC`` (repeatable) adds one row per post-rollout gate (``banditcurr.Gate``): the public
``keep_groups`` (validation included) against the twin ``naive.keep_gate`` on the same
(B, G) batches of rewards, and whether their masks agree (the ``same draws`` column).
"""

import argparse
import gc
import json
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import banditcurr as bc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import naive  # noqa: E402  (the twins live with the tests)

BATCH, GROUP_SIZE, WARMUP = 128, 16, 3
TWIN_BUDGET_S = 3.0  # wall time allowed for a twin's timed steps in one case
TWIN_STEP_LIMIT_S = 10.0  # a twin step slower than this is abandoned (reported as such)

# Options needed at prompt level (K >= 100,000), and why.
LARGE_K_OPTIONS = {
    "dump-ucb": ({"window": 8}, "window 8 (K x W float memory; preset 300)"),
    "thompson": ({"pool_ratio": 8}, "pool of 8 B candidates"),
    "learnability": ({"pool_ratio": 8}, "pool of 8 B candidates"),
    "sfl": ({"pool_ratio": 8}, "pool of 8 B candidates"),
    "cures": ({"pool_ratio": 8}, "pool of 8 B candidates"),
}


def options_for(name, n_arms, full_k=False):
    """(options, note) of ``name`` at ``n_arms``; ``full_k`` keeps the preset's all-K
    sampling instead of a candidate pool."""
    if n_arms >= 100_000 and name in LARGE_K_OPTIONS:
        options, note = LARGE_K_OPTIONS[name]
        if not (full_k and "pool_ratio" in options):
            return options, note
        return {}, "preset, all K (--full-k)"
    return {}, "preset"


def twin_of(scheduler):
    """The NumPy twin with the same settings (``Naive<ClassName>`` in tests/naive.py),
    or None when there is none."""
    cls = type(scheduler)
    if cls.__name__ == "TwoLevel":
        h = scheduler.hyperparameters
        sizes = np.bincount(scheduler.groups)
        top = getattr(naive, "Naive" + type(bc.make(h["top"], 1)).__name__)(len(sizes), **h["top_params"])
        inner_cls = getattr(naive, "Naive" + type(bc.make(h["inner"], 1)).__name__)
        inners = [inner_cls(int(n), **h["inner_params"]) for n in sizes]
        return naive.NaiveTwoLevel(scheduler.groups, top, inners)
    twin_cls = getattr(naive, "Naive" + cls.__name__, None)
    return None if twin_cls is None else twin_cls(scheduler.n_arms, **scheduler.hyperparameters)


def feedback(n_arms, n_steps, seed=0):
    """Identical feedback for both paths: per step, arms (int64, B) and rewards
    (float64, (B, G)) with arm k succeeding with a fixed probability of its own."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(n_steps):
        if n_arms >= BATCH:
            arms = rng.choice(n_arms, BATCH, replace=False).astype(np.int64)
        else:
            arms = rng.integers(0, n_arms, BATCH).astype(np.int64)
        success = (arms * 0.618034) % 1.0
        rewards = (rng.random((BATCH, GROUP_SIZE)) < success[:, None]).astype(np.float64)
        steps.append((arms, rewards))
    return steps


class Overtime(Exception):
    """A single step ran past its limit."""


def _interrupt(signum, frame):
    raise Overtime


def call_with_limit(function, args, limit_s):
    """``function(*args)``, interrupted by Overtime after ``limit_s`` seconds where the
    platform has interval timers (POSIX)."""
    if limit_s is None or not hasattr(signal, "setitimer"):
        return function(*args)
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def time_steps(step, steps, max_steps, budget_s=None, step_limit_s=None):
    """Median microseconds of ``step(arms, rewards)`` over up to ``max_steps`` timed
    steps after WARMUP untimed ones, stopping once ``budget_s`` is spent; returns
    (median or None if a step passed ``step_limit_s``, timed count, draws)."""
    draws, times = [], []
    gc.disable()
    try:
        start = time.perf_counter()
        for index, (arms, rewards) in enumerate(steps[:WARMUP + max_steps]):
            t0 = time.perf_counter()
            try:
                draws.append(call_with_limit(step, (arms, rewards), step_limit_s))
            except Overtime:
                return None, 0, draws
            if index >= WARMUP:
                times.append(time.perf_counter() - t0)
            if budget_s is not None and index >= WARMUP and time.perf_counter() - start > budget_s:
                break
    finally:
        gc.enable()
    return statistics.median(times) * 1e6, len(times), draws


def run_case(name, n_arms, repeats, full_k=False):
    options, note = options_for(name, n_arms, full_k)
    scheduler = bc.make(name, n_arms=n_arms, seed=0, **options)
    twin = twin_of(scheduler)
    steps = feedback(n_arms, WARMUP + repeats)
    offsets = np.arange(BATCH + 1) * GROUP_SIZE

    def numba_step(arms, rewards):
        scheduler.update(arms, rewards)
        return scheduler.sample(BATCH)

    result = {"scheduler": name, "n_arms": n_arms, "options": options, "note": note}
    twin_rng = naive.Xoshiro(scheduler.state_dict()["rng"])
    result["numba_us"], result["numba_steps"], numba_draws = time_steps(numba_step, steps, repeats)
    if twin is None:
        result.update(twin_us=None, twin_steps=0, speedup=None, same_draws=None, note=note + "; no twin")
        return result

    def twin_step(arms, rewards):
        twin.update(arms, rewards.reshape(-1), offsets)
        return np.asarray(twin.sample(twin_rng, BATCH))

    result["twin_us"], result["twin_steps"], twin_draws = time_steps(
        twin_step, steps, repeats, TWIN_BUDGET_S, TWIN_STEP_LIMIT_S)
    if result["twin_us"] is None:  # the twin cannot do this case (e.g. it enumerates)
        result.update(speedup=None, same_draws=None, note=note + f"; twin: one step > {TWIN_STEP_LIMIT_S:g} s")
        return result
    result["speedup"] = result["twin_us"] / result["numba_us"]
    result["same_draws"] = all(np.array_equal(a, b) for a, b in zip(numba_draws, twin_draws))
    return result


KNAPSACK_CASE = (32, 256, 64)  # prompts, rollout budget, cap per prompt (the twin's DP is pure Python)


def run_knapsack_case(repeats):
    """``bc.allocate_knapsack`` against its twin (``naive.allocate_knapsack``) on fresh
    success rates each step; ``same draws`` = the same sizes."""
    n, budget, cap = KNAPSACK_CASE
    rng = np.random.default_rng(0)
    steps = [(rng.random(n), None) for _ in range(WARMUP + repeats)]
    result = {"scheduler": "knapsack-alloc", "n_arms": n, "options": {"budget": budget, "max_size": cap},
              "note": f"allocate_knapsack: {n} prompts, budget {budget}, max_size {cap}"}
    result["numba_us"], result["numba_steps"], fast = time_steps(
        lambda p, _: bc.allocate_knapsack(p, budget, max_size=cap), steps, repeats)
    result["twin_us"], result["twin_steps"], slow = time_steps(
        lambda p, _: naive.allocate_knapsack(p, budget, max_size=cap)[0], steps, repeats, TWIN_BUDGET_S)
    result["speedup"] = result["twin_us"] / result["numba_us"]
    result["same_draws"] = all(np.array_equal(a, b) for a, b in zip(fast, slow))
    return result


def run_gate_case(spec, repeats):
    """The gate ``spec`` on B groups of G rewards per step: Numba path against its twin."""
    gate = bc.parse_gate(spec)
    steps = feedback(12, WARMUP + repeats)
    offsets = np.arange(BATCH + 1) * GROUP_SIZE
    result = {"scheduler": f"gate {gate.kind}", "n_arms": BATCH, "options": {"gate": gate.spec},
              "note": f"{gate.spec}: keep_groups vs naive.keep_gate, B groups of G"}
    result["numba_us"], result["numba_steps"], masks = time_steps(
        lambda arms, rewards: bc.keep_groups(rewards, gate=gate), steps, repeats)
    result["twin_us"], result["twin_steps"], twin_masks = time_steps(
        lambda arms, rewards: naive.keep_gate(rewards.reshape(-1), offsets, gate.kind, gate.lo, gate.hi),
        steps, repeats, TWIN_BUDGET_S, TWIN_STEP_LIMIT_S)
    result["speedup"] = result["twin_us"] / result["numba_us"]
    result["same_draws"] = all(np.array_equal(a, b) for a, b in zip(masks, twin_masks))
    return result


def format_table(results):
    lines = [f"{'scheduler':<14}{'K':>9}  {'numba us':>9} {'twin us':>11} {'speedup':>8}  {'same draws':<10} "
             f"{'twin steps':>10}  options",
             "-" * 100]
    for r in results:
        twin = "-" if r["twin_us"] is None else f"{r['twin_us']:11.1f}"
        speed = "-" if r["speedup"] is None else f"{r['speedup']:7.1f}x"
        same = {None: "-", True: "yes", False: "NO"}[r["same_draws"]]
        lines.append(f"{r['scheduler']:<14}{r['n_arms']:>9,}  {r['numba_us']:9.1f} {twin:>11} {speed:>8}  "
                     f"{same:<10} {r['twin_steps']:>10}  {r['note']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedulers", default=",".join(bc.available()),
                        help="comma-separated registered names (default: all)")
    parser.add_argument("--sizes", default="12,1000000", help="comma-separated numbers of arms K")
    parser.add_argument("--repeats", type=int, default=200, help="timed steps per case (default 200)")
    parser.add_argument("--full-k", action="store_true",
                        help="at K >= 100,000 score all K prompts (no candidate pool) where the preset does")
    parser.add_argument("--knapsack", action="store_true",
                        help="also time bc.allocate_knapsack against its twin (32 prompts, budget 256, cap 64)")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write results as JSON to PATH (stdout when no PATH)")
    parser.add_argument("--gate", action="append", default=[], metavar="SPEC",
                        help="also time this post-rollout gate (repeatable; e.g. mixed, band, std:lo=0.4,hi=0.5)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.schedulers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(bc.available()))
    if unknown:
        parser.error(f"unknown scheduler(s) {unknown}; known: {', '.join(bc.available())}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    sizes = [int(k) for k in args.sizes.split(",")]
    results = []
    cases = [(run_case, (name, n_arms, args.repeats, args.full_k)) for n_arms in sizes for name in names]
    if args.knapsack:
        cases.append((run_knapsack_case, (args.repeats,)))
    for spec in args.gate:
        cases.append((run_gate_case, (spec, args.repeats)))
    for run, case in cases:
        results.append(run(*case))
        if args.json != "-":
            print(format_table(results[-1:]).splitlines()[-1] if results[1:] else format_table(results),
                  flush=True)
    report = {"batch": BATCH, "group_size": GROUP_SIZE, "results": results}
    if args.json == "-":
        print(json.dumps(report, indent=1))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
