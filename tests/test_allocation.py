"""Rollout allocation: exact budget, proportionality, saturation, twin, compiled use."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import naive
from banditcurr import allocation
from banditcurr.allocation import allocate_by_weight, allocate_rollouts, allocate_rollouts_posterior

cases = st.fixed_dictionaries({
    "sigma": st.lists(st.one_of(st.just(0.0), st.floats(0.01, 0.5)), min_size=1, max_size=40),
    "budget": st.integers(2, 400),
    "min_size": st.integers(1, 4),
    "max_size": st.one_of(st.none(), st.integers(4, 64)),
})


@settings(max_examples=150, deadline=None)
@given(case=cases)
def test_allocation_properties(case):
    sigma, budget, low, high = np.array(case["sigma"]), case["budget"], case["min_size"], case["max_size"]
    n_needed = -(-budget // (high or budget))
    if budget < low or n_needed > len(sigma) or n_needed * low > budget:
        with pytest.raises(ValueError):
            allocate_by_weight(sigma, budget, min_size=low, max_size=high)
        return
    sizes = allocate_by_weight(sigma, budget, min_size=low, max_size=high)
    assert sizes.dtype == np.int64 and sizes.sum() == budget
    assert np.all((sizes == 0) | (sizes >= low))
    assert high is None or sizes.max() <= high
    active = sigma > 0
    if active.any() and min(active.sum(), budget // low) * (high or budget) >= budget:
        assert np.all(sizes[~active] == 0)  # saturated prompts get nothing
    expected, shares = naive.allocate(sigma, budget, low, high)
    for x, share in shares.items():  # within one rollout of the continuous allocation
        assert abs(sizes[x] - share) <= 1.0 + 1e-9
    got = sizes[active & (sizes > 0)]
    order = np.argsort(-sigma[active & (sizes > 0)], kind="mergesort")
    assert np.all(np.diff(got[order]) <= 0)  # more spread, more rollouts


def test_matches_twin_exactly():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 50))
        sigma = np.where(rng.random(n) < 0.3, 0.0, rng.random(n) * 0.5)
        low = int(rng.integers(1, 4))
        budget = int(rng.integers(low, 20 * n + low))
        high = None if rng.random() < 0.5 else int(rng.integers(low, 40))
        try:
            sizes = allocate_by_weight(sigma, budget, min_size=low, max_size=high)
        except ValueError:
            continue
        np.testing.assert_array_equal(sizes, naive.allocate(sigma, budget, low, high)[0])


def test_proportional_when_bounds_do_not_bind():
    sizes = allocate_rollouts([0.5, 0.9, 1.0, 0.2], 32)
    np.testing.assert_array_equal(sizes, [13, 8, 0, 11])  # shares 13.3, 8, 0, 10.7
    np.testing.assert_array_equal(allocate_by_weight([1.0, 2.0, 3.0, 4.0], 100), [10, 20, 30, 40])


def test_minimum_and_priority_when_budget_is_short():
    # 6 rollouts, min 2: only the three most informative prompts get any.
    sizes = allocate_rollouts([0.5, 0.05, 0.4, 0.45, 0.1], 6)
    np.testing.assert_array_equal(sizes, [2, 0, 2, 2, 0])


def test_all_saturated_spreads_the_budget_and_cap_brings_saturated_back():
    np.testing.assert_array_equal(allocate_rollouts([1.0, 0.0, 1.0, 1.0], 12), [3, 3, 3, 3])
    # one informative prompt capped at 8: the other 8 go to saturated ones, in index order
    np.testing.assert_array_equal(allocate_rollouts([1.0, 0.5, 0.0, 1.0], 16, max_size=8), [8, 8, 0, 0])


def test_saturation_threshold():
    np.testing.assert_array_equal(allocate_rollouts([0.97, 0.5, 0.02], 16, saturation=0.05), [0, 16, 0])


def test_posterior_saturation_by_confidence():
    # Beta(7, 1): 6 of 6 solved, P(p >= 0.9) = 1 - 0.9^7 = 0.52 >= 0.5: saturated.
    sizes = allocate_rollouts_posterior([7.0, 7.0, 6.0, 1.0], [1.0, 2.0, 1.0, 1.0], 16)
    assert sizes[0] == 0 and np.all(sizes[1:] >= 2) and sizes.sum() == 16
    # the boundary: 5 of 5 solved is P(p >= 0.9) = 1 - 0.9^6 = 0.469, not saturated
    assert allocate_rollouts_posterior([6.0, 1.0], [1.0, 1.0], 8)[0] > 0
    assert allocate_rollouts_posterior([6.0, 1.0], [1.0, 1.0], 8, confidence=0.46)[0] == 0
    # and at the low end: 0 of 6 solved
    assert allocate_rollouts_posterior([1.0, 1.0], [7.0, 1.0], 8)[0] == 0
    # with confidence=None only the posterior mean is tested: 7/8 = 0.875 < 0.9
    assert allocate_rollouts_posterior([7.0, 1.0], [1.0, 1.0], 16, confidence=None)[0] > 0


@njit  # not disk-cached: Numba would key it on this file alone, not on the kernels it calls
def _compiled_caller(alpha, beta, budget, out):
    """What a compiled simulator does: posterior -> sigma -> group sizes."""
    sigma = np.empty(alpha.shape[0])
    allocation._posterior_sigma(alpha, beta, 0.1, 0.5, sigma)
    allocation._allocate(sigma, budget, 2, 0, out)


@njit  # not disk-cached: Numba would key it on this file alone, not on the kernels it calls
def _compiled_from_state(f, n_arms, arms, budget, out):
    """The same from a scheduler's state (f, as the compiled loop holds it)."""
    sigma = np.empty(arms.shape[0])
    allocation._state_posterior_sigma(f, n_arms, arms, 0.1, 0.5, sigma)
    allocation._allocate(sigma, budget, 2, 16, out)


