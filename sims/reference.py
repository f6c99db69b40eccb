"""The plain NumPy reference engine: the same model as ``_engine.py``, written for
reading, one seed and one step at a time, through the public scheduler API.

It draws the learner's randomness from NumPy's generator (not xoshiro), so it agrees
with the compiled engine in distribution, not draw for draw: the tests compare the
two statistically, and the benchmark compares their speed on the same workload.
"""

import numpy as np

import banditcurr as bc
from banditcurr.allocation import allocate_for, allocate_rollouts, has_posterior

from ._engine import KNAPSACK_MAX_FACTOR
from .schedulers import FixedSchedule


def sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


class _Fixed:
    """A FixedSchedule through the scheduler verbs (Efraimidis-Spirakis when B <= K)."""

    def __init__(self, weights, stream):
        self.p = np.asarray(weights)
        self.rng = np.random.default_rng(stream)

    def sample(self, batch_size):
        if batch_size > self.p.size:
            return self.rng.choice(self.p.size, size=batch_size, p=self.p)
        with np.errstate(divide="ignore"):
            keys = np.log(1.0 - self.rng.random(self.p.size)) / self.p
        keys[self.p == 0] = -np.inf
        return np.argsort(-keys, kind="mergesort")[:batch_size]

    def update(self, arms, rewards, offsets):
        pass


def grpo_coefficients(rewards, offsets, p):
    """Per group: sum_j A_j (r_j - p), with A_j = (r_j - mean) / (std + 1e-6), unbiased std."""
    sizes = np.diff(offsets)
    starts = offsets[:-1]
    mean = np.add.reduceat(rewards, starts) / sizes
    squares = np.add.reduceat((rewards - np.repeat(mean, sizes)) ** 2, starts)
    std = np.sqrt(squares / np.maximum(sizes - 1, 1)) * (sizes > 1)
    advantages = (rewards - np.repeat(mean, sizes)) / (np.repeat(std, sizes) + 1e-6)
    return np.add.reduceat(advantages * (rewards - np.repeat(p, sizes)), starts)


class Learner:
    """The learner's state and update, the plain way: skills theta, Adam moments,
    memorisation logits u (one per training prompt); see ``_engine.learner_update``."""

    def __init__(self, scenario, rng):
        self.sc, self.rng = scenario, rng
        self.theta = scenario.init_skills.copy()
        self.first = np.zeros_like(self.theta)  # Adam m
        self.second = np.zeros_like(self.theta)  # Adam v
        self.count = 0  # Adam t
        self.memo = np.zeros(scenario.n_prompts)

    def logit(self, prompts):
        sc = self.sc
        return sc.loadings[sc.train_dist[prompts]] @ self.theta - sc.train_difficulty[prompts] + self.memo[prompts]

    def update(self, prompts, p, rewards, offsets):
        """One step on the trained groups (prompts, p, flat rewards, offsets)."""
        sc = self.sc
        if offsets[-1]:
            coef = grpo_coefficients(rewards, offsets, p)
            direction = coef @ sc.loadings[sc.train_dist[prompts]]
            if sc.optimizer == "adam":
                gradient = direction / offsets[-1]
                self.count += 1
                self.first = sc.adam_beta1 * self.first + (1 - sc.adam_beta1) * gradient
                self.second = sc.adam_beta2 * self.second + (1 - sc.adam_beta2) * gradient ** 2
                first = self.first / (1 - sc.adam_beta1 ** self.count)
                second = self.second / (1 - sc.adam_beta2 ** self.count)
                self.theta = self.theta + sc.learning_rate * first / (np.sqrt(second) + sc.adam_eps)
            else:
                self.theta = self.theta + sc.learning_rate / offsets[-1] * direction
            np.add.at(self.memo, prompts, sc.memorization / offsets[-1] * coef)
        if sc.update_noise > 0:
            self.theta = self.theta + sc.update_noise * self.rng.standard_normal(self.theta.size)
        self.theta = sc.init_skills + (1.0 - sc.forgetting) * (self.theta - sc.init_skills)
        self.memo *= 1.0 - sc.forgetting


def passes(gate, successes, sizes):
    """Which 0/1-reward groups (``successes`` of ``sizes``) pass ``gate`` (a Gate), with
    p = k/n: mixed 0 < k < n, band lo <= p <= hi, std lo <= sqrt(p (1 - p)) <= hi."""
    if gate.kind == "none":
        return np.ones(sizes.size, dtype=bool)
    if gate.kind == "mixed":
        return (successes > 0) & (successes < sizes)
    p = successes / sizes
    statistic = p if gate.kind == "band" else np.sqrt(p * (1.0 - p))
    return (gate.lo <= statistic) & (statistic <= gate.hi)


def screened_rewards(rng, p, group, screen):
    """SPEED-RL screening (arXiv 2506.09016): ``screen`` rollouts per prompt, then the other
    ``group`` - ``screen`` for the prompts whose screen is mixed; returns (flat rewards, sizes)."""
    first = rng.random((p.size, screen)) < p[:, None]
    k = first.sum(axis=1)
    accepted = (k > 0) & (k < screen)
    rest = rng.random((int(accepted.sum()), group - screen)) < p[accepted, None]
    sizes = np.where(accepted, group, screen)
    parts, r = [], 0
    for b in range(p.size):
        parts.append(first[b])
        if accepted[b]:
            parts.append(rest[r])
            r += 1
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0), sizes


