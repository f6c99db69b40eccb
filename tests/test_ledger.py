"""The rollout ledger: round trip, crash safety, resume without duplicates, readers, bad input."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyarrow.compute")

from banditcurr import ledger  # noqa: E402
from banditcurr._atomic import is_temporary  # noqa: E402
from banditcurr.cli import main  # noqa: E402

DISTS = ["addition-1", "addition-2", "addition-3"]


def _groups(rng, step, n=4):
    """n random groups of sizes 0..5 (0: skipped) as append_groups arguments."""
    sizes = rng.integers(0, 6, n)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rewards = rng.random(offsets[-1])
    dist = rng.integers(0, len(DISTS), n)
    return dict(step=step, policy_version=step - 1, arms=rng.integers(0, 50, n),
                prompt_ids=[f"{DISTS[d]}/{rng.integers(10)}" for d in dist], distribution=dist, rewards=rewards,
                offsets=offsets, success=rewards >= 0.5, completion_tokens=rng.integers(1, 9, offsets[-1]),
                trained=sizes > 0)


def _write(directory, steps, flush_every=1, run_id="run-a", seed=0, resume_step=None, first=1):
    rng = np.random.default_rng(seed)
    written = []
    writer = ledger.LedgerWriter(str(directory), run_id, "train", "reward>=0.5", DISTS, {"seed": seed},
                                 resume_step=resume_step)
    for step in range(first, steps + 1):
        for _ in range(1 + step % 2):  # one or two calls per step, like the gate's rounds
            groups = _groups(rng, step)
            writer.append_groups(**groups)
            written.append(groups)
        if step % flush_every == 0:
            writer.flush()
    writer.flush()
    return written


def _expected_rows(written):
    rows = []
    for g in written:
        o = g["offsets"]
        for k in range(len(g["arms"])):
            rows.append((g["step"], g["policy_version"], int(g["arms"][k]), g["prompt_ids"][k],
                         DISTS[g["distribution"][k]], g["rewards"][o[k]:o[k + 1]].tolist(),
                         g["success"][o[k]:o[k + 1]].tolist(), g["completion_tokens"][o[k]:o[k + 1]].tolist(),
                         bool(g["trained"][k])))
    return rows


def _rows(frame):
    return [(r.step, r.policy_version, r.arm, r.prompt_id, r.distribution, list(r.rewards), list(r.success),
             list(r.completion_tokens), bool(r.trained)) for r in frame.itertuples()]


def test_round_trip_reads_with_pyarrow_and_pandas(tmp_path):
    written = _write(tmp_path / "l", steps=7, flush_every=3)
    frame = ledger.read(tmp_path / "l")
    assert _rows(frame) == _expected_rows(written)
    assert set(frame["run_id"]) == {"run-a"}
    assert sorted(os.listdir(tmp_path / "l")) == ["_ledger.json", "steps-00000001-00000003.parquet",
                                                  "steps-00000004-00000006.parquet", "steps-00000007-00000007.parquet"]
    # the one-liners of docs/ledger.md, without banditcurr's checks
    assert _rows(pd.read_parquet(tmp_path / "l")) == _rows(frame)
    import pyarrow.dataset as ds

    assert ds.dataset(tmp_path / "l", format="parquet").to_table().equals(ledger.read_table(tmp_path / "l"))
    assert pq.read_table(tmp_path / "l" / "steps-00000007-00000007.parquet").schema.equals(ledger.schema())
    meta = ledger.read_meta(tmp_path / "l")
    assert meta["distributions"] == DISTS and meta["config"] == {"seed": 0} and meta["source"] == "train"


def test_simulated_rows_share_the_schema(tmp_path):
    """A simulated ledger (no token counts) has the same schema; its token lists are null."""
    with ledger.LedgerWriter(str(tmp_path / "s"), "sim-0", "simulate", "correct", DISTS) as writer:
        writer.append_groups(1, 0, [0, 2], ["addition-1/3", "addition-3/0"], [0, 2], [1.0, 0.0, 1.0, 1.0],
                             [0, 2, 4], np.array([True, False, True, True]), trained=[True, False])
    table = ledger.read_table(tmp_path / "s")
    assert table.schema.equals(ledger.schema())
    assert table.column("completion_tokens").null_count == 2
    assert ledger.read(tmp_path / "s")["trained"].tolist() == [True, False]


def test_empty_ledger_reads_as_no_rows(tmp_path):
    ledger.LedgerWriter(str(tmp_path / "e"), "run-a", "train", "correct", DISTS).flush()
    frame = ledger.read(tmp_path / "e")
    assert len(frame) == 0 and list(frame.columns) == list(ledger.COLUMNS)


def test_resume_drops_later_steps_and_writes_no_duplicates(tmp_path):
    whole = _write(tmp_path / "whole", steps=9, flush_every=1)
    _write(tmp_path / "split", steps=9, flush_every=4)  # parts 1-4, 5-8, 9-9
    # the checkpoint being resumed is at step 6: steps 7-9 were written after it and are dropped
    # (the part 5-8 is cut to 5-6), then the resumed run writes 7-9 again
    rng = np.random.default_rng(0)
    kept = [g for g in whole if g["step"] <= 6]
    writer = ledger.LedgerWriter(str(tmp_path / "split"), "run-a", "train", "reward>=0.5", DISTS, resume_step=6)
    assert _rows(ledger.read(tmp_path / "split")) == _expected_rows(kept)
    assert "steps-00000005-00000006.parquet" in os.listdir(tmp_path / "split")
    with pytest.raises(ValueError, match=r"step must be >= 1, > the last flushed step 6"):
        writer.append_groups(**_groups(rng, 6))
    for step in (7, 8, 9):
        for g in whole:
            if g["step"] == step:
                writer.append_groups(**g)
        writer.flush()
    frame = ledger.read(tmp_path / "split")
    assert _rows(frame) == _expected_rows(whole)  # every row once, in order


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 8), seed=st.integers(0, 2 ** 16), flushes=st.sets(st.integers(1, 8)),
       resume=st.integers(0, 8), flush_every=st.integers(1, 4))
def test_any_flush_pattern_and_resume_point_reads_back_each_row_once(steps, seed, flushes, resume, flush_every):
    """Write steps 1..n flushing after any subset of steps; resume at any flushed step S
    and write S+1..n again with another flush pattern: the rows are those of one
    uninterrupted run, in order, each once."""
    rng = np.random.default_rng(seed)
    calls = {step: [_groups(rng, step) for _ in range(int(rng.integers(1, 3)))] for step in range(1, steps + 1)}
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "l")
        writer = ledger.LedgerWriter(path, "run-h", "train", "r", DISTS)
        for step in range(1, steps + 1):
            for groups in calls[step]:
                writer.append_groups(**groups)
            if step in flushes:
                writer.flush()
        resume = min(resume, writer.flushed_step)  # a checkpoint is never ahead of the ledger
        writer = ledger.LedgerWriter(path, "run-h", "train", "r", DISTS, resume_step=resume)
        assert _rows(ledger.read(path)) == _expected_rows([g for s in range(1, resume + 1) for g in calls[s]])
        for step in range(resume + 1, steps + 1):
            for groups in calls[step]:
                writer.append_groups(**groups)
            if step % flush_every == 0:
                writer.flush()
        writer.flush()
        assert _rows(ledger.read(path)) == _expected_rows([g for s in range(1, steps + 1) for g in calls[s]])


def test_resume_after_a_crash_inside_the_cut_of_a_part(tmp_path):
    """A resume cuts a part that straddles its step in place, then renames it; a crash
    between the two leaves a valid ledger that the next resume finishes cutting."""
    written = _write(tmp_path / "l", steps=8, flush_every=4)  # parts 1-4 and 5-8
    part = tmp_path / "l" / "steps-00000005-00000008.parquet"
    table = pq.read_table(part)
    pq.write_table(table.filter(pa.compute.less_equal(table.column("step"), 6)), part)  # cut, not yet renamed
    kept = _expected_rows([g for g in written if g["step"] <= 6])
    assert _rows(ledger.read(tmp_path / "l")) == kept
    ledger.LedgerWriter(str(tmp_path / "l"), "run-a", "train", "reward>=0.5", DISTS, resume_step=6)
    assert sorted(os.listdir(tmp_path / "l"))[1:] == ["steps-00000001-00000004.parquet",
                                                      "steps-00000005-00000006.parquet"]
    assert _rows(ledger.read(tmp_path / "l")) == kept


_KILLED_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from banditcurr import ledger

    rng = np.random.default_rng(0)
    writer = ledger.LedgerWriter(sys.argv[1], "run-k", "train", "correct", ["d0", "d1"])
    for step in range(1, 100000):
        n, size = 3000, 16  # big parts: a write takes long enough to be caught half way
        offsets = np.arange(n + 1) * size
        rewards = rng.random(n * size)
        writer.append_groups(step, step - 1, np.arange(n), [f"d{a % 2}/{a}" for a in range(n)], np.arange(n) % 2,
                             rewards, offsets, rewards > 0.5, np.full(n * size, 7))
        writer.flush()
""")


