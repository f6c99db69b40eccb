"""Safe state formats: save_state / load_state / read_state (npz + JSON, never pickle),
and state_dict() through np.savez + np.load(allow_pickle=False) and through JSON."""

import json
import os

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import state_io

NAMES = bc.available()
K = 6
GROUPS = [0, 0, 1, 1, 2, 2]


def fed(name, seed=1, **extra):
    """A scheduler over K arms after a few steps of feedback."""
    kwargs = {"groups": GROUPS} if name == "two-level" else {}
    s = bc.make(name, n_arms=K, seed=seed, **kwargs, **extra)
    rng = np.random.default_rng(seed)
    for batch in (4, 9, 3):
        arms = s.sample(batch)
        s.update(arms, (rng.random((batch, 3)) < 0.5).astype(float))
    return s


def fresh(name):
    kwargs = {"groups": GROUPS} if name == "two-level" else {}
    return bc.make(name, n_arms=K, seed=123, **kwargs)


def assert_resumes(original, resumed):
    rng = np.random.default_rng(7)
    for batch in (2, 10):
        arms = original.sample(batch)
        assert np.array_equal(arms, resumed.sample(batch))
        rewards = rng.random((batch, 4))
        original.update(arms, rewards)
        resumed.update(arms, rewards)
        assert np.array_equal(original.probs(), resumed.probs())


def as_json(state):
    """What a JSON round trip of a state dict gives: arrays become nested lists."""
    plain = {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in state.items()}
    return json.loads(json.dumps(plain))


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_state_resume_exactly(name, tmp_path):
    original = fed(name)
    path = tmp_path / "state.npz"
    assert bc.save_state(original, path) == os.fspath(path)
    with np.load(path, allow_pickle=False) as archive:  # readable without pickle
        assert "__state__" in archive.files
    resumed = bc.load_state(path)
    assert type(resumed) is type(original) and resumed.hyperparameters == original.hyperparameters
    into = bc.load_state(path, into=fresh(name))
    assert_resumes(original, resumed)
    assert_resumes(bc.load_state(path), into)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips_through_npz_without_pickle(name, tmp_path):
    original = fed(name)
    path = tmp_path / "plain.npz"
    np.savez(path, **original.state_dict())
    resumed = fresh(name)
    with np.load(path, allow_pickle=False) as archive:
        resumed.load_state_dict(archive)
    assert_resumes(original, resumed)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips_through_json(name):
    original = fed(name)
    resumed = fresh(name)
    resumed.load_state_dict(as_json(original.state_dict()))  # int64 / uint64 lists come back exactly
    assert_resumes(original, resumed)


def test_json_integers_must_be_exact():
    s = fed("dump-ucb")
    state = as_json(s.state_dict())
    state["rng"] = [float(x) for x in state["rng"]]  # what a float-only JSON reader would give
    with pytest.raises(TypeError, match="'state' array 'rng' has dtype float64; expected uint64"):
        s.load_state_dict(state)
    state = as_json(s.state_dict())
    state["rng"][0] = 2**64  # does not fit uint64
    with pytest.raises(TypeError, match="'state' array 'rng'"):
        s.load_state_dict(state)
    state = as_json(s.state_dict())
    state["window_head"][0] = 1.5
    with pytest.raises(TypeError, match="'state' array 'window_head'.*float64"):
        s.load_state_dict(state)


def test_hyperparameters_are_json_text_and_checked():
    s = fed("dump-ucb", c=0.5)
    state = s.state_dict()
    assert json.loads(state["hyperparameters"])["c"] == 0.5
    state["hyperparameters"] = "{not json"
    with pytest.raises(ValueError, match="'hyperparameters' is not valid JSON"):
        s.load_state_dict(state)
    state["hyperparameters"] = json.dumps({**s.hyperparameters, "c": 0.25})
    with pytest.raises(ValueError, match="'state' dict is for hyperparameters"):
        s.load_state_dict(state)
    state["hyperparameters"] = 5
    with pytest.raises(TypeError, match="'hyperparameters' must be the JSON text"):
        s.load_state_dict(state)


