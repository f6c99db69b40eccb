"""The compiled dispatch, checked on every registered scheduler (composites included).

A compiled caller that takes a scheduler's kernels as first-class functions
(``banditcurr._compiled``: how the simulator's engine calls them) and, for the plain
schedulers, the generated runtime-kind chains of ``banditcurr._dispatch`` (what
two-level calls) must run the very kernels of the class: same draws, same state, same
probabilities, on a random feedback stream. And ``_dispatch.py`` must be what the
generator writes from the registry's list today.
"""

import dataclasses

import numpy as np
import pytest

import banditcurr as bc
from banditcurr import _dispatch, _gen_dispatch, _registry
from banditcurr._compiled import compile_caller, compile_kernel, kernel_types
from numba import njit, typeof

NAMES = bc.available()
N_ARMS = 7


# Not disk-cached (unlike banditcurr's ``jit``): Numba would key a cache of a function
# defined here on this file alone, and reuse it after the kernels it calls changed.
@njit
def _kernel_step(sample, update, probs, params, n_arms, f, i, rng, out, rewards, offsets, p):
    """sample (into out), update with the drawn arms, probs: as the class's verbs do."""
    sample(params, n_arms, f, i, rng, out)
    update(params, n_arms, f, i, out, rewards, offsets)
    probs(params, n_arms, f, i, p)


@njit
def _kernel_init(init, params, n_arms, f, i):
    init(params, n_arms, f, i)


def _first_class(caller, verbs, kernels, *args):
    """Call ``caller`` compiled with ``kernels``' ``verbs`` as first-class functions (as
    the simulator's engine takes them), then ``args``."""
    params, _, f, i = args[:4]
    function_types = kernel_types(params, f, i, np.zeros(4, np.uint64))
    signature = tuple(function_types[verb] for verb in verbs) + tuple(typeof(value) for value in args)
    compile_caller(caller, signature)(*(getattr(kernels, verb) for verb in verbs), *args)


def _through_pointers(scheduler, *args):
    _first_class(_kernel_step, ("sample", "update", "probs"), scheduler.kernels, *args)


def _leaf_step(scheduler, params, n_arms, f, i, rng, out, rewards, offsets, p):
    kind = _dispatch.KINDS.index(scheduler.kernels)
    _dispatch.sample_leaf(kind, params, n_arms, f, i, rng, out)
    _dispatch.update_leaf(kind, params, n_arms, f, i, out, rewards, offsets)
    _dispatch.probs_leaf(kind, params, n_arms, f, i, p)


def make_pair(name, seed):
    """Two schedulers built alike: one driven through the class, one through a dispatch."""
    kwargs = {"groups": np.arange(N_ARMS) % 3} if bc.REGISTRY[name][0].composite else {}
    return bc.make(name, N_ARMS, seed=seed, **kwargs), bc.make(name, N_ARMS, seed=seed, **kwargs)


def run_stream(name, step):
    """Drive the class and ``step`` side by side on a random ragged stream at both
    sides of the batch rule; every draw, state array and probability must agree."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    cls_side, kernel_side = make_pair(name, seed=11)
    for batch in (3, 20, 5, 12):
        arms = cls_side.sample(batch)
        sizes = rng.integers(1, 5, batch)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        rewards = (rng.random(offsets[-1]) < 0.3 + 0.1 * (np.repeat(arms, sizes) % 5)).astype(np.float64)
        cls_side.update(arms, rewards, offsets)
        out, p = np.empty(batch, dtype=np.int64), np.empty(N_ARMS)
        s = kernel_side
        step(s, s._params, N_ARMS, s._f, s._i, s._rng, out, rewards, offsets, p)
        np.testing.assert_array_equal(out, arms)
        np.testing.assert_array_equal(p, cls_side.probs())
        np.testing.assert_array_equal(kernel_side._f, cls_side._f)
        np.testing.assert_array_equal(kernel_side._i, cls_side._i)
        np.testing.assert_array_equal(kernel_side._rng, cls_side._rng)


@pytest.mark.parametrize("name", NAMES)
def test_first_class_kernels_give_the_class_results(name):
    run_stream(name, _through_pointers)


@pytest.mark.parametrize("name", [n for n in NAMES if bc.REGISTRY[n][0].kernels in _dispatch.KINDS])
def test_generated_leaf_dispatch_gives_the_class_results(name):
    assert _dispatch.KINDS.index(bc.REGISTRY[name][0].kernels) == _registry.kind_of(bc.REGISTRY[name][0])
    run_stream(name, _leaf_step)  # one numbering


@pytest.mark.parametrize("name", NAMES)
def test_first_class_init_gives_a_fresh_state(name):
    fresh, used = make_pair(name, seed=2)
    used.update(used.sample(3), np.ones((3, 2)))
    _first_class(_kernel_init, ("init",), used.kernels, used._params, N_ARMS, used._f, used._i)
    np.testing.assert_array_equal(used._f, fresh._f)
    np.testing.assert_array_equal(used._i, fresh._i)


def test_a_kernel_that_returns_a_value_is_refused():
    @njit
    def returns_a_count(params, n_arms, f, i, rng, out):
        return out.shape[0]

    s = bc.make("uniform", 3, seed=0)
    with pytest.raises(TypeError, match="returns int64; scheduler kernels return nothing"):
        compile_kernel(returns_a_count, kernel_types(s._params, s._f, s._i, s._rng)["sample"])


def test_generated_dispatch_is_up_to_date():
    assert _gen_dispatch.PATH.read_text() == _gen_dispatch.render(), (
        "banditcurr/_dispatch.py is stale: run python -m banditcurr._gen_dispatch")


def test_every_plain_scheduler_has_a_leaf_kind_and_composites_come_last():
    classes = _registry.scheduler_classes()
    plain = [cls for cls in classes if not cls.composite]
    assert classes[:len(plain)] == plain, "composites must follow the plain schedulers in SCHEDULER_MODULES"
    assert _dispatch.KINDS == tuple(cls.kernels for cls in plain)
    assert list(_registry.KERNELS) == [cls.kernels for cls in classes]


def test_kind_of_refuses_a_scheduler_outside_the_list():
    class Stray(bc.Uniform):  # same kernels, but a Kernels object no list entry registered
        kernels = dataclasses.replace(bc.Uniform.kernels)

    with pytest.raises(ValueError, match="not in banditcurr._registry.SCHEDULER_MODULES"):
        _registry.kind_of(Stray(3))
