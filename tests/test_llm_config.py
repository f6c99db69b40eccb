"""Config of `banditcurr train`: files, flags, docs, and bad configs failing before any work."""

import json
import os
import subprocess
import sys

import pytest

from banditcurr.llm import config as cfg
from banditcurr.llm.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def model_dir(tmp_path):
    """A directory that looks like a transformers model (validation reads no weights)."""
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return str(path)


def _config(model_dir, **overrides):
    return TrainConfig(**{"model": model_dir, "engine": "hf", **overrides})


def test_defaults_validate(model_dir):
    distributions = _config(model_dir).validate()
    assert [d.name for d in distributions] == [f"addition-{n}" for n in range(1, 7)]


@pytest.mark.parametrize("overrides, match", [
    ({"tasks": ["addition:1-3", "sudoku_x:1"]}, r"Unknown task family 'sudoku_x'"),
    ({"tasks": []}, r"tasks: the list is empty"),
    ({"group_size": 1}, r"'group_size' parameter of TrainConfig must be an int >= 2. Got 1"),
    ({"batch_prompts": 6, "group_size": 4, "micro_batch": 5}, r"6 \* 4 = 24 rollouts must divide into .* 1 \* 5"),
    ({"batch_prompts": 8, "group_size": 4, "minibatches": 3, "micro_batch": 1}, r"32 rollouts must divide"),
    ({"scheduler": "dump-cub"}, r"unknown scheduler 'dump-cub'"),
    ({"engine": "sglang"}, r"'engine' parameter of TrainConfig must be one of 'vllm', 'hf'. Got 'sglang'"),
    ({"arm_level": "token"}, r"'arm_level' parameter of TrainConfig must be one of"),
    ({"allocation": "greedy"}, r"'allocation' parameter of TrainConfig must be one of 'neyman', 'knapsack'. Got 'greedy'"),
    ({"top_p": 1.5}, r"'top_p' parameter of TrainConfig must be a float > 0 and <= 1. Got 1.5"),
    ({"steps": 0}, r"'steps' parameter of TrainConfig must be an int >= 1. Got 0"),
    ({"kl_coef": -0.1}, r"'kl_coef' parameter of TrainConfig must be a float >= 0. Got -0.1"),
    # issue 10 item 6: non-finite floats were accepted and the run trained (or crashed later)
    ({"max_grad_norm": float("nan")}, r"'max_grad_norm' parameter of TrainConfig must be a float >= 0. Got nan"),
    ({"temperature": float("inf")}, r"'temperature' parameter .* must be a float > 0 and <= 100. Got inf"),
    ({"success_threshold": float("nan")}, r"'success_threshold' parameter of TrainConfig must be a float. Got nan"),
    ({"lr": float("inf")}, r"'lr' parameter of TrainConfig must be a float > 0 and <= 1. Got inf"),
    ({"lr": 1e30}, r"'lr' parameter of TrainConfig must be a float > 0 and <= 1. Got 1e\+30"),
    ({"kl_coef": float("nan")}, r"'kl_coef' parameter of TrainConfig must be a float >= 0. Got nan"),
    ({"clip_eps": float("inf")}, r"'clip_eps' parameter of TrainConfig must be a float > 0. Got inf"),
    ({"weight_decay": float("-inf")}, r"'weight_decay' parameter .* must be a float >= 0 and <= 1. Got -inf"),
    ({"sync_tolerance": float("nan")}, r"'sync_tolerance' parameter of TrainConfig must be a float > 0"),
    ({"vllm_kv_cache_gib": float("inf")}, r"'vllm_kv_cache_gib' parameter of TrainConfig must be a float > 0"),
    ({"seed": -1}, r"'seed' parameter of TrainConfig must be an int >= 0. Got -1"),
    ({"resume": True, "overwrite": True}, r"resume and overwrite cannot both be true"),
    ({"arm_level": "prompt", "n_train": 2, "tasks": ["addition:3"], "batch_prompts": 8, "micro_batch": 8},
     r"batch_prompts = 8 exceeds the 2 \* 1 train prompts"),
    ({"plugins": ["no_such_module_xyz"]}, r"plugins: cannot import 'no_such_module_xyz'"),
])
def test_bad_config_is_named(model_dir, overrides, match):
    with pytest.raises(ValueError, match=match):
        _config(model_dir, **overrides).validate()


