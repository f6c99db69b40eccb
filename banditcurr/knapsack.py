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
def _allocate_knapsack(success, budget, min_size, max_size, out):
    """N_x maximising sum_x V(N_x, success_x) with sum N_x = budget, N_x in {0} u
    [min_size, max_size] (module doc). success: float64 (n,); out: int64 (n,).
    Needs a feasible budget (some k <= n with k min_size <= budget <= k max_size)."""
    n = success.shape[0]
    high = min(max_size if max_size > 0 else budget, budget)
    values = np.empty(high + 1)
    best = np.full(budget + 1, -np.inf)  # best[b]: the first x prompts spending exactly b
    best[0] = 0.0
    nxt = np.empty(budget + 1)
    choice = np.zeros((n, budget + 1), dtype=np.int64)
    for x in range(n):
        knapsack_values(success[x], high, values)
        for b in range(budget + 1):
            top = best[b]  # N_x = 0 first, then ascending N_x: ties keep the smaller
            pick = 0
            for k in range(min_size, min(high, b) + 1):
                before = best[b - k]
                if before == -np.inf:
                    continue
                value = before + values[k]
                if value > top:
                    top = value
                    pick = k
            nxt[b] = top
            choice[x, b] = pick
        best, nxt = nxt, best
    left = budget
    for x in range(n - 1, -1, -1):
        out[x] = choice[x, left]
        left -= out[x]


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
    budget, min_size, max_size = _check_budget(success.shape[0], budget, min_size, max_size)
    check_memory(f"allocate_knapsack over {success.shape[0]} prompts and a budget of {budget}",
                 8 * success.shape[0] * (budget + 1), "Split the batch or lower the budget.")
    out = np.empty(success.shape[0], dtype=np.int64)
    _allocate_knapsack(success, budget, min_size, max_size, out)
    return out


def allocate_knapsack_for(scheduler, arms, budget, *, min_size=2, max_size=None):
    """``allocate_knapsack`` for ``arms`` of a scheduler with Beta posteriors
    (``keeps_posterior``), from the posterior means alpha / (alpha + beta). Returns int64 (len(arms),)."""
    alpha, beta = posterior_of(scheduler, arms)
    return allocate_knapsack(alpha / (alpha + beta), budget, min_size=min_size, max_size=max_size)
