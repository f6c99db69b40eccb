"""banditcurr: bandit curriculum schedulers for RL post-training of LLMs.

    import banditcurr as bc
    s = bc.make("dump-ucb", n_arms=12, seed=0)
    arms = s.sample(128)          # which arm each batch slot draws from
    s.update(arms, rewards)       # rewards: (128, G) rollout rewards
    s.probs()                     # current sampling distribution

The core imports numpy, scipy and numba only.
"""

from ._registry import REGISTRY, available, make
from .allocation import allocate_by_weight, allocate_for, allocate_rollouts, allocate_rollouts_posterior
from .base import Scheduler
from .cures import CurES
from .dump_ucb import DumpUCB
from .exp3s import Exp3S
from .gates import FilledBatch, fill_batch, keep_mixed
from .learnability import Learnability
from .plr import PLR
from .sec import SEC
from .state_io import load_state, read_state, save_state
from .thompson import Thompson
from .tscl import TSCL
from .two_level import TwoLevel
from .uniform import Uniform

__version__ = "0.1.0"

__all__ = ["CurES", "DumpUCB", "Exp3S", "Learnability", "PLR", "REGISTRY", "SEC", "Scheduler", "TSCL",
           "Thompson", "TwoLevel", "Uniform", "available", "make", "__version__",
           "allocate_by_weight", "allocate_for", "allocate_rollouts", "allocate_rollouts_posterior",
           "FilledBatch", "fill_batch", "keep_mixed", "load_state", "read_state", "save_state"]
