"""The scheduler contract: one thin class over a module of Numba kernels.

A scheduler's learned state is two flat arrays, ``f`` (float64) and ``i`` (int64),
plus a random stream ``rng`` (uint64[4]). Its module names the fields those arrays
hold and provides six kernels with one signature for every scheduler, so the
simulator can call any of them from its own compiled loop:

    sizes(params, n_arms) -> (n_float, n_int)
    views(params, n_arms, f, i) -> tuple of named views into f and i (FIELDS order)
    init(params, n_arms, f, i)
    update(params, n_arms, f, i, arms, rewards, offsets)
    sample(params, n_arms, f, i, rng, out)          # out: int64 (batch_size,)
    probs(params, n_arms, f, i, out)                # out: float64 (n_arms,)

``params`` is the float64 array packed from the declared hyperparameters. Kernels never
validate: this class validates every call first, so a rejected call changes no state.

Sampling rule shared by all: a batch larger than ``n_arms`` (distribution level) makes
each slot its own draw, with replacement; otherwise (prompt level) a batch holds
distinct arms.

A new scheduler imports ``Kernels``, ``Param``, ``Scheduler`` and ``jit`` from here
(see docs/contract.md).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ._checks import OffsetCache, check_feedback
from ._jit import jit
from ._params import Param, argument, check_memory, check_size, pack_params, plain_values
from ._rng import seed_state

# What a scheduler module needs (docs/contract.md, "Writing a new scheduler").
__all__ = ["Kernels", "Param", "Scheduler", "jit"]


@dataclass(frozen=True)
class Kernels:
    """The compiled functions and field names of one scheduler (see module doc)."""

    fields: tuple
    sizes: Callable
    views: Callable
    init: Callable
    update: Callable
    sample: Callable
    probs: Callable


def _same(a, b):
    """Equality for state-dict entries that never raises on numpy values."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value):
    """A 0-d array (what np.load gives for a saved scalar) as its Python value."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def hyperparameters_json(hyperparameters):
    """The canonical JSON text of a hyperparameter dict (sorted keys): how
    ``state_dict`` stores it, so a state is plain arrays and scalars."""
    return json.dumps(hyperparameters, sort_keys=True, allow_nan=False)


def _saved_hyperparameters(value):
    """A state's hyperparameters as a dict: from the JSON text ``state_dict`` writes
    (also as the 0-d str array ``np.load`` gives back), or a dict."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "U":
        value = str(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"The 'state' entry 'hyperparameters' is not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise TypeError(f"The 'state' entry 'hyperparameters' must be the JSON text from state_dict() (or a dict). "
                        f"Got {type(value).__name__}.")
    return value


def _exact_integers(raw, dtype):
    """``raw`` (nested lists of Python ints, e.g. parsed JSON) as an array of the integer
    ``dtype`` with every value exact, or None if it holds anything else."""
    items = np.array(raw, dtype=object)
    flat = items.reshape(-1)
    if not all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in flat):
        return None
    try:
        return items.astype(dtype)
    except (OverflowError, ValueError):
        return None


def state_array(name, state, view):
    """state[name] as an array shaped and typed like ``view``, or a clear error."""
    if name not in state:
        raise ValueError(f"The 'state' dict lacks the array {name!r}.")
    raw = state[name]
    array = None
    if isinstance(raw, (list, tuple)) and view.dtype.kind in "iu":  # JSON lists: ints exactly, any size
        try:
            array = _exact_integers(raw, view.dtype)
        except ValueError:  # ragged nesting
            array = None
    if array is None:
        try:
            array = np.asarray(raw)
        except (TypeError, ValueError) as error:
            raise TypeError(f"The 'state' entry {name!r} is not an array: {error}") from None
    if array.size == 0 and view.size == 0 and array.dtype.kind in "biuf":  # an empty JSON list: float64 (0,)
        return np.zeros(view.shape, dtype=view.dtype)
    if array.shape != view.shape:
        raise ValueError(f"The 'state' array {name!r} has shape {array.shape}; expected {view.shape}.")
    wrong_type = TypeError(f"The 'state' array {name!r} has dtype {array.dtype}; expected {view.dtype}.")
    if array.dtype.kind not in "biuf":
        raise wrong_type
    with np.errstate(invalid="ignore", over="ignore"):
        converted = array.astype(view.dtype, copy=True)
    # int64 <-> uint64 only when every value survives (e.g. an rng saved as int64)
    lossless = np.can_cast(array.dtype, view.dtype, casting="same_kind") or (
        array.dtype.kind in "iu" and view.dtype.kind in "iu" and np.array_equal(converted, array))
    if not lossless:
        raise wrong_type
    return converted


