"""Beta posteriors over success probabilities: update, fast draws, exact CDF.

Shared by the ``thompson`` and ``learnability`` schedulers. An arm's posterior is
Beta(alpha, beta) over its success probability p (success = reward >= threshold);
the arrays ``alpha`` and ``beta`` (float64, n_arms) are its whole state.
"""

import math

import numpy as np

from ._feedback import count_successes
from ._jit import jit
from ._params import argument, check_arguments
from ._rng import uniform

_LOG4 = math.log(4.0)
_ONE_PLUS_LOG5 = 1.0 + math.log(5.0)
_EXP_MAX = 709.0  # exp(v) overflows float64 above ~709.78
_CF_EPS = 1e-15
_CF_TINY = 1e-300
_CF_MAX_ITER = 100_000


POSTERIOR_FIELDS = ("alpha", "beta")
#: Bounds of the Beta shapes a loaded state may hold: a prior pseudo-count plus up to
#: 10**15 rollouts (far beyond any run), where the sampler and the exact CDF stay accurate.
POSTERIOR_MAX = 1e15
PRIOR_LOW, PRIOR_HIGH = 1e-3, 1e6  # allowed prior shapes alpha_0, beta_0
#: ``warm_start``'s share of the old evidence kept.
DECAY = argument("decay", low=0.0, low_open=True, high=1.0, doc="share of the previous run's evidence kept")


def warm_start_posterior(alpha, beta, arms, successes, trials, decay):
    """Add ``decay`` times previous outcomes to Beta posteriors, in place (see
    ``Scheduler.warm_start``); everything is checked before anything is written."""
    decay = check_arguments("warm_start", (DECAY,), {"decay": decay})["decay"]
    arms = np.asarray(arms)
    n = arms.shape[0] if arms.ndim == 1 else -1
    if n < 0 or not np.issubdtype(arms.dtype, np.integer) and arms.size:
        raise ValueError(f"The 'arms' argument of warm_start must be a 1-D array of arm ids. Got {arms!r}.")
    if arms.size and (arms.min() < 0 or arms.max() >= alpha.shape[0]):
        raise ValueError(f"The 'arms' argument of warm_start holds ids outside 0..{alpha.shape[0] - 1}.")
    counts = {}
    for name, value in (("successes", successes), ("trials", trials)):
        array = np.asarray(value, dtype=np.float64)
        if array.shape != (n,):
            raise ValueError(f"The {name!r} argument of warm_start must have shape ({n},), one per arm entry. "
                             f"Got shape {array.shape}.")
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValueError(f"The {name!r} argument of warm_start must hold finite counts >= 0.")
        counts[name] = array
    if np.any(counts["successes"] > counts["trials"]):
        raise ValueError("warm_start: 'successes' exceeds 'trials' for some arm.")
    new_alpha, new_beta = alpha.copy(), beta.copy()
    np.add.at(new_alpha, arms.astype(np.int64), decay * counts["successes"])
    np.add.at(new_beta, arms.astype(np.int64), decay * (counts["trials"] - counts["successes"]))
    if max(new_alpha.max(initial=0.0), new_beta.max(initial=0.0)) > POSTERIOR_MAX:
        raise ValueError(f"warm_start: the counts would take a Beta shape above {POSTERIOR_MAX:g}.")
    alpha[:] = new_alpha
    beta[:] = new_beta


def check_posterior_state(arrays, low):
    """Refuse loaded Beta shapes outside [low, POSTERIOR_MAX]: ``low`` is the smallest
    shape an update can leave (the prior's lower bound, or 1 for counts from Beta(1, 1))."""
    for name in POSTERIOR_FIELDS:
        values = arrays[name]
        if not ((values >= low).all() and (values <= POSTERIOR_MAX).all()):
            raise ValueError(f"The 'state' array {name!r} must hold finite values >= {low:g} and <= "
                             f"{POSTERIOR_MAX:g} (Beta shapes). Got min {values.min()!r}, max {values.max()!r}.")


@jit
def posterior_sizes(params, n_arms):
    """State size of a scheduler whose state is one Beta posterior per arm."""
    return 2 * n_arms, 0


@jit
def posterior_views(params, n_arms, f, i):
    """(alpha, beta): the Beta posterior's shapes per arm (prior + successes, prior +
    failures, decayed if decay < 1), float64 (n_arms,) views into ``f``."""
    return f[:n_arms], f[n_arms:2 * n_arms]


@jit
def beta_update(alpha, beta, prior_alpha, prior_beta, decay, threshold, arms, rewards, offsets):
    """MoPPS posterior update for one feedback batch, in place.

    Each arm present in the batch is first decayed once toward its prior,
    ``alpha <- decay alpha + (1 - decay) prior_alpha`` (likewise beta), then every one
    of its groups adds its successes s (reward >= threshold) to alpha and its k - s
    failures to beta. Arms absent from the batch are untouched. With decay = 1 the
    decay is the identity and is skipped. Decaying once per batch (a training step)
    rather than once per group keeps lambda's meaning per step whatever the number of
    groups an arm gets (many at the distribution level, one at the prompt level).

    alpha, beta: float64 (n_arms,); arms: int64 (n_groups,); rewards: float64 flat;
    offsets: int64 (n_groups + 1,).
    """
    n_groups = arms.shape[0]
    if decay < 1.0:
        # groups of one arm together, in feedback order; float keys (exact below 2^53) so
        # that Numba compiles one sort, the float64 one the samplers use
        order = np.argsort(arms.astype(np.float64), kind="mergesort")
        previous = -1
        for j in range(n_groups):
            g = order[j]
            arm = arms[g]
            if arm != previous:
                alpha[arm] = decay * alpha[arm] + (1.0 - decay) * prior_alpha
                beta[arm] = decay * beta[arm] + (1.0 - decay) * prior_beta
                previous = arm
            start, stop = offsets[g], offsets[g + 1]
            wins = count_successes(rewards, start, stop, threshold)
            alpha[arm] += wins
            beta[arm] += stop - start - wins
        return
    for g in range(n_groups):
        arm = arms[g]
        start, stop = offsets[g], offsets[g + 1]
        wins = count_successes(rewards, start, stop, threshold)
        alpha[arm] += wins
        beta[arm] += stop - start - wins


