"""benchmarks/core.py runs from the repository root and reports what it promises."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_benchmark_json():
    command = [sys.executable, "-m", "benchmarks.core", "--schedulers", "uniform,dump-ucb",
               "--sizes", "12,100000", "--repeats", "3", "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["batch"], report["group_size"]) == (128, 16)
    cases = {(r["scheduler"], r["n_arms"]): r for r in report["results"]}
    assert set(cases) == {(n, k) for n in ("uniform", "dump-ucb") for k in (12, 100000)}
    for case in cases.values():
        assert case["numba_us"] > 0 and case["twin_us"] > 0 and case["numba_steps"] == 3
        assert case["speedup"] == case["twin_us"] / case["numba_us"]
        assert case["same_draws"] is True  # same feedback, same stream: the twin draws alike
    assert cases[("dump-ucb", 100000)]["options"] == {"window": 8}  # the documented large-K option
    assert cases[("dump-ucb", 12)]["options"] == {}


def test_core_benchmark_rejects_unknown_names():
    command = [sys.executable, "-m", "benchmarks.core", "--schedulers", "dump_ucb"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown scheduler" in result.stderr and "dump-ucb" in result.stderr
