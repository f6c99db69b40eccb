"""Numba cache stamps: a kernel's cache is refreshed when any source it can reach
changes, and ``_jit`` survives a Numba without the internals it uses."""

import importlib
import os
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from numba import njit

from banditcurr import _jit, _registry, two_level, uniform

ROOT = Path(__file__).resolve().parents[1]


def test_stamp_covers_the_core_and_the_own_subpackage():
    core = {p.name for p in _jit.stamp_paths("banditcurr.uniform")}
    assert {"uniform.py", "two_level.py", "_dispatch.py", "_registry.py", "_jit.py"} <= core
    importlib.import_module("banditcurr.sims._engine")
    sims = {p.parent.name + "/" + p.name for p in _jit.stamp_paths("banditcurr.sims._engine")}
    assert "sims/_engine.py" in sims and "banditcurr/cures.py" in sims
    assert not any(name.startswith("sims/") for name in
                   (p.parent.name + "/" + p.name for p in _jit.stamp_paths("banditcurr.cures")))


def test_stamp_is_the_content_of_the_sources(tmp_path, monkeypatch):
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    for path in files:
        path.write_text("x = 1\n")
    monkeypatch.setattr(_jit, "stamp_paths", lambda name: files)
    before = _jit.source_stamp("banditcurr.anything")
    files[1].touch()  # a new mtime alone: same stamp
    assert _jit.source_stamp("banditcurr.anything") == before
    files[1].write_text("x = 2  # edited\n")
    assert _jit.source_stamp("banditcurr.anything") != before


def test_package_kernels_use_the_package_stamp_and_others_do_not():
    locator = two_level._probs._cache._impl.locator
    assert isinstance(locator, _jit._PackageStamp)
    stamp = locator.get_source_stamp()
    assert pickle.loads(pickle.dumps(stamp)) == stamp.value() == _jit.source_stamp("banditcurr.two_level")
    assert isinstance(uniform._probs._cache._impl.locator, _jit._PackageStamp)
    outside = njit(cache=True)(lambda x: x + 1)
    assert not isinstance(outside._cache._impl.locator, _jit._PackageStamp)


def test_the_installed_numba_has_the_internals_jit_uses():
    """Checked in CI at the newest numba pyproject.toml allows: raise the bound only
    when this passes (else banditcurr falls back to plain caching with a warning)."""
    assert _jit.PROBLEM is None


def test_numba_is_bounded_above_and_the_installed_one_fits():
    from packaging.requirements import Requirement

    text = (ROOT / "pyproject.toml").read_text()
    line = next(part for part in text.split('"') if part.startswith("numba"))
    requirement = Requirement(line)
    assert any(spec.operator in ("<", "<=") for spec in requirement.specifier), "numba needs an upper bound"
    import numba

    assert requirement.specifier.contains(numba.__version__), (numba.__version__, line)


FALLBACK = textwrap.dedent("""
    import warnings
    from numba.core import caching
    del caching.UserWideCacheLocator  # as if a numba release renamed an internal _jit uses
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import banditcurr as bc
        bc.make("uniform", 3, seed=0).sample(2)   # kernels still compile and run
    messages = [str(w.message) for w in caught if "banditcurr" in str(w.message)]
    print(len(messages), messages[0] if messages else "")
""")


@pytest.mark.parametrize("env, expected", [
    ({}, "lacks a cache internal"),
    ({"NUMBA_CACHE_LOCATOR_CLASSES": "InTreeCacheLocator"}, "NUMBA_CACHE_LOCATOR_CLASSES is set"),
])
def test_import_survives_missing_internals_and_warns_once(env, expected, tmp_path):
    script = FALLBACK if not env else FALLBACK.replace("del caching.UserWideCacheLocator", "")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), **env})
    assert result.returncode == 0, result.stderr
    count, message = result.stdout.strip().split(" ", 1)
    assert count == "1" and expected in message


def test_registry_modules_outside_the_package_are_stamped(tmp_path, monkeypatch):
    outside = types.ModuleType("toy_outside")
    outside.__file__ = str(tmp_path / "toy_outside.py")
    Path(outside.__file__).write_text("x = 1\n")
    monkeypatch.setattr(_registry, "MODULES", [*_registry.MODULES, outside])
    assert Path(outside.__file__) in _jit.stamp_paths("banditcurr.uniform")


SAVER = textwrap.dedent("""
    import sys
    from numba.core.caching import IndexDataCacheFile
    from banditcurr import _jit
    import banditcurr.uniform
    folder, name = sys.argv[1], sys.argv[2]
    cache = IndexDataCacheFile(folder, "shared", _jit._LazyStamp("banditcurr.uniform"))
    for n in range(30):
        cache.save((name, n), (name, n))
""")


def test_concurrent_saves_keep_every_entry_with_its_own_data(tmp_path):
    """Two processes saving into one cache index at once (as two compiles in one
    checkout do): no entry is lost and every entry loads its own data (unlocked, Numba
    could give two keys one data file)."""
    from numba.core.caching import IndexDataCacheFile

    names = ("a", "b", "c")
    processes = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path), name]) for name in names]
    assert all(process.wait(timeout=300) == 0 for process in processes)
    cache = IndexDataCacheFile(str(tmp_path), "shared", _jit._LazyStamp("banditcurr.uniform"))
    for name in names:
        for n in range(30):
            assert cache.load((name, n)) == (name, n)


def test_a_save_writes_the_data_before_the_index(tmp_path, monkeypatch):
    from numba.core.caching import IndexDataCacheFile

    order = []
    for method in ("_save_data", "_save_index"):
        original = getattr(IndexDataCacheFile, method)
        monkeypatch.setattr(IndexDataCacheFile, method,
                            lambda self, *args, method=method, original=original: (order.append(method),
                                                                                    original(self, *args)))
    cache = IndexDataCacheFile(str(tmp_path), "order", _jit._LazyStamp("banditcurr.uniform"))
    cache.save("key", 1)
    assert order == ["_save_data", "_save_index"] and cache.load("key") == 1
