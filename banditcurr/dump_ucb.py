"""DUMP: distribution-level UCB over the mean GRPO advantage magnitude.

Source: "Automated Distribution-Level Curriculum Learning for RL-based LLM
Post-training" (DUMP, arXiv 2504.09710) and its released verl fork.
"""

import math

import numpy as np

from ._feedback import ABS_ADVANTAGE_MAX, abs_advantage, group_mean, group_std, mean_abs_advantage
from ._jit import jit
from ._params import Param
from ._sampling import mix_uniform, sample_from_probs, softmax
from .base import Kernels, Scheduler

# params layout (order of DumpUCB.params)
_C, _TEMPERATURE, _WINDOW, _WINDOW_UNIT, _COUNT_DISCOUNT, _COUNT_WINDOW, _UNIFORM_MIX = range(7)
_UNIT_GROUPS = 1.0
_MAX_COUNT = 2.0**53  # response counts are exact integers in float64 up to here


@jit
def _sizes(params, n_arms):
    window = int(params[_WINDOW])
    recent = int(params[_COUNT_WINDOW])
    return n_arms * window + 2 * n_arms, 2 * n_arms + 2 * recent + 2


@jit
def _views(params, n_arms, f, i):
    w = int(params[_WINDOW])
    r = int(params[_COUNT_WINDOW])
    kw = n_arms * w
    return (
        f[:kw].reshape(n_arms, w),  # window_values: |A| (or group means), ring per arm
        f[kw:kw + n_arms],  # window_sum: running sum of each arm's window
        f[kw + n_arms:kw + 2 * n_arms],  # counts: n_d, responses
        i[:n_arms],  # window_head: next ring slot per arm
        i[n_arms:2 * n_arms],  # window_fill: valid entries per arm
        i[2 * n_arms:2 * n_arms + r],  # recent_arms: last count_window groups' arms
        i[2 * n_arms + r:2 * n_arms + 2 * r],  # recent_sizes: their response counts
        i[2 * n_arms + 2 * r:],  # recent_cursor: (head, fill)
    )


FIELDS = ("window_values", "window_sum", "counts", "window_head", "window_fill",
          "recent_arms", "recent_sizes", "recent_cursor")


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0
    i[:] = 0


@jit
def _append(ring, slot, filled, running, x):
    """Append x to a FIFO ring (evicting the oldest entry when full); return the
    ring's new (slot, filled, running sum)."""
    if filled == ring.shape[0]:
        running -= ring[slot]
    else:
        filled += 1
    ring[slot] = x
    running += x
    slot += 1
    if slot == ring.shape[0]:
        slot = 0
    return slot, filled, running


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    values, total, counts, head, fill, recent_arms, recent_sizes, cursor = _views(params, n_arms, f, i)
    discount = params[_COUNT_DISCOUNT]
    if discount < 1.0:
        for k in range(n_arms):
            counts[k] *= discount
    n_recent = recent_arms.shape[0]
    for g in range(arms.shape[0]):
        arm = arms[g]
        start, stop = offsets[g], offsets[g + 1]
        ring = values[arm]  # the arm's window; its cursor lives in locals for the group
        slot, filled, running = head[arm], fill[arm], total[arm]
        if params[_WINDOW_UNIT] == _UNIT_GROUPS:
            x = mean_abs_advantage(rewards, start, stop)
            slot, filled, running = _append(ring, slot, filled, running, x)
        else:
            mean = group_mean(rewards, start, stop)
            std = group_std(rewards, start, stop, mean)
            for j in range(start, stop):
                x = abs_advantage(rewards, j, mean, std)
                slot, filled, running = _append(ring, slot, filled, running, x)
        head[arm], fill[arm], total[arm] = slot, filled, running
        counts[arm] += stop - start
        if n_recent > 0:  # sliding-window counts: forget the group that falls out
            oldest = cursor[0]
            if cursor[1] == n_recent:
                counts[recent_arms[oldest]] -= recent_sizes[oldest]
            else:
                cursor[1] += 1
            recent_arms[oldest] = arm
            recent_sizes[oldest] = stop - start
            cursor[0] = (oldest + 1) % n_recent


