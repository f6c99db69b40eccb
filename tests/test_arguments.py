"""Bad arguments of the public functions, generated from their declarations.

Every function argument declared with ``banditcurr._params.argument`` (the one
validator, ``check_arguments``) gets cases derived from its declaration: a wrong type
(TypeError), NaN and infinity, just outside each bound, a value not among the choices
(ValueError). Each must be refused with a message naming the argument and the function.
"""

import math
import re

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import allocation, gates, sims
from banditcurr.sims.simulate import ALLOCATION_ARGUMENTS, SCREENING, prepare


def rollout(arms):
    return np.tile([0.0, 1.0], (len(arms), 1))


# function name -> (declarations, call(**overrides) with valid values for the rest)
FUNCTIONS = {
    "fill_batch": (gates.FILL_BATCH_ARGUMENTS,
                   lambda **kw: bc.fill_batch(bc.make("uniform", 6, seed=0), rollout, **{"batch_size": 2, **kw})),
    "allocate_rollouts": ((allocation.SATURATION,),
                          lambda **kw: bc.allocate_rollouts([0.5, 0.2], 8, **kw)),
    "allocate_rollouts_posterior": ((allocation.SATURATION, allocation.CONFIDENCE),
                                    lambda **kw: bc.allocate_rollouts_posterior([1.0, 2.0], [2.0, 1.0], 8, **kw)),
    "simulate": (ALLOCATION_ARGUMENTS + (SCREENING,),  # prepare() checks simulate's arguments without running
                 lambda **kw: prepare(sims.make_scenario("kk12"), "uniform", seeds=2, steps=3, **kw)),
}


def bad_values(param):
    """(value, exception type) pairs that the declaration ``param`` refuses."""
    if param.kind == "choice":
        return [("no-such-choice", ValueError), (3, ValueError)]
    cases = [("1", TypeError), (True, TypeError), ([1], TypeError)]
    if param.none_means is None:
        cases.append((None, TypeError))
    if param.kind == "int":
        cases.append((float(param.low if param.low is not None else 1), TypeError))
    else:
        cases += [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError)]
    step = 1 if param.kind == "int" else 1e-9
    if param.low is not None:
        cases.append((param.low if param.low_open else param.low - step, ValueError))
    if param.high is not None:
        cases.append((param.high if param.high_open else param.high + step, ValueError))
    return cases


CASES = [(function, param.name, value, error) for function, (declarations, _) in FUNCTIONS.items()
         for param in declarations for value, error in bad_values(param)]


@pytest.mark.parametrize("function, name, value, error", CASES)
def test_bad_argument_is_refused_naming_it(function, name, value, error):
    call = FUNCTIONS[function][1]
    with pytest.raises(error, match=rf"The '{name}' argument of {function} must be .*Got {re.escape(repr(value))}"):
        call(**{name: value})


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_declared_defaults_and_bounds_are_accepted(function):
    declarations, call = FUNCTIONS[function]
    call()  # every default
    for param in declarations:
        for value in ([param.low] if param.low is not None and not param.low_open else []) + \
                ([param.high] if param.high is not None and not param.high_open else []) + list(param.choices):
            call(**{param.name: value})


def test_every_declaration_gets_cases():
    declared = {p.name for declarations, _ in FUNCTIONS.values() for p in declarations}
    assert {case[1] for case in CASES} == declared
