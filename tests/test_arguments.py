"""Bad arguments of the public functions, generated from their declarations.

Every argument declared with ``banditcurr._params`` (``argument`` or ``Param``, checked by
the one validator, ``check_arguments``) gets cases derived from its declaration: a wrong
type (TypeError), NaN and infinity, just outside each bound, a size past MAX_SIZE, a value
not among the choices (ValueError). Each must be refused with a message naming the
argument and the function, a refused call must change no state, and every command's
``--help`` must list the bounds and choices of the options it declares.
"""

import argparse
import math
import re

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import allocation, base, gates, ledger, sims, two_level
from banditcurr._params import MAX_SIZE
from banditcurr._posterior import DECAY
from banditcurr.llm import config as train_config
from banditcurr.sims import calibrate_cli, cli as sims_cli, predict as sims_predict
from banditcurr.sims._options import TARGET
from banditcurr.sims.calibrate import CALIBRATE_ARGUMENTS, CalibrationError, calibrate
from banditcurr.sims.scenario import FROM_LEVELS_ARGUMENTS, GROUP_SIZE, SCENARIO_FIELDS
from banditcurr.sims.simulate import RUN_ARGUMENTS, SIMULATE_ARGUMENTS, prepare, simulate


def rollout(arms):
    return np.tile([0.0, 1.0], (len(arms), 1))


def tiny_scenario(**fields):
    return sims.Scenario(name="tiny", distributions=("a", "b"), loadings=np.eye(2), init_skills=np.zeros(2),
                         train_dist=np.array([0, 0, 1]), train_difficulty=np.zeros(3),
                         eval_difficulty=np.zeros((2, 4)), **{"batch_size": 2, "group_size": 2, "steps": 2, **fields})


class Reached(Exception):
    """Raised by a stand-in the call reaches only after its arguments were accepted."""


class NoFit:
    def __getattr__(self, name):
        raise Reached(name)


def two_level_call(**kw):
    return bc.make("two-level", n_arms=4, groups=[0, 0, 1, 1], **kw)


# label -> (owner named in the message, declarations, call(**overrides) with valid values for the
# rest, what a call with valid arguments raises once past the checks: None (nothing), or (type, regex))
FUNCTIONS = {
    "fill_batch": ("fill_batch", gates.FILL_BATCH_ARGUMENTS,
                   lambda **kw: bc.fill_batch(bc.make("uniform", 6, seed=0), rollout, **{"batch_size": 2, **kw}),
                   None),
    "Scheduler": ("Uniform", (base.N_ARMS,), lambda **kw: bc.Uniform(**{"n_arms": 3, **kw}), None),
    "sample": ("sample", (base.BATCH_SIZE,), lambda **kw: bc.make("uniform", 3, seed=0).sample(**{"batch_size": 2, **kw}),
               None),
    "allocate_by_weight": ("allocate_by_weight", allocation.BUDGET_ARGUMENTS,  # 8 prompts: max_size 1 fits
                           lambda **kw: bc.allocate_by_weight(np.ones(8), **{"budget": 8, "min_size": 1, **kw}),
                           None),
    "allocate_knapsack": ("allocate_knapsack", allocation.BUDGET_ARGUMENTS,
                          lambda **kw: bc.allocate_knapsack(np.full(8, 0.5), **{"budget": 8, "min_size": 1, **kw}),
                          None),
    "allocate_rollouts": ("allocate_rollouts", (allocation.SATURATION,),
                          lambda **kw: bc.allocate_rollouts([0.5, 0.2], 8, **kw), None),
    "allocate_rollouts_posterior": ("allocate_rollouts_posterior", (allocation.SATURATION, allocation.CONFIDENCE),
                                    lambda **kw: bc.allocate_rollouts_posterior([1.0, 2.0], [2.0, 1.0], 8, **kw),
                                    None),
    "prepare": ("simulate", SIMULATE_ARGUMENTS,  # prepare() checks simulate's arguments without running
                lambda **kw: prepare(sims.make_scenario("kk12"), "thompson", **{"seeds": 2, "steps": 3, **kw}), None),
    "simulate": ("simulate", RUN_ARGUMENTS,
                 lambda **kw: simulate(tiny_scenario(), "uniform", **{"seeds": 1, "engine": "numpy", **kw}), None),
    "Scenario": ("Scenario", SCENARIO_FIELDS, lambda **kw: tiny_scenario(**kw), None),
    "Scenario.from_levels": ("Scenario.from_levels", FROM_LEVELS_ARGUMENTS,
                             lambda **kw: sims.Scenario.from_levels("t", np.eye(2), 0.0, 1.0, 3,
                                                                    **{"n_eval": 2, **kw}), None),
    "initial_zero_variance": ("initial_zero_variance", (GROUP_SIZE,),
                              lambda **kw: tiny_scenario().initial_zero_variance(**kw), None),
    "TwoLevel": ("TwoLevel", two_level.arguments(), two_level_call, None),
    "calibrate": ("calibrate", CALIBRATE_ARGUMENTS, lambda **kw: calibrate("/nonexistent/ledger", **kw),
                  (CalibrationError, "no such directory")),
    "predict": ("predict", sims_predict.PREDICT_ARGUMENTS,
                lambda **kw: sims_predict.predict(NoFit(), ["uniform"], **{"seeds": 2, "draws": 1, **kw}),
                (Reached, "objective")),
    "warm_start": ("warm_start", (DECAY,),
                   lambda **kw: bc.make("thompson", 4, seed=0).warm_start([0, 1], [1, 2], [2, 2], **kw), None),
    "compare": ("compare", (TARGET,), lambda **kw: sims.compare([], **kw), None),
    "TrainConfig": ("TrainConfig", tuple(train_config.DECLARED.values()),
                    lambda **kw: train_config.TrainConfig(**kw).validate(), (ValueError, "model is required")),
}


