"""Scenarios of banditcurr.sims: presets are faithful and validate their parameters,
Scenario validates its arrays, user-defined scenarios load from Python."""

import numpy as np
import pytest

from banditcurr import sims
from banditcurr.sims.presets import logit_for_accuracy


def test_presets_have_the_documented_shape():
    kk12 = sims.make_scenario("kk12")
    assert kk12.n_distributions == 12 and kk12.n_prompts == 12 * 900
    assert kk12.distributions[0] == "3 people" and kk12.distributions[-1] == "14 people"
    assert (kk12.batch_size, kk12.group_size, kk12.arm_level) == (128, 16, "distribution")
    pool = sims.make_scenario("math-pool")
    assert pool.n_distributions == 5 and pool.n_prompts >= 10_000 and pool.arm_level == "prompt"
    drift = sims.make_scenario("drift")
    assert drift.n_distributions == 6 and drift.forgetting > 0
    assert sims.available_scenarios() == ["drift", "kk12", "math-pool"]


def test_kk12_is_graded_with_transfer_from_easy_to_hard():
    scenario = sims.make_scenario("kk12")
    accuracy = scenario.initial_accuracy()
    assert np.all(np.diff(accuracy) < 0)  # more people, harder
    assert accuracy[0] > 0.5 and accuracy[-1] < 0.01
    cosine = scenario.loadings @ scenario.loadings.T
    assert np.all(cosine > 0)  # every distribution shares skills with every other
    assert cosine[0, 1] > cosine[0, 5] > cosine[0, 11]  # transfer decays with the gap
    independent = sims.make_scenario("kk12", transfer=0.0)
    np.testing.assert_allclose(independent.loadings, np.eye(12))


def test_math_pool_starts_mostly_saturated():
    scenario = sims.make_scenario("math-pool")
    assert scenario.initial_zero_variance() > 0.5  # most groups have no gradient at step 0
    np.testing.assert_allclose(scenario.initial_accuracy(), [0.9, 0.8, 0.65, 0.5, 0.3], atol=0.04)


def test_drift_families_interfere():
    scenario = sims.make_scenario("drift", interference=0.5)
    cosine = scenario.loadings @ scenario.loadings.T
    assert cosine[0, 1] > 0.99 and cosine[0, 3] == pytest.approx(-0.5)


def test_logit_for_accuracy_inverts_the_expected_accuracy():
    rng = np.random.default_rng(0)
    mu = logit_for_accuracy(0.3, 4.0)
    draws = 1.0 / (1.0 + np.exp(-(mu + 4.0 * rng.standard_normal(400_000))))
    assert draws.mean() == pytest.approx(0.3, abs=0.003)


def test_pool_is_fixed_by_pool_seed():
    a, b = sims.make_scenario("kk12"), sims.make_scenario("kk12")
    np.testing.assert_array_equal(a.train_difficulty, b.train_difficulty)
    c = sims.make_scenario("kk12", pool_seed=1)
    assert not np.array_equal(a.train_difficulty, c.train_difficulty)


@pytest.mark.parametrize("name, params, error, match", [
    ("kk12", {"transfer": 1.5}, ValueError, r"'transfer' parameter of kk12 must be a float >= 0 and <= 1\. Got 1\.5"),
    ("kk12", {"prompt_spread": -1}, ValueError, r"'prompt_spread' parameter of kk12 .* Got -1"),
    ("kk12", {"learning_rate": 0}, ValueError, r"'learning_rate' parameter of kk12 must be a float > 0"),
    ("kk12", {"batch_size": 0}, ValueError, r"'batch_size' parameter of kk12 must be an int >= 1\. Got 0"),
    ("kk12", {"steps": 2.5}, TypeError, r"'steps' parameter of kk12 must be an int"),
    ("kk12", {"prompts_per_distribution": True}, TypeError, r"'prompts_per_distribution'"),
    ("kk12", {"people": 12}, TypeError, r"unknown parameter\(s\) \['people'\]\. Valid ones: .*'transfer'"),
    ("math-pool", {"level_accuracy": (0.9, 0.5)}, ValueError, r"'level_accuracy' parameter of math-pool must be 5"),
    ("math-pool", {"level_accuracy": (0.9, 0.8, 0.7, 0.6, 1.0)}, ValueError, r"5 floats in \(0, 1\)"),
    ("drift", {"forgetting": 1.0}, ValueError, r"'forgetting' parameter of drift must be a float >= 0 and < 1"),
    ("drift", {"interference": float("nan")}, ValueError, r"'interference' parameter of drift"),
])
def test_bad_preset_parameters_get_clear_errors(name, params, error, match):
    with pytest.raises(error, match=match):
        sims.make_scenario(name, **params)


def test_unknown_scenario_names_the_presets():
    with pytest.raises(ValueError, match=r"Unknown scenario 'kk13'\. Presets: drift, kk12, math-pool"):
        sims.make_scenario("kk13")


def _arrays(**changes):
    base = dict(name="tiny", distributions=("a", "b"), loadings=np.eye(2), init_skills=np.zeros(2),
                train_dist=np.array([0, 0, 1]), train_difficulty=np.zeros(3), eval_difficulty=np.zeros((2, 4)))
    base.update(changes)
    return base


