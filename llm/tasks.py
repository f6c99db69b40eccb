"""Tasks: distributions of verifiable problems, grouped into families with a difficulty level.

A *distribution* makes problems and scores completions:

    class Distribution:
        name: str                                   # "addition-3": also the metric key
        def generate(self, n, seed) -> list[Problem]   # deterministic in seed
        def reward(self, completion, problem) -> float # the verifier, in [0, 1]
        def target(self, problem) -> str               # a completion earning reward 1

A *family* turns a difficulty level into a distribution; a task spec in the config,
``"addition:1-6"`` or ``"knights_knaves:3-8"``, names a family and a range of levels
(one distribution per level). Any reasoning-gym dataset works too, with the level
bound to one of its parameters: ``"rg/leg_counting:max_animals=2-5"``.

Adding your own takes a few lines (import the module through the config's ``plugins``):

    from banditcurr.llm.tasks import Distribution, Problem, register

    class Multiply(Distribution):
        def __init__(self, digits):
            self.name, self.digits = f"multiply-{digits}", digits
        def generate(self, n, seed):
            rng = np.random.default_rng(seed)
            a, b = (rng.integers(10 ** (self.digits - 1), 10 ** self.digits, n) for _ in range(2))
            return [Problem(f"{x}*{y}=", str(x * y)) for x, y in zip(a, b)]

    register("multiply", Multiply)

``Distribution.reward`` defaults to an exact match of the stripped completion with
``problem.answer``; ``target`` defaults to ``problem.answer``.
"""

