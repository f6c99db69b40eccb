"""Retire solved prompts, readmit them when the evidence weakens.

Sources: ScaleRL ("The Art of Scaling Reinforcement Learning Compute for LLMs",
arXiv 2510.13786): no-positive-resampling, a prompt with pass rate >= 0.9 leaves the
pool for good; open-instruct (allenai) ``no_resampling_pass_rate`` (0.875). The
confidence bound and readmission answer the practitioners' objection that permanent
retirement on a few lucky groups shifts the domain mix.
"""

import math

import numpy as np

from ._feedback import count_successes
from ._jit import jit
from ._params import Param
from ._rng import sample_distinct, uniform
from ._sampling import sample_from_probs
from .base import Kernels, Scheduler

# params layout (order of Retire.params)
(_THRESHOLD, _PASS_RATE, _MIN_TRIALS, _Z, _READMIT_FRACTION, _DECAY) = range(6)


@jit
def _sizes(params, n_arms):
    return 2 * n_arms, 0


@jit
def _views(params, n_arms, f, i):
    return (
        f[:n_arms],  # successes: (decayed) rollouts with reward >= threshold, per arm
        f[n_arms:2 * n_arms],  # trials: (decayed) rollouts, per arm
    )


FIELDS = ("successes", "trials")


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    successes, trials = _views(params, n_arms, f, i)
    decay = params[_DECAY]
    for g in range(arms.shape[0]):
        arm = arms[g]
        wins = count_successes(rewards, offsets[g], offsets[g + 1], params[_THRESHOLD])
        successes[arm] = decay * successes[arm] + wins
        trials[arm] = decay * trials[arm] + (offsets[g + 1] - offsets[g])


@jit
def wilson_lower(successes, trials, z):
    """Wilson score lower bound of a pass rate from ``successes`` of ``trials`` (> 0):
    (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), p = successes / n."""
    p = successes / trials
    z2n = z * z / trials
    spread = z * math.sqrt(max(p * (1.0 - p) / trials + z2n / (4.0 * trials), 0.0))
    return (p + z2n / 2.0 - spread) / (1.0 + z2n)


@jit
def _retired(params, successes, trials, arm):
    """True when ``arm`` has >= min_trials (decayed) rollouts and the lower confidence
    bound of its pass rate is >= pass_rate."""
    if trials[arm] < params[_MIN_TRIALS]:
        return False
    return wilson_lower(successes[arm], trials[arm], params[_Z]) >= params[_PASS_RATE]


@jit
def _split(params, n_arms, f, i):
    """(active arm ids, retired arm ids), each in increasing id order."""
    successes, trials = _views(params, n_arms, f, i)
    active = np.empty(n_arms, dtype=np.int64)
    retired = np.empty(n_arms, dtype=np.int64)
    n_active = 0
    n_retired = 0
    for k in range(n_arms):
        if _retired(params, successes, trials, k):
            retired[n_retired] = k
            n_retired += 1
        else:
            active[n_active] = k
            n_active += 1
    return active[:n_active], retired[:n_retired]


@jit
def _probs(params, n_arms, f, i, out):
    active, retired = _split(params, n_arms, f, i)
    if active.shape[0] == 0 or retired.shape[0] == 0:
        out[:] = 1.0 / n_arms
        return
    share = params[_READMIT_FRACTION]
    for k in active:
        out[k] = (1.0 - share) / active.shape[0]
    for k in retired:
        out[k] = share / retired.shape[0]


@jit
def _sample(params, n_arms, f, i, rng, out):
    batch = out.shape[0]
    if batch > n_arms:  # distribution level: each slot a draw from probs
        p = np.empty(n_arms)
        _probs(params, n_arms, f, i, p)
        sample_from_probs(rng, p, out)
        return
    active, retired = _split(params, n_arms, f, i)
    n_active = active.shape[0]
    n_retired = retired.shape[0]
    n_readmit = 0
    if n_active > 0 and n_retired > 0:  # readmit_fraction B slots, stochastically rounded
        expected = params[_READMIT_FRACTION] * batch
        n_readmit = int(math.floor(expected))
        if expected > n_readmit and uniform(rng) < expected - n_readmit:
            n_readmit += 1
    n_readmit = min(max(n_readmit, batch - n_active), n_retired)  # too few active: fill from the retired
    picks = np.empty(batch - n_readmit, dtype=np.int64)
    sample_distinct(rng, n_active, picks)
    for b in range(picks.shape[0]):
        out[b] = active[picks[b]]
    picks = np.empty(n_readmit, dtype=np.int64)
    sample_distinct(rng, n_retired, picks)
    for b in range(n_readmit):
        out[batch - n_readmit + b] = retired[picks[b]]


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Retire(Scheduler):
    """Retire solved prompts (no-positive-resampling), with a confidence bound and readmission.

    Per prompt k, pass-rate counts with success = reward >= ``threshold``, forgotten by
    ``decay`` per group: s_k <- decay s_k + wins, n_k <- decay n_k + G. Prompt k is
    retired while

        n_k >= min_trials   and   L_k >= pass_rate,
        L_k = (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n),  p = s_k / n_k

    (L: the Wilson score lower confidence bound of the pass rate; z = 0 is the plain
    p_hat >= pass_rate of ScaleRL and open-instruct). Retirement is read from the counts
    at each call: a retired prompt whose bound falls below ``pass_rate`` (it failed on a
    readmission draw) is active again.

    Prompt level (B <= K): B distinct prompts, uniform over the active ones, except
    ``readmit_fraction`` B slots (stochastically rounded) drawn uniformly from the
    retired ones, so their bound can fall; with fewer than B active prompts the rest
    come from the retired. Distribution level (B > K): each slot a draw from

        p_k = (1 - readmit_fraction) / |active| (active),  readmit_fraction / |retired|
        (retired);  uniform when either set is empty               (= ``probs()``)

    Defaults: pass_rate 0.9 (ScaleRL; open-instruct uses 0.875), min_trials 16 (two
    groups of 8), z = 1 (a one-sided 84% bound: 16 of 16 retires, 8 of 8 or 15 of 16
    do not), readmit_fraction 0.05, no decay. What changes from the sources: their
    retirement is permanent and reads p_hat alone (docs/schedulers/retire.md).

    Example::

        s = bc.make("retire", n_arms=40_000, seed=0, pass_rate=0.875)
        arms = s.sample(128)
        s.update(arms, rewards)              # rewards (128, G)
    """

    name = "retire"
    kernels = KERNELS
    arm_level = "prompt"  # ScaleRL and open-instruct retire single prompts
    params = (
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("pass_rate", 0.9, "float", low=0.0, high=1.0, low_open=True,
              doc="retire a prompt when its pass rate's lower bound is >= pass_rate"),
        Param("min_trials", 16.0, "float", low=1.0, doc="(decayed) rollouts needed before a prompt can retire"),
        Param("z", 1.0, "float", low=0.0, high=10.0, doc="width of the Wilson bound in standard errors (0: p_hat)"),
        Param("readmit_fraction", 0.05, "float", low=0.0, high=1.0,
              doc="share of each batch drawn from the retired prompts"),
        Param("decay", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="counts are multiplied by decay before each new group (1 = never forget)"),
    )

    def _check_state(self, arrays):
        successes, trials = arrays["successes"], arrays["trials"]
        if not ((successes >= 0) & (successes <= trials)).all():
            self._refuse_state("holds counts outside 0 <= successes <= trials")
