"""Two-level scheduling: a scheduler over distributions, and one over prompts inside each.

Arms are global prompt ids 0..K-1; ``groups[k]`` is the distribution of prompt k. The
top-level scheduler (any plain registered scheduler over the D distributions) picks
each batch slot's distribution; the inner scheduler of that distribution (one instance
per distribution, all of the same kind and hyperparameters) picks the prompt. The pair
is ONE scheduler with the usual contract and kernels, so the simulator runs it compiled
like any other (its kernels are first-class functions of the engine, ``banditcurr._compiled``).

Layout (all built in Python by ``TwoLevel`` and read by the kernels):

    params  float64: header (9), top params, inner params, prompt_start (D+1),
            f_offset (D+1), i_offset (D+1), groups (K)
    f       float64: top state | inner states, distribution d at f_offset[d]:f_offset[d+1]
    i       int64:   top state | inner states (at i_offset) | members (K) | local (K)

``members[prompt_start[d]:prompt_start[d+1]]`` lists distribution d's prompts in
increasing id; ``local[k]`` is prompt k's index inside its distribution (the inner
scheduler's arm id). Both are derived from ``groups`` by ``_init``, so they are not
part of the state dict.
"""

from collections.abc import Mapping

import numpy as np

from . import _dispatch
from ._jit import jit
from ._rng import categorical
from ._params import argument, check_arguments, check_memory, check_size
from .base import N_ARMS, Kernels, Scheduler, state_sizes

_N_DISTS, _TOP_KIND, _INNER_KIND, _N_TOP, _N_INNER, _TOP_F, _TOP_I, _INNER_F, _INNER_I = range(9)
_HEADER = 9


@jit
def _layout(params, n_arms):
    """Unpack params: (D, top_kind, inner_kind, top_params, inner_params, prompt_start,
    f_offset, i_offset, groups); the last four are float64 views holding integers."""
    n_dists = int(params[_N_DISTS])
    a = _HEADER
    b = a + int(params[_N_TOP])
    c = b + int(params[_N_INNER])
    tables = params[c:c + 3 * (n_dists + 1) + n_arms]
    return (n_dists, int(params[_TOP_KIND]), int(params[_INNER_KIND]), params[a:b], params[b:c],
            tables[:n_dists + 1], tables[n_dists + 1:2 * n_dists + 2],
            tables[2 * n_dists + 2:3 * n_dists + 3], tables[3 * n_dists + 3:])


@jit
def _sizes(params, n_arms):
    n_float = int(params[_TOP_F]) + int(params[_INNER_F])
    n_int = int(params[_TOP_I]) + int(params[_INNER_I]) + 2 * n_arms
    return n_float, n_int


@jit
def _views(params, n_arms, f, i):
    top_f, top_i = int(params[_TOP_F]), int(params[_TOP_I])
    inner_f, inner_i = int(params[_INNER_F]), int(params[_INNER_I])
    return (
        f[:top_f],  # top_f: the distribution-level scheduler's float state
        i[:top_i],  # top_i: its int state
        f[top_f:top_f + inner_f],  # inner_f: the prompt-level schedulers' float states, concatenated
        i[top_i:top_i + inner_i],  # inner_i: their int states, concatenated
    )


FIELDS = ("top_f", "top_i", "inner_f", "inner_i")


@jit
def _tables(params, n_arms, i):
    """members (K) and local (K): the int views after the schedulers' states."""
    start = int(params[_TOP_I]) + int(params[_INNER_I])
    return i[start:start + n_arms], i[start + n_arms:start + 2 * n_arms]


@jit
def _init(params, n_arms, f, i):
    n_dists, top_kind, inner_kind, top_params, inner_params, prompt_start, f_offset, i_offset, groups = \
        _layout(params, n_arms)
    top_f, top_i, inner_f, inner_i = _views(params, n_arms, f, i)
    members, local = _tables(params, n_arms, i)
    cursor = np.empty(n_dists, dtype=np.int64)
    for d in range(n_dists):
        cursor[d] = int(prompt_start[d])
    for k in range(n_arms):
        d = int(groups[k])
        members[cursor[d]] = k
        local[k] = cursor[d] - int(prompt_start[d])
        cursor[d] += 1
    _dispatch.init_leaf(top_kind, top_params, n_dists, top_f, top_i)
    for d in range(n_dists):
        _dispatch.init_leaf(inner_kind, inner_params, int(prompt_start[d + 1] - prompt_start[d]),
                            inner_f[int(f_offset[d]):int(f_offset[d + 1])],
                            inner_i[int(i_offset[d]):int(i_offset[d + 1])])


