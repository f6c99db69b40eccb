"""Thompson (MoPPS): kernels against the twin (exact draws), Cheng's Beta sampler and the
Beta CDF against scipy, the formulas by hand, the selection law, pool mode, bad input."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import betainc

import banditcurr as bc
from banditcurr._posterior import beta_cdf, beta_draw, log_beta_norm
from naive import NaiveThompson, Xoshiro, cheng_beta, thompson_win_probabilities
from streams import (assert_matches_twin, assert_pool_mode_distinct_reproducible_fast, check_beta_posterior,
                     random_feedback)

OPTIONS = [
    {},
    {"decay": 0.5},
    {"target": 0.3, "prior_alpha": 0.5, "prior_beta": 2.0},
    {"mode": "variance", "pool_ratio": 2},
    {"threshold": 0.0, "pool_ratio": 3, "decay": 0.8, "target": 0.9},
]


@settings(max_examples=15, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("thompson", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveThompson(n_arms, **hyper)
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 4,
                        lambda rng, arms: random_feedback(rng, arms, ragged, group_size=4),
                        max_batch=2 * n_arms + 3, check=check_beta_posterior)
    if n_arms <= 10:  # quadrature against scipy's adaptive quadrature
        np.testing.assert_allclose(scheduler.probs(), twin.probs(), atol=2e-3)


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (0.3, 0.3), (0.2, 4.0), (6.0, 0.7), (1.0, 9.0),
                                  (2.5, 1.5), (40.0, 900.0), (3000.0, 3.0)])
def test_cheng_draws_follow_the_beta_law_and_match_the_twin(a, b):
    state = bc.make("thompson", n_arms=1, seed=11)._rng.copy()
    twin = Xoshiro(state)
    assert [beta_draw(state, a, b) for _ in range(50)] == [cheng_beta(twin, a, b) for _ in range(50)]
    draws = np.array([beta_draw(state, a, b) for _ in range(20_000)])
    assert stats.kstest(draws, stats.beta(a, b).cdf).pvalue > 1e-3


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (0.5, 0.5), (0.1, 3.0), (3.0, 5.0), (500.0, 700.0),
                                  (2e4, 3.0), (1e4, 1e4), (1e5, 3e5)])
def test_beta_cdf_equals_scipy(a, b):
    x = np.linspace(0.0, 1.0, 401)
    got = np.array([beta_cdf(a, b, log_beta_norm(a, b), v) for v in x])
    np.testing.assert_allclose(got, betainc(a, b, x), rtol=1e-9, atol=1e-12)


def test_posterior_update_by_hand():
    s = bc.make("thompson", n_arms=3, decay=0.5, prior_alpha=2.0, prior_beta=1.0)
    rewards = np.array([[1.0, 0.0, 1.0, 1.0], [0.2, 0.7, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    s.update(np.array([0, 1, 0]), rewards)  # arm 0: two groups, decayed once
    state = s.state_dict()
    np.testing.assert_array_equal(state["alpha"], [0.5 * 2 + 0.5 * 2 + 3 + 4, 0.5 * 2 + 0.5 * 2 + 1, 2.0])
    np.testing.assert_array_equal(state["beta"], [0.5 * 1 + 0.5 * 1 + 1 + 0, 1.0 + 3, 1.0])
    s.update(np.array([1]), np.array([[1.0, 1.0]]))  # arm 0 absent: unchanged
    state = s.state_dict()
    assert state["alpha"][0] == 9.0 and state["alpha"][1] == 0.5 * 3 + 0.5 * 2 + 2
    assert state["beta"][1] == 0.5 * 4 + 0.5 * 1


def test_win_probabilities_by_hand():
    # Beta(1, 1) and Beta(2, 1) with target 0: P(U < V) for V with density 2x is 2/3.
    s = bc.make("thompson", n_arms=2, target=0.0)
    s.update(np.array([1]), np.array([[1.0]]))
    np.testing.assert_allclose(s.probs(), [2 / 3, 1 / 3], atol=2e-5)
    # With target 1/2 both |theta - 1/2| are uniform on [0, 1/2]: a fair race.
    s = bc.make("thompson", n_arms=2)
    s.update(np.array([1]), np.array([[1.0]]))
    np.testing.assert_allclose(s.probs(), [0.5, 0.5], atol=2e-5)
    # Identical posteriors share the win equally, exactly.
    s = bc.make("thompson", n_arms=5)
    s.update(np.array([0, 1]), np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    p = s.probs()
    assert p[0] == p[1] and p[2] == p[3] == p[4] and p[0] > p[2]  # Beta(2, 3) sits nearer 1/2


def test_probs_is_the_law_of_each_distribution_level_slot():
    s = bc.make("thompson", n_arms=4, seed=5, target=0.4)
    s.update(np.arange(4), np.array([[1.0] * 3 + [0.0] * 5, [1.0] * 5 + [0.0] * 3, [1.0] * 7 + [0.0],
                                     [0.0] * 8]))
    p = s.probs()
    np.testing.assert_allclose(p, thompson_win_probabilities(s.state_dict()["alpha"], s.state_dict()["beta"], 0.4),
                               atol=1e-4)
    counts = np.bincount(np.concatenate([s.sample(400) for _ in range(10)]), minlength=4)
    assert stats.chisquare(counts, 4000 * p).pvalue > 1e-3


def test_probs_is_permutation_equivariant_bit_for_bit():
    rng = np.random.default_rng(1)
    alpha_beta = rng.integers(1, 60, size=(2, 9)).astype(float)
    perm = rng.permutation(9)
    out, out_perm = np.empty(9), np.empty(9)
    from banditcurr.thompson import win_probabilities
    win_probabilities(alpha_beta[0], alpha_beta[1], 0.5, out)
    win_probabilities(alpha_beta[0][perm], alpha_beta[1][perm], 0.5, out_perm)
    np.testing.assert_array_equal(out[perm], out_perm)


def test_variance_mode_is_target_one_half():
    a = bc.make("thompson", n_arms=30, seed=2, mode="variance")
    b = bc.make("thompson", n_arms=30, seed=2)
    rewards = (np.arange(30 * 6).reshape(30, 6) % 4 == 0).astype(float)
    for s in (a, b):
        s.update(np.arange(30), rewards)
    np.testing.assert_array_equal(a.sample(10), b.sample(10))
    np.testing.assert_array_equal(a.sample(64), b.sample(64))


def test_prompt_level_prefers_prompts_near_the_target():
    s = bc.make("thompson", n_arms=300, seed=0)
    solved = np.arange(300) >= 100  # prompts 0..99 half-solved, the rest always solved
    rewards = np.where(solved[:, None], 1.0, np.tile([0.0, 1.0], (300, 8)))
    s.update(np.arange(300), rewards)
    picks = s.sample(50)
    assert len(np.unique(picks)) == 50 and np.all(picks < 100)


def test_pool_mode_is_distinct_reproducible_and_fast_at_a_million_prompts():
    make = lambda: bc.make("thompson", n_arms=1_000_000, seed=3, pool_ratio=8, decay=0.5)
    assert_pool_mode_distinct_reproducible_fast(make)  # ~0.2 ms a step here


@pytest.mark.parametrize("hyper, error, message", [
    ({"prior_alpha": 0.0}, ValueError, "'prior_alpha' parameter of Thompson must be a float >= 0.001 and <= 1e+06. Got 0.0"),
    ({"prior_beta": -1}, ValueError, "'prior_beta' parameter of Thompson must be a float >= 0.001"),
    ({"decay": 0.0}, ValueError, "'decay' parameter of Thompson must be a float > 0 and <= 1"),
    ({"target": 1.5}, ValueError, "'target' parameter of Thompson must be a float >= 0 and <= 1. Got 1.5"),
    ({"pool_ratio": 0}, ValueError, "'pool_ratio' parameter of Thompson must be an int >= 1 and <= 1048576 or None"),
    ({"pool_ratio": 2.5}, TypeError, "'pool_ratio' parameter of Thompson must be an int"),
    ({"mode": "ucb"}, ValueError, "'mode' parameter of Thompson must be one of 'target', 'variance'. Got 'ucb'"),
    ({"threshold": math.nan}, ValueError, "'threshold' parameter of Thompson must be a float"),
    ({"mode": "variance", "target": 0.3}, ValueError, "fixed at 0.5 by mode='variance'"),
])
def test_bad_hyperparameters_are_named(hyper, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bc.make("thompson", n_arms=4, **hyper)


def test_loading_a_non_positive_shape_is_refused_and_changes_nothing():
    s = bc.make("thompson", n_arms=3, seed=0)
    state = s.state_dict()
    state["beta"] = np.array([1.0, 0.0, 2.0])
    before = s.state_dict()
    with pytest.raises(ValueError, match="'beta' must hold finite values >= 0.001"):
        s.load_state_dict(state)
    after = s.state_dict()
    for name in ("alpha", "beta", "rng"):
        np.testing.assert_array_equal(before[name], after[name])


def test_doc_example_runs_as_written(capsys):
    page = (Path(__file__).resolve().parent.parent / "docs" / "schedulers" / "thompson.md").read_text()
    exec(re.findall(r"```python\n(.*?)```", page, re.S)[-1], {})
    assert float(capsys.readouterr().out) < 0.15  # uniform picks: 0.25
