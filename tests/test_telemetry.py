"""banditcurr.telemetry: the curriculum metrics against hand computations, and the
TensorBoard reporter read back from a real event file."""

import sys
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import banditcurr as bc
from banditcurr.telemetry import CurriculumStats, Reporter, curriculum_metrics, entropy


def test_uniform_and_one_hot():
    uniform = curriculum_metrics(np.full(4, 0.25), ["a", "b", "c", "d"], top_k=2)
    assert uniform["curriculum/entropy"] == pytest.approx(np.log(4))
    assert uniform["curriculum/effective_arms"] == pytest.approx(4)
    assert uniform["curriculum/top1_share"] == pytest.approx(0.25)
    assert uniform["curriculum/top2_share"] == pytest.approx(0.5)
    assert [uniform[f"curriculum/p/{n}"] for n in "abcd"] == [0.25] * 4
    one_hot = curriculum_metrics(np.array([0.0, 1.0, 0.0]), ["x", "y", "z"])
    assert one_hot["curriculum/entropy"] == 0.0
    assert one_hot["curriculum/effective_arms"] == 1.0
    assert one_hot["curriculum/top1_share"] == one_hot["curriculum/top3_share"] == 1.0


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1)).filter(lambda a: a.sum() > 1e-6))
def test_effective_arms_between_one_and_k(weights):
    p = weights / weights.sum()
    metrics = curriculum_metrics(p, range(p.size), top_k=3)
    assert 1 - 1e-9 <= metrics["curriculum/effective_arms"] <= p.size * (1 + 1e-9)
    assert metrics["curriculum/top1_share"] <= metrics[f"curriculum/top{min(3, p.size)}_share"] + 1e-12
    assert metrics["curriculum/entropy"] == pytest.approx(-sum(x * np.log(x) for x in p if x > 0))


def test_window_counts():
    stats = CurriculumStats(3, success_threshold=1.0)
    stats.observe_draw([0, 0, 1])
    # arm 0: [1, 1] (zero variance, 2 passes); arm 1: [0, 1] (mixed, 1 pass)
    stats.observe_feedback([0, 1], [1.0, 1.0, 0.0, 1.0], [0, 2, 4])
    metrics = curriculum_metrics(np.array([0.5, 0.3, 0.2]), ["a", "b", "c"], stats)
    assert metrics["curriculum/zero_variance_fraction"] == 0.5
    assert metrics["curriculum/pass_rate/0"] == 1.0 and metrics["curriculum/pass_rate/1"] == 0.5
    assert "curriculum/pass_rate/2" not in metrics  # no feedback in the window
    assert metrics["curriculum/never_sampled_arms"] == 1.0
    again = curriculum_metrics(np.array([0.5, 0.3, 0.2]), ["a", "b", "c"], stats)
    assert "curriculum/zero_variance_fraction" not in again  # the window was taken
    assert again["curriculum/never_sampled_arms"] == 1.0  # cumulative


def test_prompt_level_reports_distribution_mass():
    stats = CurriculumStats(6, arm_distribution=[0, 0, 0, 1, 1, 1], distribution_names=["easy", "hard"])
    stats.observe_feedback([4], [0.0, 0.0, 1.0, 0.0], [0, 4])
    p = np.array([0.1, 0.1, 0.1, 0.2, 0.2, 0.3])
    metrics = curriculum_metrics(p, range(6), stats, max_arms=4)
    assert metrics["curriculum/p/easy"] == pytest.approx(0.3) and metrics["curriculum/p/hard"] == pytest.approx(0.7)
    assert "curriculum/p/0" not in metrics
    assert metrics["curriculum/pass_rate/hard"] == 0.25
    assert metrics["curriculum/never_sampled_arms"] == 6.0


def test_stats_state_round_trip(tmp_path):
    stats = CurriculumStats(3)
    stats.observe_draw([2, 2])
    stats.observe_feedback([2], [1.0, 0.0], [0, 2])
    bc.save_state(stats, tmp_path / "stats.npz")
    other = bc.load_state(tmp_path / "stats.npz", into=CurriculumStats(3))
    assert other.state_dict()["draws"].tolist() == [0, 0, 2]
    assert other.take_window()[:2] == (1, 0)
    with pytest.raises(ValueError, match="for 3 arms"):
        CurriculumStats(4).load_state_dict(stats.state_dict())


