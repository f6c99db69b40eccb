"""What the trainer adapters share: task or prompt ids -> arms, arms -> dataset rows.

A trainer knows dataset rows and their columns (``data_source``, ``extra_info.index``,
a ``task`` column); a scheduler knows arms 0..K-1. Three small pieces sit between:

- :class:`ArmIndex` maps the key of every dataset row (a task name, a prompt id) to an
  arm, and back from an arm to the rows that carry its key.
- :func:`pick_rows` chooses the row to train on for each drawn arm: each arm walks a
  shuffled cycle of its rows (every prompt of a distribution once before any repeats).
- :class:`Curriculum` owns the scheduler, the picking stream and the queue of drawn
  batches whose rewards have not come back yet; ``state_dict`` holds all three, so a
  resumed run re-issues exactly the batches that were drawn but never scored.

Nothing here imports a trainer library: verl and TRL code lives in the sibling modules.
"""

from collections import deque
from collections.abc import Mapping

import numpy as np

from .._jit import jit
from .._registry import make
from .._rng import randint, seed_state
from ..base import Scheduler, state_array

LEVELS = ("distribution", "prompt")
MAX_PENDING = 8  # drawn batches awaiting rewards; trainers load at most one or two ahead


def key_path(path):
    """Split a key spec such as ``"extra_info.index"`` into its parts, checked."""
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise ValueError(
            f"The 'arm_key' setting must be a column name, optionally with dotted parts into nested "
            f"dicts (e.g. 'data_source' or 'extra_info.index'), or a list of them. Got {path!r} instead."
        )
    return tuple(path.split("."))


def lookup(value, parts, spec, where):
    """Follow ``parts`` into nested mappings; a missing part is a ValueError naming ``where``."""
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(f"{where} has no {part!r} (looked up for arm_key={spec!r}).")
        value = value[part]
    return value


class ArmKey:
    """Where a row's arm key lives: a column, a dotted path into a dict column
    (``"extra_info.index"``), or a list of those, whose values then form a tuple key
    (``["data_source", "extra_info.index"]`` when ids repeat across sources)."""

    def __init__(self, spec):
        if isinstance(spec, (list, tuple)) and spec:
            self.paths = [key_path(path) for path in spec]
            self.spec, self.composite = list(spec), True
        else:
            self.paths = [key_path(spec)]
            self.spec, self.composite = spec, False

    def _combine(self, values):
        return tuple(values) if self.composite else values[0]

    def of_row(self, row, where):
        """The key of one row (a mapping of column -> value)."""
        return self._combine([lookup(row, parts, self.spec, where) for parts in self.paths])

    def of_columns(self, columns, n_rows, where):
        """The keys of ``n_rows`` rows stored as columns (``columns[name][row]``), e.g.
        verl's ``non_tensor_batch``; a missing column is a ValueError naming ``where``."""
        names = getattr(columns, "column_names", None)
        names = list(columns) if names is None else list(names)
        per_path = []
        for parts in self.paths:
            if parts[0] not in names:
                raise ValueError(f"{where} has no column {parts[0]!r} (arm_key={self.spec!r}). It holds: {names}.")
            column = list(columns[parts[0]])
            per_path.append([lookup(column[row], parts[1:], self.spec, f"Row {row}'s {parts[0]!r}")
                             for row in range(n_rows)])
        return [self._combine(values) for values in zip(*per_path)]


def dataset_keys(dataset, spec):
    """The arm key of every row of ``dataset`` (see :class:`ArmKey`), in row order.

    Reads whole columns where the dataset offers them (a Hugging Face ``datasets.Dataset``,
    or verl's ``RLHFDataset`` through its ``dataframe``), else row by row with
    ``dataset[i]``.
    """
    key = ArmKey(spec)
    table = getattr(dataset, "dataframe", dataset)
    if getattr(table, "column_names", None) is not None:
        return key.of_columns(table, len(table), "The dataset")
    return [key.of_row(dataset[row], f"Dataset row {row}") for row in range(len(dataset))]


