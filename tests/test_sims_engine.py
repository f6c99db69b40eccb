"""The simulator's engines: exact learner kernels, statistical agreement of the compiled
and NumPy engines, a one-arm curriculum, reproducibility, the DAPO gate, metrics."""

import dataclasses
import importlib

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import sims
from banditcurr.sims import _engine, metrics, reference
from banditcurr.sims.simulate import eval_schedule, prepare

# A small kk12 keeps every run in milliseconds once compiled.
SMALL = dict(prompts_per_distribution=40, eval_prompts=30, batch_size=32, group_size=8, steps=30,
             learning_rate=1.0)


@pytest.fixture(scope="module")
def small():
    return sims.make_scenario("kk12", **SMALL)


# -- learner kernels against their NumPy twins (exact) -------------------------------

def test_policy_gradient_step_matches_the_formula_on_ragged_groups():
    rng = np.random.default_rng(3)
    scenario = sims.make_scenario("kk12", **SMALL)
    sizes = np.array([1, 2, 5, 8, 3, 8])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for rewards in ((rng.random(offsets[-1]) < 0.5).astype(float), rng.normal(size=offsets[-1])):
        rewards[offsets[3]:offsets[4]] = 1.0  # an all-equal group: no gradient
        prompts = rng.integers(0, scenario.n_prompts, sizes.size)
        probs = rng.random(sizes.size)
        skills = rng.standard_normal(scenario.n_skills)
        expected = skills + 0.7 / offsets[-1] * (reference.grpo_coefficients(rewards, offsets, probs)
                                                 @ scenario.loadings[scenario.train_dist[prompts]])
        sums = np.add.reduceat(rewards, offsets[:-1])
        squares = np.add.reduceat(rewards ** 2, offsets[:-1])
        grad = np.empty(scenario.n_distributions)
        _engine.policy_gradient_step(scenario.loadings, scenario.train_dist, skills, prompts, sizes, sums, squares,
                                     sizes.size, 0.7, grad)
        np.testing.assert_allclose(skills, expected, rtol=1e-12, atol=1e-14)


def test_grpo_coefficient_is_sum_of_advantage_times_score():
    rewards, p = np.array([1.0, 0.0, 0.0, 1.0, 1.0]), 0.3
    advantages = (rewards - rewards.mean()) / (rewards.std(ddof=1) + 1e-6)
    coef = reference.grpo_coefficients(rewards, np.array([0, 5]), np.array([p]))
    assert coef[0] == pytest.approx(np.sum(advantages * (rewards - p)))


def test_evaluate_and_sigmoid_match_numpy():
    scenario = sims.make_scenario("kk12", **SMALL)
    skills = np.linspace(-1.0, 3.0, scenario.n_skills)
    out = np.empty(scenario.n_distributions)
    for shift in (0.0, 750.0, -750.0):  # the fast form, and the direct one where exp(-z) overflows
        moved = skills + shift
        _engine.evaluate(scenario.loadings, moved, scenario.eval_difficulty, np.exp(scenario.eval_difficulty), out)
        z = scenario.loadings @ moved
        with np.errstate(over="ignore"):
            expected = (1.0 / (1.0 + np.exp(-(z[:, None] - scenario.eval_difficulty)))).mean(axis=1)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-300)
    assert _engine.sigmoid(-800.0) == 0.0 and _engine.sigmoid(800.0) == 1.0


# -- the two engines agree in distribution -------------------------------------------