def test_bad_input_is_refused_and_changes_nothing():
    stats = CurriculumStats(2)
    with pytest.raises(ValueError, match="arm ids in 0..1"):
        stats.observe_feedback([5], [1.0], [0, 1])
    assert stats.take_window()[0] == 0
    with pytest.raises(ValueError, match="one probability per arm name"):
        curriculum_metrics(np.ones(3) / 3, ["a", "b"])
    with pytest.raises(ValueError, match="'top_k' argument must be an int >= 1. Got 0"):
        curriculum_metrics(np.ones(2) / 2, ["a", "b"], top_k=0)
    with pytest.raises(ValueError, match="'n_arms' argument of CurriculumStats"):
        CurriculumStats(0)
    with pytest.raises(ValueError, match="trackers among"):
        Reporter(["csv"], "unused")


def test_entropy_ignores_zero_mass():
    assert entropy([0.5, 0.5, 0.0]) == pytest.approx(np.log(2))


def test_tensorboard_event_file_reads_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reporter = Reporter(["tensorboard"], str(tmp_path))
    p = np.array([0.7, 0.2, 0.1])
    for step in (1, 2):
        reporter.log({**curriculum_metrics(p, ["easy", "mid", "hard"]), "note": "skipped"}, step=step)
    reporter.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "curriculum/p/easy" in tags and "curriculum/effective_arms" in tags and "note" not in tags
    easy = events.Scalars("curriculum/p/easy")
    assert [e.step for e in easy] == [1, 2]
    assert easy[-1].value == pytest.approx(0.7)
    assert events.Scalars("curriculum/effective_arms")[0].value == pytest.approx(np.exp(entropy(p)), rel=1e-6)


@pytest.mark.parametrize("name", ["wandb", "trackio"])
def test_wandb_and_trackio_calls(name, monkeypatch, tmp_path):
    """The two trackers are not installed here: a stand-in module records the calls
    the reporter makes (their shared init / log / finish API)."""
    calls = []
    module = types.SimpleNamespace(
        init=lambda **kwargs: calls.append(("init", kwargs)),
        log=lambda data, step: calls.append(("log", data, step)),
        finish=lambda: calls.append(("finish",)))
    monkeypatch.setitem(sys.modules, name, module)
    reporter = Reporter(name, str(tmp_path / "run1"), project="p", config={"lr": 1e-3, "tasks": ("a",)})
    reporter.log({"curriculum/entropy": 0.5, "train/steps": np.int64(3)}, step=7)
    reporter.close()
    assert calls == [("init", {"project": "p", "name": "run1", "config": {"lr": 1e-3, "tasks": ["a"]}}),
                     ("log", {"curriculum/entropy": 0.5, "train/steps": 3.0}, 7), ("finish",)]


def test_missing_tracker_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trackio", None)
    with pytest.raises(ImportError, match="pip install trackio"):
        Reporter("trackio", str(tmp_path))


@pytest.mark.slow
def test_banditcurr_train_reports_to_tensorboard(tmp_path):
    """``banditcurr train`` with report_to = ["tensorboard"]: the log records, curriculum
    metrics included, are in a real event file at their steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from banditcurr.llm.config import TrainConfig
    from banditcurr.llm.grpo import train
    from banditcurr.llm.tiny import build_model

    model = build_model(str(tmp_path / "tiny"), num_layers=1)
    config = TrainConfig(model=model, tasks=["addition:1-2"], n_train=8, n_test=2, steps=2, batch_prompts=4,
                         group_size=2, micro_batch=8, max_new_tokens=4, engine="hf", eval_every=2,
                         checkpoint_every=0, out_dir=str(tmp_path / "run"), progress=False, threads=1,
                         report_to=["tensorboard"])
    result = train(config)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    entropy_events = events.Scalars("curriculum/entropy")
    assert [e.step for e in entropy_events] == [1, 2]
    assert entropy_events[-1].value == pytest.approx(result.history[-1]["curriculum/entropy"], rel=1e-6)
    assert [e.step for e in events.Scalars("eval/accuracy")] == [0, 2]
    assert [e.step for e in events.Scalars("train/reward")] == [1, 2]
    assert "curriculum/effective_arms" in events.Tags()["scalars"]


def test_train_config_refuses_an_unknown_tracker(tmp_path):
    from banditcurr.llm.config import TrainConfig

    (tmp_path / "config.json").write_text("{}")  # enough of a model directory for validate()
    with pytest.raises(ValueError, match="The 'report_to' parameter of TrainConfig must be one of 'tensorboard', "
                                         "'wandb', 'trackio'. Got 'csv'"):
        TrainConfig(model=str(tmp_path), report_to=["csv"]).validate()
