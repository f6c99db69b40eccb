"""TSCL: Teacher-Student Curriculum Learning, bandits on the slope of learning curves.

Source: Matiisen, Oliver, Cohen, Schulman, "Teacher-Student Curriculum Learning"
(IEEE TNNLS 2019, arXiv 1707.00183) and its released code (tambetm/TSCL,
``addition/addition_rnn_teacher.py``).
"""

import numpy as np

from ._feedback import count_successes
from ._jit import jit
from ._params import Param
from ._sampling import sample_from_probs, softmax
from .base import Kernels, Scheduler

# params layout (order of TSCL.params)
(_TEACHER, _POLICY, _EPSILON, _TEMPERATURE, _LR, _WINDOW, _ABS_SLOPE, _THRESHOLD) = range(8)
_SAMPLING, _WINDOW_TEACHER, _ONLINE = 0.0, 1.0, 2.0  # packed values of `teacher`
_BOLTZMANN = 1.0  # packed value of policy="boltzmann"
_NO_SLOPE = 1.0  # value of an arm with fewer than two scores (window teacher), as released


@jit
def _sizes(params, n_arms):
    window = int(params[_WINDOW])
    return 2 * n_arms + n_arms * window, n_arms * window + 2 * n_arms + 1


@jit
def _views(params, n_arms, f, i):
    w = int(params[_WINDOW])
    kw = n_arms * w
    return (
        f[:n_arms],  # last_score: each arm's latest success rate (0 before any)
        f[n_arms:2 * n_arms],  # value: Q (online), the window slope (window); unused by sampling
        # history: a ring per arm of scores (window teacher) or score changes (sampling)
        f[2 * n_arms:2 * n_arms + kw].reshape(n_arms, w),
        i[:kw].reshape(n_arms, w),  # history_step: the step of each history entry
        i[kw:kw + n_arms],  # history_head: next ring slot per arm
        i[kw + n_arms:kw + 2 * n_arms],  # history_fill: valid entries per arm
        i[kw + 2 * n_arms:],  # steps: update calls so far
    )


FIELDS = ("last_score", "value", "history", "history_step", "history_head", "history_fill", "steps")


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0
    i[:] = 0
    if params[_TEACHER] == _WINDOW_TEACHER:
        f[n_arms:2 * n_arms] = _NO_SLOPE


@jit
def window_slope(history, steps, head, fill):
    """Least-squares slope of score on step over one arm's ring (oldest first)."""
    w = history.shape[0]
    first = (head - fill) % w
    mean_t = 0.0
    mean_y = 0.0
    for n in range(fill):
        j = (first + n) % w
        mean_t += steps[j]
        mean_y += history[j]
    mean_t /= fill
    mean_y /= fill
    cov = 0.0
    var = 0.0
    for n in range(fill):
        j = (first + n) % w
        dt = steps[j] - mean_t
        cov += dt * (history[j] - mean_y)
        var += dt * dt
    return cov / var


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    last_score, value, history, history_step, head, fill, steps = _views(params, n_arms, f, i)
    steps[0] += 1
    successes = np.zeros(n_arms)
    rollouts = np.zeros(n_arms)
    for g in range(arms.shape[0]):
        start, stop = offsets[g], offsets[g + 1]
        successes[arms[g]] += count_successes(rewards, start, stop, params[_THRESHOLD])
        rollouts[arms[g]] += stop - start
    teacher = params[_TEACHER]
    w = history.shape[1]
    for k in range(n_arms):
        if rollouts[k] == 0.0:
            continue
        score = successes[k] / rollouts[k]
        change = score - last_score[k]
        last_score[k] = score
        if teacher == _ONLINE:
            value[k] = params[_LR] * change + (1.0 - params[_LR]) * value[k]
            continue
        history[k, head[k]] = score if teacher == _WINDOW_TEACHER else change
        history_step[k, head[k]] = steps[0]
        head[k] = (head[k] + 1) % w
        fill[k] = min(fill[k] + 1, w)
        if teacher == _WINDOW_TEACHER and fill[k] >= 2:
            value[k] = window_slope(history[k], history_step[k], head[k], fill[k])


@jit
def _greedy(values, epsilon, out):
    """out = (1 - epsilon) [uniform over the maximisers of values] + epsilon / K."""
    n_arms = values.shape[0]
    top = values.max()
    ties = 0
    for k in range(n_arms):
        if values[k] == top:
            ties += 1
    for k in range(n_arms):
        out[k] = epsilon / n_arms + ((1.0 - epsilon) / ties if values[k] == top else 0.0)


