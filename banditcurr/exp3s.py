"""Exp3.S on a learning-progress reward rescaled by running percentiles.

Source: Graves, Bellemare, Menick, Munos, Kavukcuoglu, "Automated Curriculum Learning
for Neural Networks" (ICML 2017, arXiv 1704.03003), Sections 3 and 3.1; Exp3.S itself
is from Auer, Cesa-Bianchi, Freund and Schapire (2002). No code was released.
"""

import math

import numpy as np

from ._feedback import ABS_ADVANTAGE_MAX, count_successes, mean_abs_advantage
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs
from .base import Kernels, Scheduler

# params layout (order of Exp3S.params)
(_ETA, _EPSILON, _BETA, _ALPHA, _SIGNAL, _WINDOW, _LOW_QUANTILE, _HIGH_QUANTILE,
 _THRESHOLD) = range(9)
_SIGNAL_SUCCESS_GAIN = 1.0
_ALPHA_ONE_OVER_T = -1.0  # packed value of alpha=None
_TINY_TOTAL = 1e-290  # below it the normalising factor 1 / total could overflow


@jit
def _sizes(params, n_arms):
    window = int(params[_WINDOW])
    return 2 * n_arms + 2 * window, window + 4


@jit
def _views(params, n_arms, f, i):
    w = int(params[_WINDOW])
    return (
        f[:n_arms],  # weights: exp(w_i) / sum_j exp(w_j), the normalised Exp3.S weights
        f[n_arms:2 * n_arms],  # last_success: each arm's latest group success rate
        f[2 * n_arms:2 * n_arms + w],  # history: ring of the last `window` raw rewards
        f[2 * n_arms + w:2 * n_arms + 2 * w],  # history_values: its distinct values, increasing
        i[:w],  # history_counts: how often each of those values is in the ring
        i[w:w + 1],  # rounds: t, the number of groups fed back so far
        i[w + 1:w + 4],  # history_cursor: (next ring slot, entries in the ring, distinct values)
    )


FIELDS = ("weights", "last_success", "history", "history_values", "history_counts", "rounds",
          "history_cursor")


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0
    i[:] = 0
    f[:n_arms] = 1.0 / n_arms


@jit
def _push(ring, values, counts, cursor, x):
    """Append x to the FIFO ``ring``, evicting the oldest entry when full, and keep
    (values, counts) the ring's sorted distinct values with their multiplicities.

    O(D) for D distinct values: a handful for rewards of binary rollouts."""
    size = ring.shape[0]
    head, fill, distinct = cursor[0], cursor[1], cursor[2]
    if fill == size:  # evict the oldest value
        old = ring[head]
        p = np.searchsorted(values[:distinct], old)
        counts[p] -= 1
        if counts[p] == 0:
            for j in range(p, distinct - 1):
                values[j] = values[j + 1]
                counts[j] = counts[j + 1]
            distinct -= 1
    else:
        fill += 1
    p = np.searchsorted(values[:distinct], x)
    if p < distinct and values[p] == x:
        counts[p] += 1
    else:
        for j in range(distinct, p, -1):
            values[j] = values[j - 1]
            counts[j] = counts[j - 1]
        values[p] = x
        counts[p] = 1
        distinct += 1
    ring[head] = x
    cursor[0] = (head + 1) % size
    cursor[1] = fill
    cursor[2] = distinct


@jit
def _order_statistic(values, counts, distinct, rank):
    """The value at 0-based ``rank`` of the sorted multiset (values, counts)."""
    seen = 0
    for j in range(distinct):
        seen += counts[j]
        if rank < seen:
            return values[j]
    return values[distinct - 1]


@jit
def quantile(values, counts, distinct, n, level):
    """The ``level`` quantile of the n values of the multiset, linear interpolation
    between order statistics (NumPy's default method)."""
    position = (n - 1) * level
    low = int(math.floor(position))
    below = _order_statistic(values, counts, distinct, low)
    if low >= n - 1:
        return below
    frac = position - low
    return below + frac * (_order_statistic(values, counts, distinct, low + 1) - below)


@jit
def rescale(raw, low, high):
    """Graves et al.'s reward scaling: clip raw to [low, high], map linearly to [-1, 1]."""
    if raw < low:
        return -1.0
    if raw > high:
        return 1.0
    if high > low:
        return 2.0 * (raw - low) / (high - low) - 1.0
    return 0.0