@pytest.mark.parametrize("changes, match", [
    ({"loadings": np.eye(2)[:, :, None]}, r"'loadings' argument of Scenario must be 2-D"),
    ({"loadings": np.array([[1.0, 0.0], [0.0, 0.0]])}, r"Every row of 'loadings' must have a non-zero entry"),
    ({"init_skills": np.zeros(3)}, r"'init_skills' argument of Scenario must have shape \(2,\)"),
    ({"train_dist": np.array([1, 0, 0])}, r"'train_dist' must be sorted"),
    ({"train_dist": np.array([0, 0, 0])}, r"Distribution 1 has no training prompt"),
    ({"train_dist": np.array([0, 1, 2])}, r"distribution id 2, outside 0\.\.1"),
    ({"train_difficulty": np.array([0.0, np.nan, 0.0])}, r"'train_difficulty' .* non-finite"),
    ({"eval_difficulty": np.full((2, 4), 101.0)}, r"'eval_difficulty' argument of Scenario holds 101\.0; .* \+-100"),
    ({"eval_difficulty": np.zeros((3, 4))}, r"'eval_difficulty' argument of Scenario must have shape \(2, E >= 1\)"),
    ({"distributions": ("a",)}, r"'distributions' argument of Scenario must be 2 names"),
    ({"arm_level": "token"}, r"'arm_level' argument of Scenario must be one of 'distribution', 'prompt'\. Got"),
    ({"forgetting": 1.0}, r"'forgetting' argument of Scenario must be a float >= 0 and < 1\. Got 1\.0"),
    ({"learning_rate": -1.0}, r"'learning_rate' argument of Scenario"),
    ({"group_size": 0}, r"'group_size' argument of Scenario must be an int >= 1\. Got 0"),
])
def test_scenario_validates_its_arrays(changes, match):
    with pytest.raises((TypeError, ValueError), match=match):
        sims.Scenario(**_arrays(**changes))


def test_scenario_arrays_are_read_only_and_bounds_are_contiguous():
    scenario = sims.Scenario(**_arrays())
    with pytest.raises(ValueError):
        scenario.train_difficulty[0] = 1.0
    start, count = scenario.pool_bounds()
    assert start.tolist() == [0, 2] and count.tolist() == [2, 1]
    assert scenario.n_arms("distribution") == 2 and scenario.n_arms("prompt") == 3
    with pytest.raises(ValueError, match=r"'arm_level' argument must be one of"):
        scenario.n_arms("token")


def test_initial_zero_variance_is_exact():
    scenario = sims.Scenario(**_arrays(train_difficulty=np.array([0.0, np.log(3.0), -np.log(3.0)]), group_size=2))
    p = np.array([0.5, 0.25, 0.75])
    assert scenario.initial_zero_variance() == pytest.approx(np.mean(p ** 2 + (1 - p) ** 2))


def test_from_levels_draws_per_distribution():
    scenario = sims.Scenario.from_levels("mine", sims.chain_loadings(3, 0.5), [0.0, 1.0, 2.0], 0.0, [2, 3, 4], 5)
    assert scenario.train_dist.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert scenario.train_difficulty.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert scenario.eval_difficulty.shape == (3, 5)
    with pytest.raises(ValueError, match=r"'n_train' argument of Scenario.from_levels must be >= 1"):
        sims.Scenario.from_levels("mine", np.eye(2), 0.0, 1.0, [3, 0], 5)
    with pytest.raises(ValueError, match=r"'difficulty_spread' .* must be finite and >= 0"):
        sims.Scenario.from_levels("mine", np.eye(2), 0.0, -1.0, 3, 5)
    with pytest.raises(ValueError, match=r"'difficulty_mean' .* shape \(2,\)"):
        sims.Scenario.from_levels("mine", np.eye(2), [0.0, 1.0, 2.0], 1.0, 3, 5)


def test_chain_loadings_are_unit_rows_with_geometric_transfer():
    loadings = sims.chain_loadings(6, 0.7)
    np.testing.assert_allclose(np.linalg.norm(loadings, axis=1), 1.0)
    assert np.all(np.triu(loadings, 1) == 0)
    cosine = loadings @ loadings.T
    assert cosine[4, 5] > cosine[3, 5] > cosine[2, 5]


def test_user_defined_scenario_loads_from_a_file(tmp_path):
    path = tmp_path / "my_world.py"
    path.write_text(
        "from banditcurr import sims\n"
        "def world(steps=10):\n"
        "    return sims.Scenario.from_levels('two-tasks', [[1.0, 0.0], [0.6, 0.8]], [0.0, 2.0], 1.0, 50, 20,\n"
        "                                     steps=steps)\n"
        "not_a_scenario = 3\n")
    scenario = sims.load_scenario(f"{path}:world", steps=7)
    assert scenario.name == "two-tasks" and scenario.steps == 7
    with pytest.raises(ValueError, match=r"has no attribute 'missing'"):
        sims.load_scenario(f"{path}:missing")
    with pytest.raises(TypeError, match=r"gave a int, not a sims.Scenario"):
        sims.load_scenario(f"{path}:not_a_scenario")
    with pytest.raises(ValueError, match=r"does not exist"):
        sims.load_scenario(f"{tmp_path / 'nope.py'}:world")
