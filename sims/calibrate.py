"""Fit the simulated learner to a run's rollout ledger: ``calibrate``.

    from banditcurr.sims.calibrate import calibrate
    fit = calibrate("out/run/ledger")          # a ledger directory (or its DataFrame)
    fit.scenario.save("scenario.json")         # runs like a preset: simulate --scenario scenario.json
    print(fit.report())

Model (docs/calibration.md): the learner of ``docs/simulator.md`` with theta_0 = 0, chain
loadings of transfer tau (unit rows), learning rate eta (plain or Adam step), forgetting
lambda, memorisation rate eta_u; prompt i of distribution c has difficulty
delta_i ~ Normal(mu_c, s_c^2). Given those, the learner's state before every logged step
is deterministic: it is replayed through the logged batches (same prompts, same order,
updated from the logged outcomes; ``_replay.replay``), and each group's successes are
Binomial(n, sigmoid(L[c] . theta_t + u_i,t - delta_i)). The difficulties are integrated
out (``_replay.marginal_nll``); (eta, tau, lambda, eta_u, mu, log s) maximise the
marginal likelihood (L-BFGS-B, exact gradient in mu and log s, forward differences in
the rest), with the plain step and with Adam, each from two starting points (transfer
0.25 at the starting learning rate, 0.75 at 4 times it: with Adam the likelihood can have
a second optimum at a high transfer and a low learning rate); the likeliest fit is kept. The
update-noise scale is then estimated from the drift of the per-step residual logits
(a random walk of variance sigma^2 per step; ``noise_scale``). The fit's uncertainty is
the inverse of a finite-difference Hessian (Laplace), which ``predict`` samples.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from banditcurr._params import argument, check_arguments

from . import _replay
from ._engine import OPTIMIZER_ADAM, OPTIMIZER_SGD
from .scenario import OPTIMIZERS, Scenario, chain_loadings

GRID = np.linspace(-4.5, 4.5, 25)  # standard-normal points of the discretised difficulty prior
_LOG_WEIGHTS = -0.5 * GRID ** 2 - np.log(np.exp(-0.5 * GRID ** 2).sum())
DRAW_GRID = np.linspace(-6.0, 6.0, 241)
REQUIRED = ("step", "prompt_id", "distribution", "rewards", "success", "trained")
# transformed parameters: log eta, tau, 100 lambda, eta_u / 100; then mu (C), log s (C)
DYNAMIC = ("log_learning_rate", "transfer", "forgetting_x100", "memorization_div100")
_BOUNDS = {"log_learning_rate": (math.log(1e-4), math.log(100.0)), "transfer": (0.0, 0.99),
           "forgetting_x100": (0.0, 20.0), "memorization_div100": (0.0, 50.0)}
_MU_BOUND, _LOG_SPREAD_BOUNDS = 15.0, (math.log(0.05), math.log(10.0))
ADAM = dict(adam_beta1=0.9, adam_beta2=0.999, adam_eps=1e-8)
# (transfer, learning-rate multiple of Objective.start's) starting points: each update rule
# is fitted from both, the likeliest fit is kept
START_POINTS = ((0.25, 1.0), (0.75, 4.0))


class CalibrationError(ValueError):
    """The ledger cannot identify the learner (the message says why and what would)."""


# -- the ledger as arrays -------------------------------------------------------------------

@dataclass
class Groups:
    """The logged rollout groups as arrays, sorted by step (n groups, P prompts, T steps).

    distributions: C names; prompt_ids: P str; prompt_dist: int64 (P,); step_offsets:
    int64 (T + 1,); steps: int64 (T,) the logged step numbers; prompt, dist, successes,
    size: int64 (n,); coef: float64 (n,) sum_j A_j y_j (GRPO advantage of the rewards
    times success); trained: bool (n,); meta: the ledger's metadata (or {}).
    """

    distributions: tuple
    prompt_ids: np.ndarray
    prompt_dist: np.ndarray
    step_offsets: np.ndarray
    steps: np.ndarray
    prompt: np.ndarray
    dist: np.ndarray
    successes: np.ndarray
    size: np.ndarray
    coef: np.ndarray
    trained: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_groups(self):
        return self.prompt.shape[0]

    @property
    def n_steps(self):
        return self.steps.shape[0]

    def batch_size(self):
        """Trained groups per step (the median over steps)."""
        per_step = np.add.reduceat(self.trained.astype(np.int64), self.step_offsets[:-1])
        return max(1, int(np.median(per_step)))

    def group_size(self):
        """The most common group size."""
        return int(np.bincount(self.size).argmax())


def _advantage_coefficients(rewards, success, offsets):
    """sum_j A_j y_j per group, A_j = (r_j - mean) / (std + 1e-6) with the unbiased std;
    0 for groups of fewer than 2 rollouts (no GRPO gradient)."""
    sizes = np.diff(offsets)
    n_groups = sizes.size
    idx = np.repeat(np.arange(n_groups), sizes)
    mean = np.bincount(idx, rewards, minlength=n_groups) / np.maximum(sizes, 1)
    dev = rewards - mean[idx]
    std = np.sqrt(np.bincount(idx, dev ** 2, minlength=n_groups) / np.maximum(sizes - 1, 1))
    coef = np.bincount(idx, dev / (std[idx] + 1e-6) * success, minlength=n_groups)
    coef[sizes < 2] = 0.0
    return coef


def load_groups(ledger):
    """A ledger directory (``banditcurr.ledger``) or a DataFrame of its rows -> :class:`Groups`.

    Raises :class:`CalibrationError` for what cannot be fitted: missing columns, NaN or
    infinite rewards, success lists that do not match the rewards, fewer than two
    steps, no rollouts, or no group with mixed outcomes.
    """
    meta = {}
    if isinstance(ledger, str):
        from banditcurr import ledger as ledger_module

        try:
            meta = ledger_module.read_meta(ledger)
            frame = ledger_module.read(ledger)
        except ValueError as error:
            raise CalibrationError(str(error)) from None
        distributions = list(meta["distributions"])
    else:
        frame = ledger
        if not hasattr(frame, "columns"):
            raise TypeError(f"The 'ledger' argument of calibrate must be a ledger directory (str) or a pandas "
                            f"DataFrame of its rows. Got {type(ledger).__name__}.")
        distributions = frame.attrs.get("distributions")  # trace_frame sets it; else order of appearance
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise CalibrationError(f"The ledger lacks the column(s) {missing}; calibrate needs {list(REQUIRED)} "
                               f"(docs/ledger.md).")
    if len(frame) == 0:
        raise CalibrationError("The ledger has no rows: nothing to fit.")
    frame = frame.sort_values("step", kind="stable").reset_index(drop=True)
    sizes = np.array([len(r) for r in frame["rewards"]], dtype=np.int64)
    if not np.array_equal(sizes, [len(s) for s in frame["success"]]):
        raise CalibrationError("The ledger's 'success' lists do not match its 'rewards' lists in length.")
    keep = sizes > 0  # a group given no rollouts carries no information
    frame, sizes = frame[keep].reset_index(drop=True), sizes[keep]
    if sizes.size == 0:
        raise CalibrationError("The ledger has no rollouts (every group is empty): nothing to fit.")
    rewards = np.concatenate([np.asarray(r, dtype=np.float64) for r in frame["rewards"]])
    if not np.all(np.isfinite(rewards)):
        bad = int(np.flatnonzero(~np.isfinite(rewards))[0])
        raise CalibrationError(f"The ledger's rewards hold NaN or infinite values (first at rollout {bad}); "
                               f"fix or drop those groups before calibrating.")
    success = np.concatenate([np.asarray(s, dtype=np.float64) for s in frame["success"]])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    successes = np.add.reduceat(success, offsets[:-1]).astype(np.int64)
    steps_all = frame["step"].to_numpy(dtype=np.int64)
    steps, first = np.unique(steps_all, return_index=True)
    if steps.size < 2:
        raise CalibrationError(f"The ledger holds {steps.size} step: learning cannot be seen in fewer than two "
                               f"steps (the learning rate, transfer and forgetting are unidentifiable).")
    if not np.any((successes > 0) & (successes < sizes)):
        raise CalibrationError("Every group of the ledger is all-success or all-failure: no group has a GRPO "
                               "gradient, so the learning rate, transfer and difficulties are unidentifiable "
                               "(only bounds on them are). Calibrate on a run with mixed groups.")
    names = frame["distribution"].astype(str).to_numpy()
    if not distributions:
        distributions = list(dict.fromkeys(names.tolist()))
    index = {d: k for k, d in enumerate(distributions)}
    unknown = sorted(set(names.tolist()) - set(index))
    if unknown:
        raise CalibrationError(f"The ledger's rows name distribution(s) {unknown} that its metadata does not list.")
    dist = np.array([index[d] for d in names], dtype=np.int64)
    raw_ids = [f"{d}/<row {r}>" if p is None else str(p) for r, (p, d) in enumerate(zip(frame["prompt_id"], names))]
    prompt_ids, prompt = np.unique(np.array(raw_ids, dtype=object), return_inverse=True)
    prompt_dist = np.zeros(prompt_ids.size, dtype=np.int64)
    prompt_dist[prompt] = dist
    if np.any(prompt_dist[prompt] != dist):
        raise CalibrationError("A prompt id appears under two distributions; prompt ids must be unique per prompt.")
    return Groups(tuple(distributions), prompt_ids, prompt_dist, np.append(first, len(frame)).astype(np.int64),
                  steps, prompt.astype(np.int64), dist, successes, sizes,
                  _advantage_coefficients(rewards, success, offsets), frame["trained"].to_numpy(dtype=bool), meta)


# -- the likelihood -----------------------------------------------------------------------------

class Objective:
    """The marginal negative log-likelihood of ``groups`` as a function of the
    transformed parameter vector x = [log eta, tau, 100 lambda, eta_u / 100, mu (C), log s (C)]."""

    def __init__(self, groups, optimizer="sgd", memorization=True, forgetting=True):
        self.g = groups
        self.optimizer = optimizer
        self.n_dists = len(groups.distributions)
        self.order = np.argsort(groups.prompt, kind="stable").astype(np.int64)
        self.prompt_offsets = np.searchsorted(groups.prompt[self.order], np.arange(groups.prompt_ids.size + 1))
        self.prompt_offsets = self.prompt_offsets.astype(np.int64)
        k, n = groups.successes, groups.size
        from scipy.special import gammaln

        self.log_choose = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        self.base = np.zeros(groups.n_groups)
        self.skills = np.zeros((groups.n_steps + 1, self.n_dists))
        self.posterior_mean = np.zeros(groups.prompt_ids.size)
        self.free = [True, True, bool(forgetting), bool(memorization)]
        self.evaluations = 0

    def bounds(self):
        dyn = [_BOUNDS[name] if free else (0.0, 0.0) for name, free in zip(DYNAMIC, self.free)]
        dyn[0] = _BOUNDS["log_learning_rate"]
        return dyn + [(-_MU_BOUND, _MU_BOUND)] * self.n_dists + [_LOG_SPREAD_BOUNDS] * self.n_dists

    def learner(self, x):
        """(learning_rate, transfer, forgetting, memorization) of x."""
        return math.exp(x[0]), float(x[1]), float(x[2]) / 100.0, 100.0 * float(x[3])

    def replay(self, x):
        """Fill self.base (the groups' base logits) and self.skills for parameters x."""
        g = self.g
        learning_rate, transfer, forgetting, memorization = self.learner(x)
        loadings = chain_loadings(self.n_dists, transfer)
        _replay.replay(g.step_offsets, g.prompt, g.dist, g.size, g.coef, g.trained, loadings, learning_rate,
                       forgetting, memorization, OPTIMIZER_ADAM if self.optimizer == "adam" else OPTIMIZER_SGD,
                       ADAM["adam_beta1"], ADAM["adam_beta2"], ADAM["adam_eps"], g.prompt_ids.size, self.base,
                       self.skills)
        return loadings

    def nll(self, x, grad_tail=None):
        """The negative log-likelihood at x; writes d/d(mu, log s) into grad_tail (2 C,)."""
        c = self.n_dists
        self.replay(x)
        tail = np.zeros(2 * c) if grad_tail is None else grad_tail
        self.evaluations += 1
        return _replay.marginal_nll(self.order, self.prompt_offsets, self.g.prompt_dist, self.base, self.g.successes,
                                    self.g.size, self.log_choose, np.ascontiguousarray(x[4:4 + c]),
                                    np.ascontiguousarray(x[4 + c:]), GRID, _LOG_WEIGHTS, tail[:c], tail[c:],
                                    self.posterior_mean)

    def value_and_grad(self, x, step=1e-6):
        """(nll, gradient): exact in mu and log s, forward differences in the learner's
        parameters (backward at an upper bound)."""
        x = np.asarray(x, dtype=np.float64)
        grad = np.zeros_like(x)
        value = self.nll(x, grad[4:])
        bounds = self.bounds()
        for j in range(4):
            low, high = bounds[j]
            if low == high:
                continue
            h = step * max(1.0, abs(x[j]))
            shifted = x.copy()
            shifted[j] = x[j] + h if x[j] + h <= high else x[j] - h
            grad[j] = (self.nll(shifted) - value) / (shifted[j] - x[j])
        return value, grad  # the state (base logits, posterior means) is at the last shifted point

    def start(self):
        """A starting point: eta 0.1 (0.01 with Adam), tau 0.5, lambda 0, eta_u 0, mu_c from
        the distribution's first-steps pass rate, s_c = 1."""
        g = self.g
        early = g.step_offsets[min(g.n_steps, max(1, g.n_steps // 10))]
        k = np.bincount(g.dist[:early], g.successes[:early], minlength=self.n_dists)
        n = np.bincount(g.dist[:early], g.size[:early], minlength=self.n_dists)
        rate = np.clip((k + 0.5) / (n + 1.0), 0.02, 0.98)
        mu = -np.log(rate / (1 - rate)) * 1.3  # sigmoid(-mu / sqrt(1 + 0.35 s^2)) ~ rate at s = 1
        lr = 0.01 if self.optimizer == "adam" else 0.1
        return np.concatenate([[math.log(lr), 0.5, 0.0, 0.0], mu, np.zeros(self.n_dists)])


def _minimize(objective, x0):
    from scipy.optimize import minimize

    result = minimize(objective.value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=objective.bounds(),
                      options={"maxiter": 400, "ftol": 1e-10, "gtol": 1e-6})
    return result.x, result.fun


def hessian(objective, x, step=1e-4):
    """Finite-difference Hessian of the nll at x (central differences of the gradient),
    over the free coordinates; fixed ones get an identity block (no uncertainty)."""
    n = x.size
    bounds = objective.bounds()
    free = [j for j in range(n) if bounds[j][0] != bounds[j][1]]
    out = np.eye(n)
    for j in free:
        h = step * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        out[j] = (objective.value_and_grad(up)[1] - objective.value_and_grad(down)[1]) / (2 * h)
    out = 0.5 * (out + out.T)
    for j in set(range(n)) - set(free):
        out[j, :], out[:, j], out[j, j] = 0.0, 0.0, 1.0
    objective.nll(x)
    return out, free


# -- goodness of fit, noise ----------------------------------------------------------------------

def expected_pass_rates(objective, x):
    """Per group, the model's success probability with the prompt's difficulty
    integrated over its distribution's prior: float64 (n,) (needs replay(x) done);
    and E[p (1 - p)] and Var(p) over that prior (for residual variances)."""
    c = objective.n_dists
    mu, spread = x[4:4 + c], np.exp(x[4 + c:])
    weights = np.exp(_LOG_WEIGHTS)
    dist = objective.g.dist
    z = objective.base[:, None] - (mu[dist][:, None] + spread[dist][:, None] * GRID[None, :])
    p = 1.0 / (1.0 + np.exp(-z))
    mean = p @ weights
    return mean, (p * (1 - p)) @ weights, (p ** 2) @ weights - mean ** 2


def residual_logits(objective, x):
    """Per distribution and step, the logit offset a_{c,t} that would match the logged
    successes (one Newton step from the model) and its sampling variance:
    float64 (C, T) each, NaN where the cell is empty."""
    g = objective.g
    mean, slope, var_p = expected_pass_rates(objective, x)
    step_of = np.repeat(np.arange(g.n_steps), np.diff(g.step_offsets))
    cells = (g.dist * g.n_steps + step_of)
    size = g.size.astype(float)
    n_cells = objective.n_dists * g.n_steps
    resid = np.bincount(cells, g.successes - size * mean, minlength=n_cells)
    info = np.bincount(cells, size * slope, minlength=n_cells)
    variance = np.bincount(cells, size * mean * (1 - mean) + size * (size - 1) * var_p, minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(info > 0, resid / info, np.nan)
        var = np.where(info > 0, variance / info ** 2, np.nan)
    return offset.reshape(objective.n_dists, g.n_steps), var.reshape(objective.n_dists, g.n_steps)


def _local_level_loglik(offset, var, sigma):
    """Kalman log-likelihood of residual logits offset (C, T) with sampling variances
    var under a_{c,t} = a_{c,t-1} + N(0, sigma^2) per distribution (diffuse start)."""
    total = 0.0
    for row, row_var in zip(offset, var):
        level, spread = 0.0, None  # spread None: diffuse (no observation yet)
        for value, v in zip(row, row_var):
            if spread is not None:
                spread += sigma ** 2
            if not np.isfinite(value):
                continue
            if spread is None:
                level, spread = value, v
                continue
            total += -0.5 * (math.log(2 * math.pi * (spread + v)) + (value - level) ** 2 / (spread + v))
            gain = spread / (spread + v)
            level += gain * (value - level)
            spread *= 1 - gain
    return total


def noise_scale(objective, x):
    """The update-noise scale sigma: with noise, theta_real - theta_replayed is a random
    walk (the replayed update reads only the logged outcomes), so each distribution's
    residual logit a_{c,t} (``residual_logits``; loadings have unit rows) is a local-level
    process a_{c,t} = a_{c,t-1} + N(0, sigma^2) observed with its sampling variance.
    sigma maximises that process's Kalman likelihood (0 when no drift beats none)."""
    from scipy.optimize import minimize_scalar

    offset, var = residual_logits(objective, x)
    result = minimize_scalar(lambda log_sigma: -_local_level_loglik(offset, var, math.exp(log_sigma)),
                             bounds=(math.log(1e-4), math.log(1.0)), method="bounded", options={"xatol": 1e-3})
    sigma = math.exp(result.x)
    if _local_level_loglik(offset, var, 0.0) >= -result.fun:
        return 0.0
    return float(sigma) if sigma > 1.5e-4 else 0.0


def baseline_loglik(groups):
    """Log-likelihood of a model with a free pass rate per distribution and step (the
    saturated curve: binomial at the cell's observed rate)."""
    from scipy.special import gammaln

    g = groups
    step_of = np.repeat(np.arange(g.n_steps), np.diff(g.step_offsets))
    cells = g.dist * g.n_steps + step_of
    k = np.bincount(cells, g.successes)
    n = np.bincount(cells, g.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), 0.0)
        p = rate[cells]
        ll = g.successes * np.log(np.where(g.successes > 0, p, 1.0)) + \
            (g.size - g.successes) * np.log(np.where(g.size > g.successes, 1 - p, 1.0))
    log_choose = gammaln(g.size + 1.0) - gammaln(g.successes + 1.0) - gammaln(g.size - g.successes + 1.0)
    return float((ll + log_choose).sum()), int((n > 0).sum())


# -- the fit ---------------------------------------------------------------------------------------

def _pool_size(draws, distinct):
    """Capture-recapture estimate of a pool's size from ``draws`` uniform draws with
    replacement that hit ``distinct`` prompts: N with N (1 - (1 - 1/N)^draws) = distinct
    (distinct itself when no prompt repeats... then 10 x distinct, a guess, flagged)."""
    if distinct >= draws:
        return 10 * distinct, False
    low, high = float(distinct), 1e9
    for _ in range(200):
        mid = math.sqrt(low * high)
        if mid * (1 - (1 - 1 / mid) ** draws) < distinct:
            low = mid
        else:
            high = mid
    return int(round(high)), True


@dataclass
class Fit:
    """The result of :func:`calibrate` (see its docstring)."""

    groups: Groups
    optimizer: str
    x: np.ndarray
    nll: float
    covariance: np.ndarray
    learner: dict
    mu: np.ndarray
    spread: np.ndarray
    update_noise: float
    loglik: float
    baseline_loglik: float
    baseline_cells: int
    candidates: dict
    warnings: list
    seconds: float
    objective: Objective = None
    scenario: Scenario = None

    @property
    def n_parameters(self):
        return int(sum(1 for low, high in self.objective.bounds() if low != high))

    def summary(self):
        """The fitted parameters and goodness of fit as a JSON-ready dict."""
        g = self.groups
        return {
            "optimizer": self.optimizer, **{k: float(v) for k, v in self.learner.items()},
            "update_noise": self.update_noise,
            "difficulty_mean": dict(zip(g.distributions, np.round(self.mu, 4).tolist())),
            "difficulty_spread": dict(zip(g.distributions, np.round(self.spread, 4).tolist())),
            "standard_errors": self.standard_errors(),
            "loglik": self.loglik, "loglik_per_group": self.loglik / g.n_groups,
            "baseline_loglik": self.baseline_loglik, "baseline_parameters": self.baseline_cells,
            "parameters": self.n_parameters,
            "aic": 2 * self.n_parameters - 2 * self.loglik,
            "baseline_aic": 2 * self.baseline_cells - 2 * self.baseline_loglik,
            "candidates": self.candidates, "groups": g.n_groups, "steps": g.n_steps, "prompts": int(g.prompt_ids.size),
            "warnings": list(self.warnings), "seconds": round(self.seconds, 2),
        }

    def standard_errors(self):
        """Laplace standard errors of the learner's parameters (delta method)."""
        se = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        return {"learning_rate": float(se[0] * self.learner["learning_rate"]), "transfer": float(se[1]),
                "forgetting": float(se[2] / 100.0), "memorization": float(se[3] * 100.0)}

    def report(self):
        """A few lines for people."""
        s = self.summary()
        se = s["standard_errors"]
        lines = [f"calibrated on {s['groups']} groups, {s['steps']} steps, {s['prompts']} prompts "
                 f"in {s['seconds']:.1f} s",
                 f"optimizer {s['optimizer']} (log-lik " + ", ".join(f"{k} {v:.1f}" for k, v in s["candidates"].items())
                 + ")",
                 f"learning rate {s['learning_rate']:.4g} +- {se['learning_rate']:.2g}, transfer {s['transfer']:.3f} "
                 f"+- {se['transfer']:.2g}, forgetting {s['forgetting']:.4f} +- {se['forgetting']:.2g}, "
                 f"memorization {s['memorization']:.3f} +- {se['memorization']:.2g}, update noise "
                 f"{s['update_noise']:.4f}",
                 "difficulty mean/spread: " + ", ".join(f"{d} {m:.2f}/{sp:.2f}" for d, m, sp in
                                                        zip(self.groups.distributions, self.mu, self.spread)),
                 f"log-likelihood {s['loglik']:.1f} ({s['loglik_per_group']:.3f} per group, {s['parameters']} "
                 f"parameters) vs free per-step pass rates {s['baseline_loglik']:.1f} ({s['baseline_parameters']} "
                 f"parameters); AIC {s['aic']:.1f} vs {s['baseline_aic']:.1f}"]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def scenario_at(self, x=None, pool_seed=0, name=None, n_eval=200):
        """The Scenario of parameters x (default: the fit): the logged prompts with a
        draw from their posterior difficulty, plus the pool's unseen prompts
        (capture-recapture size) and ``n_eval`` held-out prompts per distribution drawn
        from the prior; training settings of the logged run."""
        x = self.x if x is None else x
        obj, g = self.objective, self.groups
        c = obj.n_dists
        learning_rate, transfer, forgetting, memorization = obj.learner(x)
        mu, log_spread = np.ascontiguousarray(x[4:4 + c]), np.ascontiguousarray(x[4 + c:])
        rng = np.random.default_rng(pool_seed)
        obj.replay(x)
        seen = np.zeros(g.prompt_ids.size)
        _replay.posterior_draws(obj.order, obj.prompt_offsets, g.prompt_dist, obj.base, g.successes, g.size, mu,
                                log_spread, DRAW_GRID, rng.random((g.prompt_ids.size, 2)), seen)
        spread = np.exp(log_spread)
        difficulty, dists = [], []
        for d in range(c):
            mine = seen[g.prompt_dist == d]
            draws = int(np.sum(g.dist == d))
            pool, _ = _pool_size(draws, mine.size)
            unseen = mu[d] + spread[d] * rng.standard_normal(max(0, pool - mine.size))
            difficulty.append(np.concatenate([mine, unseen]))
            dists.append(np.full(difficulty[-1].size, d))
        eval_difficulty = mu[:, None] + spread[:, None] * rng.standard_normal((c, n_eval))
        options = dict(optimizer=self.optimizer, **(ADAM if self.optimizer == "adam" else {}))
        return Scenario(name=name or f"calibrated:{g.meta.get('run_id', 'ledger')}", distributions=g.distributions,
                        loadings=chain_loadings(c, transfer), init_skills=np.zeros(c),
                        train_dist=np.concatenate(dists), train_difficulty=np.clip(np.concatenate(difficulty), -99, 99),
                        eval_difficulty=np.clip(eval_difficulty, -99, 99), learning_rate=learning_rate,
                        forgetting=min(forgetting, 0.999), batch_size=g.batch_size(), group_size=g.group_size(),
                        steps=int(g.n_steps), arm_level="distribution", memorization=memorization,
                        update_noise=self.update_noise, description="calibrated by banditcurr calibrate",
                        params={"calibration": self.summary(), "pool_seed": pool_seed}, **options)


#: calibrate's switches, declared once (tests/test_arguments.py derives bad-input cases from them).
CALIBRATE_ARGUMENTS = (
    argument("memorization", "bool", doc="fit the memorisation rate (False: fixed at 0)"),
    argument("forgetting", "bool", doc="fit forgetting (False: fixed at 0)"),
    argument("uncertainty", "bool", doc="compute the Laplace covariance (predict needs it)"),
)


def calibrate(ledger, *, optimizers=("sgd", "adam"), memorization=True, forgetting=True, uncertainty=True):
    """Fit the learner to ``ledger`` (directory or DataFrame, see :func:`load_groups`).

    ``optimizers``: the update rules to try ("sgd", "adam"); the one with the higher
    likelihood is kept (both have the same number of parameters). ``memorization``,
    ``forgetting``: fit those terms (False: fixed at 0). ``uncertainty``: compute the
    Laplace covariance (needed by ``predict``). Returns a :class:`Fit` whose
    ``scenario`` is the calibrated :class:`Scenario`. Raises :class:`CalibrationError`
    when the ledger cannot identify the learner; soft problems (a parameter on its
    bound, a distribution never mixed) are listed in ``Fit.warnings``.
    """
    started = time.perf_counter()
    check_arguments("calibrate", CALIBRATE_ARGUMENTS,
                    {"memorization": memorization, "forgetting": forgetting, "uncertainty": uncertainty})
    unknown = sorted(set(optimizers) - set(OPTIMIZERS)) if not isinstance(optimizers, str) else [optimizers]
    if unknown or not optimizers:
        raise ValueError(f"The 'optimizers' argument of calibrate must be a non-empty subset of {OPTIMIZERS}. "
                         f"Got {optimizers!r}.")
    groups = load_groups(ledger)
    candidates, best = {}, None
    for optimizer in optimizers:
        objective = Objective(groups, optimizer, memorization, forgetting)
        for transfer, rate in START_POINTS:  # the likelihood can have local optima along the tau-eta ridge
            x0 = objective.start()
            x0[0] += math.log(rate)
            x0[1] = transfer
            if best is not None:  # the difficulties carry over between starts and update rules
                x0[4:] = best[1][4:]
            x, value = _minimize(objective, x0)
            candidates[optimizer] = max(candidates.get(optimizer, -np.inf), -value)
            if best is None or value < best[2]:
                best = (objective, x, value)
    objective, x, value = best
    warnings = _warnings(groups, objective, x)
    covariance = np.zeros((x.size, x.size))
    if uncertainty:
        hess, free = hessian(objective, x)
        try:
            covariance = np.linalg.inv(hess)
            if np.any(np.diag(covariance)[free] <= 0) or not np.all(np.isfinite(covariance)):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            warnings.append("the likelihood is flat in some direction (Hessian not positive definite): some "
                            "parameters are unidentifiable from this ledger; intervals are not reported.")
            covariance = np.zeros((x.size, x.size))
    objective.nll(x)
    learning_rate, transfer, forget_rate, memo = objective.learner(x)
    c = objective.n_dists
    sigma = noise_scale(objective, x)
    objective.nll(x)
    base_ll, cells = baseline_loglik(groups)
    fit = Fit(groups, objective.optimizer, x, value, covariance,
              {"learning_rate": learning_rate, "transfer": transfer, "forgetting": forget_rate, "memorization": memo},
              x[4:4 + c].copy(), np.exp(x[4 + c:]), sigma, -value, base_ll, cells, candidates, warnings,
              0.0, objective)
    fit.seconds = time.perf_counter() - started
    fit.scenario = fit.scenario_at()
    return fit


def _warnings(groups, objective, x):
    out = []
    c = objective.n_dists
    bounds = objective.bounds()
    for j, name in enumerate(DYNAMIC):
        low, high = bounds[j]
        if low != high and name in ("log_learning_rate", "transfer") and \
                (abs(x[j] - low) < 1e-6 or abs(x[j] - high) < 1e-6):
            out.append(f"{name} ended on its bound {x[j]:.4g}: unidentifiable or outside the model's range.")
    mixed = (groups.successes > 0) & (groups.successes < groups.size)
    for d, name in enumerate(groups.distributions):
        mine = groups.dist == d
        if not mixed[mine].any():
            kind = "success" if groups.successes[mine].sum() == groups.size[mine].sum() else "failure"
            out.append(f"distribution {name!r} has no mixed group (all {kind}): its difficulty is only bounded "
                       f"(fitted mean {x[4 + d]:.2f}).")
        elif abs(abs(x[4 + d]) - _MU_BOUND) < 1e-6:
            out.append(f"distribution {name!r}: difficulty mean on its bound.")
    return out
