"""The run folder and its checkpoints: one run per ``out_dir``, exact resume, atomic writes.

Layout of ``out_dir``:

    config.json          the run's settings
    log.jsonl            one JSON record per step, append-only
    ledger/              one row per rollout group (banditcurr.ledger)
    checkpoints/
      step-000050/policy/        the policy, ``save_pretrained`` (safetensors): loadable
                                 by transformers and vLLM as is
      step-000050/optimizer.pt   AdamW's state and torch's RNG state, read back with
                                 ``torch.load(weights_only=True)`` (tensors and plain values;
                                 nothing is unpickled into code)
      step-000050/scheduler.npz  the scheduler's state (``banditcurr.save_state``: npz + JSON)
      step-000050/trainer.json   step, run id, config, the NumPy and Python RNG states
      latest                     the name of the newest complete checkpoint

A checkpoint is assembled in ``step-000050.tmp``, flushed to disk and renamed into place
with ``os.replace``, then ``latest`` is rewritten the same way (temp file + ``os.replace``),
so a crash at any moment leaves ``latest`` pointing at a complete checkpoint.

:func:`start_run` decides, before any model is loaded, what a ``banditcurr train`` may do
with ``out_dir``: start a new run in a folder that holds none (``overwrite`` first deletes
the :data:`ARTEFACTS` of an old one, and nothing else), or resume the run it holds after
checking that no setting that alters the run changed.
"""

import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass

from banditcurr import ledger
from banditcurr._atomic import write_text_atomically

LATEST = "latest"
ARTEFACTS = ("log.jsonl", "config.json", "checkpoints", "ledger")


class RunFolderError(ValueError):
    """``out_dir`` cannot be used as asked (it holds another run, a resume would change
    the run, the folder was damaged); the message says what to do."""


# -- checkpoints -----------------------------------------------------------------------------


def _name(step):
    return f"step-{step:06d}"


