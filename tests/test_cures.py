"""CurES: kernels against the NumPy twin (exact draws), the formula by hand, options."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveCurES
from streams import (assert_matches_twin, assert_pool_mode_distinct_reproducible_fast, check_beta_posterior,
                     random_feedback)

OPTIONS = [
    {},
    {"temperature": 0.05, "scale_by_successes": False},
    {"temperature": 0.2, "decay": 0.7, "uniform_mix": 0.1},
    {"temperature": 0.1, "scale_by_successes": False, "pool_ratio": 2},
    {"threshold": 0.0, "pool_ratio": 3, "decay": 0.5},
]


@settings(max_examples=15, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("cures", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveCurES(n_arms, **hyper)
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 4,
                        lambda rng, arms: random_feedback(rng, arms, ragged, max_size=7, group_size=4),
                        max_batch=2 * n_arms + 3, probs_tol=(1e-12, 1e-15), check=check_beta_posterior)


def test_formula_by_hand():
    s = bc.make("cures", n_arms=3, temperature=1.0, scale_by_successes=False)
    s.update(np.array([0]), np.array([[1.0, 1.0, 1.0, 0.0]]))  # Beta(4, 2): p = 2/3
    sigma = np.array([math.sqrt(2 / 9), 0.5, 0.5])
    expected = np.exp(sigma) / np.exp(sigma).sum()
    np.testing.assert_allclose(s.probs(), expected, rtol=1e-14)
    alpha, beta = s.posterior()
    np.testing.assert_array_equal(alpha, [4, 1, 1])
    np.testing.assert_array_equal(beta, [2, 1, 1])
    np.testing.assert_allclose(s.success_estimate([0, 2]), [2 / 3, 0.5])


def test_released_preset_tilt_is_tiny_and_tempered_tilt_is_not():
    rewards = np.array([[1.0] * 8, [0.0, 1.0] * 4, [0.0] * 8])
    released = bc.make("cures", n_arms=3)
    sharp = bc.make("cures", n_arms=3, temperature=0.05, scale_by_successes=False)
    for s in (released, sharp):
        s.update(np.array([0, 1, 2]), rewards)
    p = released.probs()
    assert p.max() / p.min() <= math.exp(0.005)
    q = sharp.probs()
    assert q[1] > 5 * q[0] and q[1] > 5 * q[2]  # the half-solved prompt dominates


def test_pool_mode_is_distinct_reproducible_and_fast_at_a_million_prompts():
    make = lambda: bc.make("cures", n_arms=1_000_000, seed=3, pool_ratio=8, temperature=0.05,
                           scale_by_successes=False)
    assert_pool_mode_distinct_reproducible_fast(make, group_size=8, update_each_step=False)  # ~0.1 ms a step


def test_pool_mode_follows_the_tilt():
    # 400 prompts: the first 200 half-solved, the rest solved; the pool keeps the tilt.
    s = bc.make("cures", n_arms=400, seed=0, pool_ratio=4, temperature=0.02, scale_by_successes=False)
    rewards = np.where(np.arange(400)[:, None] < 200, np.tile([0.0, 1.0], (400, 4)), 1.0)
    s.update(np.arange(400), rewards)
    picks = np.concatenate([s.sample(16) for _ in range(200)])
    assert np.mean(picks < 200) > 0.9


def test_allocate_uses_the_posterior():
    s = bc.make("cures", n_arms=4)
    s.update(np.array([0, 1, 2]), np.array([[1.0] * 8, [1.0, 0.0] * 4, [0.0] * 7 + [1.0]]))
    sizes = s.allocate(np.array([0, 1, 2, 3]), 40)
    assert sizes.sum() == 40 and sizes[0] == 0  # 8 of 8 solved: saturated
    assert sizes[1] >= sizes[2] >= 2 and sizes[3] >= sizes[2]


@pytest.mark.parametrize("hyper, message", [
    ({"temperature": 0.0}, "'temperature' parameter of CurES must be a float > 0"),
    ({"decay": 0.0}, "'decay' parameter of CurES must be a float > 0 and <= 1"),
    ({"pool_ratio": 0}, "'pool_ratio' parameter of CurES must be an int >= 1 and <= 1048576 or None"),
    ({"scale_by_successes": 1}, "'scale_by_successes' parameter of CurES must be a bool"),
    ({"uniform_mix": 1.0}, "'uniform_mix' parameter of CurES must be a float >= 0 and < 1"),
])
def test_bad_hyperparameters(hyper, message):
    with pytest.raises((TypeError, ValueError), match=message):
        bc.make("cures", n_arms=5, **hyper)


def test_bad_state_and_arms_are_rejected():
    s = bc.make("cures", n_arms=3)
    state = s.state_dict()
    state["alpha"] = np.array([1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="'alpha' must hold finite values >= 1"):
        s.load_state_dict(state)
    with pytest.raises(ValueError, match="arm id 3, outside 0..2"):
        s.posterior([0, 3])
