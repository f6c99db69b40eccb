"""Learnability p(1 - p): train where the success rate is intermediate (SFL, LILO).

Sources: "No Regrets: Investigating and Improving Regret Approximations for Curriculum
Discovery" (SFL, Rutherford et al., NeurIPS 2024) and "Learning to Reason at the
Frontier of Learnability" (LILO, Foster & Foerster, arXiv 2502.12272).
"""

import numpy as np

from ._jit import jit
from ._params import MAX_POOL_RATIO, Param
from ._posterior import PRIOR_HIGH, PRIOR_LOW, beta_update, check_posterior_state
from ._rng import sample_distinct, uniform
from ._sampling import mix_uniform, sample_from_probs, select_kth
from .base import Kernels, Scheduler

# params layout (order of Learnability.params)
(_MODE, _ESTIMATOR, _THRESHOLD, _PRIOR_ALPHA, _PRIOR_BETA, _DECAY, _WINDOW,
 _UNIFORM_MIX, _SCORE_FLOOR, _POOL_RATIO) = range(10)
_MODE_TOPK = 0.0
_ESTIMATOR_POSTERIOR = 0.0
_BITS = 64  # window outcomes packed per int64 word
_DEFAULT_WINDOW = 64


@jit
def _shape(params, n_arms):
    """(arms with a posterior, arms with a window, int64 words per window)."""
    if params[_ESTIMATOR] == _ESTIMATOR_POSTERIOR:
        return n_arms, 0, 0
    return 0, n_arms, (int(params[_WINDOW]) + _BITS - 1) // _BITS


@jit
def _sizes(params, n_arms):
    posterior, windowed, words = _shape(params, n_arms)
    return 2 * posterior, windowed * (3 + words)


@jit
def _views(params, n_arms, f, i):
    p, w, words = _shape(params, n_arms)
    return (
        f[:p],  # alpha: Beta posterior (estimator "posterior"; else empty)
        f[p:2 * p],  # beta
        i[:w],  # window_head: next ring slot per arm (estimator "window"; else empty)
        i[w:2 * w],  # window_fill: outcomes held per arm (<= window)
        i[2 * w:3 * w],  # window_successes: successes among them
        i[3 * w:3 * w + w * words].reshape(w, words),  # window_bits: outcome ring, bit j = slot j
    )


FIELDS = ("alpha", "beta", "window_head", "window_fill", "window_successes", "window_bits")


@jit
def _init(params, n_arms, f, i):
    alpha, beta, head, fill, successes, bits = _views(params, n_arms, f, i)
    alpha[:] = params[_PRIOR_ALPHA]
    beta[:] = params[_PRIOR_BETA]
    i[:] = 0


@jit
def _push_outcomes(ring, slot, filled, successes, window, rewards, start, stop, threshold):
    """Append the outcomes of rewards[start:stop] to one arm's bit ring (the oldest
    evicted when full); return the ring's new (slot, filled, successes)."""
    for j in range(start, stop):
        word = slot // _BITS
        mask = np.int64(1) << np.int64(slot % _BITS)
        if filled == window:
            if ring[word] & mask != 0:
                successes -= 1
        else:
            filled += 1
        if rewards[j] >= threshold:
            ring[word] |= mask
            successes += 1
        else:
            ring[word] &= ~mask
        slot += 1
        if slot == window:
            slot = 0
    return slot, filled, successes


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    alpha, beta, head, fill, successes, bits = _views(params, n_arms, f, i)
    if params[_ESTIMATOR] == _ESTIMATOR_POSTERIOR:
        beta_update(alpha, beta, params[_PRIOR_ALPHA], params[_PRIOR_BETA], params[_DECAY],
                    params[_THRESHOLD], arms, rewards, offsets)
        return
    window = int(params[_WINDOW])
    threshold = params[_THRESHOLD]
    for g in range(arms.shape[0]):
        arm = arms[g]
        head[arm], fill[arm], successes[arm] = _push_outcomes(
            bits[arm], head[arm], fill[arm], successes[arm], window, rewards, offsets[g], offsets[g + 1], threshold)


@jit
def _score(params, alpha, beta, fill, successes, arm):
    """l = p_hat (1 - p_hat): posterior mean, or the window's success rate (the prior
    mean for an arm without outcomes yet)."""
    if params[_ESTIMATOR] == _ESTIMATOR_POSTERIOR:
        p_hat = alpha[arm] / (alpha[arm] + beta[arm])
    elif fill[arm] > 0:
        p_hat = successes[arm] / fill[arm]
    else:
        p_hat = params[_PRIOR_ALPHA] / (params[_PRIOR_ALPHA] + params[_PRIOR_BETA])
    return p_hat * (1.0 - p_hat)


