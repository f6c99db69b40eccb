"""adarft: the kernels against the plain twin (tests/naive.py) on random streams, the
target rule worked out by hand, difficulty labels (validation, round trip)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveAdaRFT
from streams import assert_matches_twin, binary_or_real, random_feedback

options = st.fixed_dictionaries({
    "beta": st.sampled_from([0.5, 0.2, 0.8]),
    "alpha": st.sampled_from([2.0, 0.5, 10.0]),
    "eta": st.sampled_from([50.0, 10.0, 100.0]),
    "initial_target": st.sampled_from([0.0, 30.0, 100.0]),
    "bounds": st.sampled_from([(None, None), (0.0, 100.0), (2.0, 3.0)]),
})
labels = st.sampled_from(["index", "integer levels", "reals"])


def make_labels(kind, n_arms, rng):
    if kind == "index":
        return None
    if kind == "integer levels":  # ties: several arms at each label
        return rng.integers(0, 4, n_arms).astype(float)
    return np.round(rng.uniform(0.0, 100.0, n_arms), 1)


@settings(max_examples=30, deadline=None)
@given(opts=options, kind=labels, n_arms=st.integers(1, 15), n_steps=st.integers(1, 8), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, kind, n_arms, n_steps, ragged, seed):
    """Same draws (exactly) and the same target and probs on a random stream."""
    rng = np.random.default_rng(seed)
    difficulty = make_labels(kind, n_arms, rng)
    opts = dict(opts)
    opts["d_min"], opts["d_max"] = opts.pop("bounds")
    scheduler = bc.make("adarft", n_arms=n_arms, seed=seed, difficulty=difficulty, **opts)
    twin = NaiveAdaRFT(n_arms, difficulty=difficulty, **opts)

    def check(scheduler, twin, state):
        assert state["target"][0] == twin.target

    rewards = binary_or_real(0.7, lambda rng, n: np.round(rng.normal(0.5, 0.5, n), 2))
    assert_matches_twin(scheduler, twin, rng, n_steps, lambda rng, arms: random_feedback(rng, arms, ragged, rewards),
                        max_batch=2 * n_arms + 4, matrix=not ragged, probs_tol=(0.0, 0.0), check=check)


def test_target_rule_by_hand():
    """Labels 0..100 in steps of 10 (K = 11), defaults (beta 0.5, alpha 2, eta 50, T0 = 0).

    step 1: rewards all 1: R = 1, T = 0 + 50 tanh(1) = 38.0797078 -> nearest label 40
    step 2: rewards 1 0 0 0: R = 0.25, T = 38.0797078 + 50 tanh(-0.5) = 38.0797078 - 23.1058579
            = 14.9738499 -> nearest 10; the batch of 3 nearest: 10, 20, 0
    step 3: rewards 0: R = 0, T = 14.9738499 - 38.0797078 < 0 -> clipped to 0
    """
    s = bc.make("adarft", n_arms=11, seed=0, difficulty=np.arange(0.0, 101.0, 10.0))
    assert s.state_dict()["target"][0] == 0.0 and np.array_equal(s.sample(2), [0, 1])
    s.update([0, 1], np.ones((2, 4)))
    np.testing.assert_allclose(s.state_dict()["target"], [38.0797078], rtol=1e-8)
    assert s.probs()[4] == 1.0
    s.update([4], [[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(s.state_dict()["target"], [14.9738499], rtol=1e-8)
    assert np.array_equal(s.sample(3), [1, 2, 0]) and np.array_equal(s.sample(20), np.ones(20))
    s.update([1], [[0.0, 0.0]])
    assert s.state_dict()["target"][0] == 0.0


def test_index_labels_scale_eta_to_the_range():
    """Default labels 0..K-1: eta = 50 moves T by at most half the range per step."""
    s = bc.make("adarft", n_arms=12, seed=0)
    s.update([0], [[1.0, 1.0]])
    np.testing.assert_allclose(s.state_dict()["target"], [5.5 * np.tanh(1.0)], rtol=1e-12)


def test_ties_at_the_target_are_shared():
    """Arms with equal labels are equally near: probs splits evenly, draws take both."""
    s = bc.make("adarft", n_arms=4, seed=3, difficulty=[0.0, 0.0, 5.0, 5.0])
    np.testing.assert_array_equal(s.probs(), [0.5, 0.5, 0.0, 0.0])
    assert set(s.sample(2)) == {0, 1}
    assert set(np.concatenate([s.sample(1) for _ in range(40)])) == {0, 1}


@pytest.mark.parametrize("difficulty, error, match", [
    ([1.0, 2.0], ValueError, r"shape \(n_arms,\) = \(3,\)"),
    ([1.0, np.nan, 2.0], ValueError, "finite floats"),
    ([1.0, 2.0, 1e13], ValueError, "within"),
    (["a", "b", "c"], TypeError, "array of 3 floats"),
])
def test_bad_difficulty_is_refused(difficulty, error, match):
    with pytest.raises(error, match=match):
        bc.make("adarft", n_arms=3, difficulty=difficulty)


def test_difficulty_round_trips_with_the_state():
    s = bc.make("adarft", n_arms=4, seed=1, difficulty=[10.0, 50.0, 90.0, 100.0])
    s.update([0], [[1.0, 1.0]])
    state = s.state_dict()
    resumed = bc.AdaRFT.from_state_dict(state)
    np.testing.assert_array_equal(resumed.difficulty(), [10.0, 50.0, 90.0, 100.0])
    assert np.array_equal(resumed.sample(2), s.sample(2))


def test_release_bounds_give_the_release_step():
    """d_min = 0, d_max = 100 (the release's flags) with labels 20..60: T starts at 0
    and moves by eta = 50 tanh(...), whatever the labels' own range."""
    s = bc.make("adarft", n_arms=3, seed=0, difficulty=[20.0, 40.0, 60.0], d_min=0, d_max=100)
    assert s.state_dict()["target"][0] == 0.0 and s.probs()[0] == 1.0
    s.update([0], [[1.0, 1.0]])
    np.testing.assert_allclose(s.state_dict()["target"], [50 * np.tanh(1.0)], rtol=1e-12)


@pytest.mark.parametrize("bounds", [{"d_min": 0.0}, {"d_max": 1.0}, {"d_min": 2.0, "d_max": 2.0}])
def test_bounds_come_together_and_in_order(bounds):
    with pytest.raises(ValueError, match="'d_min' and 'd_max' parameters of AdaRFT must both be None"):
        bc.make("adarft", n_arms=3, **bounds)


def test_a_target_outside_the_labels_is_refused_unchanged():
    s = bc.make("adarft", n_arms=3, seed=0)
    state = s.state_dict()
    state["target"] = np.array([7.0])
    with pytest.raises(ValueError, match="target difficulty 7.0 outside"):
        s.load_state_dict(state)
    assert s.state_dict()["target"][0] == 0.0


def test_the_simulator_passes_the_scenarios_labels():
    """Prompt level: labels = each prompt's distribution (default) or its own difficulty;
    distribution level: the distribution index. e2h's horizon = the run's steps."""
    from banditcurr import sims
    from banditcurr.sims.simulate import prepare

    scenario = sims.make_scenario("kk12")
    setup = prepare(scenario, "adarft", seeds=1, steps=5)
    assert setup.arm_level == "prompt"
    np.testing.assert_array_equal(setup.template.difficulty(), scenario.train_dist)
    setup = prepare(scenario, "adarft:difficulty=prompts", seeds=1, steps=5)
    np.testing.assert_array_equal(setup.template.difficulty(), scenario.train_difficulty)
    setup = prepare(scenario, "adarft@distribution", seeds=1, steps=5)
    np.testing.assert_array_equal(setup.template.difficulty(), np.arange(12))
    assert prepare(scenario, "e2h", seeds=1, steps=7).template.hyperparameters["horizon"] == 7
    with pytest.raises(ValueError, match="prompt level"):
        prepare(scenario, "adarft@distribution:difficulty=prompts", seeds=1, steps=5)
    with pytest.raises(ValueError, match="one of"):
        prepare(scenario, "adarft:difficulty=hardness", seeds=1, steps=5)
