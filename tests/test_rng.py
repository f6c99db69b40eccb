"""The random stream: xoshiro256** and its derived draws equal the Python twin exactly;
distributions have the right moments; distinct sampling is distinct and uniform."""

import numpy as np
import pytest
from scipy import stats

from banditcurr import _rng
from naive import Xoshiro, sample_from_probs


def stream(seed=0):
    return _rng.seed_state(seed)


def test_next_u64_equals_the_twin():
    state = stream(1)
    twin = Xoshiro(state)
    assert [int(_rng.next_u64(state)) for _ in range(1000)] == [twin.next_u64() for _ in range(1000)]
    assert np.array_equal(state, twin.state())


def test_reference_vector_of_xoshiro256starstar():
    """State (1, 2, 3, 4): the first outputs of the reference C code (Blackman & Vigna):
    11520, 0, 1509978240, 1215971899390074240."""
    state = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert [int(_rng.next_u64(state)) for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]


@pytest.mark.parametrize("draw, twin_draw", [
    (lambda s: _rng.uniform(s), lambda t: t.uniform()),
    (lambda s: _rng.randint(s, 1), lambda t: t.randint(1)),
    (lambda s: _rng.randint(s, 7), lambda t: t.randint(7)),
    (lambda s: _rng.randint(s, 2**40 + 3), lambda t: t.randint(2**40 + 3)),
    (lambda s: _rng.randint(s, 2**62 + 5), lambda t: t.randint(2**62 + 5)),  # 25% rejections
    (lambda s: _rng.normal(s), lambda t: t.normal()),
    (lambda s: _rng.gamma(s, 0.3), lambda t: t.gamma(0.3)),
    (lambda s: _rng.gamma(s, 4.5), lambda t: t.gamma(4.5)),
    (lambda s: _rng.beta(s, 0.5, 2.0), lambda t: t.beta(0.5, 2.0)),
], ids=["uniform", "randint1", "randint7", "randint2^40", "randint2^62", "normal", "gamma0.3",
        "gamma4.5", "beta"])
def test_derived_draws_equal_the_twin(draw, twin_draw):
    state = stream(2)
    twin = Xoshiro(state)
    ours = [draw(state) for _ in range(300)]
    assert ours == [twin_draw(twin) for _ in range(300)]
    assert np.array_equal(state, twin.state())


@pytest.mark.parametrize("n, m", [(10, 3), (10, 5), (10, 7), (10, 10), (1, 1), (1000, 50), (10**9, 200)])
def test_sample_distinct_equals_the_twin_and_is_distinct(n, m):
    state = stream(3)
    twin = Xoshiro(state)
    for _ in range(20):
        out = np.empty(m, dtype=np.int64)
        _rng.sample_distinct(state, n, out)
        assert out.tolist() == twin.sample_distinct(n, m)
        assert len(set(out.tolist())) == m and out.min() >= 0 and out.max() < n


@pytest.mark.parametrize("n, m", [(12, 3), (12, 9)])  # hash-set branch, shuffle branch
def test_sample_distinct_is_uniform(n, m):
    state = stream(4)
    counts = np.zeros(n)
    first = np.zeros(n)
    out = np.empty(m, dtype=np.int64)
    for _ in range(4000):
        _rng.sample_distinct(state, n, out)
        counts[out] += 1
        first[out[0]] += 1
    assert stats.chisquare(counts).pvalue > 1e-6
    assert stats.chisquare(first).pvalue > 1e-6  # positions are uniform too, not just membership


def test_categorical_is_searchsorted_right_and_skips_zero_weights():
    for n_arms in (1, 5, 64, 65, 300):  # both sides of the linear / bisection switch
        weights = np.random.default_rng(n_arms).random(n_arms)
        weights[::3] = 0.0
        weights[-1] = 0.5
        p = weights / weights.sum()
        state = stream(5)
        twin = Xoshiro(state)
        draws = np.array([_rng.categorical(state, np.cumsum(p)) for _ in range(500)])
        assert np.array_equal(draws, sample_from_probs(twin, p, 500) if n_arms < 500 else draws)
        assert np.all(p[draws] > 0.0)


def moments_close(samples, mean, variance):
    """Sample mean within 5 standard errors, sample variance within 10%."""
    n = len(samples)
    assert abs(np.mean(samples) - mean) < 5.0 * np.sqrt(variance / n)
    assert abs(np.var(samples) - variance) < 0.1 * variance


def test_normal_gamma_beta_moments():
    state = stream(6)
    n = 20000
    moments_close([_rng.normal(state) for _ in range(n)], 0.0, 1.0)
    for shape in (0.3, 1.0, 4.5):
        moments_close([_rng.gamma(state, shape) for _ in range(n)], shape, shape)
    a, b = 2.0, 5.0
    moments_close([_rng.beta(state, a, b) for _ in range(n)], a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))
    u = np.array([_rng.uniform(state) for _ in range(n)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-6


def test_seeding():
    assert np.array_equal(_rng.seed_state(7), _rng.seed_state(7))
    assert not np.array_equal(_rng.seed_state(7), _rng.seed_state(8))
    assert np.array_equal(_rng.seed_state(np.random.default_rng(1)), _rng.seed_state(np.random.default_rng(1)))
    assert np.array_equal(_rng.seed_state(np.random.SeedSequence(3)), _rng.seed_state(np.random.SeedSequence(3)))
    assert _rng.seed_state(None).dtype == np.uint64
    streams = _rng.spawn_states(0, 8)
    assert streams.shape == (8, 4) and len({tuple(row) for row in streams}) == 8
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(TypeError, match="'seed'"):
            _rng.seed_state(bad)
