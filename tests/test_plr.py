"""plr: the kernels against the plain twin (tests/naive.py) on random streams with
every option, PLR's replay distribution and new-level schedule worked out by hand,
and bad hyperparameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaivePLR
from streams import assert_matches_twin, binary_or_real, random_feedback

options = st.fixed_dictionaries({
    "score": st.sampled_from(["value_l1", "abs_advantage", "positive_value_loss"]),
    "prioritization": st.sampled_from(["rank", "power"]),
    "temperature": st.sampled_from([0.1, 0.3, 1.0]),
    "staleness_coef": st.sampled_from([0.0, 0.1, 1.0]),
    "score_ema": st.sampled_from([1.0, 0.5]),
    "schedule": st.sampled_from(["proportionate", "fixed"]),
    "min_seen_fraction": st.sampled_from([1.0, 0.5, 0.0]),
    "new_level_prob": st.sampled_from([0.5, 0.0, 1.0]),
})


@settings(max_examples=40, deadline=None)
@given(opts=options, n_arms=st.integers(1, 15), n_steps=st.integers(1, 8), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, n_arms, n_steps, ragged, seed):
    """Same draws (exactly) and same probs (to rounding) on a random stream; binary
    rewards make many tied scores, so shared ranks are exercised."""
    scheduler = bc.make("plr", n_arms=n_arms, seed=seed, **opts)
    twin = NaivePLR(n_arms, **opts)

    def check(scheduler, twin, state):
        assert np.array_equal(state["last_seen"], twin.last) and state["counter"][0] == twin.c
        np.testing.assert_allclose(state["scores"], twin.s, rtol=1e-12, atol=1e-15)

    rewards = binary_or_real(0.8, lambda rng, n: np.round(rng.normal(0.0, 1.0, n), 1))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), n_steps,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards, max_size=6),
                        max_batch=n_arms + 3, matrix=not ragged, probs_tol=(1e-9, 1e-13), check=check)


def test_replay_distribution_by_hand():
    """K = 4, rank prioritisation with temperature 1 (h = 1 / rank), rho = 0.1.

    value_l1 scores: arm 0 rewards 1 0 -> 0.5; arm 1 rewards 1 1 -> 0;
                     arm 2 rewards 0 1 -> 0.5; arm 3 rewards 1 0 0 0 -> (0.75 + 3 * 0.25) / 4 = 0.375
    ranks: arms 0 and 2 tie for ranks 1 and 2 and share (1 + 1/2) / 2 = 0.75; arm 3 rank 3
           (1/3), arm 1 rank 4 (1/4); sum 25/12 -> P_S = (0.36, 0.12, 0.36, 0.16)
    staleness: c = 4 groups, C = (1, 2, 3, 4) -> c - C = (3, 2, 1, 0) -> P_C = (1/2, 1/3, 1/6, 0)
    P = 0.9 P_S + 0.1 P_C = (0.374, 0.1413333, 0.3406667, 0.144)
    """
    s = bc.make("plr", n_arms=4, seed=0, temperature=1.0)
    s.update([0, 1, 2, 3], np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]), [0, 2, 4, 6, 10])
    state = s.state_dict()
    np.testing.assert_allclose(state["scores"], [0.5, 0.0, 0.5, 0.375])
    assert state["last_seen"].tolist() == [1, 2, 3, 4] and state["counter"].tolist() == [4]
    np.testing.assert_allclose(s.probs(), [0.374, 0.1413333333, 0.3406666667, 0.144], rtol=1e-9)


def test_preset_rank_weights_by_hand():
    """Preset beta = 0.1: h^(1/beta) = rank^-10. Same scores as above, no staleness:
    tied arms 0 and 2 share (1 + 2^-10) / 2 = 0.5004883, arm 3 gets 3^-10 = 1.6935e-5,
    arm 1 gets 4^-10 = 9.5367e-7."""
    s = bc.make("plr", n_arms=4, seed=0, staleness_coef=0.0)
    s.update([0, 1, 2, 3], np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]), [0, 2, 4, 6, 10])
    h = np.array([(1 + 2.0**-10) / 2, 4.0**-10, (1 + 2.0**-10) / 2, 3.0**-10])
    np.testing.assert_allclose(s.probs(), h / h.sum(), rtol=1e-12)


def test_new_levels_before_replay():
    """K = 4. Preset (min_seen_fraction 1): unseen levels only, until all are seen.
    min_seen_fraction 0.5, proportionate: 1 of 4 seen -> still only unseen; 2 of 4
    seen -> replay with P_D = 1/2, each unseen level (1 - 1/2) / 2 = 1/4.
    fixed schedule, new_level_prob 0.3: P_D = 0.7 once the threshold is met."""
    preset = bc.make("plr", n_arms=4, seed=0)
    preset.update([0, 1, 2], [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(preset.probs(), [0.0, 0.0, 0.0, 1.0])
    half = bc.make("plr", n_arms=4, seed=0, min_seen_fraction=0.5, staleness_coef=0.0)
    half.update([0], [[1.0, 0.0]])
    np.testing.assert_allclose(half.probs(), [0.0, 1 / 3, 1 / 3, 1 / 3])
    half.update([1], [[1.0, 1.0]])  # score 0: rank 2, weight 2^-10
    replay = np.array([1.0, 2.0**-10]) / (1.0 + 2.0**-10)
    np.testing.assert_allclose(half.probs(), [0.5 * replay[0], 0.5 * replay[1], 0.25, 0.25], rtol=1e-12)
    fixed = bc.make("plr", n_arms=4, seed=0, min_seen_fraction=0.5, staleness_coef=0.0,
                    schedule="fixed", new_level_prob=0.3)
    fixed.update([0, 1], [[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(fixed.probs(), [0.7 * replay[0], 0.7 * replay[1], 0.15, 0.15], rtol=1e-12)


def test_power_prioritisation_and_zero_scores():
    """power, beta = 0.5: P_S proportional to S^2; all-zero scores give uniform over the seen."""
    s = bc.make("plr", n_arms=3, seed=0, prioritization="power", temperature=0.5, staleness_coef=0.0)
    s.update([0, 1, 2], [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(s.probs(), np.array([0.375**2, 0.5**2, 0.0]) / (0.375**2 + 0.25), rtol=1e-12)
    flat = bc.make("plr", n_arms=3, seed=0, prioritization="power", staleness_coef=0.0)
    flat.update([0, 1, 2], [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    np.testing.assert_allclose(flat.probs(), [1 / 3] * 3, rtol=1e-12)


def test_score_options():
    """rewards 1 0 0 0: value_l1 0.375; positive_value_loss 0.75 / 4 = 0.1875;
    abs_advantage 0.375 / (0.5 + 1e-6) = 0.7499985. score_ema 0.5 halves the first."""
    for score, value in (("value_l1", 0.375), ("positive_value_loss", 0.1875), ("abs_advantage", 0.7499985)):
        s = bc.make("plr", n_arms=2, seed=0, score=score)
        s.update([0], [[1.0, 0.0, 0.0, 0.0]])
        np.testing.assert_allclose(s.state_dict()["scores"], [value, 0.0], rtol=1e-6)
    ema = bc.make("plr", n_arms=2, seed=0, score_ema=0.5)
    ema.update([0, 0], [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])  # 0.5 * 0.375 -> 0.5 * 0.1875 + 0.5 * 0.5
    np.testing.assert_allclose(ema.state_dict()["scores"], [0.34375, 0.0], rtol=1e-12)


@pytest.mark.parametrize("bad, error, match", [
    ({"temperature": 0.0}, ValueError, r"The 'temperature' parameter of PLR must be a float > 0\. Got 0\.0 instead"),
    ({"staleness_coef": 1.5}, ValueError,
     r"'staleness_coef' parameter of PLR must be a float >= 0 and <= 1\. Got 1\.5"),
    ({"score_ema": 0.0}, ValueError, r"'score_ema' parameter of PLR must be a float > 0 and <= 1\. Got 0\.0"),
    ({"score": "gae"}, ValueError, r"'score' parameter of PLR must be one of 'value_l1', 'abs_advantage', "
                                   r"'positive_value_loss'\. Got 'gae'"),
    ({"prioritization": "softmax"}, ValueError, r"'prioritization' parameter of PLR must be one of 'rank', 'power'"),
    ({"schedule": "always"}, ValueError, r"'schedule' parameter of PLR must be one of 'proportionate', 'fixed'"),
    ({"min_seen_fraction": -0.1}, ValueError, r"'min_seen_fraction' parameter of PLR must be a float >= 0 and <= 1"),
    ({"new_level_prob": "half"}, TypeError, r"'new_level_prob' parameter of PLR must be a float"),
])
def test_bad_hyperparameters_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        bc.make("plr", n_arms=3, **bad)


def test_a_loaded_state_must_be_consistent():
    s = bc.make("plr", n_arms=3, seed=0)
    s.update([0], [[1.0, 0.0]])
    state = s.state_dict()
    state["last_seen"] = np.array([5, 0, 0])  # later than the counter (1)
    with pytest.raises(ValueError, match=r"last_seen values outside 0..counter=1"):
        s.load_state_dict(state)