@pytest.mark.parametrize("model, match", [
    ("", r"model is required"),
    ("/nonexistent/tiny-model", r"the path '/nonexistent/tiny-model' does not exist"),
    ("./out/missing", r"does not exist"),
    ("a/b/c", r"does not exist \(a hub id has the form 'org/name'\)"),
])
def test_missing_model_is_named(model, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(model=model, engine="hf").validate()


def test_model_dir_without_config_json(tmp_path):
    with pytest.raises(ValueError, match=r"holds no config.json"):
        TrainConfig(model=str(tmp_path), engine="hf").validate()


def test_uncached_hub_id_offline_is_named(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"neither a local directory nor a model in the hub cache"):
        TrainConfig(model="banditcurr-test/not-a-model", engine="hf").validate()


def test_toml_and_yaml_files_and_flags(tmp_path, model_dir):
    toml = tmp_path / "run.toml"
    toml.write_text(f'model = "{model_dir}"\nsteps = 7\nlr = 1\ntasks = ["addition:1-2"]\n'
                    f'scheduler_kwargs = {{ c = 0.5 }}\n')
    yaml = tmp_path / "run.yaml"
    yaml.write_text(f"model: {model_dir}\nsteps: 7\nlr: 1\ntasks: [addition:1-2]\nscheduler_kwargs: {{c: 0.5}}\n")
    for path in (toml, yaml):
        loaded = cfg.from_mapping(cfg.load_file(str(path)))
        values = (loaded.steps, loaded.lr, loaded.tasks, loaded.scheduler_kwargs)
        assert values == (7, 1.0, ["addition:1-2"], {"c": 0.5})
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    cfg.add_flags(parser)
    args = parser.parse_args(["--config", str(toml), "--steps", "3", "--tasks", '["addition:4"]', "--resume", "true"])
    merged = cfg.from_args(args)
    assert (merged.steps, merged.tasks, merged.resume, merged.lr) == (3, ["addition:4"], True, 1.0)


@pytest.mark.parametrize("overrides, match", [
    ({"steps": 3.0}, r"'steps' parameter of TrainConfig must be an int >= 1. Got 3.0"),
    ({"lr": "1e-3"}, r"'lr' parameter of TrainConfig must be a float > 0 and <= 1. Got '1e-3'"),
    ({"resume": 1}, r"'resume' parameter of TrainConfig must be a bool. Got 1"),
])
def test_wrong_types_are_type_errors(model_dir, overrides, match):
    # the library's convention: a wrong type is a TypeError, a wrong value a ValueError
    with pytest.raises(TypeError, match=match):
        _config(model_dir, **overrides).validate()


@pytest.mark.parametrize("values, error, match", [
    ({"stpes": 3}, ValueError, r"Unknown config option\(s\): 'stpes' \(did you mean 'steps'\?\)"),
    ({"steps": "3"}, TypeError, r"'steps' parameter of TrainConfig must be an int. Got '3' \(str\)"),
    ({"resume": 1}, TypeError, r"'resume' parameter of TrainConfig must be a bool"),
    ({"tasks": "addition:1-3"}, TypeError, r"'tasks' parameter of TrainConfig must be a list"),
])
def test_bad_file_values_are_named(values, error, match):
    with pytest.raises(error, match=match):
        cfg.from_mapping(values)


def test_bad_config_file_name(tmp_path):
    with pytest.raises(ValueError, match=r"no such file"):
        cfg.load_file(str(tmp_path / "missing.toml"))
    bad = tmp_path / "run.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"must end in .toml, .yaml or .yml"):
        cfg.load_file(str(bad))


def test_every_option_is_in_help_and_in_docs():
    help_text = subprocess.run([sys.executable, "-m", "banditcurr.cli", "train", "--help"], capture_output=True,
                               text=True, check=True).stdout
    docs = open(os.path.join(ROOT, "docs", "llm.md")).read()
    for f in cfg.fields():
        assert "--" + f.name.replace("_", "-") in help_text, f.name
        assert f"| `{f.name}` |" in docs, f"docs/llm.md lacks option {f.name}: paste config.markdown_table()"
    assert cfg.markdown_table() in docs, "docs/llm.md's option table is stale: paste config.markdown_table()"


def test_docs_list_the_settings_a_resume_may_change():
    docs = open(os.path.join(ROOT, "docs", "llm.md")).read()
    listed = docs[docs.index("may change, and are listed in a warning"):docs.index("**Numbers are checked**")]
    named = {f.name for f in cfg.fields() if f"`{f.name}`" in listed}
    assert named == set(cfg.RESUMABLE_CHANGES)


def test_resume_changes_split_altering_from_harmless(model_dir):
    saved = _config(model_dir).to_dict()
    assert _config(model_dir, steps=500, eval_every=3, resume=True).resume_changes(saved) == \
        ["steps: 100 -> 500", "eval_every: 10 -> 3"]
    with pytest.raises(ValueError, match=r"differ from the run being resumed(.|\n)*  lr: 1e-05 -> 0.001\n  seed: 0 -> "
                                         r"1\n(.|\n)*Only checkpoint_every, eval_every"):
        _config(model_dir, seed=1, lr=1e-3, steps=500).resume_changes(saved)
    del saved["report_to"]  # a config saved before an option existed: its default is assumed
    assert _config(model_dir).resume_changes(saved) == []


def test_cli_fails_fast_without_importing_torch(tmp_path):
    bad = tmp_path / "run.toml"
    bad.write_text('model = "/nonexistent/model"\nengine = "hf"\n')
    code = ("import sys; from banditcurr import cli\n"
            "try:\n    cli.main(['train', '--config', sys.argv[1]])\n"
            "except SystemExit as e:\n    print(e)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, check=True).stdout
    assert "banditcurr train: error: model: the path '/nonexistent/model' does not exist" in out
    assert out.strip().endswith("False")


def test_config_round_trips_through_json(model_dir):
    config = _config(model_dir, scheduler_kwargs={"c": 2.0})
    assert cfg.from_mapping(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("arm_level", ["distribution", "prompt"])
def test_difficulty_labels_and_horizon_reach_adarft_and_e2h(model_dir, arm_level):
    """The loop labels each arm by its distribution's index (easy -> hard as listed) and
    gives e2h the run's steps, unless scheduler_kwargs set them."""
    from banditcurr.llm.grpo import scheduler_arguments
    from banditcurr.llm.tasks import TaskPool

    config = _config(model_dir, tasks=["addition:1-3"], arm_level=arm_level, scheduler="e2h", steps=40, n_train=20)
    pool = TaskPool(config.validate(), config.n_train, config.n_test, config.seed, config.arm_level)
    kwargs = scheduler_arguments(config, pool)
    assert kwargs["horizon"] == 40
    assert list(kwargs["difficulty"]) == list(pool.arm_distribution())
    config = _config(model_dir, scheduler="adarft", scheduler_kwargs={"difficulty": [2.0, 1, 0, 3, 4, 5]})
    assert scheduler_arguments(config, TaskPool(config.validate(), 5, 2, 0))["difficulty"] == [2.0, 1, 0, 3, 4, 5]
    assert "difficulty" not in scheduler_arguments(_config(model_dir), pool)  # the default scheduler takes none
