"""Generate ``banditcurr/_dispatch.py`` from the registry's list of scheduler modules.

    python -m banditcurr._gen_dispatch          # rewrite _dispatch.py
    python -m banditcurr._gen_dispatch --check  # exit 1 if it is stale

Numba cannot call a function picked from a table at run time, so a composite (whose
parts' kinds are data) needs one if-chain per verb over the plain schedulers. Writing
those chains by hand mirrored the registry where nothing checked it; here they are
written from ``SCHEDULER_MODULES``, and ``tests/test_dispatch.py`` fails when the
file on disk differs from what this script would write.
"""

import sys
from pathlib import Path

from ._registry import REGISTRY, scheduler_classes

PATH = Path(__file__).with_name("_dispatch.py")

# verb -> its arguments after ``kind``
VERBS = {
    "init": "params, n_arms, f, i",
    "update": "params, n_arms, f, i, arms, rewards, offsets",
    "sample": "params, n_arms, f, i, rng, out",
    "probs": "params, n_arms, f, i, out",
}

HEADER = '''"""Runtime-kind dispatch over the plain schedulers: GENERATED, do not edit.

Written by ``python -m banditcurr._gen_dispatch`` from
``banditcurr._registry.SCHEDULER_MODULES``; ``tests/test_dispatch.py`` fails when it is
stale. A composite scheduler (two-level) holds its parts as integer kinds in its
params and calls their kernels through the ``*_leaf`` verbs here; the leaf kind of a
plain scheduler is its position in ``KINDS`` (the same number as
``banditcurr._registry.kind_of``, since composites come last in the list). Composites
cannot nest: Numba cannot type a chain that calls itself. The simulator does not use
these chains; its engine takes the scheduler's kernels as first-class functions
(``banditcurr._compiled``).
"""
'''


def _kernel_name(cls, verb):
    """The module-level name of ``cls``'s ``verb`` kernel (what the chain calls)."""
    module = sys.modules[cls.__module__]
    kernel = getattr(cls.kernels, verb)
    names = sorted(name for name, value in vars(module).items() if value is kernel)
    if not names:
        raise ValueError(f"{cls.__name__}'s {verb} kernel is not a global of {module.__name__}: define it at "
                         f"module level (e.g. _{verb}) so that the dispatch can call it.")
    return f"_{verb}" if f"_{verb}" in names else names[0]


def render():
    """The text of ``_dispatch.py`` for the current registry."""
    classes = [cls for cls in scheduler_classes() if not cls.composite]
    modules = [cls.__module__.rpartition(".")[2] for cls in classes]
    lines = [HEADER, f"from . import {', '.join(sorted(modules))}", "from ._jit import jit", "",
             "#: leaf kind -> Kernels", "KINDS = ("]
    lines += [f"    {m}.{c.__name__}.kernels," for m, c in zip(modules, classes)]
    lines.append(")")
    lines += ["", "#: the registered names of the plain schedulers -> (class, preset), for composites' arguments",
              "NAMED = {"]
    for name, (cls, preset) in REGISTRY.items():
        if cls in classes:
            lines.append(f"    {name!r}: ({modules[classes.index(cls)]}.{cls.__name__}, {preset!r}),")
    lines.append("}")
    for verb, arguments in VERBS.items():
        lines += ["", "", "@jit", f"def {verb}_leaf(kind, {arguments}):"]
        for kind, (module, cls) in enumerate(zip(modules, classes)):
            keyword = "if" if kind == 0 else "elif"
            lines += [f"    {keyword} kind == {kind}:", f"        {module}.{_kernel_name(cls, verb)}({arguments})"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        stale = PATH.read_text() != text
        print(f"{PATH} is {'stale: run python -m banditcurr._gen_dispatch' if stale else 'up to date'}")
        return int(stale)
    PATH.write_text(text)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
