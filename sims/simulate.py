"""Run a scheduler on a scenario over many seeds: ``simulate``.

    from banditcurr import sims
    scenario = sims.make_scenario("kk12")
    run = sims.simulate(scenario, "dump-ucb", seeds=100, steps=200)
    run.accuracy.shape        # (100, 201, 12): seeds x evaluation points x distributions
    sims.summarize(run, target=0.5)["steps_to_target"]

Two engines compute the same model: ``"numba"`` (compiled, seeds in parallel, the
default) and ``"numpy"`` (the plain reference in ``reference.py``, for tests and the
benchmark). Seed s of base seed ``seed`` uses streams 2s (scheduler) and 2s + 1
(learner) of ``banditcurr._rng.spawn_states(seed, 2 * seeds)``: a seed's result does
not depend on how many seeds run beside it, nor on the thread count.
"""

import inspect
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

import banditcurr as bc
from banditcurr._compiled import compile_caller, compile_kernel, is_cached, kernel_types
from banditcurr._params import argument, check_arguments, check_memory, pack_params
from banditcurr._rng import spawn_states
from banditcurr.allocation import has_posterior
from banditcurr.gates import parse_gate

from . import _engine
from ._engine import MIN_GROUP_SIZE
from .scenario import ARM_LEVELS, Scenario
from .schedulers import FixedSchedule, parse_spec, resolve_arm_level, resolve_difficulty

ENGINES = ("numba", "numpy")
#: gate kinds (``banditcurr.gates.Gate``; "dynamic-sampling" is the "mixed" kind) and their engine codes
GATES = {"none": _engine.GATE_NONE, "dynamic-sampling": _engine.GATE_DYNAMIC, "band": _engine.GATE_BAND,
         "std": _engine.GATE_STD}
ALLOCATIONS = {"fixed": _engine.ALLOCATION_FIXED, "posterior": _engine.ALLOCATION_POSTERIOR,
               "oracle": _engine.ALLOCATION_ORACLE, "knapsack": _engine.ALLOCATION_KNAPSACK_POSTERIOR}
OPTIMIZERS = {"sgd": _engine.OPTIMIZER_SGD, "adam": _engine.OPTIMIZER_ADAM}
TRACE_FIELDS = ("arm", "prompt", "successes", "size", "trained")
STATE_MEMORY_LIMIT = 4 * 2**30  # bytes of scheduler state over all seeds
#: The allocation's float arguments (tests/test_arguments.py derives bad-input cases from them).
ALLOCATION_ARGUMENTS = (
    argument("saturation", low=0.0, high=0.5, high_open=True, doc="prompts this close to p = 0 or 1 get none"),
    argument("confidence", low=0.0, high=1.0, high_open=True, doc="posterior mass that makes a prompt saturated"),
)
#: Every argument of ``prepare`` besides the scenario, scheduler and warm start, declared once:
#: checked by ``check_arguments``, shown by ``banditcurr simulate --help``, and the source of
#: tests/test_arguments.py's bad-input cases. None stands for the scenario's own setting.
#: The gate is a spec string checked by ``banditcurr.gates.parse_gate`` (its own declarations).
SIMULATE_ARGUMENTS = (
    argument("seeds", "int", low=1, doc="simulated learners, one seed each"),
    argument("steps", "int", low=1, none_means=0, doc="training steps T (None: the scenario's)"),
    argument("batch_size", "int", low=1, none_means=0, doc="prompts per step B (None: the scenario's)"),
    argument("group_size", "int", low=1, none_means=0, doc="rollouts per prompt G (None: the scenario's)"),
    argument("arm_level", "choice", choices=ARM_LEVELS, none_means=0,
             doc="force the arms to distributions or prompts (None: per scheduler)"),
    argument("seed", "int", low=0, doc="base seed"),
    argument("eval_every", "int", low=1, doc="evaluate every N steps (and after the last)"),
    argument("max_rounds", "int", low=1, doc="rollout rounds per step at most, with a gate or screening"),
    argument("screening", "int", low=0,
             doc="SPEED-RL screening: N_INIT rollouts per prompt first, the other G - N_INIT only for prompts "
                 "with mixed screens (0: off; else 2 <= N_INIT < G)"),
    argument("allocation", "choice", choices=tuple(ALLOCATIONS),
             doc="rollouts per prompt: fixed G; knapsack = Knapsack-RL's allocation of the same budget "
                 "(posterior mean if the scheduler keeps one, else the true rate); or CurES's Neyman "
                 "allocation of the same budget from the scheduler's Beta posterior (posterior) or from the "
                 "true success rate (oracle)"),
) + ALLOCATION_ARGUMENTS
#: The arguments ``simulate`` adds to ``prepare``'s: how the run is computed, not what.
RUN_ARGUMENTS = (
    argument("engine", "choice", choices=ENGINES, doc="compiled (numba) or the NumPy reference (numpy)"),
    argument("threads", "int", low=1, none_means=0, doc="threads of the compiled engine (None: all cores)"),
    argument("trace", "bool", doc="also return every group's arm, prompt, successes, size and trained flag"),
)


