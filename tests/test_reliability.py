"""Reliability: no accepted input may hang, crash or poison a scheduler (issue 10).

Generic hypothesis properties over every registered scheduler, composites included,
with hyperparameters drawn from each scheduler's own ``Param`` declarations (any
value they accept, extremes included) and feedback anywhere in the accepted reward
range:

- for accepted hyperparameters and feedback, ``probs()`` is finite, >= 0 and sums
  to 1, and ``sample()`` returns valid arms (distinct at prompt level) in bounded time;
- a constructor call is accepted or refused with ValueError/TypeError, nothing else;
- a tampered ``state_dict`` is refused with a clear error that leaves the scheduler
  untouched, or it is accepted and the scheduler then satisfies the first property.

"Bounded time": every call must return within CALL_SECONDS, and a watchdog
(``faulthandler``) ends the process with all tracebacks if a test runs past
TEST_SECONDS, since a hang inside a compiled kernel cannot be interrupted.

Every call is counted per public verb and outcome (``CASES``); with the environment
variable ``BANDITCURR_RELIABILITY_COUNTS=path`` the table is written there as JSON at
the end of the module, and ``BANDITCURR_RELIABILITY_EXAMPLES`` raises the number of
examples (default 25 per scheduler and property).
"""

import collections
import faulthandler
import json
import math
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import banditcurr as bc
from banditcurr._checks import REWARD_LIMIT
from banditcurr._params import MAX_SIZE
from banditcurr.base import Scheduler
from streams import assert_same_state

