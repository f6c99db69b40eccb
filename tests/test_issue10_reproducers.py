"""Every reproducer of issue 10 (reliability), as a regression test.

Reproducers that used to crash (SIGSEGV, SIGABRT) or hang the process run in a fresh
process with a timeout, so a regression fails this test instead of killing pytest.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import cli
from banditcurr.integrations._curriculum import Curriculum

K = 4


def isolated(code, timeout=300):
    """Run ``code`` (which prints OK at its end) in a fresh interpreter."""
    program = "import numpy as np\nimport banditcurr as bc\n" + code + "\nprint('OK')\n"
    try:
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung (no answer in {timeout} s):\n{code}")
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stderr[-3000:]}"
    assert result.stdout.strip().endswith("OK"), result.stdout


def refuses(error, match):
    """Code that asserts the statement below it raises ``error`` matching ``match``."""
    return f"import pytest\nwith pytest.raises({error}, match={match!r}):\n    "


# -- 1. finite but huge rewards --------------------------------------------------------

@pytest.mark.parametrize("name", ["dump-ucb", "sec", "exp3s", "two-level"])
def test_huge_finite_rewards_are_refused_and_change_nothing(name):
    s = bc.make(name, n_arms=K, seed=0)
    before = s.state_dict()
    with pytest.raises(ValueError, match=r"'rewards'.*1e\+308.*outside the supported range"):
        s.update([0, 1], [[1e308, 1e308, 0.0], [0.0, 1.0, 0.0]])
    after = s.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    s.update([0, 1], [[1e12, -1e12, 0.0], [0.0, 1.0, 0.0]])  # the range's ends are accepted
    p = s.probs()
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1.0) < 1e-12
    assert len(np.unique(s.sample(400))) > 1, "sampling must not collapse onto one arm"


# -- 2. hyperparameters without upper bounds ----------------------------------------------

def test_window_2_pow_60_no_longer_crashes():
    isolated(refuses("ValueError", "'window' parameter of DumpUCB must be an int >= 1 and <= 1099511627776")
             + "bc.make('dump-ucb', n_arms=16, window=2**60)")


@pytest.mark.parametrize("window", ["2**64", "1e308"])
def test_window_beyond_int64_is_refused(window):
    isolated(refuses("ValueError", "'window' parameter") + f"bc.make('dump-ucb', n_arms=16, window={window})")


@pytest.mark.parametrize("n_arms", [2**62, 2**63])
def test_huge_n_arms_is_refused_clearly(n_arms):
    with pytest.raises(ValueError, match=rf"'n_arms' argument of SEC must be an int >= 1 and <= {2**40}. Got {n_arms}"):
        bc.make("sec", n_arms=n_arms)


def test_memory_is_checked_before_allocating():
    with pytest.raises(ValueError, match=r"needs \d+ bytes \(.*\) of memory, more than this machine's"):
        bc.make("sec", n_arms=2**40)
    with pytest.raises(ValueError, match=r"needs \d+ bytes"):
        bc.make("dump-ucb", n_arms=2**20, window=2**20)
    s = bc.make("sec", n_arms=3, seed=0)
    with pytest.raises(ValueError, match=r"'batch_size' argument of sample must be an int >= 1 and <= "):
        s.sample(2**62)
    with pytest.raises(ValueError, match=r"sample\(batch_size=1099511627776\) needs \d+ bytes"):
        s.sample(2**40)


# -- 3. loaded states that hang or crash ---------------------------------------------------

def test_tscl_with_nan_history_is_refused():
    isolated(textwrap.dedent("""
        s = bc.make("tscl", n_arms=3, seed=0)
        for rewards in (np.ones((3, 2)), np.zeros((3, 2))):
            s.update([0, 1, 2], rewards)
        state = s.state_dict()
        state["history"][0, 0] = np.nan
        """) + refuses("ValueError", "'history' holds nan") + "s.load_state_dict(state)\n"
             + "s.probs(); s.sample(2)")


@pytest.mark.parametrize("value", ["10**9", "np.iinfo(np.int64).min"])
def test_two_level_top_cursor_out_of_range_is_refused(value):
    isolated(textwrap.dedent(f"""
        s = bc.make("two-level", n_arms=6, groups=[0, 0, 1, 1, 2, 2], seed=0)
        state = s.state_dict()
        state["top_i"][0] = {value}
        """) + refuses("ValueError", "two-level top scheduler.*cursors out of range") + "s.load_state_dict(state)\n"
            + "s.update([0, 1], np.ones((2, 3)))")


@pytest.mark.parametrize("name", bc.available())
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_in_a_state_are_refused(name, value):
    kwargs = {"groups": [0, 0, 1, 1]} if name == "two-level" else {}
    s = bc.make(name, n_arms=K, seed=0, **kwargs)
    s.update([0, 1, 2], np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    for key, array in s.state_dict().items():
        if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.size:
            state = s.state_dict()
            state[key].reshape(-1)[0] = value
            before = s.state_dict()
            with pytest.raises(ValueError, match=f"'state' array '{key}' holds"):
                s.load_state_dict(state)
            after = s.state_dict()
            assert all(np.array_equal(before[k], after[k]) for k in before if isinstance(before[k], np.ndarray))


# -- 4. Thompson priors ----------------------------------------------------------------------

def test_thompson_huge_priors_are_refused():
    isolated(refuses("ValueError", "'prior_alpha' parameter of Thompson must be a float >= 0.001 and <= 1e\\+06")
             + "bc.make('thompson', n_arms=3, prior_alpha=1e308, prior_beta=1e308)")


def test_thompson_tiny_prior_is_refused_and_the_smallest_accepted_gives_valid_probs():
    with pytest.raises(ValueError, match="'prior_alpha' parameter of Thompson"):
        bc.make("thompson", n_arms=3, prior_alpha=1e-300)
    s = bc.make("thompson", n_arms=3, prior_alpha=1e-3, prior_beta=1e-3, seed=0)
    s.update([0], [[1.0, 0.0]])
    p = s.probs()
    assert np.all(p >= 0.0) and abs(p.sum() - 1.0) < 1e-9
    s.sample(2)


# -- 5. the two-level batch rule -------------------------------------------------------------

@pytest.mark.parametrize("top", ["dump-ucb", "uniform", "thompson"])
def test_two_level_prompt_batches_hold_distinct_prompts(top):
    s = bc.make("two-level", n_arms=6, groups=[0, 0, 1, 1, 2, 2], top=top, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        batch = int(rng.integers(1, 7))
        arms = s.sample(batch)
        assert len(np.unique(arms)) == batch, arms
        s.update(arms, (rng.random((batch, 4)) < 0.5).astype(float))


# -- 8. the adapters' Curriculum -------------------------------------------------------------

def curriculum():
    c = Curriculum("dump-ucb", ["a", "b", "a", "c"], seed=0)
    rows = c.draw(2)
    c.feedback([["a", "b", "a", "c"][r] for r in rows], [1.0, 0.0, 1.0, 1.0], [0, 2, 4])
    return c


def test_curriculum_bad_picker_rng_changes_nothing():
    c = curriculum()
    state = c.state_dict()
    other = curriculum()
    other.scheduler.update([0], [[0.0, 1.0]])
    before = other.state_dict()
    with pytest.raises(ValueError, match="'picker_rng' has shape"):
        other.load_state_dict({**state, "picker_rng": state["picker_rng"][:3]})
    after = other.state_dict()
    assert all(np.array_equal(before["scheduler"][k], after["scheduler"][k]) for k in before["scheduler"]
               if isinstance(before["scheduler"][k], np.ndarray)), "the scheduler state was replaced"


def test_curriculum_all_zero_picker_rng_is_refused():
    isolated(textwrap.dedent("""
        from banditcurr.integrations._curriculum import Curriculum
        c = Curriculum("dump-ucb", ["a", "b", "a", "c"], seed=0)
        state = c.state_dict()
        state["picker_rng"] = np.zeros(4, dtype=np.uint64)
        """) + refuses("ValueError", "'picker_rng' is all zeros") + "c.load_state_dict(state)\n" + "c.draw(2)")


def test_curriculum_fractional_offsets_are_refused():
    c = curriculum()
    with pytest.raises(TypeError, match="'offsets'.*integers"):
        c.feedback(["a", "b"], [1.0, 0.0, 1.0], [0, 1.7, 3])


def test_fill_batch_refuses_arms_the_rollout_was_not_given():
    s = bc.make("dump-ucb", n_arms=K, seed=0)

    def liar(arms):
        return np.array([(arms[0] + 1) % K]), np.array([1.0, 0.0]), np.array([0, 2])

    with pytest.raises(ValueError, match="'rollout' callable returned feedback for arm .* not given"):
        bc.fill_batch(s, liar, 1)


# -- 9. banditcurr simulate -------------------------------------------------------------------

TINY = ["--param", "prompts_per_distribution=30", "--param", "eval_prompts=20", "--batch-size", "16",
        "--group-size", "4", "--steps", "6", "--seeds", "3", "--no-progress", "--schedulers", "uniform"]


def test_simulate_refuses_an_unwritable_out_before_running(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    started = time.perf_counter()
    assert cli.main(["simulate", "--out", str(blocker / "sub")] + TINY) == 2
    assert "--out" in capsys.readouterr().err
    assert time.perf_counter() - started < 60, "it must fail before the run"


def test_simulate_writes_results_atomically(tmp_path, monkeypatch):
    from banditcurr.sims import cli as sims_cli

    out = tmp_path / "study"
    assert cli.main(["simulate", "--out", str(out)] + TINY) == 0
    good = (out / "results.json").read_text()

    def disk_full(document, handle, **kwargs):
        handle.write('{"scenario": ')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sims_cli.json, "dump", disk_full)
    with pytest.raises(OSError, match="No space"):
        cli.main(["simulate", "--out", str(out)] + TINY)
    assert (out / "results.json").read_text() == good, "the old results must survive a failed write"
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "results.json"]
    json.loads(good)


@pytest.mark.slow
def test_simulate_stops_promptly_on_sigint_with_progress_off(tmp_path):
    warm = [sys.executable, "-m", "banditcurr.cli", "simulate"] + TINY
    subprocess.run(warm, capture_output=True, timeout=900)  # compile the engine once (cached)
    long_run = [sys.executable, "-m", "banditcurr.cli", "simulate", "--steps", "100000", "--seeds", "50",
                "--schedulers", "uniform", "--no-progress", "--threads", "1", "--out", str(tmp_path / "out")]
    process = subprocess.Popen(long_run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(15)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("Ctrl-C did not stop the run within 60 s")
    assert process.returncode == 130, err
    assert "interrupted" in err and time.perf_counter() - sent < 60
    assert not (tmp_path / "out" / "results.json").exists()


# -- 10. unclear errors -----------------------------------------------------------------------

def test_ragged_reward_lists_get_a_clear_error():
    s = bc.make("sec", n_arms=K, seed=0)
    with pytest.raises(ValueError, match="'rewards' argument must be a rectangular.*ragged"):
        s.update([0, 1], [[1.0, 2.0], [1.0]])


@pytest.mark.parametrize("name", [["dump-ucb"], {"a": 1}, None, 3])
def test_unhashable_or_non_str_scheduler_names_get_a_clear_error(name):
    with pytest.raises(TypeError, match="'name' argument of make must be a str"):
        bc.make(name, 3)


# -- found by the generic properties (tests/test_reliability.py) -------------------------------

@pytest.mark.parametrize("name", ["thompson", "learnability"])
def test_a_subnormal_beta_shape_is_refused(name):
    """alpha = 5e-324 was accepted (> 0) and gave probs() a negative entry; no update
    can take a shape below the smallest prior, 1e-3."""
    s = bc.make(name, n_arms=2, seed=0)
    s.update([0], [[1.0, 0.0]])
    state = s.state_dict()
    state["alpha"][0] = 5e-324
    with pytest.raises(ValueError, match="'alpha' must hold finite values >= 0.001"):
        s.load_state_dict(state)
    state["alpha"][0] = 1e-3  # the smallest reachable shape: accepted, and valid
    s.load_state_dict(state)
    p = s.probs()
    assert np.all(p >= 0.0) and abs(p.sum() - 1.0) < 1e-9
