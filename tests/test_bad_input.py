"""Bad input, on every registered scheduler: a clear error naming the argument, and
the scheduler's state byte for byte what it was before the call."""

import re

import numpy as np
import pytest

import banditcurr as bc

NAMES = bc.available()
K = 6
NAN, INF = float("nan"), float("inf")


def warm(name):
    """A scheduler over K arms that has already seen some feedback."""
    s = bc.make(name, n_arms=K, seed=0)
    rng = np.random.default_rng(0)
    for batch in (3, 10):
        arms = s.sample(batch)
        s.update(arms, (rng.random((batch, 4)) < 0.5).astype(float))
    return s


def assert_unchanged(before, after):
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == after[key].dtype and value.tobytes() == after[key].tobytes(), key
        else:
            assert value == after[key], key


def rejects(scheduler, call, error, match):
    """``call(scheduler)`` raises ``error`` matching ``match`` and changes no state;
    the scheduler still works afterwards."""
    before = scheduler.state_dict()
    with pytest.raises(error, match=match):
        call(scheduler)
    assert_unchanged(before, scheduler.state_dict())
    assert scheduler.probs().shape == (K,)


# -- update ----------------------------------------------------------------------------

ARMS = np.array([0, 1], dtype=np.int64)
GOOD = np.array([[1.0, 0.0], [0.0, 0.0]])

BAD_FEEDBACK = {
    "nan reward": ((ARMS, [[1.0, NAN], [0.0, 0.0]]), ValueError, "'rewards'.*non-finite.*nan.*index 1"),
    "inf reward": ((ARMS, [[1.0, 0.0], [INF, 0.0]]), ValueError, "'rewards'.*non-finite.*inf.*index 2"),
    "-inf reward": ((ARMS, [[1.0, 0.0], [0.0, -INF]]), ValueError, "'rewards'.*non-finite"),
    "nan in ragged rewards": ((ARMS, [1.0, 0.0, NAN], [0, 1, 3]), ValueError, "'rewards'.*non-finite"),
    "arm id = K": (([0, K], GOOD), ValueError, f"'arms'.*arm id {K} at position 1.*0..{K - 1}"),
    "negative arm id": (([-1, 0], GOOD), ValueError, "'arms'.*arm id -1 at position 0"),
    "float arm ids": (([0.0, 1.0], GOOD), TypeError, "'arms'.*integers.*float64"),
    "bool arm ids": (([True, False], GOOD), TypeError, "'arms'.*integers.*bool"),
    "string arm ids": ((["a", "b"], GOOD), TypeError, "'arms'.*integers"),
    "2-D arms": (([[0, 1]], GOOD), ValueError, "'arms'.*1-D.*\\(1, 2\\)"),
    "scalar arms": ((0, GOOD), ValueError, "'arms'.*1-D"),
    "huge unsigned arm id": ((np.array([0, 2**64 - 1], dtype=np.uint64), GOOD), ValueError, "'arms'.*too large"),
    "empty batch": ((np.zeros(0, dtype=np.int64), np.zeros((0, 4))), ValueError, "'arms'.*empty"),
    "more reward rows than arms": ((ARMS, np.zeros((3, 2))), ValueError, "'rewards'.*\\(2, G >= 1\\).*\\(3, 2\\)"),
    "flat rewards without offsets": ((ARMS, [1.0, 0.0]), ValueError, "'rewards'.*shape.*'offsets'"),
    "3-D rewards": ((ARMS, np.zeros((2, 2, 2))), ValueError, "'rewards'.*shape"),
    "groups of zero rollouts": ((ARMS, np.zeros((2, 0))), ValueError, "'rewards'.*G >= 1"),
    "string rewards": ((ARMS, [["a", "b"], ["c", "d"]]), TypeError, "'rewards'.*numeric"),
    "complex rewards": ((ARMS, GOOD + 1j), TypeError, "'rewards'.*numeric.*complex"),
    "None rewards": ((ARMS, None), TypeError, "'rewards'.*numeric"),
    "2-D rewards with offsets": ((ARMS, GOOD, [0, 2, 4]), ValueError, "'rewards'.*flat"),
    "offsets too short": ((ARMS, [1.0, 0.0, 1.0], [0, 3]), ValueError, "'offsets'.*length.*3"),
    "offsets not from 0": ((ARMS, [1.0, 0.0, 1.0], [1, 2, 3]), ValueError, "'offsets'.*start at 0"),
    "offsets not to the end": ((ARMS, [1.0, 0.0, 1.0], [0, 1, 2]), ValueError, "'offsets'.*end at len\\(rewards\\) = 3"),
    "an empty group": ((ARMS, [1.0, 0.0, 1.0], [0, 0, 3]), ValueError, "'offsets'.*increase strictly"),
    "decreasing offsets": (([0, 1, 2], [1.0, 0.0, 1.0], [0, 2, 1, 3]), ValueError, "'offsets'.*increase"),
    "float offsets": ((ARMS, [1.0, 0.0, 1.0], [0.0, 1.0, 3.0]), TypeError, "'offsets'.*integers"),
    "2-D offsets": ((ARMS, [1.0, 0.0, 1.0], [[0, 1, 3]]), ValueError, "'offsets'.*1-D"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", BAD_FEEDBACK)
def test_bad_feedback_is_rejected_without_state_change(name, case):
    args, error, match = BAD_FEEDBACK[case]
    rejects(warm(name), lambda s: s.update(*args), error, match)


@pytest.mark.parametrize("name", NAMES)
def test_good_feedback_in_every_accepted_form(name):
    """The forms the checks convert (lists, int32, bool or int rewards, views) work
    and give the same state as the canonical arrays."""
    canonical, converted = warm(name), warm(name)
    rewards = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1]])
    canonical.update(np.array([0, 2, 5]), rewards.astype(np.float64))
    converted.update([0, 2, 5], rewards.astype(bool))
    canonical.update(np.array([1, 3]), np.array([1.0, 0.0, 0.5]), np.array([0, 1, 3]))
    converted.update(np.array([1, 3], dtype=np.int32), [1, 0, 0.5], [0, 1, 3])
    strided = np.arange(10, dtype=np.int64)[::5] % K  # a non-contiguous view: arms 0, 5
    canonical.update(np.array([0, 5]), np.array([[0.25, 0.5], [1.0, 1.0]]))
    converted.update(strided, np.array([[0.25, 1.0], [0.5, 1.0]]).T)
    assert_unchanged(canonical.state_dict(), converted.state_dict())