@jit
def _thompson_argmax(params, n_arms, history, fill, out):
    """out[a] = P(arm a holds the largest key) when every arm draws one entry of its
    history uniformly (key = |entry| with abs_slope), ties split uniformly. Every arm
    has at least one entry.

    One sweep over the distinct key values v, in increasing order: arm b lies below v
    with probability l_b and ties with it with probability e_b. If T is the set of
    arms that can tie at v, a in T wins at v with probability
    e_a * prod_{b not in T} l_b * integral_0^1 prod_{b in T, b != a} (l_b + e_b z) dz
    (a tie among m arms goes to each with 1 / m). Cost O(V K + sum |T|^3) for V
    distinct values: a few micro-seconds at K = 12, N = 10."""
    use_abs = params[_ABS_SLOPE] != 0.0
    w = history.shape[1]
    n_entries = 0
    for k in range(n_arms):
        n_entries += fill[k]
    keys = np.empty(n_entries)
    owner = np.empty(n_entries, dtype=np.int64)
    n = 0
    for k in range(n_arms):
        for j in range(fill[k]):
            keys[n] = abs(history[k, j]) if use_abs else history[k, j]
            owner[n] = k
            n += 1
    order = np.argsort(keys, kind="mergesort")
    below = np.zeros(n_arms)  # entries of each arm below the current value
    equal = np.zeros(n_arms)  # entries of each arm equal to it
    tied = np.empty(n_arms, dtype=np.int64)
    poly = np.empty(n_arms)
    out[:] = 0.0
    start = 0
    while start < n_entries:
        v = keys[order[start]]
        stop = start
        n_tied = 0
        while stop < n_entries and keys[order[stop]] == v:
            k = owner[order[stop]]
            if equal[k] == 0.0:
                tied[n_tied] = k
                n_tied += 1
            equal[k] += 1.0
            stop += 1
        others = 1.0  # prod over the arms that cannot tie at v of P(below v)
        for k in range(n_arms):
            if equal[k] == 0.0:
                others *= below[k] / fill[k]
        if others > 0.0:
            for t in range(n_tied):
                a = tied[t]
                degree = 0
                poly[0] = 1.0
                for u in range(n_tied):  # poly <- poly * (l_b + e_b z) over the other tied arms
                    b = tied[u]
                    if b == a:
                        continue
                    low, tie = below[b] / fill[b], equal[b] / fill[b]
                    degree += 1
                    poly[degree] = poly[degree - 1] * tie
                    for d in range(degree - 1, 0, -1):
                        poly[d] = poly[d] * low + poly[d - 1] * tie
                    poly[0] *= low
                integral = 0.0
                for d in range(degree + 1):
                    integral += poly[d] / (d + 1)
                out[a] += equal[a] / fill[a] * others * integral
        for t in range(n_tied):
            below[tied[t]] += equal[tied[t]]
            equal[tied[t]] = 0.0
        start = stop


@jit
def _probs(params, n_arms, f, i, out):
    last_score, value, history, history_step, head, fill, steps = _views(params, n_arms, f, i)
    epsilon = params[_EPSILON]
    if params[_TEACHER] == _SAMPLING:
        empty = 0
        for k in range(n_arms):
            if fill[k] == 0:
                empty += 1
        if empty > 0:  # arms without history are tried first, as in the paper
            for k in range(n_arms):
                out[k] = 1.0 / empty if fill[k] == 0 else 0.0
        else:
            _thompson_argmax(params, n_arms, history, fill, out)
        for k in range(n_arms):
            out[k] = (1.0 - epsilon) * out[k] + epsilon / n_arms
        return
    values = np.abs(value) if params[_ABS_SLOPE] != 0.0 else value.copy()
    if params[_POLICY] == _BOLTZMANN:
        softmax(values, params[_TEMPERATURE], out)
    else:
        _greedy(values, epsilon, out)


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