import abc
import difflib
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One prompt with what its verifier needs: the reference ``answer`` and, for
    reasoning-gym, the dataset ``entry`` (question, answer, metadata)."""

    prompt: str
    answer: str
    entry: dict = field(default=None, compare=False, repr=False)


class Distribution(abc.ABC):
    """Base of every distribution (see the module doc); subclasses set ``name`` and
    implement ``generate``; the default verifier is an exact match."""

    name = ""

    @abc.abstractmethod
    def generate(self, n, seed):
        """``n`` problems (a list of :class:`Problem`), the same for the same ``seed``."""

    def reward(self, completion, problem):
        return 1.0 if completion.strip() == problem.answer else 0.0

    def target(self, problem):
        return problem.answer

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class Addition(Distribution):
    """Sum of two ``digits``-digit numbers, every number written least-significant
    digit first: 123 + 456 = 579 is the prompt ``"321+654="`` and the answer ``"975"``.
    Digit i of the answer then depends on digit i of each operand and on the carry
    just written, at a fixed distance within a level, which a small transformer learns
    far sooner than the usual order (reversed outputs: Lee et al. 2023, "Teaching
    arithmetic to small transformers"). ``reverse=False`` writes everything in the
    usual order. Reward 1 for the exact answer, else 0."""

    def __init__(self, digits, reverse=True):
        if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or not 1 <= digits <= 18:
            raise ValueError(f"The 'digits' level of addition must be an int in 1..18. Got {digits!r}.")
        self.digits, self.reverse = int(digits), bool(reverse)
        self.name = f"addition-{self.digits}"

    def generate(self, n, seed):
        rng = np.random.default_rng(seed)
        low = 0 if self.digits == 1 else 10 ** (self.digits - 1)
        a = rng.integers(low, 10 ** self.digits, size=n)
        b = rng.integers(low, 10 ** self.digits, size=n)
        order = slice(None, None, -1) if self.reverse else slice(None)
        return [Problem(f"{str(x)[order]}+{str(y)[order]}=", str(x + y)[order]) for x, y in zip(a.tolist(), b.tolist())]


class Multiplication(Distribution):
    """Product of a ``digits``-digit number and a one-digit number 2..9, written
    least-significant digit first like :class:`Addition`: 123 * 7 = 861 is the prompt
    ``"321*7="`` and the answer ``"168"``. Digit i of the answer is a_i * b plus the
    carry just written (at most 8), so level n+1 is level n with one more step of the
    same carry chain: the levels build on each other. Reward 1 for the exact answer."""

    def __init__(self, digits):
        if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or not 1 <= digits <= 18:
            raise ValueError(f"The 'digits' level of multiplication must be an int in 1..18. Got {digits!r}.")
        self.digits = int(digits)
        self.name = f"multiplication-{self.digits}"

    def generate(self, n, seed):
        rng = np.random.default_rng(seed)
        a = rng.integers(0 if self.digits == 1 else 10 ** (self.digits - 1), 10 ** self.digits, size=n)
        b = rng.integers(2, 10, size=n)
        return [Problem(f"{str(x)[::-1]}*{y}=", str(x * y)[::-1]) for x, y in zip(a.tolist(), b.tolist())]


ANSWER_INSTRUCTION = "\nGive only the final answer between <answer> and </answer>."


class ReasoningGym(Distribution):
    """A reasoning-gym dataset at fixed parameters (one difficulty level).

    Problems are ``reasoning_gym.create_dataset(dataset, size=n, seed=seed, **params)``;
    the verifier takes the text inside the last ``<answer>...</answer>`` of the
    completion and scores it with the dataset's own ``score_answer`` (0 when the tags
    are missing). The prompt is the question plus ``instruction``.
    """

    def __init__(self, dataset, params, name, instruction=ANSWER_INSTRUCTION):
        import reasoning_gym  # light import; checks the dataset name and parameters now

        self.dataset, self.params, self.name, self.instruction = dataset, dict(params), name, instruction
        try:
            self._scorer = reasoning_gym.create_dataset(dataset, size=1, seed=0, **self.params)
        except Exception as error:  # reasoning-gym raises assorted types for bad configs
            raise ValueError(f"reasoning-gym rejected dataset {dataset!r} with parameters {self.params}: "
                             f"{error}") from error

    def generate(self, n, seed):
        import reasoning_gym

        data = reasoning_gym.create_dataset(self.dataset, size=n, seed=seed, **self.params)
        return [Problem(entry["question"] + self.instruction, str(entry["answer"]), entry) for entry in data]

    def reward(self, completion, problem):
        from reasoning_gym.utils import extract_answer

        answer = extract_answer(completion)
        if answer is None:
            return 0.0
        return float(self._scorer.score_answer(answer, problem.entry))

    def target(self, problem):
        return f"<answer>{problem.answer}</answer>"


def _rg_family(dataset, level_params):
    """A family over a reasoning-gym dataset: level -> parameters via ``level_params``."""

    def build(level):
        return ReasoningGym(dataset, level_params(level), f"{dataset}-{level}")

    build.__doc__ = f"reasoning-gym {dataset!r} at a difficulty level"
    return build


#: family name -> callable(level) -> Distribution. ``register`` adds to it.
FAMILIES = {
    "addition": Addition,
    "multiplication": Multiplication,
    # n_people inhabitants; nested statements kept at reasoning-gym's defaults.
    "knights_knaves": _rg_family("knights_knaves", lambda n: {"n_people": n}),
    # two terms of 1..level digits, + and - only, no parentheses.
    "basic_arithmetic": _rg_family("basic_arithmetic", lambda d: {
        "min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": d,
        "operators": ("+", "-"), "allow_parentheses": False, "allow_negation": False}),
    # reach the target with exactly `level` numbers.
    "countdown": _rg_family("countdown", lambda k: {"min_numbers": k, "max_numbers": k}),
}


def register(name, build):
    """Add a task family: ``build(level)`` returns a :class:`Distribution`."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"A task family name must be letters, digits, '_', '.', '-'. Got {name!r}.")
    if not callable(build):
        raise TypeError(f"register({name!r}, build) needs a callable build(level). Got {build!r}.")
    FAMILIES[name] = build


_SPEC = re.compile(r"^(?P<family>[A-Za-z0-9_./-]+?)(?::(?:(?P<param>[A-Za-z_][A-Za-z0-9_]*)=)?"
                   r"(?P<low>\d+)(?:-(?P<high>\d+))?)?$")


