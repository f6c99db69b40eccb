"""``import banditcurr`` stays light and fast, and a second process start loads every
kernel from Numba's on-disk cache instead of compiling it again."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "vllm", "transformers", "matplotlib", "tqdm")

# Exercise every verb of every registered scheduler at both sides of the batch rule,
# then report, for every compiled function of the core, how many signatures it loaded
# from the cache (hits) and how many it compiled (misses).
EXERCISE = textwrap.dedent("""
    import importlib, json, pkgutil, sys, time
    start = time.perf_counter()
    import numba
    middle = time.perf_counter()
    import banditcurr as bc
    import_seconds, own_seconds = time.perf_counter() - start, time.perf_counter() - middle
    heavy = [name for name in %r if name in sys.modules]
    import numpy as np
    from numba.core.registry import CPUDispatcher
    for name in bc.available():
        s = bc.make(name, n_arms=5, seed=0)
        for batch in (3, 9):
            arms = s.sample(batch)
            s.update(arms, np.ones((batch, 4)))
            s.update(arms, np.ones(batch * 2), np.arange(batch + 1) * 2)
        s.probs()
        s.load_state_dict(s.state_dict())
    hits, misses = 0, []
    for info in pkgutil.iter_modules(bc.__path__):
        module = importlib.import_module("banditcurr." + info.name)
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
                hits += sum(obj.stats.cache_hits.values())
                misses += [obj.__module__ + "." + obj.__name__] * sum(obj.stats.cache_misses.values())
    print(json.dumps({"import_seconds": import_seconds, "own_seconds": own_seconds, "heavy": heavy,
                      "hits": hits, "misses": misses}))
""" % (HEAVY,))


def run_exercise(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    result = subprocess.run([sys.executable, "-c", EXERCISE], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def private_cache(folder):
    """A NUMBA_CACHE_DIR of this test's own, seeded with the checkout's cache files: another
    process compiling in the same checkout (another test run, the simulator's compile
    workers) adds entries to the shared index files while the test runs; in a folder of
    its own, the second start below sees only what the first one wrote."""
    from numba.core.caching import _CacheLocator

    import banditcurr

    package = Path(banditcurr.__file__).parent
    for source_dir in [package] + [p for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()]:
        target = folder / _CacheLocator.get_suitable_cache_subpath(str(source_dir / "__init__.py"))
        target.mkdir(parents=True, exist_ok=True)
        cached = source_dir / "__pycache__"
        # indexes before data: a save writes an entry's data before its index entry
        # (banditcurr._jit), so every copied entry finds its data, never an older file
        for suffix in ("nbi", "nbc"):
            for path in cached.glob(f"*.{suffix}") if cached.is_dir() else ():
                shutil.copy2(path, target / path.name)
    return folder


@pytest.fixture(scope="module")
def second_start(tmp_path_factory):
    cache_dir = private_cache(tmp_path_factory.mktemp("numba-cache"))
    run_exercise(cache_dir)  # fills the private cache with whatever the copied one lacked
    return run_exercise(cache_dir)


def test_import_does_not_pull_heavy_packages(second_start):
    assert second_start["heavy"] == []


def test_import_is_fast(second_start):
    """About 0.5 s on an idle machine, nearly all of it Numba's own import; the bounds
    leave room for a loaded CI machine. Kernels load lazily, at their first call."""
    assert second_start["own_seconds"] < 1.5, "banditcurr's own import (after numba) is slow"
    assert second_start["import_seconds"] < 5.0


def test_second_start_reuses_the_numba_cache(second_start):
    assert second_start["misses"] == [], "recompiled in a second process: " + ", ".join(second_start["misses"])
    assert second_start["hits"] > 0
