"""The simulator's band gates and SPEED-RL screening: the compiled engine against the
NumPy reference (statistically, as for every engine option), what is trained on (trace),
and what every rollout counts."""

import numpy as np
import pytest

from banditcurr import sims
from banditcurr.gates import GATE_CODES
from banditcurr.sims import _engine
from banditcurr.sims.simulate import prepare

SMALL = dict(prompts_per_distribution=40, eval_prompts=30, batch_size=32, group_size=8, steps=30,
             learning_rate=1.0)
OPTIONS = [{"gate": "band"}, {"gate": "std:lo=0.4,hi=0.5"}, {"screening": 4},
           {"screening": 2, "gate": "band:lo=0.3,hi=0.9"}]


@pytest.fixture(scope="module")
def small():
    return sims.make_scenario("kk12", **SMALL)


def test_engine_codes_are_the_core_gate_codes():
    assert (_engine.GATE_NONE, _engine.GATE_DYNAMIC, _engine.GATE_BAND, _engine.GATE_STD) == \
        (GATE_CODES["none"], GATE_CODES["mixed"], GATE_CODES["band"], GATE_CODES["std"])


def _welch_close(a, b, tolerance=4.5):
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) <= tolerance * se + 1e-9


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_engines_agree_statistically(small, options):
    fast = sims.simulate(small, "uniform", seeds=96, seed=1, **options)
    slow = sims.simulate(small, "uniform", seeds=48, seed=2, engine="numpy", **options)
    assert fast.mean_accuracy[:, -1].mean() - fast.mean_accuracy[:, 0].mean() > 0.05
    assert _welch_close(fast.mean_accuracy[:, -1], slow.mean_accuracy[:, -1])
    assert _welch_close(fast.zero_variance.mean(axis=1), slow.zero_variance.mean(axis=1))
    assert _welch_close(fast.rollouts[:, -1].astype(float), slow.rollouts[:, -1].astype(float))
    assert _welch_close(fast.train_reward.mean(axis=1), slow.train_reward.mean(axis=1))


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_trained_groups_satisfy_the_gate_and_every_rollout_counts(small, options):
    run = sims.simulate(small, "uniform", seeds=3, seed=6, trace=True, **options)
    tr = run.trace
    used = tr["prompt"] >= 0
    rollouts = np.where(used, tr["size"], 0).sum(axis=2)
    np.testing.assert_array_equal(np.cumsum(rollouts, axis=1), run.rollouts)  # screens included
    trained = tr["trained"].astype(bool) & used
    assert np.all(trained.sum(axis=2) <= small.batch_size)
    k, n = tr["successes"][trained], tr["size"][trained]
    gate = prepare(small, "uniform", **options).gate_rule
    p = k / n
    if gate.kind == "band":
        assert np.all((gate.lo <= p) & (p <= gate.hi))
    elif gate.kind == "std":
        assert np.all((gate.lo <= np.sqrt(p * (1 - p))) & (np.sqrt(p * (1 - p)) <= gate.hi))
    screen = options.get("screening", 0)
    if screen:
        sizes = tr["size"][used]
        assert set(np.unique(sizes)) <= {screen, small.group_size}
        assert np.all(n == small.group_size) and np.all((k > 0) & (k < n))  # only screened-in prompts train
        assert not np.any(trained & (tr["size"] == screen))


def test_screening_saves_rollouts_on_a_saturated_pool():
    pool = sims.make_scenario("math-pool", prompts_per_level=200, eval_prompts=20, batch_size=16, steps=10)
    gated = sims.simulate(pool, "uniform", seeds=4, gate="dynamic-sampling", max_rounds=6)
    screened = sims.simulate(pool, "uniform", seeds=4, screening=4, max_rounds=6)
    # both train on mixed groups only; screening spends 4 rollouts, not 8, on a saturated prompt
    assert screened.rollouts[:, -1].mean() < gated.rollouts[:, -1].mean()
    assert screened.settings["screening"] == 4 and gated.settings["screening"] == 0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"gate": "band:lo=0.9,hi=0.1"}, ValueError, r"'gate' spec 'band:lo=0.9,hi=0.1' of simulate is invalid"),
    ({"gate": "std"}, ValueError, r"'lo' bound of a 'std' gate has no default"),
    ({"screening": -1}, ValueError, r"'screening' argument of simulate must be an int >= 0"),
    ({"screening": 1}, ValueError, r"must be 0 \(off\) or in \[2, group_size - 1\] = \[2, 7\]\. Got 1"),
    ({"screening": 8}, ValueError, r"\[2, 7\]\. Got 8"),
    ({"screening": 2.5}, TypeError, r"'screening' argument of simulate must be an int"),
    ({"screening": 4, "allocation": "oracle"}, ValueError, r"does not combine with allocation='oracle'"),
])
def test_bad_gate_and_screening_arguments(small, kwargs, error, match):
    with pytest.raises(error, match=match):
        prepare(small, "uniform", **kwargs)


def test_screen_kernel_is_its_twin_on_the_same_stream():
    import naive
    from banditcurr._rng import seed_state

    rng = np.random.default_rng(3)
    for screen, group_size in ((2, 8), (4, 8), (3, 4)):
        probs = rng.choice([0.0, 1.0, 0.5, 0.1, 0.9], 30)
        fast = seed_state(11)
        slow = naive.Xoshiro(fast.copy())
        rewards, sums = np.full(30 * group_size, -1.0), np.zeros(30)
        sizes, offsets = np.zeros(30, np.int64), np.zeros(31, np.int64)
        _engine._screen(fast, probs, 30, screen, group_size, rewards, sums, sizes, offsets)
        expected, expected_sizes, expected_sums = naive.screen_groups(slow, probs, screen, group_size)
        np.testing.assert_array_equal(sizes, expected_sizes)
        np.testing.assert_array_equal(offsets, np.concatenate([[0], np.cumsum(expected_sizes)]))
        np.testing.assert_array_equal(rewards[:offsets[-1]], expected)
        np.testing.assert_array_equal(sums, expected_sums)
        np.testing.assert_array_equal(fast, slow.state())  # the same number of draws
        assert set(sizes) <= {screen, group_size}


@pytest.mark.parametrize("spec", ["none", "dynamic-sampling", "band", "band:lo=0.5,hi=1", "std:lo=0.3,hi=0.45"])
def test_pass_kernel_is_its_twin(spec):
    import naive
    from banditcurr.gates import parse_gate

    gate = parse_gate(spec)
    for size in (2, 3, 4, 8):
        for k in range(size + 1):
            assert _engine._passes(gate.code, float(k), size, *gate.bounds) == \
                naive.passes_binary(gate.kind, k, size, gate.lo, gate.hi), (spec, k, size)
