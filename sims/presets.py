"""Named scenarios: ``kk12``, ``math-pool``, ``drift``; ``make_scenario(name, **params)``.

Each preset is a function of validated keyword parameters (``PRESET_PARAMS[name]``
lists them with defaults and meaning) returning a :class:`Scenario`. The defaults
are calibrated to be faithful to the setting they imitate (step-0 accuracies,
share of zero-variance groups, transfer), never tuned for a scheduler to win;
``docs/simulator.md`` gives the reasoning and ``docs/simulator-study.md`` the results.

A user-defined scenario is any callable returning a Scenario, named to the CLI as
``module:function`` or ``path/to/file.py:function`` (see :func:`load_scenario`).
"""

import importlib
import importlib.util
import os

import numpy as np

from banditcurr._params import Param

from .scenario import Scenario, chain_loadings

_TRAINING = (
    ("batch_size", "int", 1, "prompts per step (B)"),
    ("group_size", "int", 1, "rollouts per prompt (G)"),
    ("steps", "int", 1, "default number of training steps (T)"),
)


def _training(batch_size, group_size, steps):
    return tuple(Param(name, default, kind, low=low, doc=doc)
                 for (name, kind, low, doc), default in zip(_TRAINING, (batch_size, group_size, steps)))


PRESET_PARAMS = {
    "kk12": (
        Param("prompts_per_distribution", 900, "int", low=1, doc="training prompts per distribution (DUMP: 900)"),
        Param("eval_prompts", 100, "int", low=1, doc="held-out prompts per distribution"),
        Param("easiest_logit", 0.5, "float", doc="typical step-0 logit of the 3-people puzzles"),
        Param("logit_step", 0.8, "float", low=0.0, doc="typical logit lost per extra person"),
        Param("prompt_spread", 0.75, "float", low=0.0, doc="std of prompt difficulty within a distribution (logits)"),
        Param("transfer", 0.8, "float", low=0.0, high=1.0,
              doc="chain transfer: distribution d loads skill d - k with weight transfer**k"),
        Param("learning_rate", 0.25, "float", low=0.0, low_open=True, doc="policy-gradient step size eta"),
        Param("pool_seed", 0, "int", low=0, doc="seed of the prompt pool (the dataset), fixed across runs"),
    ) + _training(128, 16, 200),
    "math-pool": (
        Param("prompts_per_level", 2000, "int", low=1, doc="training prompts per level (5 levels)"),
        Param("eval_prompts", 500, "int", low=1, doc="held-out prompts per level"),
        Param("level_accuracy", (0.9, 0.8, 0.65, 0.5, 0.3), "float",
              doc="expected step-0 accuracy of levels 1..5 (5 floats in (0, 1))"),
        Param("prompt_spread", 4.0, "float", low=0.0, doc="std of prompt difficulty within a level (logits)"),
        Param("transfer", 0.9, "float", low=0.0, high=1.0, doc="chain transfer between adjacent levels"),
        Param("learning_rate", 0.1, "float", low=0.0, low_open=True, doc="policy-gradient step size eta"),
        Param("pool_seed", 0, "int", low=0, doc="seed of the prompt pool (the dataset), fixed across runs"),
    ) + _training(128, 8, 300),
    "drift": (
        Param("prompts_per_distribution", 500, "int", low=1, doc="training prompts per distribution (6)"),
        Param("eval_prompts", 200, "int", low=1, doc="held-out prompts per distribution"),
        Param("interference", 0.5, "float", low=0.0, high=1.0,
              doc="share of the skill space family A and family B pull in opposite directions"),
        Param("forgetting", 0.01, "float", low=0.0, high=1.0, high_open=True,
              doc="per-step decay of every skill toward its step-0 value"),
        Param("prompt_spread", 1.0, "float", low=0.0, doc="std of prompt difficulty within a distribution (logits)"),
        Param("learning_rate", 0.25, "float", low=0.0, low_open=True, doc="policy-gradient step size eta"),
        Param("pool_seed", 0, "int", low=0, doc="seed of the prompt pool (the dataset), fixed across runs"),
    ) + _training(128, 16, 300),
}


def _resolve(name, overrides):
    """Validated parameter values of preset ``name`` (defaults, then ``overrides``)."""
    specs = {p.name: p for p in PRESET_PARAMS[name]}
    unknown = sorted(set(overrides) - set(specs))
    if unknown:
        raise TypeError(f"Scenario {name!r} got unknown parameter(s) {unknown}. Valid ones: {sorted(specs)}.")
    values = {}
    for key, spec in specs.items():
        value = overrides.get(key, spec.default)
        if isinstance(spec.default, tuple):
            if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != len(spec.default):
                raise ValueError(f"The {key!r} parameter of {name} must be {len(spec.default)} floats. "
                                 f"Got {value!r} instead.")
            value = tuple(Param(key, 0.0, "float").check(name, v) for v in value)
        else:
            spec.check(name, value)
            value = int(value) if spec.kind == "int" else float(value)
        values[key] = value
    return values


