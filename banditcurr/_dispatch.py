"""Compiled dispatch: call any scheduler's kernels by an integer kind.

The simulator's compiled loop (and composite schedulers) hold a scheduler as
``(kind, params, f, i, rng)`` and call these functions; every kernel module has the
same signatures (see ``base.py``), so one if-chain per verb serves them all. This file
mirrors the registry in one place: a new scheduler module adds its KERNELS to
``KINDS`` and one branch to each ``*_leaf`` verb below, in the same order.

Two layers, because Numba cannot type mutually recursive functions: the ``*_leaf``
chains cover the plain schedulers (kinds 0..len(KINDS)-1); the ``*_any`` verbs, which
the simulator calls, add the composite kinds (numbered from ``COMPOSITE_BASE``, so
appending a plain kind never renumbers them). A composite such as ``two_level`` calls
the ``*_leaf`` verbs for its parts, which is also why composites cannot nest.
"""

from . import cures, dump_ucb, exp3s, learnability, plr, sec, thompson, tscl, two_level, uniform
from ._jit import jit

KINDS = (uniform.KERNELS, dump_ucb.KERNELS, cures.KERNELS, sec.KERNELS, exp3s.KERNELS,
         tscl.KERNELS, plr.KERNELS, thompson.KERNELS, learnability.KERNELS)

COMPOSITE_BASE = 1000
TWO_LEVEL = COMPOSITE_BASE  # kind of banditcurr.two_level.TwoLevel


def kind_of(scheduler):
    """The integer kind of a scheduler instance (its kernels' index in KINDS, or its
    composite kind)."""
    kernels = type(scheduler).kernels
    for kind, candidate in enumerate(KINDS):
        if candidate is kernels:
            return kind
    if kernels is two_level.KERNELS:
        return TWO_LEVEL
    raise ValueError(f"{type(scheduler).__name__} has no compiled kind: add its KERNELS to banditcurr._dispatch.KINDS.")


@jit
def init_leaf(kind, params, n_arms, f, i):
    if kind == 0:
        uniform._init(params, n_arms, f, i)
    elif kind == 1:
        dump_ucb._init(params, n_arms, f, i)
    elif kind == 2:
        cures._init(params, n_arms, f, i)
    elif kind == 3:
        sec._init(params, n_arms, f, i)
    elif kind == 4:
        exp3s._init(params, n_arms, f, i)
    elif kind == 5:
        tscl._init(params, n_arms, f, i)
    elif kind == 6:
        plr._init(params, n_arms, f, i)
    elif kind == 7:
        thompson._init(params, n_arms, f, i)
    elif kind == 8:
        learnability._init(params, n_arms, f, i)


@jit
def update_leaf(kind, params, n_arms, f, i, arms, rewards, offsets):
    if kind == 0:
        uniform._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 1:
        dump_ucb._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 2:
        cures._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 3:
        sec._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 4:
        exp3s._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 5:
        tscl._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 6:
        plr._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 7:
        thompson._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 8:
        learnability._update(params, n_arms, f, i, arms, rewards, offsets)


@jit
def sample_leaf(kind, params, n_arms, f, i, rng, out):
    if kind == 0:
        uniform._sample(params, n_arms, f, i, rng, out)
    elif kind == 1:
        dump_ucb._sample(params, n_arms, f, i, rng, out)
    elif kind == 2:
        cures._sample(params, n_arms, f, i, rng, out)
    elif kind == 3:
        sec._sample(params, n_arms, f, i, rng, out)
    elif kind == 4:
        exp3s._sample(params, n_arms, f, i, rng, out)
    elif kind == 5:
        tscl._sample(params, n_arms, f, i, rng, out)
    elif kind == 6:
        plr._sample(params, n_arms, f, i, rng, out)
    elif kind == 7:
        thompson._sample(params, n_arms, f, i, rng, out)
    elif kind == 8:
        learnability._sample(params, n_arms, f, i, rng, out)


@jit
def probs_leaf(kind, params, n_arms, f, i, out):
    if kind == 0:
        uniform._probs(params, n_arms, f, i, out)
    elif kind == 1:
        dump_ucb._probs(params, n_arms, f, i, out)
    elif kind == 2:
        cures._probs(params, n_arms, f, i, out)
    elif kind == 3:
        sec._probs(params, n_arms, f, i, out)
    elif kind == 4:
        exp3s._probs(params, n_arms, f, i, out)
    elif kind == 5:
        tscl._probs(params, n_arms, f, i, out)
    elif kind == 6:
        plr._probs(params, n_arms, f, i, out)
    elif kind == 7:
        thompson._probs(params, n_arms, f, i, out)
    elif kind == 8:
        learnability._probs(params, n_arms, f, i, out)


@jit
def init_any(kind, params, n_arms, f, i):
    if kind == TWO_LEVEL:
        two_level._init(params, n_arms, f, i)
    else:
        init_leaf(kind, params, n_arms, f, i)


@jit
def update_any(kind, params, n_arms, f, i, arms, rewards, offsets):
    if kind == TWO_LEVEL:
        two_level._update(params, n_arms, f, i, arms, rewards, offsets)
    else:
        update_leaf(kind, params, n_arms, f, i, arms, rewards, offsets)


@jit
def sample_any(kind, params, n_arms, f, i, rng, out):
    if kind == TWO_LEVEL:
        two_level._sample(params, n_arms, f, i, rng, out)
    else:
        sample_leaf(kind, params, n_arms, f, i, rng, out)


@jit
def probs_any(kind, params, n_arms, f, i, out):
    if kind == TWO_LEVEL:
        two_level._probs(params, n_arms, f, i, out)
    else:
        probs_leaf(kind, params, n_arms, f, i, out)
