"""The rollout ledger: one row per rollout group, in Parquet files a crash cannot tear.

    banditcurr ledger out/train/ledger            # pass-rate tables of a ledger
    banditcurr ledger out/train/ledger --top 50   # ... with the 50 most rolled-out prompts

A ledger is a directory (docs/ledger.md has the full contract):

    _ledger.json                          {"format": "banditcurr-ledger", "version": 1, "run_id",
                                           "source", "success_metric", "distributions", "config"}
    steps-00000001-00000001.parquet       the groups of steps 1..1
    steps-00000002-00000005.parquet       the groups of steps 2..5 (one file per flush)

Every file is written under a hidden temporary name, fsynced and renamed into place
(``os.replace``), so a reader sees whole files only and a kill -9 loses at most the rows
not yet flushed. The leading ``_`` and ``.`` keep pyarrow's dataset discovery away from
the metadata and the temporaries, so ``pandas.read_parquet(DIR)`` reads the rows in one
line. :func:`read` does the same after checking the directory against the contract.

Columns (one row per rollout group): run_id, step (1-based), policy_version (weight
updates before the rollout), arm, prompt_id, distribution (name), rewards list<float64>,
success list<bool>, completion_tokens list<int64> (null when unknown), trained (bool).

pyarrow and pandas are imported inside the functions: ``import banditcurr`` stays light.
"""

import json
import os
import re

import numpy as np

from ._atomic import fsync_folder, is_temporary, write_atomically, write_text_atomically
from ._params import add_option, argument, check_arguments

FORMAT = "banditcurr-ledger"
VERSION = 1
META = "_ledger.json"
SOURCES = ("train", "simulate")
COLUMNS = ("run_id", "step", "policy_version", "arm", "prompt_id", "distribution", "rewards", "success",
           "completion_tokens", "trained")
_PART = re.compile(r"^steps-(\d{8})-(\d{8})\.parquet$")
_MAX_PART_ROLLOUTS = 2 ** 31 - 1


def schema():
    """The pyarrow schema of every part file."""
    import pyarrow as pa

    return pa.schema([
        ("run_id", pa.string()), ("step", pa.int64()), ("policy_version", pa.int64()), ("arm", pa.int64()),
        ("prompt_id", pa.string()), ("distribution", pa.string()), ("rewards", pa.list_(pa.float64())),
        ("success", pa.list_(pa.bool_())), ("completion_tokens", pa.list_(pa.int64())), ("trained", pa.bool_()),
    ])


def _part_name(first, last):
    return f"steps-{first:08d}-{last:08d}.parquet"




# -- reading and checking ------------------------------------------------------------------


def read_meta(directory):
    """The ``_ledger.json`` mapping of ledger ``directory``; ValueError if it is not a ledger."""
    if not os.path.isdir(directory):
        raise ValueError(f"Ledger {directory!r}: no such directory.")
    path = os.path.join(directory, META)
    if not os.path.isfile(path):
        others = sorted(n for n in os.listdir(directory) if not n.startswith("."))
        held = f"it holds {', '.join(map(repr, others[:5]))}{' ...' if len(others) > 5 else ''}" if others \
            else "it is empty"
        raise ValueError(f"{directory!r} is not a banditcurr ledger: it has no {META} ({held}).")
    try:
        with open(path) as handle:
            meta = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"Ledger {directory!r}: {META} is not readable JSON ({error}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{directory!r} is not a banditcurr ledger: {META} has no \"format\": \"{FORMAT}\".")
    if meta.get("version") != VERSION:
        raise ValueError(f"Ledger {directory!r} has format version {meta.get('version')!r}; this banditcurr "
                         f"reads version {VERSION}. Read it with the banditcurr that wrote it.")
    for key, kind in (("run_id", str), ("source", str), ("success_metric", str), ("distributions", list),
                      ("config", dict)):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"Ledger {directory!r}: {META} field {key!r} must be a {kind.__name__}. "
                             f"Got {meta.get(key)!r}.")
    return meta