@jit
def _probs(params, n_arms, f, i, out):
    alpha, beta, head, fill, successes, bits = _views(params, n_arms, f, i)
    total = 0.0
    for k in range(n_arms):
        out[k] = max(_score(params, alpha, beta, fill, successes, k), params[_SCORE_FLOOR])
        total += out[k]
    for k in range(n_arms):
        out[k] /= total
    mix_uniform(out, params[_UNIFORM_MIX])


@jit
def select_largest(rng, keys, batch, out):
    """Positions of the ``batch`` largest ``keys``; ties at the cut broken uniformly
    at random. out = the positions above the cut by (key descending, position), then
    the tied ones drawn (``sample_distinct`` over the ties in position order).
    O(len(keys) + batch log batch)."""
    n = keys.shape[0]
    cut = -select_kth(-keys, batch - 1)  # the batch-th largest key
    above = np.empty(batch, dtype=np.int64)
    n_above = 0
    n_tied = 0
    for j in range(n):
        if keys[j] > cut:
            above[n_above] = j
            n_above += 1
        elif keys[j] == cut:
            n_tied += 1
    tied = np.empty(n_tied, dtype=np.int64)
    t = 0
    for j in range(n):
        if keys[j] == cut:
            tied[t] = j
            t += 1
    above = above[:n_above]
    order = np.argsort(-keys[above], kind="mergesort")
    for b in range(n_above):
        out[b] = above[order[b]]
    picks = np.empty(batch - n_above, dtype=np.int64)
    sample_distinct(rng, n_tied, picks)
    for b in range(picks.shape[0]):
        out[n_above + b] = tied[picks[b]]


