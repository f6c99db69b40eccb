"""Calibration: the replay and likelihood kernels against their twins and the engine,
parameter recovery on a simulated ledger, bad ledgers, the calibrate / predict commands."""

import numpy as np
import pytest

from banditcurr import sims
from banditcurr.cli import main
from banditcurr.sims import _replay
from banditcurr.sims import calibrate as cal
from banditcurr.sims.ledgers import trace_frame, write_ledgers
from banditcurr.sims.scenario import Scenario, chain_loadings

import naive


def _scenario(**learner):
    options = {"learning_rate": 0.5, **learner}
    return Scenario.from_levels("calib-test", chain_loadings(4, 0.6), [-0.5, 0.5, 1.5, 2.5], 0.8, 60, 50,
                                batch_size=48, group_size=8, steps=60, pool_seed=3, **options)


@pytest.fixture(scope="module")
def plain_run():
    scenario = _scenario()
    return scenario, sims.simulate(scenario, "uniform", seeds=1, seed=11, trace=True)


@pytest.fixture(scope="module")
def plain_fit(plain_run):
    scenario, run = plain_run
    return cal.calibrate(trace_frame(run, scenario, 0))


def _truth_x(scenario, objective):
    c = scenario.n_distributions
    start, count = scenario.pool_bounds()
    mu = [scenario.train_difficulty[a:a + n].mean() for a, n in zip(start, count)]
    return np.concatenate([[np.log(scenario.learning_rate), 0.6, 100 * scenario.forgetting,
                            scenario.memorization / 100], mu, np.log(np.full(c, 0.8))])


@pytest.mark.parametrize("learner", [dict(), dict(optimizer="adam", learning_rate=0.05),
                                     dict(memorization=150.0, forgetting=0.01)])