def _fsync_tree(root):
    """Flush every file under ``root`` and the folders themselves to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _steps(root):
    """Step numbers of the complete checkpoints under ``root``."""
    return sorted(int(name[5:]) for name in os.listdir(root) if name.startswith("step-") and name[5:].isdigit())


def save(out_dir, step, policy, tensors, scheduler, info, keep=2):
    """Write checkpoint ``step``: the policy, ``tensors`` (a dict of tensors and plain
    values: optimizer state, torch RNG), the ``scheduler``'s state and ``info`` (a
    JSON-able dict). Keep it and the ``keep - 1`` newest before it; checkpoints of later
    steps (an abandoned timeline, left by a run resumed from an earlier one) are deleted,
    never the new one."""
    import torch

    import banditcurr as bc

    root = os.path.join(out_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, _name(step))
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    policy.save_pretrained(os.path.join(tmp, "policy"))
    torch.save(tensors, os.path.join(tmp, "optimizer.pt"))
    bc.save_state(scheduler, os.path.join(tmp, "scheduler.npz"))
    with open(os.path.join(tmp, "trainer.json"), "w") as handle:
        json.dump({"step": step, **info}, handle)
    _fsync_tree(tmp)
    if os.path.exists(final):  # left by a run that died before updating `latest`
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_text_atomically(os.path.join(root, LATEST), _name(step))
    older = [s for s in _steps(root) if s < step]
    for other in older[:max(len(older) - (keep - 1), 0)] + [s for s in _steps(root) if s > step]:
        shutil.rmtree(os.path.join(root, _name(other)), ignore_errors=True)
    return final


def latest(out_dir):
    """Path of the newest complete checkpoint in ``out_dir``, or None when there is none.
    A ``latest`` that names a missing checkpoint is an error (the folder was changed by
    hand or by another run), not a silent fresh start."""
    pointer = os.path.join(out_dir, "checkpoints", LATEST)
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as handle:
        name = handle.read().strip()
    path = os.path.join(out_dir, "checkpoints", name)
    if not os.path.isfile(os.path.join(path, "trainer.json")):
        raise RunFolderError(f"{pointer} names the checkpoint {name!r}, which does not exist or is incomplete: the "
                             f"folder was changed outside this run. Write the name of a complete step-* folder into "
                             f"it, or start a new run with overwrite = true.")
    return path


def read_info(path):
    """The ``trainer.json`` of checkpoint ``path``: step, run_id, config, RNG states."""
    with open(os.path.join(path, "trainer.json")) as handle:
        return json.load(handle)


def load(path):
    """(info, tensors, scheduler state) of checkpoint ``path``; nothing is unpickled."""
    import torch

    import banditcurr as bc

    tensors = torch.load(os.path.join(path, "optimizer.pt"), weights_only=True)
    return read_info(path), tensors, bc.read_state(os.path.join(path, "scheduler.npz"))


def python_rng_state(saved):
    """``random.setstate`` argument from its JSON form (lists instead of tuples)."""
    version, internal, gauss = saved
    return version, tuple(internal), gauss


def policy_dir(path):
    return os.path.join(path, "policy")


# -- the run folder ------------------------------------------------------------------------------


def _present(out_dir):
    return [name for name in ARTEFACTS if os.path.lexists(os.path.join(out_dir, name))]


def in_use(out_dir):
    """The run artefacts in ``out_dir`` when they hold results (a log record, a checkpoint
    or ledger rows); empty otherwise: a run that stopped before its first record leaves
    only config.json and an empty ledger, which a new run may replace."""
    present = _present(out_dir)
    log, rows = os.path.join(out_dir, "log.jsonl"), os.path.join(out_dir, "ledger")
    results = ((os.path.isfile(log) and os.path.getsize(log) > 0) or "checkpoints" in present
               or (os.path.isdir(rows) and any(not n.startswith(("_", ".")) for n in os.listdir(rows))))
    return present if results else []


def clear(out_dir):
    """Delete the run artefacts of ``out_dir`` (a new run starts clean); other files stay."""
    for name in _present(out_dir):
        path = os.path.join(out_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


@dataclass
class Start:
    """Where a run starts: the checkpoint to load (None: step 0), its step, the run id,
    the log records kept, the ledger writer and the harmless setting changes."""

    checkpoint: str | None
    step: int
    run_id: str
    history: list
    ledger: ledger.LedgerWriter
    changes: list


def start_run(config, distribution_names):
    """Prepare ``config.out_dir`` for this run (see the module doc); RunFolderError if it
    cannot be used as asked. Nothing is deleted before every check has passed."""
    out_dir = config.out_dir
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RunFolderError(f"out_dir {out_dir!r} exists and is not a directory.")
    used = in_use(out_dir)
    if used and not config.resume and not config.overwrite:
        raise RunFolderError(f"out_dir {out_dir!r} already holds a run ({', '.join(used)}). Resume it with resume "
                             f"= true, give the new run another out_dir, or delete the old run with overwrite = true.")
    path, changes = None, []
    if used and config.resume:
        path = latest(out_dir)
        saved = read_info(path)["config"] if path else _saved_config(out_dir, used)
        try:
            changes = config.resume_changes(saved)
        except ValueError as error:
            raise RunFolderError(str(error)) from None
        if changes:
            warnings.warn("resume: settings changed that do not alter the run: " + "; ".join(changes), stacklevel=3)
    if path is None:  # a new run, or nothing to resume yet (the same run starts again at step 0)
        clear(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    info = read_info(path) if path else {"step": 0, "run_id": _new_run_id()}
    history = _truncate_log(os.path.join(out_dir, "log.jsonl"), info["step"]) if path else []
    try:
        rows = ledger.LedgerWriter(os.path.join(out_dir, "ledger"), info["run_id"], "train",
                                   f"reward>={config.success_threshold:g}", distribution_names, config.to_dict(),
                                   resume_step=info["step"] if path else None)
    except ValueError as error:
        raise RunFolderError(f"out_dir {out_dir!r}: {error}") from None
    write_text_atomically(os.path.join(out_dir, "config.json"), json.dumps(config.to_dict(), indent=1))
    return Start(path, info["step"], info["run_id"], history, rows, changes)


def _new_run_id():
    """UTC start time and 8 random hex digits, e.g. 20261204T174501Z-3f9a0c12."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(4).hex()


def _saved_config(out_dir, used):
    path = os.path.join(out_dir, "config.json")
    try:
        with open(path) as handle:
            saved = json.load(handle)
    except (OSError, ValueError) as error:
        raise RunFolderError(f"out_dir {out_dir!r} holds a run ({', '.join(used)}) but no readable config.json "
                             f"({type(error).__name__}): it cannot be checked before resuming. Start a new run "
                             f"with overwrite = true, or in another out_dir.") from None
    if not isinstance(saved, dict):
        raise RunFolderError(f"{path} does not hold a config (a JSON object).")
    return saved


def _truncate_log(path, upto):
    """The records of log ``path`` with step <= ``upto``; the file is cut right after the
    last of them (the records after the checkpoint are redone by the resumed run). A last
    line without its newline (a write cut by a crash) is dropped with a warning; a damaged
    line before it is an error."""
    if not os.path.isfile(path):
        return []
    with open(path, "rb") as handle:
        data = handle.read()
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        warnings.warn(f"{path}: dropped a torn last line ({len(data) - whole} bytes without a newline: the write "
                      f"was cut by a crash).", stacklevel=4)
    records, end, position = [], 0, 0
    while position < whole:
        newline = data.find(b"\n", position)
        line = data[position:newline]
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or type(record.get("step")) is not int:
                raise ValueError("not a record with an int 'step'")
        except ValueError as error:
            number = data.count(b"\n", 0, position) + 1
            raise RunFolderError(f"{path}, line {number}, is damaged ({error}): the log was changed outside this "
                                 f"run. Repair or delete that line, or start a new run with overwrite = true.") from None
        if record["step"] > upto:
            break
        records.append(record)
        position = end = newline + 1
    with open(path, "r+b") as handle:
        handle.truncate(end)
    return records
