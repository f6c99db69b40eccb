"""Curriculum telemetry: the standard metrics of a scheduler's state, and the trackers
they go to.

:func:`curriculum_metrics` turns the sampling distribution p (the scheduler's
``probs()``) and the counts of a :class:`CurriculumStats` into one flat dict of
floats, every key under ``curriculum/``:

==============================  ==========================================================
``p/<arm>``                      p_k, for each arm when there are at most ``max_arms`` arms;
                                 else the mass of each distribution, sum of p_k over its
                                 arms (prompt-level curricula), when there are at most
                                 ``max_arms`` distributions
``entropy``                      H = -sum_k p_k ln p_k (nats; 0 ln 0 = 0)
``effective_arms``               exp(H): 1 when one arm takes everything, K when p is uniform
``top<k>_share``                 sum of the k largest p_k (k = 1 and ``top_k``)
``zero_variance_fraction``       share of the groups fed back since the last report whose
                                 rewards are all equal (no GRPO gradient)
``never_sampled_arms``           arms no draw has picked yet (cumulative)
``pass_rate/<distribution>``     share of the rollouts fed back since the last report with
                                 reward >= ``success_threshold``, per distribution
                                 (at most ``max_arms`` distributions; one without feedback
                                 in the window is left out)
==============================  ==========================================================

:class:`Reporter` sends such dicts (and any other ``name -> float``) to TensorBoard,
Weights & Biases or Trackio: the ``report_to`` of ``banditcurr train``. Inside TRL and
verl the adapters hand the dict to the trainer's own logger instead (TRL's
``report_to``, verl's ``trainer.logger``), see docs/integrations/.

Importing this module imports numpy only; each tracker is imported when a
:class:`Reporter` for it is made.
"""

import os
import time
from collections.abc import Mapping

import numpy as np

REPORTERS = ("tensorboard", "wandb", "trackio")
PREFIX = "curriculum/"


def entropy(probs):
    """H = -sum p ln p in nats (terms with p = 0 count 0), of a float array."""
    p = np.asarray(probs, dtype=np.float64)
    positive = p[p > 0]
    return float(-(positive * np.log(positive)).sum())


