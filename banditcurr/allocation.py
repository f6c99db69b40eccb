"""Rollout allocation: how many rollouts each prompt of a batch gets (CurES, Neyman).

Source: CurES (arXiv 2510.01037): the variance of the batch gradient is smallest when
prompt x gets a number of rollouts proportional to the standard deviation of its
per-rollout gradient; with Bernoulli rewards that is proportional to

    sigma_x = sqrt(p_x (1 - p_x))                        (Neyman allocation)

and a saturated prompt (p_x = 0 or 1: every rollout has the same reward, so the GRPO
advantage is zero) gets none. Given weights sigma_x >= 0 and a budget of R rollouts:

    G_x = clip(lambda sigma_x, min_size, max_size)   with lambda such that sum_x G_x = R

rounded to integers by largest remainder (floors, then +1 for the largest fractional
parts, ties to the lower index) so that sum_x G_x == R exactly. Every prompt that gets
rollouts gets at least ``min_size`` (2: GRPO needs two to compare); if the budget
cannot give that to all informative prompts, the highest sigma ones are kept. Prompts
with sigma_x = 0 get 0 unless the informative ones cannot absorb the budget (none of
them, or all at ``max_size``): then, in index order, enough of them join with the
smallest informative weight (or equal weights if there is none), since the budget
must be spent.

The released CurES code computes sigma_x once, from gradient norms, and rounds with
``np.round`` (the total drifts from the budget; prompts can get 0 or 1 rollout); here
sigma comes from the current success estimates or posterior, the total is exact and
the minimum is enforced.

Kernels (callable from compiled code; they never validate):

    _success_sigma(success, saturation, sigma_out)
    _posterior_sigma(alpha, beta, saturation, confidence, sigma_out)
    _state_posterior_sigma(f, n_arms, arms, saturation, confidence, sigma_out)
    _allocate(sigma, budget, min_size, max_size, out)      max_size 0 = no cap

with float64 (n,) inputs and int64 (n,) ``out``. The public functions validate first.
"""

import math

import numpy as np

from ._jit import jit
from ._params import argument, check_arguments
from ._posterior import beta_cdf, log_beta_norm

@jit
def _success_sigma(success, saturation, sigma_out):
    """sigma_x = sqrt(p (1 - p)), 0 where p <= saturation or p >= 1 - saturation."""
    for x in range(success.shape[0]):
        p = success[x]
        if p <= saturation or p >= 1.0 - saturation:
            sigma_out[x] = 0.0
        else:
            sigma_out[x] = math.sqrt(p * (1.0 - p))


@jit
def _posterior_sigma(alpha, beta, saturation, confidence, sigma_out):
    """sigma_x of the posterior mean p = alpha / (alpha + beta); 0 for saturated prompts:
    with confidence c > 0, P(p <= eps) >= c or P(p >= 1 - eps) >= c under Beta(alpha, beta);
    with c = 0, the posterior mean itself within eps of 0 or 1."""
    for x in range(alpha.shape[0]):
        a, b = alpha[x], beta[x]
        p = a / (a + b)
        if confidence > 0.0:  # both tails as lower tails: P(p >= 1 - eps) = P(Beta(b, a) <= eps)
            log_norm = log_beta_norm(a, b)
            saturated = (beta_cdf(a, b, log_norm, saturation) >= confidence
                         or beta_cdf(b, a, log_norm, saturation) >= confidence)
        else:
            saturated = p <= saturation or p >= 1.0 - saturation
        sigma_out[x] = 0.0 if saturated else math.sqrt(p * (1.0 - p))


@jit
def _state_posterior_sigma(f, n_arms, arms, saturation, confidence, sigma_out):
    """``_posterior_sigma`` of ``arms`` read straight from a scheduler's float state, for
    the kinds that hold alpha = f[:n_arms], beta = f[n_arms:2 n_arms] (``has_posterior``)."""
    alpha = np.empty(arms.shape[0])
    beta = np.empty(arms.shape[0])
    for b in range(arms.shape[0]):
        alpha[b] = f[arms[b]]
        beta[b] = f[n_arms + arms[b]]
    _posterior_sigma(alpha, beta, saturation, confidence, sigma_out)