N_ARMS = argument("n_arms", "int", low=1, doc="arms: distributions or prompts")
BATCH_SIZE = argument("batch_size", "int", low=1, doc="arms drawn by one sample() call")
_LARGE_BATCH = 2**20  # above it, sample() checks that its arrays fit in memory
_BATCH_BYTES = 32  # bytes per slot: the draws and the kernels' per-slot work arrays


def state_sizes(kernels, params, n_arms):
    """(n_float, n_int) of a scheduler's state, in exact Python integers (the kernel's
    own formula run as Python, so a huge size cannot wrap around int64)."""
    sizes = getattr(kernels.sizes, "py_func", kernels.sizes)
    return tuple(int(n) for n in sizes(params, n_arms))


def _first_non_finite(arrays):
    """(name, flat index, value) of the first NaN or infinity in the float arrays."""
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            where = int(np.flatnonzero(~np.isfinite(array.reshape(-1)))[0])
            return name, where, float(array.reshape(-1)[where])
    return None


class Scheduler:
    """Base of every scheduler: validation, state and the public verbs.

    Subclasses set ``name`` (registry name), ``kernels`` and ``params`` (a tuple of
    :class:`Param`); the formula lives in the subclass docstring.
    """

    name: ClassVar[str] = ""
    kernels: ClassVar[Kernels]
    params: ClassVar[tuple[Param, ...]] = ()
    #: True if update(a+b) == update(a); update(b) for any split of a feedback batch.
    batch_split_invariant: ClassVar[bool] = True
    #: True if, when batch_size > n_arms, every slot of sample() is an independent
    #: draw from probs(); False where probs() only describes the selection.
    exact_probs: ClassVar[bool] = True
    #: True if relabelling the arms relabels probs() alike (no ties broken by arm id).
    permutation_equivariant: ClassVar[bool] = True
    # Declared capabilities (scikit-learn's tags): read, never inferred from fields.
    # A subclass whose answer depends on its settings assigns the instance value.
    #: The arms its method schedules by default: "distribution", "prompt", or None
    #: (whatever the caller's setting, e.g. the scenario's, as for uniform).
    arm_level: ClassVar[str | None] = None
    #: True if the state starts with Beta posteriors alpha = f[:n_arms] and
    #: beta = f[n_arms:2 n_arms] (fields "alpha", "beta"): rollout allocation reads them.
    keeps_posterior: ClassVar[bool] = False
    #: True for a scheduler whose kernels call other schedulers' kernels by kind
    #: (two-level); composites come last in the registry's list and do not nest.
    composite: ClassVar[bool] = False

    def __init__(self, n_arms, *, seed=None, **hyperparameters):
        self.n_arms = check_size(N_ARMS, n_arms, type(self).__name__)
        known = {p.name: p.default for p in self.params}
        unknown = sorted(set(hyperparameters) - set(known))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown hyperparameter(s) {unknown}. "
                f"Valid ones: {sorted(known) or 'none'}."
            )
        known.update(hyperparameters)
        self._params = self._pack_params(known)
        self.hyperparameters = plain_values(self.params, known)
        self._check_hyperparameters()
        n_float, n_int = state_sizes(self.kernels, self._params, self.n_arms)
        check_memory(f"{type(self).__name__} over n_arms={self.n_arms}", 8 * (n_float + n_int + 2 * self.n_arms),
                     "Use fewer arms or smaller windows.")
        self._f = np.zeros(n_float, dtype=np.float64)
        self._i = np.zeros(n_int, dtype=np.int64)
        self.kernels.init(self._params, self.n_arms, self._f, self._i)
        self._rng = seed_state(seed)
        self._offsets = OffsetCache()

    def _pack_params(self, values):
        """The float64 params array the kernels read: ``values`` (name -> value) checked
        against the declared ``params`` and packed. Composites assemble theirs from
        their parts instead."""
        return pack_params(type(self).__name__, self.params, values)

    def _check_hyperparameters(self):
        """Cross-parameter checks a subclass needs (raise ValueError); none by default."""

    def __repr__(self):
        changed = {k: v for k, v in self.hyperparameters.items()
                   if v != next(p.default for p in self.params if p.name == k)}
        extra = "".join(f", {k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}(n_arms={self.n_arms}{extra})"

    # -- the public verbs ---------------------------------------------------------

    def sample(self, batch_size):
        """Return ``batch_size`` arm ids (np.int64) to train on next."""
        batch_size = check_size(BATCH_SIZE, batch_size, "sample")
        if batch_size > _LARGE_BATCH:
            check_memory(f"sample(batch_size={batch_size})", _BATCH_BYTES * batch_size)
        out = np.empty(batch_size, dtype=np.int64)
        self.kernels.sample(self._params, self.n_arms, self._f, self._i, self._rng, out)
        return out

    def update(self, arms, rewards, offsets=None):
        """Feed back the rollout rewards of the pulled arms.

        ``rewards`` is a (B, G) float array (G rollouts for each of the B entries of
        ``arms``), or a flat array of all rollouts with ``offsets`` (int, B + 1):
        group b is ``rewards[offsets[b]:offsets[b + 1]]`` (variable group sizes).
        """
        arms, rewards, offsets = self._check_feedback(arms, rewards, offsets)
        self.kernels.update(self._params, self.n_arms, self._f, self._i, arms, rewards, offsets)

    def probs(self):
        """The current sampling distribution over arms: float64 (n_arms,), sums to 1."""
        out = np.empty(self.n_arms, dtype=np.float64)
        self.kernels.probs(self._params, self.n_arms, self._f, self._i, out)
        return out

    def warm_start(self, arms, successes, trials, *, decay=1.0):
        """Start a posterior scheduler (``keeps_posterior``) from a previous run's outcomes:

            alpha[a] += decay * successes,   beta[a] += decay * (trials - successes)

        per entry (an arm may repeat; its entries add up). ``decay`` in (0, 1] is the share
        of the old evidence kept: below 1 a prompt the old run found solved (or hopeless)
        keeps enough uncertainty to be drawn again and re-measured (readmission), and a run
        whose prompts changed since (a mismatched warm start) costs less. Per-prompt counts
        from a ledger (``banditcurr.ledger.read``): group rows by prompt_id, sum the success
        lists; map prompt ids to arm ids first. A rejected call changes no state.
        """
        from ._posterior import warm_start_posterior

        if not self.keeps_posterior:
            raise TypeError(f"{type(self).__name__} keeps no Beta posterior to warm-start (with these settings). "
                            f"Schedulers that do: thompson, learnability (estimator='posterior'), cures.")
        alpha, beta = self.kernels.views(self._params, self.n_arms, self._f, self._i)[:2]
        warm_start_posterior(alpha, beta, arms, successes, trials, decay)

    def state_dict(self):
        """A plain dict of copies: every learned array by name, the random stream,
        and the hyperparameters. ``load_state_dict`` restores it exactly."""
        views = self.kernels.views(self._params, self.n_arms, self._f, self._i)
        state = {name: np.array(view, copy=True) for name, view in zip(self.kernels.fields, views)}
        state["rng"] = self._rng.copy()
        state["scheduler"] = self.name
        state["n_arms"] = self.n_arms
        state["hyperparameters"] = hyperparameters_json(self.hyperparameters)
        return state

    @classmethod
    def from_state_dict(cls, state):
        """A new scheduler of this class restored from ``state`` (its size and
        hyperparameters read from the state; an exact resume)."""
        if not isinstance(state, Mapping) or "n_arms" not in state or "hyperparameters" not in state:
            raise ValueError("The 'state' argument must be a dict from state_dict() (with 'n_arms' and "
                             "'hyperparameters' entries).")
        scheduler = cls(check_size(N_ARMS, _plain(state["n_arms"]), "from_state_dict"), seed=0,
                        **cls._construction_arguments(state, _saved_hyperparameters(state["hyperparameters"])))
        scheduler.load_state_dict(state)
        return scheduler

    @classmethod
    def _construction_arguments(cls, state, hyperparameters):
        """Keyword arguments that rebuild the scheduler a ``state`` came from."""
        return hyperparameters

    def load_state_dict(self, state):
        """Restore a ``state_dict`` of a scheduler of the same name, size and
        hyperparameters; checked whole before anything is written."""
        if not isinstance(state, Mapping):
            raise TypeError(f"The 'state' argument must be a dict from state_dict(). Got {type(state).__name__}.")
        state = dict(state)  # e.g. the NpzFile of np.load(path, allow_pickle=False)
        expected = {"scheduler": self.name, "n_arms": self.n_arms, "hyperparameters": self.hyperparameters}
        for key, value in expected.items():
            if key not in state:
                raise ValueError(f"The 'state' dict has no {key!r} entry: was it made by state_dict()?")
            saved = state[key]
            if key == "hyperparameters":
                saved = _saved_hyperparameters(saved)
                value = json.loads(hyperparameters_json(value))
            if not _same(_plain(saved), value):
                raise ValueError(
                    f"The 'state' dict is for {key}={state[key]!r}, but this scheduler has {key}={value!r}. "
                    f"Create the scheduler with the same settings before loading."
                )
        views = self.kernels.views(self._params, self.n_arms, self._f, self._i)
        names = self.kernels.fields + ("rng",)
        extra = sorted(set(state) - set(names) - set(expected))
        if extra:
            raise ValueError(f"The 'state' dict has unexpected entries {extra}; {self.name} state holds {list(names)}.")
        new = {}
        for name, view in zip(names, views + (self._rng,)):
            new[name] = state_array(name, state, view)
        if not new["rng"].any():
            raise ValueError("The 'state' array 'rng' is all zeros, which is not a valid xoshiro256** state.")
        self._check_arrays(new)
        for name, view in zip(names, views + (self._rng,)):
            view[...] = new[name]

    def _check_arrays(self, arrays):
        """Every check of loaded arrays: all floats finite, then ``_check_state``."""
        bad = _first_non_finite(arrays)
        if bad is not None:
            raise ValueError(f"The 'state' array {bad[0]!r} holds {bad[2]!r} at flat index {bad[1]}: a scheduler's "
                             "state is finite. It was not made by this scheduler, or it was corrupted.")
        self._check_state(arrays)

    def _check_state(self, arrays):
        """Check loaded arrays (name -> array of the right shape and dtype, floats
        finite) for the invariants the kernels rely on: ranges, cursors in bounds,
        counts >= 0; raise ValueError. Nothing to check by default."""

    @classmethod
    def _checker(cls, n_arms, hyperparameters, params):
        """An object whose ``_check_arrays`` checks the state of a scheduler of this
        class with these settings, without allocating one (composites check their parts)."""
        checker = cls.__new__(cls)
        checker.n_arms, checker.hyperparameters, checker._params = n_arms, hyperparameters, params
        return checker

    @staticmethod
    def _refuse_state(problem):
        raise ValueError(f"The 'state' dict {problem}: it was not made by this scheduler, or it was corrupted.")

    # -- input validation ---------------------------------------------------------

    def _check_feedback(self, arms, rewards, offsets):
        """Validate feedback (see ``update``); return (arms, rewards, offsets) as the
        kernels take them: int64 (B,), float64 flat, int64 (B + 1,)."""
        return check_feedback(self.n_arms, arms, rewards, offsets, self._offsets)
