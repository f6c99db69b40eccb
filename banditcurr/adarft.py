"""AdaRFT: a target difficulty moved by the batch reward; train on the items nearest it.

Source: "Efficient Reinforcement Finetuning via Adaptive Curriculum Learning" (Shi et
al., arXiv 2504.05520) and its released code (uscnlp-lime/verl: ``CurriculumSampler``,
the target update in ``ray_trainer.py``; verl ``recipe/adarft``).
"""

import math

import numpy as np

from ._difficulty import MAX_DIFFICULTY, DifficultyScheduler, label_range, write_index_labels
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs
from .base import Kernels
from .learnability import select_largest

# params layout (order of AdaRFT.params)
_BETA, _ALPHA, _ETA, _INITIAL_TARGET, _D_MIN, _D_MAX = range(6)


@jit
def _sizes(params, n_arms):
    return n_arms + 1, 0


@jit
def _views(params, n_arms, f, i):
    return (
        f[:n_arms],  # difficulty: d_k, the label of each arm (larger = harder)
        f[n_arms:n_arms + 1],  # target: T, the target difficulty, in [d_min, d_max]
    )


@jit
def _bounds(params, difficulty):
    """(d_min, d_max): the parameters, or the labels' range where they are None (NaN)."""
    if math.isnan(params[_D_MIN]):
        return label_range(difficulty)
    return params[_D_MIN], params[_D_MAX]


FIELDS = ("difficulty", "target")


@jit
def _start(params, n_arms, f, i):
    """T_0 = d_min + initial_target / 100 * (d_max - d_min), from the labels in f."""
    difficulty, target = _views(params, n_arms, f, i)
    low, high = _bounds(params, difficulty)
    target[0] = min(low + params[_INITIAL_TARGET] / 100.0 * (high - low), high)


@jit
def _init(params, n_arms, f, i):
    write_index_labels(n_arms, f)
    _start(params, n_arms, f, i)


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    """One call = one step: R = the mean of all rewards in the call,
    T <- clip(T + eta / 100 * (d_max - d_min) * tanh(alpha (R - beta)), d_min, d_max)."""
    difficulty, target = _views(params, n_arms, f, i)
    n = offsets[arms.shape[0]]
    total = 0.0
    for j in range(n):
        total += rewards[j]
    low, high = _bounds(params, difficulty)
    step = params[_ETA] / 100.0 * (high - low)
    moved = target[0] + step * math.tanh(params[_ALPHA] * (total / n - params[_BETA]))
    target[0] = min(max(moved, low), high)


@jit
def _probs(params, n_arms, f, i, out):
    """Uniform over the arms nearest T (|d_k - T| minimal), 0 elsewhere."""
    difficulty, target = _views(params, n_arms, f, i)
    nearest = np.inf
    for k in range(n_arms):
        nearest = min(nearest, abs(difficulty[k] - target[0]))
    count = 0
    for k in range(n_arms):
        out[k] = 1.0 if abs(difficulty[k] - target[0]) == nearest else 0.0
        count += int(out[k])
    for k in range(n_arms):
        out[k] /= count


@jit
def _sample(params, n_arms, f, i, rng, out):
    difficulty, target = _views(params, n_arms, f, i)
    batch = out.shape[0]
    if batch > n_arms:  # distribution level: every slot from the nearest arms
        p = np.empty(n_arms)
        _probs(params, n_arms, f, i, p)
        sample_from_probs(rng, p, out)
        return
    keys = np.empty(n_arms)
    for k in range(n_arms):
        keys[k] = -abs(difficulty[k] - target[0])
    select_largest(rng, keys, batch, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class AdaRFT(DifficultyScheduler):
    """AdaRFT: a target difficulty T follows the batch reward; the batch is the arms nearest T.

    Each ``update`` call is one training step, with R = the mean reward of all its
    rollouts:

        T <- clip(T + eta / 100 * (d_max - d_min) * tanh(alpha (R - beta)), d_min, d_max)

    ``sample(B)`` with B <= K: the B arms of smallest |d_k - T| (ties at the cut broken
    at random; the released sampler's ``argsort`` of the distances). B > K (levels as
    arms): every slot drawn from ``probs()``, uniform over the arms nearest T.

    Difficulty labels d (``difficulty=``, K finite floats, larger = harder; default the
    arm index, for arms ordered easy -> hard) are state: saved and restored with it.
    d_min, d_max: the parameters (the release's 0 and 100), or by default (None) the
    labels' range; eta is a percentage of d_max - d_min, so with d in [0, 100] eta is
    the release's step. T starts at d_min + initial_target / 100 * (d_max - d_min).

    Defaults (the paper's and the released run script's): beta = 0.5 (the target
    reward), alpha = 2, eta = 50 on d in [0, 100]; initial_target = 0 (the released
    trainer starts at target_difficulty = 0 = d_min); ``d_min=0, d_max=100`` give the
    release's rule for its 0..100 labels. Change: ties at the cut are drawn at random.
    ``batch_split_invariant`` is False: R is a per-call mean.

    Example::

        s = bc.make("adarft", n_arms=len(prompts), seed=0, difficulty=scores_0_to_100)
        arms = s.sample(128)
        s.update(arms, rewards)              # rewards (128, G)
    """

    name = "adarft"
    kernels = KERNELS
    start = staticmethod(_start)
    arm_level = "prompt"  # AdaRFT: per-prompt difficulty scores, the batch nearest T
    batch_split_invariant = False
    params = (
        Param("beta", 0.5, "float", doc="the target reward: T rises while the batch reward exceeds it"),
        Param("alpha", 2.0, "float", low=0.0, low_open=True, doc="sensitivity: tanh(alpha (R - beta))"),
        Param("eta", 50.0, "float", low=0.0, high=100.0, low_open=True,
              doc="step size of T, in percent of the difficulty range"),
        Param("initial_target", 0.0, "float", low=0.0, high=100.0,
              doc="T at the start, in percent of the difficulty range (0 = the easiest)"),
        Param("d_min", None, "float", low=-MAX_DIFFICULTY, high=MAX_DIFFICULTY, none_means=math.nan,
              doc="lower bound of T (release: 0); None = the smallest label"),
        Param("d_max", None, "float", low=-MAX_DIFFICULTY, high=MAX_DIFFICULTY, none_means=math.nan,
              doc="upper bound of T (release: 100); None = the largest label"),
    )

    def _check_hyperparameters(self):
        low, high = self.hyperparameters["d_min"], self.hyperparameters["d_max"]
        if (low is None) != (high is None) or (low is not None and not low < high):
            raise ValueError(f"The 'd_min' and 'd_max' parameters of AdaRFT must both be None (the labels' range) "
                             f"or both set with d_min < d_max. Got d_min={low!r}, d_max={high!r}.")

    def _check_state(self, arrays):
        super()._check_state(arrays)
        low, high = (float(x) for x in _bounds(self._params, arrays["difficulty"]))
        target = float(arrays["target"][0])
        if not low <= target <= high:
            self._refuse_state(f"holds a target difficulty {target!r} outside [d_min, d_max] = [{low!r}, {high!r}]")
