"""The verl adapter against the real verl: its Hydra config, its sampler factory
(``create_rl_sampler``), its dataset and collate function, torchdata's
``StatefulDataLoader`` as verl's trainer builds it, real ``DataProto`` batches repeated
``rollout.n`` times and reordered as ``_balance_batch`` does, verl's own GRPO advantage,
and the ``data.pt`` checkpoint round trip.
"""

import itertools
import runpy
import uuid

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_module
from recipes import bash_command, python_files
from torchdata.stateful_dataloader import StatefulDataLoader
from verl import DataProto
from verl.trainer.main_ppo import create_rl_dataset, create_rl_sampler
from verl.trainer.ppo.core_algos import AdvantageEstimator
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.utils.dataset.rl_dataset import collate_fn

from banditcurr.integrations.verl import BanditCurriculumSampler

SAMPLER_LINES = [
    "data.sampler.class_path=pkg://banditcurr.integrations.verl",
    "data.sampler.class_name=BanditCurriculumSampler",
    "data.dataloader_num_workers=0",
]
# success probability of a rollout, by data source: one arm is always solved, one never,
# one half the time (the only one with a GRPO gradient)
SUCCESS = {"solved": 1.0, "unsolved": 0.0, "learnable": 0.5}
ROLLOUT_N = 4


def verl_config(*overrides):
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    rows = [
        {"data_source": source, "prompt": [{"role": "user", "content": f"{source} question {j}"}],
         "reward_model": {"style": "rule", "ground_truth": "1"}, "extra_info": {"index": 100 + 3 * j + k}}
        for j in range(12) for k, source in enumerate(SUCCESS)
    ]
    path = tmp_path_factory.mktemp("data") / "train.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def build(train_file, *extra):
    """Dataset, sampler and loader exactly as verl's trainer makes them."""
    config = verl_config(*SAMPLER_LINES, f"data.train_files={train_file}", "data.train_batch_size=8", *extra)
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer=None, processor=None)
    sampler = create_rl_sampler(config.data, dataset)
    loader = StatefulDataLoader(
        dataset=dataset, batch_size=config.data.train_batch_size, num_workers=config.data.dataloader_num_workers,
        drop_last=True, collate_fn=collate_fn, sampler=sampler,
    )
    return sampler, loader


def endless(loader):
    while True:
        yield from loader


def scored_step(batch_dict, step, n=ROLLOUT_N):
    """What verl's fit loop does between the loader and ``sampler.update``: uid per
    prompt, repeat n times interleaved, rollout rewards at each response's last token,
    rows reordered (balance_batch), GRPO advantages."""
    generator = torch.Generator().manual_seed(step)
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
    batch = batch.repeat(repeat_times=n, interleave=True)
    rows, length = len(batch), 5
    lengths = torch.randint(1, length + 1, (rows,), generator=generator)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).float()
    success = torch.tensor([SUCCESS[s] for s in batch.non_tensor_batch["data_source"]])
    reward = (torch.rand(rows, generator=generator) < success).float()
    scores = torch.zeros(rows, length)
    scores[torch.arange(rows), lengths - 1] = reward
    batch.batch["response_mask"] = mask
    batch.batch["token_level_scores"] = scores
    batch.batch["token_level_rewards"] = scores.clone()
    batch.reorder(torch.randperm(rows, generator=generator))
    return compute_advantage(batch, AdvantageEstimator.GRPO, num_repeat=n)


def test_factory_builds_the_sampler_from_the_documented_lines(train_file):
    sampler, loader = build(train_file, "+data.sampler.scheduler=dump-ucb", "+data.sampler.seed=3")
    assert isinstance(sampler, BanditCurriculumSampler)
    assert sampler.arm_names == ["learnable", "solved", "unsolved"]
    assert sampler.settings["scheduler"] == "dump-ucb" and sampler.settings["seed"] == 3
    assert len(sampler) == 32 and len(loader) == 4  # 36 rows, whole batches of 8


