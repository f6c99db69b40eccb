"""Compiled dispatch: call any scheduler's kernels by an integer kind.

The simulator's compiled loop (and composite schedulers) hold a scheduler as
``(kind, params, f, i, rng)`` and call these functions; every kernel module has the
same signatures (see ``base.py``), so one if-chain per verb serves them all. This file
mirrors the registry in one place: a new scheduler module adds its KERNELS to
``KINDS`` and one branch to each verb below, in the same order.
"""

from . import dump_ucb, uniform
from ._jit import jit

KINDS = (uniform.KERNELS, dump_ucb.KERNELS)


def kind_of(scheduler):
    """The integer kind of a scheduler instance (its kernels' index in KINDS)."""
    kernels = type(scheduler).kernels
    for kind, candidate in enumerate(KINDS):
        if candidate is kernels:
            return kind
    raise ValueError(f"{type(scheduler).__name__} has no compiled kind: add its KERNELS to banditcurr._dispatch.KINDS.")


@jit
def init_any(kind, params, n_arms, f, i):
    if kind == 0:
        uniform._init(params, n_arms, f, i)
    elif kind == 1:
        dump_ucb._init(params, n_arms, f, i)


@jit
def update_any(kind, params, n_arms, f, i, arms, rewards, offsets):
    if kind == 0:
        uniform._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 1:
        dump_ucb._update(params, n_arms, f, i, arms, rewards, offsets)


@jit
def sample_any(kind, params, n_arms, f, i, rng, out):
    if kind == 0:
        uniform._sample(params, n_arms, f, i, rng, out)
    elif kind == 1:
        dump_ucb._sample(params, n_arms, f, i, rng, out)


@jit
def probs_any(kind, params, n_arms, f, i, out):
    if kind == 0:
        uniform._probs(params, n_arms, f, i, out)
    elif kind == 1:
        dump_ucb._probs(params, n_arms, f, i, out)