@jit
def _round(params, n_arms, weights, arm, reward, t):
    """One Exp3.S round: arm was pulled and earned ``reward`` in [-1, 1]."""
    eta, epsilon, beta = params[_ETA], params[_EPSILON], params[_BETA]
    floor = epsilon / n_arms
    pi_arm = (1.0 - epsilon) * weights[arm] + floor
    total = 0.0
    # A gain of 0 stays 0 even where pi = 0 (epsilon = 0); a gain that overflows to +inf
    # gives its arms all the weight, the limit of exp(g_i) / sum_j exp(g_j).
    if beta == 0.0:  # only the pulled arm's gain is non-zero: one exp per round
        x = eta * reward / pi_arm if reward != 0.0 else 0.0
        if x == np.inf:
            weights[:] = 0.0
            weights[arm] = 1.0
            total = 1.0
        else:
            top = max(x, 0.0)
            others = math.exp(-top)
            pulled = weights[arm] * math.exp(x - top)
            for k in range(n_arms):
                weights[k] *= others
                total += weights[k]
            total += pulled - weights[arm]
            weights[arm] = pulled
    else:
        gains = np.empty(n_arms)
        top = -np.inf
        for k in range(n_arms):
            pi_k = (1.0 - epsilon) * weights[k] + floor
            gain = (reward if k == arm else 0.0) + beta
            gains[k] = eta * gain / pi_k if gain != 0.0 else 0.0
            top = max(top, gains[k])
        for k in range(n_arms):
            if top == np.inf:
                weights[k] = 1.0 if gains[k] == np.inf else 0.0
            else:
                weights[k] *= math.exp(gains[k] - top)
            total += weights[k]
    # sharing, then normalisation: w_k <- ((1 - alpha) w_k + alpha / (N - 1) (total - w_k)) / total
    alpha = params[_ALPHA] if params[_ALPHA] != _ALPHA_ONE_OVER_T else 1.0 / t
    share = alpha / (n_arms - 1) if n_arms > 1 else 0.0
    keep = 1.0 - alpha if n_arms > 1 else 1.0
    if total == 0.0:  # every weight underflowed (huge gains, no sharing): the ratio is 0/0, restart uniform
        for k in range(n_arms):
            weights[k] = 1.0 / n_arms
        return
    if total < _TINY_TOTAL:  # 1 / total would overflow: divide first (w_k <= total)
        for k in range(n_arms):
            weights[k] = (weights[k] / total) * (keep - share) + share
        return
    scale = (keep - share) / total
    for k in range(n_arms):
        weights[k] = scale * weights[k] + share


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    state_weights, last_success, history, values, counts, rounds, cursor = _views(params, n_arms, f, i)
    weights = state_weights.copy()  # a private copy: stores to it cannot alias the history (2x faster)
    for g in range(arms.shape[0]):
        arm = arms[g]
        start, stop = offsets[g], offsets[g + 1]
        if params[_SIGNAL] == _SIGNAL_SUCCESS_GAIN:
            rate = count_successes(rewards, start, stop, params[_THRESHOLD]) / (stop - start)
            raw = rate - last_success[arm]
            last_success[arm] = rate
        else:
            raw = mean_abs_advantage(rewards, start, stop)
        _push(history, values, counts, cursor, raw)
        fill, distinct = cursor[1], cursor[2]
        low = quantile(values, counts, distinct, fill, params[_LOW_QUANTILE])
        high = quantile(values, counts, distinct, fill, params[_HIGH_QUANTILE])
        rounds[0] += 1
        _round(params, n_arms, weights, arm, rescale(raw, low, high), rounds[0])
    state_weights[:] = weights


