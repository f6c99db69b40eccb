"""The simulator's learner options (Adam step, memorisation, update noise), the per-group
trace, simulated ledgers and scenario files."""

import dataclasses
import json

import numpy as np
import pytest

from banditcurr import sims
from banditcurr.sims import _engine

import naive

SMALL = dict(prompts_per_distribution=40, eval_prompts=30, batch_size=32, group_size=8, steps=30,
             learning_rate=1.0)


@pytest.fixture(scope="module")
def small():
    return sims.make_scenario("kk12", **SMALL)


def _welch_close(a, b, tolerance=4.5):
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) <= tolerance * se + 1e-9


def test_adam_step_matches_its_twin():
    rng = np.random.default_rng(0)
    loadings = sims.chain_loadings(4, 0.5)
    skills, moments = np.zeros(4), np.zeros(9)
    history = rng.normal(size=(5, 4))  # per step, the per-distribution gradient sums
    for grad in history:
        _engine.adam_step(loadings, grad.copy(), 40, 0.1, 0.9, 0.999, 1e-8, skills, moments)
    # the twin: one group of 10 rollouts per distribution per step, coefficient = that sum
    _, states = naive.learner_replay(np.repeat(np.arange(5), 4), np.arange(20), np.tile(np.arange(4), 5),
                                     np.full(20, 10), history.reshape(-1), np.ones(20, bool), loadings, 0.1, 0.0,
                                     0.0, adam=(0.9, 0.999, 1e-8))
    np.testing.assert_allclose(skills, states[-1], rtol=1e-12, atol=1e-14)
    assert moments[-1] == 5.0
    before = skills.copy()
    _engine.adam_step(loadings, np.ones(4), 0, 0.1, 0.9, 0.999, 1e-8, skills, moments)  # no rollouts: no step
    np.testing.assert_array_equal(skills, before)


@pytest.mark.parametrize("options", [
    dict(optimizer="adam", learning_rate=0.05),
    dict(memorization=200.0),
    dict(update_noise=0.05),
    dict(optimizer="adam", learning_rate=0.05, memorization=200.0, update_noise=0.05, forgetting=0.01),
])
def test_engines_agree_statistically_with_each_option(small, options):
    scenario = dataclasses.replace(small, **options)
    fast = sims.simulate(scenario, "uniform", seeds=96, seed=1)
    slow = sims.simulate(scenario, "uniform", seeds=48, seed=2, engine="numpy")
    assert _welch_close(fast.mean_accuracy[:, -1], slow.mean_accuracy[:, -1])
    assert _welch_close(fast.train_reward[:, -5:].mean(axis=1), slow.train_reward[:, -5:].mean(axis=1))
    for key, value in scenario.learner_options().items():
        assert fast.settings[key] == value


def test_memorization_lifts_training_pass_rate_not_held_out_accuracy(small):
    frozen = dataclasses.replace(small, learning_rate=1e-9)  # skills barely move
    plain = sims.simulate(frozen, "uniform", seeds=32, seed=3)
    memo = sims.simulate(dataclasses.replace(frozen, memorization=400.0), "uniform", seeds=32, seed=3)
    np.testing.assert_allclose(memo.accuracy, plain.accuracy, atol=1e-6)  # held-out prompts never memorised
    assert memo.train_reward[:, -10:].mean() > plain.train_reward[:, -10:].mean() + 0.02


def test_update_noise_widens_the_seed_spread(small):
    quiet = sims.simulate(small, "uniform", seeds=64, seed=4)
    noisy = sims.simulate(dataclasses.replace(small, update_noise=0.1), "uniform", seeds=64, seed=4)
    assert noisy.mean_accuracy[:, -1].std() > 2 * quiet.mean_accuracy[:, -1].std()


def test_options_off_are_the_plain_learner(small):
    explicit = dataclasses.replace(small, optimizer="sgd", memorization=0.0, update_noise=0.0)
    a = sims.simulate(small, "dump-ucb", seeds=4, seed=5)
    b = sims.simulate(explicit, "dump-ucb", seeds=4, seed=5, trace=True)  # tracing changes nothing either
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    np.testing.assert_array_equal(a.arm_counts, b.arm_counts)
    assert small.learner_options() == {} and "learner options" not in small.summary()


