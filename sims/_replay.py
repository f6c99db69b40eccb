"""Compiled kernels of the calibration likelihood (``calibrate.py``).

Two pieces, both over plain arrays of logged groups (one entry per rollout group,
sorted by step; ``step_offsets`` (T + 1,) int64 delimits the steps):

- ``replay``: the simulated learner's state pushed through the logged batches, the
  same prompts in the same order, updated from the *logged* outcomes. The learner's
  update depends on a group only through its size and its coefficient
  ``coef = sum_j A_j y_j`` (GRPO advantage times success; ``_engine.group_coefficient``
  for binary rewards), so given the parameters the skills theta_t before every step
  are deterministic; the result is the base logit b_g = L[c_g] . theta_t + u_i,t of
  every group (u: the prompt's memorised logit, if on).
- ``marginal_nll``: the negative log-likelihood of the logged successes
  k_g ~ Binomial(n_g, sigmoid(b_g - delta_i)) with each prompt's difficulty delta_i
  integrated out under its distribution's Normal(mu_c, s_c^2), discretised on a fixed
  grid of standard-normal points x_q (delta = mu_c + s_c x_q, weights proportional to
  exp(-x_q^2 / 2)): a random-effects model, whose prior is the regularisation of the
  per-prompt difficulties; with its exact gradient in mu and log s.
"""

import math

import numpy as np

from banditcurr._jit import jit

from ._engine import OPTIMIZER_ADAM


@jit
def _log_sigmoid(z):
    """log sigmoid(z), stable for any z."""
    if z >= 0.0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


@jit
def replay(step_offsets, prompt, dist, size, coef, trained, loadings, learning_rate, forgetting, memorization,
           optimizer, beta1, beta2, eps, n_prompts, base_out, skills_out):
    """Replay the learner through the logged steps from theta_0 = 0.

    prompt, dist, size: int64 (n_groups,); coef: float64 (n_groups,); trained: bool
    (n_groups,); loadings: float64 (C, M). Writes base_out (n_groups,) = L[c_g] .
    theta_t + u_i,t, the state *before* the group's step, and skills_out (T + 1, M),
    theta before each step and after the last. The update is the engine's
    (``_engine.learner_update`` without noise): the step over the trained groups,
    plain (theta += eta / N sum_c grad_c L[c]) or Adam, the memorisation step,
    forgetting.
    """
    n_dists, n_skills = loadings.shape
    theta = np.zeros(n_skills)
    moments = np.zeros(2 * n_skills + 1)
    memo = np.zeros(n_prompts if memorization > 0.0 else 0)
    grad = np.zeros(n_dists)
    base = np.zeros(n_dists)
    n_steps = step_offsets.shape[0] - 1
    for t in range(n_steps):
        skills_out[t] = theta
        for c in range(n_dists):
            z = 0.0
            for m in range(n_skills):
                z += loadings[c, m] * theta[m]
            base[c] = z
        start, stop = step_offsets[t], step_offsets[t + 1]
        grad[:] = 0.0
        n_rollouts = 0
        for g in range(start, stop):
            base_out[g] = base[dist[g]] + (memo[prompt[g]] if memo.shape[0] > 0 else 0.0)
            if trained[g]:
                n_rollouts += size[g]
                grad[dist[g]] += coef[g]
        if n_rollouts > 0:
            if optimizer == OPTIMIZER_ADAM:
                moments[2 * n_skills] += 1.0
                step = moments[2 * n_skills]
                correct1 = 1.0 - beta1 ** step
                correct2 = 1.0 - beta2 ** step
                for m in range(n_skills):
                    gm = 0.0
                    for c in range(n_dists):
                        gm += grad[c] * loadings[c, m]
                    gm /= n_rollouts
                    moments[m] = beta1 * moments[m] + (1.0 - beta1) * gm
                    moments[n_skills + m] = beta2 * moments[n_skills + m] + (1.0 - beta2) * gm * gm
                    theta[m] += learning_rate * (moments[m] / correct1) / (
                        math.sqrt(moments[n_skills + m] / correct2) + eps)
            else:
                scale = learning_rate / n_rollouts
                for c in range(n_dists):
                    if grad[c] != 0.0:
                        for m in range(n_skills):
                            theta[m] += scale * grad[c] * loadings[c, m]
            if memo.shape[0] > 0:
                for g in range(start, stop):
                    if trained[g] and size[g] >= 2:
                        memo[prompt[g]] += memorization / n_rollouts * coef[g]
        if forgetting > 0.0:
            for m in range(n_skills):
                theta[m] *= 1.0 - forgetting
            for x in range(memo.shape[0]):
                memo[x] *= 1.0 - forgetting
    skills_out[n_steps] = theta


