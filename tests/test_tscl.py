"""tscl: the kernels against the plain twin (tests/naive.py; the sampling teacher's
probabilities by enumerating every joint draw) on random streams, the three teachers
worked out by hand, and bad hyperparameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from banditcurr.tscl import window_slope
from naive import NaiveTSCL
from streams import assert_matches_twin, binary_or_real, random_feedback

options = st.fixed_dictionaries({
    "teacher": st.sampled_from(["sampling", "window", "online"]),
    "policy": st.sampled_from(["epsilon_greedy", "boltzmann"]),
    "epsilon": st.sampled_from([0.0, 0.1, 1.0]),
    "temperature": st.sampled_from([0.0004, 0.05, 1.0]),
    "lr": st.sampled_from([0.1, 1.0]),
    "window": st.sampled_from([2, 3, 4]),
    "abs_slope": st.booleans(),
}).filter(lambda o: o["teacher"] != "sampling" or o["policy"] == "epsilon_greedy")


@settings(max_examples=40, deadline=None)
@given(opts=options, n_arms=st.integers(1, 4), n_steps=st.integers(1, 7), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, n_arms, n_steps, ragged, seed):
    """Same draws (exactly) and same probs (to rounding) on a random stream. K <= 4
    and window <= 4 keep the twin's enumeration of joint draws small."""
    scheduler = bc.make("tscl", n_arms=n_arms, seed=seed, **opts)
    twin = NaiveTSCL(n_arms, **opts)

    def check(scheduler, twin, state):
        np.testing.assert_allclose(state["last_score"], twin.last, rtol=1e-15)

    rewards = binary_or_real(0.7, lambda rng, n: np.round(rng.random(n), 1))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), n_steps,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards, max_size=6),
                        max_batch=2 * n_arms + 4, matrix=not ragged, probs_tol=(1e-9, 1e-13), check=check)


@settings(max_examples=20, deadline=None)
@given(scores=st.lists(st.floats(0, 1), min_size=2, max_size=10), head=st.integers(0, 9),
       first_step=st.integers(1, 100))
def test_window_slope_is_least_squares(scores, head, first_step):
    """The ring's slope equals numpy's least-squares fit, whatever the ring rotation."""
    n = len(scores)
    steps = first_step + np.cumsum(np.arange(1, n + 1) % 3 + 1)  # increasing, uneven gaps
    ring_scores, ring_steps = np.zeros(n), np.zeros(n, dtype=np.int64)
    start = head % n
    for k in range(n):  # oldest entry at `start`, so the next write (head) is `start`
        ring_scores[(start + k) % n], ring_steps[(start + k) % n] = scores[k], steps[k]
    slope = window_slope(ring_scores, ring_steps, start, n)
    assert slope == pytest.approx(np.polyfit(steps, scores, 1)[0], rel=1e-9, abs=1e-9)


