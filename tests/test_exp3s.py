"""exp3s: the kernels against the twin (tests/naive.py, the paper's log-weight form of
Exp3.S) on random streams with every option, the reward scaling and the weight update
worked out by hand, the percentile window, and bad hyperparameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from banditcurr.exp3s import quantile
from naive import NaiveExp3S
from streams import assert_matches_twin, binary_or_real, random_feedback

options = st.fixed_dictionaries({
    "eta": st.sampled_from([1e-3, 0.1, 1.0]),
    "epsilon": st.sampled_from([0.05, 0.3, 1.0]),
    "beta": st.sampled_from([0.0, 0.1]),
    "alpha": st.sampled_from([None, 0.0, 0.01, 0.5]),
    "signal": st.sampled_from(["abs_advantage", "success_gain"]),
    "window": st.sampled_from([1, 3, 50, 1000]),
    "quantiles": st.sampled_from([(0.2, 0.8), (0.0, 1.0), (0.5, 0.6)]),
})


def unpack(opts):
    opts = dict(opts)
    opts["low_quantile"], opts["high_quantile"] = opts.pop("quantiles")
    return opts


@settings(max_examples=30, deadline=None)
@given(opts=options, n_arms=st.integers(1, 12), n_steps=st.integers(1, 6), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, n_arms, n_steps, ragged, seed):
    """Same draws (exactly), same policy (to rounding); the multiset of distinct
    history values is the ring's content at every step."""
    opts = unpack(opts)
    scheduler = bc.make("exp3s", n_arms=n_arms, seed=seed, **opts)
    twin = NaiveExp3S(n_arms, **opts)

    def check(scheduler, twin, state):
        head, fill, distinct = state["history_cursor"]
        assert fill == len(twin.history) and state["rounds"][0] == twin.t
        values, counts = state["history_values"][:distinct], state["history_counts"][:distinct]
        assert np.all(np.diff(values) > 0) and np.all(counts > 0)
        assert np.array_equal(np.repeat(values, counts), np.sort(state["history"][:fill]))
        assert sorted(state["history"][:fill].tolist()) == sorted(twin.history)

    rewards = binary_or_real(0.5, lambda rng, n: np.round(rng.normal(0.5, 0.5, n), 2))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), n_steps,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards, max_size=6),
                        max_batch=2 * n_arms + 4, matrix=not ragged, probs_tol=(1e-9, 1e-13), check=check)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5]) | st.floats(-5, 5, allow_nan=False),
                      min_size=1, max_size=40),
       level=st.floats(0.0, 1.0))
