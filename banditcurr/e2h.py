"""E2H: a fixed schedule that moves probability from easy levels to hard ones.

Source: "Curriculum Reinforcement Learning from Easy to Hard Tasks Improves LLM
Reasoning" (Parashar et al., arXiv 2506.06632) and its released code
(``TaskSampler`` in ``src/trainer.py`` of divelab/E2H-Reasoning).
"""

import math

import numpy as np

from ._difficulty import DifficultyScheduler, label_range, write_index_labels
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs
from .base import Kernels

# params layout (order of E2H.params)
_SCHEDULE, _HORIZON, _MU_EXP, _SIGMA, _UNIFORM_MIX = range(5)
_COSINE = 0.0
_PAPER_MIX = -1.0  # uniform_mix=None: the paper's floor


@jit
def _sizes(params, n_arms):
    return n_arms, 1


@jit
def _views(params, n_arms, f, i):
    return (
        f[:n_arms],  # difficulty: d_k, the level of each arm (larger = harder)
        i[:1],  # step: t, the batches drawn so far (sample calls), at most the horizon
    )


FIELDS = ("difficulty", "step")


@jit
def _start(params, n_arms, f, i):
    """Nothing derives from the labels: a fresh state is step 0."""
    i[:] = 0


@jit
def _init(params, n_arms, f, i):
    write_index_labels(n_arms, f)
    _start(params, n_arms, f, i)


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    """A fixed schedule: feedback changes nothing."""


@jit
def _probs(params, n_arms, f, i, out):
    """The schedule at step t (x_k = d_k - min d, L = max d - min d + 1 levels):
    cosine  w_k = a (L - x_k) + (1 - a) (x_k + 1),   a = (1 + cos(pi t / T)) / 2
    gaussian w_k = exp(-(x_k - mu)^2 / (2 sigma^2)),  mu = (t / T)^mu_exp (L - 1)
    p = m / K + (1 - m) w / sum(w), m = uniform_mix (None: 0 cosine, 2 / (L + 1) gaussian)."""
    difficulty, step = _views(params, n_arms, f, i)
    low, high = label_range(difficulty)
    levels = high - low + 1.0
    horizon = params[_HORIZON]
    progress = step[0] / horizon
    mix = params[_UNIFORM_MIX]
    if params[_SCHEDULE] == _COSINE:
        a = 0.5 * (1.0 + math.cos(math.pi * progress))
        for k in range(n_arms):
            x = difficulty[k] - low
            out[k] = a * (levels - x) + (1.0 - a) * (x + 1.0)
        if mix == _PAPER_MIX:
            mix = 0.0
    else:
        mu = progress ** params[_MU_EXP] * (levels - 1.0)
        nearest = np.inf  # weights relative to the arm nearest mu: the largest is 1, never all 0
        for k in range(n_arms):
            nearest = min(nearest, (difficulty[k] - low - mu) ** 2)
        scale = 2.0 * params[_SIGMA] ** 2
        for k in range(n_arms):
            out[k] = math.exp(-((difficulty[k] - low - mu) ** 2 - nearest) / scale)
        if mix == _PAPER_MIX:
            mix = 2.0 / (levels + 1.0)
    total = 0.0
    for k in range(n_arms):
        total += out[k]
    for k in range(n_arms):
        out[k] = mix / n_arms + (1.0 - mix) * (out[k] / total)


@jit
def _sample(params, n_arms, f, i, rng, out):
    difficulty, step = _views(params, n_arms, f, i)
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)
    step[0] = min(step[0] + 1, int(params[_HORIZON]))  # the law is fixed from t = T on


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class E2H(DifficultyScheduler):
    """E2H: sample levels by a schedule that moves from easy to hard over ``horizon`` steps.

    Arm k sits at level x_k = d_k - min d (labels d: ``difficulty=``, default the arm
    index, levels ordered easy -> hard); L = max d - min d + 1 levels. At step t (the
    number of ``sample`` calls so far, which stops at the horizon T):

        cosine (E2H-C):   w_k = a (L - x_k) + (1 - a) (x_k + 1),  a = (1 + cos(pi t / T)) / 2
        gaussian (E2H-G): w_k = exp(-(x_k - mu_t)^2 / (2 sigma^2)), mu_t = (t / T)^mu_exp (L - 1)
        p_k = m / K + (1 - m) w_k / sum_j w_j

    with m = ``uniform_mix``; None is the paper's floor: m = 2 / (L + 1) for gaussian
    (p_min = 2 / (L (L + 1)) per level, ``min_prob: true``), 0 for cosine (its floor
    p_min never binds: the cosine mix of the early and late laws is >= p_min already).
    Cosine starts at p proportional to (L - x) (easiest most likely) and ends at
    p proportional to (x + 1); gaussian slides a bump from level 0 to level L - 1.
    Feedback changes nothing (a fixed schedule); ``sample`` advances t, as the released
    sampler does one schedule step per batch.

    Defaults: the released config (cosine; gaussian with mu_exp = 0.5, sigma = 0.5,
    min_prob); horizon = 100 steps: set it to the run's total steps (max_steps).
    With levels as arms (K = L, distribution level) p is the paper's law exactly;
    with prompts as arms whose labels are their levels, a level's share also grows
    with its number of prompts (equal-sized levels: the paper's law).
    """

    name = "e2h"
    kernels = KERNELS
    start = staticmethod(_start)
    arm_level = "distribution"  # E2H: a law over difficulty levels
    params = (
        Param("schedule", "cosine", "choice", choices=("cosine", "gaussian"), doc="E2H-C or E2H-G"),
        Param("horizon", 100, "int", low=1, doc="T: the run's total steps (sample calls); the schedule ends there"),
        Param("mu_exp", 0.5, "float", low=0.0, high=100.0, low_open=True,
              doc="gaussian: mu_t = (t / T)^mu_exp (L - 1); < 1 moves faster early"),
        Param("sigma", 0.5, "float", low=1e-3, high=1e6, doc="gaussian: the bump's width, in levels"),
        Param("uniform_mix", None, "float", low=0.0, high=1.0, none_means=_PAPER_MIX,
              doc="m: share of uniform draws; None = the paper's floor (gaussian 2 / (L + 1), cosine 0)"),
    )

    def _check_state(self, arrays):
        super()._check_state(arrays)
        step, horizon = int(arrays["step"][0]), self.hyperparameters["horizon"]
        if not 0 <= step <= horizon:
            self._refuse_state(f"holds a step count {step} outside 0..horizon = {horizon}")