def bad_values(param):
    """(value, exception type) pairs that the declaration ``param`` refuses."""
    if param.kind == "choice":
        cases = [("no-such-choice", ValueError), (3, ValueError)]
        return cases + ([(None, ValueError)] if param.none_means is None else [])
    if param.kind == "bool":
        cases = [("true", TypeError), (1, TypeError), ([True], TypeError)]
    else:
        cases = [("1", TypeError), (True, TypeError), ([1], TypeError)]
    if param.none_means is None:
        cases.append((None, TypeError))
    if param.kind == "bool":
        return cases
    if param.kind == "int":
        cases.append((float(param.low if param.low is not None else 1), TypeError))
        if param.high is None:  # a size past MAX_SIZE is refused before anything is allocated
            cases.append((MAX_SIZE + 1, ValueError))
    else:
        cases += [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError)]
    step = 1 if param.kind == "int" else 1e-9
    if param.low is not None:
        cases.append((param.low if param.low_open else param.low - step, ValueError))
    if param.high is not None:
        cases.append((param.high if param.high_open else param.high + step, ValueError))
    return cases


CASES = [(label, param.name, value, error) for label, (_, declarations, _, _) in FUNCTIONS.items()
         for param in declarations for value, error in bad_values(param)]


@pytest.mark.parametrize("label, name, value, error", CASES)
def test_bad_argument_is_refused_naming_it(label, name, value, error):
    owner, _, call, _ = FUNCTIONS[label]
    with pytest.raises(error, match=rf"The '{name}' (argument|parameter) of {re.escape(owner)} must be .*"
                                    rf"Got {re.escape(repr(value))}"):
        call(**{name: value})


def accepted_values(param):
    return ([param.low] if param.low is not None and not param.low_open else []) + \
        ([param.high] if param.high is not None and not param.high_open else []) + list(param.choices) + \
        ([None] if param.none_means is not None else [])


@pytest.mark.parametrize("label", FUNCTIONS)
def test_the_declared_defaults_and_bounds_are_accepted(label):
    _, declarations, call, reached = FUNCTIONS[label]
    calls = [{}] + [{param.name: value} for param in declarations for value in accepted_values(param)]
    for overrides in calls:
        if reached is None:
            call(**overrides)
        else:
            with pytest.raises(reached[0], match=reached[1]):
                call(**overrides)


def test_every_declaration_gets_cases():
    declared = {(label, p.name) for label, (_, declarations, _, _) in FUNCTIONS.items() for p in declarations}
    assert {case[:2] for case in CASES} == declared


def warm_thompson():
    scheduler = bc.make("thompson", 6, seed=0)
    scheduler.update([0, 1], [[1.0, 0.0], [1.0, 1.0]])
    return scheduler


# functions that change a scheduler's state: label -> (declarations, call(scheduler, **overrides))
STATEFUL = {
    "fill_batch": (gates.FILL_BATCH_ARGUMENTS,
                   lambda scheduler, **kw: bc.fill_batch(scheduler, rollout, **{"batch_size": 2, **kw})),
    "warm_start": ((DECAY,), lambda scheduler, **kw: scheduler.warm_start([0, 1], [1, 2], [2, 2], **kw)),
}