def test_kill_9_mid_write_leaves_a_readable_ledger(tmp_path):
    """kill -9 while a part's temporary file is being written (three times): the ledger
    reads back whole steps only, and a resumed writer removes the torn temporary."""
    directory = tmp_path / "k"
    torn = 0
    for attempt in range(3):
        process = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(directory / str(attempt))])
        deadline = time.time() + 120
        while time.time() < deadline:
            names = os.listdir(directory / str(attempt)) if (directory / str(attempt)).exists() else []
            if len(names) >= 4 + attempt and any(is_temporary(n) for n in names):
                break  # a write is under way now
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
        process.wait()
        path = directory / str(attempt)
        torn += any(is_temporary(n) for n in os.listdir(path))
        frame = ledger.read(path)  # whole steps only, every one of them complete
        steps = frame["step"].to_numpy()
        assert steps.size >= 3000
        assert np.array_equal(np.unique(steps), np.arange(1, steps.max() + 1))
        assert (frame.groupby("step").size() == 3000).all()
        last = int(steps.max())
        writer = ledger.LedgerWriter(str(path), "run-k", "train", "correct", ["d0", "d1"], resume_step=last - 1)
        assert not [n for n in os.listdir(path) if is_temporary(n)]  # the torn temporary is gone
        assert ledger.read(path)["step"].max() == last - 1
        writer.append_groups(last, last - 1, [0], ["d0/0"], [0], [1.0, 0.0], [0, 2], [True, False])
        writer.flush()
        assert ledger.read(path).groupby("step").size().loc[last] == 1
    assert torn >= 1  # at least one kill landed inside a write