@jit
def _probs(params, n_arms, f, i, out):
    values, total, counts, head, fill, recent_arms, recent_sizes, cursor = _views(params, n_arms, f, i)
    n_total = max(1.0, counts.sum())
    log_term = 2.0 * math.log(n_total + 1.0)
    ucb = np.empty(n_arms)
    for k in range(n_arms):
        mean = total[k] / fill[k] if fill[k] > 0 else 0.0
        ucb[k] = mean + params[_C] * math.sqrt(log_term / (counts[k] + 1.0))
    softmax(ucb, params[_TEMPERATURE], out)
    mix_uniform(out, params[_UNIFORM_MIX])


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class DumpUCB(Scheduler):
    """Distribution-level UCB on the mean absolute GRPO advantage (DUMP).

    For each arm d (a data distribution) with group rewards r_1..r_G:

        A_j   = (r_j - mean(r)) / (std(r) + 1e-6)          (unbiased std)
        mu_d  = mean |A_j| over the FIFO window of d's last ``window`` responses
        n_d   = responses drawn from d (cumulative);  N = max(1, sum_d n_d)
        UCB_d = mu_d + c * sqrt(2 ln(N + 1) / (n_d + 1))
        p     = softmax(UCB / temperature)

    Defaults (c=1, temperature=0.1, window=300 responses, cumulative counts, no
    uniform mix) reproduce the released DUMP code exactly. Options, all off in the
    preset: ``window_unit="groups"`` (window of per-group mean |A|, length in groups),
    ``count_discount`` (n_d <- gamma n_d each update: discounted UCB),
    ``count_window`` (n_d counts only the last L groups: sliding-window UCB; the two
    are alternatives, not to be combined), and
    ``uniform_mix`` (p <- (1 - eps) p + eps / K, a floor for every arm).

    Fixed defects of the released code: the sampler state is saved and resumed
    (``state_dict``), arm order never depends on hashing, constants are parameters.
    """

    name = "dump-ucb"
    kernels = KERNELS
    arm_level = "distribution"  # DUMP: a UCB over data distributions
    params = (
        Param("c", 1.0, "float", low=0.0, doc="exploration weight of the UCB bonus"),
        Param("temperature", 0.1, "float", low=0.0, low_open=True, doc="softmax temperature tau"),
        Param("window", 300, "int", low=1, doc="FIFO window length per arm (responses or groups)"),
        Param("window_unit", "responses", "choice", choices=("responses", "groups"),
              doc="what the window counts: single responses' |A| or per-group mean |A|"),
        Param("count_discount", 1.0, "float", low=0.0, high=1.0, low_open=True,
              doc="gamma in n_d <- gamma n_d per update (1 = cumulative counts)"),
        Param("count_window", None, "int", low=1, none_means=0,
              doc="count only the last L groups (sliding-window UCB); None = all"),
        Param("uniform_mix", 0.0, "float", low=0.0, high=1.0, high_open=True,
              doc="eps in p <- (1 - eps) p + eps / K"),
    )

    def _check_hyperparameters(self):
        h = self.hyperparameters
        if h["count_discount"] != 1.0 and h["count_window"] is not None:
            raise ValueError(
                "The 'count_discount' and 'count_window' parameters of DumpUCB are alternatives "
                "(discounted vs sliding-window counts); set one of them. "
                f"Got count_discount={h['count_discount']!r} and count_window={h['count_window']!r}."
            )

    def _check_state(self, arrays):
        """The kernels index rings with these cursors: refuse any out of range."""
        window, n_arms = self.hyperparameters["window"], self.n_arms
        head, fill = arrays["window_head"], arrays["window_fill"]
        n_recent = arrays["recent_arms"].shape[0]
        cursor_head, cursor_fill = arrays["recent_cursor"]
        recent = arrays["recent_arms"][:max(0, cursor_fill)]
        valid = (
            ((head >= 0) & (head < window) & (fill >= 0) & (fill <= window)).all()
            and 0 <= cursor_fill <= n_recent
            and (n_recent == 0 or 0 <= cursor_head < n_recent)
            and ((recent >= 0) & (recent < n_arms)).all()
        )
        if not valid:
            raise ValueError(
                "The 'state' dict holds window or count cursors out of range for window="
                f"{window}, count_window={self.hyperparameters['count_window']}: it was not made by this scheduler."
            )
        values, counts = arrays["window_values"], arrays["counts"]
        if not ((values >= 0.0).all() and (values <= ABS_ADVANTAGE_MAX).all()
                and (np.abs(arrays["window_sum"]) <= window * ABS_ADVANTAGE_MAX).all()):
            self._refuse_state(f"holds window values outside 0..{ABS_ADVANTAGE_MAX:g} (|advantages|)")
        sizes = arrays["recent_sizes"][:cursor_fill]
        in_window = np.bincount(recent, weights=sizes, minlength=n_arms) if cursor_fill else 0.0
        if not ((counts >= in_window).all() and (counts <= _MAX_COUNT).all() and (sizes >= 1).all()):
            self._refuse_state("holds response counts outside 0..2**53 or below the counts of its last groups")

    @property
    def batch_split_invariant(self):
        return self.hyperparameters["count_discount"] == 1.0
