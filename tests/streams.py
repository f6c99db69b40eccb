"""Random feedback streams and the twin-comparison loop shared by the scheduler tests.

A scheduler and its plain twin (tests/naive.py) are driven by the same xoshiro256** stream:
the twin gets a pure-Python `Xoshiro` started from the scheduler's rng state, so every draw
must agree exactly, and after each update the state and probabilities must agree to rounding.
"""

import time

import numpy as np

from naive import Xoshiro


def arm_success_rewards(rng, rollout_arms):
    """Bernoulli((arm % 5) / 4) successes, minus 0.3 on a random fifth of the rollouts."""
    n = len(rollout_arms)
    success = (rollout_arms % 5) / 4.0
    return (rng.random(n) < success).astype(float) - 0.3 * (rng.random(n) < 0.2)


def binary_or_real(p_binary, real):
    """Per rollout: 0 or 1 with probability p_binary, else real(rng, n) (rounded reals, so
    ties happen). Returns a reward maker `(rng, rollout_arms) -> rewards`."""
    def draw(rng, rollout_arms):
        n = len(rollout_arms)
        return np.where(rng.random(n) < p_binary, rng.integers(0, 2, n), real(rng, n))
    return draw


def random_feedback(rng, arms, ragged, rewards=arm_success_rewards, max_size=9, group_size=None):
    """Ragged feedback for the groups `arms`: (rewards float64 flat, offsets int64).

    ragged: group sizes uniform in [1, max_size); else every group has `group_size`
    rollouts, or a size drawn uniformly in [1, 9) when group_size is None.
    rewards(rng, rollout_arms) draws the flat rewards, one per rollout."""
    if ragged:
        sizes = rng.integers(1, max_size, len(arms))
    else:
        sizes = np.full(len(arms), group_size if group_size is not None else int(rng.integers(1, 9)))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return np.asarray(rewards(rng, np.repeat(arms, sizes)), dtype=float), offsets


def check_beta_posterior(scheduler, twin, state):
    """`check` for Beta-posterior schedulers: alpha and beta equal the twin's to rounding."""
    np.testing.assert_allclose(state["alpha"], twin.alpha, rtol=1e-12)
    np.testing.assert_allclose(state["beta"], twin.beta, rtol=1e-12)


def assert_matches_twin(scheduler, twin, rng, n_steps, feedback, *, max_batch, matrix=False,
                        probs_tol=None, check=None):
    """n_steps of: draw a batch size in [1, max_batch) from rng; sample it from the scheduler
    and from the twin (same xoshiro stream; the arms must be equal); feedback(rng, arms) ->
    (rewards, offsets); update both. After each update the rng states must be equal, the
    probs must agree to probs_tol = (rtol, atol) when given, and check(scheduler, twin,
    state_dict) makes the scheduler's own state comparisons.

    matrix: give the scheduler the feedback as an (n_groups, group_size) matrix, for
    feedback whose groups all have the same size (the twin always gets offsets)."""
    stream = Xoshiro(scheduler.state_dict()["rng"])
    for _ in range(n_steps):
        batch = int(rng.integers(1, max_batch))
        arms = scheduler.sample(batch)
        np.testing.assert_array_equal(arms, twin.sample(stream, batch))
        rewards, offsets = feedback(rng, arms)
        if matrix:
            scheduler.update(arms, rewards.reshape(batch, -1))
        else:
            scheduler.update(arms, rewards, offsets)
        twin.update(arms, rewards, offsets)
        state = scheduler.state_dict()
        np.testing.assert_array_equal(state["rng"], stream.state())
        if probs_tol is not None:
            rtol, atol = probs_tol
            np.testing.assert_allclose(scheduler.probs(), twin.probs(), rtol=rtol, atol=atol)
        if check is not None:
            check(scheduler, twin, state)


def assert_pool_mode_distinct_reproducible_fast(make, group_size=16, update_each_step=True):
    """Pool-mode sampling on a huge K (make() builds the seeded scheduler): 20 steps of 128
    draws are distinct within each step and take < 20 ms a step (sampling is O(pool), a
    full scan of a million arms is ~50-100 ms); the same seed gives the same first draws;
    a state saved before the first update resumes to the same next draws. Each step is
    followed by an update when update_each_step, else only the first draws are fed back."""
    s = make()
    first = s.sample(128)
    state = s.state_dict()
    rewards = (np.arange(128 * group_size).reshape(128, group_size) % 3 == 0).astype(float)
    s.update(first, rewards)
    start = time.perf_counter()
    steps = []
    for _ in range(20):
        steps.append(s.sample(128))
        if update_each_step:
            s.update(steps[-1], rewards)
    per_step = (time.perf_counter() - start) / 20
    assert all(len(np.unique(arms)) == 128 for arms in steps)
    assert per_step < 0.02, per_step
    np.testing.assert_array_equal(make().sample(128), first)  # same seed, same draws
    resumed = make()
    resumed.load_state_dict(state)
    resumed.update(first, rewards)
    np.testing.assert_array_equal(resumed.sample(128), steps[0])


def assert_same_state(a, b):
    """Two state dicts equal entry by entry, arrays byte for byte (same dtype and shape)."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert a[key].tobytes() == b[key].tobytes(), key
        else:
            assert a[key] == b[key], key
