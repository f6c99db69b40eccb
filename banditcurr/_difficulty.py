"""Difficulty labels: schedulers that order arms from easy to hard (adarft, e2h).

Each arm k has a difficulty label d_k (float64, finite): by default its index
(arms 0..K-1 ordered easy -> hard, as a graded scenario's levels are), or an array
of K labels given at construction (``difficulty=``). The labels are part of the
scheduler's state (the field ``difficulty``), so ``state_dict`` carries them and a
checkpoint restores them; the simulator's compiled loop reads them from the state.
"""

from typing import Callable, ClassVar

import numpy as np

from ._jit import jit
from .base import Scheduler

#: The largest |label| accepted: differences and squares of labels stay finite.
MAX_DIFFICULTY = 1e12


@jit
def label_range(difficulty):
    """(min, max) of the labels (float64 (K,), K >= 1)."""
    low = difficulty[0]
    high = difficulty[0]
    for k in range(1, difficulty.shape[0]):
        low = min(low, difficulty[k])
        high = max(high, difficulty[k])
    return low, high


@jit
def write_index_labels(n_arms, f):
    """The default labels d_k = k into the ``difficulty`` field, f[:n_arms]."""
    for k in range(n_arms):
        f[k] = k


def check_difficulty(owner, difficulty, n_arms):
    """``difficulty`` as a float64 array (n_arms,) of finite labels within
    +-MAX_DIFFICULTY, or a clear error naming the argument."""
    try:
        array = np.array(difficulty, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"The 'difficulty' argument of {owner} must be an array of {n_arms} floats (one label per "
                        f"arm, larger = harder). Got {type(difficulty).__name__}.") from None
    if array.shape != (n_arms,):
        raise ValueError(f"The 'difficulty' argument of {owner} must have shape (n_arms,) = ({n_arms},): one label "
                         f"per arm. Got shape {array.shape}.")
    bad = ~(np.isfinite(array) & (np.abs(array) <= MAX_DIFFICULTY))
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise ValueError(f"The 'difficulty' argument of {owner} must hold finite floats within +-{MAX_DIFFICULTY:g}. "
                         f"Got {float(array[where])!r} at index {where}.")
    return array


class DifficultyScheduler(Scheduler):
    """Base of the schedulers whose state starts with the field ``difficulty``
    (f[:n_arms]); their kernel ``init`` writes the default labels (the arm index) and
    ``start`` (params, n_arms, f, i) derives the rest of a fresh state from them."""

    #: Relabelling arms changes their difficulty: not equivariant.
    permutation_equivariant = False
    #: The module's kernel start(params, n_arms, f, i), as a staticmethod.
    start: ClassVar[Callable]

    def __init__(self, n_arms, *, difficulty=None, seed=None, **hyperparameters):
        super().__init__(n_arms, seed=seed, **hyperparameters)
        if difficulty is not None:
            labels = check_difficulty(type(self).__name__, difficulty, self.n_arms)
            self.kernels.views(self._params, self.n_arms, self._f, self._i)[0][:] = labels
            self.start(self._params, self.n_arms, self._f, self._i)

    def difficulty(self):
        """The arms' difficulty labels: float64 (n_arms,), a copy."""
        return self.kernels.views(self._params, self.n_arms, self._f, self._i)[0].copy()

    def _check_state(self, arrays):
        labels = arrays["difficulty"]
        if np.any(np.abs(labels) > MAX_DIFFICULTY):
            self._refuse_state(f"holds difficulty labels beyond +-{MAX_DIFFICULTY:g}")