def test_factory_rejects_workers_as_verl_requires(train_file):
    with pytest.raises(AssertionError, match="num_workers must be 0"):
        build(train_file, "data.dataloader_num_workers=2")


def test_training_steps_shift_probability_to_the_learnable_source(train_file):
    sampler, loader = build(train_file)
    learnable = sampler.arm_names.index("learnable")
    start = sampler.probs()
    np.testing.assert_allclose(start, 1 / 3)
    history, drawn = [], []
    for step, batch_dict in zip(range(12), endless(loader)):
        drawn.extend(batch_dict["data_source"])
        assert len(sampler.curriculum.pending) == 1  # drawn for this step only: no read-ahead
        sampler.update(scored_step(batch_dict, step))
        assert len(sampler.curriculum.pending) == 0
        history.append(sampler.probs())
    history = np.array(history)
    assert sampler.curriculum.n_feedback_groups == 12 * 8
    assert history[-4:, learnable].mean() > 0.6
    assert np.all(history[-4:].mean(axis=0).argmax() == learnable)
    assert drawn[-32:].count("learnable") > drawn[:32].count("learnable")


def test_groups_follow_uid_not_row_order(train_file):
    sampler, loader = build(train_file)
    batch_dict = next(iter(loader))
    batch = scored_step(batch_dict, step=0)
    keys, rewards, offsets = sampler.groups(batch)
    assert len(keys) == 8 and np.all(np.diff(offsets) == ROLLOUT_N)
    uids = batch.non_tensor_batch["uid"]
    scores = batch.batch["token_level_scores"].sum(-1).numpy()
    order = list(dict.fromkeys(uids))  # groups in order of first appearance
    for g, uid in enumerate(order):
        members = np.flatnonzero(uids == uid)
        assert keys[g] == batch.non_tensor_batch["data_source"][members[0]]
        np.testing.assert_array_equal(rewards[offsets[g]:offsets[g + 1]], scores[members])


def test_prompt_level_uses_extra_info_index(train_file):
    sampler, loader = build(train_file, "+data.sampler.level=prompt", "+data.sampler.scheduler=uniform")
    assert sampler.arm_names == list(range(100, 136))
    batch_dict = next(iter(loader))
    ids = [info["index"] for info in batch_dict["extra_info"]]
    assert len(set(ids)) == 8  # prompt level: distinct prompts in a batch
    keys, _, _ = sampler.groups(scored_step(batch_dict, step=0))
    assert sorted(keys) == sorted(ids)
    sampler.update(scored_step(batch_dict, step=0))


def test_prompt_level_refuses_repeated_ids_and_takes_composite_keys(tmp_path):
    rows = [{"data_source": source, "prompt": [{"role": "user", "content": "q"}], "extra_info": {"index": j}}
            for source in ("learnable", "solved") for j in range(8)]  # each source numbers its rows from 0
    path = tmp_path / "mixed.parquet"
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(ValueError, match=r"rows 0 and 8 share 0 .*arm_key=\[data_source,extra_info.index\]"):
        build(str(path), "+data.sampler.level=prompt")
    sampler, loader = build(str(path), "+data.sampler.level=prompt", "+data.sampler.scheduler=uniform",
                            "+data.sampler.arm_key=[data_source,extra_info.index]")
    assert sampler.arm_names[:2] == [("learnable", 0), ("learnable", 1)] and len(sampler.arm_names) == 16
    batch_dict = next(iter(loader))
    keys, _, _ = sampler.groups(scored_step(batch_dict, step=0))
    assert sorted(keys) == sorted((s, info["index"]) for s, info in zip(batch_dict["data_source"], batch_dict["extra_info"]))