class TSCL(Scheduler):
    """Teacher-Student Curriculum Learning: sample where the learning curve is steepest.

    Each ``update`` call is one step t. An arm's score at t is its success rate in
    the call (rollouts with reward >= ``threshold`` over all its rollouts); arms
    without rollouts in the call are not scored. Three teachers turn scores into a
    value per arm:

        "online"    Q_a <- lr * (x_a(t) - x_a(t')) + (1 - lr) * Q_a, t' = a's previous
                    step (x_a = 0 before the first)
        "window"    Q_a = least-squares slope of x_a on t over a's last ``window``
                    scores (Q_a = 1 until a has two, an optimistic start, as released)
        "sampling"  a keeps its last ``window`` score changes x_a(t) - x_a(t'); each
                    draw samples one change per arm and picks the largest (arms with
                    no change yet first): Thompson sampling on the learning curve

    and a policy over v_a = |Q_a| (``abs_slope``: forgetting, a negative slope,
    is worth revisiting as much as learning) or Q_a:

        "epsilon_greedy"  p = (1 - epsilon) [argmax v, ties split] + epsilon / K
        "boltzmann"       p = softmax(v / temperature)

    The sampling teacher uses the epsilon-greedy policy on its sampled changes:
    p_a = (1 - epsilon) P(a draws the largest |change|) + epsilon / K, computed
    exactly (``probs``), ties split uniformly.

    Defaults follow the released script (teacher "sampling" with its Thompson
    policy, epsilon 0.1, window 10, lr 0.1, temperature 0.0004) except ``abs_slope``,
    which the paper uses and the script leaves off by default. What differs from the
    released code, on purpose: ties are split exactly in ``probs`` (released:
    one random maximiser per step); an online teacher leaves arms absent from a step
    alone and measures their change since their own previous step (released: absent
    tasks get a change of 0, which decays their Q, and a change across a gap is
    lost); state is saved and resumed; randomness is a seeded stream.

    TSCL is a distribution-level method (a few tasks, each scored every few steps).
    ``batch_split_invariant`` is False: a call is a step. The sampling teacher's
    exact ``probs`` costs O(V K) for V distinct history values (up to K N): micro-
    seconds at K = 12, impractical for prompt-level K; the online and window teachers
    cost O(K + B) per step.
    """

    name = "tscl"
    #: The level TSCL works at (one arm per task); the simulator reads it.
    arm_level = "distribution"
    kernels = KERNELS
    batch_split_invariant = False
    params = (
        Param("teacher", "sampling", "choice", choices=("sampling", "window", "online"),
              doc="how a learning-curve slope is estimated per arm"),
        Param("policy", "epsilon_greedy", "choice", choices=("epsilon_greedy", "boltzmann"),
              doc="how slopes become sampling probabilities (sampling teacher: epsilon_greedy only)"),
        Param("epsilon", 0.1, "float", low=0.0, high=1.0, doc="uniform exploration of the epsilon-greedy policy"),
        Param("temperature", 0.0004, "float", low=0.0, low_open=True, doc="Boltzmann temperature over slopes"),
        Param("lr", 0.1, "float", low=0.0, high=1.0, low_open=True, doc="step size of the online teacher's Q"),
        Param("window", 10, "int", low=2, doc="scores (window) or score changes (sampling) kept per arm"),
        Param("abs_slope", True, "bool", doc="rank arms by |slope| (the paper) rather than slope"),
        Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),
    )

    def _check_hyperparameters(self):
        if self.hyperparameters["teacher"] == "sampling" and self.hyperparameters["policy"] != "epsilon_greedy":
            raise ValueError(
                f"The 'policy' parameter of TSCL must be 'epsilon_greedy' with teacher='sampling' "
                f"(the sampling teacher picks the arm with the largest sampled change). "
                f"Got policy={self.hyperparameters['policy']!r}; use teacher='window' or 'online' for 'boltzmann'."
            )

    def _check_state(self, arrays):
        """The kernels index the history rings with these cursors: refuse any out of range."""
        window = self.hyperparameters["window"]
        head, fill = arrays["history_head"], arrays["history_fill"]
        if not (((head >= 0) & (head < window) & (fill >= 0) & (fill <= window)).all()):
            raise ValueError(
                f"The 'state' dict holds history cursors out of range for window={window}: "
                f"it was not made by this scheduler."
            )
        steps = arrays["steps"][0]
        last, history, stamps = arrays["last_score"], arrays["history"], arrays["history_step"]
        if not (steps >= 0 and (last >= 0.0).all() and (last <= 1.0).all() and (np.abs(history) <= 1.0).all()):
            self._refuse_state("holds success rates outside [0, 1], score changes outside [-1, 1] or steps < 0")
        for k in range(self.n_arms):  # the window slope divides by the spread of the steps: they must differ
            ring = (head[k] - fill[k] + np.arange(fill[k])) % window  # oldest first
            used = stamps[k, ring]
            if used.size and not (used[0] >= 1 and used[-1] <= steps and (np.diff(used) > 0).all()):
                self._refuse_state(f"holds history steps of arm {k} that do not increase within 1..steps={steps}")
