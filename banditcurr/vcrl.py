"""VCRL: train on prompts of high normalised reward variance, replayed from a memory bank.

Source: "VCRL: Variance-based Curriculum Reinforcement Learning for Large Language
Models" (Jiang et al., arXiv 2509.19803).
"""

import numpy as np

from ._feedback import count_successes
from ._jit import jit
from ._params import Param
from ._rng import sample_distinct
from ._sampling import sample_from_probs
from .base import Kernels, Scheduler
from .learnability import select_largest

# params layout (order of Vcrl.params)
_THRESHOLD, _KAPPA, _MOMENTUM, _REPLAY_RATIO = range(4)


@jit
def _sizes(params, n_arms):
    return n_arms, 0


@jit
def _views(params, n_arms, f, i):
    return (f[:n_arms],)  # priority: float64 (n_arms,), 0 = not in the memory bank


FIELDS = ("priority",)


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0


@jit
def normalised_variance(successes, size):
    """p = sigma^2 / sigma^2_max in [0, 1] for a group of ``size`` >= 2 binary rollouts
    with ``successes`` ones: sigma^2 = k (G - k) / (G (G - 1)) (unbiased), and its
    maximum G / (4 (G - 1)) for even G, (G + 1) / (4 G) for odd G, so
    p = 4 k (G - k) / (G^2 - (G mod 2))."""
    return 4.0 * successes * (size - successes) / (size * size - size % 2)


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    priority = _views(params, n_arms, f, i)[0]
    kappa = params[_KAPPA]
    momentum = params[_MOMENTUM]
    for g in range(arms.shape[0]):
        start, stop = offsets[g], offsets[g + 1]
        size = stop - start
        if size < 2:  # no variance from one rollout: the group says nothing
            continue
        arm = arms[g]
        p = normalised_variance(count_successes(rewards, start, stop, params[_THRESHOLD]), size)
        if p < kappa:
            priority[arm] = 0.0  # out of the bank (or never in)
        elif priority[arm] > 0.0:
            priority[arm] = momentum * priority[arm] + (1.0 - momentum) * p
        else:
            priority[arm] = p


@jit
def _probs(params, n_arms, f, i, out):
    priority = _views(params, n_arms, f, i)[0]
    total = 0.0
    for k in range(n_arms):
        total += priority[k]
    rho = params[_REPLAY_RATIO] if total > 0.0 else 0.0
    for k in range(n_arms):
        out[k] = (1.0 - rho) / n_arms + (rho * (priority[k] / total) if total > 0.0 else 0.0)


@jit
def _sample(params, n_arms, f, i, rng, out):
    priority = _views(params, n_arms, f, i)[0]
    batch = out.shape[0]
    if batch > n_arms:  # distribution level: each slot an independent draw from probs
        p = np.empty(n_arms)
        _probs(params, n_arms, f, i, p)
        sample_from_probs(rng, p, out)
        return
    n_bank = 0
    for k in range(n_arms):
        if priority[k] > 0.0:
            n_bank += 1
    n_replay = min(int(params[_REPLAY_RATIO] * batch), n_bank)
    taken = np.zeros(n_arms, dtype=np.bool_)
    if n_replay > 0:  # the bank's highest priorities, ties at random
        positions = np.empty(n_replay, dtype=np.int64)
        select_largest(rng, priority, n_replay, positions)
        for b in range(n_replay):
            out[b] = positions[b]
            taken[positions[b]] = True
    rest = np.empty(n_arms - n_replay, dtype=np.int64)
    r = 0
    for k in range(n_arms):
        if not taken[k]:
            rest[r] = k
            r += 1
    picks = np.empty(batch - n_replay, dtype=np.int64)
    sample_distinct(rng, rest.shape[0], picks)
    for b in range(picks.shape[0]):
        out[n_replay + b] = rest[picks[b]]


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Vcrl(Scheduler):
    """VCRL: prompts whose rollouts disagree most go to a memory bank and are replayed.

    A group of G >= 2 rollouts of a prompt with k successes (reward >= ``threshold``)
    has the unbiased variance sigma^2 = k (G - k) / (G (G - 1)), largest at k = G / 2;
    its normalised value (arXiv 2509.19803)

        p = sigma^2 / sigma^2_max = 4 k (G - k) / (G^2 - (G mod 2))   in [0, 1]

    decides the prompt's place in the memory bank (a group of one rollout is ignored):

    - p >= ``kappa``: the prompt enters the bank with priority p, or, already in it,
      priority <- momentum priority + (1 - momentum) p;
    - p < ``kappa``: it leaves the bank (priority 0).

    Prompt level (batch B <= K): the batch holds the min(floor(replay_ratio B), bank)
    bank prompts of highest priority (ties at random), the rest drawn uniformly from
    the other prompts (distinct). A replayed prompt is rolled out again, so each
    update re-judges it: it stays while it keeps a high variance.
    ``probs()`` = (1 - rho) / K + rho priority_k / sum(priority), rho = replay_ratio
    while the bank holds a prompt, else 0 (uniform); at the distribution level
    (batch > K) each slot is an independent draw from it.

    Defaults: threshold 0.5, kappa 0.8 (for G = 8 the bank keeps k in 3..5),
    momentum 0.9, replay_ratio 0.5. What changes from the paper: VCRL rolls out a
    uniform batch, drops the groups with p < kappa after the rollouts and fills their
    slots from the bank in the same step; here the choice is made before the
    rollouts, from the previous steps' groups, so no rollout is spent on a prompt
    that is then dropped, and the replayed share is a fixed ``replay_ratio`` rather
    than the share dropped; kappa is one constant, and the bank is unbounded (every
    arm has a slot; eviction is by p < kappa only). The paper's text was not readable
    here: kappa, momentum and the bank's size are our choices, not checked against it.

    Example::

        s = bc.make("vcrl", n_arms=10_000, seed=0)
        arms = s.sample(128)                 # up to 64 bank prompts, the rest uniform
        s.update(arms, rewards)              # rewards (128, G): success is reward >= 0.5
    """

    name = "vcrl"
    kernels = KERNELS
    arm_level = "prompt"  # a variance per prompt's group
    params = (
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("kappa", 0.8, "float", low=0.0, high=1.0, low_open=True,
              doc="a prompt enters (stays in) the bank when its normalised variance p >= kappa"),
        Param("momentum", 0.9, "float", low=0.0, high=1.0, high_open=True,
              doc="priority <- momentum priority + (1 - momentum) p for a prompt already in the bank"),
        Param("replay_ratio", 0.5, "float", low=0.0, high=1.0,
              doc="share of a prompt-level batch taken from the bank (its top priorities)"),
    )

    def _check_state(self, arrays):
        priority = arrays["priority"]
        if not ((priority >= 0.0) & (priority <= 1.0)).all():
            raise ValueError(f"The 'state' array 'priority' must hold values in [0, 1] (normalised variances). "
                             f"Got min {priority.min()!r}, max {priority.max()!r}.")
