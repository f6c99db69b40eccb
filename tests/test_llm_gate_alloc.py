"""The GRPO loop with the DAPO dynamic-sampling gate and with CurES rollout allocation.

Tiny local model, transformers ``generate`` engine (no vLLM start-up). The test task
family makes saturation certain: level 1 always earns 1, level 3 always 0 (groups with
all-equal rewards, which the gate must drop), level 2 earns a graded reward (mixed).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import banditcurr as bc  # noqa: E402
from banditcurr.llm import tasks  # noqa: E402
from banditcurr.llm.config import TrainConfig  # noqa: E402
from banditcurr.llm.grpo import train  # noqa: E402
from banditcurr.llm.tiny import build_model  # noqa: E402

pytestmark = pytest.mark.slow


class Levels(tasks.Distribution):
    """Level 1: reward 1 always; level 3: reward 0 always; level 2: share of characters
    with an even code point (graded, so its groups almost always have mixed rewards)."""

    def __init__(self, level):
        self.level, self.name = level, f"levels-{level}"

    def generate(self, n, seed):
        rng = np.random.default_rng(seed)
        return [tasks.Problem(f"{self.level}:{''.join(rng.choice(list('abcdefgh'), 4))}=", "0") for _ in range(n)]

    def reward(self, completion, problem):
        if self.level != 2:
            return 1.0 if self.level == 1 else 0.0
        return sum(ord(c) % 2 == 0 for c in completion) / max(len(completion), 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tasks.register("levels-test", Levels)
    yield build_model(str(tmp_path_factory.mktemp("tiny")), num_layers=1)
    tasks.FAMILIES.pop("levels-test", None)


def _config(model_dir, out_dir, **overrides):
    values = dict(model=model_dir, tasks=["levels-test:1-3"], n_train=4, n_test=2, steps=3, batch_prompts=4,
                  group_size=4, micro_batch=16, max_new_tokens=6, lr=1e-2, eval_every=0, checkpoint_every=0,
                  out_dir=str(out_dir), progress=False, engine="hf", scheduler="dump-ucb", threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def _record_updates(monkeypatch):
    """Every scheduler made by the loop logs its update calls: (scheduler, arms, rewards, offsets)."""
    calls, make = [], bc.make

    def recording_make(*args, **kwargs):
        scheduler = make(*args, **kwargs)
        update = scheduler.update

        def recorded(arms, rewards, offsets=None):
            calls.append((scheduler, np.array(arms), np.array(rewards), None if offsets is None else np.array(offsets)))
            return update(arms, rewards, offsets)

        scheduler.update = recorded
        return scheduler

    monkeypatch.setattr(bc, "make", recording_make)
    return calls


def test_gate_drops_zero_variance_groups_and_trains_a_full_batch(model_dir, tmp_path, monkeypatch):
    calls = _record_updates(monkeypatch)
    config = _config(model_dir, tmp_path, dynamic_sampling=True, max_refill_rounds=20, gate_metric="reward")
    result = train(config)
    steps = [r for r in result.history if r["step"] > 0]
    assert len(steps) == 3
    B, G = config.batch_prompts, config.group_size
    for r in steps:
        rolled_groups = r["perf/rollouts"] // G
        assert r["train/batch_full"] and r["train/batch_groups"] == B and r["train/batch_rollouts"] == B * G
        assert r["perf/rollouts"] == B * G + r["perf/extra_rollouts"]  # round 1 draws B; the rest is refill
        assert r["train/dropped_groups"] == round(r["curriculum/zero_var_frac"] * rolled_groups)
        assert r["train/dropped_groups"] >= rolled_groups - B  # refills keep at most what is missing
        assert r["train/active_frac"] > 0 and r["train/grad_norm"] > 0
    # two of the three distributions always give all-equal rewards: the gate had work to do
    assert sum(r["train/dropped_groups"] for r in steps) > 0
    assert sum(r["perf/extra_rollouts"] for r in steps) > 0
    # the scheduler saw every group rolled out, dropped ones included (dump-ucb counts rollouts)
    ours = [c for c in calls if c[0] is result.scheduler]
    assert sum(c[2].size for c in ours) == sum(r["perf/rollouts"] for r in steps)
    assert result.scheduler.state_dict()["counts"].sum() == sum(r["perf/rollouts"] for r in steps)
    assert any(np.ptp(c[2].reshape(-1, G), axis=1).min() == 0 for c in ours)  # a zero-variance group went back


@pytest.mark.parametrize("scheduler", ["cures", "thompson"])
def test_allocation_gives_variable_group_sizes_summing_to_the_budget(model_dir, tmp_path, monkeypatch, scheduler):
    calls = _record_updates(monkeypatch)
    budget = 24  # B = 4 prompts, 6 rollouts each on average
    config = _config(model_dir, tmp_path, scheduler=scheduler, arm_level="prompt", rollout_budget=budget,
                     micro_batch=8, steps=4, n_train=2)
    result = train(config)
    steps = [r for r in result.history if r["step"] > 0]
    ours = [c for c in calls if c[0] is result.scheduler]
    assert len(ours) == config.steps
    sizes = [np.diff(offsets) for _, _, _, offsets in ours]
    for r, (_, arms, rewards, offsets), size in zip(steps, ours, sizes):
        assert size.sum() == budget == rewards.size == r["perf/rollouts"] == r["train/batch_rollouts"]
        assert size.min() >= 2 and arms.size == size.size == r["train/batch_groups"]
        assert r["curriculum/skipped_prompts"] == config.batch_prompts - size.size
        assert (r["curriculum/group_size_min"], r["curriculum/group_size_max"]) == (size.min(), size.max())
    assert (sizes[0] == budget // config.batch_prompts).all()  # flat priors: equal shares
    assert any(s.min() != s.max() for s in sizes[1:])  # then the posteriors differ, and so do the groups
    # levels 1 and 3 always give all-equal rewards: once their posteriors say so, they are skipped
    assert any(r["curriculum/skipped_prompts"] > 0 for r in steps)


def test_knapsack_allocation_spends_the_budget_from_the_posterior_means(model_dir, tmp_path, monkeypatch):
    calls = _record_updates(monkeypatch)
    budget = 24
    config = _config(model_dir, tmp_path, scheduler="thompson", arm_level="prompt", rollout_budget=budget,
                     allocation="knapsack", micro_batch=8, steps=3, n_train=2)
    result = train(config)
    sizes = [np.diff(offsets) for scheduler, _, _, offsets in calls if scheduler is result.scheduler]
    assert len(sizes) == config.steps and all(s.sum() == budget and s.min() >= 2 for s in sizes)
    assert (sizes[0] == budget // config.batch_prompts).all()  # equal means, concave values: equal shares


@pytest.mark.parametrize("overrides, match", [
    ({"rollout_budget": 6}, r"rollout_budget = 6 is below 2 \* batch_prompts = 8"),
    ({"rollout_budget": 32}, r"'dump-ucb' keeps none\. Use one of: .*cures"),
    ({"rollout_budget": 20, "scheduler": "cures", "micro_batch": 8}, r"rollout_budget = 20 rollouts must divide"),
    ({"rollout_budget": 24, "scheduler": "cures", "micro_batch": 8, "dynamic_sampling": True},
     r"rollout_budget and dynamic_sampling cannot be combined"),
    ({"dynamic_sampling": True, "minibatches": 2, "micro_batch": 8}, r"dynamic_sampling needs minibatches = 1"),
    ({"max_refill_rounds": -1}, r"'max_refill_rounds' parameter of TrainConfig must be an int >= 0. Got -1"),
    ({"rollout_budget": -8}, r"'rollout_budget' parameter of TrainConfig must be an int >= 0. Got -8"),
    ({"gate": "band:lo=0.9,hi=0.1"}, r"'gate' spec 'band:lo=0.9,hi=0.1' of TrainConfig is invalid: .*lo <= hi"),
    ({"gate_metric": "accuracy"}, r"'gate_metric' parameter of TrainConfig must be one of 'reward', 'success'\. Got 'accuracy'"),
    ({"screening": 4}, r"screening \(SPEED-RL's N_init\) must be 0 \(off\) or in \[2, group_size - 1\] = \[2, 3\]"),
    ({"screening": -1}, r"'screening' parameter of TrainConfig must be an int >= 0"),
    ({"screening": 2, "minibatches": 2, "micro_batch": 8}, r"screening needs minibatches = 1"),
    ({"rollout_budget": 24, "scheduler": "cures", "micro_batch": 8, "screening": 2},
     r"rollout_budget and screening cannot be combined"),
])
def test_bad_gate_and_allocation_configs_fail_before_any_work(tmp_path, overrides, match):
    fake = tmp_path / "model"  # validation reads no weights
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=match):
        _config(str(fake), tmp_path / "out", tasks=["addition:1-3"], **overrides).validate()
    assert not (tmp_path / "out").exists()


def test_a_gate_of_the_wrong_type_is_a_type_error(tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    with pytest.raises(TypeError, match=r"'gate' argument of TrainConfig must be a Gate or a spec string"):
        _config(str(fake), tmp_path / "out", tasks=["addition:1-3"], gate=3).validate()


def _without_perf(history):
    return [{k: v for k, v in r.items() if not k.startswith("perf/time") and "per_s" not in k
             and k != "perf/scheduler_share"} for r in history]


def test_gated_run_resumes_exactly(model_dir, tmp_path):
    """The gate's refill rounds draw from the scheduler and the data stream: a stopped and
    resumed gated run still equals an uninterrupted one."""
    whole = train(_config(model_dir, tmp_path / "whole", steps=3, dynamic_sampling=True))
    train(_config(model_dir, tmp_path / "split", steps=2, dynamic_sampling=True))
    resumed = train(_config(model_dir, tmp_path / "split", steps=3, dynamic_sampling=True, resume=True))
    assert _without_perf(resumed.history) == _without_perf(whole.history)
    np.testing.assert_array_equal(whole.scheduler.state_dict()["counts"], resumed.scheduler.state_dict()["counts"])


def _record_batches(monkeypatch):
    """Every fill_batch result of the loop."""
    batches, fill = [], bc.fill_batch

    def recording_fill(*args, **kwargs):
        batches.append(fill(*args, **kwargs))
        return batches[-1]

    monkeypatch.setattr(bc, "fill_batch", recording_fill)
    return batches


def test_band_gate_reads_the_raw_success_not_the_graded_reward(model_dir, tmp_path, monkeypatch):
    batches = _record_batches(monkeypatch)
    config = _config(model_dir, tmp_path, dynamic_sampling=True, gate="band:lo=0.25,hi=0.75",
                     gate_metric="success", success_threshold=0.5, max_refill_rounds=3)
    result = train(config)
    assert len(batches) == config.steps
    for batch in batches:
        assert set(np.unique(batch.metric)) <= {0.0, 1.0}  # the verifier's success, not the graded reward
        assert np.all(bc.keep_groups(batch.metric, batch.offsets, "band"))  # every trained group in the band
        np.testing.assert_array_equal(batch.metric, (batch.rewards >= 0.5).astype(float))
    steps = [r for r in result.history if r["step"] > 0]
    assert [r["train/batch_groups"] for r in steps] == [b.arms.size for b in batches]


def test_screening_counts_every_rollout_and_trains_screened_in_prompts_only(model_dir, tmp_path, monkeypatch):
    calls = _record_updates(monkeypatch)
    batches = _record_batches(monkeypatch)
    config = _config(model_dir, tmp_path, screening=2, max_refill_rounds=3, gate_metric="reward")  # graded level 2
    result = train(config)
    steps = [r for r in result.history if r["step"] > 0]
    ours = [c for c in calls if c[0] is result.scheduler]
    # the scheduler saw every rollout, the screens of screened-out prompts included
    assert sum(c[2].size for c in ours) == sum(r["perf/rollouts"] for r in steps)
    sizes = np.concatenate([np.diff(c[3]) for c in ours])
    assert set(np.unique(sizes)) <= {2, 4} and np.any(sizes == 2)  # levels 1 and 3 never pass a screen
    for r, batch in zip(steps, batches):
        assert np.all(np.diff(batch.offsets) == config.group_size)  # trained: screen + rest
        assert np.all(bc.keep_mixed(batch.rewards, batch.offsets))
        assert r["perf/rollouts"] == batch.rollouts == 4 * (batch.sampled_groups - r["train/screened_out"]) \
            + 2 * r["train/screened_out"]
        assert r["perf/screened_out_rollouts"] == 2 * r["train/screened_out"]