def repeated_key(keys):
    """(first row, second row) of the first key that two rows share, or None."""
    seen = {}
    for row, key in enumerate(keys):
        key = _hashable(key, f"The key of dataset row {row}")
        if key in seen:
            return seen[key], row
        seen[key] = row
    return None


def _sort_key(value):
    return (isinstance(value, str), value)


def _hashable(value, where):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple):
        value = tuple(v.item() if isinstance(v, np.generic) else v for v in value)
        if any(v is None for v in value):
            raise ValueError(f"{where} is {value!r}: every part of a row's key must be set.")
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"{where} is {value!r} ({type(value).__name__}): an arm key must be a str or a number.") from None
    if value is None:
        raise ValueError(f"{where} is None: every row needs a key to be mapped to an arm.")
    return value


class ArmIndex:
    """Arm ids for the keys of a dataset's rows.

    Arms are the distinct keys in sorted order (numbers before strings), so a dataset
    gives the same arm ids in every process and run. ``names[k]`` is arm k's key;
    the rows of arm k are ``rows[starts[k]:starts[k + 1]]`` (int64, in row order).
    """

    def __init__(self, row_keys):
        if len(row_keys) == 0:
            raise ValueError("The dataset is empty: a curriculum needs at least one row.")
        keys = [_hashable(key, f"The key of dataset row {row}") for row, key in enumerate(row_keys)]
        self.names = sorted(set(keys), key=_sort_key)
        self._arm_of = {name: arm for arm, name in enumerate(self.names)}
        row_arms = np.array([self._arm_of[key] for key in keys], dtype=np.int64)
        self.rows = np.argsort(row_arms, kind="stable").astype(np.int64)
        self.starts = np.zeros(len(self.names) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_arms, minlength=len(self.names)), out=self.starts[1:])

    @property
    def n_arms(self):
        return len(self.names)

    def arms(self, keys):
        """Arm ids (int64) of ``keys``; a key the dataset does not hold is a ValueError."""
        out = np.empty(len(keys), dtype=np.int64)
        for j, key in enumerate(keys):
            key = _hashable(key, f"Feedback key {j}")
            arm = self._arm_of.get(key)
            if arm is None:
                shown = ", ".join(repr(name) for name in self.names[:8])
                raise ValueError(
                    f"Feedback key {j} is {key!r}, which no training row carries. "
                    f"Known keys ({self.n_arms}): {shown}{', ...' if self.n_arms > 8 else ''}."
                )
            out[j] = arm
        return out


@jit
def pick_rows(rng, order, starts, cursor, arms, out):
    """For each arm in ``arms`` put its next row into ``out``.

    ``order`` (int64, n_rows) holds each arm's rows in the slice ``starts[k]:starts[k+1]``
    and ``cursor[k]`` (int64) counts the rows of arm k already used in the current cycle.
    An exhausted cycle (cursor = size, the initial state) is reshuffled in place with
    Fisher-Yates draws from ``rng`` (xoshiro256**, uint64[4]) before its first row is used.
    """
    for b in range(arms.shape[0]):
        arm = arms[b]
        start = starts[arm]
        size = starts[arm + 1] - start
        if cursor[arm] == size:
            for j in range(size - 1, 0, -1):
                r = randint(rng, j + 1)
                order[start + j], order[start + r] = order[start + r], order[start + j]
            cursor[arm] = 0
        out[b] = order[start + cursor[arm]]
        cursor[arm] += 1


def _int_vector(name, value):
    """A pending batch's arm or row ids as int64 (n,), exactly (no fractional values)."""
    array = np.asarray(value)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(f"The curriculum state's {name!r} entries must be 1-D integer arrays. "
                         f"Got shape {array.shape}, dtype {array.dtype}.")
    return array.astype(np.int64)


