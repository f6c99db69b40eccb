"""One place for Numba's compile flags.

Every kernel of banditcurr is compiled with ``jit``: cached on disk (so a second
process start does not recompile), no GIL held, no fast-math (results must equal
the NumPy references). ``NUMBA_DISABLE_JIT=1`` turns every kernel into plain Python,
which is how coverage sees inside them.

Cache invalidation: Numba keys a cached function on its own source file only, but a
compiled caller contains its callees' code (the dispatch in ``_dispatch.py``, the
two-level scheduler, the simulator's engine call kernels of other modules). Editing or
upgrading one scheduler would leave every caller's cache stale -- silently running the
old code. So for functions of this package the cache stamp covers the source files of
the function's module and of every package module it reaches through its globals
(imported modules, functions, kernels): a change to any of them recompiles it once.
"""

import hashlib
import os
import sys
import types

from numba import njit
from numba.core import caching

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}

_PACKAGE = __name__.rpartition(".")[0]


def _ours(name):
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def dependencies(module_name):
    """Names of the package modules ``module_name`` reaches through its globals,
    transitively (itself included)."""
    seen, stack = set(), [module_name]
    while stack:
        name = stack.pop()
        if name in seen or not _ours(name) or name not in sys.modules:
            continue
        seen.add(name)
        for value in vars(sys.modules[name]).values():
            other = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(other, str) and other not in seen:
                stack.append(other)
    return sorted(seen)


def source_stamp(module_name):
    """A digest of (path, mtime, size) of the source files of ``dependencies(module_name)``."""
    digest = hashlib.sha1()
    for name in dependencies(module_name):
        path = getattr(sys.modules[name], "__file__", None)
        if path:
            st = os.stat(path)
            digest.update(f"{name}|{st.st_mtime_ns}|{st.st_size};".encode())
    return digest.hexdigest()


class _LazyStamp:
    """``source_stamp(module_name)``, computed when Numba first compares or saves it:
    at decoration time the module's globals are still being filled, at the first call
    they are complete, so the stamp does not depend on import order. Pickles as a str."""

    __slots__ = ("module_name", "_value")

    def __init__(self, module_name):
        self.module_name = module_name
        self._value = None

    def value(self):
        if self._value is None:
            self._value = source_stamp(self.module_name)
        return self._value

    def __eq__(self, other):
        return self.value() == (other.value() if isinstance(other, _LazyStamp) else other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.value())

    def __reduce__(self):
        return str, (self.value(),)


class _PackageStamp:
    """Locator mixin for this package's functions: the stamp covers their dependencies."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _ours(getattr(py_func, "__module__", None) or ""):
            return None
        locator = super().from_function(py_func, py_file)
        if locator is not None:
            locator._module_name = py_func.__module__
        return locator

    def get_source_stamp(self):
        return _LazyStamp(self._module_name)


class _PackageUserProvidedLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    pass


class _PackageInTreeLocator(_PackageStamp, caching.InTreeCacheLocator):
    pass


class _PackageUserWideLocator(_PackageStamp, caching.UserWideCacheLocator):
    pass


_LOCATORS = [_PackageUserProvidedLocator, _PackageInTreeLocator, _PackageUserWideLocator]
if not any(issubclass(cls, _PackageStamp) for cls in caching.CacheImpl._locator_classes):
    caching.CacheImpl._locator_classes[0:0] = _LOCATORS


def jit(function):
    """Compile ``function`` with banditcurr's standard Numba options."""
    return njit(**JIT_OPTIONS)(function)
