"""The DAPO dynamic-sampling gate: kernels against the twin, refill rounds, costs."""

import numpy as np
import pytest
from numba import njit

import banditcurr as bc
import naive
from banditcurr import gates
from banditcurr.gates import fill_batch, keep_mixed


def random_groups(rng, n_groups):
    sizes = rng.integers(1, 6, n_groups)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rewards = rng.integers(0, 2, offsets[-1]).astype(float) * rng.choice([1.0, 0.5], offsets[-1])
    return rewards, offsets


def test_keep_and_compact_match_twin():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n_groups = int(rng.integers(1, 30))
        rewards, offsets = random_groups(rng, n_groups)
        keep = keep_mixed(rewards, offsets)
        expected = naive.keep_mixed(rewards, offsets)
        np.testing.assert_array_equal(keep, expected)
        arms = rng.integers(0, 100, n_groups)
        limit = int(rng.integers(-1, n_groups + 1))
        arms_out = np.empty(n_groups, dtype=np.int64)
        rewards_out = np.empty(len(rewards))
        offsets_out = np.empty(n_groups + 1, dtype=np.int64)
        n_kept, n_rewards = gates._compact_groups(arms, rewards, offsets, keep, limit, arms_out, rewards_out,
                                                  offsets_out)
        chosen = np.flatnonzero(expected)[:limit if limit >= 0 else None]
        assert n_kept == len(chosen)
        np.testing.assert_array_equal(arms_out[:n_kept], arms[chosen])
        parts = naive.groups(rewards, offsets)
        flat = np.concatenate([parts[g] for g in chosen]) if len(chosen) else np.empty(0)
        np.testing.assert_array_equal(rewards_out[:n_rewards], flat)
        np.testing.assert_array_equal(np.diff(offsets_out[:n_kept + 1]), [len(parts[g]) for g in chosen])


def test_keep_mixed_regular_batch():
    np.testing.assert_array_equal(keep_mixed([[1, 1, 1], [0, 1, 0], [0, 0, 0]]), [False, True, False])


@njit  # not disk-cached: Numba would key it on this file alone, not on the kernels it calls
def _compiled_gate(rewards, offsets):
    keep = np.empty(offsets.shape[0] - 1, dtype=np.bool_)
    return gates._keep_groups(rewards, offsets, keep), keep


def test_callable_from_compiled_code():
    n_kept, keep = _compiled_gate(np.array([1.0, 1.0, 0.0, 1.0, 2.0]), np.array([0, 2, 4, 5]))
    assert n_kept == 1
    np.testing.assert_array_equal(keep, [False, True, False])


class World:
    """Bernoulli prompts with fixed success rates; counts what it rolled out."""

    def __init__(self, success, group_size=8, seed=0):
        self.success, self.group_size = np.asarray(success), group_size
        self.rng = np.random.default_rng(seed)
        self.rolled = 0
        self.all_equal = 0  # groups with zero reward std, all rounds

    def __call__(self, arms):
        self.rolled += len(arms) * self.group_size
        rewards = (self.rng.random((len(arms), self.group_size)) < self.success[arms, None]).astype(float)
        self.all_equal += int(np.sum(rewards.min(axis=1) == rewards.max(axis=1)))
        return rewards


def test_fill_batch_fills_with_mixed_groups_and_counts_its_cost():
    success = np.where(np.arange(300) < 150, 1.0, np.linspace(0.05, 0.95, 300))
    world = World(success)
    scheduler = bc.make("cures", n_arms=300, seed=1)
    batch = fill_batch(scheduler, world, 32, oversample=1.5)
    assert batch.full and batch.arms.shape == (32,) and len(np.unique(batch.arms)) == 32
    assert keep_mixed(batch.rewards, batch.offsets).all()
    assert batch.rollouts == world.rolled and batch.sampled_groups * 8 == batch.rollouts
    first_round = int(np.ceil(32 * 1.5)) * 8
    assert batch.extra_rollouts == batch.rollouts - first_round > 0 and batch.rounds > 1
    assert batch.dropped_groups == world.all_equal
    alpha, beta = scheduler.posterior()
    assert alpha.sum() + beta.sum() - 600 == batch.rollouts  # update="all": every group was fed back


def test_update_modes():
    success = np.where(np.arange(50) < 25, 1.0, 0.5)
    for mode in ("none", "batch"):
        scheduler = bc.make("cures", n_arms=50, seed=2)
        batch = fill_batch(scheduler, World(success, seed=3), 10, update=mode)
        alpha, beta = scheduler.posterior()
        assert batch.full and batch.dropped_groups > 0
        assert alpha.sum() + beta.sum() - 100 == (0 if mode == "none" else 8 * 10)


def test_gives_up_after_max_rounds():
    scheduler = bc.make("uniform", n_arms=4, seed=0)
    batch = fill_batch(scheduler, World(np.ones(4)), 16, max_rounds=3)
    assert not batch.full and batch.arms.size == 0 and batch.rounds == 3
    assert batch.offsets.tolist() == [0] and batch.dropped_groups == batch.sampled_groups == 3 * 16


def test_rollout_with_allocation_may_skip_prompts():
    success = np.concatenate([np.ones(20), np.full(20, 0.5)])
    scheduler = bc.make("cures", n_arms=40, seed=4)
    scheduler.update(np.arange(20), np.ones((20, 8)))  # the first 20 are known solved
    rng = np.random.default_rng(5)

    def rollout(arms):
        sizes = scheduler.allocate(arms, 8 * len(arms))
        rolled = arms[sizes > 0]
        rewards = (rng.random(sizes.sum()) < np.repeat(success[rolled], sizes[sizes > 0])).astype(float)
        return rolled, rewards, np.concatenate([[0], np.cumsum(sizes[sizes > 0])])

    batch = fill_batch(scheduler, rollout, 8, max_rounds=20)
    assert batch.full and np.all(batch.arms >= 20)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"update": "kept"}, ValueError, "'update' argument of fill_batch must be one of"),
    ({"max_rounds": 0}, ValueError, "'max_rounds' argument of fill_batch must be an int >= 1. Got 0"),
    ({"oversample": 0.5}, ValueError, "'oversample' argument of fill_batch must be a float >= 1. Got 0.5"),
    ({"batch_size": 0}, ValueError, "'batch_size' argument of fill_batch must be an int >= 1"),
])
def test_bad_arguments(kwargs, error, message):
    arguments = {"batch_size": 4, **kwargs}
    with pytest.raises(error, match=message):
        fill_batch(bc.make("uniform", n_arms=8), World(np.full(8, 0.5)), **arguments)


def test_bad_rollout_results():
    scheduler = bc.make("uniform", n_arms=8, seed=0)
    with pytest.raises(ValueError, match="'rollout' callable returned bad feedback for 4 arms"):
        fill_batch(scheduler, lambda arms: np.zeros((len(arms) + 1, 4)), 4)
    with pytest.raises(ValueError, match="tuple of 4 items"):
        fill_batch(scheduler, lambda arms: (1, 2, 3, 4), 4)
    with pytest.raises(TypeError, match="'rollout' argument must be callable"):
        fill_batch(scheduler, "vllm", 4)
    with pytest.raises(ValueError, match="holds no group"):
        keep_mixed(np.empty((0, 4)))
