"""Post-rollout gates: which rolled-out groups a step trains on.

One gate description, :class:`Gate` (or its spec string, ``parse_gate``), used by
``fill_batch``, the simulator's ``--gate`` and the LLM loop's config:

- ``"none"``: every group.
- ``"mixed"`` (alias ``"dynamic-sampling"``): DAPO's dynamic sampling (below),
  max(r) > min(r).
- ``"band:lo=0.25,hi=0.75"``: the pass-rate band, lo <= p_hat <= hi with p_hat the
  group's mean (for 0/1 rewards k/n). Online Difficulty Filtering (Bae et al. 2025,
  arXiv 2504.03380) keeps [0.25, 0.75], the default; OpenRLHF's ``dynamic_filtering_range``.
- ``"std:lo=...,hi=..."``: the std band for continuous rewards, lo <= s <= hi with s the
  group's population std sqrt(mean((r - mean r)^2)); for 0/1 rewards s = sqrt(p_hat (1 - p_hat)),
  so a std band is a symmetric pass-rate band. Both bounds must be given.

A gate may read a *metric* other than the training reward (e.g. the verifier's raw 0/1
success when the reward is shaped): filtering on a shaped reward is reported to wreck
training (verl-recipe PR #125, NeMo-RL #2431), filtering on raw accuracy is safe.

DAPO dynamic sampling, in detail:

Source: DAPO (Yu et al. 2025, arXiv 2503.14476), "dynamic sampling": a group whose G
rewards are all equal (every rollout right, or every one wrong) has GRPO advantages of
zero and gives no gradient, so it is dropped and the batch is refilled with more
prompts until it holds ``batch_size`` groups with nonzero reward std (or a maximum
number of generation rounds is reached). It composes with any scheduler: the scheduler
says what to roll out, the gate says what to train on.

Kernels for compiled loops (no validation; shapes as in ``banditcurr._feedback``):

    _gate_groups(values, offsets, code, low, high, keep) -> n_kept
        keep: bool (n_groups,) out; True where group g of ``values`` passes gate ``code``
        (GATE_NONE, GATE_MIXED, GATE_BAND, GATE_STD) with bounds [low, high]

    _keep_groups(rewards, offsets, keep) -> n_kept
        keep: bool (n_groups,) out; True where the group's rewards are not all equal
    _compact_groups(arms, rewards, offsets, keep, limit, arms_out, rewards_out, offsets_out)
        -> (n_groups, n_rewards): copies the first ``limit`` kept groups (all if limit < 0)
        to the front of the out arrays, in order

``fill_batch`` drives the refill rounds from Python around a ``rollout`` callable.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._checks import OffsetCache, check_feedback
from ._jit import jit
from ._params import argument, check_arguments
from .gate_spec import GATE_CODES, GATE_MIXED, GATE_NONE, GATE_STD, Gate, parse_gate  # noqa: F401 (re-exported)

@jit
def _gate_groups(values, offsets, code, low, high, keep):
    n_kept = 0
    for g in range(offsets.shape[0] - 1):
        start, stop = offsets[g], offsets[g + 1]
        if code == GATE_NONE:
            keep[g] = True
        elif code == GATE_MIXED:
            lowest = highest = values[start]
            for j in range(start + 1, stop):
                lowest = min(lowest, values[j])
                highest = max(highest, values[j])
            keep[g] = highest > lowest
        else:
            total = 0.0
            for j in range(start, stop):
                total += values[j]
            mean = total / (stop - start)
            statistic = mean
            if code == GATE_STD:
                squares = 0.0
                for j in range(start, stop):
                    squares += (values[j] - mean) ** 2
                statistic = math.sqrt(squares / (stop - start))
            keep[g] = low <= statistic <= high
        n_kept += keep[g]
    return n_kept


@jit
def _keep_groups(rewards, offsets, keep):
    return _gate_groups(rewards, offsets, GATE_MIXED, 0.0, 0.0, keep)


@jit
def _compact_groups(arms, rewards, offsets, keep, limit, arms_out, rewards_out, offsets_out):
    n_groups = 0
    n_rewards = 0
    offsets_out[0] = 0
    for g in range(arms.shape[0]):
        if not keep[g]:
            continue
        if 0 <= limit <= n_groups:
            break
        arms_out[n_groups] = arms[g]
        for j in range(offsets[g], offsets[g + 1]):
            rewards_out[n_rewards] = rewards[j]
            n_rewards += 1
        n_groups += 1
        offsets_out[n_groups] = n_rewards
    return n_groups, n_rewards


def keep_mixed(rewards, offsets=None):
    """Boolean mask of the groups whose rewards are not all equal (DAPO's filter).

    ``rewards``: (n_groups, G), or flat with ``offsets`` (int, n_groups + 1).
    """
    rewards = np.asarray(rewards)
    n_groups = (rewards.shape[0] if rewards.ndim else 0) if offsets is None else np.asarray(offsets).size - 1
    if n_groups < 1:
        raise ValueError(f"The 'rewards' argument of keep_mixed holds no group (shape {rewards.shape}): "
                         f"nothing to gate.")
    arms, rewards, offsets = check_feedback(n_groups, np.arange(n_groups), rewards, offsets, OffsetCache())
    keep = np.empty(arms.shape[0], dtype=np.bool_)
    _keep_groups(rewards, offsets, keep)
    return keep


def keep_groups(values, offsets=None, gate="dynamic-sampling"):
    """Boolean mask of the groups of ``values`` (rewards or a metric) that ``gate``
    (a :class:`Gate` or spec string) keeps. ``values``: (n_groups, G), or flat with ``offsets``."""
    gate = parse_gate(gate, "keep_groups")
    values = np.asarray(values)
    n_groups = (values.shape[0] if values.ndim else 0) if offsets is None else np.asarray(offsets).size - 1
    if n_groups < 1:
        raise ValueError(f"The 'values' argument holds no group (shape {values.shape}): nothing to gate.")
    try:
        arms, values, offsets = check_feedback(n_groups, np.arange(n_groups), values, offsets, OffsetCache())
    except (TypeError, ValueError) as error:
        raise type(error)(str(error).replace("'rewards'", "'values'")) from None
    keep = np.empty(arms.shape[0], dtype=np.bool_)
    _gate_groups(values, offsets, gate.code, *gate.bounds, keep)
    return keep


@dataclass
class FilledBatch:
    """What ``fill_batch`` returns: the training batch and what it cost.

    arms, rewards, offsets: the kept groups (ragged form), at most ``batch_size``
    rounds: generation rounds run; rollouts: rollouts generated in all rounds;
    extra_rollouts: rollouts of rounds 2.. (the refill cost over a plain step);
    dropped_groups: groups the gate dropped; sampled_groups: groups rolled out;
    full: True if the batch reached ``batch_size`` groups; metric: the kept groups'
    metric (flat, like ``rewards``) when the rollout returned one, else None.
    """

    arms: np.ndarray
    rewards: np.ndarray
    offsets: np.ndarray
    rounds: int
    rollouts: int
    extra_rollouts: int
    dropped_groups: int
    sampled_groups: int
    full: bool
    metric: np.ndarray | None = None


_UPDATE_MODES = ("all", "batch", "none")


_ROLLOUT_KEYS = ("arms", "rewards", "offsets", "metric", "eligible")


def _rollout_metric(metric, n_rewards):
    """The metric a rollout returned, flat float64 of ``n_rewards`` finite values, or an error."""
    try:
        values = np.asarray(metric, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"The 'metric' returned by the 'rollout' callable must be numbers, one per rollout. "
                        f"Got {type(metric).__name__}.") from None
    if values.size != n_rewards:
        raise ValueError(f"The 'metric' returned by the 'rollout' callable must hold one value per rollout "
                         f"({n_rewards}, like the rewards). Got {values.size} values.")
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"The 'metric' returned by the 'rollout' callable must be finite. Got {float(values[bad])!r} "
                         f"at position {bad}.")
    return np.ascontiguousarray(values)


def _rollout_eligible(eligible, n_groups):
    """The eligible mask a rollout returned: bool, one per group rolled out, or an error."""
    mask = np.asarray(eligible)
    if mask.dtype != np.bool_ or mask.shape != (n_groups,):
        raise ValueError(f"The 'eligible' returned by the 'rollout' callable must be a bool array with one value "
                         f"per group rolled out ({n_groups}). Got dtype {mask.dtype}, shape {mask.shape}.")
    return mask


def _rollout_feedback(rollout, arms, n_arms):
    """(arms, flat rewards, offsets, flat metric or None, eligible mask or None) of one
    rollout call, checked."""
    result = rollout(arms)
    if isinstance(result, dict):
        unknown = sorted(set(result) - set(_ROLLOUT_KEYS))
        if unknown or "rewards" not in result:
            raise ValueError(f"The 'rollout' callable returned a dict with keys {sorted(result)}; allowed: "
                             f"{', '.join(_ROLLOUT_KEYS)} ('rewards' required).")
        metric, eligible = result.get("metric"), result.get("eligible")
        if "arms" in result:
            result = (result["arms"], result["rewards"], result.get("offsets"))
        else:
            result = (result["rewards"], result.get("offsets"))
        rolled, rewards, offsets = _rollout_rewards(result, arms, n_arms)
        return (rolled, rewards, offsets, None if metric is None else _rollout_metric(metric, rewards.shape[0]),
                None if eligible is None else _rollout_eligible(eligible, rolled.shape[0]))
    return (*_rollout_rewards(result, arms, n_arms), None, None)


def _rollout_rewards(result, arms, n_arms):
    if not isinstance(result, tuple):
        result = (result,)
    if len(result) == 1:
        rolled, rewards, offsets = arms, result[0], None
    elif len(result) == 2 and result[1] is None:
        rolled, rewards, offsets = arms, result[0], None
    elif len(result) == 2:
        rolled, (rewards, offsets) = arms, result
    elif len(result) == 3:
        rolled, rewards, offsets = result
    else:
        raise ValueError(f"The 'rollout' callable returned a tuple of {len(result)} items; allowed: rewards "
                         "(len(arms), G), (flat rewards, offsets), (arms rolled out, flat rewards, offsets), "
                         "or a dict with 'rewards' and optional 'arms', 'offsets', 'metric'.")
    if len(result) == 3 and np.asarray(rolled).size == 0:  # it skipped every arm
        return np.empty(0, dtype=np.int64), np.empty(0), np.zeros(1, dtype=np.int64)
    try:
        rolled, rewards, offsets = check_feedback(n_arms, rolled, rewards, offsets, OffsetCache())
    except (TypeError, ValueError) as error:
        raise type(error)(f"The 'rollout' callable returned bad feedback for {len(arms)} arms: {error}") from None
    if len(result) == 3:  # the arms it names must be among those it was given (as a multiset)
        given, given_counts = np.unique(arms, return_counts=True)
        got, got_counts = np.unique(rolled, return_counts=True)
        position = np.minimum(np.searchsorted(given, got), len(given) - 1)
        allowed = np.where(given[position] == got, given_counts[position], 0)
        if np.any(got_counts > allowed):
            bad = int(got[np.flatnonzero(got_counts > allowed)[0]])
            raise ValueError(f"The 'rollout' callable returned feedback for arm {bad}, which it was not given "
                             f"(or more groups of it than it was given): it must roll out a subset of the "
                             f"{len(arms)} arms passed to it.")
    return rolled, rewards, offsets


#: fill_batch's scalar arguments (tests/test_arguments.py derives its bad-input cases from them)
FILL_BATCH_ARGUMENTS = (
    argument("batch_size", "int", low=1, doc="groups with mixed rewards to return"),
    argument("max_rounds", "int", low=1, doc="sample-roll-out-gate rounds at most"),
    argument("oversample", low=1.0, doc="arms drawn per missing group"),
    argument("update", "choice", choices=_UPDATE_MODES, doc="what the scheduler learns from"),
)


def fill_batch(scheduler, rollout, batch_size, *, max_rounds=10, oversample=1.0, update="all",
               gate="dynamic-sampling"):
    """Sample, roll out and gate until ``batch_size`` groups pass ``gate``.

    Round r draws ``ceil(need * oversample)`` arms from ``scheduler`` (need = groups
    still missing), calls ``rollout(arms)`` and keeps the groups that pass ``gate`` (a
    :class:`Gate` or spec string; default DAPO's "dynamic-sampling": rewards not all
    equal), in order, up to the missing count. ``rollout`` returns rewards
    (len(arms), G), or a tuple (flat rewards, offsets), or (arms it rolled out, flat
    rewards, offsets) when it skips some (e.g. a rollout allocation gave them 0), or a
    dict with "rewards" and optional "arms", "offsets" and "metric": one value per
    rollout (e.g. the verifier's raw 0/1 success when the reward is shaped) that the
    gate reads instead of the rewards (the scheduler still learns from the rewards),
    and "eligible": bool per group, False for a group the rollout itself rules out
    (e.g. SPEED-RL screening: a prompt whose screen was not mixed got no more rollouts),
    never kept whatever the gate says. At
    prompt level (``batch_size <= n_arms``) an arm already drawn in this call is not
    drawn again. After ``max_rounds`` the batch is returned as is (``full`` False).

    ``update`` says what the scheduler learns, round by round (before the next draw):
    ``"all"`` (default) every group rolled out, dropped ones included -- an all-equal
    group is the clearest evidence that a prompt is solved or out of reach, and a
    scheduler that never saw it would keep proposing it; ``"batch"`` only the groups of
    the returned batch; ``"none"`` nothing (the caller updates). Do not update the
    scheduler again with the returned batch unless ``update="none"``. If ``rollout``
    raises or returns bad feedback, the scheduler is restored to its state before the call.
    """
    if not callable(rollout):
        raise TypeError(f"The 'rollout' argument must be callable: arms -> rewards. Got {rollout!r} instead.")
    checked = check_arguments("fill_batch", FILL_BATCH_ARGUMENTS, {
        "batch_size": batch_size, "max_rounds": max_rounds, "oversample": oversample, "update": update})
    batch_size, max_rounds, oversample = checked["batch_size"], checked["max_rounds"], checked["oversample"]
    gate = parse_gate(gate, "fill_batch")
    saved = scheduler.state_dict()
    try:
        return _fill_rounds(scheduler, rollout, batch_size, max_rounds, oversample, update, gate)
    except Exception:  # a rejected rollout result (or a failing rollout) leaves the scheduler as it was
        scheduler.load_state_dict(saved)
        raise


def _fill_rounds(scheduler, rollout, batch_size, max_rounds, oversample, update, gate):
    distinct = batch_size <= scheduler.n_arms
    used = np.zeros(scheduler.n_arms, dtype=np.bool_) if distinct else None
    kept_arms, kept_rewards, kept_sizes, kept_metric = [], [], [], []
    with_metric = None  # whether the rollout returns a metric: the same in every round
    rounds = rollouts = extra = dropped = sampled = n_used = 0
    while len(kept_arms) < batch_size and rounds < max_rounds:
        need = batch_size - len(kept_arms)
        want = max(1, math.ceil(need * oversample))
        if distinct:  # draw past the arms used so far, keep the first `want` new ones
            arms = scheduler.sample(min(scheduler.n_arms, n_used + want))
            arms = arms[~used[arms]][:want]
            used[arms] = True
            n_used += arms.shape[0]
        else:
            arms = scheduler.sample(want)
        rounds += 1
        if arms.size == 0:
            continue
        arms, rewards, offsets, metric, eligible = _rollout_feedback(rollout, arms, scheduler.n_arms)
        if arms.size and with_metric is None:
            with_metric = metric is not None
        elif arms.size and with_metric != (metric is not None):
            raise ValueError("The 'rollout' callable returned a metric in some rounds and not in others: "
                             "return one every time or never.")
        keep = np.empty(arms.shape[0], dtype=np.bool_)
        _gate_groups(rewards if metric is None else metric, offsets, gate.code, *gate.bounds, keep)
        if eligible is not None:
            keep &= eligible
        n_rollouts = int(offsets[-1])
        rollouts += n_rollouts
        extra += n_rollouts if rounds > 1 else 0
        sampled += arms.shape[0]
        dropped += int((~keep).sum())
        taken = np.flatnonzero(keep)[:need]
        if update == "all" and arms.size:
            scheduler.update(arms, rewards, offsets)
        elif update == "batch" and taken.size:
            scheduler.update(arms[taken], np.concatenate([rewards[offsets[g]:offsets[g + 1]] for g in taken]),
                             np.concatenate([[0], np.cumsum(np.diff(offsets)[taken])]))
        for g in taken:
            kept_arms.append(arms[g])
            kept_rewards.append(rewards[offsets[g]:offsets[g + 1]])
            kept_sizes.append(offsets[g + 1] - offsets[g])
            if metric is not None:
                kept_metric.append(metric[offsets[g]:offsets[g + 1]])
    return FilledBatch(
        arms=np.array(kept_arms, dtype=np.int64),
        rewards=np.concatenate(kept_rewards) if kept_rewards else np.empty(0),
        offsets=np.concatenate([[0], np.cumsum(kept_sizes, dtype=np.int64)]).astype(np.int64),
        rounds=rounds, rollouts=rollouts, extra_rollouts=extra, dropped_groups=dropped,
        sampled_groups=sampled, full=len(kept_arms) == batch_size,
        metric=(np.concatenate(kept_metric) if kept_metric else np.empty(0)) if with_metric else None,
    )
