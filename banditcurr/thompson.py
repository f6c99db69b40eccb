"""Thompson sampling on Beta posteriors, aiming at a target success rate (MoPPS).

Source: "Can Prompt Difficulty be Online Predicted for Accelerating RL Finetuning of
Reasoning Models?" (MoPPS, Qu et al., arXiv 2507.04632).
"""

import math

import numpy as np

from ._jit import jit
from ._params import MAX_POOL_RATIO, Param
from ._posterior import (POSTERIOR_FIELDS, PRIOR_HIGH, PRIOR_LOW, beta_draw, beta_draw_setup, beta_outside,
                         beta_setup, beta_update, check_posterior_state, log_beta_norm, posterior_sizes,
                         posterior_views)
from ._rng import sample_distinct
from ._sampling import select_kth
from .base import Kernels, Scheduler

# params layout (order of Thompson.params)
_THRESHOLD, _PRIOR_ALPHA, _PRIOR_BETA, _DECAY, _TARGET, _MODE, _POOL_RATIO = range(7)
_MODE_VARIANCE = 1.0

# quadrature nodes of probs(): a uniform grid over d = |theta - target|, refined at
# mu + z sigma of every distinct posterior while there are at most _REFINE_MAX of them
_UNIFORM_NODES = 128
_UNIFORM_NODES_MANY = 1024
_REFINE_MAX = 64
_Z_NODES = np.array([-6.0, -5.0, -4.0, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0,
                     0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])


# state: one Beta posterior per arm, shared layout with cures
_sizes, _views, FIELDS = posterior_sizes, posterior_views, POSTERIOR_FIELDS


@jit
def _init(params, n_arms, f, i):
    alpha, beta = _views(params, n_arms, f, i)
    alpha[:] = params[_PRIOR_ALPHA]
    beta[:] = params[_PRIOR_BETA]


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    alpha, beta = _views(params, n_arms, f, i)
    beta_update(alpha, beta, params[_PRIOR_ALPHA], params[_PRIOR_BETA], params[_DECAY],
                params[_THRESHOLD], arms, rewards, offsets)


@jit
def _aim(params):
    """The success rate the draws are ranked against: target, or 1/2 in variance mode
    (argmax theta (1 - theta) = argmin |theta - 1/2|, since theta (1 - theta) = 1/4 - (theta - 1/2)^2)."""
    return 0.5 if params[_MODE] == _MODE_VARIANCE else params[_TARGET]


@jit
def select_smallest(keys, batch, out):
    """Positions of the ``batch`` smallest ``keys``, ordered by (key, position):
    out[:batch] = argsort(keys, kind="stable")[:batch], in O(len(keys) + batch log batch)."""
    n = keys.shape[0]
    if batch >= n:
        order = np.argsort(keys, kind="mergesort")
        out[:] = order[:batch]
        return
    cut = select_kth(keys.copy(), batch - 1)
    chosen = np.empty(batch, dtype=np.int64)
    count = 0
    for j in range(n):
        if keys[j] < cut:
            chosen[count] = j
            count += 1
    for j in range(n):
        if count == batch:
            break
        if keys[j] == cut:
            chosen[count] = j
            count += 1
    order = np.argsort(keys[chosen], kind="mergesort")
    for b in range(batch):
        out[b] = chosen[order[b]]


@jit
def _sample_slots(params, n_arms, alpha, beta, rng, out):
    """Distribution level: each slot is its own Thompson draw over all arms."""
    aim = _aim(params)
    setups = np.empty((n_arms, 6))
    for k in range(n_arms):
        setups[k] = beta_setup(alpha[k], beta[k])
    for b in range(out.shape[0]):
        best = 0
        best_distance = np.inf
        for k in range(n_arms):
            distance = abs(beta_draw_setup(rng, setups[k]) - aim)
            if distance < best_distance:
                best, best_distance = k, distance
        out[b] = best


@jit
def _sample(params, n_arms, f, i, rng, out):
    alpha, beta = _views(params, n_arms, f, i)
    batch = out.shape[0]
    if batch > n_arms:
        _sample_slots(params, n_arms, alpha, beta, rng, out)
        return
    pool_size = int(params[_POOL_RATIO]) * batch
    if 0 < pool_size < n_arms:  # MoPPS: a uniform pool of distinct candidates, O(pool)
        candidates = np.empty(pool_size, dtype=np.int64)
        sample_distinct(rng, n_arms, candidates)
    else:
        candidates = np.arange(n_arms)
    aim = _aim(params)
    distances = np.empty(candidates.shape[0])
    for c in range(candidates.shape[0]):
        arm = candidates[c]
        distances[c] = abs(beta_draw(rng, alpha[arm], beta[arm]) - aim)
    positions = np.empty(batch, dtype=np.int64)
    select_smallest(distances, batch, positions)
    for b in range(batch):
        out[b] = candidates[positions[b]]


