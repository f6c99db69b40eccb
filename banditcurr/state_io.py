"""Save and load scheduler (and curriculum) state without pickle.

File format: one ``.npz`` archive, read with ``np.load(path, allow_pickle=False)``.

- every array of the state is one numeric (bool, int, uint or float) or unicode entry
  of the archive, named ``a0``, ``a1``, ... in the order met;
- the entry ``__state__`` is a 0-d unicode array holding JSON: ``{"format":
  "banditcurr-state", "version": 1, "state": tree}``, where ``tree`` is the state with
  each array replaced by ``{"__array__": "a3"}`` and each tuple by ``{"__tuple__":
  [...]}``; dicts (str keys), lists, str, int, float, bool and None are plain JSON.

So nothing is ever unpickled, integers keep their exact values (JSON integers are
unbounded; arrays keep their dtype), and floats round-trip exactly (``repr``). A
nested state, such as a ``Curriculum``'s that holds its scheduler's, is one file.

Writes are atomic: the archive goes to a temporary file in the target's folder,
is flushed to disk, then renamed over the target (``os.replace``), so a crash or a
full disk leaves the previous file whole.

    bc.save_state(scheduler, "sched.npz")
    resumed = bc.load_state("sched.npz")           # a new scheduler, exact resume
    bc.load_state("sched.npz", into=scheduler)      # or restore into an existing one
    state = bc.read_state("sched.npz")              # the plain state dict
"""

import json
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from ._atomic import write_atomically

FORMAT = "banditcurr-state"
VERSION = 1
_META = "__state__"
_ARRAY, _TUPLE = "__array__", "__tuple__"
_ARRAY_KINDS = "biufU"  # bool, int, uint, float, unicode: all load without pickle


def _where(path):
    return "/".join(str(part) for part in path) or "the state"


def _encode(value, path, arrays):
    """The JSON tree of ``value``; its arrays are appended to ``arrays``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"The state entry {_where(path)!r} is an array of dtype {value.dtype}; only numeric, "
                            "bool and unicode arrays can be saved without pickle.")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {_ARRAY: name}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        tree = {}
        for key, item in value.items():
            if not isinstance(key, str) or key in (_ARRAY, _TUPLE):
                raise TypeError(f"The state entry {_where(path)!r} has the key {key!r}: keys must be str "
                                f"(and not {_ARRAY!r} or {_TUPLE!r}) to be saved without pickle.")
            tree[key] = _encode(item, path + (key,), arrays)
        return tree
    if isinstance(value, (list, tuple)):
        items = [_encode(item, path + (n,), arrays) for n, item in enumerate(value)]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    raise TypeError(f"The state entry {_where(path)!r} is a {type(value).__name__}, which cannot be saved without "
                    "pickle: use arrays, dicts with str keys, lists, tuples, str, int, float, bool or None.")


def _decode(tree, arrays, used):
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY}:
            name = tree[_ARRAY]
            if name not in arrays:
                raise ValueError(f"The state file refers to the array {name!r}, which it does not hold.")
            used.add(name)
            return arrays[name]
        if set(tree) == {_TUPLE}:
            return tuple(_decode(item, arrays, used) for item in tree[_TUPLE])
        return {key: _decode(item, arrays, used) for key, item in tree.items()}
    if isinstance(tree, list):
        return [_decode(item, arrays, used) for item in tree]
    return tree


def _state_of(obj):
    if isinstance(obj, Mapping):
        return obj
    state_dict = getattr(obj, "state_dict", None)
    if not callable(state_dict):
        raise TypeError(f"The 'obj' argument of save_state must have a state_dict() method or be a state dict. "
                        f"Got {type(obj).__name__}.")
    return state_dict()


def save_state(obj, path):
    """Write ``obj.state_dict()`` (or the state dict ``obj`` itself) to ``path``, atomically.

    The file is an ``.npz`` archive that ``np.load(path, allow_pickle=False)`` reads (see
    the module doc). Returns the path written.
    """
    path = os.fspath(path)
    arrays = {}
    tree = _encode(_state_of(obj), (), arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "state": tree}, allow_nan=True)

    def write(temporary):
        with open(temporary, "wb") as file:  # a file object: np.savez would append .npz to a name
            np.savez(file, **{_META: np.array(meta)}, **arrays)

    return write_atomically(path, write)


def read_state(path):
    """The state dict stored in ``path`` by :func:`save_state` (never unpickles)."""
    path = os.fspath(path)
    not_ours = f"The file {path!r} is not a banditcurr state file (written by banditcurr.save_state)"
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files") or _META not in archive.files:
                raise ValueError(f"{not_ours}: it has no {_META!r} entry.")
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{not_ours}: {error}") from None
    except ValueError as error:  # a pickled (object) entry, or not an archive at all
        raise ValueError(f"{not_ours}: {error}") from None
    try:
        meta = json.loads(str(arrays.pop(_META)))
    except json.JSONDecodeError as error:
        raise ValueError(f"{not_ours}: its {_META!r} entry is not JSON ({error}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "state" not in meta:
        raise ValueError(f"{not_ours}: its {_META!r} entry does not describe a state.")
    if meta.get("version") != VERSION:
        raise ValueError(f"The state file {path!r} has format version {meta.get('version')!r}; this banditcurr "
                         f"reads version {VERSION}. Use the banditcurr release that wrote it.")
    used = set()
    state = _decode(meta["state"], arrays, used)
    if used != set(arrays):
        raise ValueError(f"{not_ours}: it holds arrays its description does not use: {sorted(set(arrays) - used)}.")
    return state


def load_state(path, into=None):
    """Restore the state in ``path``: into ``into`` (anything with ``load_state_dict``,
    checked whole before anything changes) and return it, or, when ``into`` is None,
    into a new scheduler built from the registry with the saved name, size and
    hyperparameters (``Scheduler.from_state_dict``)."""
    state = read_state(path)
    if into is not None:
        into.load_state_dict(state)
        return into
    from ._registry import scheduler_class

    if not isinstance(state, dict) or not isinstance(state.get("scheduler"), str):
        raise ValueError(f"The state file {os.fspath(path)!r} holds no scheduler state (no 'scheduler' name): "
                         "pass into=<the object that saved it>, or use read_state.")
    return scheduler_class(state["scheduler"]).from_state_dict(state)