def logit_for_accuracy(accuracy, spread):
    """The mean logit mu with E[sigmoid(mu + spread * eps)] = accuracy, eps ~ N(0, 1)
    (Gauss-Hermite quadrature, bisection)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    weights = weights / weights.sum()
    low, high = -60.0, 60.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if np.dot(weights, 1.0 / (1.0 + np.exp(-(mid + spread * nodes)))) < accuracy:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def kk12(**params):
    """Knights-and-Knaves shaped: 12 distributions (3..14 people), graded difficulty.

    Imitates DUMP's setting (arXiv 2504.09710: K&K puzzles with 3..14 people, 900
    training prompts each, GRPO with B = 128, G = 16, ~170-200 steps). Distribution
    d = people - 3 has typical step-0 logit ``easiest_logit - logit_step * d`` (3
    people about 0.6 correct, 6 people about 0.1, 9 and more near 0), prompts
    spread by ``prompt_spread``; chain loadings with ``transfer`` (skills learned on
    easier puzzles carry over to harder ones, decaying with the gap). Targets are
    binary (correct or not). Default arm level: distribution.
    """
    v = _resolve("kk12", params)
    n = 12
    mean = -(v["easiest_logit"] - v["logit_step"] * np.arange(n))
    return Scenario.from_levels(
        "kk12", chain_loadings(n, v["transfer"]), mean, v["prompt_spread"], v["prompts_per_distribution"],
        v["eval_prompts"], distributions=tuple(f"{k} people" for k in range(3, 15)), pool_seed=v["pool_seed"],
        learning_rate=v["learning_rate"], batch_size=v["batch_size"], group_size=v["group_size"],
        steps=v["steps"], arm_level="distribution", target=0.5, params=v, description=kk12.__doc__)


def math_pool(**params):
    """MATH/ORZ shaped prompt pool: 5 levels x ``prompts_per_level`` prompts (10,000).

    Step-0 accuracy falls from 0.9 (level 1) to 0.3 (level 5), like a mid-size
    instruction-tuned model on MATH; per-prompt difficulty is wide (``prompt_spread``
    = 4 logits), so at step 0 most prompts are solved always or never and most G = 8
    groups have zero variance under uniform sampling, as reported for MATH-style
    pools. Levels share skills (chain transfer 0.9). Default arm level: prompt.
    """
    v = _resolve("math-pool", params)
    n = 5
    if not all(0.0 < a < 1.0 for a in v["level_accuracy"]):
        raise ValueError(f"The 'level_accuracy' parameter of math-pool must be 5 floats in (0, 1). "
                         f"Got {v['level_accuracy']!r} instead.")
    mean = -np.array([logit_for_accuracy(a, v["prompt_spread"]) for a in v["level_accuracy"]])
    return Scenario.from_levels(
        "math-pool", chain_loadings(n, v["transfer"]), mean, v["prompt_spread"], v["prompts_per_level"],
        v["eval_prompts"], distributions=tuple(f"level {k}" for k in range(1, 6)), pool_seed=v["pool_seed"],
        learning_rate=v["learning_rate"], batch_size=v["batch_size"], group_size=v["group_size"],
        steps=v["steps"], arm_level="prompt", target=0.5, params=v, description=math_pool.__doc__)


def drift(**params):
    """Non-stationary: two task families that interfere, and forgetting.

    Six distributions, A1..A3 and B1..B3 (easy, medium, hard in each family). Skills:
    one shared skill that family A loads with +sqrt(interference) and family B with
    -sqrt(interference) (what helps A hurts B: e.g. two answer formats), plus one
    skill per family that all its members load with sqrt(1 - interference). Every
    step all skills decay toward their step-0 values by ``forgetting``, so a family
    left alone loses what it learned: success rates drift, and a scheduler must
    keep revisiting. Default arm level: distribution.
    """
    v = _resolve("drift", params)
    a, b = np.sqrt(v["interference"]), np.sqrt(1.0 - v["interference"])
    loadings = np.array([[a, b, 0.0]] * 3 + [[-a, 0.0, b]] * 3)
    mean = -np.array([1.0, -0.5, -2.0, 1.0, -0.5, -2.0])
    return Scenario.from_levels(
        "drift", loadings, mean, v["prompt_spread"], v["prompts_per_distribution"], v["eval_prompts"],
        distributions=("A1", "A2", "A3", "B1", "B2", "B3"), pool_seed=v["pool_seed"],
        learning_rate=v["learning_rate"], forgetting=v["forgetting"], batch_size=v["batch_size"],
        group_size=v["group_size"], steps=v["steps"], arm_level="distribution", target=0.5, params=v,
        description=drift.__doc__)


SCENARIOS = {"kk12": kk12, "math-pool": math_pool, "drift": drift}


def available_scenarios():
    """Names of the preset scenarios, sorted."""
    return sorted(SCENARIOS)


def make_scenario(name, **params):
    """Build preset ``name`` with parameter overrides, e.g. ``make_scenario("kk12", transfer=0.5)``."""
    if name not in SCENARIOS:
        raise ValueError(f"Unknown scenario {name!r}. Presets: {', '.join(available_scenarios())}; or pass "
                         f"'module:function' / 'file.py:function' for a scenario of your own.")
    return SCENARIOS[name](**params)


def load_scenario(spec, **params):
    """A preset name, or ``module:attr`` / ``path/file.py:attr`` naming a Scenario or a
    callable returning one (called with ``params``)."""
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"A scenario must be named by a non-empty str. Got {spec!r} instead.")
    if spec in SCENARIOS or ":" not in spec:
        return make_scenario(spec, **params)
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise ValueError(f"Scenario file {target!r} does not exist.")
        module_spec = importlib.util.spec_from_file_location(os.path.basename(target)[:-3], target)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise ValueError(f"Scenario {spec!r}: {target} has no attribute {attr!r}.")
    obj = getattr(module, attr)
    if isinstance(obj, Scenario) and params:
        raise TypeError(f"Scenario {spec!r} is a Scenario object, not a function: it takes no parameters "
                        f"(got {sorted(params)}).")
    scenario = obj(**params) if callable(obj) and not isinstance(obj, Scenario) else obj
    if not isinstance(scenario, Scenario):
        raise TypeError(f"Scenario {spec!r} gave a {type(scenario).__name__}, not a sims.Scenario.")
    return scenario