@jit
def _distinct_posteriors(alpha, beta):
    """The distinct (alpha, beta) pairs in lexicographic order, their multiplicities,
    and each arm's index among them (so results never depend on the arms' order)."""
    n = alpha.shape[0]
    by_beta = np.argsort(beta, kind="mergesort")
    order = by_beta[np.argsort(alpha[by_beta], kind="mergesort")]
    group = np.empty(n, dtype=np.int64)
    unique_alpha = np.empty(n)
    unique_beta = np.empty(n)
    count = np.zeros(n, dtype=np.int64)
    n_unique = 0
    for j in range(n):
        k = order[j]
        if n_unique == 0 or alpha[k] != unique_alpha[n_unique - 1] or beta[k] != unique_beta[n_unique - 1]:
            unique_alpha[n_unique] = alpha[k]
            unique_beta[n_unique] = beta[k]
            n_unique += 1
        group[k] = n_unique - 1
        count[n_unique - 1] += 1
    return unique_alpha[:n_unique], unique_beta[:n_unique], count[:n_unique], group


@jit
def _nodes(unique_alpha, unique_beta, aim):
    """Quadrature nodes over d in [0, max(aim, 1 - aim)], sorted and distinct."""
    top = max(aim, 1.0 - aim)
    n_unique = unique_alpha.shape[0]
    refine = n_unique <= _REFINE_MAX
    n_uniform = _UNIFORM_NODES if refine else _UNIFORM_NODES_MANY
    n_z = _Z_NODES.shape[0]
    nodes = np.empty(n_uniform + 1 + (n_unique * n_z if refine else 0))
    for m in range(n_uniform + 1):
        nodes[m] = top * m / n_uniform
    count = n_uniform + 1
    if refine:
        for u in range(n_unique):
            a, b = unique_alpha[u], unique_beta[u]
            mean = a / (a + b)
            sd = math.sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)))
            for z in range(n_z):
                d = abs(mean + _Z_NODES[z] * sd - aim)
                if d < top:
                    nodes[count] = d
                    count += 1
    nodes = nodes[:count]
    nodes = nodes[np.argsort(nodes, kind="mergesort")]  # np.sort, with the sort compiled above
    keep = np.empty(count, dtype=np.bool_)
    keep[0] = True
    for m in range(1, count):
        keep[m] = nodes[m] > nodes[m - 1]
    return nodes[keep]


@jit
def win_probabilities(alpha, beta, aim, out):
    """out[k] = P(|theta_k - aim| < |theta_j - aim| for all j != k), theta_j ~ Beta(alpha_j, beta_j)
    independent: the law of one Thompson selection over all arms.

    With D_k = |theta_k - aim| and S_k(d) = P(D_k > d) (exact incomplete beta),
    p_k = integral of prod_{j != k} S_j(d) dG_k(d), G_k = 1 - S_k, summed over nodes
    0 = d_0 < ... < d_M = max(aim, 1 - aim) as sum_m (S_k(d_m) - S_k(d_{m+1})) times the
    mean of prod_{j != k} S_j at the cell's two ends; then normalised. Arms with equal
    posteriors are computed once and share one value, in a canonical order, so
    relabelling the arms relabels the result exactly. Cost O(U M) incomplete-beta
    evaluations, U = number of distinct posteriors, M = nodes (~20 U + 129 for U <= 64,
    1025 beyond).
    """
    n_arms = alpha.shape[0]
    if n_arms == 1:
        out[0] = 1.0
        return
    unique_alpha, unique_beta, count, group = _distinct_posteriors(alpha, beta)
    n_unique = unique_alpha.shape[0]
    log_norm = np.empty(n_unique)
    for u in range(n_unique):
        log_norm[u] = log_beta_norm(unique_alpha[u], unique_beta[u])
    nodes = _nodes(unique_alpha, unique_beta, aim)
    survival = np.ones(n_unique)  # S_u at the previous node (d = 0: 1)
    others = np.ones(n_unique)  # prod_{j != k} S_j at the previous node
    win = np.zeros(n_unique)
    next_survival = np.empty(n_unique)
    next_others = np.empty(n_unique)
    for m in range(1, nodes.shape[0]):
        d = nodes[m]
        log_total = 0.0  # sum of count_u log S_u over S_u > 0
        zeros = 0  # arms with S_u == 0
        for u in range(n_unique):
            s = beta_outside(unique_alpha[u], unique_beta[u], log_norm[u], aim - d, aim + d)
            next_survival[u] = s
            if s > 0.0:
                log_total += count[u] * math.log(s)
            else:
                zeros += count[u]
        for u in range(n_unique):
            s = next_survival[u]
            if s > 0.0:
                next_others[u] = math.exp(log_total - math.log(s)) if zeros == 0 else 0.0
            else:
                next_others[u] = math.exp(log_total) if zeros == 1 else 0.0
            win[u] += (survival[u] - s) * 0.5 * (others[u] + next_others[u])
        survival, next_survival = next_survival, survival
        others, next_others = next_others, others
    total = 0.0
    for u in range(n_unique):
        total += count[u] * win[u]
    for k in range(n_arms):
        out[k] = win[group[k]] / total if total > 0.0 else 1.0 / n_arms