@jit
def _sample(params, n_arms, f, i, rng, out):
    alpha, beta, head, fill, successes, bits = _views(params, n_arms, f, i)
    batch = out.shape[0]
    if batch > n_arms:  # distribution level: slots drawn from probs (topk included)
        p = np.empty(n_arms)
        _probs(params, n_arms, f, i, p)
        sample_from_probs(rng, p, out)
        return
    pool_size = int(params[_POOL_RATIO]) * batch
    if 0 < pool_size < n_arms:  # LILO: a uniform pool of distinct candidates, O(pool)
        candidates = np.empty(pool_size, dtype=np.int64)
        sample_distinct(rng, n_arms, candidates)
    else:
        candidates = np.arange(n_arms)
    n_candidates = candidates.shape[0]
    # uniform mixing: each slot is a uniform draw with probability rho (SFL's coin)
    n_uniform = 0
    if params[_UNIFORM_MIX] > 0.0:
        for b in range(batch):
            if uniform(rng) < params[_UNIFORM_MIX]:
                n_uniform += 1
    uniform_picks = np.empty(n_uniform, dtype=np.int64)
    sample_distinct(rng, n_candidates, uniform_picks)
    n_scored = batch - n_uniform
    keys = np.empty(n_candidates)
    topk = params[_MODE] == _MODE_TOPK
    for c in range(n_candidates):
        score = _score(params, alpha, beta, fill, successes, candidates[c])
        keys[c] = score if topk else max(score, params[_SCORE_FLOOR])
    for u in range(n_uniform):  # already taken: out of the scored draw
        keys[uniform_picks[u]] = -np.inf if topk else 0.0
    positions = np.empty(n_scored, dtype=np.int64)
    if n_scored > 0:
        if topk:
            select_largest(rng, keys, n_scored, positions)
        else:  # weighted without replacement (Efraimidis-Spirakis), p proportional to keys
            keys /= keys.sum()
            sample_from_probs(rng, keys, positions)
    for b in range(n_scored):
        out[b] = candidates[positions[b]]
    for u in range(n_uniform):
        out[n_scored + u] = candidates[uniform_picks[u]]


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Learnability(Scheduler):
    """Learnability sampling: prefer arms whose success rate p is intermediate.

    Score of arm k (SFL's learnability; for 0/1 rewards, the reward variance):

        l_k = p_hat_k (1 - p_hat_k)

    with p_hat_k, success = reward >= ``threshold``, from training rollouts only:

    - ``estimator="posterior"``: the mean alpha / (alpha + beta) of a Beta posterior
      updated as in ``thompson`` (prior, optional MoPPS ``decay`` per update call);
    - ``estimator="window"``: the success rate over the arm's last ``window``
      rollouts (a ring of bits, 8 bytes per 64 rollouts per arm).

    Arms without evidence get the prior mean (1/2 by default: the top score, so new
    arms are tried first).

    - ``mode="topk"`` (SFL, LILO): a batch of B <= K takes the B arms of highest l,
      ties broken at random.
    - ``mode="proportional"``: B <= K distinct arms drawn without replacement with
      weights w_k = max(l_k, score_floor) (the floor keeps solved and hopeless arms
      from starving).

    Both mix in uniform draws: each slot is, with probability ``uniform_mix`` (rho),
    a uniform arm instead (SFL samples its buffer with rho = 0.5). ``pool_ratio = r``
    (LILO) scores only a uniform pool of r B distinct arms per step (all K when
    r B >= K): O(r B), not O(K).
    Distribution level (batch > K): each slot is an independent draw from

        p_k = (1 - rho) w_k / sum_j w_j + rho / K                   (= ``probs()``)

    in both modes (a top-B of fewer than B arms is undefined; this keeps topk's order
    of preference). At the prompt level ``probs()`` is that same p: topk takes the B
    arms of largest p, proportional draws by it; a pool flattens both toward uniform.

    Defaults: topk, posterior Beta(1, 1), no decay, threshold 0.5, no mixing, floor
    0.01, no pool. Presets: ``learnability`` (these defaults) and ``sfl``
    (uniform_mix = 0.5: SFL's mix of its learnability buffer and uniform levels).
    What changes from the papers: p_hat comes from the training rollouts already
    made (SFL and LILO spend extra rollouts, e.g. LILO's 8 per pool prompt, to
    measure it), so choosing costs nothing; SFL's separate buffer is replaced by the
    running scores of all arms.

    Example::

        s = bc.make("learnability", n_arms=100_000, seed=0, pool_ratio=4)   # LILO-like
        arms = s.sample(128)
        s.update(arms, rewards)              # rewards (128, G)
    """

    name = "learnability"
    kernels = KERNELS
    arm_level = "prompt"  # LILO: p(1 - p) per prompt; SFL: a buffer of levels (prompts)
    keeps_posterior = True  # with estimator="posterior" (the default); see __init__
    params = (
        Param("mode", "topk", "choice", choices=("topk", "proportional"),
              doc="'topk': the B highest scores; 'proportional': draw by max(score, score_floor)"),
        Param("estimator", "posterior", "choice", choices=("posterior", "window"),
              doc="p_hat from a Beta posterior or from a window of recent rollouts"),
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("prior_alpha", 1.0, "float", low=PRIOR_LOW, high=PRIOR_HIGH, doc="alpha_0 of the Beta prior"),
        Param("prior_beta", 1.0, "float", low=PRIOR_LOW, high=PRIOR_HIGH, doc="beta_0 of the Beta prior"),
        Param("decay", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="posterior: lambda, forgetting toward the prior per update (1 = none)"),
        Param("window", _DEFAULT_WINDOW, "int", low=1, doc="window: rollouts remembered per arm"),
        Param("uniform_mix", 0.0, "float", low=0.0, high=1.0, doc="rho: probability that a slot is uniform"),
        Param("score_floor", 0.01, "float", low=0.0, high=0.25, low_open=True,
              doc="weights are max(score, score_floor): no arm starves"),
        Param("pool_ratio", None, "int", low=1, high=MAX_POOL_RATIO, none_means=0,
              doc="prompt level: score a uniform pool of pool_ratio * B arms; None = all K"),
    )

    def __init__(self, n_arms, *, seed=None, **hyperparameters):
        super().__init__(n_arms, seed=seed, **hyperparameters)
        self.keeps_posterior = self.hyperparameters["estimator"] == "posterior"

    def _check_hyperparameters(self):
        values = self.hyperparameters
        if values["estimator"] == "window" and values["decay"] != 1.0:
            raise ValueError(
                f"The 'decay' parameter of Learnability applies to estimator='posterior' only. "
                f"Got decay={values['decay']!r} with estimator='window': shorten 'window' to forget faster."
            )
        if values["estimator"] == "posterior" and values["window"] != _DEFAULT_WINDOW:
            raise ValueError(
                f"The 'window' parameter of Learnability applies to estimator='window' only. "
                f"Got window={values['window']!r} with estimator='posterior': pass estimator='window' too."
            )

    def _check_state(self, arrays):
        if self.hyperparameters["estimator"] == "posterior":
            check_posterior_state(arrays, PRIOR_LOW)  # decay keeps shapes >= min(shape, prior)
            return
        window = self.hyperparameters["window"]
        head, fill, successes = arrays["window_head"], arrays["window_fill"], arrays["window_successes"]
        if not (((head >= 0) & (head < window) & (fill >= 0) & (fill <= window)
                 & (successes >= 0) & (successes <= fill)).all()):
            raise ValueError(f"The 'state' dict holds window cursors or counts out of range for window={window}: "
                             "it was not made by this scheduler.")

    @property
    def batch_split_invariant(self):
        return self.hyperparameters["decay"] == 1.0