@jit
def _probs(params, n_arms, f, i, out):
    weights = _views(params, n_arms, f, i)[0]
    epsilon = params[_EPSILON]
    for k in range(n_arms):
        out[k] = (1.0 - epsilon) * weights[k] + epsilon / n_arms


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Exp3S(Scheduler):
    """Exp3.S over arms, rewarded by learning progress (Graves et al. 2017).

    Every group of rollouts fed back is one bandit round t = 1, 2, ... (one pull of
    its arm a). Its raw reward r^ is a learning-progress signal:

        "abs_advantage"  r^ = mean_j |A_j|, A_j = (r_j - mean) / (std + 1e-6): the size
                         of the group's GRPO policy gradient, a stand-in for Graves et
                         al.'s gradient prediction gain (default)
        "success_gain"   r^ = s - s_prev: the change of the arm's success rate
                         (reward >= threshold) since its previous group (s_prev = 0
                         at first), a stand-in for their prediction gain

    rescaled to [-1, 1] by the running quantiles q_lo, q_hi (20th and 80th
    percentiles) of the last ``window`` raw rewards, this one included:

        r = -1 if r^ < q_lo;  1 if r^ > q_hi;  2 (r^ - q_lo) / (q_hi - q_lo) - 1 otherwise

    Exp3.S, with weights w (w_1 = 0) and N = n_arms:

        pi_i  = (1 - epsilon) exp(w_i) / sum_j exp(w_j) + epsilon / N
        g_i   = eta (r [i = a] + beta) / pi_i
        w_i  <- log[(1 - alpha_t) exp(w_i + g_i) + alpha_t / (N - 1) sum_{j != i} exp(w_j + g_j)]

    The state keeps the normalised weights exp(w_i) / sum_j exp(w_j) (the
    policy depends on w only up to a constant), so nothing overflows. ``alpha=None``
    uses the schedule alpha_t = 1 / t; a float fixes alpha (Auer et al.'s 1 / T).

    Defaults: eta = 1e-3, beta = 0, epsilon = 0.05 (the values Graves et al. report
    for all their experiments), alpha_t = 1 / t, quantiles 0.2 / 0.8, window 1000.
    Graves et al. ran ~10^5 rounds of one task per batch; here a step of B groups is
    B rounds, so 200 steps of 128 groups are ~2.6 x 10^4 rounds. Departures from the
    paper, all forced by the setting and documented: the percentiles come from a
    sliding window of the latest rewards instead of a reservoir sample of the whole
    history (deterministic, and it follows a non-stationary learner); the rewards
    are per group instead of per training batch (a GRPO step mixes arms); the
    importance weight 1 / pi_a uses the policy of the current round, so feeding back
    a batch in one call or group by group gives the same state.

    Cost per group: O(N) (the sharing term touches every weight) plus O(D) for the
    D distinct raw rewards in the window (the percentiles are exact, read from the
    window's sorted distinct values and counts; D is a handful for binary rollouts,
    up to ``window`` for real-valued rewards). A step of B = 128 groups at N = 12 takes
    some 25 us. Exp3.S needs many more rounds than arms to learn anything: it is a
    distribution-level method (at N = 10^6 a step costs O(B N), ~0.5 s).
    """

    name = "exp3s"
    #: The level Exp3.S works at (few arms, many rounds each); the simulator reads it.
    arm_level = "distribution"
    kernels = KERNELS
    params = (
        Param("eta", 1e-3, "float", low=0.0, low_open=True, doc="learning rate of the exponential weights"),
        Param("epsilon", 0.05, "float", low=0.0, high=1.0, doc="uniform exploration mixed into the policy"),
        Param("beta", 0.0, "float", low=0.0, doc="optimism added to every arm's reward estimate (Exp3.P-style)"),
        Param("alpha", None, "float", low=0.0, high=1.0, none_means=_ALPHA_ONE_OVER_T,
              doc="weight-sharing rate alpha_t of Exp3.S; None = 1 / t"),
        Param("signal", "abs_advantage", "choice", choices=("abs_advantage", "success_gain"),
              doc="learning-progress reward of a group"),
        Param("window", 1000, "int", low=1, doc="number of past raw rewards the percentiles are taken over"),
        Param("low_quantile", 0.2, "float", low=0.0, high=1.0, doc="q_lo: raw rewards below it map to -1"),
        Param("high_quantile", 0.8, "float", low=0.0, high=1.0, doc="q_hi: raw rewards above it map to +1"),
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold (success_gain)"),
    )

    def _check_hyperparameters(self):
        low, high = self.hyperparameters["low_quantile"], self.hyperparameters["high_quantile"]
        if not low < high:
            raise ValueError(
                f"The 'low_quantile' parameter of Exp3S must be below 'high_quantile'. "
                f"Got low_quantile={low!r}, high_quantile={high!r}."
            )

    def _check_state(self, arrays):
        """The kernels index the history ring with its cursor and trust the multiset of
        distinct values to describe the ring: refuse a state where either is off."""
        window = self.hyperparameters["window"]
        head, fill, distinct = arrays["history_cursor"]
        valid = 0 <= head < window and 0 <= fill <= window and 0 <= distinct <= fill and arrays["rounds"][0] >= 0
        if valid:
            values, counts = arrays["history_values"][:distinct], arrays["history_counts"][:distinct]
            ring = np.sort(arrays["history"][:fill])
            valid = ((counts > 0).all() and (counts <= fill).all() and int(counts.sum()) == fill
                     and (np.diff(values) > 0).all() and np.array_equal(np.repeat(values, counts), ring))
        if not valid:
            raise ValueError(
                f"The 'state' dict holds a history (head={head}, fill={fill}, distinct={distinct}) "
                f"inconsistent with window={window}: it was not made by this scheduler."
            )
        weights, last = arrays["weights"], arrays["last_success"]
        if not ((weights >= 0.0).all() and abs(weights.sum() - 1.0) <= 1e-6):
            self._refuse_state("holds Exp3.S weights that are not a probability vector (>= 0, sum 1)")
        if not ((last >= 0.0).all() and (last <= 1.0).all()
                and (np.abs(arrays["history"]) <= ABS_ADVANTAGE_MAX).all()):
            self._refuse_state("holds success rates outside [0, 1] or raw rewards beyond any group's")