def parts(directory):
    """``[(first_step, last_step, path)]`` of the part files, in step order; ValueError for
    a file that does not belong in a ledger or for overlapping step ranges."""
    found = []
    for name in sorted(os.listdir(directory)):
        if name == META or name.startswith("."):  # hidden: temporaries of an interrupted write
            continue
        match = _PART.match(name)
        if not match:
            raise ValueError(f"Ledger {directory!r} holds {name!r}, which is not a part of a ledger "
                             f"(expected {META} and steps-FIRST-LAST.parquet files only).")
        first, last = int(match.group(1)), int(match.group(2))
        if not 1 <= first <= last:
            raise ValueError(f"Ledger {directory!r}: part {name!r} has an empty step range.")
        found.append((first, last, os.path.join(directory, name)))
    for (_, last, path), (first, _, other) in zip(found, found[1:]):
        if first <= last:
            raise ValueError(f"Ledger {directory!r}: parts {os.path.basename(path)!r} and "
                             f"{os.path.basename(other)!r} overlap; each step must be in one part only.")
    return found


def read_table(directory):
    """All rows as one pyarrow Table, after checking every part against the contract."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = read_meta(directory)
    expected = schema()
    tables = []
    for first, last, path in parts(directory):
        name = os.path.basename(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as error:
            raise ValueError(f"Ledger {directory!r}: part {name!r} is not readable Parquet ({error}).") from None
        if not table.schema.equals(expected):
            raise ValueError(f"Ledger {directory!r}: part {name!r} has columns {table.schema.names} with other "
                             f"types than the ledger schema {expected.names} (version {VERSION}).")
        steps = table.column("step").to_numpy()
        if steps.size and (steps.min() < first or steps.max() > last):
            raise ValueError(f"Ledger {directory!r}: part {name!r} holds steps {steps.min()}..{steps.max()} "
                             f"outside its name's range {first}..{last}.")
        run_ids = set(table.column("run_id").unique().to_pylist())
        if run_ids - {meta["run_id"]}:
            raise ValueError(f"Ledger {directory!r}: part {name!r} holds rows of run(s) "
                             f"{sorted(run_ids - {meta['run_id']})}, not of this ledger's run {meta['run_id']!r}.")
        tables.append(table)
    return pa.concat_tables(tables) if tables else expected.empty_table()


def read(directory):
    """The ledger's rows as a pandas DataFrame, in step order (list columns hold arrays).

    The same rows without the checks: ``pandas.read_parquet(directory)``."""
    return read_table(directory).to_pandas()


# -- writing ---------------------------------------------------------------------------------


class LedgerWriter:
    """Appends rollout groups to ledger ``directory``; :meth:`flush` makes them durable.

    ``resume_step=None`` starts a new ledger: the directory must be absent or empty.
    ``resume_step=S`` continues the ledger of run ``run_id`` after step S: it must be the
    ledger of that run (same source, success metric and distributions), and every row of
    a step > S (written after the checkpoint being resumed) is dropped, so the resumed
    run writes no duplicate rows. ``config`` (a JSON-able dict) is stored in the metadata.
    """

    def __init__(self, directory, run_id, source, success_metric, distributions, config=None, resume_step=None):
        for name, value in (("run_id", run_id), ("success_metric", success_metric)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"LedgerWriter: {name} must be a non-empty str. Got {value!r}.")
        if source not in SOURCES:
            raise ValueError(f"LedgerWriter: source must be one of {', '.join(map(repr, SOURCES))}. Got {source!r}.")
        if (isinstance(distributions, str) or not distributions
                or not all(isinstance(d, str) and d for d in distributions)):
            raise ValueError(f"LedgerWriter: distributions must be a non-empty list of names. Got {distributions!r}.")
        if resume_step is not None and (type(resume_step) is not int or resume_step < 0):
            raise ValueError(f"LedgerWriter: resume_step must be None or an int >= 0. Got {resume_step!r}.")
        meta = {"format": FORMAT, "version": VERSION, "run_id": run_id, "source": source,
                "success_metric": success_metric, "distributions": list(distributions), "config": config or {}}
        try:
            text = json.dumps(meta, indent=1, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"LedgerWriter: config must be a JSON-able dict with finite numbers ({error}).") from None
        self.directory, self.run_id, self.distributions = directory, run_id, list(distributions)
        self._dist_index = {name: d for d, name in enumerate(self.distributions)}
        if resume_step is None:
            self._create(text)
            self.flushed_step = 0
        else:
            self._reopen(meta, resume_step)
            self.flushed_step = resume_step
        self._pending, self._pending_rollouts = [], 0
        self._pending_step = self.flushed_step

    def _create(self, text):
        if os.path.isdir(self.directory) and os.listdir(self.directory):
            if os.path.isfile(os.path.join(self.directory, META)):
                held = read_meta(self.directory)["run_id"]
                raise ValueError(f"Ledger {self.directory!r} already holds the ledger of run {held!r}. Resume that "
                                 f"run, or write the new one to another directory (or delete this one).")
            raise ValueError(f"Ledger {self.directory!r} is not empty and not a ledger "
                             f"({', '.join(sorted(os.listdir(self.directory))[:5])}); pick an empty directory.")
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"Ledger {self.directory!r} exists and is not a directory.")
        os.makedirs(self.directory, exist_ok=True)
        write_text_atomically(os.path.join(self.directory, META), text)

    def _reopen(self, meta, resume_step):
        held = read_meta(self.directory)
        if held["run_id"] != meta["run_id"]:
            raise ValueError(f"Ledger {self.directory!r} belongs to run {held['run_id']!r}, not to the resumed run "
                             f"{meta['run_id']!r}: the folder holds another run's ledger. Resume in the run's own "
                             f"folder, or start a new run elsewhere.")
        for key in ("source", "success_metric", "distributions"):
            if held[key] != meta[key]:
                raise ValueError(f"Ledger {self.directory!r}: {key} was {held[key]!r} and is now {meta[key]!r}; "
                                 f"a resumed run must keep it.")
        for name in os.listdir(self.directory):  # temporaries of a write that was interrupted
            if is_temporary(name):
                os.remove(os.path.join(self.directory, name))
        for first, last, path in parts(self.directory):
            if first > resume_step:
                os.remove(path)
            elif last > resume_step:  # keep its steps <= resume_step, then name the part for them
                import pyarrow.compute as pc
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                kept = table.filter(pc.less_equal(table.column("step"), resume_step))
                # in place first (a crash here leaves a valid part that the next resume cuts again),
                # then the rename: there is never a moment with two parts holding the same step
                write_atomically(path, lambda tmp, t=kept: pq.write_table(t, tmp))
                os.replace(path, os.path.join(self.directory, _part_name(first, resume_step)))
        fsync_folder(self.directory)

    def append_groups(self, step, policy_version, arms, prompt_ids, distribution, rewards, offsets, success,
                      completion_tokens=None, trained=True):
        """Buffer the n groups rolled out at ``step`` (>= the last appended step, > the last
        flushed one); nothing is written until :meth:`flush`.

        arms: int (n,); prompt_ids: n str (None: no prompt was drawn); distribution: n
        distribution names or indices into ``distributions``; rewards: float (N,) flat with
        ``offsets`` (n + 1,), group g = rewards[offsets[g]:offsets[g + 1]] (may be empty:
        a group skipped by an allocation); success: bool (N,); completion_tokens: int (N,)
        or None; trained: bool or bool (n,). A rejected call buffers nothing.
        """
        for name, value in (("step", step), ("policy_version", policy_version)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"append_groups: {name} must be an int >= 0. Got {value!r}.")
        if step < 1 or step <= self.flushed_step or step < self._pending_step:
            raise ValueError(f"append_groups: step must be >= 1, > the last flushed step {self.flushed_step} and "
                             f">= the last appended step {self._pending_step}. Got {step!r}.")
        offsets = _array("offsets", offsets, np.int64)
        n = offsets.size - 1
        if n < 0 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            raise ValueError(f"append_groups: offsets must start at 0 and not decrease. Got {offsets.tolist()}.")
        arms = _array("arms", arms, np.int64, n)
        rewards = _array("rewards", rewards, np.float64, int(offsets[-1]))
        if not np.all(np.isfinite(rewards)):
            raise ValueError("append_groups: rewards must be finite.")
        success = _array("success", success, np.bool_, rewards.size)
        tokens = None if completion_tokens is None else _array("completion_tokens", completion_tokens, np.int64,
                                                                 rewards.size)
        trained = _array("trained", np.broadcast_to(trained, (n,)) if np.ndim(trained) == 0 else trained, np.bool_, n)
        prompt_ids = list(prompt_ids)
        if len(prompt_ids) != n or not all(p is None or isinstance(p, str) for p in prompt_ids):
            raise ValueError(f"append_groups: prompt_ids must be {n} str (or None). Got {len(prompt_ids)} values.")
        names = []
        for value in np.asarray(distribution, dtype=object).reshape(-1).tolist():
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
                    and 0 <= value < len(self.distributions):
                names.append(self.distributions[value])
            elif isinstance(value, str) and value in self._dist_index:
                names.append(value)
            else:
                raise ValueError(f"append_groups: distribution {value!r} is neither a name of {self.distributions} "
                                 f"nor an index into it.")
        if len(names) != n:
            raise ValueError(f"append_groups: distribution must have {n} entries. Got {len(names)}.")
        if self._pending_rollouts + rewards.size > _MAX_PART_ROLLOUTS:
            raise ValueError(f"append_groups: more than {_MAX_PART_ROLLOUTS} rollouts buffered (a part's list "
                             f"offsets are int32); call flush() more often.")
        self._pending.append((int(step), int(policy_version), arms, prompt_ids, names, rewards, offsets, success,
                              tokens, trained))
        self._pending_rollouts += rewards.size
        self._pending_step = int(step)

    def flush(self):
        """Write the buffered groups as one part file (atomically); no-op when none."""
        if not self._pending:
            return
        import pyarrow.parquet as pq

        table = _to_table(self.run_id, self._pending)
        first, last = self._pending[0][0], self._pending[-1][0]
        write_atomically(os.path.join(self.directory, _part_name(first, last)), lambda tmp: pq.write_table(table, tmp))
        self._pending, self._pending_rollouts = [], 0
        self.flushed_step = last

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.flush()


def _array(name, value, dtype, size=None):
    array = np.asarray(value)
    if array.ndim != 1 and not (array.ndim == 0 and size is None):
        raise ValueError(f"append_groups: {name} must be one-dimensional. Got shape {array.shape}.")
    if size is not None and array.size != size:
        raise ValueError(f"append_groups: {name} must have {size} entries. Got {array.size}.")
    if array.size and dtype is np.bool_ and array.dtype != np.bool_:
        raise ValueError(f"append_groups: {name} must be bool. Got dtype {array.dtype}.")
    if array.size and dtype is np.int64 and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"append_groups: {name} must be integers. Got dtype {array.dtype}.")
    if array.size and dtype is np.float64 and not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"append_groups: {name} must be numbers. Got dtype {array.dtype}.")
    return array.astype(dtype, copy=False).reshape(-1)


def _to_table(run_id, pending):
    """pyarrow Table of buffered calls: list columns built from the flat arrays and offsets."""
    import pyarrow as pa

    steps, versions, arms, prompts, dists, rewards, offsets, success, tokens, trained = zip(*pending)
    n_rows = sum(a.size for a in arms)
    shifts = np.cumsum([0] + [r.size for r in rewards[:-1]])
    flat_offsets = np.concatenate([[0]] + [o[1:] + shift for o, shift in zip(offsets, shifts)]).astype(np.int32)
    offsets_array = pa.array(flat_offsets, pa.int32())

    def listed(values, kind):
        return pa.ListArray.from_arrays(offsets_array, pa.array(np.concatenate(values), kind))

    if all(t is None for t in tokens):
        token_column = pa.nulls(n_rows, pa.list_(pa.int64()))
    else:
        mask = np.concatenate([np.full(a.size, t is None) for a, t in zip(arms, tokens)])
        values = np.concatenate([np.zeros(r.size, np.int64) if t is None else t for r, t in zip(rewards, tokens)])
        token_column = pa.ListArray.from_arrays(offsets_array, pa.array(values, pa.int64()),
                                                mask=pa.array(mask, pa.bool_()))
    return pa.Table.from_arrays([
        pa.array([run_id] * n_rows, pa.string()),
        pa.array(np.concatenate([np.repeat(s, a.size) for s, a in zip(steps, arms)]), pa.int64()),
        pa.array(np.concatenate([np.repeat(v, a.size) for v, a in zip(versions, arms)]), pa.int64()),
        pa.array(np.concatenate(arms), pa.int64()),
        pa.array([p for group in prompts for p in group], pa.string()),
        pa.array([d for group in dists for d in group], pa.string()),
        listed(rewards, pa.float64()), listed(success, pa.bool_()), token_column,
        pa.array(np.concatenate(trained), pa.bool_()),
    ], schema=schema())


# -- summaries and the `banditcurr ledger` command -----------------------------------------------


def pass_rates(frame):
    """Per-distribution and per-prompt tables (pandas DataFrames) of a ledger's rows:
    groups, rollouts, trained groups, pass rate (successes / rollouts), mean reward,
    share of groups whose successes are all equal (zero variance), mean completion tokens."""
    import pandas as pd

    sizes = frame["rewards"].map(len).to_numpy()
    rolled = frame[sizes > 0]
    rows = pd.DataFrame({
        "distribution": rolled["distribution"], "prompt_id": rolled["prompt_id"], "step": rolled["step"],
        "rollouts": sizes[sizes > 0], "trained": rolled["trained"],
        "successes": rolled["success"].map(lambda s: int(np.sum(s))),
        "reward_sum": rolled["rewards"].map(lambda r: float(np.sum(r))),
        "tokens": rolled["completion_tokens"].map(lambda t: np.nan if t is None else float(np.sum(t))),
    })
    rows["zero_var"] = (rows["successes"] == 0) | (rows["successes"] == rows["rollouts"])

    def summarise(by):
        grouped = rows.groupby(by, sort=True)
        table = pd.DataFrame({
            "groups": grouped.size(), "trained": grouped["trained"].sum(), "rollouts": grouped["rollouts"].sum(),
            "pass_rate": grouped["successes"].sum() / grouped["rollouts"].sum(),
            "mean_reward": grouped["reward_sum"].sum() / grouped["rollouts"].sum(),
            "zero_var_share": grouped["zero_var"].mean(),
            "mean_tokens": grouped["tokens"].sum(min_count=1) / grouped["rollouts"].sum(),
            "first_step": grouped["step"].min(), "last_step": grouped["step"].max(),
        })
        return table

    per_prompt = summarise(["prompt_id", "distribution"]).reset_index(level="distribution")
    return summarise("distribution"), per_prompt.sort_values(["rollouts", "pass_rate"], ascending=[False, True])


TOP = argument("top", "int", low=0, doc="prompts shown in the per-prompt table, most rolled out first (0: all)")


def add_arguments(parser):
    parser.add_argument("directory", metavar="DIR", help="a ledger directory (e.g. out/train/ledger)")
    add_option(parser, TOP, default=20, metavar="N")


def run(args):
    import pandas as pd

    try:
        check_arguments("banditcurr ledger", (TOP,), {"top": args.top})
        meta = read_meta(args.directory)
        frame = read(args.directory)
    except ValueError as error:
        raise SystemExit(f"banditcurr ledger: error: {error}") from None
    steps = f"steps {frame['step'].min()}..{frame['step'].max()}" if len(frame) else "no rows yet"
    print(f"ledger of run {meta['run_id']} ({meta['source']}), success = {meta['success_metric']}, "
          f"{len(frame)} groups, {steps}")
    if not len(frame):
        return 0
    per_dist, per_prompt = pass_rates(frame)
    shown = per_prompt if args.top == 0 else per_prompt.head(args.top)
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:.3f}".format):
        print("\nper distribution:")
        print(per_dist.reindex([d for d in meta["distributions"] if d in per_dist.index]).to_string())
        print(f"\nper prompt ({len(shown)} of {len(per_prompt)}, most rolled out first):")
        print(shown.to_string())
    return 0