def run_reference(setup, seed_streams, progress=None):
    """Run ``setup`` (from ``simulate.prepare``) with ``seed_streams`` = (scheduler
    streams, learner streams) of ``simulate.streams``; return the records tuple of
    ``SimulationResult`` (accuracy, zero_variance, arm_counts, rollouts, train_reward)."""
    sc = setup.scenario
    seeds, steps, batch, group = setup.seeds, setup.steps, setup.batch_size, setup.group_size
    pool_start, pool_count = sc.pool_bounds()
    n_dists = sc.n_distributions
    accuracy = np.zeros((seeds, len(setup.eval_steps), n_dists))
    zero_variance = np.zeros((seeds, steps))
    arm_counts = np.zeros((seeds, steps, n_dists), dtype=np.int64)
    rollouts = np.zeros((seeds, steps), dtype=np.int64)
    train_reward = np.zeros((seeds, steps))
    sched_streams, learn_streams = seed_streams
    gate, screen = setup.gate_rule, setup.screening
    refill = gate.kind != "none" or screen > 0  # rounds until B groups are kept
    rounds = setup.max_rounds if refill else 1

    def evaluate(theta):
        return sigmoid(sc.loadings @ theta - sc.eval_difficulty.T).mean(axis=0)

    for s in range(seeds):
        if isinstance(setup.template, FixedSchedule):
            scheduler = _Fixed(setup.template.weights, sched_streams[s])
        else:
            scheduler = bc.make(setup.name, setup.n_arms, seed=0, **setup.make_kwargs)
            state = setup.template.state_dict()  # its initial state (a warm start included)
            state["rng"] = sched_streams[s]
            scheduler.load_state_dict(state)
        rng = np.random.default_rng(learn_streams[s])
        learner = Learner(sc, rng)
        accuracy[s, 0] = evaluate(learner.theta)
        total_rollouts = 0
        for t in range(steps):
            kept = []  # per round: (prompts, p, rewards, sizes) of the groups trained on
            n_kept = 0
            generated = zero = step_rollouts = 0
            reward_sum = 0.0
            used = set()  # arms drawn this step (the gate never redraws one at prompt level)
            for _ in range(rounds):  # the gate's rounds, as banditcurr.gates.fill_batch
                need = batch - n_kept
                if refill and batch <= setup.n_arms:
                    drawn = scheduler.sample(min(setup.n_arms, len(used) + need))
                    arms = np.array([a for a in drawn if a not in used][:need], dtype=np.int64)
                    used.update(arms.tolist())
                    if arms.size == 0:
                        continue
                else:
                    arms = scheduler.sample(need)
                if setup.arm_level == "prompt":
                    prompts = arms
                else:
                    prompts = pool_start[arms] + rng.integers(0, pool_count[arms])
                dist = sc.train_dist[prompts]
                p = sigmoid(learner.logit(prompts))
                budget = arms.size * group
                if setup.allocation == "posterior":  # CurES: G_x proportional to the posterior's sigma
                    sizes = allocate_for(scheduler, arms, budget, saturation=setup.saturation,
                                         confidence=setup.confidence)
                elif setup.allocation == "oracle":  # the same from the true success probability
                    sizes = allocate_rollouts(p, budget, saturation=setup.saturation)
                elif setup.allocation == "knapsack":  # Knapsack-RL from the posterior mean, else the true p
                    cap = min(KNAPSACK_MAX_FACTOR * group, budget)
                    sizes = (bc.allocate_knapsack_for(scheduler, arms, budget, max_size=cap) if has_posterior(scheduler)
                             else bc.allocate_knapsack(p, budget, max_size=cap))
                else:
                    sizes = np.full(arms.size, group)
                rolled = sizes > 0  # a prompt given no rollouts is not rolled out
                arms, prompts, dist, p, sizes = arms[rolled], prompts[rolled], dist[rolled], p[rolled], sizes[rolled]
                np.add.at(arm_counts[s, t], dist, 1)
                if screen > 0:
                    rewards, sizes = screened_rewards(rng, p, group, screen)
                else:
                    rewards = (rng.random(sizes.sum()) < np.repeat(p, sizes)).astype(np.float64)
                offsets = np.concatenate([[0], np.cumsum(sizes)])
                scheduler.update(arms, rewards, offsets)
                successes = np.add.reduceat(rewards, offsets[:-1])
                mixed = (successes > 0) & (successes < sizes)
                generated += arms.size
                zero += int((~mixed).sum())
                reward_sum += rewards.sum()
                step_rollouts += int(offsets[-1])
                take = np.ones(arms.size, dtype=bool)
                if refill:  # the first `need` groups that pass the gate (and, screening, their screen)
                    take = np.isin(np.arange(arms.size),
                                   np.flatnonzero(passes(gate, successes, sizes) & (sizes > screen))[:need])
                kept.append((prompts[take], p[take], rewards[np.repeat(take, sizes)], sizes[take]))
                n_kept += int(take.sum())
                if n_kept == batch:
                    break
            prompts, p, rewards, sizes = (np.concatenate(parts) for parts in zip(*kept)) if kept else \
                (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
            learner.update(prompts, p, rewards, np.concatenate([[0], np.cumsum(sizes)]))
            zero_variance[s, t] = zero / generated
            total_rollouts += step_rollouts
            rollouts[s, t] = total_rollouts
            train_reward[s, t] = reward_sum / step_rollouts
            if setup.eval_slot[t] >= 0:
                accuracy[s, setup.eval_slot[t]] = evaluate(learner.theta)
        if progress is not None:
            progress(steps / seeds)
    return accuracy, zero_variance, arm_counts, rollouts, train_reward