def test_reward_keys(train_file):
    sampler, loader = build(train_file)
    batch = scored_step(next(iter(loader)), step=1)
    batch.non_tensor_batch["acc"] = batch.batch["token_level_scores"].sum(-1).numpy().astype(object)
    sums = sampler.groups(batch)[1]
    sampler.reward_key = "acc"
    np.testing.assert_array_equal(sampler.groups(batch)[1], sums)
    sampler.reward_key = "advantages"
    advantages = sampler.groups(batch)[1]
    first = batch.batch["advantages"][:, 0].double().numpy()  # GRPO: one advantage per response
    uids = batch.non_tensor_batch["uid"]
    in_group_order = np.concatenate([np.flatnonzero(uids == uid) for uid in dict.fromkeys(uids)])
    np.testing.assert_allclose(advantages, first[in_group_order], rtol=1e-6)
    assert np.unique(advantages).size > 1


def test_bad_batches_are_refused_and_change_nothing(train_file):
    sampler, loader = build(train_file)
    batch = scored_step(next(iter(loader)), step=2)
    before = sampler.state_dict()
    no_uid = batch.select(non_tensor_batch_keys=["data_source", "extra_info"], deepcopy=True)
    with pytest.raises(ValueError, match="uid"):
        sampler.update(no_uid)
    mixed = batch.select(deepcopy=True)
    sources = mixed.non_tensor_batch["data_source"].copy()
    uid = mixed.non_tensor_batch["uid"][0]
    other = next(s for s in SUCCESS if s != sources[0])
    sources[np.flatnonzero(mixed.non_tensor_batch["uid"] == uid)[-1]] = other
    mixed.non_tensor_batch["data_source"] = sources
    with pytest.raises(ValueError, match="must come from one prompt"):
        sampler.update(mixed)
    unknown = batch.select(deepcopy=True)
    unknown.non_tensor_batch["data_source"] = np.array(["elsewhere"] * len(unknown), dtype=object)
    with pytest.raises(ValueError, match="'elsewhere', which no training row carries"):
        sampler.update(unknown)
    sampler.reward_key = "no_such_key"
    with pytest.raises(ValueError, match="no 'no_such_key'"):
        sampler.update(batch)
    after = sampler.state_dict()
    np.testing.assert_array_equal(before["curriculum"]["scheduler"]["counts"], after["curriculum"]["scheduler"]["counts"])
    np.testing.assert_array_equal(before["curriculum"]["scheduler"]["rng"], after["curriculum"]["scheduler"]["rng"])


def test_unknown_setting_is_refused(train_file):
    with pytest.raises(ValueError, match=r"Unknown data.sampler setting\(s\) \['schedular'\]"):
        build(train_file, "+data.sampler.schedular=dump-ucb")


def run_steps(batches, sampler, steps, first_step):
    """Steps of the loop over an iterator of loader batches; returns the prompt ids of
    every batch and the final probs."""
    ids = []
    for step, batch_dict in zip(range(first_step, first_step + steps), batches):
        ids.append([info["index"] for info in batch_dict["extra_info"]])
        sampler.update(scored_step(batch_dict, step))
    return ids, sampler.probs()


