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
from banditcurr._compiled import is_cached, specialise
from banditcurr._params import argument, check_arguments, check_int, pack_params
from banditcurr._registry import kind_of
from banditcurr._rng import spawn_states
from banditcurr.allocation import has_posterior

from . import _engine
from ._engine import MIN_GROUP_SIZE
from .scenario import Scenario
from .schedulers import FixedSchedule, parse_spec, resolve_arm_level

ENGINES = ("numba", "numpy")
GATES = {"none": _engine.GATE_NONE, "dynamic-sampling": _engine.GATE_DYNAMIC}
ALLOCATIONS = {"fixed": _engine.ALLOCATION_FIXED, "posterior": _engine.ALLOCATION_POSTERIOR,
               "oracle": _engine.ALLOCATION_ORACLE}
OPTIMIZERS = {"sgd": _engine.OPTIMIZER_SGD, "adam": _engine.OPTIMIZER_ADAM}
TRACE_FIELDS = ("arm", "prompt", "successes", "size", "trained")
STATE_MEMORY_LIMIT = 4 * 2**30  # bytes of scheduler state over all seeds
#: The allocation's float arguments (tests/test_arguments.py derives bad-input cases from them).
ALLOCATION_ARGUMENTS = (
    argument("saturation", low=0.0, high=0.5, high_open=True, doc="prompts this close to p = 0 or 1 get none"),
    argument("confidence", low=0.0, high=1.0, high_open=True, doc="posterior mass that makes a prompt saturated"),
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

    def settings(self):
        return {"seeds": self.seeds, "steps": self.steps, "batch_size": self.batch_size,
                "group_size": self.group_size, "seed": self.seed, "arm_level": self.arm_level,
                "n_arms": self.n_arms, "gate": self.gate, "max_rounds": self.max_rounds,
                "allocation": self.allocation, "saturation": self.saturation, "confidence": self.confidence,
                "eval_every_steps": int(self.eval_steps[1] - self.eval_steps[0]) if len(self.eval_steps) > 1 else 0,
                "hyperparameters": dict(getattr(self.template, "hyperparameters", {}))}


def prepare(scenario, scheduler, *, seeds=100, steps=None, batch_size=None, group_size=None, arm_level=None,
            seed=0, eval_every=1, gate="none", max_rounds=4, allocation="fixed", saturation=0.1, confidence=0.5,
            warm_start=None):
    """Check the arguments of :func:`simulate` and resolve the scheduler (no run)."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"The 'scenario' argument of simulate must be a sims.Scenario (e.g. "
                        f"sims.make_scenario('kk12')). Got {type(scenario).__name__}.")
    seeds = check_int("seeds", seeds, 1, owner="simulate")
    steps = scenario.steps if steps is None else check_int("steps", steps, 1, owner="simulate")
    batch_size = scenario.batch_size if batch_size is None else check_int("batch_size", batch_size, 1, owner="simulate")
    group_size = scenario.group_size if group_size is None else check_int("group_size", group_size, 1, owner="simulate")
    seed = check_int("seed", seed, 0, owner="simulate")
    eval_every = check_int("eval_every", eval_every, 1, owner="simulate")
    if gate not in GATES:
        raise ValueError(f"The 'gate' argument of simulate must be one of {tuple(GATES)}. Got {gate!r} instead.")
    max_rounds = check_int("max_rounds", max_rounds, 1, owner="simulate")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"The 'allocation' argument of simulate must be one of {tuple(ALLOCATIONS)}. "
                         f"Got {allocation!r} instead.")
    checked = check_arguments("simulate", ALLOCATION_ARGUMENTS, {"saturation": saturation, "confidence": confidence})
    saturation, confidence = checked["saturation"], checked["confidence"]
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
        kind_of(template)  # raises if the scheduler has no compiled kind
        _check_memory(label, level, n_arms, seeds, template.kernels.sizes(template._params, n_arms))
    if allocation == "posterior" and (isinstance(template, FixedSchedule) or not has_posterior(template)):
        with_posterior = [n for n in bc.available() if bc.REGISTRY[n][0].keeps_posterior]
        raise ValueError(f"allocation='posterior' reads the scheduler's Beta posteriors, which {label!r} does not "
                         f"keep. Schedulers that do: {', '.join(with_posterior)}; or use allocation='oracle'.")
    eval_steps, eval_slot = eval_schedule(steps, eval_every)
    return Setup(scenario, label, name, level, n_arms, template, make_kwargs, seeds, steps, batch_size,
                 group_size, seed, eval_steps, eval_slot, gate, max_rounds, allocation, float(saturation),
                 float(confidence))


def _check_memory(label, level, n_arms, seeds, sizes):
    needed = seeds * 8 * (int(sizes[0]) + int(sizes[1]))
    if needed > STATE_MEMORY_LIMIT:
        raise ValueError(f"{label} at {level} level over {n_arms} arms needs {needed / 2**30:.1f} GiB of "
                         f"scheduler state for {seeds} seeds (limit {STATE_MEMORY_LIMIT / 2**30:.0f} GiB). "
                         f"Use fewer seeds, distribution-level arms, or a smaller window.")


def streams(seed, seeds):
    """(scheduler streams, learner streams), uint64 (seeds, 4) each."""
    states = spawn_states(seed, 2 * seeds)
    return np.ascontiguousarray(states[0::2]), np.ascontiguousarray(states[1::2])


def simulate(scenario, scheduler, *, seeds=100, steps=None, batch_size=None, group_size=None, arm_level=None,
             seed=0, eval_every=1, gate="none", max_rounds=4, allocation="fixed", saturation=0.1, confidence=0.5,
             engine="numba", threads=None, progress=None, trace=False, warm_start=None):
    """Train ``seeds`` simulated GRPO learners on ``scenario`` under ``scheduler``.

    ``scheduler``: a spec string (``"dump-ucb"``, ``"thompson@distribution"``,
    ``"dump-ucb:c=0.5"``; see ``schedulers.py``) or a :class:`FixedSchedule`.
    ``steps``, ``batch_size``, ``group_size`` default to the scenario's.
    ``arm_level`` forces the arm level for this scheduler ("distribution" or "prompt").
    ``gate``: "none", or "dynamic-sampling" (DAPO: train only on groups with mixed
    rewards, drawing up to ``max_rounds`` batches per step to fill B; every rollout
    counts in ``rollouts``). ``allocation``: rollouts per prompt, "fixed" (G each) or
    CurES's Neyman allocation of the same budget B x G from the scheduler's Beta
    posterior ("posterior": cures, thompson, learnability) or from the learner's true
    success probability ("oracle"), with ``saturation`` and ``confidence`` as in
    ``banditcurr.allocation``. ``engine``: "numba" or "numpy". ``threads``: parallel
    threads of the compiled engine (default: ``default_threads()``); results do not
    depend on it. ``progress``: a
    callable receiving the number of steps just completed (e.g. a tqdm ``update``).
    ``trace``: also return every group's arm, prompt, successes, size and trained flag
    (compiled engine only). ``warm_start``: a dict of ``Scheduler.warm_start``'s
    arguments (arms, successes, trials, decay): every seed's posterior scheduler starts
    from those outcomes. Returns a :class:`SimulationResult`.
    """
    setup = prepare(scenario, scheduler, seeds=seeds, steps=steps, batch_size=batch_size, group_size=group_size,
                    arm_level=arm_level, seed=seed, eval_every=eval_every, gate=gate, max_rounds=max_rounds,
                    allocation=allocation, saturation=saturation, confidence=confidence, warm_start=warm_start)
    if engine not in ENGINES:
        raise ValueError(f"The 'engine' argument of simulate must be one of {ENGINES}. Got {engine!r} instead.")
    if threads is not None:
        check_int("threads", threads, 1, owner="simulate")
    if progress is not None and not callable(progress):
        raise TypeError(f"The 'progress' argument of simulate must be callable or None. Got {progress!r}.")
    if not isinstance(trace, bool):
        raise TypeError(f"The 'trace' argument of simulate must be a bool. Got {trace!r}.")
    if trace and engine != "numba":
        raise ValueError("trace=True needs engine='numba' (the NumPy reference keeps no trace).")
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
    settings_f = np.array([sc.learning_rate, sc.forgetting, setup.saturation, setup.confidence, sc.adam_beta1,
                           sc.adam_beta2, sc.adam_eps, sc.memorization, sc.update_noise], dtype=np.float64)
    settings_i = np.array([setup.batch_size, setup.group_size, int(setup.arm_level == "prompt"),
                           GATES[setup.gate], setup.max_rounds, ALLOCATIONS[setup.allocation],
                           OPTIMIZERS[sc.optimizer]], dtype=np.int64)
    return settings_f, settings_i


def compile_engine(setup):
    """Compile the engine for ``setup``'s scheduler (or load it from Numba's cache)
    without running a step: the first thing the first ``simulate`` of it does. The
    engine is compiled once per scheduler kind, with only that scheduler's kernels."""
    specialise(_engine.run_seeds, _engine_arguments(setup, False) + (0, 0, 0, 0), 4)


