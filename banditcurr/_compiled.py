"""Compiled dispatch by a compile-time kind: call any registered scheduler's kernels
from compiled code, compiling only the one that runs.

    @jit
    def loop(kind, params, n_arms, f, i, rng, out):
        sample_any(kind, params, n_arms, f, i, rng, out)   # kind: banditcurr._registry.kind_of(s)

``kind`` must reach these verbs as an argument of the outermost compiled function
(the simulator's ``run_seeds``). On the first call Numba asks for its value
(``numba.literally``) and compiles that function once per kind, with only that
scheduler's kernels inside: a run of ``dump-ucb`` compiles dump-ucb's kernels and no
other scheduler's. Each specialisation is cached on disk like any kernel (its cache
stamp covers the registry's modules, ``banditcurr._jit``). The table is
``banditcurr._registry.KERNELS``; nothing here mirrors it.

Call the outer function through :func:`specialise` from Python: Numba does compile
the literal signature when the function is called directly, but it types the whole
function again on every such call before it finds it (the literal request is not
remembered), which costs as much as a small compile per call.

A negative kind is the caller's own (e.g. the simulator's fixed schedule): the verbs
compile to nothing for it, so that a caller's ``if kind == MINE: ... else:
sample_any(kind, ...)`` types; the caller never lets it reach them.

With ``NUMBA_DISABLE_JIT=1`` the verbs are plain Python over the same table.
"""

import numba
from numba import typeof, types
from numba.core.dispatcher import Dispatcher
from numba.core.errors import TypingError
from numba.extending import overload

from ._jit import JIT_OPTIONS
from ._registry import KERNELS


def _kernels(kind):
    """The kernels of ``kind`` (the plain-Python path; a negative kind is the caller's own)."""
    if kind < 0:
        raise ValueError(f"Kind {kind} is the caller's own, not a scheduler's: handle it before the dispatch.")
    return KERNELS[kind]


def init_any(kind, params, n_arms, f, i):
    """``init`` of scheduler ``kind``."""
    _kernels(kind).init(params, n_arms, f, i)


def update_any(kind, params, n_arms, f, i, arms, rewards, offsets):
    """``update`` of scheduler ``kind``."""
    _kernels(kind).update(params, n_arms, f, i, arms, rewards, offsets)


def sample_any(kind, params, n_arms, f, i, rng, out):
    """``sample`` of scheduler ``kind``."""
    _kernels(kind).sample(params, n_arms, f, i, rng, out)


def probs_any(kind, params, n_arms, f, i, out):
    """``probs`` of scheduler ``kind``."""
    _kernels(kind).probs(params, n_arms, f, i, out)


def specialise(function, args, kind_position):
    """The compiled entry point of the jitted ``function`` for arguments like ``args``,
    ``args[kind_position]`` (a scheduler kind) a compile-time constant: compiled once
    (or loaded from the disk cache) here, then called directly with such arguments.
    Under ``NUMBA_DISABLE_JIT=1`` it is ``function`` itself."""
    if not isinstance(function, Dispatcher):
        return function
    return function.compile(_signature(args, kind_position))


def is_cached(function, args, kind_position):
    """Whether :func:`specialise` would load ``function``'s specialisation from memory or
    from Numba's disk cache rather than compile it (checked in the cache's index, nothing
    loaded). True under ``NUMBA_DISABLE_JIT=1``, and when the index cannot be read
    (then the caller compiles as usual)."""
    if not isinstance(function, Dispatcher):
        return True
    signature = _signature(args, kind_position)
    if signature in function.overloads:
        return True
    try:
        cache = function._cache
        key = cache._index_key(signature, function.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, OSError, ValueError):  # a Numba without these internals
        return True


def _signature(args, kind_position):
    return tuple(types.literal(int(value)) if position == kind_position else typeof(value)
                 for position, value in enumerate(args))


def _specialise(function, verb):
    """Compile ``function`` (one of the verbs above) in compiled callers as a direct call
    of kind's ``verb`` kernel."""

    @overload(function, jit_options=JIT_OPTIONS)
    def typer(kind, *args):
        if not isinstance(kind, types.IntegerLiteral):
            return lambda kind, *args: numba.literally(kind)
        value = kind.literal_value
        if value < 0:
            return lambda kind, *args: None
        if value >= len(KERNELS):
            raise TypingError(f"banditcurr has no scheduler of kind {value} ({len(KERNELS)} registered).")
        kernel = getattr(KERNELS[value], verb)
        return lambda kind, *args: kernel(*args)


for _function, _verb in ((init_any, "init"), (update_any, "update"), (sample_any, "sample"), (probs_any, "probs")):
    _specialise(_function, _verb)