def test_directory_holding_something_else_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"is not a banditcurr ledger: it has no _ledger.json \(it holds 'notes.txt'"):
        ledger.read(tmp_path / "x")
    with pytest.raises(ValueError, match=r"is not empty and not a ledger \(notes.txt\)"):
        ledger.LedgerWriter(str(tmp_path / "x"), "run-a", "train", "correct", DISTS)
    with pytest.raises(ValueError, match=r"no such directory"):
        ledger.read(tmp_path / "missing")
    _write(tmp_path / "l", steps=2)
    (tmp_path / "l" / "extra.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"holds 'extra.csv', which is not a part of a ledger"):
        ledger.read(tmp_path / "l")
    os.remove(tmp_path / "l" / "extra.csv")
    (tmp_path / "l" / "_ledger.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"is not a banditcurr ledger: _ledger.json has no \"format\""):
        ledger.read(tmp_path / "l")


def test_tampered_parts_are_named(tmp_path):
    _write(tmp_path / "l", steps=3)
    part = tmp_path / "l" / "steps-00000002-00000002.parquet"
    pq.write_table(pa.table({"step": [2]}), part)
    with pytest.raises(ValueError, match=r"part 'steps-00000002-00000002.parquet' has columns \['step'\]"):
        ledger.read(tmp_path / "l")
    part.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"is not readable Parquet"):
        ledger.read(tmp_path / "l")
    os.remove(part)
    os.rename(tmp_path / "l" / "steps-00000003-00000003.parquet", tmp_path / "l" / "steps-00000001-00000004.parquet")
    with pytest.raises(ValueError, match=r"overlap"):
        ledger.read(tmp_path / "l")


def test_resume_of_another_run_or_setting_is_refused(tmp_path):
    _write(tmp_path / "l", steps=3)
    before = sorted(os.listdir(tmp_path / "l"))
    with pytest.raises(ValueError, match=r"belongs to run 'run-a', not to the resumed run 'run-b'"):
        ledger.LedgerWriter(str(tmp_path / "l"), "run-b", "train", "reward>=0.5", DISTS, resume_step=1)
    with pytest.raises(ValueError, match=r"success_metric was 'reward>=0.5' and is now 'correct'"):
        ledger.LedgerWriter(str(tmp_path / "l"), "run-a", "train", "correct", DISTS, resume_step=1)
    with pytest.raises(ValueError, match=r"already holds the ledger of run 'run-a'"):
        ledger.LedgerWriter(str(tmp_path / "l"), "run-a", "train", "reward>=0.5", DISTS)
    assert sorted(os.listdir(tmp_path / "l")) == before  # refused: nothing dropped


