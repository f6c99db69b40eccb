"""Feedback validation: one compiled pass over the arrays, clear messages in Python.

``check_feedback`` turns what a user passed to ``update`` into the ragged form every
kernel reads (``arms`` int64 (n_groups,), ``rewards`` float64 flat, ``offsets`` int64
(n_groups + 1,), all C-contiguous) or raises a ``ValueError``/``TypeError`` naming the
argument, the value received and what is allowed. It never writes to scheduler state,
so a rejected ``update`` changes nothing.

Speed: arrays that already have the right dtype and layout are not copied; the value
checks (arm ids in range, rewards finite, offsets increasing) run in one Numba call,
``_scan``, that returns an error code which Python turns into the message. For a
(128, 16) batch the whole check costs about a microsecond.
"""

import numpy as np

from ._jit import jit

_INT64 = np.dtype(np.int64)
_FLOAT64 = np.dtype(np.float64)
_EXPONENT = np.uint64(0x7FF0000000000000)

#: Rewards must lie in [-REWARD_LIMIT, REWARD_LIMIT] (docs/contract.md, "Rewards"): far
#: beyond any task's rewards, and small enough that no group statistic can overflow.
REWARD_LIMIT = 1e12

# error codes of _scan
_OK, _ARM_RANGE, _NOT_FINITE, _OFFSET_START, _OFFSET_END, _OFFSET_ORDER, _TOO_LARGE = range(7)


@jit
def _scan(n_arms, arms, rewards, offsets):
    """Check values: arms in 0..n_arms-1, rewards finite and within +-REWARD_LIMIT,
    offsets from 0 to len(rewards), strictly increasing. Returns (code, position of
    the first fault)."""
    for g in range(arms.shape[0]):
        if arms[g] < 0 or arms[g] >= n_arms:
            return _ARM_RANGE, g
    # finite <=> exponent bits not all ones; an OR over integers vectorises
    bits = rewards.view(np.uint64)
    fault = False
    for j in range(bits.shape[0]):
        fault |= (bits[j] & _EXPONENT) == _EXPONENT
    if fault:
        for j in range(bits.shape[0]):
            if bits[j] & _EXPONENT == _EXPONENT:
                return _NOT_FINITE, j
    large = False
    for j in range(rewards.shape[0]):
        large |= abs(rewards[j]) > REWARD_LIMIT
    if large:
        for j in range(rewards.shape[0]):
            if abs(rewards[j]) > REWARD_LIMIT:
                return _TOO_LARGE, j
    if offsets[0] != 0:
        return _OFFSET_START, 0
    last = offsets.shape[0] - 1
    if offsets[last] != rewards.shape[0]:
        return _OFFSET_END, last
    for g in range(last):
        if offsets[g + 1] <= offsets[g]:
            return _OFFSET_ORDER, g
    return _OK, 0


def _is_plain(array, dtype, ndim):
    """True if ``array`` can reach a kernel as is: ndarray, dtype, ndim, C order."""
    return (type(array) is np.ndarray and array.dtype is dtype and array.ndim == ndim
            and array.flags.c_contiguous)


def _int_array(name, value, what):
    array = np.asarray(value)
    if array.ndim != 1:
        raise ValueError(f"The {name!r} argument must be 1-D ({what}). Got shape {array.shape}.")
    if array.dtype.kind not in "iu":
        raise TypeError(f"The {name!r} argument must hold integers ({what}). Got dtype {array.dtype}.")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"The {name!r} argument holds {array.max()}, too large for int64.")
    return np.ascontiguousarray(array, dtype=np.int64)


def _float_array(value):
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(
            "The 'rewards' argument must be a rectangular (len(arms), G) array, or flat with 'offsets' for groups "
            f"of different sizes. Got a ragged sequence ({error})."
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"The 'rewards' argument must be a real numeric array (bool, int or float). Got dtype {array.dtype}."
        )
    return array


