"""Scheduler kernels as first-class functions of compiled callers.

A compiled loop that drives a scheduler (the simulator's ``run_seeds``) takes the
scheduler's kernels as arguments and calls them by address:

    @jit
    def loop(sample, update, params, n_arms, f, i, rng, out, ...):
        sample(params, n_arms, f, i, rng, out)

    kernel = kernel_types(s._params, s._f, s._i, s._rng)  # {verb: FunctionType}
    entry = compile_caller(loop, (kernel["sample"], kernel["update"], typeof(s._params), ...))
    entry(s.kernels.sample, s.kernels.update, s._params, ...)

Numba types such an argument as ``types.FunctionType(signature)``: the loop is compiled
once for every scheduler with kernels of that signature (all of them, by the kernel
contract in docs/contract.md, composites and schedulers registered at run time
included), and each scheduler's kernels are compiled once, for the class and the loop
alike, when the types agree (:func:`kernel_types` gives the class's types). Compiling
the loop with the kernels inside instead (a compile-time kind, as before) compiled it
again per scheduler, re-optimising everything it links each time: the simulator's
engine and the kernels of uniform, dump-ucb, thompson and learnability took 42.6 s
to compile in one process that way, 22.0 s this way (``docs/simulator.md``, first
run), with bit-identical results. An indirect call costs nanoseconds (measured: about
9 ns); a kernel call does a whole batch.

Numba marks first-class functions experimental (since 0.49) and warns on each compile
and call; the warning is silenced for this use (``_silence``), and the numba versions
it runs on are bounded in pyproject.toml and checked by ``tests/test_dispatch.py``
(every scheduler, through first-class kernels, against its class). With ``NUMBA_DISABLE_JIT=1``
the kernels are plain Python functions and the loop calls them as such.
"""

import warnings

from numba import typeof, types
from numba.core.dispatcher import Dispatcher
from numba.core.errors import NumbaExperimentalFeatureWarning

_ROW = {"int64": types.Array(types.int64, 1, "C"), "float64": types.Array(types.float64, 1, "C")}


def _silence():
    warnings.filterwarnings("ignore", message="First-class function type feature is experimental",
                            category=NumbaExperimentalFeatureWarning)


_silence()


def kernel_types(params, f, i, rng):
    """{verb: FunctionType} of the kernels ``init``, ``update``, ``sample`` and ``probs``
    called with a state like ``params`` (float64 (P,)), ``f``, ``i`` (1-D state rows) and
    ``rng`` (uint64 (4,)), and C arrays ``arms``/``offsets``/``out`` int64 and
    ``rewards`` float64 (``probs``' out: float64): the types the public verbs call them with."""
    state = (typeof(params), types.int64, typeof(f), typeof(i))
    return {"init": types.FunctionType(types.none(*state)),
            "update": types.FunctionType(types.none(*state, _ROW["int64"], _ROW["float64"], _ROW["int64"])),
            "sample": types.FunctionType(types.none(*state, typeof(rng), _ROW["int64"])),
            "probs": types.FunctionType(types.none(*state, _ROW["float64"]))}


def compile_kernel(kernel, function_type):
    """Compile ``kernel`` (or load it from Numba's cache) for ``function_type``; a
    kernel that returns a value breaks the contract and is refused."""
    if not isinstance(kernel, Dispatcher):
        return
    arguments = function_type.signature.args
    kernel.compile(arguments)
    returned = kernel.overloads[arguments].signature.return_type
    if returned != types.none:
        raise TypeError(f"The kernel {kernel.py_func.__qualname__} returns {returned}; scheduler kernels return "
                        f"nothing (docs/contract.md, the kernel layer).")


def compile_caller(function, argument_types):
    """The compiled entry point of the jitted ``function`` for ``argument_types`` (Numba
    types; first-class kernels as ``kernel_types`` gives them), compiled or loaded from
    the disk cache here and then called directly. Under ``NUMBA_DISABLE_JIT=1`` it is
    ``function`` itself."""
    if not isinstance(function, Dispatcher):
        return function
    return function.compile(tuple(argument_types))


def is_cached(function, argument_types):
    """Whether compiling the jitted ``function`` for ``argument_types`` would load it
    from memory or from Numba's disk cache (checked in the cache's index, nothing
    loaded). True under ``NUMBA_DISABLE_JIT=1``, and when the index cannot be read (then
    the caller compiles as usual)."""
    if not isinstance(function, Dispatcher):
        return True
    signature = tuple(argument_types)
    if signature in function.overloads:
        return True
    try:
        cache = function._cache
        key = cache._index_key(signature, function.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, OSError, ValueError):  # a Numba without these internals
        return True