@pytest.mark.parametrize("change, match", [
    ({"step": 0}, r"step must be >= 1"),
    ({"step": 1.5}, r"step must be an int >= 0. Got 1.5"),
    ({"offsets": [0, 3, 2]}, r"offsets must start at 0 and not decrease"),
    ({"arms": [0, 1]}, r"arms must have 3 entries. Got 2"),
    ({"rewards": [0.5, np.nan, 1.0]}, r"rewards must be finite"),
    ({"success": [1, 0, 1]}, r"success must be bool"),
    ({"distribution": [0, 5, 1]}, r"distribution 5 is neither a name"),
    ({"distribution": ["addition-1", "nope", "addition-1"]}, r"distribution 'nope' is neither a name"),
    ({"prompt_ids": ["a", "b"]}, r"prompt_ids must be 3 str"),
    ({"completion_tokens": [1.5, 2.0, 3.0]}, r"completion_tokens must be integers"),
    ({"trained": [True]}, r"trained must have 3 entries"),
])
def test_bad_groups_are_named_and_buffer_nothing(tmp_path, change, match):
    writer = ledger.LedgerWriter(str(tmp_path / "l"), "run-a", "train", "correct", DISTS)
    good = dict(step=1, policy_version=0, arms=[0, 1, 2], prompt_ids=["a", "b", "c"], distribution=[0, 1, 2],
                rewards=[0.5, 0.0, 1.0], offsets=[0, 1, 2, 3], success=[False, False, True],
                completion_tokens=[1, 2, 3], trained=True)
    with pytest.raises(ValueError, match=match):
        writer.append_groups(**{**good, **change})
    writer.flush()
    assert len(ledger.read(tmp_path / "l")) == 0
    writer.append_groups(**good)
    writer.flush()
    assert len(ledger.read(tmp_path / "l")) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"run_id": ""}, r"run_id must be a non-empty str"),
    ({"source": "real"}, r"source must be one of 'train', 'simulate'. Got 'real'"),
    ({"distributions": "abc"}, r"distributions must be a non-empty list of names"),
    ({"config": {"x": float("nan")}}, r"config must be a JSON-able dict"),
    ({"resume_step": -1}, r"resume_step must be None or an int >= 0"),
])
def test_bad_writer_arguments_are_named(tmp_path, kwargs, match):
    args = {"run_id": "r", "source": "train", "success_metric": "correct", "distributions": DISTS, **kwargs}
    with pytest.raises(ValueError, match=match):
        ledger.LedgerWriter(str(tmp_path / "l"), **args)
    assert not (tmp_path / "l").exists()


def test_cli_prints_pass_rate_tables(tmp_path, capsys):
    with ledger.LedgerWriter(str(tmp_path / "l"), "run-a", "train", "reward>=1", DISTS[:2]) as writer:
        writer.append_groups(1, 0, [0, 1], ["p", "q"], [0, 1], [1.0, 1.0, 0.0, 1.0], [0, 2, 4],
                             np.array([True, True, False, True]), [3, 3, 5, 5])
        writer.append_groups(2, 1, [0], ["p"], [0], [0.0, 1.0], [0, 2], np.array([False, True]), [4, 2])
    per_dist, per_prompt = ledger.pass_rates(ledger.read(tmp_path / "l"))
    assert per_dist.loc["addition-1", "pass_rate"] == pytest.approx(0.75)
    assert per_dist.loc["addition-1", "zero_var_share"] == pytest.approx(0.5)
    assert per_dist.loc["addition-2", "mean_tokens"] == pytest.approx(5.0)
    assert per_prompt.loc["p", "rollouts"] == 4 and per_prompt.index[0] == "p"
    assert main(["ledger", str(tmp_path / "l"), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "ledger of run run-a (train), success = reward>=1, 3 groups, steps 1..2" in out
    assert "per distribution:" in out and "per prompt (1 of 2" in out and "0.750" in out
    with pytest.raises(SystemExit, match=r"is not a banditcurr ledger"):
        main(["ledger", str(tmp_path)])