@jit
def marginal_nll(order, prompt_offsets, prompt_dist, base, successes, size, log_choose, mu, log_spread, nodes,
                 log_weights, grad_mu, grad_log_spread, posterior_mean):
    """-sum_i log sum_q w_q prod_{g of i} Binom(k_g | n_g, sigmoid(b_g - delta_q)),
    delta_q = mu_c + s_c x_q: the prompt's difficulty integrated over the discretised
    Normal(mu_c, s_c^2) (``nodes`` x_q, ``log_weights`` log w_q, sum_q w_q = 1).

    order: int64 (n_groups,), the groups sorted by prompt; prompt_offsets (P + 1,)
    delimits each prompt's groups in ``order``; prompt_dist (P,). Writes the gradient
    of the returned value in mu (C,) and log s (C,) to grad_mu, grad_log_spread
    (overwritten), and each prompt's posterior mean difficulty to posterior_mean (P,).
    d/d delta of the log-likelihood is -sum_g (k_g - n_g p_g), weighted by each node's
    posterior share.
    """
    n_nodes = nodes.shape[0]
    loglik = np.empty(n_nodes)
    slope = np.empty(n_nodes)
    grad_mu[:] = 0.0
    grad_log_spread[:] = 0.0
    total = 0.0
    for i in range(prompt_offsets.shape[0] - 1):
        c = prompt_dist[i]
        spread = math.exp(log_spread[c])
        top = -np.inf
        for q in range(n_nodes):
            delta = mu[c] + spread * nodes[q]
            ll = log_weights[q]
            d = 0.0
            for x in range(prompt_offsets[i], prompt_offsets[i + 1]):
                g = order[x]
                z = base[g] - delta
                k, n = successes[g], size[g]
                log_p = _log_sigmoid(z)  # log(1 - p) = log p - z: one exp and one log per group
                ll += n * log_p - (n - k) * z + log_choose[g]
                d -= k - n * math.exp(log_p)
            loglik[q] = ll
            slope[q] = d
            top = max(top, ll)
        norm = 0.0
        for q in range(n_nodes):
            norm += math.exp(loglik[q] - top)
        total += top + math.log(norm)
        d_mu = 0.0
        d_spread = 0.0
        mean = 0.0
        for q in range(n_nodes):
            share = math.exp(loglik[q] - top) / norm
            d_mu += share * slope[q]
            d_spread += share * slope[q] * nodes[q]
            mean += share * (mu[c] + spread * nodes[q])
        grad_mu[c] -= d_mu
        grad_log_spread[c] -= d_spread * spread
        posterior_mean[i] = mean
    return -total


@jit
def posterior_draws(order, prompt_offsets, prompt_dist, base, successes, size, mu, log_spread, grid, uniforms,
                    out):
    """One draw per prompt from its posterior over delta, on a uniform grid: delta =
    mu_c + s_c x for x in ``grid`` (float64 (K,), evenly spaced standard-normal
    units), weight exp(-x^2 / 2) times the likelihood of the prompt's groups; the
    draw picks a grid point by its weight and spreads uniformly over its cell.
    uniforms: float64 (P, 2) in [0, 1); out: float64 (P,)."""
    n_grid = grid.shape[0]
    half = 0.5 * (grid[1] - grid[0])
    loglik = np.empty(n_grid)
    for i in range(prompt_offsets.shape[0] - 1):
        c = prompt_dist[i]
        spread = math.exp(log_spread[c])
        top = -np.inf
        for q in range(n_grid):
            delta = mu[c] + spread * grid[q]
            ll = -0.5 * grid[q] * grid[q]
            for x in range(prompt_offsets[i], prompt_offsets[i + 1]):
                g = order[x]
                z = base[g] - delta
                ll += size[g] * _log_sigmoid(z) - (size[g] - successes[g]) * z
            loglik[q] = ll
            top = max(top, ll)
        norm = 0.0
        for q in range(n_grid):
            norm += math.exp(loglik[q] - top)
        target = uniforms[i, 0] * norm
        acc = 0.0
        pick = n_grid - 1
        for q in range(n_grid):
            acc += math.exp(loglik[q] - top)
            if acc >= target:
                pick = q
                break
        out[i] = mu[c] + spread * (grid[pick] + (2.0 * uniforms[i, 1] - 1.0) * half)
