"""banditcurr.sims: synthetic GRPO learners for offline scheduler studies.

    from banditcurr import sims
    scenario = sims.make_scenario("kk12")                   # or your own sims.Scenario
    runs = [sims.simulate(scenario, name, seeds=100) for name in ("uniform", "dump-ucb")]
    table = sims.compare(runs)                              # metrics with 95% intervals

The learner is GRPO on a parametric Bernoulli policy (``docs/simulator.md``); the
engine runs seeds in parallel in compiled code, calling the same scheduler kernels
as ``banditcurr.make`` (``simulate.py``, ``_engine.py``).
"""

if __name__ != "banditcurr.sims":  # e.g. `import sims` with the repository root on sys.path
    raise ImportError("The folder sims/ is the package banditcurr.sims: use `from banditcurr import sims`. "
                      "A top-level `import sims` would load a second copy of it, outside banditcurr's "
                      "kernel cache stamps.")

from .metrics import compare, summarize
from .presets import PRESET_PARAMS, SCENARIOS, available_scenarios, load_scenario, make_scenario
from .scenario import ARM_LEVELS, Scenario, chain_loadings
from .schedulers import FixedSchedule, parse_spec
from .simulate import ALLOCATIONS, ENGINES, GATES, SimulationResult, simulate

__all__ = [
    "ALLOCATIONS", "ARM_LEVELS", "ENGINES", "FixedSchedule", "GATES", "PRESET_PARAMS", "SCENARIOS",
    "Scenario", "SimulationResult", "available_scenarios", "chain_loadings", "compare", "load_scenario",
    "make_scenario", "parse_spec", "simulate", "summarize",
]