# -- sample, construction --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch_size, error", [
    (0, ValueError), (-3, ValueError), (np.int64(0), ValueError), (2.0, TypeError),
    ("3", TypeError), (True, TypeError), (None, TypeError),
])
def test_bad_batch_size(name, batch_size, error):
    match = f"'batch_size'.*int >= 1. Got {re.escape(repr(batch_size))} instead"
    rejects(warm(name), lambda s: s.sample(batch_size), error, match)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_arms", [0, -2, 2.5, "12", None, True])
def test_bad_n_arms(name, n_arms):
    with pytest.raises((ValueError, TypeError), match="'n_arms'.*int >= 1"):
        bc.make(name, n_arms=n_arms)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [-1, "x", 1.5, True])
def test_bad_seed(name, seed):
    with pytest.raises(TypeError, match="'seed'.*int >= 0"):
        bc.make(name, n_arms=K, seed=seed)


def bad_values(param):
    """(value, allowed exception types) for one Param: out of range, then wrong type."""
    if param.kind == "choice":
        return [("no-such-" + param.name, ValueError), (3.5, ValueError)]
    if param.kind == "bool":
        return [(2, TypeError), ("yes", TypeError)]
    cases = []
    if param.low is not None:
        cases.append((param.low if param.low_open else param.low - 1, ValueError))
    if param.high is not None:
        cases.append((param.high if param.high_open else param.high + 1, ValueError))
    cases.append((float("inf"), (ValueError, TypeError)))  # out of every range
    cases.append(("abc", TypeError))
    cases.append(([1], TypeError))
    if param.none_means is None:
        cases.append((None, TypeError))
    if param.kind == "int":
        cases.append((1.5, TypeError))
    return cases


HYPERPARAMETER_CASES = [
    pytest.param(name, param.name, value, error, id=f"{name}-{param.name}={value!r}")
    for name in NAMES for param in bc.REGISTRY[name][0].params for value, error in bad_values(param)
]


@pytest.mark.parametrize("name, param, value, error", HYPERPARAMETER_CASES)
def test_bad_hyperparameter_names_the_parameter(name, param, value, error):
    cls = bc.REGISTRY[name][0]
    with pytest.raises(error, match=f"'{param}' parameter of {cls.__name__} must be .*Got "):
        bc.make(name, n_arms=K, **{param: value})