def test_callable_from_compiled_code():
    import banditcurr as bc

    s = bc.make("thompson", n_arms=6, seed=0)
    s.update(np.arange(6), (np.arange(48).reshape(6, 8) % (np.arange(6)[:, None] + 1) == 0).astype(float))
    arms = np.array([5, 0, 3, 2])
    out = np.empty(4, dtype=np.int64)
    _compiled_from_state(s._f, s.n_arms, arms, 40, out)
    np.testing.assert_array_equal(out, allocation.allocate_for(s, arms, 40, max_size=16))


def test_callable_from_compiled_code_with_arrays():
    alpha, beta = np.array([1.0, 9.0, 3.0, 2.0]), np.array([1.0, 1.0, 3.0, 7.0])
    out = np.empty(4, dtype=np.int64)
    _compiled_caller(alpha, beta, 64, out)
    np.testing.assert_array_equal(out, allocate_rollouts_posterior(alpha, beta, 64))


@pytest.mark.parametrize("call, error, message", [
    (lambda: allocate_rollouts([0.5], 1), ValueError, "'budget' argument of allocate_rollouts must be an int >= min_size = 2. Got 1"),
    (lambda: allocate_rollouts([0.5, 0.2], 2.0), TypeError, "'budget' argument of allocate_rollouts must be an int"),
    (lambda: allocate_rollouts([0.5, 1.2], 8), ValueError, "'success' argument must hold finite values >= 0 and <= 1. Got 1.2 at index 1"),
    (lambda: allocate_rollouts([0.5, np.nan], 8), ValueError, "'success' argument must hold finite"),
    (lambda: allocate_rollouts([], 8), ValueError, "non-empty 1-D array"),
    (lambda: allocate_rollouts([0.5, 0.5], 40, max_size=16), ValueError, "cannot be split over 2 prompts"),
    (lambda: allocate_rollouts([0.5], 8, max_size=1), ValueError, "'max_size' argument of allocate_rollouts must be an int >= min_size = 2 or None. Got 1"),
    (lambda: allocate_rollouts([0.5], 8, saturation=0.5), ValueError, r"'saturation' argument of allocate_rollouts must be a float >= 0 and < 0.5"),
    (lambda: allocate_rollouts_posterior([1.0], [0.0], 8), ValueError, "'beta' argument must hold finite values > 0. Got 0.0"),
    (lambda: allocate_rollouts_posterior([1.0, 2.0], [1.0], 8), ValueError, "same shape"),
    (lambda: allocate_rollouts_posterior([1.0], [1.0], 8, confidence=0.0), ValueError, r"'confidence' argument of allocate_rollouts_posterior must be a float > 0 and <= 1 or None"),
    (lambda: allocate_by_weight([1.0, -0.5], 8), ValueError, "'weights' argument must hold finite values >= 0. Got -0.5"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_allocate_for_any_scheduler_with_a_posterior():
    import banditcurr as bc
    from banditcurr.allocation import allocate_for, has_posterior

    rewards = np.array([[1.0] * 8, [1.0, 0.0] * 4, [0.0] * 8])
    for name in ("cures", "thompson", "learnability"):
        s = bc.make(name, n_arms=5, seed=0)
        s.update(np.array([0, 1, 2]), rewards)
        assert has_posterior(s)
        sizes = allocate_for(s, np.arange(5), 30)
        assert sizes.sum() == 30 and sizes[0] == 0 and sizes[2] == 0 and sizes[1] >= 2
    assert not has_posterior(bc.make("learnability", n_arms=5, estimator="window"))
    with pytest.raises(TypeError, match="DumpUCB keeps no Beta posterior"):
        allocate_for(bc.make("dump-ucb", n_arms=5), np.arange(5), 30)
    with pytest.raises(ValueError, match="arm id 5, outside 0..4"):
        allocate_for(bc.make("cures", n_arms=5), np.array([1, 5]), 30)
