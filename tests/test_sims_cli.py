"""`banditcurr simulate`: help, results.json schema, curves.png, errors, own scenarios."""

import json
import subprocess
import sys

import pytest

from banditcurr import cli

TINY = ["--param", "prompts_per_distribution=30", "--param", "eval_prompts=20", "--batch-size", "16",
        "--group-size", "4", "--steps", "12", "--seeds", "5", "--no-progress"]


def test_help_lists_the_options_and_stays_light():
    code = ("import sys, contextlib, io\n"
            "from banditcurr import cli\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n"
            "        cli.main(['simulate', '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(out.getvalue())\n"
            "print('HEAVY', [m for m in ('matplotlib', 'tqdm', 'torch', 'scipy.stats') if m in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--scenario", "--schedulers", "--seeds", "--steps", "--out", "--engine", "--arm-level", "--gate"):
        assert option in result.stdout
    assert "HEAVY []" in result.stdout


def test_simulate_writes_results_and_curves(tmp_path, capsys):
    out = tmp_path / "study"
    code = cli.main(["simulate", "--scenario", "kk12", "--schedulers", "uniform,dump-ucb,dump-ucb:c=0.5",
                     "--out", str(out)] + TINY)
    assert code == 0
    printed = capsys.readouterr().out
    assert "target mean accuracy" in printed and "dump-ucb:c=0.5" in printed and "x vs uniform" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["scenario"] == "kk12" and results["settings"]["seeds"] == 5
    assert results["target_source"] == "final mean accuracy of uniform"
    assert set(results["schedulers"]) == {"uniform", "dump-ucb", "dump-ucb:c=0.5"}
    for summary in results["schedulers"].values():
        assert isinstance(summary["final_mean_accuracy"], float) and isinstance(summary["auc"], float)
        assert summary["steps_to_target"] is None or isinstance(summary["steps_to_target"], float)
        assert 0.0 <= summary["zero_variance_fraction"] <= 1.0
        assert len(summary["final_accuracy_per_distribution"]) == 12
        curve = summary["curve"]
        assert len(curve["steps"]) == len(curve["mean_accuracy"]) == 13
        assert len(curve["sampling_fraction"]) == 12 and len(curve["sampling_fraction"][0]) == 12
    assert results["schedulers"]["dump-ucb:c=0.5"]["hyperparameters"]["c"] == 0.5
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_numpy_engine_and_own_scenario_from_a_file(tmp_path, capsys):
    path = tmp_path / "world.py"
    path.write_text("from banditcurr import sims\n"
                    "def world(spread=1.0):\n"
                    "    return sims.Scenario.from_levels('mine', [[1.0, 0.0], [0.5, 0.5]], [0.0, 1.5], spread,\n"
                    "                                     30, 10, batch_size=8, group_size=4, steps=6)\n")
    code = cli.main(["simulate", "--scenario", f"{path}:world", "--param", "spread=2.0", "--schedulers",
                     "uniform,thompson@distribution", "--seeds", "3", "--engine", "numpy", "--no-progress"])
    assert code == 0
    assert "thompson@distribution" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--scenario", "kk13"], "Unknown scenario 'kk13'"),
    (["--schedulers", "uniform,dump-ucp"], "Did you mean 'dump-ucb'?"),
    (["--schedulers", "uniform,uniform"], "names a scheduler twice"),
    (["--param", "transfer=2"], "'transfer' parameter of kk12"),
    (["--seeds", "0"], "'seeds' argument of simulate must be an int >= 1"),
    (["--target", "high"], "The 'target' argument of banditcurr simulate must be 'auto' or a float >= 0"),
    (["--target", "1.5"], "must be 'auto' or a float >= 0 and <= 1. Got '1.5'"),
    (["--threads", "0"], "'threads' argument of simulate must be an int >= 1 or None. Got 0"),
])
def test_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    assert cli.main(["simulate", "--no-progress"] + argv) == 2
    assert message in capsys.readouterr().err


def test_simulator_doc_examples_run():
    import re
    from pathlib import Path

    from banditcurr import sims

    text = (Path(__file__).resolve().parent.parent / "docs" / "simulator.md").read_text()
    namespace = {}
    for block in re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        exec(compile(block, "docs/simulator.md", "exec"), namespace)
    assert sims.compare(namespace["runs"])["schedulers"]["dump-ucb"]["speedup_vs_uniform"] > 1.5
    assert isinstance(namespace["two_tasks"](), sims.Scenario)
