"""The description of a post-rollout gate: :class:`Gate` and its spec strings.

One description, validated once with ``banditcurr._params`` declarations, used by
``banditcurr.fill_batch`` (``gate=``), the simulator (``--gate``) and the LLM loop
(``gate``). The kinds, their rules and sources are in ``banditcurr.gates``; the integer
codes (``GATE_CODES``) are what kernels read.
"""

from dataclasses import dataclass

from ._params import argument

GATE_NONE, GATE_MIXED, GATE_BAND, GATE_STD = 0, 1, 2, 3
#: gate kinds by name, and their integer codes in kernels (the simulator's engine uses the same)
GATE_CODES = {"none": GATE_NONE, "mixed": GATE_MIXED, "band": GATE_BAND, "std": GATE_STD}
_ALIASES = {"dynamic-sampling": "mixed"}
_KIND = argument("kind", "choice", choices=tuple(GATE_CODES) + tuple(_ALIASES), doc="what a kept group satisfies")
#: the bounds of each banded kind, and their defaults (None: must be given)
GATE_BOUNDS = {
    "band": (argument("lo", low=0.0, high=1.0, doc="lowest pass rate kept"),
             argument("hi", low=0.0, high=1.0, doc="highest pass rate kept")),
    "std": (argument("lo", low=0.0, doc="lowest reward std kept"),
            argument("hi", low=0.0, doc="highest reward std kept")),
}
_DEFAULT_BOUNDS = {"band": (0.25, 0.75), "std": (None, None)}


@dataclass(frozen=True)
class Gate:
    """A post-rollout gate: ``kind`` ("none", "mixed", "band", "std"; "dynamic-sampling"
    = "mixed") and, for the bands, ``lo`` <= statistic <= ``hi`` (band: group mean,
    default [0.25, 0.75], arXiv 2504.03380; std: group population std, no default).
    Checked once on construction; ``spec`` is its canonical string, ``parse_gate`` the inverse.

    >>> Gate("band").spec
    'band:lo=0.25,hi=0.75'
    """

    kind: str = "mixed"
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self):
        _KIND.check("Gate", self.kind)
        kind = _ALIASES.get(self.kind, self.kind)
        object.__setattr__(self, "kind", kind)
        if kind not in GATE_BOUNDS:
            if self.lo is not None or self.hi is not None:
                raise ValueError(f"The {kind!r} gate takes no bounds. Got lo={self.lo!r}, hi={self.hi!r}; "
                                 f"use a 'band' or 'std' gate for a range.")
            return
        bounds = [(param, value if value is not None else default) for param, value, default in
                  zip(GATE_BOUNDS[kind], (self.lo, self.hi), _DEFAULT_BOUNDS[kind])]
        for param, value in bounds:
            if value is None:
                raise ValueError(f"The {param.name!r} bound of a {kind!r} gate has no default: give both, "
                                 f"e.g. '{kind}:lo=0.1,hi=0.4'.")
            param.check(f"a {kind!r} gate", value)
        lo, hi = (float(value) for _, value in bounds)
        if lo > hi:
            raise ValueError(f"The bounds of a {kind!r} gate must satisfy lo <= hi. Got lo={lo!r}, hi={hi!r}.")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def code(self):
        """The kind's integer code in the kernels (``GATE_CODES``)."""
        return GATE_CODES[self.kind]

    @property
    def bounds(self):
        """(low, high) as floats for the kernels (0, 0 where the kind has none)."""
        return (self.lo, self.hi) if self.kind in GATE_BOUNDS else (0.0, 0.0)

    @property
    def spec(self):
        """The canonical spec string: "none", "mixed", "band:lo=0.25,hi=0.75", ..."""
        if self.kind in GATE_BOUNDS:
            return f"{self.kind}:lo={self.lo!r},hi={self.hi!r}"
        return self.kind


def parse_gate(spec, owner="gate"):
    """A :class:`Gate` from a Gate or a spec string ``KIND[:lo=X,hi=Y]`` ("none",
    "mixed", "dynamic-sampling", "band", "band:lo=0.2,hi=0.8", "std:lo=0.1,hi=0.4");
    a TypeError/ValueError naming ``owner`` and the problem otherwise."""
    if isinstance(spec, Gate):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"The 'gate' argument of {owner} must be a Gate or a spec string such as 'none', "
                        f"'dynamic-sampling', 'band:lo=0.25,hi=0.75'. Got {spec!r} instead.")
    kind, _, rest = spec.strip().partition(":")
    bounds = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or key not in ("lo", "hi") or key in bounds:
            raise ValueError(f"The 'gate' spec {spec!r} of {owner} has a bad setting {item!r}: write "
                             f"KIND:lo=X,hi=Y, each once (e.g. 'band:lo=0.25,hi=0.75').")
        try:
            bounds[key] = float(text)
        except ValueError:
            raise ValueError(f"The {key!r} bound in the 'gate' spec {spec!r} of {owner} must be a number. "
                             f"Got {text.strip()!r}.") from None
    try:
        return Gate(kind.strip(), **bounds)
    except (TypeError, ValueError) as error:
        raise type(error)(f"The 'gate' spec {spec!r} of {owner} is invalid: {error}") from None