@jit
def _open_uniform(rng):
    """A uniform on (0, 1): u = 0 (probability 2**-53) is drawn again."""
    u = uniform(rng)
    while u == 0.0:
        u = uniform(rng)
    return u


@jit
def _scaled_exp(scale, v):
    """scale * exp(v), capped at the largest float instead of overflowing."""
    if v > _EXP_MAX:
        return 1.7976931348623157e308
    return scale * math.exp(v)


@jit
def beta_setup(a, b):
    """The constants of Cheng's sampler for Beta(a, b), a, b > 0: a tuple of 6 floats
    (algorithm: 1 = BB, 0 = BC; 1 if a is the smaller shape; min(a, b); max(a, b); two
    per-algorithm constants). Compute once per arm, draw many times."""
    small = min(a, b)
    large = max(a, b)
    total = a + b
    first_small = 1.0 if small == a else 0.0
    if small > 1.0:
        scale = math.sqrt((total - 2.0) / (2.0 * small * large - total))
        return (1.0, first_small, small, large, scale, small + 1.0 / scale)
    delta = 1.0 + large - small
    k1 = delta * (0.0138889 + 0.0416667 * small) / (large / small - 0.777778)
    k2 = 0.25 + (0.5 + 0.25 / delta) * small
    return (0.0, first_small, small, large, k1, k2)


@jit
def beta_draw_setup(rng, setup):
    """One Beta(a, b) draw by Cheng's rejection algorithms, from ``setup`` =
    ``beta_setup(a, b)`` (the tuple, or the same 6 values in a float64 array).

    Cheng, "Generating beta variates with nonintegral shape parameters", CACM 21(4),
    1978: algorithm BB when min(a, b) > 1, BC otherwise. Two uniforms, one log and one
    exp per try in the common case, acceptance above 0.75 for any (a, b): several
    times cheaper than the ratio of two Gamma draws (``banditcurr._rng.beta``).
    """
    small = setup[2]
    large = setup[3]
    total = small + large
    if setup[0] == 1.0:  # BB
        scale = setup[4]
        lift = setup[5]
        while True:
            u1 = _open_uniform(rng)
            u2 = 1.0 - uniform(rng)
            v = scale * math.log(u1 / (1.0 - u1))
            w = _scaled_exp(small, v)
            z = u1 * u1 * u2
            r = lift * v - _LOG4
            s = small + r - w
            if s + _ONE_PLUS_LOG5 >= 5.0 * z:
                break
            t = math.log(z)
            if s > t:
                break
            if r + total * math.log(total / (large + w)) >= t:
                break
        return w / (large + w) if setup[1] == 1.0 else large / (large + w)
    # BC
    scale = 1.0 / small
    k1 = setup[4]
    k2 = setup[5]
    while True:
        u1 = _open_uniform(rng)
        u2 = 1.0 - uniform(rng)
        if u1 < 0.5:
            y = u1 * u2
            z = u1 * y
            if 0.25 * u2 + z - y >= k1:
                continue
        else:
            z = u1 * u1 * u2
            if z <= 0.25:
                v = scale * math.log(u1 / (1.0 - u1))
                w = _scaled_exp(large, v)
                break
            if z >= k2:
                continue
        v = scale * math.log(u1 / (1.0 - u1))
        w = _scaled_exp(large, v)
        if total * (math.log(total / (small + w)) + v) - _LOG4 >= math.log(z):
            break
    return small / (small + w) if setup[1] == 1.0 else w / (small + w)


@jit
def beta_draw(rng, a, b):
    """One Beta(a, b) draw (a, b > 0); see ``beta_draw_setup``."""
    return beta_draw_setup(rng, beta_setup(a, b))


@jit
def _beta_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (modified Lentz), converging fast for
    x < (a + 1) / (a + b + 2)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _CF_TINY:
        d = _CF_TINY
    d = 1.0 / d
    h = d
    for m in range(1, _CF_MAX_ITER):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < _CF_EPS:
            break
    return h


@jit
def log_beta_norm(a, b):
    """log(1 / B(a, b)) = lgamma(a + b) - lgamma(a) - lgamma(b)."""
    return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)


@jit
def beta_cdf(a, b, log_norm, x):
    """The regularized incomplete beta function I_x(a, b) = P(Beta(a, b) <= x).

    ``log_norm`` is ``log_beta_norm(a, b)`` (computed once per arm). Continued
    fraction on whichever tail converges fast; accurate to ~1e-13 relative.
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(log_norm + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


@jit
def beta_outside(a, b, log_norm, low, high):
    """P(Beta(a, b) < low) + P(Beta(a, b) > high), the mass outside [low, high],
    computed as two lower tails (no cancellation when it is small)."""
    below = beta_cdf(a, b, log_norm, low) if low > 0.0 else 0.0
    above = beta_cdf(b, a, log_norm, 1.0 - high) if high < 1.0 else 0.0
    return below + above
