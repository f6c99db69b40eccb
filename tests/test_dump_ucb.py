"""dump-ucb: the kernels against the plain twin (tests/naive.py) on random streams with
every option, and DUMP's formula on examples worked out by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditcurr as bc
from naive import NaiveDumpUCB
from streams import assert_matches_twin, binary_or_real, random_feedback

options = st.fixed_dictionaries({
    "c": st.sampled_from([0.0, 1.0, 2.5]),
    "temperature": st.sampled_from([0.1, 1.0, 5.0]),
    "window": st.sampled_from([1, 2, 5, 300]),
    "window_unit": st.sampled_from(["responses", "groups"]),
    "count_discount": st.sampled_from([1.0, 0.9, 0.5]),
    "count_window": st.sampled_from([None, 1, 3, 10]),
    "uniform_mix": st.sampled_from([0.0, 0.1, 0.5]),
}).filter(lambda o: o["count_discount"] == 1.0 or o["count_window"] is None)  # alternatives


@settings(max_examples=40, deadline=None)
@given(opts=options, n_arms=st.integers(1, 15), n_steps=st.integers(1, 8), ragged=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernels_equal_the_twin(opts, n_arms, n_steps, ragged, seed):
    """Same draws (exactly) and same probs (to rounding) on a random stream."""
    scheduler = bc.make("dump-ucb", n_arms=n_arms, seed=seed, **opts)
    twin = NaiveDumpUCB(n_arms, **opts)

    def check(scheduler, twin, state):
        p = scheduler.probs()
        assert np.all(p >= 0.0) and abs(p.sum() - 1.0) < 1e-12

    rewards = binary_or_real(0.3, lambda rng, n: np.round(rng.normal(0.0, 1.0, n), 2))
    assert_matches_twin(scheduler, twin, np.random.default_rng(seed), n_steps,
                        lambda rng, arms: random_feedback(rng, arms, ragged, rewards, max_size=6),
                        max_batch=2 * n_arms + 4, matrix=not ragged, probs_tol=(1e-9, 1e-13), check=check)


def test_dump_formula_by_hand():
    """Preset (c = 1, tau = 0.1, window 300 responses), K = 3.

    arm 0, rewards 1 0 1 0: mean 0.5, unbiased std sqrt(1/3) = 0.5773503,
        |A_j| = 0.5 / (0.5773503 + 1e-6) = 0.8660239 for all four  ->  mu_0 = 0.8660239
    arm 1, rewards 2 2 2 2: std 0, |A_j| = 0 / 1e-6 = 0               ->  mu_1 = 0
    arm 2: no feedback                                                ->  mu_2 = 0
    n = (4, 4, 0), N = 8, 2 ln(N + 1) = 2 ln 9 = 4.3944492
    bonus = sqrt(4.3944492 / 5) = 0.9374912 (arms 0, 1); sqrt(4.3944492 / 1) = 2.0962941 (arm 2)
    UCB = (1.8035151, 0.9374912, 2.0962941); UCB / tau - max = (-2.927790, -11.588029, 0)
    exp = (0.0535152, 9.2762e-6, 1), sum 1.0535245
    p = (0.0507963, 8.8052e-6, 0.9491949)
    """
    s = bc.make("dump-ucb", n_arms=3, seed=0)
    s.update([0, 1], [[1.0, 0.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    state = s.state_dict()
    assert np.array_equal(state["counts"], [4.0, 4.0, 0.0])
    assert np.array_equal(state["window_fill"], [4, 4, 0])
    np.testing.assert_allclose(state["window_sum"], [4 * 0.8660239, 0.0, 0.0], rtol=1e-7)
    np.testing.assert_allclose(s.probs(), [0.0507963, 8.8052e-6, 0.9491949], rtol=1e-5)


def test_window_keeps_the_last_responses_by_hand():
    """window = 2 responses, temperature 1, K = 2.

    arm 0, rewards 1 0 0 0: mean 0.25, unbiased std sqrt(0.75 / 3) = 0.5,
        |A| = (0.75, 0.25, 0.25, 0.25) / 0.500001 = (1.499997, 0.499999, 0.499999, 0.499999)
        the window keeps the last two: mu_0 = 0.499999 (all four would give 0.749998)
    n = (4, 0), N = 4, 2 ln 5 = 3.2188758
    UCB = (0.499999 + sqrt(3.2188758 / 5), 0 + sqrt(3.2188758)) = (1.3023550, 1.7941226)
    p = softmax(UCB) = (0.3794773, 0.6205227)
    """
    s = bc.make("dump-ucb", n_arms=2, seed=0, window=2, temperature=1.0)
    s.update([0], [[1.0, 0.0, 0.0, 0.0]])
    state = s.state_dict()
    np.testing.assert_allclose(state["window_sum"], [2 * 0.499999, 0.0], rtol=1e-6)
    assert np.array_equal(state["window_fill"], [2, 0]) and np.array_equal(state["window_head"], [0, 0])
    np.testing.assert_allclose(s.probs(), [0.3794773, 0.6205227], rtol=1e-6)
    groups = bc.make("dump-ucb", n_arms=2, seed=0, window=2, window_unit="groups")
    groups.update([0], [[1.0, 0.0, 0.0, 0.0]])  # one entry: the group's mean |A| = 0.749998
    np.testing.assert_allclose(groups.state_dict()["window_sum"], [0.749998, 0.0], rtol=1e-6)


def test_count_options_by_hand():
    """Three updates of arm 0 then arm 1 then arm 0, group sizes 2, 3, 4.

    cumulative:          n = (2 + 4, 3)                     = (6, 3)
    count_discount 0.5:  n <- 0.5 n before each update:
                         (2, 0) -> (1 + 0, 0 + 3) -> (0.5 + 4, 1.5) = (4.5, 1.5)
    count_window 2:      only the last two groups: (4, 3)
    """
    feedback = [([0], [[1.0, 0.0]]), ([1], [[1.0, 0.0, 1.0]]), ([0], [[0.0, 1.0, 1.0, 0.0]])]
    expected = {(): [6.0, 3.0], (("count_discount", 0.5),): [4.5, 1.5], (("count_window", 2),): [4.0, 3.0]}
    for options, counts in expected.items():
        s = bc.make("dump-ucb", n_arms=2, seed=0, **dict(options))
        for arms, rewards in feedback:
            s.update(arms, rewards)
        assert np.array_equal(s.state_dict()["counts"], counts), options


def test_uniform_mix_is_a_floor():
    """p <- (1 - eps) p + eps / K: with eps = 0.5 and K = 2 every arm keeps >= 0.25."""
    plain = bc.make("dump-ucb", n_arms=2, seed=0)
    mixed = bc.make("dump-ucb", n_arms=2, seed=0, uniform_mix=0.5)
    for s in (plain, mixed):
        s.update([0] * 5, np.tile([1.0, 0.0], (5, 1)))
    np.testing.assert_allclose(mixed.probs(), 0.5 * plain.probs() + 0.25, rtol=1e-12)
    assert mixed.probs().min() >= 0.25


def test_unpulled_arms_keep_their_state():
    s = bc.make("dump-ucb", n_arms=4, seed=0, window=3)
    s.update([1, 1], [[1.0, 0.0], [0.0, 0.0]])
    state = s.state_dict()
    for arm in (0, 2, 3):
        assert state["counts"][arm] == 0 and state["window_fill"][arm] == 0
        assert not state["window_values"][arm].any()


@pytest.mark.parametrize("options, invariant", [({}, True), ({"count_discount": 0.9}, False)])
def test_batch_split_invariance_is_declared_honestly(options, invariant):
    assert bc.make("dump-ucb", n_arms=3, **options).batch_split_invariant is invariant
    whole, parts = (bc.make("dump-ucb", n_arms=3, seed=0, **options) for _ in range(2))
    whole.update([0, 1, 2, 0], np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]))
    parts.update([0, 1], np.array([[1.0, 0.0], [1.0, 1.0]]))
    parts.update([2, 0], np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert np.allclose(whole.probs(), parts.probs(), rtol=1e-12) is invariant


def test_discounted_and_sliding_counts_do_not_combine():
    with pytest.raises(ValueError, match="'count_discount' and 'count_window'.*alternatives"):
        bc.make("dump-ucb", n_arms=3, count_discount=0.9, count_window=5)
