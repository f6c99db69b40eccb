"""VCRL: kernels against the twin (exact draws), the normalised variance by hand, the
bank's entry, momentum and exit, the replayed share, bad input."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import banditcurr as bc
from naive import NaiveVcrl
from streams import assert_matches_twin, binary_or_real, random_feedback

OPTIONS = [
    {},
    {"kappa": 0.4, "replay_ratio": 1.0},
    {"kappa": 1.0, "momentum": 0.0, "replay_ratio": 0.3},
    {"kappa": 0.2, "momentum": 0.5, "threshold": 0.0, "replay_ratio": 0.0},
]


@settings(max_examples=25, deadline=None)
@given(option=st.sampled_from(range(len(OPTIONS))), n_arms=st.sampled_from([1, 3, 10, 40]),
       seed=st.integers(0, 2**32 - 1), ragged=st.booleans())
def test_kernels_match_twin(option, n_arms, seed, ragged):
    hyper = OPTIONS[option]
    scheduler = bc.make("vcrl", n_arms=n_arms, seed=seed, **hyper)
    twin = NaiveVcrl(n_arms, **hyper)
    rewards = binary_or_real(0.8, lambda rng, n: np.round(rng.random(n), 1))

    def check(scheduler, twin, state):
        np.testing.assert_array_equal(state["priority"], twin.priority)

    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), 6,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards=rewards, group_size=4),
                        max_batch=2 * n_arms + 3, probs_tol=(1e-12, 1e-15), check=check)


@pytest.mark.parametrize("size", [2, 3, 4, 7, 8, 16])
def test_normalised_variance_is_the_unbiased_variance_over_its_maximum(size):
    variances = [np.var([1.0] * k + [0.0] * (size - k), ddof=1) for k in range(size + 1)]
    for k in range(size + 1):
        s = bc.make("vcrl", n_arms=1, kappa=1e-9, momentum=0.0)
        s.update(np.array([0]), np.array([[1.0] * k + [0.0] * (size - k)]))
        assert s.state_dict()["priority"][0] == pytest.approx(variances[k] / max(variances), rel=1e-14, abs=0)


def test_bank_entry_momentum_and_exit():
    s = bc.make("vcrl", n_arms=3, kappa=0.7, momentum=0.9)
    g8 = lambda k: [1.0] * k + [0.0] * (8 - k)
    s.update(np.array([0, 1, 2]), np.array([g8(4), g8(3), g8(1)]))  # p = 1, 15/16, 7/16
    np.testing.assert_array_equal(s.state_dict()["priority"], [1.0, 15 / 16, 0.0])
    s.update(np.array([0, 1]), np.array([g8(3), g8(8)]))  # 0 stays (momentum); 1 leaves (solved)
    np.testing.assert_allclose(s.state_dict()["priority"], [0.9 + 0.1 * 15 / 16, 0.0, 0.0], rtol=1e-15)
    s.update(np.array([2]), np.array([[1.0]]))  # one rollout: no variance, no change
    np.testing.assert_allclose(s.probs(), [0.5 + 0.5 / 3, 0.5 / 3, 0.5 / 3], rtol=1e-15)


def test_prompt_batch_replays_the_top_priorities_then_uniform():
    s = bc.make("vcrl", n_arms=1000, seed=0, replay_ratio=0.25)
    assert len(np.unique(s.sample(64))) == 64  # empty bank: a uniform batch
    g8 = lambda k: [1.0] * k + [0.0] * (8 - k)
    s.update(np.arange(30), np.array([g8(4)] * 10 + [g8(3)] * 20))  # 10 at p = 1, 20 at 15/16
    for _ in range(10):
        picks = s.sample(64)
        assert len(np.unique(picks)) == 64
        assert set(picks[:10].tolist()) == set(range(10)) and np.all((picks[10:16] >= 10) & (picks[10:16] < 30))
        assert picks[16:].tolist() and not set(picks[16:].tolist()) & set(picks[:16].tolist())
    assert set(bc.make("vcrl", n_arms=1000, seed=0, replay_ratio=0.25).sample(64).tolist()) != set(range(16))


def test_distribution_level_slots_follow_probs():
    s = bc.make("vcrl", n_arms=5, seed=1, kappa=0.5)
    s.update(np.arange(5), np.array([[1.0] * 6, [1.0, 0.0] * 3, [0.0] * 6, [1.0] * 5 + [0.0], [1.0, 1.0, 0.0] * 2]))
    counts = np.bincount(np.concatenate([s.sample(500) for _ in range(8)]), minlength=5)
    assert stats.chisquare(counts, 4000 * s.probs()).pvalue > 1e-3


@pytest.mark.parametrize("hyper, message", [
    ({"kappa": 0.0}, "'kappa' parameter of Vcrl must be a float > 0 and <= 1. Got 0.0"),
    ({"momentum": 1.0}, "'momentum' parameter of Vcrl must be a float >= 0 and < 1. Got 1.0"),
    ({"replay_ratio": 1.5}, "'replay_ratio' parameter of Vcrl must be a float >= 0 and <= 1. Got 1.5"),
])
def test_bad_hyperparameters_are_named(hyper, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bc.make("vcrl", n_arms=4, **hyper)


def test_loading_a_priority_out_of_range_is_refused_and_changes_nothing():
    s = bc.make("vcrl", n_arms=3, seed=0)
    s.update(np.array([0]), np.array([[1.0, 0.0]]))
    before = s.state_dict()
    state = s.state_dict()
    state["priority"] = np.array([1.5, 0.0, 0.0])
    with pytest.raises(ValueError, match="'priority' must hold values in"):
        s.load_state_dict(state)
    np.testing.assert_array_equal(s.state_dict()["priority"], before["priority"])


def test_doc_example_runs_as_written(capsys):
    page = (Path(__file__).resolve().parent.parent / "docs" / "schedulers" / "vcrl.md").read_text()
    exec(re.findall(r"```python\n(.*?)```", page, re.S)[-1], {})
    assert float(capsys.readouterr().out) > 0.35


def test_probabilities_sum_to_one_with_a_subnormal_bank():
    """rho * priority / total underflowed to 0 for a subnormal priority (found by
    tests/test_reliability.py's tampered states): probs summed to 1 - rho."""
    s = bc.make("vcrl", n_arms=3, seed=0)
    state = s.state_dict()
    state["priority"] = np.array([5e-324, 0.0, 5e-324])
    s.load_state_dict(state)
    p = s.probs()
    assert abs(p.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(p, [0.5 / 3 + 0.25, 0.5 / 3, 0.5 / 3 + 0.25])