def engine_cached(setup):
    """Whether :func:`compile_engine` of ``setup`` would load the engine, not compile it."""
    return is_cached(_engine.run_seeds, _engine_arguments(setup, False) + (0, 0, 0, 0), 4)


def compile_engines(labels, setups, workers=None, before_each=None):
    """(label, callable) jobs for ``banditcurr._jit.compile_with_notice`` that compile the
    engines of ``setups``, one per label, as the first ``simulate`` of each would.

    On a cold cache the kinds' compiles are independent: with more than one engine to
    compile and more than one CPU they run in ``workers`` (default: the CPU count)
    fresh processes, which write Numba's disk cache (saves are locked, see
    ``banditcurr._jit``); each job waits for its engine's process, then loads the
    engine from the cache. ``before_each`` is called first in every job and while it
    waits (the CLI checks for Ctrl-C there). Call the jobs, then ``close`` (the second return value)
    in a ``finally``: it ends the processes, at once if the jobs were cut short.
    """
    before_each = before_each or (lambda: None)
    cold = [setup for setup in setups if not engine_cached(setup)]
    workers = min(len(cold), workers or os.cpu_count() or 1)
    if workers < 2:
        return [(label, lambda setup=setup: (before_each(), compile_engine(setup)))
                for label, setup in zip(labels, setups)], lambda: None
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_interrupts)
    compiling = {id(setup): pool.apply_async(compile_engine, (setup,)) for setup in cold}

    def job(setup):
        before_each()
        if id(setup) in compiling:
            while not compiling[id(setup)].ready():
                compiling[id(setup)].wait(0.2)
                before_each()
            compiling[id(setup)].get()  # raises the worker's error, if any
        compile_engine(setup)

    def close():
        pool.terminate()  # the jobs are done, or were cut short: no need to wait
        pool.join()

    return [(label, lambda setup=setup: job(setup)) for label, setup in zip(labels, setups)], close


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
        kind, params = _engine.FIXED_KIND, np.array(template.weights, dtype=np.float64)
        f0, i0 = np.zeros(0), np.zeros(0, dtype=np.int64)
    else:
        kind, params, f0, i0 = kind_of(template), template._params, template._f, template._i
    sched_rng, learn_rng = streams(setup.seed, seeds)
    n_adam, n_memo = _engine.extra_layout(settings_f, settings_i, sc.n_skills, sc.n_prompts)
    state = (np.tile(sc.init_skills, (seeds, 1)), np.tile(f0, (seeds, 1)), np.tile(i0, (seeds, 1)),
             sched_rng, learn_rng, np.zeros((seeds, n_adam + n_memo)))
    slots = setup.batch_size * (setup.max_rounds if setup.gate != "none" else 1) if trace else 0
    trace_arrays = tuple(np.full((seeds, steps, slots), -1 if k == 1 else 0, dtype=np.int64) for k in range(5))
    n_dists = sc.n_distributions
    records = (np.zeros((seeds, len(setup.eval_steps), n_dists)), np.zeros((seeds, steps)),
               np.zeros((seeds, steps, n_dists), dtype=np.int64), np.zeros((seeds, steps), dtype=np.int64),
               np.zeros((seeds, steps)))
    return (world, setup.eval_slot, settings_f, settings_i, kind, params, setup.n_arms, state, records,
            trace_arrays)


def _run_numba(setup, threads, progress, trace=False):
    seeds, steps = setup.seeds, setup.steps
    chunk = steps if progress is None else max(1, min(steps // 50, 100))  # Ctrl-C waits one chunk at most
    n_threads = max(1, min(seeds, threads or default_threads()))
    bounds = np.linspace(0, seeds, n_threads + 1).astype(np.int64)  # contiguous seed blocks
    arguments = _engine_arguments(setup, trace)
    records, trace_arrays = arguments[8], arguments[9]
    run_seeds = specialise(_engine.run_seeds, arguments + (0, 0, 0, 0), 4)  # compiled for this kind only

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
