"""Knapsack-RL allocation: the kernel against its twin (same sizes), budget spent
exactly, bounds, optimality against brute force, bad input, compiled use."""

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import banditcurr as bc
import naive
from banditcurr.knapsack import _allocate_knapsack

cases = st.fixed_dictionaries({
    "success": st.lists(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)), min_size=1, max_size=12),
    "budget": st.integers(1, 60),
    "min_size": st.integers(1, 4),
    "max_size": st.one_of(st.none(), st.integers(4, 20)),
})


def feasible(n, budget, low, high):
    n_needed = -(-budget // (high or budget))
    return budget >= low and n_needed <= n and n_needed * low <= budget


@settings(max_examples=150, deadline=None)
@given(case=cases)
def test_knapsack_matches_twin_spends_the_budget_and_respects_bounds(case):
    success, budget, low, high = case["success"], case["budget"], case["min_size"], case["max_size"]
    if not feasible(len(success), budget, low, high):
        with pytest.raises(ValueError):
            bc.allocate_knapsack(success, budget, min_size=low, max_size=high)
        return
    sizes = bc.allocate_knapsack(success, budget, min_size=low, max_size=high)
    expected, _ = naive.allocate_knapsack(success, budget, low, high)
    np.testing.assert_array_equal(sizes, expected)
    assert sizes.dtype == np.int64 and sizes.sum() == budget
    assert np.all((sizes == 0) | ((sizes >= low) & (sizes <= (high or budget))))


@settings(max_examples=60, deadline=None)
@given(success=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3), budget=st.integers(2, 16),
       low=st.integers(1, 3), high=st.one_of(st.none(), st.integers(3, 8)))
def test_knapsack_is_optimal_against_brute_force(success, budget, low, high):
    if not feasible(len(success), budget, low, high):
        return
    options = [0] + list(range(low, min(high or budget, budget) + 1))
    best = max(sum(naive.knapsack_value(p, n) for p, n in zip(success, sizes))
               for sizes in itertools.product(options, repeat=len(success)) if sum(sizes) == budget)
    got = bc.allocate_knapsack(success, budget, min_size=low, max_size=high)
    assert sum(naive.knapsack_value(p, n) for p, n in zip(success, got)) == pytest.approx(best, rel=1e-12, abs=1e-15)


def test_value_is_the_papers_and_the_example_holds():
    p = 0.3
    assert naive.knapsack_value(p, 5) == pytest.approx((1 - p**5 - 0.7**5) * p * 0.7**2, rel=1e-14)
    np.testing.assert_array_equal(bc.allocate_knapsack([0.5, 0.9, 1.0, 0.2], 32), [8, 6, 0, 18])


def test_saturated_prompts_get_rollouts_only_when_the_budget_needs_them():
    sizes = bc.allocate_knapsack([1.0, 0.5, 0.0, 0.5], 16, max_size=8)
    np.testing.assert_array_equal(sizes[[0, 2]], [0, 0])
    sizes = bc.allocate_knapsack([1.0, 0.0, 1.0], 6, max_size=4)  # all worth nothing: still spent
    assert sizes.sum() == 6


@pytest.mark.parametrize("kwargs, error, message", [
    ({"success": [0.5, 1.2], "budget": 8}, ValueError, "'success' argument must hold finite values >= 0 and <= 1"),
    ({"success": [], "budget": 8}, ValueError, "'success' argument must be a non-empty 1-D array"),
    ({"success": [0.5], "budget": 0}, ValueError, "'budget'"),
    ({"success": [0.5], "budget": 8, "min_size": 0}, ValueError, "'min_size'"),
    ({"success": [0.5], "budget": 8, "max_size": 4}, ValueError, "cannot be split over 1 prompts"),
    ({"success": [0.5], "budget": 8.5}, TypeError, "'budget'"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bc.allocate_knapsack(**kwargs)


def test_kernel_is_callable_from_compiled_code():
    @njit
    def run(success, out):
        _allocate_knapsack(success, 24, 2, 0, out)

    out = np.empty(3, dtype=np.int64)
    run(np.array([0.5, 0.1, 0.95]), out)
    np.testing.assert_array_equal(out, bc.allocate_knapsack([0.5, 0.1, 0.95], 24))


def test_allocate_knapsack_for_reads_the_posterior_means():
    s = bc.make("thompson", n_arms=5, seed=0)
    s.update(np.array([0, 1, 2]), np.array([[1.0, 0.0, 0.0, 0.0], [1.0] * 4, [0.0] * 4]))
    arms = np.array([0, 1, 2, 3])
    state = s.state_dict()
    means = state["alpha"][arms] / (state["alpha"][arms] + state["beta"][arms])
    np.testing.assert_array_equal(bc.allocate_knapsack_for(s, arms, 24, max_size=12),
                                  bc.allocate_knapsack(means, 24, max_size=12))
    with pytest.raises(TypeError, match="DumpUCB keeps no Beta posterior"):
        bc.allocate_knapsack_for(bc.make("dump-ucb", n_arms=5), arms, 24)
    with pytest.raises(ValueError, match="arm id 5, outside 0..4"):
        bc.allocate_knapsack_for(s, np.array([0, 5]), 24)


large_cases = st.fixed_dictionaries({  # repeated and saturated p (ties, flat V)
    "success": st.lists(st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.25, 0.75, 0.1]), st.floats(0.0, 1.0)),
                        min_size=1, max_size=40),
    "budget": st.integers(1, 400),
    "min_size": st.integers(1, 6),
    "max_size": st.integers(6, 90),
})


@settings(max_examples=40, deadline=None)
@given(case=large_cases)
def test_fast_kernel_equals_the_plain_dp_on_larger_inputs(case):
    """The vectorised, bounded kernel makes the plain DP's choices exactly."""
    success, budget, low, high = case["success"], case["budget"], case["min_size"], case["max_size"]
    if not feasible(len(success), budget, low, high):
        return
    expected, _ = naive.allocate_knapsack(success, budget, low, high)
    np.testing.assert_array_equal(bc.allocate_knapsack(success, budget, min_size=low, max_size=high), expected)


def test_fast_kernel_equals_the_plain_dp_on_saturated_and_repeated_prompts():
    success = [0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.3, 0.5, 0.7, 0.5] * 3
    expected, _ = naive.allocate_knapsack(success, 300, 2, 90)
    np.testing.assert_array_equal(bc.allocate_knapsack(success, 300, max_size=90), expected)
