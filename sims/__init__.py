"""banditcurr.sims: synthetic GRPO learners for offline scheduler studies.

    from banditcurr import sims
    scenario = sims.make_scenario("kk12")                   # or your own sims.Scenario
    runs = [sims.simulate(scenario, name, seeds=100) for name in ("uniform", "dump-ucb")]
    table = sims.compare(runs)                              # metrics with 95% intervals

The learner is GRPO on a parametric Bernoulli policy (``docs/simulator.md``); the
engine runs seeds in parallel in compiled code, calling the same scheduler kernels
as ``banditcurr.make`` (``simulate.py``, ``_engine.py``).
"""

from .metrics import compare, summarize
from .presets import PRESET_PARAMS, SCENARIOS, available_scenarios, load_scenario, make_scenario
from .scenario import ARM_LEVELS, Scenario, chain_loadings
from .schedulers import DEFAULT_ARM_LEVELS, FixedSchedule, parse_spec
from .simulate import ALLOCATIONS, ENGINES, GATES, SimulationResult, simulate

__all__ = [
    "ALLOCATIONS", "ARM_LEVELS", "DEFAULT_ARM_LEVELS", "ENGINES", "FixedSchedule", "GATES", "PRESET_PARAMS", "SCENARIOS",
    "Scenario", "SimulationResult", "available_scenarios", "chain_loadings", "compare", "load_scenario",
    "make_scenario", "parse_spec", "simulate", "summarize",
]
