"""PLR: Prioritized Level Replay, rank-prioritised replay of high-score levels.

Source: Jiang, Grefenstette, Rocktaeschel, "Prioritized Level Replay" (ICML 2021,
arXiv 2010.03934) and its released code (facebookresearch/level-replay,
``level_replay/level_sampler.py``).
"""

import math

import numpy as np

from ._feedback import group_mean, mean_abs_advantage
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs
from .base import Kernels, Scheduler

# params layout (order of PLR.params)
(_SCORE, _PRIORITIZATION, _TEMPERATURE, _STALENESS_COEF, _SCORE_EMA, _SCHEDULE,
 _MIN_SEEN_FRACTION, _NEW_LEVEL_PROB) = range(8)
_VALUE_L1, _ABS_ADVANTAGE, _POSITIVE_VALUE_LOSS = 0.0, 1.0, 2.0  # packed values of `score`
_POWER = 1.0  # packed value of prioritization="power"
_FIXED = 1.0  # packed value of schedule="fixed"


@jit
def _sizes(params, n_arms):
    return 2 * n_arms, 2 * n_arms + 2


@jit
def _views(params, n_arms, f, i):
    return (
        f[:n_arms],  # scores: S_i, the EMA of each level's score (0 until seen)
        f[n_arms:],  # ranked_scores: the scores in ranking order (sequential reads)
        i[:n_arms],  # last_seen: C_i, the value of the counter at level i's latest group (0 = unseen)
        i[n_arms:n_arms + 1],  # counter: c, groups fed back so far
        i[n_arms + 1:2 * n_arms + 1],  # ranking: the seen levels by decreasing score, ties by id
        i[2 * n_arms + 1:],  # n_seen: how many levels have been seen (the valid ranking prefix)
    )


FIELDS = ("scores", "ranked_scores", "last_seen", "counter", "ranking", "n_seen")


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0
    i[:] = 0


@jit
def group_score(kind, rewards, start, stop):
    """A group's learning potential. value_l1: mean |r_j - mean|, PLR's L1 value loss
    with the group mean as the value baseline; abs_advantage: mean |A_j| (GRPO
    normalised); positive_value_loss: mean max(r_j - mean, 0)."""
    if kind == _ABS_ADVANTAGE:
        return mean_abs_advantage(rewards, start, stop)
    mean = group_mean(rewards, start, stop)
    total = 0.0
    for j in range(start, stop):
        gap = rewards[j] - mean
        total += max(gap, 0.0) if kind == _POSITIVE_VALUE_LOSS else abs(gap)
    return total / (stop - start)


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    scores, ranked_scores, last_seen, counter, ranking, n_seen = _views(params, n_arms, f, i)
    ema = params[_SCORE_EMA]
    first = counter[0]
    for g in range(arms.shape[0]):
        arm = arms[g]
        score = group_score(params[_SCORE], rewards, offsets[g], offsets[g + 1])
        scores[arm] = (1.0 - ema) * scores[arm] + ema * score
        counter[0] += 1
        last_seen[arm] = counter[0]
    # Re-rank in O(K + B log B) with sequential passes only: drop the updated levels
    # from the ranking (the rest keep their order), sort the updated ones by
    # (decreasing score, id), merge the two from the back.
    moved = np.empty(arms.shape[0], dtype=np.int64)
    n_moved = 0
    for g in range(arms.shape[0]):
        if last_seen[arms[g]] == first + g + 1:  # the level's last group: count it once
            moved[n_moved] = arms[g]
            n_moved += 1
    size = 1
    while size < 4 * n_moved:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)  # hash set of the moved levels
    mask = size - 1
    for n in range(n_moved):
        slot = (moved[n] * 0x9E3779B1) & mask
        while table[slot] != -1:
            slot = (slot + 1) & mask
        table[slot] = moved[n]
    kept = 0
    for n in range(n_seen[0]):
        level = ranking[n]
        slot = (level * 0x9E3779B1) & mask
        while table[slot] != -1 and table[slot] != level:
            slot = (slot + 1) & mask
        if table[slot] == -1:
            ranking[kept] = level
            ranked_scores[kept] = ranked_scores[n]
            kept += 1
    moved = np.sort(moved[:n_moved])
    keys = np.empty(n_moved)
    for n in range(n_moved):
        keys[n] = -scores[moved[n]]
    moved = moved[np.argsort(keys, kind="mergesort")]  # stable: equal scores stay by id
    total = kept + n_moved
    a, b = kept - 1, n_moved - 1
    for slot in range(total - 1, -1, -1):
        # the kept entry goes last if it ranks after the moved one
        if b < 0 or (a >= 0 and (ranked_scores[a] < scores[moved[b]] or (
                ranked_scores[a] == scores[moved[b]] and ranking[a] > moved[b]))):
            ranking[slot] = ranking[a]
            ranked_scores[slot] = ranked_scores[a]
            a -= 1
        else:
            ranking[slot] = moved[b]
            ranked_scores[slot] = scores[moved[b]]
            b -= 1
    n_seen[0] = total


