"""The run folder of `banditcurr train`: one run per out_dir, exact resume, the rollout ledger.

Issue 10 item 6's reproducers (each is a test here): a torn last log line on resume; a
new run in a used out_dir (data loss: the old log wiped, new checkpoints pruned, then a
silent restart at step 0); resumes with other tasks / seed / n_train. Tiny local model,
transformers ``generate`` engine (no vLLM start-up); a few steps each.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

from banditcurr import ledger  # noqa: E402
from banditcurr.llm import checkpoint, tasks  # noqa: E402
from banditcurr.llm.checkpoint import RunFolderError  # noqa: E402
from banditcurr.llm.config import TrainConfig  # noqa: E402
from banditcurr.llm.grpo import _check_finite, train  # noqa: E402
from banditcurr.llm.tiny import build_model  # noqa: E402

pytestmark = pytest.mark.slow


class Graded(tasks.Distribution):
    """Level 1: reward 1 always (saturated); level 2: share of characters with an even
    code point (graded: groups with mixed rewards)."""

    def __init__(self, level):
        self.level, self.name = level, f"graded-{level}"

    def generate(self, n, seed):
        rng = np.random.default_rng(seed)
        return [tasks.Problem(f"{self.level}:{''.join(rng.choice(list('abcdefgh'), 5))}=", "0") for _ in range(n)]

    def reward(self, completion, problem):
        if self.level == 1:
            return 1.0
        return sum(ord(c) % 2 == 0 for c in completion) / max(len(completion), 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tasks.register("graded-test", Graded)
    yield build_model(str(tmp_path_factory.mktemp("tiny")), num_layers=1)
    tasks.FAMILIES.pop("graded-test", None)


def _config(model_dir, out_dir, **overrides):
    values = dict(model=model_dir, tasks=["graded-test:1-2"], n_train=6, n_test=2, steps=3, batch_prompts=4,
                  group_size=4, micro_batch=16, max_new_tokens=6, lr=1e-2, eval_every=2, checkpoint_every=1,
                  out_dir=str(out_dir), progress=False, engine="hf", scheduler="dump-ucb", threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def _log_steps(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as handle:
        return [json.loads(line)["step"] for line in handle]


def _metrics(history):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in history]


def _ledger_rows(out_dir):
    frame = ledger.read(os.path.join(out_dir, "ledger"))
    return frame.drop(columns=["run_id"]).map(lambda v: v.tolist() if isinstance(v, np.ndarray) else v) \
        .to_dict("records")


def test_ledger_rows_of_a_run_and_an_exact_resume(model_dir, tmp_path):
    whole = train(_config(model_dir, tmp_path / "whole", steps=4))
    frame = ledger.read(tmp_path / "whole" / "ledger")
    meta = ledger.read_meta(tmp_path / "whole" / "ledger")
    assert meta["source"] == "train" and meta["success_metric"] == "reward>=1"
    assert meta["distributions"] == ["graded-1", "graded-2"]
    assert frame.groupby("step").size().tolist() == [4, 4, 4, 4]  # B groups a step, each step once
    assert (frame["policy_version"] == frame["step"] - 1).all() and frame["trained"].all()
    assert all(len(r) == len(s) == len(t) == 4 for r, s, t in
               zip(frame["rewards"], frame["success"], frame["completion_tokens"]))
    for record in whole.history[1:]:  # the ledger holds what the log summarises
        rows = frame[frame["step"] == record["step"]]
        assert np.mean(np.concatenate(rows["rewards"].tolist())) == pytest.approx(record["train/reward"])
    # prompt ids: the distribution and a hash of the prompt text, the same in every run
    pool = whole.pool
    ids = {f"graded-{d + 1}/" + __import__("hashlib").sha256(p.prompt.encode()).hexdigest()[:16]
           for d in range(2) for p in pool.train[d]}
    assert set(frame["prompt_id"]) <= ids
    assert all(pid.startswith(dist + "/") for pid, dist in zip(frame["prompt_id"], frame["distribution"]))

    # stopped after step 2, then resumed from its checkpoint to step 4: the same rows, once each
    train(_config(model_dir, tmp_path / "split", steps=2))
    run_id = ledger.read_meta(tmp_path / "split" / "ledger")["run_id"]
    resumed = train(_config(model_dir, tmp_path / "split", steps=4, resume=True))
    assert _metrics(resumed.history) == _metrics(whole.history)
    assert _ledger_rows(tmp_path / "split") == _ledger_rows(tmp_path / "whole")
    assert set(ledger.read(tmp_path / "split" / "ledger")["run_id"]) == {run_id}
    for a, b in zip(whole.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)


def test_resume_after_a_crash_redoes_the_steps_after_the_checkpoint(model_dir, tmp_path):
    """A run killed after step 3 whose last checkpoint is step 2: the log record and the
    ledger rows of step 3 are dropped and redone, and a torn last log line (the kill
    landed inside a write) is dropped with a warning instead of failing the resume."""
    train(_config(model_dir, tmp_path / "whole", steps=3))
    train(_config(model_dir, tmp_path / "run", steps=3, checkpoint_every=2))  # checkpoints 2 and 3
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-000003")  # as if killed before checkpoint 3 ...
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step-000002")
    with open(tmp_path / "run" / "log.jsonl", "a") as handle:  # ... while writing step 4's record
        handle.write('{"step": 4, "train/rew')
    with pytest.warns(UserWarning, match=r"dropped a torn last line \(22 bytes without a newline"):
        resumed = train(_config(model_dir, tmp_path / "run", steps=3, checkpoint_every=2, resume=True))
    assert _log_steps(tmp_path / "run") == [0, 1, 2, 3]
    assert [r["step"] for r in resumed.history] == [0, 1, 2, 3]
    assert _ledger_rows(tmp_path / "run") == _ledger_rows(tmp_path / "whole")


_PLUGIN = textwrap.dedent("""
    import numpy as np
    from banditcurr.llm import tasks

    class Graded(tasks.Distribution):
        def __init__(self, level):
            self.level, self.name = level, f"killed-{level}"

        def generate(self, n, seed):
            rng = np.random.default_rng(seed)
            return [tasks.Problem(f"{self.level}:{''.join(rng.choice(list('abcdefgh'), 5))}=", "0") for _ in range(n)]

        def reward(self, completion, problem):
            return 1.0 if self.level == 1 else sum(ord(c) % 2 == 0 for c in completion) / max(len(completion), 1)

    tasks.register("killed-test", Graded)
