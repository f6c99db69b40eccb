"""GRESO: skip prompts that were zero-variance in their last epochs, before rollout.

Source: "Act Only When It Pays: Efficient Reinforcement Learning for LLM Reasoning via
Selective Rollouts" (GRESO, Zheng et al., arXiv 2506.02177); released code
Infini-AI-Lab/GRESO (``verl/trainer/ttis/presampling_selector.py``, the
``all_probabilistic`` strategy, and the p adjustment in ``verl/trainer/ppo/ray_trainer.py``).
"""

import numpy as np

from ._feedback import count_successes
from ._jit import jit
from ._params import MAX_POOL_RATIO, Param
from ._rng import sample_distinct, uniform
from ._sampling import sample_from_probs
from .base import Kernels, Scheduler

# params layout (order of Greso.params)
(_THRESHOLD, _TARGET, _EASY_SHARE, _P_START, _P_STEP, _P_MIN, _P_MAX, _KEEP_FLOOR, _POOL_RATIO) = range(9)


@jit
def _sizes(params, n_arms):
    return 2, 2 * n_arms


@jit
def _views(params, n_arms, f, i):
    return (
        f[0:1],  # p_easy: base of an all-solved prompt's keep probability p_easy^streak
        f[1:2],  # p_hard: the same for an all-failed prompt
        i[:n_arms],  # easy_streak: the arm's latest groups that were all successes, in a row
        i[n_arms:2 * n_arms],  # hard_streak: ... all failures, in a row (one of the two is 0)
    )


FIELDS = ("p_easy", "p_hard", "easy_streak", "hard_streak")


@jit
def _init(params, n_arms, f, i):
    f[:] = params[_P_START]
    i[:] = 0


@jit
def _step_toward(p, ratio, target, params):
    """GRESO's controller: skip more (p - step) while the zero-variance ratio is at or
    above its target, less (p + step) below it; p kept in [p_min, p_max]."""
    if ratio >= target:
        return max(p - params[_P_STEP], params[_P_MIN])
    return min(p + params[_P_STEP], params[_P_MAX])


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    p_easy, p_hard, easy, hard = _views(params, n_arms, f, i)
    n_groups = arms.shape[0]
    n_easy = 0
    n_hard = 0
    for g in range(n_groups):
        arm = arms[g]
        size = offsets[g + 1] - offsets[g]
        wins = count_successes(rewards, offsets[g], offsets[g + 1], params[_THRESHOLD])
        if wins == size:
            easy[arm] += 1
            hard[arm] = 0
            n_easy += 1
        elif wins == 0:
            hard[arm] += 1
            easy[arm] = 0
            n_hard += 1
        else:
            easy[arm] = 0
            hard[arm] = 0
    target = params[_TARGET]
    p_easy[0] = _step_toward(p_easy[0], n_easy / n_groups, target * params[_EASY_SHARE], params)
    p_hard[0] = _step_toward(p_hard[0], n_hard / n_groups, target * (1.0 - params[_EASY_SHARE]), params)


@jit
def _power_floor(base, exponent, floor):
    """max(base^exponent, floor) by repeated multiplication (exact IEEE steps), stopped
    once below the floor or at a fixed point (base 1, a product rounded back to itself,
    or 0): bounded work for any exponent, a streak of 2^62 included."""
    value = 1.0
    for _ in range(exponent):
        if value < floor:
            break
        product = value * base
        if product == value:
            break
        value = product
    return max(value, floor)


@jit
def _keep(params, p_easy, p_hard, easy, hard, arm):
    """Probability that ``arm`` is rolled out when drawn: max(p^k, keep_floor), k its
    zero-variance streak, p = p_easy or p_hard by the streak's kind; 1 without a streak."""
    if easy[arm] > 0:
        return _power_floor(p_easy[0], easy[arm], params[_KEEP_FLOOR])
    if hard[arm] > 0:
        return _power_floor(p_hard[0], hard[arm], params[_KEEP_FLOOR])
    return 1.0


@jit
def _probs(params, n_arms, f, i, out):
    p_easy, p_hard, easy, hard = _views(params, n_arms, f, i)
    total = 0.0
    for k in range(n_arms):
        out[k] = _keep(params, p_easy, p_hard, easy, hard, k)
        total += out[k]
    for k in range(n_arms):
        out[k] /= total