@dataclass
class SimulationResult:
    """The records of one scheduler on one scenario over S seeds.

    - ``eval_steps``: int64 (E,), the training step of each evaluation (0 first).
    - ``accuracy``: float64 (S, E, C), expected held-out accuracy per distribution.
    - ``zero_variance``: float64 (S, T), fraction of generated groups whose rewards
      are all equal (zero GRPO advantage) at each step.
    - ``arm_counts``: int64 (S, T, C), generated groups per distribution per step.
    - ``rollouts``: int64 (S, T), cumulative rollouts generated after each step.
    - ``train_reward``: float64 (S, T), mean reward of the step's rollouts.
    - ``trace``: None, or (with ``simulate(..., trace=True)``) a dict of int64 arrays
      (S, T, R) ``arm``, ``prompt``, ``successes``, ``size``, ``trained`` (0/1): every
      generated group of every step in order, unused slots with prompt -1 (what
      ``banditcurr simulate --ledger`` writes).
    """

    label: str
    scheduler: str
    arm_level: str
    scenario: str
    distributions: tuple
    eval_steps: np.ndarray
    accuracy: np.ndarray
    zero_variance: np.ndarray
    arm_counts: np.ndarray
    rollouts: np.ndarray
    train_reward: np.ndarray
    seconds: float
    settings: dict = field(default_factory=dict)
    trace: dict = None

    @property
    def mean_accuracy(self):
        """float64 (S, E): held-out accuracy averaged over distributions."""
        return self.accuracy.mean(axis=2)

    def sampling_fraction(self):
        """float64 (T, C): share of groups drawn from each distribution per step,
        averaged over seeds."""
        counts = self.arm_counts.sum(axis=0).astype(np.float64)
        return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def eval_schedule(steps, eval_every):
    """(eval_steps (E,), eval_slot (T,)): evaluate at step 0, every ``eval_every``
    steps and after the last; eval_slot[t] is the index written after step t, or -1."""
    eval_slot = np.full(steps, -1, dtype=np.int64)
    eval_steps = [0]
    for t in range(steps):
        if (t + 1) % eval_every == 0 or t + 1 == steps:
            eval_slot[t] = len(eval_steps)
            eval_steps.append(t + 1)
    return np.array(eval_steps, dtype=np.int64), eval_slot


@dataclass
class Setup:
    """Everything both engines need, checked: the resolved scheduler and settings."""

    scenario: Scenario
    label: str
    name: str
    arm_level: str
    n_arms: int
    template: object  # a banditcurr Scheduler (params, initial state) or a FixedSchedule
    make_kwargs: dict  # what banditcurr.make received besides name, n_arms and seed
    seeds: int
    steps: int
    batch_size: int
    group_size: int
    seed: int
    eval_steps: np.ndarray
    eval_slot: np.ndarray
    gate: str
    max_rounds: int
    allocation: str
    saturation: float
    confidence: float
    screening: int = 0

    @property
    def gate_rule(self):
        """The gate as a ``banditcurr.gates.Gate``."""
        return parse_gate(self.gate)

    def settings(self):
        return {"seeds": self.seeds, "steps": self.steps, "batch_size": self.batch_size,
                "group_size": self.group_size, "seed": self.seed, "arm_level": self.arm_level,
                "n_arms": self.n_arms, "gate": self.gate, "max_rounds": self.max_rounds, "screening": self.screening,
                "allocation": self.allocation, "saturation": self.saturation, "confidence": self.confidence,
                "eval_every_steps": int(self.eval_steps[1] - self.eval_steps[0]) if len(self.eval_steps) > 1 else 0,
                "hyperparameters": dict(getattr(self.template, "hyperparameters", {}))}