def _welch_close(a, b, tolerance=4.5):
    """|mean a - mean b| within `tolerance` standard errors of the difference."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) <= tolerance * se + 1e-9


@pytest.mark.parametrize("scheduler, gate", [("uniform", "none"), ("dump-ucb", "none"),
                                             ("dump-ucb", "dynamic-sampling")])
def test_engines_agree_statistically(small, scheduler, gate):
    fast = sims.simulate(small, scheduler, seeds=96, gate=gate, seed=1)
    slow = sims.simulate(small, scheduler, seeds=48, gate=gate, seed=2, engine="numpy")
    assert fast.accuracy.shape[1:] == slow.accuracy.shape[1:]
    np.testing.assert_allclose(fast.accuracy[:48, 0], slow.accuracy[:, 0], rtol=1e-12)  # same step-0 model
    learned = fast.mean_accuracy[:, -1].mean() - fast.mean_accuracy[:, 0].mean()
    assert learned > 0.05  # the check below compares something that moved
    assert _welch_close(fast.mean_accuracy[:, -1], slow.mean_accuracy[:, -1])
    for c in (0, 3, 6):
        assert _welch_close(fast.accuracy[:, -1, c], slow.accuracy[:, -1, c])
    assert _welch_close(fast.zero_variance.mean(axis=1), slow.zero_variance.mean(axis=1))
    assert _welch_close(fast.rollouts[:, -1].astype(float), slow.rollouts[:, -1].astype(float))
    share_fast, share_slow = fast.sampling_fraction().mean(axis=0), slow.sampling_fraction().mean(axis=0)
    np.testing.assert_allclose(share_fast, share_slow, atol=0.03)


# -- a curriculum that always picks one arm ---------------------------------------------

@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_always_one_arm_trains_only_that_distribution_without_transfer(engine):
    scenario = sims.make_scenario("kk12", **{**SMALL, "transfer": 0.0})
    only = sims.FixedSchedule(np.eye(12)[2], label="only-5-people")
    run = sims.simulate(scenario, only, seeds=4, engine=engine)
    assert run.label == "only-5-people" and run.arm_level == "distribution"
    assert run.arm_counts[:, :, 2].min() == 32 and run.arm_counts.sum() == 4 * 30 * 32  # every group from it
    others = np.delete(run.accuracy, 2, axis=2)
    np.testing.assert_array_equal(others, np.broadcast_to(others[:, :1], others.shape))  # untouched, exactly
    assert np.all(run.accuracy[:, -1, 2] > run.accuracy[:, 0, 2] + 0.3)  # it learned


def test_always_one_arm_transfers_by_the_loadings(small):
    run = sims.simulate(small, sims.FixedSchedule(np.eye(12)[2]), seeds=8)
    gain = run.accuracy[:, -1].mean(axis=0) - run.accuracy[:, 0].mean(axis=0)
    assert gain[2] == gain.max()
    assert np.all(gain > 0)  # non-negative loadings: every distribution improves
    cosine = small.loadings @ small.loadings[2]
    logit_gain = np.log(run.accuracy[:, -1].mean(0) / (1 - run.accuracy[:, -1].mean(0)))
    assert np.corrcoef(cosine, logit_gain - np.log(run.accuracy[:, 0].mean(0) / (1 - run.accuracy[:, 0].mean(0))))[
        0, 1] > 0.95


# -- reproducibility ---------------------------------------------------------------------

def test_same_seed_same_result_at_any_thread_count_and_chunking(small):
    first = sims.simulate(small, "dump-ucb", seeds=6, threads=1, seed=5)
    again = sims.simulate(small, "dump-ucb", seeds=6, threads=3, seed=5, progress=lambda n: None)
    fewer = sims.simulate(small, "dump-ucb", seeds=2, threads=2, seed=5)
    other = sims.simulate(small, "dump-ucb", seeds=6, seed=6)
    for name in ("accuracy", "zero_variance", "arm_counts", "rollouts", "train_reward"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        np.testing.assert_array_equal(getattr(first, name)[:2], getattr(fewer, name))  # seed s ignores the others
    assert not np.array_equal(first.accuracy, other.accuracy)


def test_numpy_engine_is_reproducible(small):
    a = sims.simulate(small, "dump-ucb", seeds=2, steps=5, engine="numpy")
    b = sims.simulate(small, "dump-ucb", seeds=2, steps=5, engine="numpy")
    np.testing.assert_array_equal(a.accuracy, b.accuracy)


def test_compile_engines_in_worker_processes_then_the_runs_load_them(small, monkeypatch):
    """The CLI's cold-cache path: the engine and the kernels compiled (here: loaded, the
    cache is warm) in two worker processes, then loaded by the jobs in order; each job
    checks for Ctrl-C first and while it waits. Warm parts are loaded in this process,
    no workers."""
    simulate_module = importlib.import_module("banditcurr.sims.simulate")  # sims.simulate is the function
    setups = [prepare(small, name, seeds=2, steps=3) for name in ("uniform", "dump-ucb")]
    for setup in setups:
        simulate_module.compile_engine(setup)
    assert all(simulate_module._cold_parts(setup)[0] == [] for setup in setups)  # nothing left to compile
    jobs, close = simulate_module.compile_engines(["a", "b"], setups, workers=2)
    close()
    assert [label for label, _ in jobs] == ["a", "b"]  # warm: no pool was started
    real = simulate_module._cold_parts  # as if cold: the engine once, each scheduler's kernels, in 2 workers
    monkeypatch.setattr(simulate_module, "_cold_parts", lambda setup: (["kernels", "engine"], real(setup)[1]))
    checks = []
    jobs, close = simulate_module.compile_engines(["a", "b"], setups, workers=2, before_each=lambda: checks.append(1))
    try:
        for _, job in jobs:
            job()
    finally:
        close()
    assert len(checks) >= 2
    run = sims.simulate(small, "dump-ucb", seeds=2, steps=3)
    np.testing.assert_array_equal(run.accuracy, sims.simulate(small, "dump-ucb", seeds=2, steps=3).accuracy)


def test_a_scheduler_registered_at_run_time_runs_in_the_engine(small, monkeypatch):
    """The engine takes any scheduler's kernels as first-class functions: a class added
    with bc.REGISTRY[name] = ... (its own Kernels object, no list entry, no kind) runs
    compiled, with the results of the registered class whose kernels it shares."""

    class Stray(bc.DumpUCB):
        name = "stray"
        kernels = dataclasses.replace(bc.DumpUCB.kernels)

    monkeypatch.setitem(bc.REGISTRY, "stray", (Stray, {}))
    stray = sims.simulate(small, "stray", seeds=3, steps=6)
    np.testing.assert_array_equal(stray.accuracy, sims.simulate(small, "dump-ucb", seeds=3, steps=6).accuracy)


# -- every registered scheduler runs compiled, at both arm levels -------------------------

@pytest.mark.parametrize("name", bc.available())
def test_every_registered_scheduler_runs_in_the_engine(small, name):
    for level in ("distribution", "prompt"):
        run = sims.simulate(small, name, seeds=2, steps=3, arm_level=level, batch_size=8)
        assert run.arm_level == level
        assert run.arm_counts.sum() == 2 * 3 * 8  # every slot became a group
        assert np.all(np.isfinite(run.accuracy)) and np.all((run.zero_variance >= 0) & (run.zero_variance <= 1))


def test_default_arm_levels(small):
    assert prepare(small, "dump-ucb").arm_level == "distribution"
    assert prepare(small, "uniform").arm_level == small.arm_level
    assert prepare(small, "dump-ucb@prompt").n_arms == small.n_prompts
    for name in ("thompson", "learnability", "two-level"):
        if name in bc.REGISTRY:
            assert prepare(small, name).arm_level == "prompt"


# -- the DAPO dynamic-sampling gate ----------------------------------------------------------

def test_dynamic_sampling_refills_and_counts_every_rollout():
    pool = sims.make_scenario("math-pool", prompts_per_level=200, eval_prompts=20, batch_size=16, steps=10)
    plain = sims.simulate(pool, "uniform", seeds=4)
    one_round = sims.simulate(pool, "uniform", seeds=4, gate="dynamic-sampling", max_rounds=1)
    gated = sims.simulate(pool, "uniform", seeds=4, gate="dynamic-sampling", max_rounds=6)
    per_step = np.diff(gated.rollouts, axis=1, prepend=0)
    assert np.all(np.diff(plain.rollouts, axis=1, prepend=0) == 16 * 8)
    np.testing.assert_array_equal(one_round.rollouts, plain.rollouts)  # one round: nothing redrawn
    assert per_step.min() >= 16 * 8 and per_step.mean() > 1.5 * 16 * 8  # most groups are dropped at step 0
    assert gated.mean_accuracy[:, -1].mean() > plain.mean_accuracy[:, -1].mean()  # more signal per step


# -- argument checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"seeds": 0}, ValueError, r"'seeds' argument of simulate must be an int >= 1\. Got 0"),
    ({"steps": 1.5}, TypeError, r"'steps' argument of simulate must be an int"),
    ({"engine": "torch"}, ValueError, r"'engine' argument of simulate must be one of 'numba', 'numpy'\. Got 'torch'"),
    ({"gate": "dapo"}, ValueError, r"'gate' spec 'dapo' of simulate is invalid: The 'kind' argument of Gate"),
    ({"arm_level": "token"}, ValueError, r"'arm_level' argument of simulate must be one of 'distribution', 'prompt' or None"),
    ({"threads": 0}, ValueError, r"'threads' argument of simulate must be an int >= 1"),
    ({"progress": 3}, TypeError, r"'progress' argument of simulate must be callable"),
])
def test_simulate_rejects_bad_arguments(small, kwargs, error, match):
    with pytest.raises(error, match=match):
        sims.simulate(small, "uniform", **kwargs)


@pytest.mark.parametrize("spec, error, match", [
    ("dump-ucp", ValueError, r"Unknown scheduler 'dump-ucp'\. Did you mean 'dump-ucb'\?"),
    ("dump-ucb@token", ValueError, r"arm level in scheduler spec 'dump-ucb@token' must be one of"),
    ("dump-ucb:c", ValueError, r"'c' is not KEY=VALUE"),
    ("dump-ucb:c=-1", ValueError, r"'c' parameter of DumpUCB must be a float >= 0\. Got -1"),
    (3, TypeError, r"scheduler spec must be a non-empty str"),
])
def test_bad_scheduler_specs(small, spec, error, match):
    with pytest.raises(error, match=match):
        sims.simulate(small, spec)


def test_spec_parsing_and_fixed_schedule_checks(small):
    spec = sims.parse_spec("dump-ucb@prompt:c=0.5:window_unit=groups:count_window=None")
    assert (spec.name, spec.arm_level) == ("dump-ucb", "prompt")
    assert spec.hyperparameters == {"c": 0.5, "window_unit": "groups", "count_window": None}
    with pytest.raises(ValueError, match=r"FixedSchedule 'fixed' has 3 weights, but kk12 has 12 arms"):
        sims.simulate(small, sims.FixedSchedule([1, 0, 0]))
    with pytest.raises(ValueError, match=r"'weights' argument of FixedSchedule must be .* positive sum"):
        sims.FixedSchedule([0, 0])
    with pytest.raises(TypeError, match=r"must be a sims.Scenario"):
        sims.simulate("kk12", "uniform")


def test_scheduler_state_memory_is_bounded(small):
    with pytest.raises(ValueError, match=r"GiB of scheduler state .* Use fewer seeds"):
        prepare(small, "dump-ucb@prompt:window=100000", seeds=1000)


# -- metrics --------------------------------------------------------------------------------------

def _result(curves, zero=None):
    curves = np.asarray(curves, dtype=float)
    seeds, points = curves.shape
    steps = points - 1
    return sims.SimulationResult(
        "x", "x", "distribution", "toy", ("a",), np.arange(points), curves[:, :, None],
        np.zeros((seeds, steps)) if zero is None else zero, np.ones((seeds, steps, 1), dtype=np.int64),
        np.cumsum(np.full((seeds, steps), 10), axis=1), np.zeros((seeds, steps)), 0.0)


def test_summary_metrics_by_hand():
    run = _result([[0.0, 0.4, 0.6, 0.8], [0.0, 0.2, 0.6, 1.0]])
    summary = sims.summarize(run, target=0.5)
    assert summary["final_mean_accuracy"] == pytest.approx(0.9)
    assert summary["auc"] == pytest.approx(np.mean([(0.2 + 0.5 + 0.7) / 3, (0.1 + 0.4 + 0.8) / 3]))
    assert summary["steps_to_target"] == 2.0 and summary["rollouts_to_target"] == 20.0
    assert summary["reached_fraction"] == 1.0
    low, high = summary["final_mean_accuracy_ci"]
    assert low < 0.9 < high
    never = sims.summarize(run, target=0.95)
    assert never["steps_to_target"] is None and never["reached_fraction"] == 0.5


def test_compare_uses_the_uniform_final_accuracy_and_reports_speedup():
    slow, fast = _result([[0.0, 0.2, 0.4, 0.5]] * 3), _result([[0.0, 0.5, 0.6, 0.7]] * 3)
    slow.label, fast.label = "uniform", "dump-ucb"
    table = sims.compare([slow, fast])
    assert table["target"] == pytest.approx(0.5) and table["target_source"] == "final mean accuracy of uniform"
    assert table["schedulers"]["uniform"]["steps_to_target"] == 3.0
    assert table["schedulers"]["dump-ucb"]["speedup_vs_uniform"] == pytest.approx(3.0)
    assert sims.compare([fast], target=0.65)["schedulers"]["dump-ucb"]["steps_to_target"] == 3.0
    with pytest.raises(ValueError, match=r"'target' argument of compare must be 'auto' or a float >= 0 and <= 1"):
        sims.compare([fast], target=2.0)


def test_interval_and_crossing_helpers():
    mean, low, high = metrics.mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302652729749464 * 1.0 / np.sqrt(3))
    assert np.isnan(metrics.mean_interval([1.0])[1])
    crossing = metrics.first_crossing(np.array([[0.1, 0.6, 0.7], [0.1, 0.2, 0.3]]), np.array([0, 5, 10]), 0.5)
    assert crossing.tolist() == [5.0, np.inf]


def test_eval_schedule():
    steps, slot = eval_schedule(7, 3)
    assert steps.tolist() == [0, 3, 6, 7] and slot.tolist() == [-1, -1, 1, -1, -1, 2, 3]


def test_bernoulli_group_is_the_rng_stream_exactly():
    from banditcurr._rng import seed_state, uniform

    for p in (0.0, 0.3, 0.5, 1.0 - 2.0 ** -53, 1.0):
        fast, slow = seed_state(7), seed_state(7)
        rewards = np.full(40, -1.0)
        k = _engine.bernoulli_group(fast, p, rewards, 3, 37)
        expected = np.array([float(uniform(slow) < p) for _ in range(34)])
        np.testing.assert_array_equal(rewards[3:37], expected)
        assert k == expected.sum() and np.all(rewards[:3] == -1.0) and np.all(rewards[37:] == -1.0)
        np.testing.assert_array_equal(fast, slow)  # the stream advanced by one draw per rollout


# -- rollout allocation: ragged groups through the whole step --------------------------------

def test_allocation_spends_the_budget_on_fewer_prompts_and_engines_agree():
    pool = sims.make_scenario("math-pool", prompts_per_level=200, eval_prompts=20, batch_size=16, steps=12)
    budget = 16 * 8
    for allocation, spec in (("oracle", "uniform"), ("posterior", "cures")):
        fast = sims.simulate(pool, spec, seeds=40, allocation=allocation)
        slow = sims.simulate(pool, spec, seeds=20, allocation=allocation, engine="numpy", seed=3)
        assert np.all(np.diff(fast.rollouts, axis=1, prepend=0) == budget)  # the budget, exactly
        groups = fast.arm_counts.sum(axis=2)
        assert groups.max() <= 16 and groups.min() <= budget // 2
        assert _welch_close(fast.mean_accuracy[:, -1], slow.mean_accuracy[:, -1])
        assert _welch_close(groups.mean(axis=1).astype(float), slow.arm_counts.sum(axis=2).mean(axis=1))
    oracle = sims.simulate(pool, "uniform", seeds=8, allocation="oracle")
    assert oracle.arm_counts.sum(axis=2).mean() < 16  # saturated prompts got no rollouts
    plain = sims.simulate(pool, "uniform", seeds=8)
    assert oracle.zero_variance.mean() < plain.zero_variance.mean()


def test_posterior_allocation_needs_a_posterior(small):
    with pytest.raises(ValueError, match=r"allocation='posterior' reads the scheduler's Beta posteriors, which "
                                         r"'dump-ucb' does not keep\. Schedulers that do: .*cures"):
        sims.simulate(small, "dump-ucb", allocation="posterior")
    with pytest.raises(ValueError, match=r"'allocation' argument of simulate must be one of"):
        sims.simulate(small, "uniform", allocation="neyman")
    with pytest.raises(ValueError, match=r"needs group_size >= 2"):
        sims.simulate(small, "uniform", allocation="oracle", group_size=1)


def test_knapsack_allocation_spends_the_budget_and_engines_agree():
    pool = sims.make_scenario("math-pool", prompts_per_level=200, eval_prompts=20, batch_size=16, steps=12)
    fast = {}
    for spec in ("uniform", "thompson"):  # true p; the posterior mean
        fast[spec] = sims.simulate(pool, spec, seeds=40, allocation="knapsack")
        slow = sims.simulate(pool, spec, seeds=20, allocation="knapsack", engine="numpy", seed=3)
        assert np.all(np.diff(fast[spec].rollouts, axis=1, prepend=0) == 16 * 8)  # the budget, exactly
        assert _welch_close(fast[spec].mean_accuracy[:, -1], slow.mean_accuracy[:, -1])
        assert _welch_close(fast[spec].arm_counts.sum(axis=2).mean(axis=1).astype(float),
                            slow.arm_counts.sum(axis=2).mean(axis=1))
    plain = sims.simulate(pool, "uniform", seeds=8)
    assert fast["uniform"].zero_variance.mean() < plain.zero_variance.mean()
