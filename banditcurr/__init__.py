"""banditcurr: bandit curriculum schedulers for RL post-training of LLMs.

    import banditcurr as bc
    s = bc.make("dump-ucb", n_arms=12, seed=0)
    arms = s.sample(128)          # which arm each batch slot draws from
    s.update(arms, rewards)       # rewards: (128, G) rollout rewards
    s.probs()                     # current sampling distribution

The core imports numpy, scipy and numba only.
"""

from ._registry import REGISTRY, available, make, scheduler_classes
from .allocation import allocate_by_weight, allocate_for, allocate_rollouts, allocate_rollouts_posterior
from .base import Scheduler
from .gates import FilledBatch, Gate, fill_batch, keep_groups, keep_mixed, parse_gate
from .knapsack import allocate_knapsack, allocate_knapsack_for
from .state_io import load_state, read_state, save_state

__version__ = "0.1.0"

# The scheduler classes (CurES, DumpUCB, ..., TwoLevel, Uniform) come from the
# registry's one list of modules (banditcurr/_registry.py).
globals().update({cls.__name__: cls for cls in scheduler_classes()})

__all__ = sorted(cls.__name__ for cls in scheduler_classes()) + [
    "REGISTRY", "Scheduler", "available", "make", "__version__",
    "allocate_by_weight", "allocate_for", "allocate_knapsack", "allocate_knapsack_for",
    "allocate_rollouts", "allocate_rollouts_posterior",
    "FilledBatch", "Gate", "fill_batch", "keep_groups", "keep_mixed", "parse_gate",
    "load_state", "read_state", "save_state"]
