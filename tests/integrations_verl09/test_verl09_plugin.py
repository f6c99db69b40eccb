"""The verl >= 0.9 plugin against the real verl 0.9.1, as deep as a CPU goes.

What runs is verl's own code: the entry-point loading of ``import verl``, its trainer
registry, its Hydra config, ``PPOTrainer.__init__`` (replay buffer built by verl),
``_init_tokenizer`` and ``_init_dataloader`` (a real ``RLHFDataset`` over parquet and a
local tiny model's tokenizer), ``prepare_step`` -> ``_submit_batch_to_rollout`` into a
real local TransferQueue (on Ray), ``ReplayBuffer.sample`` with and without DAPO's
group filter (eviction and refill through ``_add_prompts_to_generate``), and
``_save_checkpoint`` / ``_load_checkpoint``.

Where the CPU stops: the rollout servers (vLLM/SGLang) and the FSDP/Megatron worker
groups need accelerators. A stand-in rollout writes each prompt's trajectories into
TransferQueue with the keys, tags and fields verl's ``AgentLoopWorkerTQ`` writes
(rewards from a fixed success table); a stand-in worker group takes the actor's
checkpoint calls. ``_step_once``'s PPO pipeline is not run: the tests call
``feed_trained``, the method ``_step_once`` ends with, on the batch ``sample`` returned.
"""

import os
import runpy
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest
import ray
import torch
import transfer_queue as tq
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.trainer.ppo.v1 import get_trainer_cls
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from banditcurr.integrations.verl_v1 import BanditCurriculumSyncTrainer, CurriculumFeedback
from banditcurr.llm.tiny import build_model
from recipes import bash_command, python_files