@jit
def _sample(params, n_arms, f, i, rng, out):
    p_easy, p_hard, easy, hard = _views(params, n_arms, f, i)
    batch = out.shape[0]
    if batch > n_arms:  # distribution level: each slot a draw from probs (GRESO's law of one kept draw)
        p = np.empty(n_arms)
        _probs(params, n_arms, f, i, p)
        sample_from_probs(rng, p, out)
        return
    pool_size = int(params[_POOL_RATIO]) * batch
    n_candidates = pool_size if 0 < pool_size < n_arms else n_arms
    candidates = np.empty(n_candidates, dtype=np.int64)
    sample_distinct(rng, n_arms, candidates)  # a uniform order, as a shuffled dataloader's
    skipped = np.empty(n_candidates, dtype=np.int64)
    n_kept = 0
    n_skipped = 0
    for c in range(n_candidates):
        arm = candidates[c]
        keep = _keep(params, p_easy, p_hard, easy, hard, arm)
        if keep < 1.0 and uniform(rng) < 1.0 - keep:  # skipped with probability 1 - keep
            skipped[n_skipped] = arm
            n_skipped += 1
            continue
        out[n_kept] = arm
        n_kept += 1
        if n_kept == batch:
            return
    for b in range(batch - n_kept):  # too few kept: fill from the skipped, in the order met
        out[n_kept + b] = skipped[b]


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Greso(Scheduler):
    """GRESO selective rollout: before rollout, skip prompts predicted zero-variance.

    Per prompt, the streak k of its latest groups that were all successes (easy) or all
    failures (hard), success = reward >= ``threshold``. A drawn prompt is skipped with

        P(skip) = 1 - max(p^k, keep_floor),   p = p_easy (easy streak) or p_hard (hard)

    (never skipped without a streak). After each ``update`` the two bases move toward a
    target share of zero-variance groups in that batch, T = ``target_zero_variance``
    split ``easy_share`` : 1 - ``easy_share`` between easy and hard:

        p_easy <- max(p_easy - step, p_min) if easy_ratio >= T easy_share,
                  else min(p_easy + step, p_max)            (p_hard alike, T (1 - easy_share))

    Prompt level (B <= K): candidates come in a uniform random order (a pool of
    ``pool_ratio`` B distinct prompts; all K when None or larger) and are kept or
    skipped in turn until B are kept; if the pool runs out first, the batch is filled
    with skipped prompts in the order they were met, so a batch is always B distinct
    prompts. Distribution level (B > K): each slot is a draw from

        p_k = keep_k / sum_j keep_j                                     (= ``probs()``)

    the law of one kept draw of uniform candidates.

    Defaults are the paper's and the released scripts': T = 0.25, 1/3 easy, p starts at
    0.5, step 0.01, p in [0.05, 0.95], floor 0.01; a pool of 8 B. What changes from the released code
    (docs/schedulers/greso.md): a streak counts training groups of this prompt (the
    release counts its epochs, one group each), easy/hard read successes instead of the
    mean reward >= 0.98 / <= 0.11, p moves after every update from the first (the
    release: per step, from the second epoch), and a batch is filled from a bounded pool.

    Example::

        s = bc.make("greso", n_arms=40_000, seed=0)
        arms = s.sample(128)
        s.update(arms, rewards)              # rewards (128, G)
    """

    name = "greso"
    kernels = KERNELS
    arm_level = "prompt"  # GRESO skips single prompts by their own history
    batch_split_invariant = False  # p_easy, p_hard move once per update call
    params = (
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("target_zero_variance", 0.25, "float", low=0.0, high=1.0,
              doc="target share of zero-variance groups per batch (easy + hard)"),
        Param("easy_share", 1.0 / 3.0, "float", low=0.0, high=1.0,
              doc="part of the target for all-success groups (the rest: all-failure)"),
        Param("p_start", 0.5, "float", low=0.0, high=1.0, doc="initial p_easy and p_hard"),
        Param("p_step", 0.01, "float", low=0.0, high=1.0, doc="change of p_easy, p_hard per update"),
        Param("p_min", 0.05, "float", low=0.0, high=1.0, doc="lower bound of p_easy, p_hard"),
        Param("p_max", 0.95, "float", low=0.0, high=1.0, doc="upper bound of p_easy, p_hard"),
        Param("keep_floor", 0.01, "float", low=0.0, low_open=True, high=1.0,
              doc="a zero-variance prompt is kept with probability >= keep_floor"),
        Param("pool_ratio", 8, "int", low=1, high=MAX_POOL_RATIO, none_means=0,
              doc="prompt level: scan a uniform pool of pool_ratio * B prompts; None = all K"),
    )

    def _check_hyperparameters(self):
        values = self.hyperparameters
        if not values["p_min"] <= values["p_start"] <= values["p_max"]:
            raise ValueError(
                f"The parameters of Greso must satisfy p_min <= p_start <= p_max. Got p_min={values['p_min']!r}, "
                f"p_start={values['p_start']!r}, p_max={values['p_max']!r}: move p_start inside [p_min, p_max]."
            )

    def _check_state(self, arrays):
        low, high = self.hyperparameters["p_min"], self.hyperparameters["p_max"]
        for name in ("p_easy", "p_hard"):
            if not low <= arrays[name][0] <= high:
                self._refuse_state(f"holds {name}={float(arrays[name][0])!r} outside [p_min, p_max] = [{low}, {high}]")
        easy, hard = arrays["easy_streak"], arrays["hard_streak"]
        if (easy < 0).any() or (hard < 0).any() or ((easy > 0) & (hard > 0)).any():
            self._refuse_state("holds negative streaks, or an arm with both an easy and a hard streak")
