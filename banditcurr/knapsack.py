"""Knapsack rollout allocation: the budget split that maximises the summed value of the groups.

Source: Knapsack RL (Li et al., "Knapsack RL: Unlocking Exploration of LLMs via
Optimizing Budget Allocation", arXiv 2509.25849). Giving prompt x (success rate p_x)
N rollouts is worth

    V(N, p) = (1 - p^N - (1 - p)^N) * p (1 - p)^2

the probability that the group has both a success and a failure (a GRPO group with a
non-zero gradient) times the paper's InfoGain(p) ~ p (1 - p)^2 (the first-order gain
in success probability of one gradient step on the prompt). Given p_x and a budget of
R rollouts, allocate_knapsack returns N_x maximising sum_x V(N_x, p_x) subject to
sum_x N_x == R and N_x in {0} u [min_size, max_size].

V is concave in N >= 1 (its increments p^N (1 - p) + (1 - p)^N p decrease) but not
from 0: V(1) = V(0) = 0, and a prompt only pays from min_size on. Greedy marginal
gain cannot price that first step, so the kernel solves the knapsack exactly by
dynamic programming over (prompts, budget): O(n R (max_size - min_size + 1)) time,
O(n R) memory. Ties go to fewer rollouts for the later prompt (deterministic).

Fast and still the plain DP's answer, bit for bit: (1) the rows of best values
best[x, b] are computed first, a max per b, which does not depend on the order the
candidates are visited, so the loop runs k outer and b inner (vectorised by Numba);
(2) only the b that can still end at R are computed (b <= x max_size, b >= R - (n - x)
max_size; the others are never read); (3) the choices are then replayed backwards over
the stored rows with the DP's own scan (N = 0 first, then ascending, strict >), so the
sizes and the ties are the DP's. Kept exact on purpose: a monotone-argmax (SMAWK)
convolution with the concave part of V would be O(R) per prompt, but rounding can break
concavity by an ulp and pick another argmax.

Kernel (callable from compiled code; never validates):

    _allocate_knapsack(success, budget, min_size, max_size, out)   max_size 0 = budget
"""

import numpy as np

from ._jit import jit
from ._params import check_memory
from .allocation import _check_budget, _check_vector, posterior_of


@jit
def knapsack_values(p, max_size, out):
    """out[N] = V(N, p) for N = 0..max_size (powers by repeated products)."""
    gain = p * (1.0 - p) * (1.0 - p)
    success_power = 1.0
    failure_power = 1.0
    out[0] = 0.0
    for n in range(1, max_size + 1):
        success_power *= p
        failure_power *= 1.0 - p
        out[n] = (1.0 - success_power - failure_power) * gain


@jit
def _raise_to(target, source, value):
    """target[i] = max(target[i], source[i] + value), keeping target[i] on ties (a
    plain loop from 0 over views: Numba vectorises it)."""
    for i in range(target.shape[0]):
        candidate = source[i] + value
        target[i] = candidate if candidate > target[i] else target[i]


@jit
def _best_rows(success, budget, min_size, high, values, rows):
    """rows[x, b] = the largest sum of V over the first x prompts spending exactly b
    (-inf: none), for the b from which the whole budget stays reachable; the other
    entries stay -inf (no later row or choice reads them)."""
    n = success.shape[0]
    rows[0, 0] = 0.0
    top = 0  # the most the first x prompts can spend
    for x in range(n):
        knapsack_values(success[x], high, values)
        before = rows[x]
        after = rows[x + 1]
        low = max(0, budget - (n - x - 1) * high)  # the rest can add at most (n - x - 1) high
        reach = min(budget, top + high)
        for b in range(low, top + 1):
            after[b] = before[b]  # N_x = 0
        for k in range(min_size, high + 1):  # k outer, b inner: a max per b, order-free
            first = max(k, low)
            _raise_to(after[first:min(reach, top + k) + 1], before[first - k:], values[k])
        top = reach


@jit
def _allocate_knapsack(success, budget, min_size, max_size, out):
    """N_x maximising sum_x V(N_x, success_x) with sum N_x = budget, N_x in {0} u
    [min_size, max_size] (module doc). success: float64 (n,); out: int64 (n,).
    Needs a feasible budget (some k <= n with k min_size <= budget <= k max_size)."""
    n = success.shape[0]
    high = min(max_size if max_size > 0 else budget, budget)
    values = np.empty(high + 1)
    rows = np.full((n + 1, budget + 1), -np.inf)
    _best_rows(success, budget, min_size, high, values, rows)
    left = budget
    for x in range(n - 1, -1, -1):  # the choice: N_x = 0 first, then ascending; ties keep the smaller
        knapsack_values(success[x], high, values)
        top = rows[x, left]
        pick = 0
        for k in range(min_size, min(high, left) + 1):
            value = rows[x, left - k] + values[k]
            if value > top:
                top = value
                pick = k
        out[x] = pick
        left -= pick


def allocate_knapsack(success, budget, *, min_size=2, max_size=None):
    """Knapsack-RL allocation of ``budget`` rollouts over prompts with success rates
    ``success`` (p_x in [0, 1]): the N_x maximising sum_x (1 - p_x^N_x - (1 - p_x)^N_x)
    p_x (1 - p_x)^2, with sum N_x == budget and each N_x 0 or in [min_size, max_size]
    (None: no cap). Exact (dynamic programming, see the module doc). Returns int64 (n,).

    Example: ``allocate_knapsack([0.5, 0.9, 1.0, 0.2], 32)`` -> ``[8, 6, 0, 18]``: a
    solved prompt is worth nothing; p = 0.2 needs many rollouts to see a success and has
    the largest InfoGain p (1 - p)^2; p = 0.9 has little to gain.
    """
    success = _check_vector("success", success, low=0.0, high=1.0)
    budget, min_size, max_size = _check_budget(success.shape[0], budget, min_size, max_size, "allocate_knapsack")
    check_memory(f"allocate_knapsack over {success.shape[0]} prompts and a budget of {budget}",
                 8 * (success.shape[0] + 1) * (budget + 1), "Split the batch or lower the budget.")
    out = np.empty(success.shape[0], dtype=np.int64)
    _allocate_knapsack(success, budget, min_size, max_size, out)
    return out


def allocate_knapsack_for(scheduler, arms, budget, *, min_size=2, max_size=None):
    """``allocate_knapsack`` for ``arms`` of a scheduler with Beta posteriors
    (``keeps_posterior``), from the posterior means alpha / (alpha + beta). Returns int64 (len(arms),)."""
    alpha, beta = posterior_of(scheduler, arms)
    return allocate_knapsack(alpha / (alpha + beta), budget, min_size=min_size, max_size=max_size)