@jit
def _score_weights(params, ranked_scores, ranking, n_seen, out):
    """Unnormalised P_S, written to out[level] for the seen levels: h(S)^(1/beta); rank:
    h = 1/rank, tied scores share the mean weight of their ranks. Returns the sum."""
    inverse_temperature = 1.0 / params[_TEMPERATURE]
    total = 0.0
    if params[_PRIORITIZATION] == _POWER:
        top = ranked_scores[0]
        for n in range(n_seen):
            weight = (ranked_scores[n] / top) ** inverse_temperature if top > 0.0 else 0.0
            out[ranking[n]] = weight
            total += weight
        return total
    start = 0
    while start < n_seen:
        stop = start
        block = 0.0
        while stop < n_seen and ranked_scores[stop] == ranked_scores[start]:
            # (1 / rank)^(1/beta); rank 1 weighs 1 even when 1/beta overflows (inf * log 1 is NaN)
            block += 1.0 if stop == 0 else math.exp(-inverse_temperature * math.log(stop + 1.0))
            stop += 1
        for n in range(start, stop):
            out[ranking[n]] = block / (stop - start)
        total += block
        start = stop
    return total


@jit
def _probs(params, n_arms, f, i, out):
    scores, ranked_scores, last_seen, counter, ranking, n_seen_view = _views(params, n_arms, f, i)
    n_seen = n_seen_view[0]
    n_unseen = n_arms - n_seen
    fraction = n_seen / n_arms
    if n_seen == 0 or (n_unseen > 0 and fraction < params[_MIN_SEEN_FRACTION]):
        replay = 0.0
    elif n_unseen == 0:
        replay = 1.0
    elif params[_SCHEDULE] == _FIXED:
        replay = 1.0 - params[_NEW_LEVEL_PROB]
    else:  # proportionate: replay as often as the fraction of levels seen
        replay = fraction
    out[:] = 0.0
    if replay > 0.0:
        total = _score_weights(params, ranked_scores, ranking, n_seen, out)  # the one pass in rank order
        rho = params[_STALENESS_COEF]
        staleness = 0.0
        for k in range(n_arms):
            if last_seen[k] > 0:
                staleness += counter[0] - last_seen[k]
        for k in range(n_arms):  # the rest in level order
            if last_seen[k] > 0:
                p_score = out[k] / total if total > 0.0 else 1.0 / n_seen
                p_stale = (counter[0] - last_seen[k]) / staleness if staleness > 0.0 else 1.0 / n_seen
                out[k] = replay * ((1.0 - rho) * p_score + rho * p_stale)
    if replay < 1.0:
        for k in range(n_arms):
            if last_seen[k] == 0:
                out[k] = (1.0 - replay) / n_unseen


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class PLR(Scheduler):
    """Prioritized Level Replay over arms (levels: prompts or distributions).

    Every group fed back is one episode on its level i: the global counter c goes up
    by one, C_i <- c, and S_i <- (1 - score_ema) S_i + score_ema * s with the group's
    score s (``score``):

        "value_l1"             s = mean_j |r_j - mean(r)|: PLR's L1 value loss, with the
                               group mean as the value baseline, as in GRPO (default)
        "abs_advantage"        s = mean_j |A_j|, the std-normalised GRPO advantage
        "positive_value_loss"  s = mean_j max(r_j - mean(r), 0) (Robust PLR's score)

    Replay distribution over the seen levels (those with a group so far):

        P_S(i) = h(S_i)^(1/beta) / sum_j h(S_j)^(1/beta),  h = 1 / rank(S_i) ("rank",
                 rank 1 = highest score; tied scores share the mean weight of their
                 ranks) or h = S_i ("power"; uniform if every S_i is 0)
        P_C(i) = (c - C_i) / sum_j (c - C_j)                (uniform if all are 0)
        P_replay = (1 - rho) P_S + rho P_C

    Replay or a new level: with probability P_D a slot replays (draws from
    P_replay), otherwise it draws a uniformly random unseen level. P_D = 0 while the
    fraction of seen levels is below ``min_seen_fraction``, then P_D = fraction seen
    (``schedule="proportionate"``, the paper's P_D) or 1 - ``new_level_prob``
    ("fixed"); P_D = 1 once every level is seen. ``probs`` is the mixture
    P_D P_replay + (1 - P_D) uniform(unseen).

    Defaults reproduce the released code as its README runs it: rank
    prioritisation, beta = 0.1, rho = 0.1, score EMA 1 (the latest score),
    proportionate schedule with min_seen_fraction = 1 (every level is tried once
    before any replay), value_l1 scores. Changes, for this setting or for
    determinism: ties in rank are shared (released: broken by argsort order, i.e.
    by level id); a level's staleness counts groups fed back rather than samples
    drawn, so it is stamped when its rewards arrive; the power transform
    normalises by the largest score (the same distribution, no overflow); the
    score is computed from rollout rewards (GRPO has no value network); state is
    saved and resumed; randomness is a seeded stream.

    PLR is meant for many levels: prompt-level K. The state keeps the seen levels
    ranked, merged with the re-scored ones after each ``update`` (O(K + B log B)), so
    ``probs`` is O(K) with no sort.
    """

    name = "plr"
    #: The level PLR works at (one arm per level: a prompt); the simulator reads it.
    arm_level = "prompt"
    kernels = KERNELS
    params = (
        Param("score", "value_l1", "choice", choices=("value_l1", "abs_advantage", "positive_value_loss"),
              doc="a group's learning potential"),
        Param("prioritization", "rank", "choice", choices=("rank", "power"),
              doc="h(S) = 1 / rank(S) or h(S) = S"),
        Param("temperature", 0.1, "float", low=0.0, low_open=True, doc="beta in P_S proportional to h(S)^(1/beta)"),
        Param("staleness_coef", 0.1, "float", low=0.0, high=1.0, doc="rho in P = (1 - rho) P_S + rho P_C"),
        Param("score_ema", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="S <- (1 - a) S + a s per group (1 = the latest score)"),
        Param("schedule", "proportionate", "choice", choices=("proportionate", "fixed"),
              doc="replay probability: fraction of levels seen, or 1 - new_level_prob"),
        Param("min_seen_fraction", 1.0, "float", low=0.0, high=1.0,
              doc="no replay until this fraction of levels has been seen"),
        Param("new_level_prob", 0.5, "float", low=0.0, high=1.0,
              doc="nu: probability of a new level under the fixed schedule"),
    )

    def _check_state(self, arrays):
        """Staleness needs 0 <= C_i <= c, and the ranking must list exactly the seen
        levels in rank order: refuse a state that breaks either."""
        counter, last_seen = arrays["counter"][0], arrays["last_seen"]
        if not (counter >= 0 and ((last_seen >= 0) & (last_seen <= counter)).all()):
            raise ValueError(
                f"The 'state' dict holds last_seen values outside 0..counter={counter}: "
                f"it was not made by this scheduler."
            )
        n_seen, ranking, scores = arrays["n_seen"][0], arrays["ranking"], arrays["scores"]
        seen = np.flatnonzero(last_seen > 0)
        ranked = ranking[:n_seen] if 0 <= n_seen <= self.n_arms else None
        expected = seen[np.lexsort((seen, -scores[seen]))]
        if (ranked is None or n_seen != seen.size or not np.array_equal(ranked, expected)
                or not np.array_equal(arrays["ranked_scores"][:n_seen], scores[expected])):
            raise ValueError(
                "The 'state' dict's ranking does not list the seen levels by decreasing score "
                "(ties by id) with their scores: it was not made by this scheduler."
            )
        if not (scores >= 0.0).all():
            self._refuse_state("holds negative level scores (every score is a mean of magnitudes)")
