"""GRESO: kernels against the twin (exact draws), the skip law and the p controller by
hand, distinct batches filled from the skipped, state checks, bad input."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import banditcurr as bc
from naive import NaiveGreso
from streams import (assert_matches_twin, assert_pool_mode_distinct_reproducible_fast, assert_same_state, binary_or_real,
                     random_feedback)

OPTIONS = [
    {},
    {"pool_ratio": None, "p_start": 0.9, "p_step": 0.2},
    {"pool_ratio": 1, "keep_floor": 0.2, "easy_share": 0.9},
    {"target_zero_variance": 1.0, "p_min": 0.0, "p_max": 1.0, "p_step": 0.3, "threshold": 0.0},
    {"pool_ratio": 2, "keep_floor": 1e-300, "p_start": 0.05, "target_zero_variance": 0.0},
]


@settings(max_examples=30, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("greso", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveGreso(n_arms, **hyper)

    def check(scheduler, twin, state):
        assert state["p_easy"][0] == twin.p_easy and state["p_hard"][0] == twin.p_hard
        np.testing.assert_array_equal(state["easy_streak"], twin.easy)
        np.testing.assert_array_equal(state["hard_streak"], twin.hard)

    mostly_binary = binary_or_real(0.9, lambda rng, n: np.round(rng.random(n), 1))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 8,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards=mostly_binary, max_size=4),
                        max_batch=2 * n_arms + 3, probs_tol=(0.0, 0.0), check=check)


def test_skip_law_and_probs_by_hand():
    s = bc.make("greso", n_arms=4)
    s.update(np.array([0, 1, 0, 1]), np.array([[1.0] * 4, [0.0] * 4, [1.0] * 4, [0.0] * 4]))
    state = s.state_dict()  # all groups zero-variance: both ratios above target, p -= 0.01
    assert state["p_easy"][0] == 0.49 and state["p_hard"][0] == 0.49
    np.testing.assert_array_equal(state["easy_streak"], [2, 0, 0, 0])
    np.testing.assert_array_equal(state["hard_streak"], [0, 2, 0, 0])
    keep = np.array([0.49 * 0.49, 0.49 * 0.49, 1.0, 1.0])
    np.testing.assert_allclose(s.probs(), keep / keep.sum(), rtol=1e-15)
    s.update(np.array([0]), np.array([[1.0, 0.0]]))  # mixed: the streak ends, ratios 0: p += 0.01
    state = s.state_dict()
    assert state["easy_streak"][0] == 0 and state["p_easy"][0] == 0.5


def test_keep_probability_never_falls_below_the_floor():
    s = bc.make("greso", n_arms=2)
    for _ in range(200):
        s.update(np.array([0]), np.ones((1, 4)))
    p = s.probs()
    np.testing.assert_allclose(p, np.array([0.01, 1.0]) / 1.01, rtol=1e-14)


def test_controller_stays_in_bounds_and_tracks_the_target():
    s = bc.make("greso", n_arms=100, seed=0)
    ones = np.ones((100, 4))
    for _ in range(60):  # every group all-success: p_easy falls to p_min, p_hard rises to p_max
        s.update(np.arange(100), ones)
    state = s.state_dict()
    assert state["p_easy"][0] == 0.05 and state["p_hard"][0] == pytest.approx(0.95)


def test_skipped_prompts_are_skipped_at_the_stated_rate():
    s = bc.make("greso", n_arms=2000, seed=5, pool_ratio=None)
    solved = np.arange(2000) < 1000
    s.update(np.arange(2000), np.where(solved[:, None], 1.0, np.tile([0.0, 1.0], (2000, 2))))
    p_easy = s.state_dict()["p_easy"][0]  # half the groups all-success: p_easy = 0.49
    picks = np.concatenate([s.sample(100) for _ in range(40)])
    share = np.mean(picks < 1000)  # a solved prompt is kept with probability p_easy
    assert abs(share - p_easy / (1 + p_easy)) < 0.03, share


def test_batch_is_filled_from_the_skipped_when_the_pool_runs_out():
    s = bc.make("greso", n_arms=50, seed=1, pool_ratio=1, keep_floor=1e-300, p_start=0.05, p_min=0.0)
    for _ in range(30):
        s.update(np.arange(50), np.ones((50, 2)))  # every prompt solved 30 times: keep ~ 0
    for _ in range(20):
        arms = s.sample(40)
        assert len(np.unique(arms)) == 40


def test_distribution_level_slots_follow_probs():
    s = bc.make("greso", n_arms=5, seed=1)
    s.update(np.arange(5), np.array([[1.0] * 6, [1.0, 0.0] * 3, [0.0] * 6, [1.0] * 6, [1.0, 1.0, 0.0] * 2]))
    counts = np.bincount(np.concatenate([s.sample(500) for _ in range(8)]), minlength=5)
    assert stats.chisquare(counts, 4000 * s.probs()).pvalue > 1e-3


def test_pool_mode_is_distinct_reproducible_and_fast_at_a_million_prompts():
    assert_pool_mode_distinct_reproducible_fast(lambda: bc.make("greso", n_arms=1_000_000, seed=3))


@pytest.mark.parametrize("hyper, error, message", [
    ({"target_zero_variance": 1.5}, ValueError, "'target_zero_variance' parameter of Greso must be a float >= 0 "
                                                "and <= 1. Got 1.5"),
    ({"p_step": "0.01"}, TypeError, "'p_step' parameter of Greso must be a float"),
    ({"pool_ratio": 0}, ValueError, "'pool_ratio' parameter of Greso must be an int >= 1 and <= 1048576 or None"),
    ({"p_start": 0.99}, ValueError, "p_min <= p_start <= p_max. Got p_min=0.05, p_start=0.99, p_max=0.95"),
    ({"p_min": 0.6}, ValueError, "p_min <= p_start <= p_max"),
])
def test_bad_hyperparameters_are_named(hyper, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bc.make("greso", n_arms=4, **hyper)


@pytest.mark.parametrize("name, value, message", [
    ("p_easy", np.array([0.99]), "p_easy=0.99 outside"),
    ("easy_streak", np.array([1, 0, 0]), "both an easy and a hard streak"),
    ("hard_streak", np.array([0, -1, 0]), "negative streaks"),
])
def test_loading_a_bad_state_is_refused_and_changes_nothing(name, value, message):
    s = bc.make("greso", n_arms=3, seed=0)
    s.update(np.array([0, 1]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    before = s.state_dict()
    state = s.state_dict()
    state[name] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        s.load_state_dict(state)
    assert_same_state(before, s.state_dict())


def test_doc_example_runs_as_written(capsys):
    page = (Path(__file__).resolve().parent.parent / "docs" / "schedulers" / "greso.md").read_text()
    exec(re.findall(r"```python\n(.*?)```", page, re.S)[-1], {})
    assert float(capsys.readouterr().out) > 0.5  # uniform: 0.2


def test_a_huge_streak_costs_bounded_work():
    """p^k by repeated products stops at a fixed point: a (tampered) streak of 2^62 with
    p = 1 once looped 2^62 times inside probs() (found by the tampered-state property)."""
    s = bc.make("greso", n_arms=2, seed=0, p_min=0.0, p_max=1.0, p_start=1.0)
    state = s.state_dict()
    state["easy_streak"] = np.array([2**62, 0])
    s.load_state_dict(state)
    np.testing.assert_array_equal(s.probs(), [0.5, 0.5])
    assert len(s.sample(2)) == 2


def test_a_zero_keep_floor_is_refused():
    with pytest.raises(ValueError, match="keep_floor"):
        bc.make("greso", n_arms=2, keep_floor=0.0)
