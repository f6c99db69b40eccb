"""The TRL adapter against the real TRL, both routes: ``CurriculumGRPOTrainer`` (the
subclass) and ``CurriculumFeed`` (public API: an IterableDataset and a reward-function
wrapper) each train a tiny local Qwen2 (built here, nothing downloaded) for a few GRPO
steps on CPU; the curriculum follows the rewards, logs its lag and the curriculum/
metrics, checkpoints without pickle and resumes exactly.
"""

import json
import os
import pickle
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from datasets import Dataset
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
from trl import GRPOConfig, GRPOTrainer

import banditcurr as bc
from banditcurr.integrations._curriculum import Curriculum
from banditcurr.integrations.trl import (LEGACY_STATE_FILE, STATE_FILE, CurriculumFeed, CurriculumGRPOTrainer,
                                         CurriculumSampler, load_curriculum)
from recipes import python_files

pytestmark = pytest.mark.slow

TASKS = ("solved", "unsolved", "learnable")
GENERATIONS = 4
PUBLIC_ROUTE_LAG = 1.0  # measured: see test_public_route_feedback_lag
PROMPTS_PER_STEP = 4
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A one-layer Qwen2 and a character-level tokenizer, saved to a temp dir."""
    path = tmp_path_factory.mktemp("tiny-qwen2")
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-=?.:,\n"
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    config = Qwen2Config(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=None)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    return str(path)


def by_task(prompts, completions, task, **kwargs):
    """A verifier stand-in: 'solved' prompts always score 1, 'unsolved' 0, 'learnable'
    half of each group (by rollout position, so reruns score alike)."""
    return [1.0 if t == "solved" else 0.0 if t == "unsolved" else float(j % 2) for j, t in enumerate(task)]


def make_trainer(model, output_dir, max_steps, **curriculum):
    dataset = Dataset.from_list([{"prompt": f"question {j} about {t}", "task": t} for j in range(12) for t in TASKS])
    args = GRPOConfig(
        output_dir=str(output_dir), per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS,
        num_generations=GENERATIONS, max_completion_length=4, max_steps=max_steps, save_steps=2,
        logging_steps=1, report_to=[], use_cpu=True, bf16=False, seed=0, learning_rate=1e-3, beta=0.0,
    )
    return CurriculumGRPOTrainer(model=model, reward_funcs=by_task, args=args, train_dataset=dataset,
                                 arm_key="task", **curriculum)


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """Four GRPO steps with dump-ucb; checkpoints at steps 2 and 4."""
    output_dir = tmp_path_factory.mktemp("grpo")
    trainer = make_trainer(tiny_model, output_dir, max_steps=4)
    start = trainer.curriculum.probs()
    trainer.train()
    return trainer, start, output_dir


def test_probabilities_follow_the_rewards(trained):
    trainer, start, _ = trained
    names = trainer.curriculum.arm_names
    assert names == ["learnable", "solved", "unsolved"]
    np.testing.assert_allclose(start, 1 / 3)
    probs = trainer.curriculum.probs()
    assert probs[names.index("learnable")] > 0.9  # the only task with a GRPO signal
    assert trainer.curriculum.n_feedback_groups == 4 * PROMPTS_PER_STEP
    logs = [entry for entry in trainer.state.log_history if "curriculum/p/learnable" in entry]
    assert len(logs) == 4
    assert logs[-1]["curriculum/p/learnable"] == pytest.approx(probs[0])


def test_feedback_is_one_generation_batch_late(trained):
    trainer, _, _ = trained
    lags = [entry["curriculum/lag"] for entry in trainer.state.log_history if "curriculum/lag" in entry]
    assert lags == [1.0, 1.0, 1.0, 1.0]  # accelerate loads the next batch before this one is scored
    assert len(trainer.curriculum.pending) == 1  # the batch drawn ahead of step 5, never scored


def test_checkpoints_hold_the_curriculum_without_pickle(trained):
    _, _, output_dir = trained
    for step in (2, 4):
        path = output_dir / f"checkpoint-{step}" / STATE_FILE
        with np.load(path, allow_pickle=False) as archive:  # numeric arrays and a JSON entry only
            assert "__state__" in archive.files
        state = bc.read_state(path)["curriculum"]
        assert state["arm_names"] == ["learnable", "solved", "unsolved"]
        assert state["n_feedback_groups"] == step * PROMPTS_PER_STEP
        assert len(state["pending_rows"]) == 1


def test_curriculum_metrics_reach_the_trainer_log(trained):
    trainer, _, _ = trained
    logs = [entry for entry in trainer.state.log_history if "curriculum/entropy" in entry]
    assert len(logs) == 4
    assert logs[-1]["curriculum/effective_arms"] == pytest.approx(np.exp(logs[-1]["curriculum/entropy"]))
    assert logs[-1]["curriculum/pass_rate/learnable"] == 0.5
    assert logs[0]["curriculum/zero_variance_fraction"] > 0  # solved / unsolved groups


def test_old_pickle_is_refused_and_the_conversion_works(trained, tiny_model, tmp_path):
    """An old checkpoint (the curriculum state pickled) is refused, nothing changes, and
    the command in the message turns it into a state that resumes."""
    trainer, _, _ = trained
    folder = tmp_path / "checkpoint-1"
    folder.mkdir()
    with open(folder / LEGACY_STATE_FILE, "wb") as handle:
        pickle.dump(trainer.curriculum.state_dict(), handle)  # what banditcurr 0.1 wrote
    fresh = make_trainer(tiny_model, tmp_path, max_steps=1)
    before = fresh.curriculum.state_dict()
    with pytest.raises(ValueError, match="(?s)no longer loads: unpickling runs code.*bc.save_state") as refused:
        fresh.train(resume_from_checkpoint=str(folder))
    np.testing.assert_array_equal(fresh.curriculum.state_dict()["picker_rng"], before["picker_rng"])
    command = re.search(r'python -c "(.*)"', str(refused.value)).group(1)
    subprocess.run([sys.executable, "-c", command], check=True)
    load_curriculum(fresh.curriculum_sampler, str(folder))
    np.testing.assert_array_equal(fresh.curriculum.state_dict()["picker_rng"],
                                  trainer.curriculum.state_dict()["picker_rng"])


def test_resume_is_exact(trained, tiny_model):
    trainer, _, output_dir = trained
    resumed = make_trainer(tiny_model, output_dir, max_steps=4)
    resumed.train(resume_from_checkpoint=str(output_dir / "checkpoint-2"))
    assert resumed.args.ignore_data_skip
    expected, got = trainer.curriculum.state_dict(), resumed.curriculum.state_dict()
    for name, array in expected["scheduler"].items():
        np.testing.assert_array_equal(got["scheduler"][name], array, err_msg=name)
    for name in ("picker_rng", "picker_order", "picker_cursor"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert [r.tolist() for r in got["pending_rows"]] == [r.tolist() for r in expected["pending_rows"]]
    assert got["n_feedback_groups"] == expected["n_feedback_groups"]


def test_resume_needs_a_curriculum_checkpoint(tiny_model, tmp_path):
    (tmp_path / "checkpoint-1").mkdir()
    fresh = make_trainer(tiny_model, tmp_path, max_steps=1)
    with pytest.raises(FileNotFoundError, match="has no banditcurr_curriculum.npz"):
        fresh.train(resume_from_checkpoint=str(tmp_path / "checkpoint-1"))


def test_group_with_two_arm_keys_is_refused(trained):
    trainer, _, _ = trained
    inputs = [{"task": "solved"}] * 3 + [{"task": "unsolved"}]
    before = trainer.curriculum.state_dict()
    with pytest.raises(ValueError, match="form one GRPO group but carry arm keys"):
        trainer._feed_curriculum(inputs, torch.ones(4, 1))
    np.testing.assert_array_equal(trainer.curriculum.state_dict()["scheduler"]["counts"], before["scheduler"]["counts"])


def test_missing_arm_key_column_is_refused(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="no column 'difficulty'"):
        CurriculumGRPOTrainer(model=tiny_model, reward_funcs=by_task,
                              args=GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[],
                                              per_device_train_batch_size=4, num_generations=4),
                              train_dataset=Dataset.from_list([{"prompt": "a", "task": "x"}] * 4),
                              arm_key="difficulty")


def test_sampler_layout_and_replay():
    """TRL's RepeatSampler layout (groups of G, batch repeated R times), one draw per
    generation batch, and the unscored batches issued again after a reload."""
    keys = [f"task{j % 3}" for j in range(10)]
    sampler = CurriculumSampler(Curriculum("uniform", keys, seed=1), n_rows=10, prompts_per_batch=4,
                                num_generations=2, repeat_count=3)
    order = list(sampler)
    assert len(order) == len(sampler) == 2 * 4 * 2 * 3  # 2 batches per epoch
    first = np.array(order[:24]).reshape(3, 4, 2)
    assert np.all(first == first[0]) and np.all(first[..., 0] == first[..., 1])
    assert len(sampler.curriculum.pending) == 2
    state = sampler.state_dict()
    again = CurriculumSampler(Curriculum("uniform", keys, seed=99), n_rows=10, prompts_per_batch=4,
                              num_generations=2, repeat_count=3)
    again.load_state_dict(state)
    assert list(again)[:48] == order  # both pending batches re-issued, in order


@pytest.mark.parametrize("script, holder, folder", [("train_grpo_curriculum.py", "trainer", "grpo-curriculum"),
                                                    ("train_grpo_feed.py", "feed", "grpo-feed")])
def test_documented_recipe(script, holder, folder, tiny_model, tmp_path, monkeypatch):
    """docs/integrations/trl.md's two recipes (the subclass, the public route), run as
    written except for the model (a hub id there, the local tiny model here) and the
    length of the run."""
    source = python_files("integrations/trl.md")[script]
    replacements = {
        'MODEL = "Qwen/Qwen2.5-0.5B-Instruct"': f"MODEL = {tiny_model!r}",
        "max_steps=300,": "max_steps=2, use_cpu=True, bf16=False, report_to=[],",
        "save_steps=50,": "save_steps=2,",
        "max_completion_length=32,": "max_completion_length=8,",
    }
    for old, new in replacements.items():
        assert source.count(old) == 1, f"the recipe no longer contains {old!r}"
        source = source.replace(old, new)
    monkeypatch.chdir(tmp_path)
    (tmp_path / script).write_text(source)
    curriculum = runpy.run_path(script)[holder].curriculum
    assert curriculum.arm_names == ["add-1digit", "add-2digit", "add-3digit", "add-4digit"]
    assert curriculum.n_feedback_groups == 2  # one prompt (8 generations) per step, two steps
    assert (tmp_path / folder / "checkpoint-2" / STATE_FILE).is_file()


# -- the public route: CurriculumFeed ---------------------------------------------------


def make_feed_trainer(model, output_dir, max_steps, feed=None, **config):
    dataset = Dataset.from_list([{"prompt": f"question {j} about {t}", "task": t} for j in range(12) for t in TASKS])
    feed = feed or CurriculumFeed(dataset, arm_key="task", scheduler="dump-ucb", seed=0)
    args = GRPOConfig(
        output_dir=str(output_dir), per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS,
        num_generations=GENERATIONS, max_completion_length=4, max_steps=max_steps, save_steps=2,
        logging_steps=1, report_to=[], use_cpu=True, bf16=False, seed=0, learning_rate=1e-3, beta=0.0,
        shuffle_dataset=False, **config)
    trainer = GRPOTrainer(model=model, reward_funcs=[feed.reward(by_task)], args=args, train_dataset=feed.dataset,
                          callbacks=[feed.callback()])
    return trainer, feed


@pytest.fixture(scope="module")
def fed(tiny_model, tmp_path_factory):
    """Four GRPO steps through the public route; checkpoints at steps 2 and 4."""
    output_dir = tmp_path_factory.mktemp("grpo-feed")
    trainer, feed = make_feed_trainer(tiny_model, output_dir, max_steps=4)
    trainer.train()
    return trainer, feed, output_dir


def test_public_route_follows_the_rewards(fed):
    trainer, feed, _ = fed
    probs = feed.curriculum.probs()
    assert probs[feed.curriculum.arm_names.index("learnable")] > 0.9
    assert feed.curriculum.n_feedback_groups == 4 * PROMPTS_PER_STEP
    logs = [entry for entry in trainer.state.log_history if "curriculum/p/learnable" in entry]
    assert len(logs) == 4 and logs[-1]["curriculum/p/learnable"] == pytest.approx(probs[0])


def test_public_route_feedback_lag(fed):
    """The lag in generation batches: how many batches were drawn after the scored one."""
    trainer, feed, _ = fed
    lags = [entry["curriculum/lag"] for entry in trainer.state.log_history if "curriculum/lag" in entry]
    assert lags == [PUBLIC_ROUTE_LAG] * 4
    assert feed.n_draws == 4 + PUBLIC_ROUTE_LAG


def test_public_route_resume_is_exact(fed, tiny_model):
    trainer, feed, output_dir = fed
    resumed, again = make_feed_trainer(tiny_model, output_dir, max_steps=4, ignore_data_skip=True)
    resumed.train(resume_from_checkpoint=str(output_dir / "checkpoint-2"))
    expected, got = feed.curriculum.state_dict(), again.curriculum.state_dict()
    for name, array in expected["scheduler"].items():
        np.testing.assert_array_equal(got["scheduler"][name], array, err_msg=name)
    for name in ("picker_rng", "picker_order", "picker_cursor"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert again.n_draws == feed.n_draws


def test_public_route_refuses_shuffle_and_data_skip(tiny_model, tmp_path, fed):
    trainer, _ = make_feed_trainer(tiny_model, tmp_path, max_steps=1)
    trainer.args.shuffle_dataset = True
    with pytest.raises(ValueError, match="shuffle_dataset=False"):
        trainer.train()
    _, _, output_dir = fed
    again, _ = make_feed_trainer(tiny_model, output_dir, max_steps=4)
    with pytest.raises(ValueError, match="ignore_data_skip=True"):
        again.train(resume_from_checkpoint=str(output_dir / "checkpoint-2"))


def test_feed_reward_ignores_rows_it_did_not_draw():
    dataset = Dataset.from_list([{"prompt": "a", "task": "x"}, {"prompt": "b", "task": "y"}])
    feed = CurriculumFeed(dataset, arm_key="task", scheduler="uniform")
    reward = feed.reward(by_task)
    assert reward.__name__ == "by_task"
    assert reward(prompts=["a"], completions=["c"], task=["solved"]) == [1.0]  # an eval row: no draw column
    assert feed.curriculum.n_feedback_groups == 0


@pytest.mark.parametrize("route", ["subclass", "feed"])
def test_two_processes_keep_one_curriculum(route, tiny_model, tmp_path):
    """Both routes under torchrun with 2 CPU processes: each process sees half of every
    generation batch, the rewards are gathered, and both processes end with the same
    curriculum, fed with every group (3 steps x 4 prompts)."""
    script = os.path.join(os.path.dirname(__file__), "trl_two_processes.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.dirname(__file__)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(29500 + os.getpid() % 500), script, route, tiny_model, str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    views = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert views[0]["world"] == 2
    assert views[0] == views[1]
    assert views[0]["groups"] == 3 * 4
    assert views[0]["lags"] == [1.0, 1.0, 1.0]


def shaped(prompts, completions, task, **kwargs):
    """A shaped reward: a length bonus that never scores two completions alike."""
    return [0.01 * len(c) + j * 1e-3 for j, c in enumerate(completions)]


def test_curriculum_metric_reads_one_reward_function(tiny_model, tmp_path):
    dataset = Dataset.from_list([{"prompt": f"question {j} about {t}", "task": t} for j in range(4) for t in TASKS])
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[],
                      per_device_train_batch_size=4, num_generations=4)
    with pytest.raises(ValueError, match=r"'curriculum_metric' argument of CurriculumGRPOTrainer must name one of "
                                         r"the reward functions \['by_task', 'shaped'\]\. Got 'accuracy'"):
        CurriculumGRPOTrainer(model=tiny_model, reward_funcs=[by_task, shaped], args=args, train_dataset=dataset,
                              arm_key="task", curriculum_metric="accuracy")
    trainer = CurriculumGRPOTrainer(model=tiny_model, reward_funcs=[by_task, shaped], args=args,
                                    train_dataset=dataset, arm_key="task", curriculum_metric="by_task",
                                    scheduler="cures")
    # an unsolved group whose shaped bonus alone lifts the weighted sum to 1.2 (a "success")
    rewards = torch.tensor([[0.0, 1.2]] * 4)
    trainer._feed_curriculum([{"task": "unsolved"}] * 4, rewards)
    arm = trainer.curriculum.arm_names.index("unsolved")
    alpha, beta = trainer.curriculum.scheduler.posterior()
    assert (alpha[arm], beta[arm]) == (1.0, 5.0)  # four failures of the raw metric, not four shaped successes
