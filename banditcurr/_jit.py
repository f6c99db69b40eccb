"""One place for Numba's compile flags, and cache stamps that cannot go stale.

Every kernel of banditcurr is compiled with ``jit``: cached on disk (so a second
process start does not recompile), no GIL held, no fast-math (results must equal
the NumPy references). ``NUMBA_DISABLE_JIT=1`` turns every kernel into plain Python,
which is how coverage sees inside them.

Cache invalidation: Numba keys a cached function on its own source file only, but a
compiled caller contains its callees' code (two-level calls every plain scheduler,
the simulator's engine calls the kernels of the scheduler it runs). Editing one
scheduler would leave its callers' caches stale -- silently running the old code.
So for functions of this package the cache stamp is a content hash of the sources
they can reach: every ``.py`` file of the core (``banditcurr/``), of the function's own
subpackage when it lives elsewhere (``sims/``, ``llm/``), and of scheduler modules
registered from outside the package. Any edit there recompiles, once; a checkout
that only touches file times does not.

Fail-safe: the stamp is installed through Numba's cache-locator classes, a private
API (``numba.core.caching.CacheImpl._locator_classes``, checked up to the numba bound
in pyproject.toml). If a Numba release lacks it, kernels fall back to Numba's plain
caching with one warning, and ``import banditcurr`` still works. A
``NUMBA_CACHE_LOCATOR_CLASSES`` setting overrides the locators (and so these stamps):
that also warns once.

Concurrent compiles: Numba saves a cache entry by reading the index, picking a free
data file number, writing the index, then the data -- unlocked. Two processes
compiling in one checkout (two test runs, a run and the simulator's compile workers)
could pick the same number for different signatures, one's index naming the other's
code, or drop each other's entries. For this package's caches the save runs under an
exclusive lock on the cache folder (``fcntl.flock``; none where fcntl is missing) and
writes the data before the index that names it, so a reader never meets an entry
whose data is not there yet.
"""

import contextlib
import hashlib
import itertools
import os
import sys
import threading
import time
import warnings
from pathlib import Path

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}

_PACKAGE = __name__.rpartition(".")[0]


def _ours(name):
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def stamp_paths(module_name):
    """The source files whose content stamps the caches of ``module_name``'s kernels."""
    core = Path(sys.modules[_PACKAGE].__file__).parent
    roots = [core]
    parts = module_name.split(".")
    if len(parts) > 2:  # a subpackage: add its directory if it is not inside the core's
        sub = sys.modules.get(".".join(parts[:2]))
        if sub is not None and getattr(sub, "__file__", None):
            roots.append(Path(sub.__file__).parent)
    paths = {path for root in roots for path in root.rglob("*.py") if "__pycache__" not in path.parts}
    registry = sys.modules.get(f"{_PACKAGE}._registry")
    for module in getattr(registry, "MODULES", ()):  # schedulers registered from outside the package
        paths.add(Path(module.__file__))
    return sorted(paths)


def source_stamp(module_name):
    """sha1 over the contents of ``stamp_paths(module_name)`` (relative names included)."""
    digest = hashlib.sha1()
    for path in stamp_paths(module_name):
        digest.update(f"{path.name}|{path.stat().st_size};".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _LazyStamp:
    """``source_stamp(module_name)``, computed when Numba first compares or saves it
    (after every module, the registry included, is imported). Pickles as a str."""

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
    """Locator mixin for this package's functions: the content stamp above."""

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


@contextlib.contextmanager
def _folder_lock(path):
    """An exclusive lock on the folder ``path`` for the block (no lock without fcntl)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _locked_save(numba_save):
    """``IndexDataCacheFile.save`` for this package's caches: under the folder's lock,
    the data first, then the index entry (see the module doc); others' as Numba does."""

    def save(self, key, data):
        if not isinstance(self._source_stamp, _LazyStamp):
            return numba_save(self, key, data)
        with _folder_lock(self._cache_path):
            overloads = self._load_index()
            name = overloads.get(key)
            if name is None:
                taken = set(overloads.values())
                name = next(n for n in map(self._data_name, itertools.count(1)) if n not in taken)
            self._save_data(name, data)
            overloads[key] = name
            self._save_index(overloads)

    save.numba_save = numba_save
    return save


def _install():
    """Put the stamped locators first in Numba's list and lock this package's cache
    saves; return a problem (str) or None."""
    try:
        from numba.core import caching

        bases = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator]
        classes = caching.CacheImpl._locator_classes
        if not isinstance(classes, list):
            return "numba.core.caching.CacheImpl._locator_classes is not a list"
        cache_file = caching.IndexDataCacheFile
        for name in ("save", "_load_index", "_save_index", "_save_data", "_data_name"):
            getattr(cache_file, name)
    except (ImportError, AttributeError) as error:
        return f"numba {_numba_version()} lacks a cache internal banditcurr uses ({error})"
    if not any(issubclass(cls, _PackageStamp) for cls in classes):
        classes[0:0] = [type(f"_Package{base.__name__}", (_PackageStamp, base), {}) for base in bases]
    if not hasattr(cache_file.save, "numba_save"):
        cache_file.save = _locked_save(cache_file.save)
    return None


def _numba_version():
    import numba

    return numba.__version__


def _warn(problem, consequence):
    warnings.warn(f"banditcurr: {problem}; {consequence}", RuntimeWarning, stacklevel=3)


PROBLEM = _install()
if PROBLEM is not None:
    _warn(PROBLEM, "kernels use Numba's plain on-disk cache, which may keep a caller's stale code after an "
                   "upgrade: delete the __pycache__/*.nbi files (or NUMBA_CACHE_DIR) after upgrading banditcurr.")
elif os.environ.get("NUMBA_CACHE_LOCATOR_CLASSES"):
    _warn("NUMBA_CACHE_LOCATOR_CLASSES is set, which replaces banditcurr's cache locators",
          "a kernel's cache is then not refreshed when a module it calls changes: delete the cache after "
          "editing or upgrading banditcurr.")


def jit(function):
    """Compile ``function`` with banditcurr's standard Numba options."""
    return njit(**JIT_OPTIONS)(function)


def compile_with_notice(jobs, stream=None, delay=0.5):
    """Run ``jobs`` ((label, callable) pairs) in order: calls that compile kernels.

    Loading compiled kernels from the cache takes well under ``delay`` seconds; if the
    jobs take longer, they are compiling, and a line on ``stream`` (stderr) says so
    while it lasts, updated every second -- never a silent wait:

        compiling kernels (first run only) ... [2/4] dump-ucb, 31 s

    Returns the seconds the jobs took.
    """
    stream = sys.stderr if stream is None else stream
    state = {"index": 0, "label": "", "shown": False}
    done = threading.Event()
    start = time.perf_counter()

    def notice():
        if done.wait(delay):
            return
        while True:
            state["shown"] = True
            stream.write(f"\rcompiling kernels (first run only) ... [{state['index'] + 1}/{len(jobs)}] "
                         f"{state['label']}, {time.perf_counter() - start:.0f} s   ")
            stream.flush()
            if done.wait(1.0):
                return

    ticker = threading.Thread(target=notice, daemon=True)
    ticker.start()
    try:
        for index, (label, job) in enumerate(jobs):
            state["index"], state["label"] = index, label
            job()
    finally:
        done.set()
        ticker.join()
    seconds = time.perf_counter() - start
    if state["shown"]:
        stream.write(f"\rcompiled kernels in {seconds:.0f} s (cached for the next run)" + " " * 30 + "\n")
        stream.flush()
    return seconds
