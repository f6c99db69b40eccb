"""Learnability (SFL / LILO): kernels against the twin (exact draws), the score by hand,
window ring semantics, topk ties, uniform mixing, pool mode, bad input."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import banditcurr as bc
from naive import NaiveLearnability
from streams import (assert_matches_twin, assert_pool_mode_distinct_reproducible_fast, check_beta_posterior,
                     random_feedback)

OPTIONS = [
    {},
    {"uniform_mix": 0.5},
    {"mode": "proportional", "decay": 0.6, "prior_alpha": 2.0},
    {"estimator": "window", "window": 5, "pool_ratio": 2},
    {"estimator": "window", "window": 70, "mode": "proportional", "uniform_mix": 0.3, "score_floor": 0.05},
    {"mode": "proportional", "pool_ratio": 3, "uniform_mix": 0.2, "threshold": 0.0},
    {"pool_ratio": 1, "decay": 0.9, "uniform_mix": 1.0},
]


@settings(max_examples=25, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("learnability", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveLearnability(n_arms, **hyper)

    def check_windows(scheduler, twin, state):
        np.testing.assert_array_equal(state["window_fill"], [len(w) for w in twin.windows])
        np.testing.assert_array_equal(state["window_successes"], [sum(w) for w in twin.windows])

    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 5,
                        lambda rng, arms: random_feedback(rng, arms, ragged, group_size=4),
                        max_batch=2 * n_arms + 3, probs_tol=(1e-12, 1e-15),
                        check=check_windows if hyper.get("estimator") == "window" else check_beta_posterior)


def test_score_and_probs_by_hand():
    s = bc.make("learnability", n_arms=4)
    s.update(np.array([0, 1]), np.array([[1.0, 1.0, 1.0, 0.0], [1.0] * 4]))  # Beta(4, 2), Beta(5, 1)
    weights = np.array([2 / 3 * 1 / 3, max(5 / 6 * 1 / 6, 0.01), 0.25, 0.25])
    np.testing.assert_allclose(s.probs(), weights / weights.sum(), rtol=1e-14)
    mixed = bc.make("sfl", n_arms=4)
    mixed.update(np.array([0, 1]), np.array([[1.0, 1.0, 1.0, 0.0], [1.0] * 4]))
    np.testing.assert_allclose(mixed.probs(), 0.5 * weights / weights.sum() + 0.5 / 4, rtol=1e-14)


def test_window_keeps_the_last_rollouts_across_words():
    s = bc.make("learnability", n_arms=2, estimator="window", window=3)
    s.update(np.array([0]), np.array([[1.0, 1.0, 0.0, 0.0]]))  # last three: 1, 0, 0
    state = s.state_dict()
    assert state["window_fill"][0] == 3 and state["window_successes"][0] == 1
    p_hat = 1 / 3
    weights = np.array([p_hat * (1 - p_hat), 0.25])  # arm 1 unseen: the prior mean 1/2
    np.testing.assert_allclose(s.probs(), weights / weights.sum(), rtol=1e-14)
    wide = bc.make("learnability", n_arms=1, estimator="window", window=130)  # three 64-bit words
    outcomes = (np.arange(300) % 7 < 3).astype(float)
    for start in range(0, 300, 20):
        wide.update(np.array([0]), outcomes[start:start + 20][None, :])
    state = wide.state_dict()
    assert state["window_fill"][0] == 130 and state["window_successes"][0] == outcomes[-130:].sum()
    assert state["window_bits"].shape == (1, 3)


def test_saturated_window_arm_keeps_the_floor():
    s = bc.make("learnability", n_arms=2, estimator="window", mode="proportional", score_floor=0.02)
    s.update(np.array([0, 1]), np.array([[1.0] * 8, [0.0, 1.0] * 4]))
    np.testing.assert_allclose(s.probs(), np.array([0.02, 0.25]) / 0.27, rtol=1e-14)


def test_topk_takes_the_best_and_breaks_ties_at_random():
    rewards = np.array([[1.0] * 8, [0.0, 1.0] * 4, [0.0] * 8, [1.0, 0.0, 0.0, 0.0] * 2, [1.0] * 7 + [0.0],
                        [0.0, 1.0] * 4])
    seen = set()
    for seed in range(20):
        s = bc.make("learnability", n_arms=6, seed=seed)
        s.update(np.arange(6), rewards)
        picks = s.sample(2)
        assert set(picks.tolist()) == {1, 5}  # both at p_hat = 1/2
        three = s.sample(3)
        assert set(three[:2].tolist()) == {1, 5} and three[2] == 3  # then p_hat = 3/10
        seen.add(tuple(picks.tolist()))
    assert seen == {(1, 5), (5, 1)}  # the tie is broken both ways


def test_uniform_mix_spends_rho_of_the_prompt_batch_on_uniform_draws():
    s = bc.make("sfl", n_arms=2000, seed=0)
    solved = np.arange(2000) >= 100  # 100 learnable prompts, 1900 solved
    s.update(np.arange(2000), np.where(solved[:, None], 1.0, np.tile([0.0, 1.0], (2000, 4))))
    picks = np.concatenate([s.sample(64) for _ in range(50)])
    learnable = np.mean(picks < 100)
    assert abs(learnable - (0.5 + 0.5 * 100 / 2000)) < 0.04, learnable


def test_distribution_level_slots_follow_probs():
    for mode in ("topk", "proportional"):
        s = bc.make("learnability", n_arms=5, seed=1, mode=mode, uniform_mix=0.1)
        s.update(np.arange(5), np.array([[1.0] * 6, [1.0, 0.0] * 3, [0.0] * 6, [1.0] * 5 + [0.0],
                                         [1.0, 1.0, 0.0] * 2]))
        counts = np.bincount(np.concatenate([s.sample(500) for _ in range(8)]), minlength=5)
        assert stats.chisquare(counts, 4000 * s.probs()).pvalue > 1e-3


def test_pool_mode_is_distinct_reproducible_and_fast_at_a_million_prompts():
    make = lambda: bc.make("learnability", n_arms=1_000_000, seed=3, pool_ratio=4, uniform_mix=0.2)
    assert_pool_mode_distinct_reproducible_fast(make)  # ~0.1 ms a step here


@pytest.mark.parametrize("hyper, error, message", [
    ({"mode": "greedy"}, ValueError, "'mode' parameter of Learnability must be one of 'topk', 'proportional'"),
    ({"estimator": "ema"}, ValueError, "'estimator' parameter of Learnability must be one of 'posterior', 'window'"),
    ({"prior_alpha": 0}, ValueError, "'prior_alpha' parameter of Learnability must be a float >= 0.001 and <= 1e+06. Got 0"),
    ({"decay": 1.2}, ValueError, "'decay' parameter of Learnability must be a float > 0 and <= 1. Got 1.2"),
    ({"estimator": "window", "window": 0}, ValueError, "'window' parameter of Learnability must be an int >= 1"),
    ({"uniform_mix": -0.1}, ValueError, "'uniform_mix' parameter of Learnability must be a float >= 0 and <= 1"),
    ({"score_floor": 0.0}, ValueError, "'score_floor' parameter of Learnability must be a float > 0 and <= 0.25"),
    ({"pool_ratio": 0}, ValueError, "'pool_ratio' parameter of Learnability must be an int >= 1 and <= 1048576 or None"),
    ({"estimator": "window", "decay": 0.5}, ValueError, "'decay' parameter of Learnability applies to "
                                                        "estimator='posterior' only"),
    ({"window": 10}, ValueError, "'window' parameter of Learnability applies to estimator='window' only"),
])
def test_bad_hyperparameters_are_named(hyper, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bc.make("learnability", n_arms=4, **hyper)


def test_loading_bad_window_cursors_is_refused_and_changes_nothing():
    s = bc.make("learnability", n_arms=3, seed=0, estimator="window", window=4)
    s.update(np.array([0, 2]), np.ones((2, 3)))
    before = s.state_dict()
    for name, value in (("window_head", 4), ("window_fill", 5), ("window_successes", 4)):
        state = s.state_dict()
        state[name] = state[name].copy()
        state[name][0] = value
        with pytest.raises(ValueError, match="out of range for window=4"):
            s.load_state_dict(state)
    after = s.state_dict()
    for name in before:
        if isinstance(before[name], np.ndarray):
            np.testing.assert_array_equal(before[name], after[name])


def test_doc_example_runs_as_written(capsys):
    page = (Path(__file__).resolve().parent.parent / "docs" / "schedulers" / "learnability.md").read_text()
    exec(re.findall(r"```python\n(.*?)```", page, re.S)[-1], {})
    assert float(capsys.readouterr().out) > 0.5  # uniform picks: 0.2
