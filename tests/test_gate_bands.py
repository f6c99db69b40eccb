"""The pass-rate and std band gates, the gate spec, and gating on a metric in fill_batch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
import naive
from banditcurr import gates
from banditcurr.gates import Gate, fill_batch, keep_groups, parse_gate

SPECS = ["none", "mixed", "band", "band:lo=0.1,hi=0.5", "std:lo=0.2,hi=0.45", "std:lo=0,hi=0.3"]


def random_groups(rng, n_groups):
    sizes = rng.integers(1, 9, n_groups)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.integers(0, 2, offsets[-1]).astype(float) * rng.choice([1.0, 0.5, 0.25], offsets[-1])
    return values, offsets


@pytest.mark.parametrize("spec", SPECS)
def test_kernel_matches_twin(spec):
    rng = np.random.default_rng(0)
    gate = parse_gate(spec)
    for _ in range(40):
        values, offsets = random_groups(rng, int(rng.integers(1, 30)))
        expected = naive.keep_gate(values, offsets, gate.kind, gate.lo, gate.hi)
        keep = np.empty(offsets.size - 1, dtype=np.bool_)
        assert gates._gate_groups(values, offsets, gate.code, *gate.bounds, keep) == expected.sum()
        np.testing.assert_array_equal(keep, expected)
        np.testing.assert_array_equal(keep_groups(values, offsets, gate), expected)


def test_mixed_gate_is_dapo():
    rng = np.random.default_rng(1)
    values, offsets = random_groups(rng, 50)
    np.testing.assert_array_equal(keep_groups(values, offsets, "dynamic-sampling"), bc.keep_mixed(values, offsets))


def test_band_on_binary_rewards_is_pass_rate_and_std_band_its_symmetric_form():
    rewards = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(keep_groups(rewards, gate="band"), [False, True, True, True, False])
    np.testing.assert_array_equal(keep_groups(rewards, gate="band:lo=0.5,hi=1"), [True, False, True, True, False])
    # sqrt(p (1 - p)) >= sqrt(0.25 * 0.75) <=> p in [0.25, 0.75]
    std = f"std:lo={np.sqrt(0.25 * 0.75) - 1e-12},hi=0.5"
    np.testing.assert_array_equal(keep_groups(rewards, gate=std), keep_groups(rewards, gate="band"))


def test_spec_round_trip_and_defaults():
    assert Gate("band") == Gate("band", 0.25, 0.75) == parse_gate("band:lo=0.25,hi=0.75")
    assert parse_gate("dynamic-sampling") == Gate("mixed") and Gate("dynamic-sampling").spec == "mixed"
    for spec in SPECS:
        gate = parse_gate(spec)
        assert parse_gate(gate.spec) == gate and parse_gate(gate) is gate
    assert gates.GATE_CODES == {"none": 0, "mixed": 1, "band": 2, "std": 3}


@pytest.mark.parametrize("spec, error, message", [
    ("band:lo=0.8,hi=0.2", ValueError, "must satisfy lo <= hi. Got lo=0.8, hi=0.2"),
    ("band:lo=-0.1", ValueError, "'lo' argument of a 'band' gate must be a float >= 0 and <= 1. Got -0.1"),
    ("band:hi=1.5", ValueError, "'hi' argument of a 'band' gate must be a float >= 0 and <= 1. Got 1.5"),
    ("band:lo=nan", ValueError, "Got nan"),
    ("std", ValueError, "'lo' bound of a 'std' gate has no default: give both"),
    ("std:lo=0.3,hi=0.1", ValueError, "lo <= hi"),
    ("std:lo=-1,hi=0.1", ValueError, "'lo' argument of a 'std' gate must be a float >= 0"),
    ("mixed:lo=0.1", ValueError, "'mixed' gate takes no bounds"),
    ("band:lo=x", ValueError, "'lo' bound in the 'gate' spec 'band:lo=x' of gate must be a number"),
    ("band:low=0.1", ValueError, "bad setting 'low=0.1'"),
    ("band:lo=0.1,lo=0.2", ValueError, "each once"),
    ("dapo", ValueError, "'kind' argument of Gate must be one of 'none', 'mixed', 'band', 'std'"),
    (0.5, TypeError, "must be a Gate or a spec string"),
])
def test_bad_gates(spec, error, message):
    with pytest.raises(error, match=message):
        parse_gate(spec)


class World:
    """Bernoulli prompts with fixed success rates; the reward is shaped (success + noise),
    the metric is the raw 0/1 success."""

    def __init__(self, success, group_size=8, seed=0, metric=True):
        self.success, self.group_size, self.metric = np.asarray(success), group_size, metric
        self.rng = np.random.default_rng(seed)
        self.rolled = 0

    def __call__(self, arms):
        self.rolled += len(arms) * self.group_size
        success = (self.rng.random((len(arms), self.group_size)) < self.success[arms, None]).astype(float)
        shaped = success + 0.01 * self.rng.random(success.shape)  # never all equal
        return {"rewards": shaped, "metric": success} if self.metric else shaped


def test_gate_reads_the_metric_not_the_shaped_reward():
    success = np.concatenate([np.ones(40), np.full(40, 0.5)])
    scheduler = bc.make("uniform", n_arms=80, seed=0)
    batch = fill_batch(scheduler, World(success), 16, max_rounds=20)
    assert batch.full and np.all(batch.arms >= 40)  # the solved half is dropped on its raw success
    assert batch.metric.shape == batch.rewards.shape and keep_groups(batch.metric, batch.offsets).all()
    assert not np.array_equal(batch.metric, batch.rewards)
    on_reward = fill_batch(bc.make("uniform", n_arms=80, seed=0), World(success, metric=False), 16)
    assert on_reward.rounds == 1 and on_reward.metric is None  # shaped rewards are never all equal


@settings(max_examples=40, deadline=None)
@given(spec=st.sampled_from(SPECS), batch_size=st.integers(1, 12), max_rounds=st.integers(1, 5),
       n_arms=st.integers(1, 30), seed=st.integers(0, 2**16), group_size=st.integers(1, 6))
def test_fill_batch_properties(spec, batch_size, max_rounds, n_arms, seed, group_size):
    rng = np.random.default_rng(seed)
    world = World(rng.random(n_arms).round(1), group_size=group_size, seed=seed)
    batch = fill_batch(bc.make("uniform", n_arms=n_arms, seed=seed), world, batch_size, max_rounds=max_rounds,
                       gate=spec)
    gate = parse_gate(spec)
    assert batch.rounds <= max_rounds and batch.arms.size <= batch_size
    assert naive.keep_gate(batch.metric, batch.offsets, gate.kind, gate.lo, gate.hi).all()  # kept: in the band
    assert batch.rollouts == world.rolled == batch.sampled_groups * group_size
    assert batch.sampled_groups >= batch.arms.size + batch.dropped_groups
    assert batch.full == (batch.arms.size == batch_size)
    assert batch.offsets[-1] == batch.rewards.size == batch.metric.size == batch.arms.size * group_size


def test_bad_metric_is_rejected_and_the_scheduler_unchanged():
    scheduler = bc.make("cures", n_arms=8, seed=0)
    before = scheduler.state_dict()
    cases = [
        (lambda arms: {"rewards": np.zeros((len(arms), 4)), "metric": np.full((len(arms), 4), np.nan)},
         ValueError, "'metric' returned by the 'rollout' callable must be finite. Got nan at position 0"),
        (lambda arms: {"rewards": np.zeros((len(arms), 4)), "metric": np.zeros(3)},
         ValueError, r"one value per rollout \(16, like the rewards\). Got 3 values"),
        (lambda arms: {"rewards": np.zeros((len(arms), 4)), "metric": "ok"},
         TypeError, "must be numbers, one per rollout"),
        (lambda arms: {"reward": np.zeros((len(arms), 4))}, ValueError, "allowed: arms, rewards, offsets, metric"),
    ]
    for rollout, error, message in cases:
        with pytest.raises(error, match=message):
            fill_batch(scheduler, rollout, 4, update="batch")
    for key, value in scheduler.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(ValueError, match="'gate' spec 'band:lo=0.9,hi=0.1' of fill_batch is invalid"):
        fill_batch(scheduler, World(np.full(8, 0.5)), 4, gate="band:lo=0.9,hi=0.1")


def test_metric_in_some_rounds_only_is_rejected():
    calls = []

    def rollout(arms):
        calls.append(1)
        rewards = np.ones((len(arms), 4))
        return {"rewards": rewards, "metric": rewards} if len(calls) == 1 else rewards

    with pytest.raises(ValueError, match="metric in some rounds and not in others"):
        fill_batch(bc.make("uniform", n_arms=40, seed=0), rollout, 4, max_rounds=3)


def test_ineligible_groups_are_never_kept_but_the_scheduler_sees_them():
    """A screening rollout (SPEED-RL) marks prompts whose screen was not mixed: whatever the
    gate, they are not kept, and the scheduler still learns from their rollouts."""
    scheduler = bc.make("cures", n_arms=20, seed=0)

    def rollout(arms):
        rewards = np.tile([0.0, 1.0, 1.0, 0.0], (len(arms), 1))
        return {"rewards": rewards, "eligible": arms % 2 == 0}

    batch = fill_batch(scheduler, rollout, 5, gate="none", max_rounds=5)
    assert batch.full and np.all(batch.arms % 2 == 0)
    alpha, beta = scheduler.posterior()
    assert alpha.sum() + beta.sum() - 40 == batch.rollouts > 5 * 4
    with pytest.raises(ValueError, match=r"'eligible' returned by the 'rollout' callable must be a bool array"):
        fill_batch(scheduler, lambda arms: {"rewards": np.ones((len(arms), 2)), "eligible": [1] * len(arms)}, 2)
