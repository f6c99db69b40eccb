"""Group statistics: what a scheduler learns from one GRPO group of rewards.

Feedback reaches every kernel in one ragged form: ``arms`` (int64, n_groups),
``rewards`` (float64, flat), ``offsets`` (int64, n_groups + 1); group g holds
``rewards[offsets[g]:offsets[g + 1]]`` and was pulled from arm ``arms[g]``.
A (B, G) array is the special case ``offsets = G * arange(B + 1)``.
"""

import math

import numpy as np

from ._jit import jit

ADVANTAGE_EPS = 1e-6  # GRPO's epsilon in (r - mean) / (std + eps)
#: A bound on |A_j| for any group: |A_j| <= (n - 1) / sqrt(n) < 2**31 for n < 2**62
#: rollouts. Loaded states holding larger values were not made by a kernel.
ABS_ADVANTAGE_MAX = 2.0**32


@jit
def group_mean(rewards, start, stop):
    """Mean reward of one group."""
    total = 0.0
    for j in range(start, stop):
        total += rewards[j]
    return total / (stop - start)


@jit
def group_std(rewards, start, stop, mean):
    """Unbiased standard deviation of one group (0 for a group of one)."""
    n = stop - start
    if n < 2:
        return 0.0
    total = 0.0
    for j in range(start, stop):
        total += (rewards[j] - mean) ** 2
    return math.sqrt(total / (n - 1))


@jit
def abs_advantage(rewards, j, mean, std):
    """|A_j| = |r_j - mean| / (std + 1e-6), the GRPO advantage's magnitude."""
    return abs(rewards[j] - mean) / (std + ADVANTAGE_EPS)


@jit
def mean_abs_advantage(rewards, start, stop):
    """Mean over one group of |A_j| (0 when all rewards are equal)."""
    mean = group_mean(rewards, start, stop)
    std = group_std(rewards, start, stop, mean)
    total = 0.0
    for j in range(start, stop):
        total += abs_advantage(rewards, j, mean, std)
    return total / (stop - start)


@jit
def count_successes(rewards, start, stop, threshold):
    """Number of rollouts of one group with reward >= threshold."""
    count = 0
    for j in range(start, stop):
        if rewards[j] >= threshold:
            count += 1
    return count


def regular_offsets(n_groups, group_size):
    """Offsets of ``n_groups`` groups of ``group_size`` rollouts each."""
    return np.arange(n_groups + 1, dtype=np.int64) * group_size