def parse_spec(spec):
    """Distributions of one task spec.

    ``"addition:1-6"`` -> addition-1 .. addition-6 (one per level); ``"addition:3"`` ->
    addition-3; ``"rg/DATASET:PARAM=LOW-HIGH"`` -> a reasoning-gym dataset with PARAM
    set to each level. Raises ValueError naming the spec and the known families.
    """
    match = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f"Task spec {spec!r} is not of the form 'family:LOW-HIGH' (e.g. 'addition:1-6') "
            f"or 'rg/DATASET:PARAM=LOW-HIGH' (e.g. 'rg/leg_counting:max_animals=2-5')."
        )
    family, param = match["family"], match["param"]
    if match["low"] is None:
        raise ValueError(f"Task spec {spec!r} names no level: write e.g. '{family}:1-3'.")
    low = int(match["low"])
    high = int(match["high"]) if match["high"] is not None else low
    if high < low:
        raise ValueError(f"Task spec {spec!r} has an empty level range {low}-{high}.")
    levels = range(low, high + 1)
    if family.startswith("rg/"):
        dataset = family[3:]
        if param is None:
            raise ValueError(f"Task spec {spec!r}: a reasoning-gym dataset needs the parameter the level sets, "
                             f"as in 'rg/{dataset}:PARAM={low}-{high}'.")
        return [ReasoningGym(dataset, {param: level}, f"{dataset}-{param}{level}") for level in levels]
    if param is not None:
        raise ValueError(f"Task spec {spec!r}: 'PARAM=' is for 'rg/DATASET' specs; family {family!r} "
                         f"has its own level parameter. Write '{family}:{low}-{high}'.")
    if family not in FAMILIES:
        close = difflib.get_close_matches(family, FAMILIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown task family {family!r} in spec {spec!r}.{hint} Known families: "
                         f"{', '.join(sorted(FAMILIES))}; or 'rg/DATASET:PARAM=LOW-HIGH' for any reasoning-gym "
                         f"dataset.")
    return [FAMILIES[family](level) for level in levels]


def parse_specs(specs):
    """All distributions of a list of task specs, names checked unique."""
    distributions = [d for spec in specs for d in parse_spec(spec)]
    names = [d.name for d in distributions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"The tasks name the distribution(s) {repeated} more than once.")
    return distributions


class TaskPool:
    """Fixed train and held-out problems of each distribution, and the arm map.

    Held-out problems are generated first; train problems whose prompt is held out
    are dropped (a level with few distinct problems, like 1-digit addition, then has a
    smaller train pool). Arms are the distributions (``arm_level="distribution"``:
    each slot then draws one train problem of that distribution uniformly) or the
    train problems themselves (``arm_level="prompt"``, numbered distribution by
    distribution).
    """

    def __init__(self, distributions, n_train, n_test, seed, arm_level="distribution"):
        self.distributions = list(distributions)
        self.names = [d.name for d in self.distributions]
        self.arm_level = arm_level
        self.train, self.test = [], []
        for index, dist in enumerate(self.distributions):
            seeds = np.random.SeedSequence([seed, index]).generate_state(2).tolist()
            test = dist.generate(n_test, seeds[0])
            held_out = {p.prompt for p in test}
            train = [p for p in dist.generate(n_train, seeds[1]) if p.prompt not in held_out]
            if not train:
                raise ValueError(f"Distribution {dist.name!r} has no train problem left after removing the "
                                 f"{n_test} held-out ones: lower n_test or use a larger level.")
            self.train.append(train)
            self.test.append(test)
        sizes = np.array([len(t) for t in self.train])
        self.prompt_offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.prompt_dist = np.repeat(np.arange(len(sizes)), sizes)

    @property
    def n_arms(self):
        return len(self.distributions) if self.arm_level == "distribution" else int(self.prompt_offsets[-1])

    def pick(self, arms, rng):
        """(distribution index, Problem) of each pulled arm; ``rng`` (a NumPy
        Generator) chooses the problem inside a distribution-level arm."""
        picked = []
        for arm in np.asarray(arms).tolist():
            if self.arm_level == "distribution":
                picked.append((arm, self.train[arm][int(rng.integers(len(self.train[arm])))]))
            else:
                dist = int(self.prompt_dist[arm])
                picked.append((dist, self.train[dist][arm - int(self.prompt_offsets[dist])]))
        return picked

    def arm_distribution(self):
        """Distribution index of every arm: int64 (n_arms,)."""
        if self.arm_level == "distribution":
            return np.arange(len(self.distributions))
        return self.prompt_dist.copy()
