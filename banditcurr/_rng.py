"""Random streams as plain arrays: xoshiro256** in Numba.

A stream's whole state is a ``uint64`` array of length 4, so it can be copied into a
``state_dict``, restored exactly, and given to each thread of the simulator's compiled
loop (one stream per seed: a seeded run gives the same result at any thread count).

Generator: xoshiro256** (Blackman & Vigna, 2018). Seeding goes through NumPy's
``SeedSequence``, which never yields the forbidden all-zero state in practice and
spawns independent child streams.
"""

import math

import numpy as np

from ._jit import jit

STATE_SIZE = 4
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


def seed_state(seed=None):
    """Return a fresh stream state (``uint64`` array of 4) from ``seed``.

    ``seed`` is an int >= 0, a ``np.random.Generator`` (one draw of it seeds the
    stream), a ``np.random.SeedSequence``, or None (fresh OS entropy).
    """
    if isinstance(seed, np.random.SeedSequence):
        sequence = seed
    elif isinstance(seed, np.random.Generator):
        sequence = np.random.SeedSequence(int(seed.integers(0, 2**63)))
    elif seed is None:
        sequence = np.random.SeedSequence()
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        sequence = np.random.SeedSequence(int(seed))
    else:
        raise TypeError(
            "The 'seed' argument must be an int >= 0, a numpy Generator, a SeedSequence "
            f"or None. Got {seed!r} instead."
        )
    state = sequence.generate_state(STATE_SIZE, np.uint64)
    if not state.any():  # xoshiro's one forbidden state
        state[0] = np.uint64(0x9E3779B97F4A7C15)
    return state


def spawn_states(seed, n_streams):
    """Return ``n_streams`` independent stream states, shape (n_streams, 4)."""
    children = np.random.SeedSequence(seed).spawn(n_streams)
    return np.stack([seed_state(child) for child in children])


@jit
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jit
def next_u64(s):
    """Advance stream ``s`` (uint64[4], updated in place); return 64 random bits."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@jit
def uniform(s):
    """A float64 uniform on [0, 1) with 53 random bits."""
    return float(next_u64(s) >> np.uint64(11)) * _TWO_POW_MINUS_53


@jit
def randint(s, n):
    """An int uniform on {0, ..., n-1}, without modulo bias (rejection)."""
    bound = np.uint64(n)
    threshold = (np.uint64(0) - bound) % bound
    r = next_u64(s)
    while r < threshold:
        r = next_u64(s)
    return np.int64(r % bound)


@jit
def normal(s):
    """A standard normal draw (Box-Muller, one of the pair)."""
    u1 = 1.0 - uniform(s)  # in (0, 1]
    u2 = uniform(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@jit
def gamma(s, shape):
    """A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by boosting)."""
    if shape < 1.0:
        u = 1.0 - uniform(s)
        return gamma(s, shape + 1.0) * u ** (1.0 / shape)
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = 1.0 - uniform(s)
        if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v


@jit
def beta(s, a, b):
    """A Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)."""
    x = gamma(s, a)
    y = gamma(s, b)
    return x / (x + y)


_LINEAR_SEARCH_MAX = 64  # up to this many arms a branch-free count beats bisection


@jit
def categorical(s, cumulative):
    """An index i drawn with probability proportional to the i-th increment of the
    non-decreasing array ``cumulative`` (a cumsum of weights; last entry > 0).

    i = #{j : cumulative[j] <= u} with u = uniform * cumulative[-1], i.e.
    ``searchsorted(cumulative, u, side="right")``, so zero-weight arms are never drawn;
    clamped to the last index for the case where rounding makes u = cumulative[-1].
    """
    n = cumulative.shape[0]
    u = uniform(s) * cumulative[n - 1]
    if n <= _LINEAR_SEARCH_MAX:
        index = 0
        for j in range(n):
            index += np.int64(cumulative[j] <= u)
    else:
        index = np.int64(np.searchsorted(cumulative, u, side="right"))
    return min(index, n - 1)


@jit
def sample_distinct(s, n, out):
    """Fill ``out`` with distinct ints drawn uniformly from {0, ..., n-1}.

    O(len(out)) whatever ``n``: rejection against a small open-addressing hash set
    while len(out) <= n / 2, a partial Fisher-Yates shuffle of range(n) otherwise.
    """
    m = out.shape[0]
    if 2 * m > n:
        pool = np.arange(n)
        for j in range(m):
            r = j + randint(s, n - j)
            pool[j], pool[r] = pool[r], pool[j]
            out[j] = pool[j]
        return
    size = 1
    while size < 4 * m:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    mask = size - 1
    j = 0
    while j < m:
        x = randint(s, n)
        slot = (x * 0x9E3779B1) & mask
        while table[slot] != -1 and table[slot] != x:
            slot = (slot + 1) & mask
        if table[slot] == -1:
            table[slot] = x
            out[j] = x
            j += 1