class CurriculumStats:
    """What the curriculum metrics need beyond p: draws per arm (cumulative) and, since
    the last :meth:`take_window`, groups, zero-variance groups, and rollouts and passes
    per distribution.

    ``arm_distribution`` (int, n_arms) gives each arm's distribution index into
    ``distribution_names``; by default every arm is its own distribution.
    """

    def __init__(self, n_arms, *, arm_distribution=None, distribution_names=None, success_threshold=1.0):
        if isinstance(n_arms, bool) or not isinstance(n_arms, (int, np.integer)) or n_arms < 1:
            raise ValueError(f"The 'n_arms' argument of CurriculumStats must be an int >= 1. Got {n_arms!r} instead.")
        if arm_distribution is None:
            arm_distribution = np.arange(n_arms)
        arm_distribution = np.asarray(arm_distribution, dtype=np.int64)
        if arm_distribution.shape != (n_arms,) or np.any(arm_distribution < 0):
            raise ValueError(f"The 'arm_distribution' argument must hold one distribution index >= 0 per arm "
                             f"(shape ({n_arms},)). Got shape {arm_distribution.shape}.")
        n_dist = int(arm_distribution.max()) + 1
        names = list(range(n_dist)) if distribution_names is None else list(distribution_names)
        if len(names) < n_dist:
            raise ValueError(f"The 'distribution_names' argument names {len(names)} distributions, but "
                             f"'arm_distribution' uses {n_dist}.")
        if not np.isfinite(success_threshold):
            raise ValueError(f"The 'success_threshold' argument must be a finite number. Got {success_threshold!r}.")
        self.n_arms = int(n_arms)
        self.arm_distribution = arm_distribution
        self.distribution_names = [str(name) for name in names]
        self.success_threshold = float(success_threshold)
        self.draws = np.zeros(n_arms, dtype=np.int64)
        self._clear_window()

    def _clear_window(self):
        n_dist = len(self.distribution_names)
        self.window_groups = 0
        self.window_zero_variance = 0
        self.window_rollouts = np.zeros(n_dist, dtype=np.int64)
        self.window_passes = np.zeros(n_dist, dtype=np.int64)

    def observe_draw(self, arms):
        """Count the arms of one draw (int array of arm ids)."""
        np.add.at(self.draws, np.asarray(arms, dtype=np.int64), 1)

    def observe_feedback(self, arms, rewards, offsets):
        """Count fed-back groups: group g, from arm ``arms[g]``, has the rewards
        ``rewards[offsets[g]:offsets[g + 1]]``."""
        arms = np.asarray(arms, dtype=np.int64)
        rewards = np.asarray(rewards, dtype=np.float64)
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.shape != (arms.size + 1,):
            raise ValueError(f"The 'offsets' argument must have one entry more than 'arms' ({arms.size + 1}). "
                             f"Got shape {offsets.shape}.")
        sizes = np.diff(offsets)
        if np.any(arms < 0) or np.any(arms >= self.n_arms) or offsets[0] != 0 or np.any(sizes < 0) \
                or offsets[-1] != rewards.size:
            raise ValueError(f"Feedback must pair arm ids in 0..{self.n_arms - 1} with groups of rewards delimited "
                             f"by 'offsets' (0 first, {rewards.size} last, non-decreasing).")
        for start, stop in zip(offsets[:-1], offsets[1:]):
            group = rewards[start:stop]
            self.window_zero_variance += bool(group.size and np.all(group == group[0]))
        dist = self.arm_distribution[arms]
        passed = rewards >= self.success_threshold
        np.add.at(self.window_rollouts, dist, sizes)
        np.add.at(self.window_passes, np.repeat(dist, sizes), passed.astype(np.int64))
        self.window_groups += arms.size

    def take_window(self):
        """(groups, zero-variance groups, rollouts and passes per distribution) since
        the last call; starts a new window."""
        window = (self.window_groups, self.window_zero_variance, self.window_rollouts, self.window_passes)
        self._clear_window()
        return window

    def state_dict(self):
        return {"draws": self.draws.copy(), "window_groups": self.window_groups,
                "window_zero_variance": self.window_zero_variance,
                "window_rollouts": self.window_rollouts.copy(), "window_passes": self.window_passes.copy()}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` of stats over as many arms and distributions; checked first."""
        draws = np.asarray(state["draws"], dtype=np.int64)
        rollouts = np.asarray(state["window_rollouts"], dtype=np.int64)
        passes = np.asarray(state["window_passes"], dtype=np.int64)
        if draws.shape != self.draws.shape or rollouts.shape != self.window_rollouts.shape \
                or passes.shape != rollouts.shape:
            raise ValueError(f"The telemetry state is for {draws.size} arms and {rollouts.size} distributions; "
                             f"these stats have {self.n_arms} and {len(self.distribution_names)}.")
        self.draws[...] = draws
        self.window_groups = int(state["window_groups"])
        self.window_zero_variance = int(state["window_zero_variance"])
        self.window_rollouts[...] = rollouts
        self.window_passes[...] = passes


def curriculum_metrics(probs, arm_names, stats=None, *, max_arms=16, top_k=5):
    """The ``curriculum/`` metrics (see the module doc) of ``probs`` (float, n_arms,
    in ``arm_names`` order) and, when given, of ``stats`` (a :class:`CurriculumStats`
    whose window this call takes)."""
    p = np.asarray(probs, dtype=np.float64)
    names = [str(name) for name in arm_names]
    if p.ndim != 1 or p.size != len(names) or p.size == 0:
        raise ValueError(f"The 'probs' argument must hold one probability per arm name ({len(names)}). "
                         f"Got shape {p.shape}.")
    if isinstance(max_arms, bool) or not isinstance(max_arms, int) or max_arms < 0:
        raise ValueError(f"The 'max_arms' argument must be an int >= 0. Got {max_arms!r} instead.")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"The 'top_k' argument must be an int >= 1. Got {top_k!r} instead.")
    h = entropy(p)
    ranked = np.sort(p)[::-1]
    metrics = {"entropy": h, "effective_arms": float(np.exp(h))}
    for k in sorted({1, min(top_k, p.size)}):
        metrics[f"top{k}_share"] = float(ranked[:k].sum())
    if p.size <= max_arms:
        metrics.update({f"p/{name}": float(value) for name, value in zip(names, p)})
    elif stats is not None and len(stats.distribution_names) <= max_arms:
        mass = np.bincount(stats.arm_distribution, weights=p, minlength=len(stats.distribution_names))
        metrics.update({f"p/{name}": float(value) for name, value in zip(stats.distribution_names, mass)})
    if stats is not None:
        if stats.n_arms != p.size:
            raise ValueError(f"The stats count {stats.n_arms} arms, but 'probs' has {p.size}.")
        groups, zero_variance, rollouts, passes = stats.take_window()
        metrics["never_sampled_arms"] = float(np.count_nonzero(stats.draws == 0))
        if groups:
            metrics["zero_variance_fraction"] = zero_variance / groups
        if len(stats.distribution_names) <= max_arms:
            for name, n, k in zip(stats.distribution_names, rollouts, passes):
                if n:
                    metrics[f"pass_rate/{name}"] = float(k / n)
    return {PREFIX + key: value for key, value in metrics.items()}


class Reporter:
    """Sends ``name -> float`` dicts to trackers: any of ``"tensorboard"`` (event files
    in ``log_dir``), ``"wandb"`` and ``"trackio"`` (run ``run_name`` of ``project``,
    with ``config`` recorded). ``log(metrics, step)``; ``close()`` at the end."""

    def __init__(self, report_to, log_dir, *, project="banditcurr", run_name=None, config=None):
        if isinstance(report_to, str):
            report_to = [report_to]
        unknown = [name for name in report_to if name not in REPORTERS]
        if unknown:
            raise ValueError(f"The 'report_to' setting must list trackers among {REPORTERS}. Got {unknown!r}.")
        self.report_to = list(dict.fromkeys(report_to))
        run_name = run_name or os.path.basename(os.path.abspath(log_dir))
        self._sinks = [_SINKS[name](log_dir, project, run_name, dict(config or {})) for name in self.report_to]

    def log(self, metrics, step):
        """Send the numeric entries of ``metrics`` (others, e.g. strings, are skipped) at ``step``."""
        scalars = {key: float(value) for key, value in metrics.items()
                   if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)}
        for sink in self._sinks:
            sink.log(scalars, int(step))

    def close(self):
        for sink in self._sinks:
            sink.close()


class _TensorBoard:
    """Scalars as TensorBoard events, written with the ``tensorboard`` package itself."""

    def __init__(self, log_dir, project, run_name, config):
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as error:
            raise ImportError("report_to 'tensorboard' needs the tensorboard package: "
                              "pip install 'banditcurr[tensorboard]'.") from error
        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(os.path.join(log_dir, "tensorboard"))

    def log(self, scalars, step):
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=value)
                                       for tag, value in scalars.items()])
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))
        self._writer.flush()

    def close(self):
        self._writer.close()


class _Module:
    """A tracker with the ``init(project, name, config)`` / ``log(dict, step)`` /
    ``finish()`` API that wandb and trackio share."""

    module = ""

    def __init__(self, log_dir, project, run_name, config):
        import importlib

        try:
            self._tracker = importlib.import_module(self.module)
        except ImportError as error:
            raise ImportError(f"report_to {self.module!r} needs the {self.module} package: "
                              f"pip install {self.module}.") from error
        self._run = self._tracker.init(project=project, name=run_name, config=_jsonable(config))

    def log(self, scalars, step):
        self._tracker.log(scalars, step=step)

    def close(self):
        self._tracker.finish()


class _Wandb(_Module):
    module = "wandb"


class _Trackio(_Module):
    module = "trackio"


_SINKS = {"tensorboard": _TensorBoard, "wandb": _Wandb, "trackio": _Trackio}


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
