"""CurES: prompt sampling tilted toward the reward standard deviation sqrt(p(1 - p)).

Source: "CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning
LLMs" (Zeng, Sun et al., arXiv 2510.01037) and its released code (EpicSampler).
The rollout allocation of the same paper (G_x proportional to sigma_x) lives in
``banditcurr.allocation``; ``CurES.allocate`` applies it to this posterior.
"""

import math

import numpy as np

from ._jit import jit
from ._params import MAX_POOL_RATIO, Param
from ._posterior import POSTERIOR_FIELDS, beta_update, check_posterior_state, posterior_sizes, posterior_views
from ._rng import sample_distinct
from ._sampling import mix_uniform, sample_from_probs, softmax
from .allocation import allocate_for
from .base import Kernels, Scheduler

# params layout (order of CurES.params)
_THRESHOLD, _TEMPERATURE, _SCALE_BY_SUCCESSES, _DECAY, _POOL_RATIO, _UNIFORM_MIX = range(6)


# state: one Beta posterior per arm, shared layout with thompson
_sizes, _views, FIELDS = posterior_sizes, posterior_views, POSTERIOR_FIELDS


@jit
def _init(params, n_arms, f, i):
    f[:] = 1.0  # the Beta(1, 1) prior


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    alpha, beta = _views(params, n_arms, f, i)
    beta_update(alpha, beta, 1.0, 1.0, params[_DECAY], params[_THRESHOLD], arms, rewards, offsets)


@jit
def _log_weights(params, alpha, beta, out):
    """out[x] = sigma_x / tau_x, the log of prompt x's unnormalised sampling weight, for
    posteriors ``alpha``, ``beta`` (float64, (n,) each; out float64 (n,)).

    Prompts with the same (alpha, beta) have the same weight, so a run of equal
    posteriors (at large K mostly unseen prompts, Beta(1, 1)) reuses the last value:
    the same numbers as computing each, without their divisions and square roots."""
    tau = params[_TEMPERATURE]
    scale = params[_SCALE_BY_SUCCESSES] != 0.0
    last_alpha = last_beta = last_weight = np.nan
    for x in range(out.shape[0]):
        if alpha[x] != last_alpha or beta[x] != last_beta:
            last_alpha, last_beta = alpha[x], beta[x]
            p_hat = last_alpha / (last_alpha + last_beta)
            last_weight = math.sqrt(p_hat * (1.0 - p_hat)) / (tau * last_alpha if scale else tau)
        out[x] = last_weight


@jit
def _probs(params, n_arms, f, i, out):
    alpha, beta = _views(params, n_arms, f, i)
    _log_weights(params, alpha, beta, out)
    softmax(out, 1.0, out)
    mix_uniform(out, params[_UNIFORM_MIX])


@jit
def _sample_pool(params, n_arms, f, i, rng, out, pool_size):
    """Distinct prompts in O(pool_size): a uniform pool of distinct candidates, then the
    batch drawn from it without replacement (Efraimidis-Spirakis keys log(u) / w)."""
    alpha, beta = _views(params, n_arms, f, i)
    candidates = np.empty(pool_size, dtype=np.int64)
    sample_distinct(rng, n_arms, candidates)
    weights = np.empty(pool_size)
    _log_weights(params, alpha[candidates], beta[candidates], weights)
    softmax(weights, 1.0, weights)
    mix_uniform(weights, params[_UNIFORM_MIX])
    picks = np.empty(out.shape[0], dtype=np.int64)
    sample_from_probs(rng, weights, picks)
    for b in range(out.shape[0]):
        out[b] = candidates[picks[b]]


@jit
def _sample(params, n_arms, f, i, rng, out):
    batch = out.shape[0]
    pool_size = int(params[_POOL_RATIO]) * batch
    if batch <= n_arms and 0 < pool_size < n_arms:
        _sample_pool(params, n_arms, f, i, rng, out, pool_size)
        return
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


