"""Shared sampling kernels: draw a batch from a probability vector, softmax, top-k.

The batch rule of every scheduler: more slots than arms -> each slot is its own draw
(with replacement); otherwise the batch holds distinct arms.
"""

import math

import numpy as np

from ._jit import jit
from ._rng import categorical, sample_distinct, uniform


@jit
def sample_from_probs(rng, p, out):
    """Fill ``out`` with arm ids drawn from probabilities ``p`` (float64, sums to 1).

    With replacement when len(out) > len(p) (inverse CDF, O(K + B log K)); otherwise
    distinct arms by the Efraimidis-Spirakis keys log(u) / p_k, the B largest kept
    (weighted sampling without replacement; arms with p_k = 0 come last).
    """
    n_arms = p.shape[0]
    batch = out.shape[0]
    if batch > n_arms:
        cumulative = np.cumsum(p)
        for b in range(batch):
            out[b] = categorical(rng, cumulative)
        return
    keys = np.empty(n_arms)
    for k in range(n_arms):
        u = 1.0 - uniform(rng)  # (0, 1]
        keys[k] = math.log(u) / p[k] if p[k] > 0.0 else -np.inf
    order = np.argsort(-keys, kind="mergesort")
    for b in range(batch):
        out[b] = order[b]


@jit
def sample_uniform(rng, n_arms, out):
    """Fill ``out`` uniformly: with replacement if len(out) > n_arms, else distinct."""
    if out.shape[0] > n_arms:
        for b in range(out.shape[0]):
            out[b] = np.int64(uniform(rng) * n_arms)
    else:
        sample_distinct(rng, n_arms, out)


@jit
def softmax(scores, temperature, out):
    """out = softmax(scores / temperature), computed stably (max subtracted)."""
    top = scores.max()
    total = 0.0
    for k in range(scores.shape[0]):
        out[k] = math.exp((scores[k] - top) / temperature)
        total += out[k]
    for k in range(scores.shape[0]):
        out[k] /= total


@jit
def mix_uniform(p, epsilon):
    """p <- (1 - epsilon) p + epsilon / K, in place (a probability floor of epsilon / K)."""
    if epsilon > 0.0:
        floor = epsilon / p.shape[0]
        for k in range(p.shape[0]):
            p[k] = (1.0 - epsilon) * p[k] + floor