def test_every_registered_scheduler_with_parameters_is_covered():
    covered = {case.values[0] for case in HYPERPARAMETER_CASES}
    assert covered == {n for n in NAMES if bc.REGISTRY[n][0].params}


@pytest.mark.parametrize("name", NAMES)
def test_unknown_hyperparameter(name):
    with pytest.raises(TypeError, match="no_such_knob"):
        bc.make(name, n_arms=K, no_such_knob=1)


def test_unknown_scheduler_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown scheduler 'dump_ucb'. Did you mean 'dump-ucb'") as info:
        bc.make("dump_ucb", n_arms=K)
    listed = str(info.value).split("Known schedulers:")[1]
    assert [n.strip(" .") for n in listed.split(",")] == NAMES


# -- load_state_dict --------------------------------------------------------------------

def edited(state, **changes):
    """A copy of ``state`` with entries replaced (value None: removed)."""
    copy = dict(state)
    for key, value in changes.items():
        if value is None:
            copy.pop(key)
        else:
            copy[key] = value
    return copy


def first_int_field(s):
    for key, value in s.state_dict().items():
        if isinstance(value, np.ndarray) and value.dtype == np.int64 and value.size:
            return key
    return None


BAD_STATES = {
    "not a dict": (lambda s, st: [1, 2], TypeError, "'state'.*dict.*list"),
    "no scheduler entry": (lambda s, st: edited(st, scheduler=None), ValueError, "'state'.*'scheduler'"),
    "another scheduler": (lambda s, st: edited(st, scheduler="other"), ValueError, "'state'.*scheduler='other'"),
    "other n_arms": (lambda s, st: edited(st, n_arms=K + 1), ValueError, f"'state'.*n_arms={K + 1}"),
    "other hyperparameters": (lambda s, st: edited(st, hyperparameters={"x": 1}), ValueError, "'state'.*hyperparameters"),
    "missing rng": (lambda s, st: edited(st, rng=None), ValueError, "'state'.*'rng'"),
    "short rng": (lambda s, st: edited(st, rng=st["rng"][:3]), ValueError, "'state' array 'rng'.*shape \\(3,\\)"),
    "float rng": (lambda s, st: edited(st, rng=st["rng"].astype(float)), TypeError, "'state' array 'rng'.*float64"),
    "string rng": (lambda s, st: edited(st, rng=np.array(["a"] * 4)), TypeError, "'state' array 'rng'.*dtype"),
    "zero rng": (lambda s, st: edited(st, rng=np.zeros(4, np.uint64)), ValueError, "'rng'.*zeros"),
    "unexpected entry": (lambda s, st: edited(st, extra=np.zeros(2)), ValueError, "'state'.*unexpected.*'extra'"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", BAD_STATES)
def test_bad_state_dict_is_rejected_without_state_change(name, case):
    make_state, error, match = BAD_STATES[case]
    s = warm(name)
    state = make_state(s, bc.make(name, n_arms=K, seed=9).state_dict())
    rejects(s, lambda s: s.load_state_dict(state), error, match)


@pytest.mark.parametrize("name", NAMES)
def test_state_of_another_scheduler_or_size_is_rejected(name):
    s = warm(name)
    other = next(n for n in NAMES if n != name)
    for state in (bc.make(other, n_arms=K).state_dict(), bc.make(name, n_arms=K + 1).state_dict()):
        rejects(s, lambda s: s.load_state_dict(state), ValueError, "'state'")


@pytest.mark.parametrize("name", NAMES)
def test_fractional_values_for_an_int_array_are_rejected(name):
    s = warm(name)
    field = first_int_field(s)
    if field is None:
        return  # no integer state to corrupt
    state = s.state_dict()
    state[field] = state[field] + 0.5
    rejects(s, lambda s: s.load_state_dict(state), TypeError, f"'state' array '{field}'.*float64")


def test_dump_ucb_refuses_cursors_out_of_range():
    for field, value in (("window_head", 300), ("window_fill", 301), ("window_head", -1)):
        s = warm("dump-ucb")
        state = s.state_dict()
        state[field][0] = value
        rejects(s, lambda s: s.load_state_dict(state), ValueError, "'state'.*cursors out of range")
    s = bc.make("dump-ucb", n_arms=K, seed=0, count_window=3)
    s.update([0, 1], GOOD)
    state = s.state_dict()
    state["recent_arms"][1] = K
    before = s.state_dict()
    with pytest.raises(ValueError, match="cursors out of range"):
        s.load_state_dict(state)
    assert_unchanged(before, s.state_dict())