def test_checkpoint_resume_in_verls_order(train_file, tmp_path):
    """verl's fit loop writes the step-t checkpoint (``data.pt``: the loader's state,
    this sampler's included) before it calls ``sampler.update`` for step t. The resumed
    sampler is the saved one exactly, position in the epoch included; it has missed only
    step t's feedback, and given that batch it continues exactly as the uninterrupted
    run, across the epoch boundary (4 batches per epoch)."""
    sampler, loader = build(train_file)
    batches = endless(loader)
    for step, batch_dict in zip(range(3), batches):
        scored = scored_step(batch_dict, step)
        if step == 2:
            torch.save(loader.state_dict(), tmp_path / "data.pt")  # _save_checkpoint, before update
            saved = sampler.state_dict()
        sampler.update(scored)
    expected_ids, expected_probs = run_steps(batches, sampler, 5, first_step=3)

    resumed_sampler, resumed_loader = build(train_file)
    resumed_loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))  # _load_checkpoint
    rest_of_epoch = iter(resumed_loader)  # the loader hands the state to the sampler here
    restored = resumed_sampler.state_dict()
    assert restored["epoch_issued"] == saved["epoch_issued"] == 3 * 8
    for name, array in saved["curriculum"]["scheduler"].items():
        np.testing.assert_array_equal(restored["curriculum"]["scheduler"][name], array, err_msg=name)
    for name in ("picker_rng", "picker_order", "picker_cursor"):
        np.testing.assert_array_equal(restored["curriculum"][name], saved["curriculum"][name], err_msg=name)
    resumed_sampler.update(scored)  # step 2's rewards, which verl never gives a resumed run
    ids, probs = run_steps(itertools.chain(rest_of_epoch, endless(resumed_loader)), resumed_sampler, 5, first_step=3)
    assert ids == expected_ids
    np.testing.assert_array_equal(probs, expected_probs)


def test_resume_without_the_checkpoint_steps_feedback_still_runs(train_file, tmp_path):
    """What verl actually does after a resume: step t's rewards are gone; the curriculum
    continues from its saved state and the unscored batch t retires with the next one."""
    sampler, loader = build(train_file)
    batch_dict = next(iter(loader))
    torch.save(loader.state_dict(), tmp_path / "data.pt")
    resumed_sampler, resumed_loader = build(train_file)
    resumed_loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    ids, _ = run_steps(endless(resumed_loader), resumed_sampler, 4, first_step=1)
    assert len(ids) == 4 and len(resumed_sampler.curriculum.pending) == 0
    assert resumed_sampler.curriculum.n_feedback_groups == 4 * 8
    assert [info["index"] for info in batch_dict["extra_info"]] != ids[0]


def test_documented_recipe(tmp_path, monkeypatch):
    """docs/integrations/verl.md: its data script and reward file run, its launch
    command's overrides compose against verl's real config, and the sampler that verl's
    factory builds from them runs a scored step with the recipe's own reward function."""
    monkeypatch.chdir(tmp_path)
    for name, source in python_files("integrations/verl.md").items():
        (tmp_path / name).write_text(source)
    runpy.run_path("make_data.py")
    overrides = bash_command("integrations/verl.md", "verl.trainer.main_ppo")
    assert set(SAMPLER_LINES) <= set(overrides)
    config = verl_config(*overrides)
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer=None, processor=None)
    sampler = create_rl_sampler(config.data, dataset)
    assert sampler.arm_names == ["add-1digit", "add-2digit", "add-3digit", "add-4digit"]
    compute_score = get_custom_reward_fn(config)
    loader = StatefulDataLoader(dataset, batch_size=config.data.train_batch_size, num_workers=0,
                                drop_last=True, collate_fn=collate_fn, sampler=sampler)
    n = config.actor_rollout_ref.rollout.n
    batch_dict = next(iter(loader))
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
    batch = batch.repeat(repeat_times=n, interleave=True)
    # responses: the right sum for 1-digit problems every time, for the others half the time
    scores = torch.zeros(len(batch), 3)
    for row in range(len(batch)):
        truth = batch.non_tensor_batch["reward_model"][row]["ground_truth"]
        source = batch.non_tensor_batch["data_source"][row]
        right = source == "add-1digit" or row % 2 == 0
        response = f"The answer is {truth if right else int(truth) + 1}"
        scores[row, -1] = compute_score(source, response, truth, batch.non_tensor_batch["extra_info"][row])
    batch.batch["response_mask"] = torch.ones(len(batch), 3)
    batch.batch["token_level_scores"] = scores
    before = sampler.probs()
    sampler.update(batch)
    after = sampler.probs()
    one_digit = sampler.arm_names.index("add-1digit")
    assert after[one_digit] < before[one_digit]  # always solved: no GRPO signal, less weight