@jit
def _bucket(labels, n_labels):
    """Stable counting sort: (order, start) with order[start[d]:start[d+1]] the
    positions of label d, in increasing position."""
    start = np.zeros(n_labels + 1, dtype=np.int64)
    for j in range(labels.shape[0]):
        start[labels[j] + 1] += 1
    for d in range(n_labels):
        start[d + 1] += start[d]
    cursor = start[:n_labels].copy()
    order = np.empty(labels.shape[0], dtype=np.int64)
    for j in range(labels.shape[0]):
        order[cursor[labels[j]]] = j
        cursor[labels[j]] += 1
    return order, start


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    n_dists, top_kind, inner_kind, top_params, inner_params, prompt_start, f_offset, i_offset, groups = \
        _layout(params, n_arms)
    top_f, top_i, inner_f, inner_i = _views(params, n_arms, f, i)
    members, local = _tables(params, n_arms, i)
    n_groups = arms.shape[0]
    dists = np.empty(n_groups, dtype=np.int64)
    for g in range(n_groups):
        dists[g] = int(groups[arms[g]])
    _dispatch.update_leaf(top_kind, top_params, n_dists, top_f, top_i, dists, rewards, offsets)
    # Regroup the feedback by distribution (stable), in local arm ids, for the inner level.
    order, group_start = _bucket(dists, n_dists)
    sorted_rewards = np.empty(rewards.shape[0])
    sorted_offsets = np.empty(n_groups + 1, dtype=np.int64)
    local_arms = np.empty(n_groups, dtype=np.int64)
    position = 0
    for j in range(n_groups):
        g = order[j]
        sorted_offsets[j] = position
        for r in range(offsets[g], offsets[g + 1]):
            sorted_rewards[position] = rewards[r]
            position += 1
        local_arms[j] = local[arms[g]]
    sorted_offsets[n_groups] = position
    for d in range(n_dists):
        first, last = group_start[d], group_start[d + 1]
        if last == first:
            continue
        sub_offsets = sorted_offsets[first:last + 1] - sorted_offsets[first]
        _dispatch.update_leaf(inner_kind, inner_params, int(prompt_start[d + 1] - prompt_start[d]),
                              inner_f[int(f_offset[d]):int(f_offset[d + 1])],
                              inner_i[int(i_offset[d]):int(i_offset[d + 1])],
                              local_arms[first:last],
                              sorted_rewards[sorted_offsets[first]:sorted_offsets[last]], sub_offsets)


@jit
def _fit_to_sizes(top_kind, top_params, n_dists, top_f, top_i, prompt_start, rng, dists):
    """The prompt-level batch rule (B <= K: distinct prompts) across distributions.

    A distribution d drawn for more slots than it has prompts keeps its first |d|
    slots; each later one is drawn again from the top level's probabilities restricted
    to the distributions with prompts left (uniformly among those if they all have
    probability 0). A batch that fits, the usual case, is left as drawn."""
    taken = np.zeros(n_dists, dtype=np.int64)
    fits = True
    for j in range(dists.shape[0]):
        taken[dists[j]] += 1
        fits &= taken[dists[j]] <= prompt_start[dists[j] + 1] - prompt_start[dists[j]]
    if fits:
        return
    p = np.empty(n_dists)
    _dispatch.probs_leaf(top_kind, top_params, n_dists, top_f, top_i, p)
    left = np.empty(n_dists)
    for d in range(n_dists):
        left[d] = prompt_start[d + 1] - prompt_start[d]
    cumulative = np.empty(n_dists)
    for j in range(dists.shape[0]):
        if left[dists[j]] > 0:
            left[dists[j]] -= 1
            continue
        total = 0.0
        for d in range(n_dists):
            total += p[d] if left[d] > 0 else 0.0
            cumulative[d] = total
        if total <= 0.0:
            for d in range(n_dists):
                total += 1.0 if left[d] > 0 else 0.0
                cumulative[d] = total
        d = categorical(rng, cumulative)
        while cumulative[d] == (cumulative[d - 1] if d > 0 else 0.0):  # the rounding clamp hit an empty one
            d -= 1
        dists[j] = d
        left[d] -= 1