def prepare(scenario, scheduler, *, seeds=100, steps=None, batch_size=None, group_size=None, arm_level=None,
            seed=0, eval_every=1, gate="none", max_rounds=4, allocation="fixed", saturation=0.1, confidence=0.5,
            warm_start=None, screening=0):
    """Check the arguments of :func:`simulate` and resolve the scheduler (no run)."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"The 'scenario' argument of simulate must be a sims.Scenario (e.g. "
                        f"sims.make_scenario('kk12')). Got {type(scenario).__name__}.")
    checked = check_arguments("simulate", SIMULATE_ARGUMENTS, dict(
        seeds=seeds, steps=steps, batch_size=batch_size, group_size=group_size, arm_level=arm_level, seed=seed,
        eval_every=eval_every, max_rounds=max_rounds, screening=screening, allocation=allocation,
        saturation=saturation, confidence=confidence))
    seeds, seed = checked["seeds"], checked["seed"]
    eval_every, max_rounds, screening = checked["eval_every"], checked["max_rounds"], checked["screening"]
    steps, batch_size, group_size = (getattr(scenario, key) if checked[key] is None else checked[key]
                                     for key in ("steps", "batch_size", "group_size"))
    rule = parse_gate(gate, "simulate")
    gate = "dynamic-sampling" if rule.kind == "mixed" else rule.spec  # the simulator's name for DAPO's gate
    if screening and not MIN_GROUP_SIZE <= screening < group_size:
        raise ValueError(f"The 'screening' argument of simulate (SPEED-RL's N_init) must be 0 (off) or in "
                         f"[{MIN_GROUP_SIZE}, group_size - 1] = [{MIN_GROUP_SIZE}, {group_size - 1}]. "
                         f"Got {screening}.")
    saturation, confidence = checked["saturation"], checked["confidence"]
    if screening and allocation != "fixed":
        raise ValueError(f"Screening gives every prompt N_init then G - N_init rollouts; it does not combine with "
                         f"allocation={allocation!r}. Use allocation='fixed' or screening=0.")
    if allocation != "fixed" and group_size < MIN_GROUP_SIZE:
        raise ValueError(f"Rollout allocation gives a prompt at least {MIN_GROUP_SIZE} rollouts: the budget "
                         f"B x group_size needs group_size >= {MIN_GROUP_SIZE}. Got group_size={group_size}.")
    if isinstance(scheduler, FixedSchedule):
        level = resolve_arm_level(scheduler, scenario, arm_level)
        n_arms = scenario.n_arms(level)
        if len(scheduler.weights) != n_arms:
            raise ValueError(f"FixedSchedule {scheduler.label!r} has {len(scheduler.weights)} weights, but "
                             f"{scenario.name} has {n_arms} arms at {level} level.")
        name, label, template, make_kwargs = "fixed", scheduler.label, scheduler, {}
    else:
        spec = parse_spec(scheduler)
        level = resolve_arm_level(spec, scenario, arm_level)
        n_arms = scenario.n_arms(level)
        name, label = spec.name, spec.label
        make_kwargs = dict(spec.hyperparameters)
        cls, preset = bc.REGISTRY[spec.name]
        if "groups" in inspect.signature(cls.__init__).parameters and "groups" not in make_kwargs \
                and level == "prompt":
            make_kwargs["groups"] = scenario.train_dist  # a two-level scheduler's distributions
        if "difficulty" in inspect.signature(cls.__init__).parameters:  # adarft, e2h: labels easy -> hard
            make_kwargs["difficulty"] = resolve_difficulty(make_kwargs.get("difficulty", "levels"), scenario, level)
        if any(p.name == "horizon" for p in cls.params) and "horizon" not in make_kwargs:
            make_kwargs["horizon"] = steps  # e2h: the schedule spans the run
        if not cls.composite:  # params from its declarations: check the state size before allocating it
            values = {**{p.name: p.default for p in cls.params}, **preset, **make_kwargs}
            if set(values) == {p.name for p in cls.params}:
                _check_memory(label, level, n_arms, seeds,
                              cls.kernels.sizes(pack_params(cls.__name__, cls.params, values), n_arms))
        template = bc.make(spec.name, n_arms, seed=0, **make_kwargs)
        if warm_start is not None:  # every seed starts from this posterior
            if not isinstance(warm_start, dict):
                raise TypeError(f"The 'warm_start' argument of simulate must be a dict of Scheduler.warm_start's "
                                f"arguments (arms, successes, trials, decay). Got {type(warm_start).__name__}.")
            template.warm_start(**warm_start)
        _check_memory(label, level, n_arms, seeds, template.kernels.sizes(template._params, n_arms))
    if allocation == "posterior" and (isinstance(template, FixedSchedule) or not has_posterior(template)):
        with_posterior = [n for n in bc.available() if bc.REGISTRY[n][0].keeps_posterior]
        raise ValueError(f"allocation='posterior' reads the scheduler's Beta posteriors, which {label!r} does not "
                         f"keep. Schedulers that do: {', '.join(with_posterior)}; or use allocation='oracle'.")
    eval_steps, eval_slot = eval_schedule(steps, eval_every)
    return Setup(scenario, label, name, level, n_arms, template, make_kwargs, seeds, steps, batch_size,
                 group_size, seed, eval_steps, eval_slot, gate, max_rounds, allocation, float(saturation),
                 float(confidence), screening)


def _check_memory(label, level, n_arms, seeds, sizes):
    needed = seeds * 8 * (int(sizes[0]) + int(sizes[1]))
    if needed > STATE_MEMORY_LIMIT:
        raise ValueError(f"{label} at {level} level over {n_arms} arms needs {needed / 2**30:.1f} GiB of "
                         f"scheduler state for {seeds} seeds (limit {STATE_MEMORY_LIMIT / 2**30:.0f} GiB). "
                         f"Use fewer seeds, distribution-level arms, or a smaller window.")


def check_record_memory(setup, trace=False):
    """Refuse (ValueError) a run whose records, learner state and trace (five int64
    (S, T, slots) arrays) would not fit in this machine's memory, before allocating."""
    sc = setup.scenario
    per_seed = len(setup.eval_steps) * sc.n_distributions + setup.steps * (3 + sc.n_distributions)
    per_seed += 2 * sc.n_skills + sc.n_prompts + 8  # skills, Adam moments or memorised logits, streams
    if trace:
        per_seed += 5 * setup.steps * setup.batch_size * (setup.max_rounds if setup.gate != "none" else 1)
    check_memory(f"simulate of {setup.label} over {setup.seeds} seeds x {setup.steps} steps",
                 8 * setup.seeds * per_seed, "Use fewer seeds or steps" + (", or no trace." if trace else "."))


