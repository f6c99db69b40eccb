"""Which scheduler a simulation runs, at which arm level, with which settings.

A scheduler is named by a spec string ``NAME[@LEVEL][:KEY=VALUE]...``:

    "dump-ucb"                          the registered preset, its default arm level
    "thompson@distribution"             forced to distribution-level arms
    "dump-ucb:count_discount=0.99"      a hyperparameter override
    "dump-ucb@prompt:c=0.5:window_unit=groups"

or by a :class:`FixedSchedule` (a static curriculum with fixed weights).

Arm level: the arms are either the scenario's distributions or its single prompts.
Default per scheduler, first match wins: the spec's ``@LEVEL``; the level the scheduler
class declares (``arm_level``: the unit its method's paper schedules, e.g. ``dump-ucb``
distribution level as in DUMP; ``thompson``, ``learnability`` and ``sfl`` prompt
level as in MoPPS and SFL/LILO; ``two-level`` prompt); otherwise the scenario's
``arm_level`` (``uniform`` declares none).
A scheduler whose constructor takes ``groups`` (``two-level``) gets the scenario's
distribution of every prompt.
A scheduler whose constructor takes ``difficulty`` (``adarft``, ``e2h``) gets labels
from the scenario (``resolve_difficulty``): ``difficulty=levels`` (the default) labels
each arm by its distribution's index (graded scenarios order them easy -> hard);
``difficulty=prompts`` (prompt level) by the prompt's own difficulty (its logit offset
``train_difficulty``, larger = harder), e.g. ``"adarft:difficulty=prompts"``. A scheduler
with a ``horizon`` (``e2h``) gets the run's steps unless the spec sets it.
"""

from dataclasses import dataclass, field

import numpy as np

import banditcurr as bc

from .scenario import ARM_LEVELS

@dataclass(frozen=True, eq=False)
class FixedSchedule:
    """A static curriculum: every batch slot drawn from fixed ``weights`` over the arms.

    ``weights``: non-negative floats, one per arm (normalised here). Same batch rule
    as every scheduler: with replacement when the batch is larger than the number of
    arms, else distinct arms (weighted, Efraimidis-Spirakis). Feedback is ignored.
    Example: ``FixedSchedule([0, 0, 1] + [0] * 9, label="only-5-people")``.
    """

    weights: tuple
    label: str = "fixed"
    arm_level: str | None = None

    def __post_init__(self):
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)) \
                or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"The 'weights' argument of FixedSchedule must be a non-empty 1-D list of finite "
                             f"floats >= 0 with a positive sum. Got {self.weights!r} instead.")
        object.__setattr__(self, "weights", tuple(weights / weights.sum()))
        if self.arm_level is not None and self.arm_level not in ARM_LEVELS:
            raise ValueError(f"The 'arm_level' argument of FixedSchedule must be one of {ARM_LEVELS} or None. "
                             f"Got {self.arm_level!r} instead.")


@dataclass(frozen=True)
class SchedulerSpec:
    """A parsed scheduler spec: registry ``name``, forced ``arm_level`` (or None),
    ``hyperparameters`` overrides and the display ``label`` (the spec string)."""

    name: str
    label: str
    arm_level: str | None = None
    hyperparameters: dict = field(default_factory=dict)


def _value(text):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_spec(spec):
    """Parse ``NAME[@LEVEL][:KEY=VALUE]...`` into a :class:`SchedulerSpec`."""
    if isinstance(spec, SchedulerSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"A scheduler spec must be a non-empty str like 'dump-ucb' or "
                        f"'dump-ucb@prompt:c=0.5'. Got {spec!r} instead.")
    head, *pairs = spec.strip().split(":")
    name, _, level = head.partition("@")
    if name not in bc.REGISTRY:
        bc.make(name, 1)  # raises the registry's error (with a close-match hint)
    if level and level not in ARM_LEVELS:
        raise ValueError(f"The arm level in scheduler spec {spec!r} must be one of {ARM_LEVELS}. Got {level!r}.")
    hyperparameters = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"Scheduler spec {spec!r}: {pair!r} is not KEY=VALUE "
                             f"(write e.g. 'dump-ucb:c=0.5:window=100').")
        hyperparameters[key] = _value(text)
    return SchedulerSpec(name=name, label=spec.strip(), arm_level=level or None, hyperparameters=hyperparameters)


def resolve_arm_level(spec, scenario, arm_level=None):
    """The arm level a scheduler runs at on ``scenario`` (see the module doc)."""
    if arm_level is not None:
        if arm_level not in ARM_LEVELS:
            raise ValueError(f"The 'arm_level' argument must be one of {ARM_LEVELS} or None. Got {arm_level!r}.")
        return arm_level
    if spec.arm_level is not None:
        return spec.arm_level
    if isinstance(spec, SchedulerSpec) and bc.REGISTRY[spec.name][0].arm_level is not None:
        return bc.REGISTRY[spec.name][0].arm_level
    return scenario.arm_level



DIFFICULTY_LABELS = ("levels", "prompts")


def resolve_difficulty(value, scenario, level):
    """The difficulty labels (float64, one per arm) that ``value`` names on ``scenario``
    at arm ``level``: "levels" = each arm's distribution index (distribution level: the
    arm index itself), "prompts" = each prompt's difficulty offset ``train_difficulty``
    (prompt level only). An array is passed through (the scheduler checks it)."""
    if not isinstance(value, str):
        return value
    if value not in DIFFICULTY_LABELS:
        raise ValueError(f"The 'difficulty' option of a scheduler spec must be one of {DIFFICULTY_LABELS} (or an "
                         f"array of labels). Got {value!r} instead.")
    if level == "distribution":
        if value == "prompts":
            raise ValueError("difficulty=prompts labels prompts: run the scheduler at prompt level "
                             "(e.g. 'adarft@prompt:difficulty=prompts'), or use difficulty=levels.")
        return np.arange(scenario.n_distributions, dtype=np.float64)
    if value == "levels":
        return scenario.train_dist.astype(np.float64)
    return np.asarray(scenario.train_difficulty, dtype=np.float64)