@jit
def _sample(params, n_arms, f, i, rng, out):
    n_dists, top_kind, inner_kind, top_params, inner_params, prompt_start, f_offset, i_offset, groups = \
        _layout(params, n_arms)
    top_f, top_i, inner_f, inner_i = _views(params, n_arms, f, i)
    members, local = _tables(params, n_arms, i)
    batch = out.shape[0]
    dists = np.empty(batch, dtype=np.int64)
    _dispatch.sample_leaf(top_kind, top_params, n_dists, top_f, top_i, rng, dists)
    if batch <= n_arms:
        _fit_to_sizes(top_kind, top_params, n_dists, top_f, top_i, prompt_start, rng, dists)
    slots, slot_start = _bucket(dists, n_dists)
    for d in range(n_dists):  # each distribution's prompts, in distribution order (one rng stream)
        count = slot_start[d + 1] - slot_start[d]
        if count == 0:
            continue
        picked = np.empty(count, dtype=np.int64)
        _dispatch.sample_leaf(inner_kind, inner_params, int(prompt_start[d + 1] - prompt_start[d]),
                              inner_f[int(f_offset[d]):int(f_offset[d + 1])],
                              inner_i[int(i_offset[d]):int(i_offset[d + 1])], rng, picked)
        for j in range(count):
            out[slots[slot_start[d] + j]] = members[int(prompt_start[d]) + picked[j]]


@jit
def _probs(params, n_arms, f, i, out):
    n_dists, top_kind, inner_kind, top_params, inner_params, prompt_start, f_offset, i_offset, groups = \
        _layout(params, n_arms)
    top_f, top_i, inner_f, inner_i = _views(params, n_arms, f, i)
    members, local = _tables(params, n_arms, i)
    p_dist = np.empty(n_dists)
    _dispatch.probs_leaf(top_kind, top_params, n_dists, top_f, top_i, p_dist)
    for d in range(n_dists):
        first = int(prompt_start[d])
        size = int(prompt_start[d + 1]) - first
        p_prompt = np.empty(size)
        _dispatch.probs_leaf(inner_kind, inner_params, size,
                             inner_f[int(f_offset[d]):int(f_offset[d + 1])],
                             inner_i[int(i_offset[d]):int(i_offset[d + 1])], p_prompt)
        for j in range(size):
            out[members[first + j]] = p_dist[d] * p_prompt[j]


@jit
def _distribution_probs(params, n_arms, f, i, out):
    """p(distribution), float64 (D,): the top-level scheduler's probabilities."""
    n_dists, top_kind, inner_kind, top_params, inner_params, prompt_start, f_offset, i_offset, groups = \
        _layout(params, n_arms)
    top_f, top_i, inner_f, inner_i = _views(params, n_arms, f, i)
    _dispatch.probs_leaf(top_kind, top_params, n_dists, top_f, top_i, out)


KERNELS = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)


def arguments():
    """TwoLevel's ``top`` and ``inner`` arguments, declared (when given as a name rather
    than a Scheduler subclass): one of the plain schedulers of the compiled dispatch."""
    names = tuple(sorted(_dispatch.NAMED))
    return (argument("top", "choice", choices=names, doc="the scheduler over distributions"),
            argument("inner", "choice", choices=names, doc="the scheduler over each distribution's prompts"))


def _resolve(role, spec, overrides, n_arms):
    """(name, kind, validated instance) of the ``role`` ("top"/"inner") scheduler."""
    if isinstance(spec, type) and issubclass(spec, Scheduler):
        cls, preset, name = spec, {}, spec.name
    elif isinstance(spec, str) and spec == TwoLevel.name:
        cls, preset, name = TwoLevel, {}, spec
    else:
        declaration = arguments()[("top", "inner").index(role)]
        name = check_arguments("TwoLevel", (declaration,), {role: spec})[role]
        cls, preset = _dispatch.NAMED[name]
    if cls.composite:
        raise ValueError(f"The {role!r} scheduler of TwoLevel cannot itself be two-level: composites do not "
                         f"nest (the compiled dispatch is one level deep). Use a plain scheduler such as "
                         f"'dump-ucb', 'thompson' or 'cures'.")
    if cls.kernels not in _dispatch.KINDS:
        raise ValueError(f"The {role!r} scheduler {name!r} has no compiled kind: add its module to "
                         f"banditcurr._registry.SCHEDULER_MODULES and run python -m banditcurr._gen_dispatch.")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise TypeError(f"The '{role}_params' argument of TwoLevel must be a dict of hyperparameters. "
                        f"Got {overrides!r} instead.")
    instance = cls(n_arms, seed=0, **{**preset, **overrides})
    return name, _dispatch.KINDS.index(cls.kernels), instance