@jit
def _posterior(params, n_arms, f, i, arms, alpha_out, beta_out):
    """Beta posterior parameters (alpha, beta) of ``arms``, float64 (len(arms),) each."""
    alpha, beta = _views(params, n_arms, f, i)
    for b in range(arms.shape[0]):
        alpha_out[b] = alpha[arms[b]]
        beta_out[b] = beta[arms[b]]


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class CurES(Scheduler):
    """CurES prompt sampler: Beta posteriors, sampling tilted toward sqrt(p(1 - p)).

    Each prompt x keeps a posterior Beta(alpha_x, beta_x) over its success rate, from
    the prior Beta(1, 1): after rollouts with s_x successes (reward >= ``threshold``)
    and f_x failures, alpha_x = 1 + s_x and beta_x = 1 + f_x. Then

        p_x     = alpha_x / (alpha_x + beta_x)        posterior mean
        sigma_x = sqrt(p_x (1 - p_x))                 std of x's Bernoulli reward
        tau_x   = temperature * alpha_x               (or temperature, if not scale_by_successes)
        P(x)    = exp(sigma_x / tau_x) / sum_y exp(sigma_y / tau_y)
        P      <- (1 - uniform_mix) P + uniform_mix / K

    A batch of B <= K holds distinct prompts (weighted sampling without replacement);
    B > K draws each slot from P with replacement. ``pool_ratio = r`` makes a step cost
    O(r B) instead of O(K): r B distinct candidates are drawn uniformly and the batch is
    drawn from them with the same weights (``probs()`` still reports the full P, which
    the pool approximates). ``decay = lambda`` forgets old evidence as MoPPS does: each
    prompt present in an update first gets alpha <- lambda alpha + (1 - lambda), likewise
    beta (once per update call), then its new successes and failures are added.

    Defaults reproduce the released CurES sampler (``EpicSampler``): weights
    exp(sigma_x / tau_x) with tau_x = (1 + s_x) / 0.01, i.e. temperature 100 scaled by
    successes, cumulative counts, threshold 0.5. Note what that means: sigma_x / tau_x
    <= 0.005, so the released tilt changes a prompt's probability by at most a factor
    e^0.005 ~ 1.005 -- in effect uniform sampling of prompts, CurES's gains coming from
    its rollout allocation (``allocate``). For a tilt that matters, set e.g.
    ``temperature=0.05, scale_by_successes=False``.

    Fixed defects of the released code: the temperature (hard-coded 1e-2 in the
    sampler, whose ``entropy_param`` was ignored) is a parameter; success is
    ``reward >= threshold`` (the release used ``> 0.5``: identical for 0/1 rewards);
    the posterior is saved and resumed; a step can cost O(pool) instead of O(K);
    randomness is a seeded stream, not NumPy's global one. Not reproduced: the
    release's data loader walks epochs without replacement across steps; here each
    step draws afresh (distinct within the batch).
    """

    name = "cures"
    kernels = KERNELS
    #: The level CurES works at (one arm per prompt); the simulator reads it.
    arm_level = "prompt"
    keeps_posterior = True
    params = (
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("temperature", 100.0, "float", low=0.0, low_open=True,
              doc="tau in exp(sigma_x / tau_x); released value 1 / 0.01"),
        Param("scale_by_successes", True, "bool", doc="tau_x = tau alpha_x = tau (1 + s_x), as released"),
        Param("decay", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="lambda in alpha <- lambda alpha + (1 - lambda) + wins (1 = cumulative counts)"),
        Param("pool_ratio", None, "int", low=1, high=MAX_POOL_RATIO, none_means=0,
              doc="draw the batch from a uniform pool of pool_ratio * B prompts; None = all K"),
        Param("uniform_mix", 0.0, "float", low=0.0, high=1.0, high_open=True,
              doc="eps in P <- (1 - eps) P + eps / K"),
    )

    @property
    def batch_split_invariant(self):
        return self.hyperparameters["decay"] == 1.0

    def posterior(self, arms=None):
        """Beta posterior ``(alpha, beta)`` of ``arms`` (all prompts if None): float64 copies."""
        arms = np.arange(self.n_arms) if arms is None else self._check_arms(arms)
        alpha = np.empty(arms.shape[0])
        beta = np.empty(arms.shape[0])
        _posterior(self._params, self.n_arms, self._f, self._i, arms, alpha, beta)
        return alpha, beta

    def success_estimate(self, arms=None):
        """Posterior mean success probability p_x of ``arms`` (all prompts if None)."""
        alpha, beta = self.posterior(arms)
        return alpha / (alpha + beta)

    def allocate(self, arms, budget, *, min_size=2, max_size=None, saturation=0.1, confidence=0.5):
        """Rollouts per prompt of ``arms`` for a total ``budget``: G_x proportional to
        sigma_x, 0 for saturated prompts. See ``banditcurr.allocation.allocate_rollouts_posterior``
        for the arguments (``allocate_for`` does the same for Thompson and learnability)."""
        return allocate_for(self, arms, budget, min_size=min_size, max_size=max_size, saturation=saturation,
                            confidence=confidence)

    def _check_state(self, arrays):
        check_posterior_state(arrays, 1.0)  # 1 + a count of rollouts

    def _check_arms(self, arms):
        arms = np.asarray(arms)
        if arms.ndim != 1 or not np.issubdtype(arms.dtype, np.integer):
            raise ValueError(f"The 'arms' argument must be a 1-D array of integer arm ids. "
                             f"Got shape {arms.shape}, dtype {arms.dtype}.")
        if arms.size and (arms.min() < 0 or arms.max() >= self.n_arms):
            bad = arms.min() if arms.min() < 0 else arms.max()
            raise ValueError(f"The 'arms' argument holds arm id {bad}, outside 0..{self.n_arms - 1}.")
        return np.ascontiguousarray(arms, dtype=np.int64)
