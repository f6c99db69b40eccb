"""Two-level scheduling: kernels against the composed twins, routing, resume, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveCurES, NaiveDumpUCB, NaiveTwoLevel, NaiveUniform, Xoshiro

GROUPS = np.array([2, 0, 1, 0, 2, 2, 1, 0, 0, 3, 2, 0, 1, 3, 0, 2, 0, 0, 1, 3])  # 4 distributions, unsorted

PAIRS = [
    ("dump-ucb", {}, "uniform", {}),
    ("dump-ucb", {"window": 20, "temperature": 0.3}, "cures", {"temperature": 0.1, "scale_by_successes": False}),
    ("cures", {"temperature": 0.1}, "cures", {"pool_ratio": 1, "decay": 0.8}),
    ("uniform", {}, "dump-ucb", {"c": 0.5}),
]


def twin_of(name, n_arms, hyper):
    return {"uniform": lambda: NaiveUniform(n_arms), "dump-ucb": lambda: NaiveDumpUCB(n_arms, **hyper),
            "cures": lambda: NaiveCurES(n_arms, **hyper)}[name]()


def feedback(rng, arms):
    sizes = rng.integers(1, 6, len(arms))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    success = np.repeat((arms % 4) / 3.0, sizes)
    return (rng.random(offsets[-1]) < success).astype(float), offsets


@settings(max_examples=12, deadline=None)
@given(pair=st.sampled_from(range(len(PAIRS))), seed=st.integers(0, 2**32 - 1))
def test_kernels_match_composed_twins(pair, seed):
    top, top_params, inner, inner_params = PAIRS[pair]
    s = bc.make("two-level", n_arms=len(GROUPS), groups=GROUPS, top=top, inner=inner,
                top_params=top_params, inner_params=inner_params, seed=seed)
    sizes = np.bincount(GROUPS)
    twin = NaiveTwoLevel(GROUPS, twin_of(top, 4, top_params),
                         [twin_of(inner, int(n), inner_params) for n in sizes])
    stream = Xoshiro(s.state_dict()["rng"])
    rng = np.random.default_rng(seed)
    for _ in range(5):
        batch = int(rng.integers(1, 30))
        arms = s.sample(batch)
        np.testing.assert_array_equal(arms, twin.sample(stream, batch))
        rewards, offsets = feedback(rng, arms)
        s.update(arms, rewards, offsets)
        twin.update(arms, rewards, offsets)
        np.testing.assert_allclose(s.probs(), twin.probs(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(s.distribution_probs(), twin.top.probs(), rtol=1e-10)


def test_probs_factorise_and_sum_to_one():
    s = bc.make("two-level", n_arms=len(GROUPS), groups=GROUPS, inner="cures",
                inner_params={"temperature": 0.1, "scale_by_successes": False}, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arms = s.sample(16)
        s.update(arms, *feedback(rng, arms))
    p, p_dist = s.probs(), s.distribution_probs()
    assert abs(p.sum() - 1.0) < 1e-12 and np.all(p > 0)
    np.testing.assert_allclose(np.bincount(GROUPS, weights=p), p_dist, rtol=1e-12)


def test_slots_of_one_distribution_hold_distinct_prompts_when_they_can():
    groups = np.repeat(np.arange(3), 50)
    s = bc.make("two-level", n_arms=150, groups=groups, top="uniform", inner="cures", seed=1)
    arms = s.sample(60)  # about 20 per distribution of 50
    assert len(np.unique(arms)) == 60


def test_state_dict_round_trip_gives_the_same_future():
    s = bc.make("two-level", n_arms=len(GROUPS), groups=GROUPS, inner="cures", seed=5)
    rng = np.random.default_rng(1)
    arms = s.sample(12)
    s.update(arms, *feedback(rng, arms))
    state = s.state_dict()
    future = [s.sample(9) for _ in range(3)]
    resumed = bc.make("two-level", n_arms=len(GROUPS), groups=GROUPS, inner="cures", seed=99)
    resumed.load_state_dict(state)
    for expected in future:
        np.testing.assert_array_equal(resumed.sample(9), expected)
    other = bc.make("two-level", n_arms=len(GROUPS), groups=np.roll(GROUPS, 1), inner="cures")
    with pytest.raises(ValueError, match="different prompt -> distribution mapping"):
        other.load_state_dict(state)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"top": "two-level"}, ValueError, "cannot itself be two-level"),
    ({"inner": bc.TwoLevel}, ValueError, "cannot itself be two-level"),
    ({"inner": "thompsn"}, ValueError, "'inner' argument of TwoLevel must be one of .*'cures', .*Got 'thompsn'"),
    ({"top": 3}, ValueError, "'top' argument of TwoLevel must be one of .*'cures', .*Got 3 instead"),
    ({"groups": np.arange(5)}, ValueError, r"'groups' argument must be integers of shape \(n_arms,\) = \(20,\)"),
    ({"groups": np.where(GROUPS == 1, 4, GROUPS)}, ValueError, "distribution 1 has no prompt"),
    ({"groups": GROUPS - 1}, ValueError, "distribution id -1"),
    ({"top_params": {"window": 0}}, ValueError, "'window' parameter of DumpUCB must be an int >= 1"),
    ({"inner_params": {"tau": 1.0}}, TypeError, r"CurES got unknown hyperparameter\(s\) \['tau'\]"),
    ({"inner_params": [1]}, TypeError, "'inner_params' argument of TwoLevel must be a dict"),
])
def test_bad_configuration(kwargs, error, message):
    arguments = {"groups": GROUPS, "inner": "cures", **kwargs}
    with pytest.raises(error, match=message):
        bc.make("two-level", n_arms=len(GROUPS), **arguments)


@pytest.mark.parametrize("name", [n for n in bc.available() if n != "two-level"])
def test_every_plain_scheduler_works_at_both_levels(name):
    rng = np.random.default_rng(0)
    for role in ("top", "inner"):
        s = bc.make("two-level", n_arms=len(GROUPS), groups=GROUPS, seed=1, **{role: name})
        for batch in (3, 25):
            arms = s.sample(batch)
            assert arms.shape == (batch,) and arms.min() >= 0 and arms.max() < len(GROUPS)
            s.update(arms, *feedback(rng, arms))
        p = s.probs()
        assert abs(p.sum() - 1.0) < 1e-9 and np.all(p >= 0)
        np.testing.assert_allclose(np.bincount(GROUPS, weights=p), s.distribution_probs(), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("top", ["dump-ucb", "uniform", "cures"])
def test_prompt_batches_that_overflow_a_distribution_match_the_twin(top):
    """Groups of 2 prompts, batches of up to K: the top level often draws a distribution
    more often than it has prompts; the redraw rule (docs/contract.md) matches the twin
    and every batch holds distinct prompts."""
    groups = np.array([0, 0, 1, 1, 2, 2])
    s = bc.make("two-level", n_arms=6, groups=groups, top=top, inner="uniform", seed=5)
    twin = NaiveTwoLevel(groups, twin_of(top, 3, {}), [NaiveUniform(2) for _ in range(3)])
    stream = Xoshiro(s.state_dict()["rng"])
    rng = np.random.default_rng(5)
    for _ in range(60):
        batch = int(rng.integers(1, 7))
        arms = s.sample(batch)
        np.testing.assert_array_equal(arms, twin.sample(stream, batch))
        assert len(np.unique(arms)) == batch
        rewards, offsets = feedback(rng, arms)
        s.update(arms, rewards, offsets)
        twin.update(arms, rewards, offsets)
