"""e2h: the kernels against the plain twin (tests/naive.py), the schedules against the
paper's released formulas worked out by hand, step counting and labels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveE2H
from streams import assert_matches_twin, random_feedback

options = st.fixed_dictionaries({
    "schedule": st.sampled_from(["cosine", "gaussian"]),
    "horizon": st.sampled_from([1, 3, 10]),
    "mu_exp": st.sampled_from([0.5, 1.0, 2.0]),
    "sigma": st.sampled_from([0.5, 0.01, 3.0]),
    "uniform_mix": st.sampled_from([None, 0.0, 0.3]),
})


@settings(max_examples=30, deadline=None)
@given(opts=options, levels=st.booleans(), n_arms=st.integers(1, 15), n_steps=st.integers(1, 12),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, levels, n_arms, n_steps, seed):
    """Same draws (exactly) and the same probs at every step, past the horizon too."""
    rng = np.random.default_rng(seed)
    difficulty = np.sort(rng.integers(2, 6, n_arms)).astype(float) if levels else None
    scheduler = bc.make("e2h", n_arms=n_arms, seed=seed, difficulty=difficulty, **opts)
    twin = NaiveE2H(n_arms, difficulty=difficulty, **opts)

    def check(scheduler, twin, state):
        assert state["step"][0] == twin.step

    assert_matches_twin(scheduler, twin, rng, n_steps, lambda rng, arms: random_feedback(rng, arms, False),
                        max_batch=2 * n_arms + 4, matrix=True, probs_tol=(0.0, 0.0), check=check)


def released_cosine(t, horizon, n):
    """The released _cosine_schedule, transcribed (with its no-op floor)."""
    total = n * (n + 1) / 2.0
    alpha = 0.5 * (1 + np.cos(np.pi * t / horizon))
    p = np.array([alpha * (n - i) / total + (1 - alpha) * (i + 1) / total for i in range(n)])
    p = np.maximum(p, 2 / (n * (n + 1)))
    return p / p.sum()


def released_gaussian(t, horizon, n, mu_exp=0.5, sigma=0.5):
    """The released _gaussian_schedule with min_prob=True, transcribed."""
    mu = (t / horizon) ** mu_exp * (n - 1)
    p_min = 2 / (n * (n + 1))
    q = np.exp(-((np.arange(n) - mu) ** 2) / (2 * sigma ** 2))
    return p_min + (1 - n * p_min) * q / q.sum()


@pytest.mark.parametrize("schedule, law", [("cosine", released_cosine), ("gaussian", released_gaussian)])
def test_defaults_are_the_released_schedules(schedule, law):
    """Levels as arms (K = 4, T = 10): probs at t = 0..10 equal the released laws."""
    s = bc.make("e2h", n_arms=4, seed=0, schedule=schedule, horizon=10)
    for t in range(11):
        np.testing.assert_allclose(s.probs(), law(t, 10, 4), rtol=1e-12)
        s.sample(8)


def test_cosine_by_hand():
    """K = 3: t = 0: p proportional to (3, 2, 1); t = T/2: uniform; t = T: (1, 2, 3)."""
    s = bc.make("e2h", n_arms=3, seed=0, horizon=2)
    for expected in ([3 / 6, 2 / 6, 1 / 6], [1 / 3] * 3, [1 / 6, 2 / 6, 3 / 6], [1 / 6, 2 / 6, 3 / 6]):
        np.testing.assert_allclose(s.probs(), expected, rtol=1e-12)
        s.sample(1)


def test_steps_are_sample_calls_and_feedback_changes_nothing():
    s = bc.make("e2h", n_arms=5, seed=0, schedule="gaussian", horizon=4)
    before = s.probs()
    s.update([0, 1], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(s.probs(), before)
    s.sample(3)
    assert s.state_dict()["step"][0] == 1 and not np.array_equal(s.probs(), before)


def test_prompt_labels_follow_their_level():
    """Prompts labelled by level (two per level): each level's share is the levels' law."""
    s = bc.make("e2h", n_arms=6, seed=0, schedule="gaussian", horizon=10, difficulty=[0, 0, 1, 1, 2, 2])
    p = s.probs()
    np.testing.assert_allclose(p.reshape(3, 2).sum(axis=1), released_gaussian(0, 10, 3), rtol=1e-12)


@pytest.mark.parametrize("step", [-1, 11])
def test_a_step_outside_the_horizon_is_refused(step):
    s = bc.make("e2h", n_arms=3, seed=0, horizon=10)
    state = s.state_dict()
    state["step"] = np.array([step])
    with pytest.raises(ValueError, match=f"step count {step} outside 0..horizon = 10"):
        s.load_state_dict(state)
    assert s.state_dict()["step"][0] == 0


def test_the_step_stops_at_the_horizon():
    s = bc.make("e2h", n_arms=3, seed=0, horizon=2)
    for _ in range(5):
        s.sample(1)
    assert s.state_dict()["step"][0] == 2