def streams(seed, seeds):
    """(scheduler streams, learner streams), uint64 (seeds, 4) each."""
    states = spawn_states(seed, 2 * seeds)
    return np.ascontiguousarray(states[0::2]), np.ascontiguousarray(states[1::2])


def simulate(scenario, scheduler, *, seeds=100, steps=None, batch_size=None, group_size=None, arm_level=None,
             seed=0, eval_every=1, gate="none", max_rounds=4, allocation="fixed", saturation=0.1, confidence=0.5,
             engine="numba", threads=None, progress=None, trace=False, warm_start=None, screening=0):
    """Train ``seeds`` simulated GRPO learners on ``scenario`` under ``scheduler``.

    ``scheduler``: a spec string (``"dump-ucb"``, ``"thompson@distribution"``,
    ``"dump-ucb:c=0.5"``; see ``schedulers.py``) or a :class:`FixedSchedule`.
    ``steps``, ``batch_size``, ``group_size`` default to the scenario's.
    ``arm_level`` forces the arm level for this scheduler ("distribution" or "prompt").
    ``gate``: a ``banditcurr.Gate`` or spec: "none", "dynamic-sampling" (DAPO: train
    only on groups with mixed rewards), "band[:lo=0.25,hi=0.75]" (pass rate k/n in the
    band), "std:lo=X,hi=Y" (sqrt(p(1 - p)) of the group's k/n in the band); a gate draws
    up to ``max_rounds`` batches per step to fill B, and every rollout counts in
    ``rollouts``. ``screening``: SPEED-RL's N_init (arXiv 2506.09016; 0 = off): each
    prompt gets N_init rollouts first, only prompts with mixed screens get the other
    G - N_init, the others are not trained on; refills as a gate does; the scheduler
    learns from every rollout (screens included), and all count in ``rollouts``.
    ``allocation``: rollouts per prompt, "fixed" (G each) or
    CurES's Neyman allocation of the same budget B x G from the scheduler's Beta
    posterior ("posterior": cures, thompson, learnability) or from the learner's true
    success probability ("oracle"), with ``saturation`` and ``confidence`` as in
    ``banditcurr.allocation``; or "knapsack", Knapsack-RL's exact allocation
    (``banditcurr.allocate_knapsack``, at most 8 G a prompt) from the posterior mean
    when the scheduler keeps one, else from the true p. ``engine``: "numba" or "numpy". ``threads``: parallel
    threads of the compiled engine (default: ``default_threads()``); results do not
    depend on it. ``progress``: a
    callable receiving the number of steps just completed (e.g. a tqdm ``update``).
    ``trace``: also return every group's arm, prompt, successes, size and trained flag
    (compiled engine only). ``warm_start``: a dict of ``Scheduler.warm_start``'s
    arguments (arms, successes, trials, decay): every seed's posterior scheduler starts
    from those outcomes. Returns a :class:`SimulationResult`.
    """
    check_arguments("simulate", RUN_ARGUMENTS, {"engine": engine, "threads": threads, "trace": trace})
    setup = prepare(scenario, scheduler, seeds=seeds, steps=steps, batch_size=batch_size, group_size=group_size,
                    arm_level=arm_level, seed=seed, eval_every=eval_every, gate=gate, max_rounds=max_rounds,
                    allocation=allocation, saturation=saturation, confidence=confidence, warm_start=warm_start,
                    screening=screening)
    if progress is not None and not callable(progress):
        raise TypeError(f"The 'progress' argument of simulate must be callable or None. Got {progress!r}.")
    if trace and engine != "numba":
        raise ValueError("trace=True needs engine='numba' (the NumPy reference keeps no trace).")
    check_record_memory(setup, trace)
    start = time.perf_counter()
    traced = None
    if engine == "numba":
        records, traced = _run_numba(setup, threads, progress, trace)
    else:
        from .reference import run_reference

        records = run_reference(setup, streams(setup.seed, setup.seeds), progress)
    seconds = time.perf_counter() - start
    settings = {**setup.settings(), "engine": engine, **scenario.learner_options()}
    return SimulationResult(setup.label, setup.name, setup.arm_level, scenario.name, scenario.distributions,
                            setup.eval_steps, *records, seconds=seconds, settings=settings, trace=traced)