@pytest.mark.parametrize("gate", ["none", "dynamic-sampling"])
def test_trace_matches_the_records(small, gate):
    run = sims.simulate(small, "uniform", seeds=3, seed=6, gate=gate, trace=True)
    tr = run.trace
    used = tr["prompt"] >= 0
    rollouts = np.where(used, tr["size"], 0).sum(axis=2)
    np.testing.assert_array_equal(np.cumsum(rollouts, axis=1), run.rollouts)
    wins = np.where(used, tr["successes"], 0).sum(axis=2)
    np.testing.assert_allclose(wins / rollouts, run.train_reward, rtol=1e-12)
    dists = small.train_dist[np.where(used, tr["prompt"], 0)]
    counts = np.stack([(used & (dists == c)).sum(axis=2) for c in range(small.n_distributions)], axis=2)
    np.testing.assert_array_equal(counts, run.arm_counts)
    trained = tr["trained"].astype(bool) & used
    if gate == "none":
        assert np.array_equal(trained, used)
    else:
        assert np.all(trained.sum(axis=2) <= small.batch_size)
        k, n = tr["successes"][trained], tr["size"][trained]
        assert np.all((k > 0) & (k < n))  # only mixed groups are trained on


def test_trace_needs_the_compiled_engine(small):
    with pytest.raises(ValueError, match="trace=True needs engine='numba'"):
        sims.simulate(small, "uniform", seeds=1, engine="numpy", trace=True)
    with pytest.raises(TypeError, match="'trace' argument"):
        sims.simulate(small, "uniform", seeds=1, trace=1)


def test_simulated_ledgers_hold_the_trace(small, tmp_path):
    from banditcurr import ledger
    from banditcurr.sims.ledgers import trace_frame, write_ledgers

    run = sims.simulate(small, "uniform", seeds=2, seed=7, trace=True)
    paths = write_ledgers(run, small, str(tmp_path))
    assert [p.split("/")[-1] for p in paths] == ["seed-0", "seed-1"]
    meta = ledger.read_meta(paths[1])
    assert meta["source"] == "simulate" and meta["distributions"] == list(small.distributions)
    rows = ledger.read(paths[1])
    frame = trace_frame(run, small, 1)
    assert len(rows) == len(frame) == small.batch_size * small.steps
    assert rows["prompt_id"].tolist() == frame["prompt_id"].tolist()
    assert rows["step"].tolist() == frame["step"].tolist()
    k = np.array([np.sum(r) for r in rows["rewards"]])
    np.testing.assert_array_equal(k, run.trace["successes"][1].reshape(-1))
    assert rows["trained"].all() and rows["completion_tokens"].isna().all()
    first = rows["prompt_id"].iloc[0]
    dist, index = first.split("/")
    start, _ = small.pool_bounds()
    assert start[small.distributions.index(dist)] + int(index) == run.trace["prompt"][1, 0, 0]


def test_scenario_file_round_trip_and_checks(small, tmp_path):
    scenario = dataclasses.replace(small, optimizer="adam", memorization=3.0, update_noise=0.01)
    path = str(tmp_path / "s.json")
    scenario.save(path)
    back = sims.Scenario.load(path)
    for name in scenario.__dataclass_fields__:
        a, b = getattr(scenario, name), getattr(back, name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        elif name != "params":
            assert a == b, name
    document = json.load(open(path))
    document["format"] = "other"
    with pytest.raises(ValueError, match="Not a scenario document"):
        sims.Scenario.from_dict(document)
    with pytest.raises(ValueError, match="'optimizer' argument of Scenario"):
        dataclasses.replace(small, optimizer="rmsprop")
    with pytest.raises(ValueError, match="'memorization' argument of Scenario"):
        dataclasses.replace(small, memorization=-1.0)
    with pytest.raises(ValueError, match="'adam_beta2' argument of Scenario"):
        dataclasses.replace(small, adam_beta2=1.0)