def test_numpy_hyperparameters_become_plain_values():
    s = bc.make("dump-ucb", n_arms=3, window=np.int64(7), c=np.float32(0.5), seed=0)
    assert type(s.hyperparameters["window"]) is int and type(s.hyperparameters["c"]) is float
    json.loads(s.state_dict()["hyperparameters"])


def test_nested_states_keep_their_types(tmp_path):
    state = {
        "inner": {"a": np.arange(3, dtype=np.int64), "rng": np.array([2**64 - 1, 1, 2, 3], dtype=np.uint64)},
        "names": ["x", 3, ("pair", 1)],
        "pending": [np.zeros(2), np.ones((2, 2), dtype=np.float32)],
        "flag": True, "none": None, "big": 2**70, "f": 0.1, "word": np.array("text"),
        "scalar": np.int64(4),
    }
    path = bc.save_state(state, tmp_path / "nested.npz")
    back = bc.read_state(path)
    assert back["inner"]["a"].dtype == np.int64 and np.array_equal(back["inner"]["a"], [0, 1, 2])
    assert back["inner"]["rng"].dtype == np.uint64 and back["inner"]["rng"][0] == 2**64 - 1
    assert back["names"] == ["x", 3, ("pair", 1)]
    assert back["pending"][1].dtype == np.float32 and back["pending"][1].shape == (2, 2)
    assert (back["flag"], back["none"], back["big"], back["f"], back["scalar"]) == (True, None, 2**70, 0.1, 4)
    assert str(back["word"]) == "text"


@pytest.mark.parametrize("value, match", [
    (np.array([object()], dtype=object), "dtype object"),
    ({1: 2}, "key 1"),
    ({"__array__": "a0"}, "key '__array__'"),
    ({1, 2}, "set"),
])
def test_unsaveable_states_are_refused_clearly(value, match, tmp_path):
    with pytest.raises(TypeError, match=match):
        bc.save_state({"entry": value}, tmp_path / "x.npz")
    assert not os.listdir(tmp_path), "nothing is left behind"


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "state.npz"
    bc.save_state(fed("sec"), path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_io.np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        bc.save_state(fed("sec", seed=2), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["state.npz"]


def test_bad_files_are_refused_clearly(tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a banditcurr state file"):
        bc.read_state(text)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(2))
    with pytest.raises(ValueError, match="no '__state__' entry"):
        bc.read_state(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __state__=np.array("{}"), a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a banditcurr state file"):
        bc.read_state(pickled)
    future = tmp_path / "future.npz"
    np.savez(future, __state__=np.array(json.dumps({"format": "banditcurr-state", "version": 99, "state": {}})))
    with pytest.raises(ValueError, match="version 99"):
        bc.read_state(future)
    plain = bc.save_state({"x": np.zeros(2)}, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="no scheduler state"):
        bc.load_state(plain)
    with pytest.raises(FileNotFoundError):
        bc.read_state(tmp_path / "missing.npz")


def test_load_state_into_a_mismatched_scheduler_changes_nothing(tmp_path):
    path = bc.save_state(fed("dump-ucb"), tmp_path / "s.npz")
    target = fed("dump-ucb", seed=3, c=2.0)
    before = target.state_dict()
    with pytest.raises(ValueError, match="hyperparameters"):
        bc.load_state(path, into=target)
    after = target.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_a_curriculum_state_round_trips(tmp_path):
    from banditcurr.integrations._curriculum import Curriculum

    keys = ["a", "b", ("c", 1), "a", "b", ("c", 1), "d"]
    original = Curriculum("thompson", keys, seed=3)
    for _ in range(3):
        rows = original.draw(2)
        original.feedback([keys[r] for r in rows], [1.0, 0.0, 0.0, 0.0], [0, 2, 4])
    original.draw(2)  # one batch still pending
    path = bc.save_state(original, tmp_path / "curriculum.npz")
    resumed = bc.load_state(path, into=Curriculum("thompson", keys, seed=99))
    assert [len(a) for a, _ in resumed.pending] == [len(a) for a, _ in original.pending]
    for _ in range(3):
        assert np.array_equal(original.draw(2), resumed.draw(2))