""")


def test_kill_9_during_training_then_resume_equals_an_uninterrupted_run(model_dir, tmp_path, monkeypatch):
    """`banditcurr train` killed with SIGKILL mid-run (checkpoint every 3 steps), then
    resumed: log, ledger and weights equal an uninterrupted run's; no row twice."""
    (tmp_path / "killed_plugin.py").write_text(_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = dict(tasks=["killed-test:1-2"], plugins=["killed_plugin"], steps=8, checkpoint_every=3, eval_every=0)
    whole = train(_config(model_dir, tmp_path / "whole", **settings))

    run = tmp_path / "killed"
    values = {**_config(model_dir, run, **settings).to_dict()}
    (tmp_path / "run.json").write_text(json.dumps(values))
    code = ("import json, sys; from banditcurr.llm.config import from_mapping; from banditcurr.llm.grpo import train; "
            "train(from_mapping(json.load(open(sys.argv[1]))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run.json")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if (run / "log.jsonl").exists() and (run / "log.jsonl").read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-run, not finished
    logged = (run / "log.jsonl").read_bytes().count(b"\n")
    assert 4 <= logged < 8  # after checkpoint 3: the steps after it are redone
    resumed = train(_config(model_dir, run, resume=True, **settings))
    assert _metrics(resumed.history) == _metrics(whole.history)
    assert _log_steps(run) == list(range(1, 9))
    assert _ledger_rows(run) == _ledger_rows(tmp_path / "whole")
    for a, b in zip(whole.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)


def test_a_damaged_log_line_before_the_end_is_an_error(model_dir, tmp_path):
    train(_config(model_dir, tmp_path, steps=2))
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    (tmp_path / "log.jsonl").write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(RunFolderError, match=r"log.jsonl, line 2, is damaged"):
        train(_config(model_dir, tmp_path, steps=3, resume=True))


def test_a_new_run_in_a_used_out_dir_is_refused_or_starts_clean(model_dir, tmp_path):
    """Issue 10's data-loss reproducer: run A (steps=6, checkpoint_every=3), then run B in
    the same folder (steps=2, checkpoint_every=1). It used to wipe A's log, prune B's own
    checkpoints (latest named a missing step-000002) and resume at step 0 silently."""
    train(_config(model_dir, tmp_path, steps=6, checkpoint_every=3, eval_every=0))
    before = {name: sorted(os.listdir(tmp_path / name)) if os.path.isdir(tmp_path / name) else
              (tmp_path / name).read_bytes() for name in checkpoint.ARTEFACTS}
    with pytest.raises(RunFolderError, match=r"already holds a run \(log.jsonl, config.json, checkpoints, ledger\)"):
        train(_config(model_dir, tmp_path, steps=2, checkpoint_every=1, eval_every=0))
    assert before == {name: sorted(os.listdir(tmp_path / name)) if os.path.isdir(tmp_path / name) else
                      (tmp_path / name).read_bytes() for name in checkpoint.ARTEFACTS}  # A untouched

    (tmp_path / "notes.txt").write_text("mine")  # not a run file: overwrite leaves it
    train(_config(model_dir, tmp_path, steps=2, checkpoint_every=1, eval_every=0, overwrite=True))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert _log_steps(tmp_path) == [1, 2]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["latest", "step-000001", "step-000002"]
    assert checkpoint.latest(str(tmp_path)).endswith("step-000002")
    assert ledger.read(tmp_path / "ledger")["step"].unique().tolist() == [1, 2]
    resumed = train(_config(model_dir, tmp_path, steps=3, checkpoint_every=1, eval_every=0, resume=True))
    assert [r["step"] for r in resumed.history] == [1, 2, 3]  # continued from step 2, not 0
    assert _log_steps(tmp_path) == [1, 2, 3]


def test_a_run_that_stopped_before_its_first_record_can_be_replaced(model_dir, tmp_path):
    """A failed start (e.g. the engine did not come up) leaves config.json and an empty
    ledger: nothing to lose, so a new run may start there without overwrite."""
    train(_config(model_dir, tmp_path, steps=1, eval_every=0))
    (tmp_path / "log.jsonl").write_text("")
    shutil.rmtree(tmp_path / "checkpoints")
    for name in os.listdir(tmp_path / "ledger"):
        if name.endswith(".parquet"):
            os.remove(tmp_path / "ledger" / name)
    assert checkpoint.in_use(str(tmp_path)) == []
    train(_config(model_dir, tmp_path, steps=2, eval_every=0))
    assert _log_steps(tmp_path) == [1, 2]


def test_a_latest_pointing_nowhere_is_an_error_not_a_restart(model_dir, tmp_path):
    train(_config(model_dir, tmp_path, steps=2, eval_every=0))
    shutil.rmtree(tmp_path / "checkpoints" / "step-000002")
    with pytest.raises(RunFolderError, match=r"names the checkpoint 'step-000002', which does not exist"):
        train(_config(model_dir, tmp_path, steps=3, eval_every=0, resume=True))


@pytest.mark.parametrize("change, shown", [
    ({"tasks": ["graded-test:1"]}, r"tasks: \['graded-test:1-2'\] -> \['graded-test:1'\]"),
    ({"seed": 1}, r"seed: 0 -> 1"),
    ({"n_train": 8}, r"n_train: 6 -> 8"),
    ({"group_size": 2, "micro_batch": 8}, r"group_size: 4 -> 2"),
    ({"scheduler": "uniform"}, r"scheduler: 'dump-ucb' -> 'uniform'"),
    ({"model": "elsewhere"}, r"model: '.*' -> '.*elsewhere'"),
])
def test_resume_refuses_settings_that_alter_the_run(model_dir, tmp_path, change, shown):
    train(_config(model_dir, tmp_path, steps=1, eval_every=0))
    before = (tmp_path / "log.jsonl").read_bytes(), sorted(os.listdir(tmp_path / "ledger"))
    if "model" in change:  # another model directory holding the same files
        change = {"model": str(shutil.copytree(model_dir, tmp_path.parent / f"{tmp_path.name}-elsewhere"))}
    with pytest.raises(RunFolderError, match=r"these settings differ from the run being resumed(.|\n)*" + shown):
        train(_config(model_dir, tmp_path, steps=2, eval_every=0, resume=True, **change))
    assert before == ((tmp_path / "log.jsonl").read_bytes(), sorted(os.listdir(tmp_path / "ledger")))


def test_resume_allows_and_lists_harmless_changes(model_dir, tmp_path):
    train(_config(model_dir, tmp_path, steps=1, eval_every=0))
    with pytest.warns(UserWarning, match=r"settings changed that do not alter the run: steps: 1 -> 2; "
                                         r"eval_every: 0 -> 1; checkpoint_every: 1 -> 5"):
        resumed = train(_config(model_dir, tmp_path, steps=2, eval_every=1, checkpoint_every=5, resume=True))
    assert [r["step"] for r in resumed.history] == [1, 2] and "eval/accuracy" in resumed.history[-1]


def test_resume_refuses_another_runs_ledger(model_dir, tmp_path):
    train(_config(model_dir, tmp_path / "a", steps=1, eval_every=0))
    train(_config(model_dir, tmp_path / "b", steps=1, eval_every=0))
    shutil.rmtree(tmp_path / "a" / "ledger")
    shutil.copytree(tmp_path / "b" / "ledger", tmp_path / "a" / "ledger")
    with pytest.raises(RunFolderError, match=r"belongs to run '.*', not to the resumed run"):
        train(_config(model_dir, tmp_path / "a", steps=2, eval_every=0, resume=True))


def test_resume_without_a_checkpoint_restarts_the_same_run(model_dir, tmp_path):
    """Killed before its first checkpoint: resume starts again at step 0 (after the same
    settings check), with one log and one ledger; an empty out_dir starts a new run."""
    train(_config(model_dir, tmp_path, steps=2, eval_every=1, checkpoint_every=0))
    shutil.rmtree(tmp_path / "checkpoints")
    resumed = train(_config(model_dir, tmp_path, steps=2, eval_every=1, checkpoint_every=0, resume=True))
    assert _log_steps(tmp_path) == [0, 1, 2] and [r["step"] for r in resumed.history] == [0, 1, 2]
    assert ledger.read(tmp_path / "ledger").groupby("step").size().tolist() == [4, 4]
    train(_config(model_dir, tmp_path / "fresh", steps=1, eval_every=0, resume=True))
    assert _log_steps(tmp_path / "fresh") == [1]


def test_allocation_and_gate_rows_say_what_was_trained(model_dir, tmp_path):
    """Skipped prompts (CurES allocation) get rows without rollouts; the gate's dropped
    groups are rows with trained = false; every rolled-out group is in the ledger."""
    gated = train(_config(model_dir, tmp_path / "gate", steps=2, eval_every=0, dynamic_sampling=True,
                          max_refill_rounds=2, gate_metric="reward"))  # level 2's graded rewards are mixed
    frame = ledger.read(tmp_path / "gate" / "ledger")
    for record in gated.history:
        rows = frame[frame["step"] == record["step"]]
        assert rows["trained"].sum() == record["train/batch_groups"]
        assert (~rows["trained"]).sum() == record["train/dropped_groups"]
        assert rows["rewards"].map(len).sum() == record["perf/rollouts"]
    dropped = frame[~frame["trained"]]
    assert len(dropped) and all(np.ptp(r) == 0 for r in dropped["rewards"])  # level 1: all rewards 1

    allocated = train(_config(model_dir, tmp_path / "alloc", steps=3, eval_every=0, scheduler="cures",
                              arm_level="prompt", rollout_budget=16))
    frame = ledger.read(tmp_path / "alloc" / "ledger")
    assert frame.groupby("step").size().tolist() == [4, 4, 4]  # B rows a step, skipped ones included
    skipped = frame[frame["rewards"].map(len) == 0]
    assert sum(r.get("curriculum/skipped_prompts", 0) for r in allocated.history) == len(skipped)
    assert not skipped["trained"].any() and skipped["prompt_id"].notna().all()


def test_a_diverged_update_stops_the_run_clearly(model_dir):
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(model_dir)
    config = _config(model_dir, "unused")
    _check_finite({"train/loss": 0.1, "train/grad_norm": 2.0}, policy, 3, config)  # fine: no error
    with pytest.raises(RuntimeError, match=r"Step 3: the policy update gave non-finite values \(loss 0.1, grad "
                                           r"norm inf\): training diverged. Lower lr"):
        _check_finite({"train/loss": 0.1, "train/grad_norm": float("inf")}, policy, 3, config)
    with torch.no_grad():
        next(policy.parameters())[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match=r"training diverged"):
        _check_finite({"train/loss": 0.1, "train/grad_norm": 2.0}, policy, 3, config)


def test_simulated_and_real_ledgers_share_one_schema(model_dir, tmp_path):
    """A `banditcurr train` ledger and a `banditcurr simulate --ledger` one: the same
    columns and types, so one reader (and one DataFrame) serves both."""
    from banditcurr import sims
    from banditcurr.sims.ledgers import write_ledgers

    train(_config(model_dir, tmp_path / "real", steps=2, eval_every=0))
    scenario = sims.make_scenario("kk12", prompts_per_distribution=20, eval_prompts=10, batch_size=8, group_size=4,
                                  steps=3)
    simulated = write_ledgers(sims.simulate(scenario, "uniform", seeds=1, trace=True), scenario,
                              str(tmp_path / "sim"))[0]
    real = ledger.read_table(tmp_path / "real" / "ledger")
    fake = ledger.read_table(simulated)
    assert real.schema.equals(ledger.schema()) and fake.schema.equals(ledger.schema())
    assert ledger.read_meta(simulated)["source"] == "simulate"
    both = pd.concat([ledger.read(tmp_path / "real" / "ledger"), ledger.read(simulated)], ignore_index=True)
    assert len(both) == 2 * 4 + 3 * 8 and both["completion_tokens"].isna().sum() == 3 * 8
    per_dist, _ = ledger.pass_rates(both)
    assert set(per_dist.index) == set(both["distribution"])
