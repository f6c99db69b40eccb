"""Numba cache invalidation across modules: a kernel's cache stamp covers its callees."""

import pickle
import sys
import types

from numba import njit

from banditcurr import _dispatch, _jit, two_level, uniform


def test_dependencies_follow_globals_transitively():
    reached = set(_jit.dependencies("banditcurr.two_level"))
    kernel_modules = {kernels.update.py_func.__module__ for kernels in _dispatch.KINDS}
    assert kernel_modules <= reached and "banditcurr._dispatch" in reached
    assert "banditcurr.cures" not in _jit.dependencies("banditcurr.uniform")


def test_stamp_changes_when_a_dependency_changes(tmp_path):
    names = ("banditcurr._probe_caller", "banditcurr._probe_callee")
    files = [tmp_path / "caller.py", tmp_path / "callee.py"]
    for path in files:
        path.write_text("x = 1\n")
    modules = [types.ModuleType(name) for name in names]
    for module, path in zip(modules, files):
        module.__file__ = str(path)
    modules[0].callee = modules[1]
    try:
        sys.modules.update(zip(names, modules))
        before = _jit.source_stamp(names[0])
        assert _jit.dependencies(names[0]) == sorted(names)
        files[1].write_text("x = 2  # edited\n")
        assert _jit.source_stamp(names[0]) != before
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_package_kernels_use_the_package_stamp_and_others_do_not():
    locator = two_level._probs._cache._impl.locator
    assert isinstance(locator, _jit._PackageStamp)
    stamp = locator.get_source_stamp()
    assert pickle.loads(pickle.dumps(stamp)) == stamp.value() == _jit.source_stamp("banditcurr.two_level")
    assert isinstance(uniform._probs._cache._impl.locator, _jit._PackageStamp)
    outside = njit(cache=True)(lambda x: x + 1)
    assert not isinstance(outside._cache._impl.locator, _jit._PackageStamp)
