"""SEC: Self-Evolving Curriculum, a Boltzmann bandit on the mean GRPO advantage magnitude.

Source: "Self-Evolving Curriculum for LLM Reasoning" (Chen et al., arXiv 2505.14970)
and its released verl fork (``BanditPriority`` in ``verl/utils/auto_curriculum``).
"""

import numpy as np

from ._feedback import ABS_ADVANTAGE_MAX, abs_advantage, group_mean, group_std
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs, softmax
from .base import Kernels, Scheduler

# params layout (order of SEC.params)
_ALPHA, _TEMPERATURE, _DECAY_ABSENT = range(3)


@jit
def _sizes(params, n_arms):
    return n_arms, 0


@jit
def _views(params, n_arms, f, i):
    return (f[:n_arms],)  # q: Q(c), the running value of each category


FIELDS = ("q",)


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    (q,) = _views(params, n_arms, f, i)
    alpha = params[_ALPHA]
    total = np.zeros(n_arms)  # sum of |A_j| over the call's responses from each arm
    count = np.zeros(n_arms)  # number of those responses
    for g in range(arms.shape[0]):
        arm = arms[g]
        start, stop = offsets[g], offsets[g + 1]
        mean = group_mean(rewards, start, stop)
        std = group_std(rewards, start, stop, mean)
        for j in range(start, stop):
            total[arm] += abs_advantage(rewards, j, mean, std)
        count[arm] += stop - start
    decay_absent = params[_DECAY_ABSENT] != 0.0
    for k in range(n_arms):
        if count[k] > 0.0:
            q[k] = alpha * (total[k] / count[k]) + (1.0 - alpha) * q[k]
        elif decay_absent:  # the released code: r = 0 for categories not in the batch
            q[k] = (1.0 - alpha) * q[k]


@jit
def _probs(params, n_arms, f, i, out):
    (q,) = _views(params, n_arms, f, i)
    softmax(q, params[_TEMPERATURE], out)


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class SEC(Scheduler):
    """Self-Evolving Curriculum: TD(0) values of mean |advantage|, Boltzmann sampling.

    Each ``update`` call is one training step. For every arm c (a category: a
    difficulty level, a domain) with responses in the call:

        A_j  = (r_j - mean(r)) / (std(r) + 1e-6)     per group, unbiased std (GRPO)
        r(c) = mean |A_j| over all of c's responses in the call
        Q(c) <- alpha * r(c) + (1 - alpha) * Q(c)
        p    = softmax(Q / temperature)

    Q starts at 0 (uniform sampling). With ``decay_absent=True`` a category with no
    response in the call gets r(c) = 0, i.e. Q(c) <- (1 - alpha) Q(c); with False it
    keeps its value (only the categories that were trained on are updated).

    Defaults (alpha = 0.5, temperature = 1.0, decay_absent = True) reproduce the
    released code: its update builds a vector of new values that is zero for every
    category absent from the batch and applies the EMA to all of them, and alpha =
    ``trainer.sec.bandit.lr = 0.5`` in the published run scripts, which use
    temperature 1.0 (Countdown), 0.4 (math) and 0.2 (the 2-D curriculum). r(c) is
    averaged over responses, as released (the mean of group means when all groups
    have the same size).

    Fixed defects of the released code: the softmax subtracts the maximum (the
    released ``exp(Q / tau)`` overflows for small tau); the sampler state is saved and
    resumed (``state_dict``); randomness is a seeded stream, not NumPy's global one;
    categories are integer arms, so no order depends on dict or hash iteration.

    ``batch_split_invariant`` is False: r(c) is a per-call mean and the EMA runs once
    per call, so splitting a step's feedback into two calls changes the result.
    """

    name = "sec"
    #: The level SEC works at (one arm per category); the simulator reads it.
    arm_level = "distribution"
    kernels = KERNELS
    batch_split_invariant = False
    params = (
        Param("alpha", 0.5, "float", low=0.0, high=1.0, low_open=True,
              doc="step size of Q <- alpha r + (1 - alpha) Q (trainer.sec.bandit.lr)"),
        Param("temperature", 1.0, "float", low=0.0, low_open=True,
              doc="Boltzmann temperature tau (paper: 0.2 to 1.0)"),
        Param("decay_absent", True, "bool",
              doc="categories absent from a step decay toward 0, as released"),
    )

    def _check_state(self, arrays):
        """Q is an average of |advantages|: refuse values no update could give."""
        q = arrays["q"]
        if not ((q >= 0.0).all() and (q <= ABS_ADVANTAGE_MAX).all()):
            self._refuse_state(f"holds values Q outside 0..{ABS_ADVANTAGE_MAX:g} (averages of |advantages|)")
