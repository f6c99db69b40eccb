"""Runtime-kind dispatch over the plain schedulers: GENERATED, do not edit.

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

from . import adarft, cures, dump_ucb, e2h, exp3s, greso, learnability, plr, retire, sec, thompson, tscl, uniform, vcrl
from ._jit import jit

#: leaf kind -> Kernels
KINDS = (
    uniform.Uniform.kernels,
    dump_ucb.DumpUCB.kernels,
    cures.CurES.kernels,
    sec.SEC.kernels,
    exp3s.Exp3S.kernels,
    tscl.TSCL.kernels,
    plr.PLR.kernels,
    thompson.Thompson.kernels,
    learnability.Learnability.kernels,
    greso.Greso.kernels,
    retire.Retire.kernels,
    vcrl.Vcrl.kernels,
    adarft.AdaRFT.kernels,
    e2h.E2H.kernels,
)

#: the registered names of the plain schedulers -> (class, preset), for composites' arguments
NAMED = {
    'uniform': (uniform.Uniform, {}),
    'dump-ucb': (dump_ucb.DumpUCB, {}),
    'cures': (cures.CurES, {}),
    'sec': (sec.SEC, {}),
    'exp3s': (exp3s.Exp3S, {}),
    'tscl': (tscl.TSCL, {}),
    'plr': (plr.PLR, {}),
    'thompson': (thompson.Thompson, {}),
    'learnability': (learnability.Learnability, {}),
    'greso': (greso.Greso, {}),
    'retire': (retire.Retire, {}),
    'vcrl': (vcrl.Vcrl, {}),
    'adarft': (adarft.AdaRFT, {}),
    'e2h': (e2h.E2H, {}),
    'sfl': (learnability.Learnability, {'uniform_mix': 0.5}),
}


@jit
def init_leaf(kind, params, n_arms, f, i):
    if kind == 0:
        uniform._init(params, n_arms, f, i)
    elif kind == 1:
        dump_ucb._init(params, n_arms, f, i)
    elif kind == 2:
        cures._init(params, n_arms, f, i)
    elif kind == 3:
        sec._init(params, n_arms, f, i)
    elif kind == 4:
        exp3s._init(params, n_arms, f, i)
    elif kind == 5:
        tscl._init(params, n_arms, f, i)
    elif kind == 6:
        plr._init(params, n_arms, f, i)
    elif kind == 7:
        thompson._init(params, n_arms, f, i)
    elif kind == 8:
        learnability._init(params, n_arms, f, i)
    elif kind == 9:
        greso._init(params, n_arms, f, i)
    elif kind == 10:
        retire._init(params, n_arms, f, i)
    elif kind == 11:
        vcrl._init(params, n_arms, f, i)
    elif kind == 12:
        adarft._init(params, n_arms, f, i)
    elif kind == 13:
        e2h._init(params, n_arms, f, i)


@jit
def update_leaf(kind, params, n_arms, f, i, arms, rewards, offsets):
    if kind == 0:
        uniform._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 1:
        dump_ucb._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 2:
        cures._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 3:
        sec._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 4:
        exp3s._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 5:
        tscl._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 6:
        plr._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 7:
        thompson._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 8:
        learnability._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 9:
        greso._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 10:
        retire._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 11:
        vcrl._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 12:
        adarft._update(params, n_arms, f, i, arms, rewards, offsets)
    elif kind == 13:
        e2h._update(params, n_arms, f, i, arms, rewards, offsets)


@jit
def sample_leaf(kind, params, n_arms, f, i, rng, out):
    if kind == 0:
        uniform._sample(params, n_arms, f, i, rng, out)
    elif kind == 1:
        dump_ucb._sample(params, n_arms, f, i, rng, out)
    elif kind == 2:
        cures._sample(params, n_arms, f, i, rng, out)
    elif kind == 3:
        sec._sample(params, n_arms, f, i, rng, out)
    elif kind == 4:
        exp3s._sample(params, n_arms, f, i, rng, out)
    elif kind == 5:
        tscl._sample(params, n_arms, f, i, rng, out)
    elif kind == 6:
        plr._sample(params, n_arms, f, i, rng, out)
    elif kind == 7:
        thompson._sample(params, n_arms, f, i, rng, out)
    elif kind == 8:
        learnability._sample(params, n_arms, f, i, rng, out)
    elif kind == 9:
        greso._sample(params, n_arms, f, i, rng, out)
    elif kind == 10:
        retire._sample(params, n_arms, f, i, rng, out)
    elif kind == 11:
        vcrl._sample(params, n_arms, f, i, rng, out)
    elif kind == 12:
        adarft._sample(params, n_arms, f, i, rng, out)
    elif kind == 13:
        e2h._sample(params, n_arms, f, i, rng, out)


@jit
def probs_leaf(kind, params, n_arms, f, i, out):
    if kind == 0:
        uniform._probs(params, n_arms, f, i, out)
    elif kind == 1:
        dump_ucb._probs(params, n_arms, f, i, out)
    elif kind == 2:
        cures._probs(params, n_arms, f, i, out)
    elif kind == 3:
        sec._probs(params, n_arms, f, i, out)
    elif kind == 4:
        exp3s._probs(params, n_arms, f, i, out)
    elif kind == 5:
        tscl._probs(params, n_arms, f, i, out)
    elif kind == 6:
        plr._probs(params, n_arms, f, i, out)
    elif kind == 7:
        thompson._probs(params, n_arms, f, i, out)
    elif kind == 8:
        learnability._probs(params, n_arms, f, i, out)
    elif kind == 9:
        greso._probs(params, n_arms, f, i, out)
    elif kind == 10:
        retire._probs(params, n_arms, f, i, out)
    elif kind == 11:
        vcrl._probs(params, n_arms, f, i, out)
    elif kind == 12:
        adarft._probs(params, n_arms, f, i, out)
    elif kind == 13:
        e2h._probs(params, n_arms, f, i, out)
