"""The registry: ONE ordered list of scheduler modules, and everything derived from it.

    SCHEDULER_MODULES    the list, in kind order (package-relative module names; a dotted
                         name is absolute: tests/test_architecture.py adds a toy so)
    REGISTRY             name -> (class, preset hyperparameters); ``make``, ``available``
    KERNELS              the compiled kernels by integer kind (position in the list)
    banditcurr.__all__   the scheduler classes
    banditcurr._dispatch the runtime-kind dispatch of composites, generated from the
                         list by ``python -m banditcurr._gen_dispatch`` (a test fails
                         when it is stale)

A scheduler module defines exactly one :class:`~banditcurr.base.Scheduler` subclass;
its ``name`` is its registry name. Adding a scheduler is one module plus one entry
here (and regenerating ``_dispatch.py``); a preset of an existing class is one entry
in ``PRESETS``. Composites (``composite = True``, e.g. two-level) come after the plain
schedulers: their kernels call the plain ones through ``_dispatch`` (leaf kinds, the
plain modules' positions, so the same numbers as here for the package's list).
"""

import difflib
import importlib
import inspect

from .base import Scheduler

SCHEDULER_MODULES = ["uniform", "dump_ucb", "cures", "sec", "exp3s", "tscl", "plr", "thompson", "learnability",
                     "greso", "retire", "vcrl", "adarft", "e2h",
                     "two_level"]

#: Registered presets: name -> (module of the class, hyperparameters over its defaults).
PRESETS = {"sfl": ("learnability", {"uniform_mix": 0.5})}

REGISTRY = {}
KERNELS = []  # kind -> Kernels
MODULES = []  # kind -> module


def _module(name):
    return importlib.import_module(name if "." in name else f"{__package__}.{name}")


def scheduler_of(module):
    """The one Scheduler subclass ``module`` defines (a clear error otherwise)."""
    found = [obj for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, Scheduler) and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise TypeError(f"A scheduler module defines exactly one Scheduler subclass; {module.__name__} defines "
                        f"{len(found)}: {[c.__name__ for c in found]}.")
    return found[0]


def register_module(name):
    """Register the scheduler of module ``name`` (what one list entry does) with the
    next kind; return its class. Used for the list below and by tests that add a module."""
    module = _module(name)
    cls = scheduler_of(module)
    if cls.name in REGISTRY:
        raise ValueError(f"Two schedulers are named {cls.name!r}: {REGISTRY[cls.name][0].__qualname__} and "
                         f"{cls.__qualname__}.")
    REGISTRY[cls.name] = (cls, {})
    KERNELS.append(cls.kernels)
    MODULES.append(module)
    if name not in SCHEDULER_MODULES:
        SCHEDULER_MODULES.append(name)
    return cls


def scheduler_classes():
    """The registered scheduler classes, in list order."""
    return [scheduler_of(module) for module in MODULES]


def kind_of(scheduler):
    """The integer kind of a scheduler (instance or class): its module's position in
    SCHEDULER_MODULES, the key of the compiled dispatch."""
    kernels = scheduler.kernels
    for kind, candidate in enumerate(KERNELS):
        if candidate is kernels:
            return kind
    name = type(scheduler).__name__ if not inspect.isclass(scheduler) else scheduler.__name__
    raise ValueError(f"{name} has no compiled kind: its module is not in banditcurr._registry.SCHEDULER_MODULES "
                     f"(a scheduler added with bc.REGISTRY[name] = ... runs through its class, not the simulator).")


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


for _name in tuple(SCHEDULER_MODULES):
    register_module(_name)
for _preset, (_name, _values) in PRESETS.items():
    REGISTRY[_preset] = (scheduler_of(_module(_name)), dict(_values))