def engine_settings(setup):
    """(settings_f, settings_i): the float64 and int64 settings arrays of the engine
    (layouts in ``_engine``)."""
    sc = setup.scenario
    gate = setup.gate_rule
    settings_f = np.array([sc.learning_rate, sc.forgetting, setup.saturation, setup.confidence, sc.adam_beta1,
                           sc.adam_beta2, sc.adam_eps, sc.memorization, sc.update_noise, *gate.bounds],
                          dtype=np.float64)
    settings_i = np.array([setup.batch_size, setup.group_size, int(setup.arm_level == "prompt"),
                           gate.code, setup.max_rounds, allocation_code(setup),
                           OPTIMIZERS[sc.optimizer], setup.screening], dtype=np.int64)
    return settings_f, settings_i


def allocation_code(setup):
    """The engine's allocation code: "knapsack" reads the scheduler's posterior mean when
    it keeps one, else the true p (as "oracle")."""
    if setup.allocation == "knapsack" and not uses_posterior(setup.template):
        return _engine.ALLOCATION_KNAPSACK_ORACLE
    return ALLOCATIONS[setup.allocation]


def uses_posterior(template):
    """True if allocation can read ``template``'s Beta posteriors."""
    return not isinstance(template, FixedSchedule) and has_posterior(template)


def compile_engine(setup, parts=("kernels", "engine")):
    """Compile ``setup``'s scheduler kernels and the engine (or load them from Numba's
    cache) without running a step: the first thing the first ``simulate`` of it does.
    The engine takes the kernels as first-class functions (``banditcurr._compiled``): it
    is compiled once for every scheduler, each scheduler's kernels once. ``parts``: the
    parts to compile ("kernels", "engine")."""
    _compile(_engine_arguments(setup, False), parts)