def build_scheduler(scheduler, n_arms, seed, hyperparameters):
    """A scheduler over ``n_arms`` arms from a registry name or a ready instance."""
    if isinstance(scheduler, Scheduler):
        if hyperparameters:
            raise ValueError(
                "Scheduler hyperparameters were given together with a ready scheduler instance; "
                "set them when creating the instance, or pass the scheduler by name."
            )
        if scheduler.n_arms != n_arms:
            raise ValueError(
                f"The scheduler has n_arms={scheduler.n_arms}, but the dataset holds {n_arms} distinct arm keys. "
                "Create it with that many arms, or pass the scheduler by name."
            )
        return scheduler
    if not isinstance(scheduler, str):
        raise TypeError(
            f"The 'scheduler' argument must be a registered name (see banditcurr.available()) or a "
            f"banditcurr Scheduler. Got {type(scheduler).__name__}."
        )
    return make(scheduler, n_arms, seed=seed, **dict(hyperparameters or {}))


class Curriculum:
    """A scheduler plus the bookkeeping between its arms and a trainer's dataset.

    ``draw(n)`` samples n arms and picks a row for each (the returned rows are what the
    trainer generates from); the drawn batch waits in ``pending`` until ``feedback``
    brings its rewards back. Trainers load ahead (TRL draws the next generation batch
    before the current one is scored), so more than one batch can be pending.

    ``seed`` seeds two independent streams (SeedSequence children): the scheduler's
    and the row-picking one.
    """

    def __init__(self, scheduler, row_keys, *, seed=0, hyperparameters=None):
        self.index = ArmIndex(row_keys)
        scheduler_seed, picker_seed = np.random.SeedSequence(seed).spawn(2)
        self.scheduler = build_scheduler(scheduler, self.index.n_arms, scheduler_seed, hyperparameters)
        self._rng = seed_state(picker_seed)
        self._order = self.index.rows.copy()
        self._cursor = np.diff(self.index.starts)  # every cycle starts exhausted: shuffled on first use
        self.pending = deque()
        self.n_feedback_groups = 0
        self.last_lag = None  # batches drawn after the one the last feedback retired

    @property
    def n_arms(self):
        return self.index.n_arms

    @property
    def arm_names(self):
        return list(self.index.names)

    def probs(self):
        """The scheduler's current distribution over arms (float64, n_arms)."""
        return self.scheduler.probs()

    def draw(self, n_prompts):
        """Sample ``n_prompts`` arms and a row for each; return the rows (int64)."""
        arms = self.scheduler.sample(n_prompts)
        rows = np.empty(n_prompts, dtype=np.int64)
        pick_rows(self._rng, self._order, self.index.starts, self._cursor, arms, rows)
        self.pending.append((arms, rows))
        if len(self.pending) > MAX_PENDING:  # feedback is not coming back for these: forget the oldest
            self.pending.popleft()
        return rows

    def feedback(self, keys, rewards, offsets):
        """Feed back groups of rewards: group g is ``rewards[offsets[g]:offsets[g+1]]``
        from the row whose key is ``keys[g]``. Returns the arms updated (int64).

        Feedback arrives in draw order, so the first pending batch whose arms contain the
        feedback's arms (as a multiset: trainers reorder rows and may drop groups) is
        retired together with any older ones, which will never be scored. Feedback that
        matches no pending batch still updates the scheduler.
        """
        arms = self.index.arms(keys)
        self.scheduler.update(arms, rewards, offsets)  # checks them: no silent casts (1.7 is not an offset)
        self.n_feedback_groups += len(arms)
        counts = np.bincount(arms, minlength=self.n_arms)
        self.last_lag = None
        for position, (drawn, _) in enumerate(self.pending):
            if np.all(counts <= np.bincount(drawn, minlength=self.n_arms)):
                self.last_lag = len(self.pending) - position - 1
                for _ in range(position + 1):
                    self.pending.popleft()
                break
        return arms

    def state_dict(self):
        """Scheduler state, picking stream and cycles, and the pending batches' arms."""
        return {
            "scheduler": self.scheduler.state_dict(),
            "arm_names": list(self.index.names),
            "picker_rng": self._rng.copy(),
            "picker_order": self._order.copy(),
            "picker_cursor": self._cursor.copy(),
            "pending_arms": [arms.copy() for arms, _ in self.pending],
            "pending_rows": [rows.copy() for _, rows in self.pending],
            "n_feedback_groups": self.n_feedback_groups,
        }

    def load_state_dict(self, state):
        """Restore ``state_dict()`` of a curriculum over the same arm keys; checked first."""
        if not isinstance(state, Mapping):
            raise TypeError(f"The curriculum state must be a dict from state_dict(). Got {type(state).__name__}.")
        needed = {"scheduler", "arm_names", "picker_rng", "picker_order", "picker_cursor", "pending_arms", "pending_rows"}
        missing = sorted(needed - set(state))
        if missing:
            raise ValueError(f"The curriculum state lacks {missing}: was it made by state_dict()?")
        if list(state["arm_names"]) != self.index.names:
            raise ValueError(
                f"The curriculum state is for {len(state['arm_names'])} arm keys "
                f"({state['arm_names'][:4]}...), but this dataset gives {self.n_arms} "
                f"({self.index.names[:4]}...). Resume with the same training data and arm_key."
            )
        # Every entry is checked (exact integer types, shapes, ranges) before anything changes.
        rng = state_array("picker_rng", state, self._rng)
        if not rng.any():
            raise ValueError("The curriculum state's 'picker_rng' is all zeros, which is not a valid xoshiro256** "
                             "state (the next draw would never return).")
        order = state_array("picker_order", state, self._order)
        cursor = state_array("picker_cursor", state, self._cursor)
        if not np.array_equal(np.sort(order), np.sort(self.index.rows)):
            raise ValueError("The curriculum state's 'picker_order' does not permute this dataset's rows.")
        if np.any(cursor < 0) or np.any(cursor > np.diff(self.index.starts)):
            raise ValueError("The curriculum state's 'picker_cursor' does not fit this dataset's arms.")
        batches = (state["pending_arms"], state["pending_rows"])
        if not all(isinstance(b, (list, tuple)) for b in batches) or len(batches[0]) != len(batches[1]) \
                or len(batches[0]) > MAX_PENDING:
            raise ValueError(f"The curriculum state's 'pending_arms' and 'pending_rows' must be lists of the same "
                             f"length, at most {MAX_PENDING}.")
        pending = [(_int_vector("pending_arms", arms), _int_vector("pending_rows", rows)) for arms, rows in zip(*batches)]
        n_rows = len(self.index.rows)
        for arms, rows in pending:
            if arms.shape != rows.shape or np.any(arms < 0) or np.any(arms >= self.n_arms) \
                    or np.any(rows < 0) or np.any(rows >= n_rows):
                raise ValueError(
                    f"The curriculum state's pending batches must pair arm ids in 0..{self.n_arms - 1} with "
                    f"row ids in 0..{n_rows - 1}, one each."
                )
        n_feedback_groups = state.get("n_feedback_groups", 0)
        if isinstance(n_feedback_groups, np.ndarray) and n_feedback_groups.ndim == 0:
            n_feedback_groups = n_feedback_groups.item()
        if isinstance(n_feedback_groups, bool) or not isinstance(n_feedback_groups, (int, np.integer)) \
                or n_feedback_groups < 0:
            raise ValueError(f"The curriculum state's 'n_feedback_groups' must be an int >= 0. "
                             f"Got {n_feedback_groups!r}.")
        self.scheduler.load_state_dict(state["scheduler"])
        self._rng[...] = rng
        self._order[...] = order
        self._cursor[...] = cursor
        self.pending = deque(pending)
        self.n_feedback_groups = int(n_feedback_groups)