def test_window_teacher_by_hand():
    """window teacher, epsilon-greedy 0.1, K = 3. Arm 0's success rates 0.25, 0.5, 1.0
    at steps 1, 2, 3: slope = ((-1)(0.25 - 7/12) + (1)(1 - 7/12)) / 2 = 0.375.
    Arm 1 is scored once (no slope yet: 1, optimistic), arm 2 never (1).
    p = 0.1 / 3 + 0.9 * (0, 1/2, 1/2) = (0.0333333, 0.4833333, 0.4833333)."""
    s = bc.make("tscl", n_arms=3, seed=0, teacher="window")
    s.update([0, 1], [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    s.update([0], [[1.0, 1.0, 0.0, 0.0]])
    s.update([0], [[1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(s.state_dict()["value"], [0.375, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(s.probs(), [0.1 / 3, 0.45 + 0.1 / 3, 0.45 + 0.1 / 3], rtol=1e-12)


def test_online_teacher_by_hand():
    """online teacher, lr 0.1: arm 0's rates 0.25, 0.5, 1.0 give changes 0.25, 0.25, 0.5
    (from 0), Q = 0.025 -> 0.9 * 0.025 + 0.025 = 0.0475 -> 0.9 * 0.0475 + 0.05 = 0.09275.
    Arm 1 (rate 0.5 once): Q = 0.05; it is absent from steps 2 and 3 and keeps it.
    Boltzmann, temperature 0.05: p = softmax((0.09275, 0.05, 0) / 0.05)."""
    s = bc.make("tscl", n_arms=3, seed=0, teacher="online", policy="boltzmann", temperature=0.05)
    s.update([0, 1], [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    s.update([0], [[1.0, 1.0, 0.0, 0.0]])
    s.update([0], [[1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(s.state_dict()["value"], [0.09275, 0.05, 0.0], rtol=1e-12)
    z = np.exp(np.array([0.09275, 0.05, 0.0]) / 0.05)
    np.testing.assert_allclose(s.probs(), z / z.sum(), rtol=1e-12)


def test_sampling_teacher_by_hand():
    """sampling teacher, epsilon 0.1, K = 2. Arm 0's changes: 0.25 (0 -> 0.25), 0.5
    (0.25 -> 0.75); arm 1's: 0.5 (0 -> 0.5), -0.1 (0.5 -> 0.4), |.| = 0.1.
    Joint draws, each 1/4: (0.25, 0.5) arm 1; (0.25, 0.1) arm 0; (0.5, 0.5) a tie, 1/2
    each; (0.5, 0.1) arm 0. P = (2.5 / 4, 1.5 / 4) = (0.625, 0.375);
    p = 0.9 P + 0.05 = (0.6125, 0.3875)."""
    s = bc.make("tscl", n_arms=2, seed=0)
    np.testing.assert_allclose(s.probs(), [0.5, 0.5])  # no history: untried arms first
    s.update([0, 1], np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), [0, 4, 6])
    s.update([0, 1], np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]), [0, 4, 9])
    np.testing.assert_allclose(s.probs(), [0.6125, 0.3875], rtol=1e-12)
    t = bc.make("tscl", n_arms=3, seed=0)
    t.update([0], [[1.0, 0.0]])  # arms 1 and 2 have no history: they come first
    np.testing.assert_allclose(t.probs(), [0.1 / 3, 0.45 + 0.1 / 3, 0.45 + 0.1 / 3], rtol=1e-12)


def test_steps_are_calls():
    assert bc.make("tscl", n_arms=2, seed=0).batch_split_invariant is False
    one = bc.make("tscl", n_arms=2, seed=0, teacher="online")
    two = bc.make("tscl", n_arms=2, seed=0, teacher="online")
    one.update([0, 0], [[1.0, 0.0], [1.0, 1.0]])  # one step: rate 0.75
    two.update([0], [[1.0, 0.0]])  # two steps: 0.5, then 1.0
    two.update([0], [[1.0, 1.0]])
    assert not np.allclose(one.state_dict()["value"], two.state_dict()["value"])


@pytest.mark.parametrize("bad, error, match", [
    ({"teacher": "naive"}, ValueError,
     r"The 'teacher' parameter of TSCL must be one of 'sampling', 'window', 'online'\. Got 'naive' instead"),
    ({"policy": "boltzmann"}, ValueError,
     r"'policy' parameter of TSCL must be 'epsilon_greedy' with teacher='sampling'"),
    ({"policy": "thompson"}, ValueError, r"'policy' parameter of TSCL must be one of 'epsilon_greedy', 'boltzmann'"),
    ({"epsilon": -0.1}, ValueError, r"'epsilon' parameter of TSCL must be a float >= 0 and <= 1\. Got -0\.1"),
    ({"temperature": 0.0}, ValueError, r"'temperature' parameter of TSCL must be a float > 0\. Got 0\.0"),
    ({"lr": 0.0}, ValueError, r"'lr' parameter of TSCL must be a float > 0 and <= 1\. Got 0\.0"),
    ({"window": 1}, ValueError, r"'window' parameter of TSCL must be an int >= 2\. Got 1 instead"),
    ({"abs_slope": 1}, TypeError, r"'abs_slope' parameter of TSCL must be a bool\. Got 1"),
])
def test_bad_hyperparameters_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        bc.make("tscl", n_arms=3, **bad)
