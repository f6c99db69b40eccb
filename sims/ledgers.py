"""Simulated runs as rollout ledgers (``banditcurr simulate --ledger DIR``).

A run traced by ``simulate(..., trace=True)`` becomes, per seed, a ledger directory
``DIR/<scheduler>/seed-<k>/`` in the format of ``banditcurr.ledger`` (source
"simulate"): one row per generated group, prompt_id "DIST/INDEX" (INDEX: the prompt's
position in its distribution's training pool), rewards = successes as 0.0/1.0,
completion_tokens null, trained false for groups a gate dropped. ``trace_frame`` gives
the same rows as a DataFrame without writing anything (for tests and quick fits).
"""

import os

import numpy as np


def _seed_groups(result, scenario, seed):
    """(steps, arms, prompt ids, distribution ids, rewards, offsets, trained) of one seed."""
    if result.trace is None:
        raise ValueError("This SimulationResult has no trace: run simulate(..., trace=True).")
    trace = result.trace
    prompt = trace["prompt"][seed]
    used = prompt >= 0
    t_index, slot = np.nonzero(used)
    prompts = prompt[t_index, slot]
    pool_start, _ = scenario.pool_bounds()
    dists = scenario.train_dist[prompts]
    names = np.array(scenario.distributions, dtype=object)
    ids = [f"{names[d]}/{p - pool_start[d]}" for d, p in zip(dists, prompts)]
    sizes = trace["size"][seed][t_index, slot]
    wins = trace["successes"][seed][t_index, slot]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rank = np.arange(offsets[-1]) - np.repeat(offsets[:-1], sizes)
    rewards = (rank < np.repeat(wins, sizes)).astype(np.float64)  # k ones then zeros: order carries nothing
    return (t_index + 1, trace["arm"][seed][t_index, slot], ids, dists, rewards, offsets,
            trace["trained"][seed][t_index, slot].astype(bool))


def trace_frame(result, scenario, seed=0):
    """The ledger rows of seed ``seed`` of a traced run as a pandas DataFrame."""
    import pandas as pd

    steps, arms, ids, dists, rewards, offsets, trained = _seed_groups(result, scenario, seed)
    frame = pd.DataFrame({
        "run_id": f"{result.label}/seed-{seed}", "step": steps, "policy_version": steps - 1, "arm": arms,
        "prompt_id": ids, "distribution": [scenario.distributions[d] for d in dists],
        "rewards": [rewards[a:b] for a, b in zip(offsets[:-1], offsets[1:])],
        "success": [rewards[a:b] > 0.5 for a, b in zip(offsets[:-1], offsets[1:])],
        "completion_tokens": None, "trained": trained})
    frame.attrs["distributions"] = list(scenario.distributions)  # arm-distribution order, as a ledger's metadata
    return frame


def write_ledgers(result, scenario, directory):
    """Write one ledger per seed of a traced run to ``directory/<label>/seed-<k>/``;
    returns the list of ledger directories."""
    from banditcurr.ledger import LedgerWriter

    label = result.label.replace("/", "_").replace(":", "_")
    written = []
    config = {"scenario": scenario.name, "scheduler": result.label, **{k: v for k, v in result.settings.items()
                                                                        if isinstance(v, (int, float, str, bool))}}
    for seed in range(result.trace["prompt"].shape[0]):
        steps, arms, ids, dists, rewards, offsets, trained = _seed_groups(result, scenario, seed)
        path = os.path.join(directory, label, f"seed-{seed}")
        writer = LedgerWriter(path, f"{result.label}/seed-{seed}", "simulate", "reward>=0.5",
                              list(scenario.distributions), config={**config, "seed_index": seed})
        bounds = np.searchsorted(steps, np.arange(1, result.trace["prompt"].shape[1] + 2))
        for t in range(bounds.size - 1):
            a, b = bounds[t], bounds[t + 1]
            if a == b:
                continue
            off = offsets[a:b + 1] - offsets[a]
            flat = rewards[offsets[a]:offsets[b]]
            writer.append_groups(t + 1, t, arms[a:b], ids[a:b], dists[a:b], flat, off, flat > 0.5, None,
                                 trained[a:b])
        writer.flush()
        written.append(path)
    return written