def test_replay_reproduces_the_engine_and_its_twin(learner):
    scenario = _scenario(**learner)
    run = sims.simulate(scenario, "uniform", seeds=1, seed=12, trace=True)
    groups = cal.load_groups(trace_frame(run, scenario, 0))
    objective = cal.Objective(groups, scenario.optimizer)
    objective.replay(_truth_x(scenario, objective))
    final = objective.skills[-1]
    accuracy = (1 / (1 + np.exp(-(scenario.loadings @ final)[:, None] + scenario.eval_difficulty))).mean(axis=1)
    np.testing.assert_allclose(accuracy, run.accuracy[0, -1], rtol=1e-10)  # the engine's learner, step for step
    step_of = np.repeat(groups.steps, np.diff(groups.step_offsets))
    adam = (0.9, 0.999, 1e-8) if scenario.optimizer == "adam" else None
    base, states = naive.learner_replay(step_of, groups.prompt, groups.dist, groups.size, groups.coef,
                                        groups.trained, scenario.loadings, scenario.learning_rate,
                                        scenario.forgetting, scenario.memorization, adam=adam)
    np.testing.assert_allclose(objective.base, base, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(objective.skills, states, rtol=1e-10, atol=1e-12)


def test_marginal_likelihood_matches_its_twin_and_its_gradient(plain_run):
    scenario, run = plain_run
    groups = cal.load_groups(trace_frame(run, scenario, 0))
    objective = cal.Objective(groups)
    x = _truth_x(scenario, objective)
    x[-4:] = np.log([0.5, 0.9, 1.3, 0.7])
    grad = np.zeros(8)
    value = objective.nll(x, grad)
    c = 4
    expected = naive.marginal_nll(groups.prompt, groups.dist, objective.base, groups.successes, groups.size,
                                  x[4:4 + c], np.exp(x[4 + c:]), cal.GRID)
    assert value == pytest.approx(expected, rel=1e-10)
    for j in range(8):
        h = 1e-6
        shifted = x.copy()
        shifted[4 + j] += h
        assert grad[j] == pytest.approx((objective.nll(shifted) - value) / h, rel=1e-3, abs=1e-3)


def test_calibration_recovers_the_learner(plain_run, plain_fit):
    scenario, _ = plain_run
    fit = plain_fit
    assert fit.optimizer == "sgd"
    assert fit.learner["learning_rate"] == pytest.approx(0.5, rel=0.25)
    assert fit.learner["transfer"] == pytest.approx(0.6, abs=0.2)
    assert fit.learner["forgetting"] < 0.005
    start, count = scenario.pool_bounds()
    mu = np.array([scenario.train_difficulty[a:a + n].mean() for a, n in zip(start, count)])
    assert np.abs(fit.mu - mu).max() < 0.4
    assert fit.loglik > fit.baseline_loglik  # the learner beats free per-step pass rates
    se = fit.standard_errors()
    assert 0 < se["learning_rate"] < 0.5 and 0 < se["transfer"] < 0.5
    assert fit.warnings == []


def test_calibrated_scenario_runs_like_a_preset(plain_fit, tmp_path):
    scenario = plain_fit.scenario
    assert scenario.batch_size == 48 and scenario.group_size == 8 and scenario.steps == 60
    assert scenario.n_distributions == 4 and scenario.n_prompts >= 4 * 50
    path = str(tmp_path / "scenario.json")
    scenario.save(path)
    assert main(["simulate", "--scenario", path, "--schedulers", "uniform,dump-ucb", "--seeds", "4",
                 "--no-progress"]) == 0
    assert main(["simulate", "--scenario", path, "--param", "transfer=0.1", "--seeds", "2", "--no-progress"]) == 2


def test_parameter_draws_follow_the_laplace_covariance(plain_fit):
    from banditcurr.sims.predict import parameter_draws

    draws = np.array(parameter_draws(plain_fit, 400, seed=1))
    np.testing.assert_array_equal(draws[0], plain_fit.x)
    se = np.sqrt(np.diag(plain_fit.covariance))[:2]
    np.testing.assert_allclose(draws[1:, :2].std(axis=0), se, rtol=0.2)


# -- bad ledgers ----------------------------------------------------------------------------------

def _frame(plain_run):
    scenario, run = plain_run
    return trace_frame(run, scenario, 0)


def test_missing_columns_are_refused(plain_run):
    with pytest.raises(cal.CalibrationError, match=r"lacks the column\(s\) \['success'\]"):
        cal.calibrate(_frame(plain_run).drop(columns=["success"]))


def test_nan_rewards_are_refused(plain_run):
    frame = _frame(plain_run)
    frame.at[5, "rewards"] = np.array([np.nan] * 8)
    with pytest.raises(cal.CalibrationError, match="NaN or infinite"):
        cal.calibrate(frame)


def test_a_single_step_is_refused(plain_run):
    frame = _frame(plain_run)
    with pytest.raises(cal.CalibrationError, match="1 step: learning cannot be seen"):
        cal.calibrate(frame[frame["step"] == 3])


def test_only_all_equal_groups_are_refused(plain_run):
    frame = _frame(plain_run)
    frame["rewards"] = [np.zeros(8)] * len(frame)
    frame["success"] = [np.zeros(8, bool)] * len(frame)
    with pytest.raises(cal.CalibrationError, match="all-success or all-failure"):
        cal.calibrate(frame)


def test_a_never_mixed_distribution_is_flagged(plain_run):
    frame = _frame(plain_run)
    hard = frame["distribution"] == "d3"
    frame.loc[hard, "rewards"] = pd_series([np.zeros(8)] * int(hard.sum()), frame.index[hard])
    frame.loc[hard, "success"] = pd_series([np.zeros(8, bool)] * int(hard.sum()), frame.index[hard])
    fit = cal.calibrate(frame, optimizers=("sgd",), uncertainty=False)
    assert any("'d3' has no mixed group (all failure)" in w for w in fit.warnings)
    assert "WARNING" in fit.report()


def pd_series(values, index):
    import pandas as pd

    return pd.Series(values, index=index, dtype=object)


def test_bad_arguments():
    with pytest.raises(TypeError, match="ledger directory \\(str\\) or a pandas DataFrame"):
        cal.calibrate(42)
    with pytest.raises(ValueError, match="'optimizers' argument"):
        cal.calibrate("x", optimizers=("rmsprop",))
    with pytest.raises(cal.CalibrationError, match="no such directory"):
        cal.calibrate("/nonexistent/ledger")


# -- the commands ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_calibrate_and_predict_commands(plain_run, tmp_path, capsys):
    scenario, run = plain_run
    ledger = write_ledgers(run, scenario, str(tmp_path / "ledgers"))[0]
    out = str(tmp_path / "fit.json")
    assert main(["calibrate", ledger, "--out", out, "--plot", str(tmp_path / "fit.png"),
                 "--simulated-seeds", "4"]) == 0
    text = capsys.readouterr().out
    assert "log-likelihood" in text and "vs free per-step pass rates" in text
    assert (tmp_path / "fit.png").stat().st_size > 0
    assert Scenario.load(out).steps == 60
    assert main(["predict", ledger, "--schedulers", "dump-ucb", "--seeds", "8", "--draws", "2",
                 "--out", str(tmp_path / "pred")]) == 0
    text = capsys.readouterr().out
    assert "dump-ucb" in text and "speed-up vs uniform" in text
    assert (tmp_path / "pred" / "prediction.json").exists()
    assert main(["calibrate", str(tmp_path), "--out", out]) == 2
    assert "cannot calibrate" in capsys.readouterr().err