def test_quantile_is_numpys_linear_quantile(values, level):
    """On a multiset stored as distinct values and counts (ties are common)."""
    distinct, counts = np.unique(np.array(values), return_counts=True)
    expected = np.quantile(np.array(values), level)
    got = quantile(distinct, counts.astype(np.int64), len(distinct), len(values), level)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_reward_scaling_and_weights_by_hand():
    """K = 2, eta = 1, epsilon = 0, beta = 0, alpha = 0.1 fixed; three groups.

    round 1, arm 0, rewards 1 0 1 0: r^ = mean |A| = 0.8660239; history (0.8660239):
        q_lo = q_hi = 0.8660239 -> r = 0 -> weights stay (0.5, 0.5)
    round 2, arm 1, rewards 1 1 1 1: r^ = 0; history sorted (0, 0.8660239):
        q_lo = 0.2 * 0.8660239 = 0.1732048, q_hi = 0.6928191; r^ < q_lo -> r = -1
        g_1 = -1 / 0.5 = -2: exp weights (1, e^-2), normalised (0.8807971, 0.1192029)
        sharing: w_i <- 0.9 w_i + 0.1 w_j -> (0.8046377, 0.1953623)
    round 3, arm 0, rewards 1 0 0 0: r^ = 0.375 / 0.500001 = 0.7499985;
        sorted (0, 0.7499985, 0.8660239): q_lo at position 0.4 = 0.2999994,
        q_hi at position 1.6 = 0.7499985 + 0.6 * 0.1160254 = 0.8196137
        r = 2 (0.7499985 - 0.2999994) / 0.5196143 - 1 = 0.7320503
        g_0 = 0.7320503 / 0.8046377, then sharing -> (0.8287623, 0.1712377)
    """
    s = bc.make("exp3s", n_arms=2, seed=0, eta=1.0, epsilon=0.0, alpha=0.1)
    s.update([0], [[1.0, 0.0, 1.0, 0.0]])
    np.testing.assert_allclose(s.probs(), [0.5, 0.5], rtol=1e-15)
    s.update([1], [[1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(s.probs(), [0.8046377, 0.1953623], rtol=1e-6)
    s.update([0], [[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(s.probs(), [0.8287623, 0.1712377], rtol=1e-6)
    state = s.state_dict()
    np.testing.assert_allclose(state["history"][:3], [0.8660239, 0.0, 0.7499985], rtol=1e-6)
    assert state["rounds"][0] == 3 and state["history_cursor"].tolist() == [3, 3, 3]


def test_window_forgets_old_rewards():
    """window = 2: after three groups the percentiles see only the last two rewards."""
    s = bc.make("exp3s", n_arms=2, seed=0, window=2)
    for rewards in ([1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]):
        s.update([0], [rewards])
    state = s.state_dict()
    assert state["history_cursor"].tolist() == [1, 2, 2]
    np.testing.assert_allclose(np.sort(state["history"]), [0.0, 0.7499985], rtol=1e-6)
    np.testing.assert_allclose(state["history_values"], [0.0, 0.7499985], rtol=1e-6)
    assert state["history_counts"].tolist() == [1, 1]


def test_success_gain_signal():
    """success_gain: r^ = success rate - the arm's previous success rate (0 at first)."""
    s = bc.make("exp3s", n_arms=2, seed=0, signal="success_gain")
    s.update([0, 0], [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    state = s.state_dict()
    np.testing.assert_allclose(state["history"][:2], [0.25, 0.5])
    np.testing.assert_allclose(state["last_success"], [0.75, 0.0])


def test_full_exploration_is_uniform():
    s = bc.make("exp3s", n_arms=4, seed=0, epsilon=1.0, eta=1.0)
    s.update([0, 1, 1], [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(s.probs(), [0.25] * 4, rtol=1e-15)


@pytest.mark.parametrize("bad, error, match", [
    ({"eta": 0.0}, ValueError, r"The 'eta' parameter of Exp3S must be a float > 0\. Got 0\.0 instead"),
    ({"epsilon": 1.5}, ValueError, r"'epsilon' parameter of Exp3S must be a float >= 0 and <= 1\. Got 1\.5"),
    ({"beta": -0.1}, ValueError, r"'beta' parameter of Exp3S must be a float >= 0\. Got -0\.1"),
    ({"alpha": 2.0}, ValueError, r"'alpha' parameter of Exp3S must be a float >= 0 and <= 1 or None\. Got 2\.0"),
    ({"signal": "loss"}, ValueError, r"'signal' parameter of Exp3S must be one of 'abs_advantage', 'success_gain'"),
    ({"window": 0}, ValueError, r"'window' parameter of Exp3S must be an int >= 1\. Got 0"),
    ({"window": 2.5}, TypeError, r"'window' parameter of Exp3S must be an int"),
    ({"low_quantile": 0.8, "high_quantile": 0.2}, ValueError,
     r"'low_quantile' parameter of Exp3S must be below 'high_quantile'\. Got low_quantile=0\.8, high_quantile=0\.2"),
])
def test_bad_hyperparameters_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        bc.make("exp3s", n_arms=3, **bad)


def test_a_loaded_history_must_match_its_multiset():
    s = bc.make("exp3s", n_arms=2, seed=0, window=4)
    s.update([0, 1], [[1.0, 0.0], [1.0, 1.0]])
    state = s.state_dict()
    state["history_counts"] = np.array([2, 1, 0, 0])  # three entries counted, two in the ring
    with pytest.raises(ValueError, match=r"history \(head=2, fill=2, distinct=2\) inconsistent with window=4"):
        s.load_state_dict(state)