@jit
def _probs(params, n_arms, f, i, out):
    alpha, beta = _views(params, n_arms, f, i)
    win_probabilities(alpha, beta, _aim(params), out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class Thompson(Scheduler):
    """Thompson sampling on per-arm Beta posteriors, selecting draws near a target.

    Each arm (a distribution or a prompt) keeps Beta(alpha, beta) over its success
    probability, a success being a rollout with reward >= ``threshold``. After a
    feedback batch in which an arm got k rollouts with s successes (MoPPS, eq. 4):

        alpha <- decay alpha + (1 - decay) prior_alpha + s
        beta  <- decay beta  + (1 - decay) prior_beta  + (k - s)

    (decay applied once per update call to each arm present; absent arms unchanged).
    Selection draws theta_k ~ Beta(alpha_k, beta_k) and prefers the arms whose draw is
    closest to ``target`` (gamma*): rank by |theta_k - target|. ``mode="variance"`` is
    plain Thompson on the learnability theta (1 - theta), maximised; since
    theta (1 - theta) = 1/4 - (theta - 1/2)^2 it is exactly target = 0.5.

    - Distribution level (batch > K): every slot is its own Thompson draw over all K
      arms (K Beta draws per slot, Cheng's algorithm), so slots are independent draws
      from ``probs()``.
    - Prompt level (batch B <= K): one draw per candidate, the B closest kept (distinct).
      Candidates are all K arms, or with ``pool_ratio = r`` a uniform pool of r B
      distinct arms (MoPPS's candidate pool, ratio 8-16 in the paper; all K when
      r B >= K): O(r B) per step whatever K.

    ``probs()`` is the law of one selection over all K arms: p_k = P(arm k's draw is
    the closest to the target), computed by quadrature over d = |theta - target| with
    the exact Beta CDF (absolute error typically 1e-5, at most a few 1e-4; no random
    numbers used). At the distribution level it is the law of each slot. At the prompt
    level it describes the preference (a batch takes the arms that win most often);
    with a pool it ignores the pool, which only lets an arm compete in the steps where
    it is drawn into it (probability r B / K).

    Defaults: threshold 0.5, prior Beta(1, 1), decay 1 (no forgetting; MoPPS uses 0.5
    on Countdown), target 0.5, no pool. The preset reproduces MoPPS's posterior update
    and selection rule (set ``pool_ratio`` to their 8-16 for prompt pools). Additions:
    the full-scan and distribution-level uses are defined, decay is applied once per
    update call (a training step) to the arms present, and the posterior and random
    stream are saved and resumed (``state_dict``).

    Example::

        s = bc.make("thompson", n_arms=10_000, seed=0, pool_ratio=8)
        arms = s.sample(128)                 # 128 distinct prompts from a pool of 1024
        s.update(arms, rewards)              # rewards (128, G): successes are reward >= 0.5
    """

    name = "thompson"
    kernels = KERNELS
    arm_level = "prompt"  # MoPPS: a Beta posterior per prompt
    keeps_posterior = True
    params = (
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
        Param("prior_alpha", 1.0, "float", low=PRIOR_LOW, high=PRIOR_HIGH, doc="alpha_0 of the Beta prior"),
        Param("prior_beta", 1.0, "float", low=PRIOR_LOW, high=PRIOR_HIGH, doc="beta_0 of the Beta prior"),
        Param("decay", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="lambda: forgetting toward the prior per update (1 = none)"),
        Param("target", 0.5, "float", low=0.0, high=1.0, doc="gamma*: select draws closest to this success rate"),
        Param("mode", "target", "choice", choices=("target", "variance"),
              doc="'target': argmin |theta - target|; 'variance': argmax theta (1 - theta)"),
        Param("pool_ratio", None, "int", low=1, high=MAX_POOL_RATIO, none_means=0,
              doc="prompt level: score a uniform pool of pool_ratio * B arms; None = all K"),
    )

    def _check_hyperparameters(self):
        if self.hyperparameters["mode"] == "variance" and self.hyperparameters["target"] != 0.5:
            raise ValueError(
                f"The 'target' parameter of Thompson is fixed at 0.5 by mode='variance' "
                f"(argmax theta (1 - theta) = argmin |theta - 0.5|). Got target={self.hyperparameters['target']!r}: "
                "use mode='target' for another target."
            )

    def _check_state(self, arrays):
        check_posterior_state(arrays, PRIOR_LOW)  # decay keeps shapes >= min(shape, prior)

    @property
    def batch_split_invariant(self):
        return self.hyperparameters["decay"] == 1.0