def _compile(arguments, parts=("kernels", "engine")):
    """``_engine.run_seeds`` compiled for ``arguments``' types (loaded from the cache when
    it can be), the kernels of ``arguments`` first (``parts``: see ``compile_engine``);
    under ``NUMBA_DISABLE_JIT=1`` the plain function."""
    kernels, signature = _engine_signature(arguments)
    if "kernels" in parts:
        for verb, kernel in kernels.items():
            compile_kernel(kernel, signature[FUNCTION_ARGUMENTS[verb]])
    if "engine" in parts:
        return compile_caller(_engine.run_seeds, signature)


def _cold_parts(setup):
    """(the parts of ``setup`` to compile, the keys that tell equal parts of other
    setups): "kernels" (the engine's function arguments: the scheduler's kernels and
    the allocation; key: the functions) and "engine" (key: its signature)."""
    kernels, signature = _engine_signature(_engine_arguments(setup, False))
    cold = [] if all(is_cached(kernel, signature[FUNCTION_ARGUMENTS[verb]].signature.args)
                     for verb, kernel in kernels.items()) else ["kernels"]
    cold += [] if is_cached(_engine.run_seeds, signature) else ["engine"]
    return cold, {"kernels": tuple(kernels.values()), "engine": signature}


#: run_seeds' arguments that are first-class functions (position by name): the
#: scheduler's kernels and the allocation, ``_engine.GROUP_SIZES``
FUNCTION_ARGUMENTS = {"sample": 4, "update": 5, "group_sizes": 6}


def _engine_signature(arguments):
    """({name: function}, the Numba types of ``run_seeds``' arguments: ``arguments``,
    the ``FUNCTION_ARGUMENTS`` typed as first-class functions, then the seed and step
    bounds)."""
    settings_f, settings_i, params, state = arguments[2], arguments[3], arguments[7], arguments[9]
    f_row = state[1][0]
    function_types = kernel_types(params, f_row, state[2][0], state[3][0])
    int_row, float_row = numba.types.Array(numba.types.int64, 1, "C"), numba.types.Array(numba.types.float64, 1, "C")
    function_types["group_sizes"] = numba.types.FunctionType(numba.types.none(
        numba.typeof(settings_f), numba.typeof(settings_i), numba.types.int64, numba.typeof(f_row), int_row,
        float_row, numba.types.int64, int_row, float_row))
    name_at = {position: name for name, position in FUNCTION_ARGUMENTS.items()}
    signature = tuple(function_types[name_at[position]] if position in name_at else numba.typeof(value)
                      for position, value in enumerate(arguments)) + (numba.types.int64,) * 4
    return {name: arguments[position] for name, position in FUNCTION_ARGUMENTS.items()}, signature


def compile_engines(labels, setups, workers=None, before_each=None):
    """(label, callable) jobs for ``banditcurr._jit.compile_with_notice`` that compile
    what the runs of ``setups`` need, one job per label, as the first ``simulate`` of each would.

    On a cold cache the parts are independent: the engine (once for all setups of the
    same types) and each scheduler's kernels. With more than one part to compile and
    more than one CPU they run in ``workers`` (default: the CPU count) fresh processes,
    the engine first (the longest), which write Numba's disk cache (saves are locked,
    see ``banditcurr._jit``); each job waits for the parts of its setup, then loads them
    from the cache. ``before_each`` is called first in every job and while it waits
    (the CLI checks for Ctrl-C there). Call the jobs, then ``close`` (the second return
    value) in a ``finally``: it ends the processes, at once if the jobs were cut short.
    """
    before_each = before_each or (lambda: None)
    tasks, needs = {}, []  # (part, key) -> the setup to compile it from; each setup's keys
    for setup in setups:
        cold, keys = _cold_parts(setup)
        needs.append([(part, keys[part]) for part in cold])
        for part in cold:
            tasks.setdefault((part, keys[part]), setup)
    ordered = sorted(tasks, key=lambda task: task[0] != "engine")
    workers = min(len(ordered), workers or os.cpu_count() or 1)
    if workers < 2:
        return [(label, lambda setup=setup: (before_each(), compile_engine(setup)))
                for label, setup in zip(labels, setups)], lambda: None
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_interrupts)
    compiling = {task: pool.apply_async(compile_engine, (tasks[task], (task[0],))) for task in ordered}

    def job(setup, needed):
        before_each()
        for task in needed:
            while not compiling[task].ready():
                compiling[task].wait(0.2)
                before_each()
            compiling[task].get()  # raises the worker's error, if any
        compile_engine(setup)

    def close():
        pool.terminate()  # the jobs are done, or were cut short: no need to wait
        pool.join()

    return [(label, lambda setup=setup, needed=needed: job(setup, needed))
            for label, setup, needed in zip(labels, setups, needs)], close


