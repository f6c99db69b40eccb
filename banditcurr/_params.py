"""Declared hyperparameters: validation with errors people can act on.

Each scheduler lists its hyperparameters as ``Param`` objects. They check a value,
explain a bad one ("The 'window' parameter of DumpUCB must be an int >= 1. Got 0
instead."), and pack it into the float64 array that the kernels read.
"""

import math
import os
from dataclasses import dataclass

import numpy as np

#: The largest size-like integer any call accepts (arms, window lengths, batch sizes):
#: 2**40, so products of two sizes stay far inside int64 in the kernels.
MAX_SIZE = 2**40
#: The largest pool ratio r: a pool of r * B candidates stays below 2**60 for any batch B.
MAX_POOL_RATIO = 2**20


@dataclass(frozen=True)
class Param:
    """One hyperparameter: name, default, type and allowed range or choices.

    ``kind`` is "float", "int", "bool" or "choice". Ranges are closed unless
    ``low_open``/``high_open``. ``none_means`` lets None stand for a packed value
    (e.g. "no pool" packed as 0). ``doc`` is the one-line help shown in docs and CLIs.
    """

    name: str
    default: object
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    none_means: float | None = None
    doc: str = ""
    #: "parameter" (a hyperparameter) or "argument" (a function's, see ``argument``)
    noun: str = "parameter"

    def _allowed(self, implicit_cap=False):
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices) + (" or None" if self.none_means is not None
                                                                           else "")
        noun = {"float": "a float", "int": "an int", "bool": "a bool"}[self.kind]
        number = "{:d}" if self.kind == "int" else "{:g}"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} " + number.format(self.low))
        high = self._high() if implicit_cap else self.high  # MAX_SIZE is named when it is the problem
        if high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} " + number.format(high))
        text = noun + (" " + " and ".join(bounds) if bounds else "")
        if self.none_means is not None:
            text += " or None"
        return text

    def allowed(self):
        """What is allowed, in the words of the error messages (e.g. "an int >= 1")."""
        return self._allowed()

    def _high(self):
        """The upper bound: ``high``, and at most MAX_SIZE for an int (a size)."""
        if self.kind == "int":
            return MAX_SIZE if self.high is None else min(self.high, MAX_SIZE)
        return self.high

    def problem(self, owner, value):
        """The message for a bad ``value``: the name, the owner, what is allowed, the value."""
        where = f" of {owner}" if owner else ""
        return f"The {self.name!r} {self.noun}{where} must be {self._allowed()}. Got {value!r} instead."

    def check(self, owner, value):
        """Return ``value`` packed as a float; raise a clear error if it is invalid."""
        if value is None and self.none_means is not None:
            return float(self.none_means)
        problem = self.problem(owner, value)
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(problem)
            return float(self.choices.index(value))
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(problem)
            return float(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(problem)
        if self.kind == "int" and not (isinstance(value, (int, np.integer)) or float(value).is_integer()):
            raise TypeError(problem)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(problem)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError(problem)
        high = self._high()
        if high is not None and (value > high or (self.high_open and value == high)):
            raise ValueError(problem.replace(self._allowed(), self._allowed(implicit_cap=True), 1))
        return value


def _machine_memory():
    """Bytes of physical memory (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes(n):
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


_MEMORY = _machine_memory()


def check_memory(what, n_bytes, fix=""):
    """Refuse, before allocating, ``n_bytes`` that exceed this machine's memory:
    a ValueError naming ``what`` needs them, the bytes, and ``fix``."""
    limit = _MEMORY
    if limit is not None and n_bytes > limit:
        raise ValueError(f"{what} needs {n_bytes} bytes ({_bytes(n_bytes)}) of memory, more than this "
                         f"machine's {limit} bytes ({_bytes(limit)}).{' ' + fix if fix else ''}")


def argument(name, kind="float", **spec):
    """The declaration of a function's argument: a :class:`Param` whose messages say
    "argument" (``spec``: low, high, low_open, high_open, choices, none_means, doc;
    ``none_means`` set = None accepted)."""
    return Param(name, None, kind, noun="argument", **spec)


def check_arguments(owner, declarations, values):
    """The one validator of function arguments: each ``values[name]`` checked against
    its declaration (``argument``) and returned as a plain Python value (int, float,
    bool, the chosen item, or None where the declaration accepts it). A wrong type is
    a TypeError (an int argument takes an int, not 3.0), a value outside the range or
    the choices, NaN and infinities included, a ValueError; the message names the
    argument, ``owner``, what is allowed and the value received."""
    checked = {}
    for param in declarations:
        value = values[param.name]
        param.check(owner, value)
        if param.kind == "int" and value is not None and not isinstance(value, (int, np.integer)):
            raise TypeError(param.problem(owner, value))
        checked[param.name] = value
    return plain_values(declarations, checked)


def check_size(declaration, value, owner):
    """``check_arguments`` for one size (an ``argument`` of kind "int" with a closed
    ``low``), a plain int within its bounds accepted first: the public verbs check
    ``batch_size`` on every call."""
    if type(value) is int and declaration.low <= value <= declaration._high():
        return value
    return check_arguments(owner, (declaration,), {declaration.name: value})[declaration.name]


def option_help(param, default=None):
    """The ``--help`` text of a command-line option declared by ``param``: its doc, what
    is allowed (the same words as the error for a bad value) and ``default``."""
    default = param.default if default is None else default
    text = f"{param.doc} ({param.allowed()}; default {default})" if param.doc else \
        f"{param.allowed()}; default {default}"
    return text.replace("%", "%%")


def add_option(parser, param, *, default=None, **kwargs):
    """Add ``param`` to an argparse ``parser`` as ``--name-with-dashes``: the parsed type
    and choices come from the declaration and the help from :func:`option_help`, so
    ``--help`` lists the bounds and choices the check enforces. Bounds are checked by the
    function the value reaches (the one validator), not by argparse. ``kwargs`` go to
    ``add_argument`` (e.g. metavar)."""
    if param.kind == "choice":
        kwargs.setdefault("choices", param.choices)
    else:
        kwargs.setdefault("type", {"int": int, "float": float}[param.kind])
    parser.add_argument("--" + param.name.replace("_", "-"), default=default, help=option_help(param, default),
                        **kwargs)


def pack_params(owner, params, values):
    """Validate ``values`` (a dict name -> value) against ``params``; return float64 array."""
    return np.array([p.check(owner, values[p.name]) for p in params], dtype=np.float64)


def plain_values(params, values):
    """The (already validated) ``values`` as plain Python values of each Param's kind
    (e.g. numpy ints become int), so they print, compare and serialise as JSON alike."""
    convert = {"int": int, "float": float, "bool": bool, "choice": lambda value: value}
    return {p.name: None if values[p.name] is None else convert[p.kind](values[p.name]) for p in params}
