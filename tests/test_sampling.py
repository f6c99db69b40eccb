"""The shared batch sampler: exactly the twin's draws (tests/naive.py), on both sides
of the batch rule, with zero-probability arms and tied probabilities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from banditcurr import _rng
from banditcurr._sampling import sample_from_probs, select_kth
from naive import Xoshiro
from naive import sample_from_probs as twin_sample_from_probs


@settings(max_examples=60, deadline=None)
@given(n_arms=st.integers(1, 40), batch=st.integers(1, 60), zeros=st.floats(0.0, 0.9),
       ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_draws_equal_the_twin(n_arms, batch, zeros, ties, seed):
    """Distinct arms (B <= K, a partition then a sort of B keys) and draws with
    replacement (B > K) both equal the twin's full argsort / inverse CDF."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 3, n_arms).astype(float) if ties else rng.random(n_arms)
    weights[rng.random(n_arms) < zeros] = 0.0
    if weights.sum() == 0.0:
        weights[int(rng.integers(n_arms))] = 1.0
    p = weights / weights.sum()
    state = _rng.seed_state(seed)
    twin = Xoshiro(state)
    out = np.empty(batch, dtype=np.int64)
    for _ in range(3):
        sample_from_probs(state, p, out)
        assert np.array_equal(out, twin_sample_from_probs(twin, p, batch))
    assert np.array_equal(state, twin.state())
    if batch <= n_arms:
        assert len(np.unique(out)) == batch


@pytest.mark.parametrize("n_arms, batch", [(5, 5), (6, 1), (30, 4)])
def test_distinct_draws_follow_successive_sampling(n_arms, batch):
    """The first slot of a distinct batch is arm k with probability p_k (chi-square)."""
    p = np.arange(1, n_arms + 1, dtype=float)
    p /= p.sum()
    state = _rng.seed_state(3)
    out = np.empty(batch, dtype=np.int64)
    first = np.zeros(n_arms)
    for _ in range(4000):
        sample_from_probs(state, p, out)
        first[out[0]] += 1
    assert stats.chisquare(first, 4000 * p).pvalue > 1e-6


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.sampled_from([-2.0, -0.0, 0.0, 0.5, 1.0, 3.0]) | st.floats(-1e6, 1e6), min_size=1,
                       max_size=60), data=st.data())
def test_select_kth_is_the_kth_smallest(values, data):
    """select_kth = np.sort(values)[k] (equal as numbers: -0.0 == 0.0), with many ties,
    and leaves a permutation of the values."""
    values = np.array(values)
    k = data.draw(st.integers(0, len(values) - 1))
    scratch = values.copy()
    assert select_kth(scratch, k) == np.sort(values)[k]
    np.testing.assert_array_equal(np.sort(scratch), np.sort(values))
