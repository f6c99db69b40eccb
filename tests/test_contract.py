"""The contract, checked on every registered scheduler (``bc.available()``).

One generic property suite: a scheduler added to the registry is tested here without
a line of new test code. Feedback streams are random (hypothesis draws their shape and
a seed): regular (B, G) batches and ragged groups, binary and real rewards.
"""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import banditcurr as bc
from streams import assert_same_state

NAMES = bc.available()
SETTINGS = settings(max_examples=8, deadline=None)


# -- feedback streams ----------------------------------------------------------------

def random_feedback(rng, arms, ragged, binary):
    """(rewards, offsets) for ``arms``: a (B, G) array with offsets None, or flat
    rewards with ragged offsets. Arm k succeeds with probability sigmoid(k mod 7 - 3),
    so schedulers see arms that differ."""
    n_groups = len(arms)
    sizes = rng.integers(1, 6, n_groups) if ragged else np.full(n_groups, int(rng.integers(1, 9)))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    success = 1.0 / (1.0 + np.exp(-(np.repeat(arms, sizes) % 7 - 3.0)))
    if binary:
        rewards = (rng.random(offsets[-1]) < success).astype(np.float64)
    else:
        rewards = np.round(rng.normal(2.0 * success - 1.0, 1.0), 3)
    if ragged:
        return rewards, offsets
    return rewards.reshape(n_groups, sizes[0]), None


def split_feedback(arms, rewards, offsets, cut):
    """The first ``cut`` groups and the rest, each as (arms, rewards, offsets)."""
    if offsets is None:
        return (arms[:cut], rewards[:cut], None), (arms[cut:], rewards[cut:], None)
    first = (arms[:cut], rewards[:offsets[cut]], offsets[:cut + 1])
    second = (arms[cut:], rewards[offsets[cut]:], offsets[cut:] - offsets[cut])
    return first, second


streams = st.fixed_dictionaries({
    "n_arms": st.sampled_from([1, 2, 3, 5, 12, 40]),
    "n_steps": st.integers(1, 6),
    "ragged": st.booleans(),
    "binary": st.booleans(),
    "seed": st.integers(0, 2**32 - 1),
})


def batch_sizes(rng, n_arms, n_steps):
    """Batch sizes on both sides of the batch rule (distinct arms vs with replacement)."""
    return [int(rng.integers(1, 2 * n_arms + 4)) for _ in range(n_steps)]


def run_stream(scheduler, stream, rng):
    """Drive ``scheduler`` with its own samples; return the list of draws."""
    draws = []
    for batch in batch_sizes(rng, scheduler.n_arms, stream["n_steps"]):
        arms = scheduler.sample(batch)
        draws.append(arms)
        rewards, offsets = random_feedback(rng, arms, stream["ragged"], stream["binary"])
        scheduler.update(arms, rewards, offsets)
    return draws


def assert_valid_probs(p, n_arms):
    assert isinstance(p, np.ndarray) and p.dtype == np.float64 and p.shape == (n_arms,)
    assert np.all(np.isfinite(p)) and np.all(p >= 0.0)
    assert abs(p.sum() - 1.0) < 1e-9


# -- the properties ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_defaults_construct_and_describe_themselves(name):
    s = bc.make(name, n_arms=12, seed=0)
    cls = bc.REGISTRY[name][0]
    assert isinstance(s, cls) and isinstance(s, bc.Scheduler)
    assert s.n_arms == 12 and repr(s).startswith(cls.__name__)
    assert cls.__doc__ and len(cls.__doc__.strip()) > 80, "docstring must carry the formula"
    assert all(p.doc for p in cls.params), "every Param needs a one-line doc"
    assert_valid_probs(s.probs(), 12)
    assert_valid_probs(cls(12, seed=0).probs(), 12)  # the class's own defaults, no preset


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams)
def test_probs_and_samples_are_valid(name, stream):
    rng = np.random.default_rng(stream["seed"])
    k = stream["n_arms"]
    s = bc.make(name, n_arms=k, seed=stream["seed"])
    assert_valid_probs(s.probs(), k)
    for batch in batch_sizes(rng, k, stream["n_steps"]):
        arms = s.sample(batch)
        assert arms.dtype == np.int64 and arms.shape == (batch,)
        assert arms.min() >= 0 and arms.max() < k
        if batch <= k:
            assert len(np.unique(arms)) == batch, "a batch of at most K slots holds distinct arms"
        rewards, offsets = random_feedback(rng, arms, stream["ragged"], stream["binary"])
        kept = (arms.copy(), rewards.copy(), None if offsets is None else offsets.copy())
        s.update(arms, rewards, offsets)
        assert np.array_equal(arms, kept[0]) and np.array_equal(rewards, kept[1]), "update must not write its inputs"
        assert offsets is None or np.array_equal(offsets, kept[2]), "update must not write its offsets"
        assert_valid_probs(s.probs(), k)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams)
def test_probs_reads_state_only(name, stream):
    s = bc.make(name, n_arms=stream["n_arms"], seed=1)
    run_stream(s, stream, np.random.default_rng(stream["seed"]))
    before = s.state_dict()
    first = s.probs()
    assert np.array_equal(first, s.probs())
    assert_same_state(before, s.state_dict())


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams)
def test_same_seed_same_feedback_same_draws(name, stream):
    runs = []
    for _ in range(2):
        s = bc.make(name, n_arms=stream["n_arms"], seed=stream["seed"])
        draws = run_stream(s, stream, np.random.default_rng(stream["seed"]))
        runs.append((draws, s.probs(), s.state_dict()))
    (draws_a, probs_a, state_a), (draws_b, probs_b, state_b) = runs
    assert all(np.array_equal(a, b) for a, b in zip(draws_a, draws_b))
    assert np.array_equal(probs_a, probs_b)
    assert_same_state(state_a, state_b)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams)