ROLLOUT_N = 4
BATCH = 6
SUCCESS = {"solved": 1.0, "unsolved": 0.0, "learnable": 0.5}  # learnable: every other session succeeds
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny"))
    build_model(path, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rows = [{"data_source": source, "prompt": [{"role": "user", "content": f"{source} question {j}"}],
             "reward_model": {"style": "rule", "ground_truth": "1"}, "extra_info": {"index": 100 + 3 * j + k}}
            for j in range(12) for k, source in enumerate(SUCCESS)]
    pd.DataFrame(rows).to_parquet(folder / "train.parquet")
    pd.DataFrame(rows[:6]).to_parquet(folder / "val.parquet")
    return str(folder / "train.parquet"), str(folder / "val.parquet")


@pytest.fixture(scope="module")
def transfer_queue():
    """A local Ray with TransferQueue: one storage unit (controller + unit = 2 CPUs)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield
    tq.close()
    ray.shutdown()


def verl_config(tiny_model, data_files, *overrides):
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={tiny_model}", f"data.train_files={data_files[0]}",
            f"data.val_files={data_files[1]}", f"data.train_batch_size={BATCH}",
            f"actor_rollout_ref.rollout.n={ROLLOUT_N}", "algorithm.adv_estimator=grpo",
            "trainer.v1.trainer_mode=banditcurr_sync",
            *overrides])


class StandInRollout:
    """What ``AgentLoopManagerTQ.generate_sequences`` leaves in TransferQueue, without
    an LLM server: per prompt, ``rollout.n`` trajectories ``{uid}_{session}_0`` with
    ``rm_scores`` (the reward at the last response token) and ``reward_extra_info.acc``,
    then the prompt's status ``finished``."""

    def __init__(self, n=ROLLOUT_N, score=None):
        self.n, self.score, self.prompts = n, score or self.by_source, 0

    @staticmethod
    def by_source(source, session, reward_model):
        return SUCCESS[source] if SUCCESS[source] != 0.5 else float(session % 2)

    def generate_sequences(self, batch):
        uids, sources, steps = list(batch["uid"]), list(batch["data_source"]), batch["global_steps"]
        for uid, source, reward_model in zip(uids, sources, list(batch["reward_model"])):
            fields, tags, keys = [], [], []
            for session in range(self.n):
                reward = self.score(source, session, reward_model)
                response = torch.tensor([5, 6, 7])
                scores = torch.zeros(3)
                scores[-1] = reward
                keys.append(f"{uid}_{session}_0")
                fields.append({"prompts": torch.tensor([3, 4]), "responses": response,
                               "response_mask": torch.ones(3, dtype=torch.int64), "rm_scores": scores,
                               "extra_fields": {"reward_extra_info": {"acc": reward}}, "uid": uid,
                               "data_source": source})
                tags.append({"status": "success", "prompt_len": 2, "response_len": 3, "seq_len": 5,
                             "global_steps": int(steps)})
            tq.kv_batch_put(keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(fields), tags=tags)
            tq.kv_put(key=uid, partition_id="train", tag={"status": "finished"})
        self.prompts += len(uids)


class StandInWorkerGroup:
    """Takes the actor's checkpoint calls (the real one is a GPU worker group)."""

    def save_checkpoint(self, local_path, *args, **kwargs):
        os.makedirs(local_path, exist_ok=True)

    def load_checkpoint(self, local_path, **kwargs):
        assert os.path.isdir(local_path)


def make_trainer(tiny_model, data_files, *overrides):
    """The trainer class verl's registry returns for the configured mode, set up as
    ``PPOTrainer._setup`` does up to the (GPU) resource pools."""
    config = verl_config(tiny_model, data_files, *overrides)
    trainer = get_trainer_cls(config.trainer.v1.trainer_mode)(config=config)
    trainer._init_tokenizer()
    trainer._init_dataloader()
    trainer.agent_loop_manager = StandInRollout()
    trainer.actor_rollout_wg = StandInWorkerGroup()
    trainer.global_steps = 1
    return trainer


def train_steps(trainer, n_steps):
    """What ``fit`` does per step, minus the PPO pipeline: prompts in, a batch sampled
    from the replay buffer (evicting and refilling as configured), feedback, cleanup."""
    logged = []
    for _ in range(n_steps):
        trainer.prepare_step()
        batch, metrics = trainer.replay_buffer.sample(global_steps=trainer.global_steps, partition_id="train",
                                                      batch_size=BATCH)
        trainer.feed_trained(batch, metrics)
        tq.kv_clear(keys=batch.keys, partition_id=batch.partition_id)
        logged.append(metrics)
        trainer.global_steps += 1
    return logged


def test_import_verl_loads_the_plugin():
    """A fresh interpreter: ``import verl`` alone registers the banditcurr modes."""
    code = ("import logging, sys\nlogging.basicConfig(level=logging.DEBUG)\nimport verl\n"
            "assert 'banditcurr.integrations.verl_v1' in sys.modules\n"
            "from verl.trainer.ppo.v1 import get_trainer_cls\n"
            "print(get_trainer_cls('banditcurr_sync').__name__, get_trainer_cls('banditcurr_separate_async').__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "auto"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["BanditCurriculumSyncTrainer", "BanditCurriculumSeparateTrainer"]
    assert get_trainer_cls("banditcurr_sync") is BanditCurriculumSyncTrainer


def test_trainer_keeps_verls_mode_and_buffer(tiny_model, data_files, transfer_queue):
    trainer = make_trainer(tiny_model, data_files, "+banditcurr.scheduler=thompson")
    assert trainer.trainer_mode == "sync" and trainer.config.trainer.v1.trainer_mode == "sync"
    assert type(trainer.replay_buffer).__name__ == "CurriculumReplayBuffer"
    assert isinstance(trainer.replay_buffer, CurriculumFeedback)
    assert trainer.curriculum.arm_names == ["learnable", "solved", "unsolved"]
    assert type(trainer.curriculum.scheduler).__name__ == "Thompson"
    colocate = make_trainer(tiny_model, data_files, "trainer.v1.trainer_mode=banditcurr_colocate_async")
    assert colocate.trainer_mode == "colocate_async"
    assert type(colocate.replay_buffer).__name__ == "CurriculumReplayBufferAsync"
    assert colocate.config.data.gen_batch_size == 1  # verl's exact-refill rule for async modes still applies
    separate = make_trainer(tiny_model, data_files, "trainer.v1.trainer_mode=banditcurr_separate_async",
                            "trainer.v1.separate_async.parameter_sync_step=2",
                            f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH // 2}",  # verl checks the product
                            "actor_rollout_ref.rollout.nnodes=1", "actor_rollout_ref.rollout.n_gpus_per_node=1",
                            "actor_rollout_ref.rollout.checkpoint_engine.backend=nccl")  # (checked, not started)
    assert separate.trainer_mode == "separate_async" and separate.parameter_sync_step == 2


def test_steps_feed_back_and_move_the_curriculum(tiny_model, data_files, transfer_queue):
    trainer = make_trainer(tiny_model, data_files)
    before = trainer.curriculum.probs()
    logged = train_steps(trainer, 4)
    names = trainer.curriculum.arm_names
    probs = trainer.curriculum.probs()
    np.testing.assert_allclose(before, 1 / 3)
    assert probs[names.index("learnable")] > 0.9  # the only source with a GRPO signal
    assert trainer.curriculum.n_feedback_groups == 4 * BATCH
    assert trainer.agent_loop_manager.prompts == 4 * BATCH
    last = logged[-1]
    assert last["curriculum/p/learnable"] == pytest.approx(probs[names.index("learnable")])
    assert last["curriculum/lag_steps"] == 0.0  # sync: a step's prompts are drawn after the last step's feedback
    assert "curriculum/entropy" in last and "curriculum/effective_arms" in last
    assert last["curriculum/pass_rate/learnable"] == 0.5
    assert not trainer._inflight


def test_dapo_evictions_are_fed_back(tiny_model, data_files, transfer_queue):
    """DAPO's filter evicts the all-solved / all-failed groups inside ``sample``; each is
    fed back before verl deletes it, and the refills are drawn after that feedback."""
    trainer = make_trainer(tiny_model, data_files, "algorithm.filter_groups.enable=true",
                           "algorithm.filter_groups.metric=acc", "+banditcurr.scheduler=uniform")
    logged = train_steps(trainer, 1)
    fed = trainer.curriculum.n_feedback_groups
    generated = trainer.agent_loop_manager.prompts
    assert generated > BATCH  # refills happened
    assert fed == generated  # every finished group was fed back: trained, evicted and surplus
    assert logged[0]["training/filter_groups/evicted_samples"] >= 1
    assert 0 < logged[0]["curriculum/zero_variance_fraction"] < 1


def test_async_mode_draws_ahead(tiny_model, data_files, transfer_queue):
    """colocate_async: verl's warm-up batch and its async replay buffer; each step's
    prompts are drawn one step before they are trained on, and the lag says so."""
    trainer = make_trainer(tiny_model, data_files, "trainer.v1.trainer_mode=banditcurr_colocate_async")
    trainer._add_async_warmup_batches(trainer.config.trainer.v1.colocate_async.num_warmup_batches)  # on_train_begin
    logged = train_steps(trainer, 3)
    assert [m["curriculum/lag_steps"] for m in logged] == [0.0, 1.0, 1.0]
    assert trainer.curriculum.n_feedback_groups == 3 * BATCH
    assert len(trainer._inflight) == BATCH  # drawn at step 3 for step 4: still in flight, kept for a checkpoint
    for uid in trainer._inflight:
        tq.kv_clear(keys=[uid] + [f"{uid}_{s}_0" for s in range(ROLLOUT_N)], partition_id="train")


def test_async_mode_with_dapo(tiny_model, data_files, transfer_queue):
    """colocate_async with DAPO: verl's async buffer evicts the zero-variance groups and
    refills exactly as many prompts; every evicted group is fed back first."""
    trainer = make_trainer(tiny_model, data_files, "trainer.v1.trainer_mode=banditcurr_colocate_async",
                           "algorithm.filter_groups.enable=true", "algorithm.filter_groups.metric=acc",
                           "+banditcurr.scheduler=uniform")
    trainer._add_async_warmup_batches(1)
    logged = train_steps(trainer, 1)[0]
    generated = trainer.agent_loop_manager.prompts
    assert logged["training/filter_groups/evicted_samples"] >= 1 and generated > 2 * BATCH  # refills
    assert trainer.curriculum.n_feedback_groups == BATCH + logged["training/filter_groups/evicted_samples"]
    assert len(trainer._inflight) == generated - trainer.curriculum.n_feedback_groups  # the rest: still sampleable
    left = list(trainer._inflight)
    tq.kv_clear(keys=left + [f"{u}_{s}_0" for u in left for s in range(ROLLOUT_N)], partition_id="train")


def test_async_checkpoint_resume(tiny_model, data_files, transfer_queue, tmp_path):
    """colocate_async: verl checkpoints TransferQueue (the groups in flight) beside the
    plugin's npz. After a restart (TransferQueue emptied, verl's _load_checkpoint) the
    groups drawn before the checkpoint still reach their arms, and the curriculum ends
    where the uninterrupted run's does."""
    settings = ["trainer.v1.trainer_mode=banditcurr_colocate_async", f"trainer.default_local_dir={tmp_path}",
                "trainer.resume_mode=auto"]
    first = make_trainer(tiny_model, data_files, *settings)
    first._add_async_warmup_batches(1)
    train_steps(first, 2)
    first.global_steps = 2  # fit saves step 2 before it advances
    first._save_checkpoint()
    assert (tmp_path / "global_step_2" / "transfer_queue").is_dir() and len(first._inflight) == BATCH
    first.global_steps = 3
    train_steps(first, 1)  # the uninterrupted run: step 3 trains the groups drawn at step 2
    expected = first.curriculum.state_dict()

    def empty_transfer_queue():
        listed = tq.kv_list("train") or {}
        if listed.get("train"):
            tq.kv_clear(keys=list(listed["train"]), partition_id="train")

    empty_transfer_queue()  # the restart
    resumed = make_trainer(tiny_model, data_files, *settings)
    resumed._load_checkpoint()
    assert resumed.global_steps == 2 and len(resumed._inflight) == BATCH
    resumed.global_steps = 3  # as fit does
    resumed._reissue_inflight_prompts()  # fit's next call: none here, the stand-in finished every group
    logged = train_steps(resumed, 1)
    assert logged[0]["curriculum/lag_steps"] == 1.0  # the step-2 draws, fed back at step 3 to their arms
    got = resumed.curriculum.state_dict()
    for name, array in expected["scheduler"].items():
        np.testing.assert_array_equal(got["scheduler"][name], array, err_msg=name)
    np.testing.assert_array_equal(got["picker_rng"], expected["picker_rng"])
    empty_transfer_queue()


def test_evicted_groups_without_rewards_are_forgotten_unscored(tiny_model, data_files, transfer_queue):
    """A failed group evicted without trajectories, and with a colocated reward model
    (verl scores only the sampled batch) any evicted group, has no reward to read: it
    leaves the in-flight prompts unscored, and is counted."""
    trainer = make_trainer(tiny_model, data_files)
    trainer.prepare_step()
    failed, evicted = list(trainer._inflight)[:2]
    assert trainer.curriculum_feedback([], "train", evicted={failed}) == 0
    trainer.reward_loop_manager = types.SimpleNamespace(reward_loop_worker_handles=None)  # what _setup makes then
    keys = [f"{evicted}_{s}_0" for s in range(ROLLOUT_N)]
    assert trainer.curriculum_feedback(keys, "train", evicted={evicted}) == 0
    assert failed not in trainer._inflight and evicted not in trainer._inflight
    assert trainer.curriculum.n_feedback_groups == 0
    assert trainer.curriculum_metrics()["curriculum/unscored_groups"] == 2.0
    left = [failed, evicted, *trainer._inflight]
    tq.kv_clear(keys=left + [f"{u}_{s}_0" for u in left for s in range(ROLLOUT_N)], partition_id="train")


def test_reward_key_reads_reward_extra_info(tiny_model, data_files, transfer_queue):
    trainer = make_trainer(tiny_model, data_files, "+banditcurr.reward_key=acc")
    train_steps(trainer, 1)
    assert trainer.curriculum.n_feedback_groups == BATCH
    missing = make_trainer(tiny_model, data_files, "+banditcurr.reward_key=format")
    with pytest.raises(ValueError, match="no reward_extra_info\\['format'\\]"):
        train_steps(missing, 1)


def test_checkpoint_round_trip(tiny_model, data_files, transfer_queue, tmp_path):
    """verl's own ``_save_checkpoint`` and ``_load_checkpoint``: the curriculum comes back
    and the resumed run draws exactly what the first one draws next."""
    local = f"trainer.default_local_dir={tmp_path}"
    first = make_trainer(tiny_model, data_files, local, "trainer.resume_mode=auto")
    train_steps(first, 2)
    first.global_steps -= 1  # fit saves before it advances the step
    first._save_checkpoint()
    assert (tmp_path / "global_step_2" / "banditcurr" / "curriculum.npz").is_file()
    assert (tmp_path / "latest_checkpointed_iteration.txt").read_text() == "2"
    resumed = make_trainer(tiny_model, data_files, local, "trainer.resume_mode=auto")
    resumed._load_checkpoint()
    assert resumed.global_steps == 2
    np.testing.assert_array_equal(resumed.curriculum.probs(), first.curriculum.probs())
    for trainer in (first, resumed):
        trainer.global_steps = 3
    np.testing.assert_array_equal(resumed.curriculum.draw(BATCH), first.curriculum.draw(BATCH))
    other = make_trainer(tiny_model, data_files, local, "trainer.resume_mode=auto", "+banditcurr.scheduler=sec")
    with pytest.raises(ValueError, match="scheduler: saved 'dump-ucb', now 'sec'"):
        other._load_checkpoint()
    (tmp_path / "global_step_2" / "banditcurr" / "curriculum.npz").unlink()
    with pytest.raises(FileNotFoundError, match="has no banditcurr/curriculum.npz"):
        make_trainer(tiny_model, data_files, local, "trainer.resume_mode=auto")._load_checkpoint()


def test_prompt_level_arms(tiny_model, data_files, transfer_queue):
    trainer = make_trainer(tiny_model, data_files, "+banditcurr.level=prompt", "+banditcurr.log_arms=4")
    assert trainer.curriculum.n_arms == 36 and trainer.curriculum.arm_names[0] == 100
    metrics = train_steps(trainer, 1)[0]
    assert "curriculum/p/learnable" in metrics  # per-source mass stands in for 36 per-prompt probabilities
    assert metrics["curriculum/never_sampled_arms"] >= 36 - BATCH


def test_bad_settings_are_refused(tiny_model, data_files):
    with pytest.raises(ValueError, match="Unknown banditcurr setting\\(s\\) \\['schedular'\\]"):
        make_trainer(tiny_model, data_files, "+banditcurr.schedular=sec")
    with pytest.raises(ValueError, match="banditcurr.level setting must be one of"):
        make_trainer(tiny_model, data_files, "+banditcurr.level=task")


def test_documented_recipe(tiny_model, transfer_queue, tmp_path, monkeypatch):
    """docs/integrations/verl.md, verl 0.9 recipe: its data script and reward file run,
    its launch command's overrides (model path swapped for the local tiny model) compose
    against verl's config, verl's registry gives the banditcurr trainer, and one step
    scored by the recipe's own reward function moves the curriculum."""
    monkeypatch.chdir(tmp_path)
    for name, source in python_files("integrations/verl.md").items():
        (tmp_path / name).write_text(source)
    runpy.run_path("make_data.py")
    compute_score = runpy.run_path("reward.py")["compute_score"]
    overrides = bash_command("integrations/verl.md", "verl.trainer.main_ppo",
                             containing="trainer.v1.trainer_mode=banditcurr_sync")
    overrides = [f"actor_rollout_ref.model.path={tiny_model}" if o.startswith("actor_rollout_ref.model.path=") else o
                 for o in overrides]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(config_name="ppo_trainer", overrides=overrides)
    trainer = get_trainer_cls(config.trainer.v1.trainer_mode)(config=config)
    assert isinstance(trainer, BanditCurriculumSyncTrainer)
    trainer._init_tokenizer()
    trainer._init_dataloader()
    assert trainer.curriculum.arm_names == ["add-1digit", "add-2digit", "add-3digit", "add-4digit"]

    def answer(source, session, reward_model):  # right on 1-digit sums always, on the others half the time
        truth = reward_model["ground_truth"]
        right = source == "add-1digit" or session % 2 == 0
        return compute_score(source, f"The answer is {truth if right else int(truth) + 1}", truth)

    trainer.agent_loop_manager = StandInRollout(n=config.actor_rollout_ref.rollout.n, score=answer)
    trainer.global_steps = 1
    before = trainer.curriculum.probs()
    trainer.prepare_step()
    batch, metrics = trainer.replay_buffer.sample(global_steps=1, partition_id="train",
                                                  batch_size=config.data.train_batch_size)
    trainer.feed_trained(batch, metrics)
    tq.kv_clear(keys=batch.keys, partition_id=batch.partition_id)
    one_digit = trainer.curriculum.arm_names.index("add-1digit")
    assert trainer.curriculum.n_feedback_groups == config.data.train_batch_size
    assert trainer.curriculum.probs()[one_digit] < before[one_digit]  # always solved: no GRPO signal
    assert metrics["curriculum/pass_rate/add-1digit"] == 1.0
