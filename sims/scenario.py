"""A scenario: the synthetic world a simulated GRPO learner trains in.

The learner (see ``docs/simulator.md``) is GRPO on a Bernoulli policy with skills
``theta`` (float64, n_skills). Prompt i belongs to distribution c_i and has a
difficulty delta_i; its success probability is

    p_i = sigmoid(z_i),    z_i = loadings[c_i] . theta - delta_i

so a distribution's ``loadings`` row says which skills it exercises; two
distributions whose rows overlap transfer to each other (training one moves the
other's logits by the cosine of their rows times the step).

A :class:`Scenario` holds the arrays of one such world (a fixed training pool and a
held-out set per distribution, drawn once, like a dataset) plus the training
settings it was calibrated for. Build one directly from arrays, or with
:meth:`Scenario.from_levels` from per-distribution difficulty means and spreads;
the named presets live in ``presets.py``.
"""

from dataclasses import dataclass, field

import numpy as np

from banditcurr._params import argument, check_arguments

ARM_LEVELS = ("distribution", "prompt")
OPTIMIZERS = ("sgd", "adam")
_ARRAYS = ("loadings", "init_skills", "train_dist", "train_difficulty", "eval_difficulty")
SCENARIO_FORMAT = "banditcurr-scenario"
MAX_LOGIT = 100.0  # |difficulty| and |skill| bound: keeps exp(difficulty) finite in the engine


def _fail(name, value, allowed, error=ValueError):
    raise error(f"The {name!r} argument of Scenario must be {allowed}. Got {value!r} instead.")


def _array(name, value, ndim, dtype):
    try:
        array = np.array(value, dtype=dtype)
    except (TypeError, ValueError):
        _fail(name, value, f"a {ndim}-D array of {np.dtype(dtype).name}", TypeError)
    if array.ndim != ndim:
        raise ValueError(f"The {name!r} argument of Scenario must be {ndim}-D. Got shape {array.shape}.")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"The {name!r} argument of Scenario holds non-finite values (NaN or inf).")
    array.setflags(write=False)
    return array


#: The scalar fields of a Scenario (and of a scenario file), declared once: checked by
#: ``check_arguments`` in ``Scenario.__post_init__``, the source of tests/test_arguments.py's cases.
SCENARIO_FIELDS = (
    argument("learning_rate", low=0.0, low_open=True, doc="policy-gradient step size eta"),
    argument("forgetting", low=0.0, high=1.0, high_open=True, doc="per-step decay of the skills toward theta0"),
    argument("batch_size", "int", low=1, doc="prompts per step (B)"),
    argument("group_size", "int", low=1, doc="rollouts per prompt (G)"),
    argument("steps", "int", low=1, doc="training steps (T)"),
    argument("arm_level", "choice", choices=ARM_LEVELS, doc="arm level of schedulers without a preference"),
    argument("target", low=0.0, high=1.0, doc="default target mean accuracy"),
    argument("optimizer", "choice", choices=OPTIMIZERS, doc="the learner's update rule"),
    argument("adam_beta1", low=0.0, high=1.0, high_open=True, doc="Adam's first-moment decay"),
    argument("adam_beta2", low=0.0, high=1.0, high_open=True, doc="Adam's second-moment decay"),
    argument("adam_eps", low=0.0, low_open=True, doc="Adam's epsilon"),
    argument("memorization", low=0.0, doc="rate of the per-prompt logits (0: off)"),
    argument("update_noise", low=0.0, doc="std of the noise added to the skills after each step (0: off)"),
)
#: The scalar arguments of ``Scenario.from_levels`` (besides the fields).
FROM_LEVELS_ARGUMENTS = (
    argument("n_eval", "int", low=1, doc="held-out prompts per distribution"),
    argument("pool_seed", "int", low=0, doc="seed of the prompt pool"),
)
GROUP_SIZE = argument("group_size", "int", low=1, none_means=0, doc="rollouts per group (None: the scenario's)")