class OffsetCache:
    """The offsets ``G * arange(B + 1)`` of the last regular (B, G) batch, reused
    while the shape stays the same (kernels never write to offsets)."""

    __slots__ = ("shape", "offsets")

    def __init__(self):
        self.shape = None
        self.offsets = None

    def get(self, n_groups, group_size):
        shape = (n_groups, group_size)
        if self.shape != shape:
            self.offsets = np.arange(n_groups + 1, dtype=np.int64) * group_size
            self.shape = shape
        return self.offsets


def check_feedback(n_arms, arms, rewards, offsets, cache):
    """Validate and convert feedback; return (arms, rewards, offsets) for the kernels.

    ``rewards`` is (len(arms), G) when ``offsets`` is None, else flat with ``offsets``
    of length len(arms) + 1 (group g is ``rewards[offsets[g]:offsets[g + 1]]``).
    ``cache`` is the caller's :class:`OffsetCache`.
    """
    # the fast path: arrays that are already what the kernels take pass untouched
    if type(arms) is not np.ndarray or arms.dtype is not _INT64 or arms.ndim != 1 or not arms.flags.c_contiguous:
        arms = _int_array("arms", arms, "one arm id per group")
    n_groups = arms.shape[0]
    if n_groups == 0:
        raise ValueError("The 'arms' argument is empty: update needs at least one group of rewards.")
    if offsets is None:
        if type(rewards) is not np.ndarray or rewards.dtype is not _FLOAT64 or not rewards.flags.c_contiguous:
            rewards = np.ascontiguousarray(_float_array(rewards), dtype=np.float64)
        shape = rewards.shape
        if len(shape) != 2 or shape[0] != n_groups or shape[1] == 0:
            raise ValueError(
                f"The 'rewards' argument must have shape (len(arms), G) = ({n_groups}, G >= 1). "
                f"Got shape {shape}. For groups of different sizes pass flat rewards and 'offsets'."
            )
        offsets = cache.get(n_groups, shape[1])
        rewards = rewards.reshape(-1)
    else:
        if not _is_plain(rewards, _FLOAT64, 1):
            rewards = _float_array(rewards)
            if rewards.ndim != 1:
                raise ValueError(f"With 'offsets', the 'rewards' argument must be flat (1-D). Got shape {rewards.shape}.")
            rewards = np.ascontiguousarray(rewards, dtype=np.float64)
        if not _is_plain(offsets, _INT64, 1):
            offsets = _int_array("offsets", offsets, "group boundaries into the flat rewards")
        if offsets.shape[0] != n_groups + 1:
            raise ValueError(
                f"The 'offsets' argument must have length len(arms) + 1 = {n_groups + 1}. Got length {offsets.shape[0]}."
            )
    code, where = _scan(n_arms, arms, rewards, offsets)
    if code != _OK:
        _raise(code, where, n_arms, arms, rewards, offsets)
    return arms, rewards, offsets


def _raise(code, where, n_arms, arms, rewards, offsets):
    if code == _ARM_RANGE:
        raise ValueError(
            f"The 'arms' argument holds arm id {arms[where]} at position {where}, outside 0..{n_arms - 1}."
        )
    if code == _NOT_FINITE:
        raise ValueError(
            f"The 'rewards' argument holds a non-finite value ({rewards[where]}) at flat index {where}. "
            "Rewards must be finite numbers."
        )
    if code == _TOO_LARGE:
        raise ValueError(
            f"The 'rewards' argument holds {float(rewards[where])!r} at flat index {where}, outside the supported range "
            f"[-{REWARD_LIMIT:g}, {REWARD_LIMIT:g}] (docs/contract.md, 'Rewards'). Rescale the rewards."
        )
    shown = offsets[:8].tolist()
    if code == _OFFSET_START:
        raise ValueError(f"The 'offsets' argument must start at 0. Got {shown}...")
    if code == _OFFSET_END:
        raise ValueError(
            f"The 'offsets' argument must end at len(rewards) = {rewards.shape[0]}. Got last value {offsets[where]}."
        )
    raise ValueError(
        f"The 'offsets' argument must increase strictly (every group needs at least one reward). "
        f"Got offsets[{where}] = {offsets[where]} and offsets[{where + 1}] = {offsets[where + 1]}."
    )
