"""sec: the kernels against the plain twin (tests/naive.py) on random streams with
every option, SEC's update worked out by hand, and bad hyperparameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveSEC
from streams import assert_matches_twin, random_feedback

options = st.fixed_dictionaries({
    "alpha": st.sampled_from([0.5, 1.0, 0.2]),
    "temperature": st.sampled_from([1.0, 0.4, 0.05]),
    "decay_absent": st.booleans(),
})


def random_rewards(rng, rollout_arms):
    """Binary rewards, or reals rounded to 2 decimals (ties between groups happen)."""
    if rng.random() < 0.5:
        return rng.integers(0, 2, len(rollout_arms)).astype(float)
    return np.round(rng.normal(0.0, 1.0, len(rollout_arms)), 2)


@settings(max_examples=30, deadline=None)
@given(opts=options, n_arms=st.integers(1, 15), n_steps=st.integers(1, 8), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, n_arms, n_steps, ragged, seed):
    """Same draws (exactly) and same probs (to rounding) on a random stream."""
    scheduler = bc.make("sec", n_arms=n_arms, seed=seed, **opts)
    twin = NaiveSEC(n_arms, **opts)

    def check(scheduler, twin, state):
        np.testing.assert_allclose(state["q"], twin.q, rtol=1e-12, atol=1e-15)

    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), n_steps,
                        lambda rng, arms: random_feedback(rng, arms, ragged, random_rewards, max_size=6),
                        max_batch=2 * n_arms + 4, matrix=not ragged, probs_tol=(1e-9, 1e-13), check=check)


def test_sec_update_by_hand():
    """Preset (alpha 0.5, tau 1, decay_absent), K = 3, two steps.

    step 1: arm 0 rewards 1 0 1 0: mean 0.5, std sqrt(1/3), |A| = 0.5 / (0.5773503 + 1e-6)
            = 0.8660239 for all -> r = 0.8660239; arm 1 rewards 2 2 2 2: |A| = 0 -> r = 0
            Q = (0.5 * 0.8660239, 0.5 * 0, 0) = (0.4330120, 0, 0)
    step 2: arm 1 rewards 1 0 0 0: mean 0.25, std 0.5, |A| = (0.75, 0.25, 0.25, 0.25) / 0.500001,
            r = 0.375 / 0.500001 = 0.7499985 -> Q_1 = 0.3749993
            absent arms decay: Q_0 = 0.5 * 0.4330120 = 0.2165060, Q_2 = 0
            p = softmax(0.2165060, 0.3749993, 0) = (0.3359005, 0.3935895, 0.2705100)
    without decay_absent Q_0 stays 0.4330120: p = (0.3857741, 0.3640311, 0.2501948)
    """
    expected = {True: ([0.2165060, 0.3749993, 0.0], [0.3359005, 0.3935895, 0.2705100]),
                False: ([0.4330120, 0.3749993, 0.0], [0.3857741, 0.3640311, 0.2501948])}
    for decay, (q, p) in expected.items():
        s = bc.make("sec", n_arms=3, seed=0, decay_absent=decay)
        np.testing.assert_allclose(s.probs(), [1 / 3] * 3, rtol=1e-15)
        s.update([0, 1], [[1.0, 0.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
        np.testing.assert_allclose(s.state_dict()["q"], [0.4330120, 0.0, 0.0], rtol=1e-6)
        s.update([1], [[1.0, 0.0, 0.0, 0.0]])
        np.testing.assert_allclose(s.state_dict()["q"], q, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(s.probs(), p, rtol=1e-6)


def test_category_reward_is_a_mean_over_responses():
    """Two groups of arm 0 in one step, sizes 2 and 4 (as released: a mean over responses).

    rewards 1 0:      |A| = 0.5 / (0.7071068 + 1e-6) = 0.7071058 (twice)
    rewards 1 0 0 0:  |A| = (0.75, 0.25, 0.25, 0.25) / 0.500001, sum 2.999994
    r = (2 * 0.7071058 + 2.999994) / 6 = 0.7357009 (the mean of group means would be 0.7285521)
    Q_0 = 0.5 * 0.7357009 = 0.3678505
    """
    s = bc.make("sec", n_arms=2, seed=0)
    s.update([0, 0], np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]), [0, 2, 6])
    np.testing.assert_allclose(s.state_dict()["q"], [0.3678505, 0.0], rtol=1e-6)


def test_steps_are_calls():
    """SEC's EMA runs once per call: one call of two groups differs from two calls."""
    assert bc.make("sec", n_arms=2, seed=0).batch_split_invariant is False
    one, two = bc.make("sec", n_arms=2, seed=0), bc.make("sec", n_arms=2, seed=0)
    one.update([0, 0], [[1.0, 0.0], [1.0, 1.0]])
    two.update([0], [[1.0, 1.0]])  # r = 0:          Q = 0
    two.update([0], [[1.0, 0.0]])  # r = 0.7071058:  Q = 0.3535529 (one call: r = 0.3535529, Q = 0.1767765)
    assert not np.allclose(one.state_dict()["q"], two.state_dict()["q"])


@pytest.mark.parametrize("bad, error, match", [
    ({"alpha": 0.0}, ValueError, r"The 'alpha' parameter of SEC must be a float > 0 and <= 1\. Got 0\.0 instead"),
    ({"alpha": 1.5}, ValueError, r"'alpha' parameter of SEC .* Got 1\.5"),
    ({"temperature": 0.0}, ValueError, r"'temperature' parameter of SEC must be a float > 0\. Got 0\.0"),
    ({"temperature": float("nan")}, ValueError, r"'temperature' parameter of SEC"),
    ({"decay_absent": "yes"}, TypeError, r"'decay_absent' parameter of SEC must be a bool\. Got 'yes'"),
    ({"tau": 1.0}, TypeError, r"SEC got unknown hyperparameter\(s\) \['tau'\]"),
])
def test_bad_hyperparameters_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        bc.make("sec", n_arms=3, **bad)