@dataclass(frozen=True, eq=False)
class Scenario:
    """A synthetic world for the simulated GRPO learner (arrays read-only).

    Attributes (C distributions, M skills, N training prompts, E held-out prompts
    per distribution):

    - ``name``: str; ``distributions``: tuple of C names.
    - ``loadings``: float64 (C, M), row c = the skills distribution c exercises.
    - ``init_skills``: float64 (M,), theta at step 0 (and the point forgetting
      decays toward).
    - ``train_dist``: int64 (N,), the distribution of each training prompt, sorted
      (prompts of one distribution are contiguous); ``train_difficulty``: float64 (N,).
    - ``eval_difficulty``: float64 (C, E), the held-out prompts' difficulties.
    - ``learning_rate``: eta in theta += eta / n_rollouts * sum_j A_j grad log pi(y_j).
    - ``forgetting``: lambda in theta <- theta0 + (1 - lambda) (theta - theta0),
      applied after each step (0 = no forgetting).
    - ``batch_size``, ``group_size``, ``steps``: the training settings the scenario
      was calibrated for (B prompts per step, G rollouts each, T steps).
    - ``arm_level``: "distribution" or "prompt", the arm level for schedulers that
      declare no preference of their own.
    - ``target``: a default target mean accuracy for steps-to-target.
    - ``params``: the preset parameters that built it (for the record).

    Learner options (``docs/simulator.md``), all off by default:

    - ``optimizer``: "sgd" (the plain GRPO step) or "adam" (the step normalised per
      skill by Adam's moment estimates, ``adam_beta1``, ``adam_beta2``, ``adam_eps``).
    - ``memorization``: eta_u >= 0, the rate of a per-prompt logit u_i added to z_i and
      learned only when prompt i is trained on (never seen by held-out prompts).
    - ``update_noise``: sigma >= 0, skills += sigma xi (xi ~ N(0, I)) after each step.
    """

    name: str
    distributions: tuple
    loadings: np.ndarray
    init_skills: np.ndarray
    train_dist: np.ndarray
    train_difficulty: np.ndarray
    eval_difficulty: np.ndarray
    learning_rate: float = 1.0
    forgetting: float = 0.0
    batch_size: int = 128
    group_size: int = 16
    steps: int = 200
    arm_level: str = "distribution"
    target: float = 0.5
    description: str = ""
    params: dict = field(default_factory=dict)
    optimizer: str = "sgd"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    memorization: float = 0.0
    update_noise: float = 0.0

    def __post_init__(self):
        put = lambda key, value: object.__setattr__(self, key, value)  # noqa: E731 (frozen)
        if not isinstance(self.name, str) or not self.name:
            _fail("name", self.name, "a non-empty str", TypeError)
        loadings = _array("loadings", self.loadings, 2, np.float64)
        n_dists, n_skills = loadings.shape
        if n_dists < 1 or n_skills < 1:
            raise ValueError(f"The 'loadings' argument of Scenario must have at least one row and column. "
                             f"Got shape {loadings.shape}.")
        if not np.all(np.linalg.norm(loadings, axis=1) > 0):
            raise ValueError("Every row of 'loadings' must have a non-zero entry: a distribution that "
                             "exercises no skill cannot be learned.")
        distributions = tuple(self.distributions)
        if len(distributions) != n_dists or not all(isinstance(d, str) for d in distributions):
            _fail("distributions", self.distributions, f"{n_dists} names (str), one per row of 'loadings'")
        init_skills = _array("init_skills", self.init_skills, 1, np.float64)
        if init_skills.shape != (n_skills,):
            raise ValueError(f"The 'init_skills' argument of Scenario must have shape ({n_skills},), one "
                             f"entry per column of 'loadings'. Got shape {init_skills.shape}.")
        train_dist = _array("train_dist", self.train_dist, 1, np.int64)
        train_difficulty = _array("train_difficulty", self.train_difficulty, 1, np.float64)
        if train_dist.shape != train_difficulty.shape:
            raise ValueError(f"'train_dist' and 'train_difficulty' must have the same shape. "
                             f"Got {train_dist.shape} and {train_difficulty.shape}.")
        if train_dist.size and (train_dist.min() < 0 or train_dist.max() >= n_dists):
            bad = train_dist.min() if train_dist.min() < 0 else train_dist.max()
            raise ValueError(f"'train_dist' holds distribution id {bad}, outside 0..{n_dists - 1}.")
        if np.any(np.diff(train_dist) < 0):
            raise ValueError("'train_dist' must be sorted (each distribution's prompts contiguous). "
                             "Sort both arrays by distribution: order = np.argsort(train_dist, kind='stable').")
        counts = np.bincount(train_dist, minlength=n_dists)
        if np.any(counts == 0):
            raise ValueError(f"Distribution {int(np.flatnonzero(counts == 0)[0])} has no training prompt; "
                             f"every distribution needs at least one.")
        eval_difficulty = _array("eval_difficulty", self.eval_difficulty, 2, np.float64)
        for key, array in (("train_difficulty", train_difficulty), ("eval_difficulty", eval_difficulty),
                           ("init_skills", init_skills)):
            if array.size and np.abs(array).max() > MAX_LOGIT:
                worst = float(array.flat[np.abs(array).argmax()])
                raise ValueError(f"The {key!r} argument of Scenario holds {worst!r}; "
                                 f"logits and difficulties must lie within +-{MAX_LOGIT:g} (sigmoid(100) = 1 "
                                 f"to 44 digits).")
        if eval_difficulty.shape[0] != n_dists or eval_difficulty.shape[1] < 1:
            raise ValueError(f"The 'eval_difficulty' argument of Scenario must have shape ({n_dists}, E >= 1). "
                             f"Got shape {eval_difficulty.shape}.")
        for key, array in [("loadings", loadings), ("init_skills", init_skills), ("train_dist", train_dist),
                           ("train_difficulty", train_difficulty), ("eval_difficulty", eval_difficulty)]:
            put(key, array)
        put("distributions", distributions)
        for key, value in check_arguments("Scenario", SCENARIO_FIELDS,
                                          {p.name: getattr(self, p.name) for p in SCENARIO_FIELDS}).items():
            put(key, value)
        put("params", dict(self.params))

    # -- derived sizes ------------------------------------------------------------

    @property
    def n_distributions(self):
        return self.loadings.shape[0]

    @property
    def n_skills(self):
        return self.loadings.shape[1]

    @property
    def n_prompts(self):
        return self.train_dist.shape[0]

    def pool_bounds(self):
        """(start, count) int64 arrays: distribution c's prompts are
        ``start[c] .. start[c] + count[c] - 1``."""
        count = np.bincount(self.train_dist, minlength=self.n_distributions).astype(np.int64)
        start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
        return start, count

    def n_arms(self, arm_level):
        """Number of arms a scheduler sees at ``arm_level``."""
        if arm_level not in ARM_LEVELS:
            raise ValueError(f"The 'arm_level' argument must be one of {ARM_LEVELS}. Got {arm_level!r} instead.")
        return self.n_distributions if arm_level == "distribution" else self.n_prompts

    def initial_accuracy(self):
        """Held-out accuracy per distribution at step 0: float64 (C,)."""
        z = self.loadings @ self.init_skills
        return (1.0 / (1.0 + np.exp(-(z[:, None] - self.eval_difficulty)))).mean(axis=1)

    def initial_zero_variance(self, group_size=None):
        """Probability that a group of ``group_size`` rollouts of a uniformly drawn
        training prompt is all-success or all-failure at step 0 (exact, no sampling)."""
        g = check_arguments("initial_zero_variance", (GROUP_SIZE,), {"group_size": group_size})["group_size"]
        g = self.group_size if g is None else g
        z = self.loadings[self.train_dist] @ self.init_skills - self.train_difficulty
        p = 1.0 / (1.0 + np.exp(-z))
        return float(np.mean(p ** g + (1.0 - p) ** g))

    def summary(self):
        """A short human-readable description with the step-0 figures."""
        acc = self.initial_accuracy()
        lines = [f"{self.name}: {self.n_distributions} distributions, {self.n_prompts} training prompts, "
                 f"{self.n_skills} skills; B={self.batch_size}, G={self.group_size}, T={self.steps}, "
                 f"eta={self.learning_rate:g}, forgetting={self.forgetting:g}",
                 "step-0 held-out accuracy: " + ", ".join(f"{d} {a:.2f}" for d, a in zip(self.distributions, acc)),
                 f"step-0 zero-variance group probability (uniform prompt): {self.initial_zero_variance():.2f}"]
        if self.learner_options():
            lines.append("learner options: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                         for k, v in self.learner_options().items()))
        return "\n".join(lines)

    def learner_options(self):
        """The learner options that are on, as a dict (empty for the plain learner)."""
        options = {}
        if self.optimizer != "sgd":
            options.update(optimizer=self.optimizer, adam_beta1=self.adam_beta1, adam_beta2=self.adam_beta2,
                           adam_eps=self.adam_eps)
        if self.memorization > 0.0:
            options["memorization"] = self.memorization
        if self.update_noise > 0.0:
            options["update_noise"] = self.update_noise
        return options

    # -- JSON -------------------------------------------------------------------------

    def to_dict(self):
        """A JSON-ready dict of every field (arrays as lists); ``from_dict`` inverts it
        exactly (floats survive JSON's shortest repr)."""
        document = {"format": SCENARIO_FORMAT, "version": 1}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            document[name] = value.tolist() if isinstance(value, np.ndarray) else \
                list(value) if isinstance(value, tuple) else value
        return document

    @classmethod
    def from_dict(cls, document):
        """The Scenario of a ``to_dict`` document (checked like any Scenario)."""
        if not isinstance(document, dict) or document.get("format") != SCENARIO_FORMAT:
            raise ValueError(f"Not a scenario document: expected a dict with format {SCENARIO_FORMAT!r} "
                             f"(written by Scenario.save or banditcurr calibrate).")
        unknown = sorted(set(document) - set(cls.__dataclass_fields__) - {"format", "version"})
        if unknown:
            import difflib

            hints = [name + "".join(f" (did you mean {close!r}?)" for close in
                                    difflib.get_close_matches(name, cls.__dataclass_fields__, n=1)) for name in unknown]
            raise ValueError(f"The scenario document has unknown field(s): {', '.join(hints)}. "
                             f"Fields: {', '.join(cls.__dataclass_fields__)}.")
        fields = {k: v for k, v in document.items() if k in cls.__dataclass_fields__}
        missing = sorted(set(_ARRAYS) - set(fields))
        if missing:
            raise ValueError(f"The scenario document lacks the array(s) {missing}.")
        return cls(**fields)

    def save(self, path):
        """Write ``to_dict()`` as JSON to ``path`` atomically (banditcurr._atomic)."""
        import json

        from banditcurr._atomic import write_text_atomically

        write_text_atomically(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path):
        """The Scenario saved at ``path`` (``save``, ``banditcurr calibrate --out``)."""
        import json

        with open(path) as handle:
            try:
                document = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(document)

    # -- builders -------------------------------------------------------------------

    @classmethod
    def from_levels(cls, name, loadings, difficulty_mean, difficulty_spread, n_train, n_eval, *,
                    init_skills=None, distributions=None, pool_seed=0, **settings):
        """Draw a scenario's prompts: prompt difficulties of distribution c are
        Normal(difficulty_mean[c], difficulty_spread[c]), n_train[c] training and
        n_eval held-out ones, from ``pool_seed`` (the dataset is fixed; simulation
        seeds vary the training randomness only).

        ``init_skills`` defaults to zeros (then -difficulty_mean[c] is distribution
        c's typical step-0 logit). ``settings`` are the remaining Scenario fields.
        """
        loadings = _array("loadings", loadings, 2, np.float64)
        n_dists = loadings.shape[0]

        def per_dist(key, value, dtype):
            array = np.broadcast_to(np.asarray(value, dtype=dtype), (n_dists,)) if np.ndim(value) == 0 else \
                np.asarray(value, dtype=dtype)
            if array.shape != (n_dists,):
                raise ValueError(f"The {key!r} argument of Scenario.from_levels must be a scalar or have shape "
                                 f"({n_dists},), one entry per distribution. Got shape {array.shape}.")
            return array

        mean = per_dist("difficulty_mean", difficulty_mean, np.float64)
        spread = per_dist("difficulty_spread", difficulty_spread, np.float64)
        if not np.all(np.isfinite(mean)):
            raise ValueError("The 'difficulty_mean' argument of Scenario.from_levels holds non-finite values.")
        if not np.all(np.isfinite(spread)) or np.any(spread < 0):
            raise ValueError(f"The 'difficulty_spread' argument of Scenario.from_levels must be finite and >= 0. "
                             f"Got {spread.tolist()}.")
        counts = per_dist("n_train", n_train, np.int64)
        if np.any(counts < 1):
            raise ValueError(f"The 'n_train' argument of Scenario.from_levels must be >= 1 per distribution. "
                             f"Got {counts.tolist()}.")
        checked = check_arguments("Scenario.from_levels", FROM_LEVELS_ARGUMENTS,
                                  {"n_eval": n_eval, "pool_seed": pool_seed})
        n_eval = checked["n_eval"]
        rng = np.random.default_rng(checked["pool_seed"])
        train_dist = np.repeat(np.arange(n_dists), counts)
        train_difficulty = mean[train_dist] + spread[train_dist] * rng.standard_normal(train_dist.shape[0])
        eval_difficulty = mean[:, None] + spread[:, None] * rng.standard_normal((n_dists, n_eval))
        if init_skills is None:
            init_skills = np.zeros(loadings.shape[1])
        if distributions is None:
            distributions = tuple(f"d{c}" for c in range(n_dists))
        return cls(name=name, distributions=distributions, loadings=loadings, init_skills=init_skills,
                   train_dist=train_dist, train_difficulty=train_difficulty, eval_difficulty=eval_difficulty,
                   **settings)


def chain_loadings(n_dists, transfer):
    """Graded skills for distributions of increasing difficulty.

    L[d, s] = transfer ** (d - s) for s <= d, else 0, each row scaled to unit length:
    distribution d exercises skill d and, more weakly, the skills of the easier
    distributions before it. The transfer between d and d' is the cosine of their
    rows, about transfer ** |d - d'|; transfer = 0 gives independent skills.
    """
    d = np.arange(n_dists)
    gap = d[:, None] - d[None, :]
    loadings = np.where(gap >= 0, float(transfer) ** np.maximum(gap, 0), 0.0)
    return loadings / np.linalg.norm(loadings, axis=1, keepdims=True)
