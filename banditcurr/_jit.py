"""One place for Numba's compile flags.

Every kernel of banditcurr is compiled with ``jit``: cached on disk (so a second
process start does not recompile), no GIL held, no fast-math (results must equal
the NumPy references). ``NUMBA_DISABLE_JIT=1`` turns every kernel into plain Python,
which is how coverage sees inside them.
"""

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def jit(function):
    """Compile ``function`` with banditcurr's standard Numba options."""
    return njit(**JIT_OPTIONS)(function)