@jit
def _water_level(weights, budget, low, high):
    """lambda with sum_i clip(lambda w_i, low, high) == budget (w_i > 0, and
    n low <= budget <= n high): a sweep over the sorted breakpoints low/w_i, high/w_i."""
    n = weights.shape[0]
    events = np.empty(2 * n)
    for j in range(n):
        events[j] = low / weights[j]
        events[n + j] = high / weights[j]
    order = np.argsort(events, kind="mergesort")  # at equal lambda, entries before exits
    n_low, n_high, mid_weight = n, 0, 0.0
    level = 0.0
    for e in range(2 * n):
        event = order[e]
        level = events[event]
        value = low * n_low + high * n_high + level * mid_weight
        if value >= budget:
            if mid_weight > 0.0:
                return (budget - low * n_low - high * n_high) / mid_weight
            return level
        if event < n:
            n_low -= 1
            mid_weight += weights[event]
        else:
            n_high += 1
            mid_weight -= weights[event - n]
    return level


@jit
def _allocate(sigma, budget, min_size, max_size, out):
    """Integer rollouts per prompt, proportional to sigma within [min_size, max_size],
    summing to ``budget`` (see the module doc). Needs min_size <= budget and, with a cap,
    ceil(budget / max_size) prompts available at min_size each within the budget."""
    n = sigma.shape[0]
    high = max_size if max_size > 0 else budget
    order = np.argsort(-sigma, kind="mergesort")  # informative first, then index order
    n_active = 0
    smallest = np.inf
    for x in range(n):
        if sigma[x] > 0.0:
            n_active += 1
            smallest = min(smallest, sigma[x])
    n_chosen = min(n_active if n_active > 0 else n, budget // min_size)
    n_chosen = max(n_chosen, -(-budget // high))
    fill = smallest if n_active > 0 else 1.0
    weights = np.empty(n_chosen)
    for j in range(n_chosen):
        s = sigma[order[j]]
        weights[j] = s if s > 0.0 else fill
    level = _water_level(weights, float(budget), float(min_size), float(high))
    sizes = np.empty(n_chosen, dtype=np.int64)
    remainders = np.empty(n_chosen)
    remaining = budget
    for j in range(n_chosen):
        share = min(max(level * weights[j], float(min_size)), float(high))
        sizes[j] = min(max(np.int64(math.floor(share)), min_size), high)
        remainders[j] = share - sizes[j]
        remaining -= sizes[j]
    # Largest remainder: ranks by fractional part, ties to the lower prompt index.
    keys = np.empty(n_chosen)
    for j in range(n_chosen):
        keys[j] = -remainders[j] if remaining > 0 else remainders[j]
    positions = np.empty(n_chosen, dtype=np.int64)
    for j in range(n_chosen):
        positions[j] = order[j]
    rank = np.argsort(positions, kind="mergesort")
    by_key = rank[np.argsort(keys[rank], kind="mergesort")]
    while remaining != 0:
        moved = False
        for j in by_key:
            if remaining > 0 and sizes[j] < high:
                sizes[j] += 1
                remaining -= 1
                moved = True
            elif remaining < 0 and sizes[j] > min_size:
                sizes[j] -= 1
                remaining += 1
                moved = True
            if remaining == 0:
                break
        if not moved:
            break
    out[:] = 0
    for j in range(n_chosen):
        out[order[j]] = sizes[j]


# -- public functions -----------------------------------------------------------------

def _check_vector(name, values, low=None, high=None, low_open=False):
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"The {name!r} argument must be a non-empty 1-D array. Got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
        raise TypeError(f"The {name!r} argument must be real numbers. Got dtype {array.dtype}.")
    array = np.ascontiguousarray(array, dtype=np.float64)
    bad = ~np.isfinite(array)
    if low is not None:
        bad |= (array <= low) if low_open else (array < low)
    if high is not None:
        bad |= array > high
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        bounds = ([f"{'>' if low_open else '>='} {low:g}"] if low is not None else []) + \
            ([f"<= {high:g}"] if high is not None else [])
        allowed = "finite values" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"The {name!r} argument must hold {allowed}. Got {float(array[where])!r} at index {where}.")
    return array


#: The rollout budget of the allocation functions (``_check_budget``); budget and
#: max_size must also be >= min_size.
BUDGET_ARGUMENTS = (
    argument("budget", "int", low=1, doc="rollouts to split, in all"),
    argument("min_size", "int", low=1, doc="rollouts of a prompt that gets any, at least"),
    argument("max_size", "int", low=1, none_means=0, doc="rollouts of one prompt, at most (None: no cap)"),
)


def _check_budget(n, budget, min_size, max_size, owner):
    """(budget, min_size, max_size, 0 for None) checked for ``owner`` over ``n`` prompts."""
    checked = check_arguments(owner, BUDGET_ARGUMENTS, {"budget": budget, "min_size": min_size,
                                                        "max_size": max_size})
    budget, min_size, max_size = checked["budget"], checked["min_size"], checked["max_size"]
    for name, value in (("budget", budget), ("max_size", max_size)):
        if value is not None and value < min_size:
            raise ValueError(f"The {name!r} argument of {owner} must be an int >= min_size = {min_size}"
                             f"{' or None' if name == 'max_size' else ''}. Got {value!r} instead.")
    if max_size is None:
        return budget, min_size, 0
    n_needed = -(-budget // max_size)
    if n_needed > n or n_needed * min_size > budget:
        raise ValueError(
            f"A budget of {budget} rollouts cannot be split over {n} prompts with {min_size} to {max_size} "
            f"rollouts per prompt that gets any: it needs ceil(budget / max_size) = {n_needed} prompts, at most "
            f"{n} and at most budget / min_size = {budget // min_size}. Raise max_size or change the budget.")
    return budget, min_size, max_size


#: The allocation functions' scalar arguments besides the sizes (tests/test_arguments.py
#: derives its bad-input cases from them).
SATURATION = argument("saturation", low=0.0, high=0.5, high_open=True,
                      doc="prompts with p within this of 0 or 1 get no rollouts")
CONFIDENCE = argument("confidence", low=0.0, low_open=True, high=1.0, none_means=0.0,
                      doc="posterior mass within saturation that makes a prompt saturated; None: the mean")


def _check_saturation(saturation, owner):
    return check_arguments(owner, (SATURATION,), {"saturation": saturation})["saturation"]


def allocate_by_weight(weights, budget, *, min_size=2, max_size=None):
    """Integer group sizes proportional to ``weights`` (>= 0; 0 = skip), summing to
    ``budget``, each 0 or within [min_size, max_size]. For any sigma, e.g. the
    gradient-norm sigma of the released CurES code. Returns int64 (n,)."""
    weights = _check_vector("weights", weights, low=0.0)
    budget, min_size, max_size = _check_budget(weights.shape[0], budget, min_size, max_size, "allocate_by_weight")
    out = np.empty(weights.shape[0], dtype=np.int64)
    _allocate(weights, budget, min_size, max_size, out)
    return out


def allocate_rollouts(success, budget, *, min_size=2, max_size=None, saturation=0.0):
    """Neyman allocation from success estimates p_x in [0, 1]: G_x proportional to
    sqrt(p_x (1 - p_x)), 0 where p_x <= saturation or p_x >= 1 - saturation.

    Example: ``allocate_rollouts([0.5, 0.9, 1.0, 0.2], 32)`` -> ``[13, 8, 0, 11]``
    (weights 0.5, 0.3, 0, 0.4: shares 13.3, 8, 0, 10.7; the one left over goes to 10.7). Returns int64 (n,).
    """
    success = _check_vector("success", success, low=0.0, high=1.0)
    budget, min_size, max_size = _check_budget(success.shape[0], budget, min_size, max_size, "allocate_rollouts")
    sigma = np.empty(success.shape[0])
    _success_sigma(success, _check_saturation(saturation, "allocate_rollouts"), sigma)
    out = np.empty(success.shape[0], dtype=np.int64)
    _allocate(sigma, budget, min_size, max_size, out)
    return out


def allocate_rollouts_posterior(alpha, beta, budget, *, min_size=2, max_size=None, saturation=0.1,
                                confidence=0.5):
    """Neyman allocation from Beta(alpha, beta) posteriors over each prompt's success rate.

    sigma_x uses the posterior mean p_x = alpha / (alpha + beta). A prompt is saturated
    (0 rollouts) when the posterior puts at least ``confidence`` of its mass within
    ``saturation`` of 0 or of 1; ``confidence=None`` tests the mean itself instead.
    Defaults: with the Beta(1, 1) prior, 6 successes out of 6 saturate a prompt
    (P(p >= 0.9) = 1 - 0.9^7 = 0.52), one failure among them does not.
    Works with any posterior arrays (CurES, Thompson/MoPPS, learnability). Returns int64 (n,).
    """
    alpha = _check_vector("alpha", alpha, low=0.0, low_open=True)
    beta = _check_vector("beta", beta, low=0.0, low_open=True)
    if alpha.shape != beta.shape:
        raise ValueError(f"The 'alpha' and 'beta' arguments must have the same shape. "
                         f"Got {alpha.shape} and {beta.shape}.")
    checked = check_arguments("allocate_rollouts_posterior", (SATURATION, CONFIDENCE),
                              {"saturation": saturation, "confidence": confidence})
    saturation, confidence = checked["saturation"], checked["confidence"] or 0.0
    budget, min_size, max_size = _check_budget(alpha.shape[0], budget, min_size, max_size,
                                               "allocate_rollouts_posterior")
    sigma = np.empty(alpha.shape[0])
    _posterior_sigma(alpha, beta, saturation, float(confidence), sigma)
    out = np.empty(alpha.shape[0], dtype=np.int64)
    _allocate(sigma, budget, min_size, max_size, out)
    return out


def has_posterior(scheduler):
    """True if ``scheduler`` declares Beta posteriors (``keeps_posterior``: its state
    starts with ``alpha`` = f[:n_arms] and ``beta`` = f[n_arms:2 n_arms]; cures,
    thompson, learnability with its posterior estimator): then ``allocate_for`` and, in
    compiled code, ``_state_posterior_sigma`` read them without a copy of the state."""
    return bool(getattr(scheduler, "keeps_posterior", False))


def allocate_for(scheduler, arms, budget, *, min_size=2, max_size=None, saturation=0.1, confidence=0.5):
    """``allocate_rollouts_posterior`` for ``arms`` of a scheduler with Beta posteriors
    (see ``has_posterior``). Returns int64 (len(arms),)."""
    alpha, beta = posterior_of(scheduler, arms)
    return allocate_rollouts_posterior(alpha, beta, budget, min_size=min_size, max_size=max_size,
                                       saturation=saturation, confidence=confidence)


def posterior_of(scheduler, arms):
    """(alpha[arms], beta[arms]) of a scheduler with Beta posteriors (copies), checked."""
    if not has_posterior(scheduler):
        raise TypeError(f"{type(scheduler).__name__} keeps no Beta posterior (state fields 'alpha', 'beta'); "
                        "allocate from success estimates with allocate_rollouts(success, budget) instead.")
    arms = np.asarray(arms)
    if arms.ndim != 1 or arms.size == 0 or arms.dtype.kind not in "iu":
        raise ValueError(f"The 'arms' argument must be a non-empty 1-D array of integer arm ids. "
                         f"Got shape {arms.shape}, dtype {arms.dtype}.")
    if arms.min() < 0 or arms.max() >= scheduler.n_arms:
        bad = arms.min() if arms.min() < 0 else arms.max()
        raise ValueError(f"The 'arms' argument holds arm id {bad}, outside 0..{scheduler.n_arms - 1}.")
    alpha, beta = type(scheduler).kernels.views(scheduler._params, scheduler.n_arms, scheduler._f, scheduler._i)[:2]
    return alpha[arms], beta[arms]
