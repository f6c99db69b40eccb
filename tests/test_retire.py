"""Retire: kernels against the twin (exact draws), the Wilson bound by hand, retirement
and readmission, the readmission share, state checks, bad input."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import banditcurr as bc
from naive import NaiveRetire
from streams import assert_matches_twin, assert_same_state, binary_or_real, random_feedback

OPTIONS = [
    {"min_trials": 4.0},
    {"min_trials": 2.0, "z": 0.0, "pass_rate": 0.75, "readmit_fraction": 0.3},
    {"min_trials": 3.0, "decay": 0.7, "readmit_fraction": 0.0, "z": 0.5, "pass_rate": 0.6},
    {"min_trials": 1.0, "z": 2.0, "pass_rate": 0.2, "readmit_fraction": 1.0, "threshold": 0.0},
    {},
]


@settings(max_examples=30, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("retire", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveRetire(n_arms, **hyper)

    def check(scheduler, twin, state):
        np.testing.assert_array_equal(state["successes"], twin.successes)
        np.testing.assert_array_equal(state["trials"], twin.trials)

    mostly_solved = binary_or_real(0.9, lambda rng, n: np.ones(n))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 8,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards=mostly_solved),
                        max_batch=2 * n_arms + 3, probs_tol=(0.0, 0.0), check=check)


def wilson_lower(s, n, z):
    p = s / n
    return (p + z**2 / (2 * n) - z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))) / (1 + z**2 / n)


def test_retirement_needs_the_bound_and_the_trials():
    s = bc.make("retire", n_arms=4, seed=0)
    s.update(np.array([0, 1, 2]), np.array([[1.0] * 8, [1.0] * 8, [1.0] * 7 + [0.0]]))
    np.testing.assert_allclose(s.probs(), 0.25)  # 8 of 8: n < 16; nothing retired
    s.update(np.array([0, 2]), np.array([[1.0] * 8, [1.0] * 8]))
    assert wilson_lower(16, 16, 1.0) >= 0.9 > wilson_lower(15, 16, 1.0)
    np.testing.assert_allclose(s.probs(), [0.05, 0.95 / 3, 0.95 / 3, 0.95 / 3])  # 16 of 16 retires
    plain = bc.make("retire", n_arms=4, z=0.0, min_trials=8.0)  # ScaleRL's rule: p_hat >= 0.9
    plain.update(np.array([0, 1]), np.array([[1.0] * 8, [1.0] * 7 + [0.0]]))
    np.testing.assert_allclose(plain.probs(), [0.05, 0.95 / 3, 0.95 / 3, 0.95 / 3])


def test_a_retired_prompt_is_readmitted_when_its_bound_falls():
    s = bc.make("retire", n_arms=3, seed=0)
    s.update(np.array([0, 0]), np.ones((2, 8)))
    assert s.probs()[0] == 0.05
    s.update(np.array([0]), np.zeros((1, 8)))  # failed on a readmission draw: 16 of 24
    np.testing.assert_allclose(s.probs(), 1 / 3)


def test_readmission_share_of_prompt_batches():
    s = bc.make("retire", n_arms=1000, seed=2, readmit_fraction=0.1)
    s.update(np.arange(500), np.ones((500, 16)))  # 500 retired
    picks = [s.sample(25) for _ in range(400)]
    assert all(len(np.unique(p)) == 25 for p in picks)
    share = np.mean(np.concatenate(picks) < 500)
    assert abs(share - 0.1) < 0.01, share  # 2.5 slots a batch: stochastic rounding keeps the mean


def test_too_few_active_prompts_are_filled_from_the_retired():
    s = bc.make("retire", n_arms=10, seed=0, readmit_fraction=0.0)
    s.update(np.arange(8), np.ones((8, 16)))
    arms = s.sample(5)
    assert len(np.unique(arms)) == 5 and {8, 9} <= set(arms.tolist())
    assert s.probs()[:8].sum() == 0.0


def test_distribution_level_slots_follow_probs():
    s = bc.make("retire", n_arms=5, seed=1, readmit_fraction=0.2)
    s.update(np.array([0, 1]), np.ones((2, 16)))
    counts = np.bincount(np.concatenate([s.sample(500) for _ in range(8)]), minlength=5)
    assert stats.chisquare(counts, 4000 * s.probs()).pvalue > 1e-3


@pytest.mark.parametrize("hyper, error, message", [
    ({"pass_rate": 0.0}, ValueError, "'pass_rate' parameter of Retire must be a float > 0 and <= 1. Got 0.0"),
    ({"min_trials": 0.5}, ValueError, "'min_trials' parameter of Retire must be a float >= 1"),
    ({"z": -1.0}, ValueError, "'z' parameter of Retire must be a float >= 0 and <= 10"),
    ({"readmit_fraction": None}, TypeError, "'readmit_fraction' parameter of Retire must be a float"),
    ({"decay": 0.0}, ValueError, "'decay' parameter of Retire must be a float > 0 and <= 1"),
])
def test_bad_hyperparameters_are_named(hyper, error, message):
    with pytest.raises(error, match=re.escape(message)):
        bc.make("retire", n_arms=4, **hyper)


def test_loading_counts_out_of_order_is_refused_and_changes_nothing():
    s = bc.make("retire", n_arms=3, seed=0)
    s.update(np.array([0]), np.ones((1, 4)))
    before = s.state_dict()
    for name, value in (("successes", np.array([5.0, 0.0, 0.0])), ("trials", np.array([4.0, -1.0, 0.0]))):
        state = s.state_dict()
        state[name] = value
        with pytest.raises(ValueError, match="0 <= successes <= trials"):
            s.load_state_dict(state)
    assert_same_state(before, s.state_dict())


def test_doc_example_runs_as_written(capsys):
    page = (Path(__file__).resolve().parent.parent / "docs" / "schedulers" / "retire.md").read_text()
    exec(re.findall(r"```python\n(.*?)```", page, re.S)[-1], {})
    assert float(capsys.readouterr().out) < 0.2  # uniform: 0.6