def test_state_dict_round_trip_resumes_exactly(name, stream):
    rng = np.random.default_rng(stream["seed"])
    k = stream["n_arms"]
    original = bc.make(name, n_arms=k, seed=stream["seed"])
    run_stream(original, stream, rng)
    state = original.state_dict()
    resumed = bc.make(name, n_arms=k, seed=stream["seed"] + 1)  # another seed: the dict carries the stream
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    unpickled = pickle.loads(pickle.dumps(original))
    for array in (v for v in state.values() if isinstance(v, np.ndarray)):
        array[...] = 0  # state_dict returns copies: scribbling on them changes nothing
    assert_same_state(original.state_dict(), resumed.state_dict())
    for batch in batch_sizes(rng, k, 3):
        arms = original.sample(batch)
        assert np.array_equal(arms, resumed.sample(batch))
        assert np.array_equal(arms, unpickled.sample(batch))
        rewards, offsets = random_feedback(rng, arms, stream["ragged"], stream["binary"])
        for s in (original, resumed, unpickled):
            s.update(arms, rewards, offsets)
        assert np.array_equal(original.probs(), resumed.probs())
        assert np.array_equal(original.probs(), unpickled.probs())


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams)
def test_relabelled_arms_relabel_probs(name, stream):
    k = stream["n_arms"]
    if not bc.make(name, n_arms=k, seed=0).permutation_equivariant:
        return  # this scheduler breaks ties by arm id (declared)
    rng = np.random.default_rng(stream["seed"])
    perm = rng.permutation(k)
    plain = bc.make(name, n_arms=k, seed=0)
    relabelled = bc.make(name, n_arms=k, seed=0)
    for batch in batch_sizes(rng, k, stream["n_steps"]):
        arms = rng.integers(0, k, batch)
        rewards, offsets = random_feedback(rng, arms, stream["ragged"], stream["binary"])
        plain.update(arms, rewards, offsets)
        relabelled.update(perm[arms], rewards, offsets)
        np.testing.assert_allclose(relabelled.probs()[perm], plain.probs(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(stream=streams, cut_fraction=st.floats(0.0, 1.0))
def test_one_batch_equals_its_parts(name, stream, cut_fraction):
    k = stream["n_arms"]
    whole, parts = bc.make(name, n_arms=k, seed=3), bc.make(name, n_arms=k, seed=3)
    if not whole.batch_split_invariant:
        return  # declared order- or call-dependent (e.g. a per-call mean)
    rng = np.random.default_rng(stream["seed"])
    for batch in batch_sizes(rng, k, stream["n_steps"]):
        arms = rng.integers(0, k, batch + 1)
        rewards, offsets = random_feedback(rng, arms, stream["ragged"], stream["binary"])
        whole.update(arms, rewards, offsets)
        cut = int(round(cut_fraction * (batch + 1)))
        for piece in split_feedback(arms, rewards, offsets, cut):
            if len(piece[0]):
                parts.update(*piece)
        for key, value in whole.state_dict().items():
            if isinstance(value, np.ndarray) and key != "rng":
                np.testing.assert_allclose(parts.state_dict()[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(parts.probs(), whole.probs(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_a_single_arm_works(name):
    s = bc.make(name, n_arms=1, seed=0)
    assert np.array_equal(s.probs(), [1.0])
    assert np.array_equal(s.sample(1), [0]) and np.array_equal(s.sample(7), np.zeros(7))
    s.update(np.zeros(3, dtype=np.int64), np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    s.update([0], [0.5, 1.0, 0.0], [0, 3])
    assert np.array_equal(s.probs(), [1.0])
    assert np.array_equal(s.sample(4), np.zeros(4))


@pytest.mark.parametrize("name", [n for n in NAMES if bc.REGISTRY[n][0].exact_probs])
def test_draws_follow_probs(name):
    """Chi-square at distribution level (batch > K): slot frequencies match probs()."""
    k, batch = 6, 500
    s = bc.make(name, n_arms=k, seed=11)
    rng = np.random.default_rng(5)
    run_stream(s, {"n_steps": 20, "ragged": False, "binary": True}, rng)
    observed, expected = np.zeros(k), np.zeros(k)
    for _ in range(30):
        p = s.probs()  # before each call: sampling may move the state (staleness, ...)
        observed += np.bincount(s.sample(batch), minlength=k)
        expected += batch * p
    assert np.all(observed[expected == 0.0] == 0), "an arm with probability 0 was drawn"
    live = expected > 0.0
    if live.sum() == 1:  # a point mass (e.g. adarft's nearest arm): every draw is that arm
        assert observed[live] == expected[live]
        return
    statistic = np.sum((observed[live] - expected[live]) ** 2 / expected[live])
    p_value = stats.chi2.sf(statistic, live.sum() - 1)
    assert p_value > 1e-6, (observed, expected)


def test_available_lists_the_registry_sorted():
    names = bc.available()
    assert names == sorted(bc.REGISTRY) and {"uniform", "dump-ucb"} <= set(names)