def _ignore_interrupts():
    """Compile workers leave Ctrl-C to the parent, which ends them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _engine_arguments(setup, trace):
    """The arguments of ``_engine.run_seeds`` before the seed and step bounds."""
    sc, seeds, steps = setup.scenario, setup.seeds, setup.steps
    pool_start, pool_count = sc.pool_bounds()
    world = (sc.loadings, sc.init_skills, sc.train_dist, sc.train_difficulty, pool_start, pool_count,
             sc.eval_difficulty, np.exp(sc.eval_difficulty))
    settings_f, settings_i = engine_settings(setup)
    template = setup.template
    if isinstance(template, FixedSchedule):
        sample, update = _engine.fixed_sample, _engine.fixed_update
        params, f0, i0 = np.array(template.weights, dtype=np.float64), np.zeros(0), np.zeros(0, dtype=np.int64)
    else:
        sample, update = template.kernels.sample, template.kernels.update
        params, f0, i0 = template._params, template._f, template._i
    sched_rng, learn_rng = streams(setup.seed, seeds)
    n_adam, n_memo = _engine.extra_layout(settings_f, settings_i, sc.n_skills, sc.n_prompts)
    state = (np.tile(sc.init_skills, (seeds, 1)), np.tile(f0, (seeds, 1)), np.tile(i0, (seeds, 1)),
             sched_rng, learn_rng, np.zeros((seeds, n_adam + n_memo)))
    refill = setup.gate != "none" or setup.screening > 0
    slots = setup.batch_size * (setup.max_rounds if refill else 1) if trace else 0
    trace_arrays = tuple(np.full((seeds, steps, slots), -1 if k == 1 else 0, dtype=np.int64) for k in range(5))
    n_dists = sc.n_distributions
    records = (np.zeros((seeds, len(setup.eval_steps), n_dists)), np.zeros((seeds, steps)),
               np.zeros((seeds, steps, n_dists), dtype=np.int64), np.zeros((seeds, steps), dtype=np.int64),
               np.zeros((seeds, steps)))
    return (world, setup.eval_slot, settings_f, settings_i, sample, update, _engine.GROUP_SIZES[settings_i[
        _engine.ALLOCATION]], params, setup.n_arms, state, records, trace_arrays)


def _run_numba(setup, threads, progress, trace=False):
    seeds, steps = setup.seeds, setup.steps
    chunk = steps if progress is None else max(1, min(steps // 50, 100))  # Ctrl-C waits one chunk at most
    n_threads = max(1, min(seeds, threads or default_threads()))
    bounds = np.linspace(0, seeds, n_threads + 1).astype(np.int64)  # contiguous seed blocks
    arguments = _engine_arguments(setup, trace)
    records, trace_arrays = arguments[10], arguments[11]
    run_seeds = _compile(arguments)

    def advance(block, t_start, t_stop):
        run_seeds(*arguments, bounds[block], bounds[block + 1], t_start, t_stop)

    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    try:
        for t_start in range(0, steps, chunk):
            t_stop = min(steps, t_start + chunk)
            if pool is None:
                advance(0, t_start, t_stop)
            else:  # the kernel releases the GIL: the blocks run in parallel
                list(pool.map(advance, range(n_threads), [t_start] * n_threads, [t_stop] * n_threads))
            if progress is not None:
                progress(t_stop - t_start)
    finally:
        if pool is not None:
            pool.shutdown()
    return records, (dict(zip(TRACE_FIELDS, trace_arrays)) if trace else None)


def default_threads():
    """Threads for the compiled engine: NUMBA_NUM_THREADS if set, else the CPU count."""
    return int(numba.config.NUMBA_NUM_THREADS) or os.cpu_count() or 1
