"""Scheduler.warm_start: posterior schedulers start from a previous run's outcomes."""

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import sims
from banditcurr.sims.metrics import compare
from banditcurr.sims.scenario import Scenario, chain_loadings

POSTERIOR = ["thompson", "learnability", "cures"]


@pytest.mark.parametrize("name", POSTERIOR)
def test_warm_start_adds_decayed_counts(name):
    s = bc.make(name, 5, seed=0)
    before = s.state_dict()
    s.warm_start([1, 3, 1], [2, 0, 4], [8, 8, 4], decay=0.5)
    after = s.state_dict()
    np.testing.assert_allclose(after["alpha"] - before["alpha"], [0, 3, 0, 0, 0])
    np.testing.assert_allclose(after["beta"] - before["beta"], [0, 3, 0, 4, 0])
    np.testing.assert_array_equal(after["rng"], before["rng"])
    s.sample(2)  # still a valid state
    s.load_state_dict(after)


@pytest.mark.parametrize("kwargs, match", [
    (dict(arms=[0, 7], successes=[1, 1], trials=[2, 2]), "outside 0..4"),
    (dict(arms=[0], successes=[3], trials=[2]), "'successes' exceeds 'trials'"),
    (dict(arms=[0], successes=[np.nan], trials=[2]), "'successes' argument of warm_start must hold finite"),
    (dict(arms=[0, 1], successes=[1], trials=[2, 2]), r"must have shape \(2,\)"),
    (dict(arms=[0], successes=[1], trials=[2], decay=0.0), r"'decay' argument of warm_start must be a float > 0 and <= 1"),
    (dict(arms=[0], successes=[1], trials=[2], decay=1.5), "'decay'"),
    (dict(arms=[[0]], successes=[1], trials=[2]), "1-D array of arm ids"),
])
def test_bad_warm_starts_change_nothing(kwargs, match):
    s = bc.make("thompson", 5, seed=0)
    before = s.state_dict()
    with pytest.raises(ValueError, match=match):
        s.warm_start(**kwargs)
    after = s.state_dict()
    for key in ("alpha", "beta", "rng"):
        np.testing.assert_array_equal(after[key], before[key])


@pytest.mark.parametrize("name, kwargs", [("dump-ucb", {}), ("learnability", {"estimator": "window"})])
def test_schedulers_without_a_posterior_refuse(name, kwargs):
    with pytest.raises(TypeError, match="keeps no Beta posterior"):
        bc.make(name, 4, seed=0, **kwargs).warm_start([0], [1], [2])


@pytest.mark.slow
def test_warm_start_reaches_the_target_sooner_and_a_mismatched_one_costs_little():
    """In the simulator (prompt-level thompson on a pool with many saturated prompts): a
    warm start from a previous uniform run reaches the target sooner than a cold start;
    one from a mismatched run (the same outcomes on shuffled prompts) is no worse than
    cold by more than 20% in steps to target (measured: 11% at decay 1, 4% at 0.5)."""
    scenario = Scenario.from_levels("warm", chain_loadings(4, 0.5), [-1, 0.5, 2, 3.5], 2.5, 100, 100,
                                    batch_size=32, group_size=8, steps=60, learning_rate=0.5, arm_level="prompt",
                                    pool_seed=1)
    previous = sims.simulate(scenario, "uniform@prompt", seeds=1, seed=5, trace=True).trace
    used = previous["prompt"][0] >= 0
    arms, wins, tries = previous["prompt"][0][used], previous["successes"][0][used], previous["size"][0][used]
    shuffled = np.random.default_rng(0).permutation(scenario.n_prompts)[arms]
    runs = [sims.simulate(scenario, "thompson", seeds=32, seed=9)]
    for label, which, decay in (("warm", arms, 1.0), ("mismatched", shuffled, 1.0),
                                ("mismatched-0.5", shuffled, 0.5)):
        runs.append(sims.simulate(scenario, "thompson", seeds=32, seed=9,
                                  warm_start=dict(arms=which, successes=wins, trials=tries, decay=decay)))
        runs[-1].label = label
    steps = {k: v["steps_to_target"] for k, v in compare(runs, target=0.6, baseline="thompson")["schedulers"].items()}
    assert steps["warm"] < steps["thompson"]
    assert steps["mismatched"] <= 1.2 * steps["thompson"]
    assert steps["mismatched-0.5"] <= 1.2 * steps["thompson"]
