"""Shared sampling kernels: draw a batch from a probability vector, softmax, top-k
(the k-th smallest value).

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
    decreasing key order, equal keys by arm id: ``argsort(-keys, kind="mergesort")[:B]``
    (``_draw_distinct``: a bounded heap, and a logarithm only for the arms that can
    still enter it).
    """
    n_arms = p.shape[0]
    batch = out.shape[0]
    if batch > n_arms:
        cumulative = np.cumsum(p)
        for b in range(batch):
            out[b] = categorical(rng, cumulative)
        return
    _draw_distinct(rng, p, out)


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


_ROUNDING_MARGIN = 1.0 + 1e-9  # far above the few ulps of log and division


@jit
def _draw_distinct(rng, p, out):
    """out = the len(out) arms with the smallest keys -log(u_k) / p_k (u_k uniform in
    (0, 1], one draw per arm in arm order; p_k = 0 gives +inf), in increasing (key, arm)
    order: ``argsort(keys, kind="mergesort")[:len(out)]``.

    A bounded max-heap holds the best B so far; most arms never enter it. Since
    -log(u) >= 1 - u, an arm with (1 - u_k) > top * p_k (top: the heap's largest key,
    with a margin for rounding) cannot enter, and its logarithm is never computed: at
    K = 10^6 about B log(K / B) logarithms instead of K, with the very same draws
    (every u_k is drawn, and each candidate's key is the same expression)."""
    batch = out.shape[0]
    heap_keys = np.empty(batch)
    heap_arms = np.arange(batch)
    for k in range(batch):
        u = 1.0 - uniform(rng)
        heap_keys[k] = -(math.log(u) / p[k]) if p[k] > 0.0 else np.inf
    for slot in range(batch // 2 - 1, -1, -1):
        _sift_down(heap_keys, heap_arms, slot)
    for k in range(batch, p.shape[0]):
        u = 1.0 - uniform(rng)
        if p[k] > 0.0 and 1.0 - u <= heap_keys[0] * p[k] * _ROUNDING_MARGIN:
            key = -(math.log(u) / p[k])
            if key < heap_keys[0]:  # a later arm with an equal key ranks after: skip it
                heap_keys[0] = key
                heap_arms[0] = k
                _sift_down(heap_keys, heap_arms, 0)
    by_arm = np.argsort(heap_arms, kind="mergesort")
    by_key = np.argsort(heap_keys[by_arm], kind="mergesort")  # stable: equal keys by arm
    for b in range(batch):
        out[b] = heap_arms[by_arm[by_key[b]]]


@jit
def select_kth(values, k):
    """The k-th smallest of ``values`` (0-based; float64, no NaN), reordering ``values``
    in place: ``np.partition(values, k)[k]`` by quickselect (Hoare partition, median of
    three pivots). Written out because Numba compiles ``np.partition`` slowly (~5 s)."""
    lo, hi = 0, values.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        for a, b in ((lo, mid), (lo, hi), (mid, hi)):  # order values[lo] <= values[mid] <= values[hi]
            if values[b] < values[a]:
                values[a], values[b] = values[b], values[a]
        pivot = values[mid]
        left, right = lo, hi
        while left <= right:
            while values[left] < pivot:
                left += 1
            while pivot < values[right]:
                right -= 1
            if left <= right:
                values[left], values[right] = values[right], values[left]
                left += 1
                right -= 1
        if k <= right:  # now values[lo..right] <= pivot <= values[left..hi], equal between
            hi = right
        elif k >= left:
            lo = left
        else:
            return values[k]
    return values[k]


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
    uniformly, as the limit of the formula does; all -inf gives the uniform law. A run of
    equal scores (e.g. unseen arms) reuses the last exponential: the same numbers as
    computing each, at the cost of a comparison."""
    top = scores.max()
    if math.isinf(top):
        count = 0
        for k in range(scores.shape[0]):
            count += scores[k] == top
        for k in range(scores.shape[0]):
            out[k] = 1.0 / count if scores[k] == top else 0.0
        return
    total = 0.0
    last_score = last_exp = np.nan
    for k in range(scores.shape[0]):
        if scores[k] != last_score:
            last_score = scores[k]
            last_exp = math.exp((last_score - top) / temperature)
        out[k] = last_exp
        total += last_exp
    for k in range(scores.shape[0]):
        out[k] /= total


@jit
def mix_uniform(p, epsilon):
    """p <- (1 - epsilon) p + epsilon / K, in place (a probability floor of epsilon / K)."""
    if epsilon > 0.0:
        floor = epsilon / p.shape[0]
        for k in range(p.shape[0]):
            p[k] = (1.0 - epsilon) * p[k] + floor
