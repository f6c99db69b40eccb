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
    (weighted sampling without replacement; arms with p_k = 0 come last), in
    decreasing key order, equal keys by arm id: ``argsort(-keys, kind="mergesort")[:B]``,
    found with a bounded heap (O(K) in practice) instead of a sort of all K keys.
    """
    n_arms = p.shape[0]
    batch = out.shape[0]
    if batch > n_arms:
        cumulative = np.cumsum(p)
        for b in range(batch):
            out[b] = categorical(rng, cumulative)
        return
    keys = np.empty(n_arms)  # negated keys: the batch is the B smallest
    for k in range(n_arms):
        u = 1.0 - uniform(rng)  # (0, 1]
        keys[k] = -(math.log(u) / p[k]) if p[k] > 0.0 else np.inf
    _smallest(keys, out)


@jit
def _sift_down(heap_keys, heap_arms, slot):
    """Restore the max-heap order on (key, arm) below ``slot``."""
    size = heap_keys.shape[0]
    while True:
        largest = slot
        for child in (2 * slot + 1, 2 * slot + 2):
            if child < size and (heap_keys[child] > heap_keys[largest] or (
                    heap_keys[child] == heap_keys[largest] and heap_arms[child] > heap_arms[largest])):
                largest = child
        if largest == slot:
            return
        heap_keys[slot], heap_keys[largest] = heap_keys[largest], heap_keys[slot]
        heap_arms[slot], heap_arms[largest] = heap_arms[largest], heap_arms[slot]
        slot = largest


@jit
def _smallest(keys, out):
    """out = the len(out) indices of the smallest keys, in increasing (key, index)
    order: ``argsort(keys, kind="mergesort")[:len(out)]`` in O(K log B) at worst,
    O(K) in practice (a bounded max-heap that most keys never enter)."""
    batch = out.shape[0]
    heap_keys = keys[:batch].copy()
    heap_arms = np.arange(batch)
    for slot in range(batch // 2 - 1, -1, -1):
        _sift_down(heap_keys, heap_arms, slot)
    for k in range(batch, keys.shape[0]):
        if keys[k] < heap_keys[0]:  # a later arm with an equal key ranks after: skip it
            heap_keys[0] = keys[k]
            heap_arms[0] = k
            _sift_down(heap_keys, heap_arms, 0)
    by_arm = np.argsort(heap_arms, kind="mergesort")
    by_key = np.argsort(heap_keys[by_arm], kind="mergesort")  # stable: equal keys by arm
    for b in range(batch):
        out[b] = heap_arms[by_arm[by_key[b]]]


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
    """out = softmax(scores / temperature), computed stably (max subtracted).

    Scores that overflowed to +inf (e.g. a huge exploration bonus) share all the mass,
    uniformly, as the limit of the formula does; all -inf gives the uniform law."""
    top = scores.max()
    if math.isinf(top):
        count = 0
        for k in range(scores.shape[0]):
            count += scores[k] == top
        for k in range(scores.shape[0]):
            out[k] = 1.0 / count if scores[k] == top else 0.0
        return
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