def _check_groups(groups, n_arms):
    if groups is None:
        return np.zeros(n_arms, dtype=np.int64)
    array = np.asarray(groups)
    if array.shape != (n_arms,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"The 'groups' argument must be integers of shape (n_arms,) = ({n_arms},): the "
                         f"distribution of each prompt. Got shape {array.shape}, dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= n_arms:
        bad = array.min() if array.min() < 0 else array.max()
        raise ValueError(f"The 'groups' argument holds distribution id {bad}; ids must be 0..D-1 with D <= "
                         f"n_arms = {n_arms}.")
    counts = np.bincount(array)
    if np.any(counts == 0):
        empty = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"The 'groups' argument uses distribution ids up to {len(counts) - 1} but "
                         f"distribution {empty} has no prompt: ids must be exactly 0..D-1, each used.")
    return np.ascontiguousarray(array, dtype=np.int64)


class TwoLevel(Scheduler):
    """Distribution-level scheduler x prompt-level scheduler, as one scheduler.

        P(prompt k) = P_top(d) * P_inner_d(k | d),      d = groups[k]

    ``sample(B)``: the top scheduler (over D distributions) draws each slot's
    distribution (with replacement when B > D, as its batch rule says); then for each
    distribution d with c_d slots, d's inner scheduler draws c_d of its prompts
    (distinct when c_d <= |d|). ``update``: every group goes to the top scheduler as
    feedback for its distribution, and to its distribution's inner scheduler as feedback
    for the prompt's local id. ``probs()`` is the product above; ``distribution_probs()``
    the top level alone. One random stream serves both levels.

    Arguments: ``groups`` (int array (K,), ids 0..D-1, each used; None = one
    distribution), ``top`` and ``inner`` (registered names or Scheduler classes; not
    ``two-level``), ``top_params`` and ``inner_params`` (hyperparameter dicts, applied
    over the named preset; the inner ones are shared by all distributions).

    Defaults: ``top="dump-ucb"``, ``inner="uniform"`` -- DUMP as its authors ran it
    (a UCB over distributions, prompts uniform inside the chosen one).
    Example: ``make("two-level", n_arms=K, groups=level_of_prompt, top="dump-ucb",
    inner="thompson", inner_params={"pool_ratio": 8})``.
    """

    name = "two-level"
    kernels = KERNELS
    #: Arms are prompts (their distributions come from ``groups``); the simulator reads it.
    arm_level = "prompt"
    composite = True

    def __init__(self, n_arms, *, groups=None, top="dump-ucb", inner="uniform", top_params=None,
                 inner_params=None, seed=None):
        n_arms = check_size(N_ARMS, n_arms, "TwoLevel")
        groups = _check_groups(groups, n_arms)
        sizes = np.bincount(groups)
        top_name, top_kind, top_instance = _resolve("top", top, top_params, len(sizes))
        inner_name, inner_kind, inner_instance = _resolve("inner", inner, inner_params, int(sizes.min()))
        self._layout_params, self._f_offset, self._i_offset = self._pack(
            groups, sizes, top_kind, top_instance, inner_kind, inner_instance)
        self._parts = tuple((type(s), dict(s.hyperparameters), s._params) for s in (top_instance, inner_instance))
        self.batch_split_invariant = bool(top_instance.batch_split_invariant and inner_instance.batch_split_invariant)
        # relabelling prompts moves them between distributions unless there is only one
        self.permutation_equivariant = bool(len(sizes) == 1 and inner_instance.permutation_equivariant)
        self.groups = groups
        self.groups.setflags(write=False)
        self.n_dists = len(sizes)
        super().__init__(n_arms, seed=seed)
        self.hyperparameters = {"top": top_name, "inner": inner_name,
                                "top_params": dict(top_instance.hyperparameters),
                                "inner_params": dict(inner_instance.hyperparameters)}

    @staticmethod
    def _pack(groups, sizes, top_kind, top_instance, inner_kind, inner_instance):
        top_params, inner_params = top_instance._params, inner_instance._params
        top_f, top_i = state_sizes(_dispatch.KINDS[top_kind], top_params, len(sizes))
        inner_sizes = np.array([state_sizes(_dispatch.KINDS[inner_kind], inner_params, int(n)) for n in sizes],
                               dtype=object).reshape(len(sizes), 2)
        total = top_f + top_i + int(inner_sizes.sum())
        check_memory(f"TwoLevel over n_arms={len(groups)} ({len(sizes)} distributions)", 8 * total,
                     "Use fewer prompts or smaller windows.")
        f_offset = np.concatenate([[0], np.cumsum(inner_sizes[:, 0])])
        i_offset = np.concatenate([[0], np.cumsum(inner_sizes[:, 1])])
        header = [len(sizes), top_kind, inner_kind, len(top_params), len(inner_params),
                  top_f, top_i, f_offset[-1], i_offset[-1]]
        prompt_start = np.concatenate([[0], np.cumsum(sizes)])
        params = np.concatenate([np.asarray(header, dtype=np.float64), top_params, inner_params,
                                 prompt_start, f_offset, i_offset, groups]).astype(np.float64)
        return params, f_offset.astype(np.int64), i_offset.astype(np.int64)

    def _pack_params(self, values):
        # The composite's params are assembled from its parts, not from Param declarations.
        return self._layout_params

    #: Slots of one distribution are drawn together (distinct prompts while they last),
    #: so even with batch_size > n_arms the slots are not independent draws from probs().
    exact_probs = False

    def __repr__(self):
        h = self.hyperparameters
        return (f"TwoLevel(n_arms={self.n_arms}, n_dists={self.n_dists}, top={h['top']!r}, "
                f"inner={h['inner']!r})")

    def distribution_probs(self):
        """The top level's distribution P_top(d): float64 (D,), sums to 1."""
        out = np.empty(self.n_dists, dtype=np.float64)
        _distribution_probs(self._params, self.n_arms, self._f, self._i, out)
        return out

    def state_dict(self):
        state = super().state_dict()
        state["groups"] = np.array(self.groups, copy=True)
        return state

    def _check_state(self, arrays):
        """Each part's state is checked as that scheduler checks its own state."""
        (top, top_hyper, top_params), (inner, inner_hyper, inner_params) = self._parts
        parts = [("top", top, top_hyper, top_params, self.n_dists, arrays["top_f"], arrays["top_i"])]
        sizes = np.bincount(self.groups)
        for d in range(self.n_dists):
            parts.append((f"inner (distribution {d})", inner, inner_hyper, inner_params, int(sizes[d]),
                          arrays["inner_f"][self._f_offset[d]:self._f_offset[d + 1]],
                          arrays["inner_i"][self._i_offset[d]:self._i_offset[d + 1]]))
        for label, cls, hyper, params, n, f, i in parts:
            named = dict(zip(cls.kernels.fields, cls.kernels.views(params, n, f, i)))
            try:
                cls._checker(n, hyper, params)._check_arrays(named)
            except ValueError as error:
                raise ValueError(f"In the two-level {label} scheduler ({cls.name}): {error}") from None

    @classmethod
    def _construction_arguments(cls, state, hyperparameters):
        if "groups" not in state:
            raise ValueError("The 'state' dict has no 'groups' entry: was it made by TwoLevel.state_dict()?")
        return {**hyperparameters, "groups": state["groups"]}

    def load_state_dict(self, state):
        if isinstance(state, Mapping):
            if "groups" not in state:
                raise ValueError("The 'state' dict has no 'groups' entry: was it made by TwoLevel.state_dict()?")
            if not np.array_equal(np.asarray(state["groups"]), self.groups):
                raise ValueError("The 'state' dict is for a different prompt -> distribution mapping ('groups'). "
                                 "Create the scheduler with the same groups before loading.")
            state = {key: value for key, value in state.items() if key != "groups"}
        super().load_state_dict(state)
