"""The uniform scheduler: every arm equally likely, feedback ignored.

The baseline every curriculum must beat. p_k = 1 / K.
"""

import numpy as np

from ._jit import jit
from ._sampling import sample_uniform
from .base import Kernels, Scheduler


@jit
def _sizes(params, n_arms):
    return 0, 0


@jit
def _views(params, n_arms, f, i):
    return ()


@jit
def _init(params, n_arms, f, i):
    pass


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    pass


@jit
def _sample(params, n_arms, f, i, rng, out):
    sample_uniform(rng, n_arms, out)


@jit
def _probs(params, n_arms, f, i, out):
    out[:] = 1.0 / n_arms


KERNELS = Kernels((), _sizes, _views, _init, _update, _sample, _probs)


class Uniform(Scheduler):
    """Uniform sampling over the K arms: p_k = 1 / K; ``update`` is a no-op.

    Distribution level (batch > K): each slot uniform with replacement. Prompt level:
    a uniformly random set of distinct arms.
    """

    name = "uniform"
    kernels = KERNELS