NAMES = bc.available()
PLAIN = [name for name in NAMES if name != "two-level"]
EXAMPLES = int(os.environ.get("BANDITCURR_RELIABILITY_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
CALL_SECONDS = 20.0  # "bounded time": generous for a loaded 2-core machine; a hang never returns
TEST_SECONDS = 60 * max(10, EXAMPLES // 5)  # per test, then the watchdog ends the process
SIZE_CAP = 600  # windows and pools drawn up to here (larger accepted ones would only cost memory)
HUGE_SIZES = [MAX_SIZE + 1, 2**62, 2**63, 2**64, 1e308]  # beyond MAX_SIZE: must be refused
CASES = collections.Counter()


@pytest.fixture(autouse=True)
def _no_hang():
    """A call that never returns (a hang inside a compiled kernel cannot be interrupted)
    ends the test process with every thread's traceback instead of stalling CI."""
    faulthandler.dump_traceback_later(TEST_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module", autouse=True)
def _write_counts():
    yield
    path = os.environ.get("BANDITCURR_RELIABILITY_COUNTS")
    if path:
        with open(path, "w") as handle:
            json.dump(dict(sorted(CASES.items())), handle, indent=1)


# -- strategies -----------------------------------------------------------------------

def param_values(param):
    """Any value ``param`` may accept, its bounds and extremes included, plus sizes
    beyond MAX_SIZE for ints (which must be refused)."""
    if param.kind == "choice":
        values = st.sampled_from(param.choices)
    elif param.kind == "bool":
        values = st.booleans()
    elif param.kind == "int":
        low = int(param.low) if param.low is not None else -SIZE_CAP
        values = st.integers(low, low + SIZE_CAP) | st.sampled_from(HUGE_SIZES)
    else:
        low = -1e300 if param.low is None else param.low
        high = 1e300 if param.high is None else param.high
        values = st.floats(low, high, exclude_min=param.low_open and param.low is not None,
                           exclude_max=param.high_open and param.high is not None)
    return st.none() | values if param.none_means is not None else values


@st.composite
def hyperparameters(draw, cls):
    """A dict of some of ``cls``'s hyperparameters (the others keep their defaults)."""
    chosen = draw(st.sets(st.sampled_from([p.name for p in cls.params]))) if cls.params else set()
    return {p.name: draw(param_values(p)) for p in cls.params if p.name in chosen}


@st.composite
def scheduler_specs(draw, name):
    """(n_arms, kwargs) for ``bc.make(name, ...)``."""
    n_arms = draw(st.sampled_from([1, 2, 3, 5, 12, 40]))
    cls, _ = bc.REGISTRY[name]
    if name != "two-level":
        return n_arms, draw(hyperparameters(cls))
    n_dists = draw(st.integers(1, n_arms))
    groups = np.concatenate([np.arange(n_dists), draw(st.lists(st.integers(0, n_dists - 1),
                                                               min_size=n_arms - n_dists, max_size=n_arms - n_dists))])
    top, inner = draw(st.sampled_from(PLAIN)), draw(st.sampled_from(PLAIN))
    top_cls, inner_cls = bc.REGISTRY[top][0], bc.REGISTRY[inner][0]
    return n_arms, {"groups": np.random.default_rng(draw(st.integers(0, 99))).permutation(groups),
                    "top": top, "inner": inner, "top_params": draw(hyperparameters(top_cls)),
                    "inner_params": draw(hyperparameters(inner_cls))}


REWARD_SCALES = [1.0, 1e-300, 1e-6, 3.0, 1e6, REWARD_LIMIT]


def feedback(rng, arms, style):
    """(rewards, offsets) for ``arms``: binary, real at any accepted scale, or the
    extremes +-REWARD_LIMIT; a regular (B, G) array or ragged groups."""
    ragged, kind, scale = style
    sizes = rng.integers(1, 6, len(arms)) if ragged else np.full(len(arms), int(rng.integers(1, 7)))
    n = int(sizes.sum())
    if kind == "binary":
        rewards = (rng.random(n) < rng.random()).astype(np.float64)
    elif kind == "extreme":
        rewards = rng.choice([-REWARD_LIMIT, REWARD_LIMIT, 0.0, 1.0, -1.0, 5e-324], n)
    else:
        rewards = np.clip(rng.normal(0.0, 1.0, n) * scale, -REWARD_LIMIT, REWARD_LIMIT)
    if ragged:
        return rewards, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return rewards.reshape(len(arms), int(sizes[0])), None


feedback_styles = st.tuples(st.booleans(), st.sampled_from(["binary", "real", "extreme"]),
                            st.sampled_from(REWARD_SCALES))


# -- the checks -------------------------------------------------------------------------

def timed(verb, call):
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    assert elapsed < CALL_SECONDS, f"{verb} took {elapsed:.1f} s"
    CASES[f"{verb}: accepted"] += 1
    return result


def check_probs(s):
    p = timed("probs", s.probs)
    assert p.dtype == np.float64 and p.shape == (s.n_arms,)
    assert np.all(np.isfinite(p)) and np.all(p >= 0.0), p
    assert abs(p.sum() - 1.0) < 1e-9, p.sum()


def check_sample(s, batch):
    arms = timed("sample", lambda: s.sample(batch))
    assert arms.dtype == np.int64 and arms.shape == (batch,)
    assert arms.min() >= 0 and arms.max() < s.n_arms
    if batch <= s.n_arms:
        assert len(np.unique(arms)) == batch, "a batch of at most K slots holds distinct arms"
    return arms


def drive(s, rng, style, n_steps):
    """Sample, feed back, check: the first property over one stream."""
    check_probs(s)
    for _ in range(n_steps):
        batch = int(rng.integers(1, 2 * s.n_arms + 3))
        arms = check_sample(s, batch)
        if rng.random() < 0.3:  # feedback for arms the scheduler did not draw is legal too
            arms = rng.integers(0, s.n_arms, len(arms))
        rewards, offsets = feedback(rng, arms, style)
        timed("update", lambda: s.update(arms, rewards, offsets))
        check_probs(s)


def construct(name, n_arms, kwargs):
    """bc.make, which must accept or refuse clearly; None when refused."""
    try:
        s = bc.make(name, n_arms=n_arms, seed=0, **kwargs)
    except (ValueError, TypeError) as error:
        assert str(error), "an error needs a message"
        CASES["make: refused"] += 1
        return None
    CASES["make: accepted"] += 1
    return s


# -- the properties ---------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Compile every kernel once, so the timed calls measure running, not compiling."""
    for name in NAMES:
        s = bc.make(name, n_arms=4, seed=0, **({"groups": [0, 0, 1, 1]} if name == "two-level" else {}))
        for batch in (2, 9):
            s.update(s.sample(batch), np.ones((batch, 2)))
        s.probs()


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_any_accepted_settings_and_feedback_keep_probs_valid(name, data):
    n_arms, kwargs = data.draw(scheduler_specs(name))
    s = construct(name, n_arms, kwargs)
    assume(s is not None)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    drive(s, rng, data.draw(feedback_styles), data.draw(st.integers(1, 6)))


@pytest.mark.parametrize("name", PLAIN)
@SETTINGS
@given(n_arms=st.sampled_from([0, -1, MAX_SIZE + 1, 2**62, 2**63, 2**64, 2.5, "3", None]))
def test_bad_or_huge_sizes_are_refused_clearly(name, n_arms):
    with pytest.raises((ValueError, TypeError), match="'n_arms'"):
        bc.make(name, n_arms=n_arms)
    CASES["make: refused"] += 1
    s = bc.make(name, n_arms=3, seed=0)
    for batch in (0, -1, MAX_SIZE + 1, 2**62, 2**64, 1.5):
        before = s.state_dict()
        with pytest.raises((ValueError, TypeError), match="'batch_size'"):
            s.sample(batch)
        assert_same_state(before, s.state_dict())
        CASES["sample: refused"] += 1


VALUES = [math.nan, math.inf, -math.inf, -1.0, 0.0, 0.5, 1.0, 2.0, 1e300, -1e300, 5e-324,
          -1, 2, 10**9, 2**53 + 1, 2**62, -(2**63), 2**64 - 1]


@st.composite
def tamperings(draw, state):
    """(description, tampered copy of ``state``): one entry changed in one way."""
    arrays = sorted(key for key, value in state.items() if isinstance(value, np.ndarray))
    key = draw(st.sampled_from(arrays))
    array = state[key]
    tampered = dict(state)
    how = draw(st.sampled_from(["value", "value", "value", "values", "shape", "dtype"]))
    if how == "shape":
        tampered[key] = np.append(array.reshape(-1), array.reshape(-1)[:1])
    elif how == "dtype":
        tampered[key] = array.astype(draw(st.sampled_from([np.float32, np.float64, np.int64, np.uint64, np.bool_])))
    elif array.size:
        value = draw(st.sampled_from(VALUES) | st.floats() | st.integers(-(2**63), 2**64 - 1))
        copy = array.astype(np.float64) if isinstance(value, float) and array.dtype.kind != "f" else array.copy()
        try:
            with np.errstate(all="ignore"):
                if how == "values":
                    copy.reshape(-1)[:] = value
                else:
                    copy.reshape(-1)[draw(st.integers(0, array.size - 1))] = value
        except (OverflowError, ValueError):
            copy = np.full(array.shape, value, dtype=object)  # not representable: a bad dtype
        tampered[key] = copy
    return f"{how} {key}", tampered


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_tampered_state_is_refused_or_harmless(name, data):
    n_arms, kwargs = data.draw(scheduler_specs(name))
    s = construct(name, n_arms, kwargs)
    assume(s is not None)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    style = data.draw(feedback_styles)
    drive(s, rng, style, data.draw(st.integers(0, 4)))
    what, tampered = data.draw(tamperings(s.state_dict()))
    before = s.state_dict()
    try:
        s.load_state_dict(tampered)
    except (ValueError, TypeError) as error:
        assert "state" in str(error), f"{what}: unclear error {error}"
        assert_same_state(before, s.state_dict())  # a rejected call changes no state
        CASES["load_state_dict: refused"] += 1
        return
    CASES["load_state_dict: accepted"] += 1
    drive(s, rng, style, 3)  # accepted: it must behave like any scheduler


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=max(5, EXAMPLES // 3), deadline=None)
@given(data=st.data())
def test_bad_feedback_is_refused_without_state_change(name, data):
    """Rewards beyond the range, ragged lists and other malformed feedback."""
    n_arms, kwargs = data.draw(scheduler_specs(name))
    s = construct(name, n_arms, kwargs)
    assume(s is not None)
    arms = np.zeros(2, dtype=np.int64)
    bad = data.draw(st.sampled_from([
        [[1.0, REWARD_LIMIT * 1.0000001], [0.0, 0.0]], [[-1e308, 0.0], [0.0, 0.0]], [[1.0, 0.0], [1.0]],
        [[1.0, math.nan], [0.0, 0.0]], [[1.0, 0.0], [math.inf, 0.0]], [[1.0, 0.0, 1.0]],
    ]))
    before = s.state_dict()
    with pytest.raises((ValueError, TypeError), match="'rewards'"):
        s.update(arms, bad)
    assert_same_state(before, s.state_dict())
    CASES["update: refused"] += 1
    check_probs(s)


def snapshot(state):
    """A nested state as comparable values: its JSON tree and its arrays' bytes and dtypes."""
    arrays = {}
    tree = json.dumps(bc.state_io._encode(state, (), arrays))
    return tree, [(a.dtype.str, a.shape, a.tobytes()) for a in arrays.values()]


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_tampered_curriculum_state_is_refused_or_harmless(data):
    """The adapters' Curriculum: its picking stream, cycles and pending batches."""
    from banditcurr.integrations._curriculum import Curriculum

    keys = ["a", "b", "a", "c", "b", "a"]
    c = Curriculum(data.draw(st.sampled_from(["dump-ucb", "thompson", "two-level"])), keys, seed=0)
    for _ in range(data.draw(st.integers(0, 3))):
        rows = c.draw(2)
        c.feedback([keys[r] for r in rows], [1.0, 0.0, 0.0, 0.0], [0, 2, 4])
    c.draw(2)
    state = c.state_dict()
    entry = data.draw(st.sampled_from(["picker_rng", "picker_order", "picker_cursor", "pending_arms",
                                       "pending_rows", "n_feedback_groups"]))
    value = data.draw(st.sampled_from([
        np.zeros(4, dtype=np.uint64), np.zeros(3, dtype=np.uint64), np.array([0.5, 1.0, 2.0, 3.0]),
        np.array([-1, 0, 1, 2, 3, 4]), np.array([5, 4, 3, 2, 1, 0]), np.array([0, 0, 0]), [np.array([1.7, 2.0])],
        [np.array([0, 9])], [np.zeros(2, dtype=np.int64)] * 9, -3, 2.5, "x", None, [[0, 1]],
    ]))
    tampered = {**state, entry: value}
    before = snapshot(c.state_dict())
    try:
        c.load_state_dict(tampered)
    except (ValueError, TypeError) as error:
        assert "state" in str(error)
        assert snapshot(c.state_dict()) == before
        CASES["Curriculum.load_state_dict: refused"] += 1
        return
    CASES["Curriculum.load_state_dict: accepted"] += 1
    for _ in range(2):
        rows = timed("Curriculum.draw", lambda: c.draw(2))
        assert rows.min() >= 0 and rows.max() < len(keys)
        c.feedback([keys[r] for r in rows], [1.0, 0.0, 1.0, 1.0], [0, 2, 4])
    check_probs(c.scheduler)


def test_counts_cover_every_public_call():
    """Runs last in this module (pytest keeps file order): the properties above
    exercised every verb, accepted and refused."""
    if not CASES:
        pytest.skip("run with the whole module")
    for verb in ("make: accepted", "make: refused", "probs: accepted", "sample: accepted", "sample: refused",
                 "update: accepted", "update: refused", "load_state_dict: accepted", "load_state_dict: refused"):
        assert CASES[verb] > 0, verb
    assert isinstance(bc.make("uniform", 2), Scheduler)