@pytest.mark.parametrize("label, name, value, error", [(label, p.name, v, e) for label, (declarations, _)
                                                       in STATEFUL.items() for p in declarations
                                                       for v, e in bad_values(p)])
def test_a_refused_call_changes_no_state(label, name, value, error):
    scheduler = warm_thompson()
    before = scheduler.state_dict()
    with pytest.raises(error):
        STATEFUL[label][1](scheduler, **{name: value})
    after = scheduler.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert np.array_equal(value, after[key]) if isinstance(value, np.ndarray) else value == after[key], key


def test_a_scenario_file_with_a_bad_field_is_refused_naming_it(tmp_path):
    document = tiny_scenario().to_dict()
    path = tmp_path / "scenario.json"
    import json

    path.write_text(json.dumps({**document, "forgetting": 1.5}))
    with pytest.raises(ValueError, match=r"The 'forgetting' argument of Scenario must be a float >= 0 and < 1\. "
                                         r"Got 1\.5 instead\."):
        sims.Scenario.load(str(path))


def test_a_scenario_file_with_an_unknown_field_is_refused(tmp_path):
    document = {**tiny_scenario().to_dict(), "forgeting": 0.1}
    with pytest.raises(ValueError, match=r"unknown field\(s\): forgeting \(did you mean 'forgetting'\?\)"):
        sims.Scenario.from_dict(document)


def test_sizes_are_checked_before_allocating():
    with pytest.raises(ValueError, match=r"simulate of uniform over 1099511627776 seeds x 200 steps needs "
                                         r"\d+ bytes \(.*\) of memory, more than this machine's"):
        simulate(sims.make_scenario("kk12"), "uniform", seeds=MAX_SIZE, engine="numpy")


# -- the commands' --help ------------------------------------------------------------------------

def declared_options(command):
    """(declaration, flag) of every declared option of ``command``."""
    simulate_declared = {p.name: p for p in SIMULATE_ARGUMENTS + RUN_ARGUMENTS}
    table = {
        "simulate": [simulate_declared[name] for name in sims_cli.OPTIONS] + [TARGET],
        "predict": list(sims_predict.PREDICT_ARGUMENTS) + [TARGET],
        "calibrate": [calibrate_cli.SIMULATED_SEEDS],
        "ledger": [ledger.TOP],
        "train": list(train_config.DECLARED.values()),
    }
    return [(param, "--" + param.name.replace("_", "-")) for param in table[command]]


@pytest.mark.parametrize("command", ["simulate", "predict", "calibrate", "ledger", "train"])
def test_help_lists_every_declared_option_with_its_bounds_and_choices(command):
    from banditcurr import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    helps = {flag: action.help % {} for action in sub._actions for flag in action.option_strings}
    for param, flag in declared_options(command):
        assert flag in helps, flag
        assert param.allowed() in helps[flag], (flag, helps[flag])
        for choice in param.choices:
            assert repr(choice) in helps[flag], (flag, choice)


def test_simulate_help_lists_every_preset_parameter():
    from banditcurr import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["simulate"]
    text = sub.format_help()
    for name, params in sims.PRESET_PARAMS.items():
        section = text[text.index(f"  {name}:\n"):]
        for param in params:
            assert re.search(rf"{param.name}: .*\({re.escape(param.allowed())}; default ", section), param.name


COMMAND_LINES = {"simulate": ["simulate", "--no-progress"], "predict": ["predict", "/nonexistent/ledger"],
                 "calibrate": ["calibrate", "/nonexistent/ledger", "--out", "/nonexistent/fit.json"],
                 "ledger": ["ledger", "/nonexistent/ledger"], "train": ["train"]}


def below_low(param):
    if param.kind == "int":
        return str(int(param.low) - 1)
    return repr(float(param.low) if param.low_open else float(param.low) - 0.5)


@pytest.mark.parametrize("command, flag, value, name", [
    (command, flag, below_low(param), param.name) for command in COMMAND_LINES
    for param, flag in declared_options(command) if param.low is not None])
def test_a_command_refuses_a_value_below_the_declared_bound_before_any_work(command, flag, value, name, capsys):
    from banditcurr import cli

    try:
        status = cli.main(COMMAND_LINES[command] + [flag, value])
        message = capsys.readouterr().err
    except SystemExit as stop:
        status, message = 2, str(stop.code)
    assert status == 2
    assert re.search(rf"The '{name}' (argument|parameter) of .* must be .*Got '?{re.escape(value)}'?", message), message
