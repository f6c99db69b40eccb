"""The registry: scheduler names -> (class, preset hyperparameters).

A scheduler is one module plus one line here. ``make`` and ``available`` read it.
"""

import difflib

from .cures import CurES
from .dump_ucb import DumpUCB
from .exp3s import Exp3S
from .learnability import Learnability
from .plr import PLR
from .sec import SEC
from .thompson import Thompson
from .tscl import TSCL
from .two_level import TwoLevel
from .uniform import Uniform

REGISTRY = {
    "uniform": (Uniform, {}),
    "dump-ucb": (DumpUCB, {}),
    "cures": (CurES, {}),
    "two-level": (TwoLevel, {}),
    "sec": (SEC, {}),
    "exp3s": (Exp3S, {}),
    "tscl": (TSCL, {}),
    "plr": (PLR, {}),
    "thompson": (Thompson, {}),
    "learnability": (Learnability, {}),
    "sfl": (Learnability, {"uniform_mix": 0.5}),
}


def available():
    """Names of all registered schedulers, sorted."""
    return sorted(REGISTRY)


def make(name, n_arms, seed=None, **hyperparameters):
    """Create the scheduler registered as ``name`` over ``n_arms`` arms.

    ``hyperparameters`` override the preset's. Example: ``make("dump-ucb", 12, seed=0)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"The 'name' argument of make must be a str, one of: {', '.join(available())}. "
                        f"Got {name!r} ({type(name).__name__}).")
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown scheduler {name!r}.{hint} Known schedulers: {', '.join(available())}.")
    cls, preset = REGISTRY[name]
    return cls(n_arms, seed=seed, **{**preset, **hyperparameters})


def scheduler_class(name):
    """The scheduler class whose ``name`` attribute is ``name`` (what ``state_dict``
    records), e.g. ``"learnability"`` for both the ``learnability`` and ``sfl`` presets."""
    for cls, _ in REGISTRY.values():
        if cls.name == name:
            return cls
    raise ValueError(f"The state names the scheduler {name!r}, which this banditcurr does not know. "
                     f"Known schedulers: {', '.join(available())}.")
