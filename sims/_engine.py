"""The compiled engine: S seeds x T steps x B prompts x G rollouts, in Numba.

One call of :func:`run_seeds` advances a range of seeds from step ``t_start`` to
``t_stop`` without the GIL; the Python caller (``simulate.py``) runs disjoint seed
ranges in parallel threads and loops over chunks of steps only to draw a progress
bar. All state lives in arrays and each seed owns its rows of every array and two
random streams (scheduler, learner), so neither the chunking nor the thread count
changes a result.

Why threads and not ``prange``: the parallel loop works the same, but Numba compiles a
``prange`` function in three layers, each re-optimising everything it links;
measured here (when the engine still linked the scheduler dispatch) it tripled the
engine's cold compile.

One training step of one seed (``_step``):

1. the scheduler samples B arms: its ``sample`` kernel, passed to ``run_seeds`` as a
   first-class function (``banditcurr._compiled``), so the engine is compiled once for
   every scheduler (``fixed_sample`` draws from fixed weights held in ``params``);
2. arms become prompts: at prompt level the arm is the prompt, at distribution level
   a prompt is drawn uniformly from the distribution's training pool;
3. ``group_sizes`` (an argument, as the kernels: ``GROUP_SIZES``) gives each group its
   number of rollouts: G, or CurES's Neyman allocation of the same budget (from the
   scheduler's posterior, or from the true p), or Knapsack-RL's (``banditcurr.knapsack``,
   from the posterior mean or the true p);
   groups given none are dropped, the rest of the step works on ragged groups
   through ``offsets``;
4. G Bernoulli rollouts per prompt with p = sigmoid(loadings[c] . theta - delta)
   (``bernoulli_group``, from the learner's stream);
5. the scheduler's ``update`` kernel sees (arms, rewards, offsets) as from the public API;
   With SPEED-RL screening (``SCREENING`` = N_init > 0, ``_screen``) each prompt first
   gets N_init rollouts and only those with mixed screens get the other G - N_init;
6. the post-rollout gate keeps groups for training (``GATE_NONE``: all;
   ``GATE_DYNAMIC``: DAPO dynamic sampling as ``banditcurr.gates.fill_batch``, only
   groups with mixed rewards; ``GATE_BAND``: lo <= k/n <= hi; ``GATE_STD``:
   lo <= sqrt(p(1 - p)) <= hi with p = k/n, the population std of 0/1 rewards; see
   ``_passes``), drawing the missing ones again until B are kept or ``max_rounds``
   rounds were drawn; every rollout counts. Screening refills the same way (a
   screened-out prompt is never kept);
7. the GRPO step on the kept groups (plain, or Adam-normalised per skill), the
   memorisation step of the trained prompts' own logits, update noise, then
   forgetting; records, evaluation, and the optional per-group trace.

The learner options (Adam, memorisation, update noise; ``docs/simulator.md``) are off
by default; off, they draw nothing and leave every floating-point operation of the
plain learner as it was, so results without them are bit-identical.

Array shapes (S seeds, T steps, E evaluation points, C distributions, M skills,
N training prompts): see ``simulate.py``, which builds them.
"""

import math

import numpy as np

from banditcurr._feedback import ADVANTAGE_EPS
from banditcurr._jit import jit
from banditcurr._rng import next_u64, normal, uniform
from banditcurr._sampling import sample_from_probs
from banditcurr.allocation import _allocate, _state_posterior_sigma, _success_sigma
from banditcurr.knapsack import _allocate_knapsack

_TWO_POW_53 = 9007199254740992.0
_U11 = np.uint64(11)

# settings_f (float64) and settings_i (int64) layouts
LEARNING_RATE, FORGETTING, SATURATION, CONFIDENCE, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, MEMORIZATION, \
    UPDATE_NOISE, GATE_LOW, GATE_HIGH = range(11)
BATCH_SIZE, GROUP_SIZE, PROMPT_LEVEL, GATE, MAX_ROUNDS, ALLOCATION, OPTIMIZER, SCREENING = range(8)
OPTIMIZER_SGD, OPTIMIZER_ADAM = 0, 1
GATE_NONE, GATE_DYNAMIC, GATE_BAND, GATE_STD = 0, 1, 2, 3  # = banditcurr.gates.GATE_CODES
ALLOCATION_FIXED, ALLOCATION_POSTERIOR, ALLOCATION_ORACLE = 0, 1, 2
ALLOCATION_KNAPSACK_POSTERIOR, ALLOCATION_KNAPSACK_ORACLE = 3, 4
MIN_GROUP_SIZE = 2  # a prompt that gets rollouts gets at least two (GRPO compares them)
KNAPSACK_MAX_FACTOR = 8  # knapsack: at most 8 G rollouts per prompt (the exact DP costs B R 8 G)


@jit
def sigmoid(z):
    """1 / (1 + exp(-z)); for z < -709 exp overflows to inf and the result is 0 exactly."""
    return 1.0 / (1.0 + math.exp(-z))


@jit
def logit(loadings, skills, dist, difficulty):
    """z = loadings[dist] . skills - difficulty."""
    z = -difficulty
    for m in range(skills.shape[0]):
        z += loadings[dist, m] * skills[m]
    return z


@jit
def evaluate(loadings, skills, eval_difficulty, exp_difficulty, out):
    """out[c] = mean over held-out prompts e of sigmoid(loadings[c] . skills - delta[c, e]):
    the expected held-out accuracy per distribution, float64 (C,).

    ``exp_difficulty`` = exp(delta) (precomputed; |delta| <= 100, see Scenario), so that
    sigmoid(z - delta) = 1 / (1 + exp(delta) exp(-z)) costs one exp per distribution,
    not one per prompt; when exp(-z) under- or overflows (|z| > 708) the direct form is used.
    """
    for c in range(eval_difficulty.shape[0]):
        base = logit(loadings, skills, c, 0.0)
        scale = math.exp(-base)
        total = 0.0
        if 0.0 < scale < np.inf:
            for e in range(eval_difficulty.shape[1]):
                total += 1.0 / (1.0 + exp_difficulty[c, e] * scale)
        else:
            for e in range(eval_difficulty.shape[1]):
                total += sigmoid(base - eval_difficulty[c, e])
        out[c] = total / eval_difficulty.shape[1]


@jit
def group_coefficient(n, total, square_total):
    """sum_j A_j (r_j - p) of one group of n >= 2 rollouts with sum_j r_j = ``total``
    and sum_j r_j^2 = ``square_total``: sum_j (r_j - mean)^2 / (std + 1e-6) (see
    ``policy_gradient_step``)."""
    squares = max(square_total - total * total / n, 0.0)
    std = math.sqrt(squares / (n - 1))
    return squares / (std + ADVANTAGE_EPS)


@jit
def distribution_gradient(train_dist, prompts, sizes, sums, square_sums, n_groups, grad):
    """grad[c] = sum over the first ``n_groups`` groups of distribution c of
    sum_j A_j (r_j - p) (``group_coefficient``; groups of fewer than 2 rollouts give 0);
    ``grad``: float64 (C,), overwritten. Returns the number of rollouts of those groups."""
    grad[:] = 0.0
    n_rollouts = 0
    for g in range(n_groups):
        n = sizes[g]
        n_rollouts += n
        if n < 2:
            continue
        grad[train_dist[prompts[g]]] += group_coefficient(n, sums[g], square_sums[g])
    return n_rollouts


@jit
def policy_gradient_step(loadings, train_dist, skills, prompts, sizes, sums, square_sums, n_groups,
                         learning_rate, grad):
    """The GRPO step on the first ``n_groups`` groups, in place on ``skills``.

    Group g: prompt i of distribution c_i, n = sizes[g] rollouts with rewards r_j,
    success probability p. With A_j = (r_j - mean r) / (std r + 1e-6) (unbiased std)
    and grad log pi(y_j) = (y_j - p) loadings[c_i] for the Bernoulli policy (r_j = y_j):

        skills += learning_rate / n_rollouts * sum_g sum_j A_j (r_j - p) loadings[c_i]

    with n_rollouts the rollouts of the trained groups (GRPO's mean over samples).
    Since sum_j A_j = 0, sum_j A_j (r_j - p) = sum_j (r_j - mean)^2 / (std + 1e-6): p
    cancels, and the group enters only through n, sums[g] = sum_j r_j and
    square_sums[g] = sum_j r_j^2 (sum_j (r_j - mean)^2 = square_sums - sums^2 / n).
    The products are gathered per distribution first (``grad``: scratch, float64
    (C,)), then spread over the skills: C x M products instead of n_groups x M.
    """
    n_rollouts = distribution_gradient(train_dist, prompts, sizes, sums, square_sums, n_groups, grad)
    if n_rollouts == 0:
        return
    scale = learning_rate / n_rollouts
    for c in range(grad.shape[0]):
        if grad[c] != 0.0:
            for m in range(skills.shape[0]):
                skills[m] += scale * grad[c] * loadings[c, m]


@jit
def adam_step(loadings, grad, n_rollouts, learning_rate, beta1, beta2, eps, skills, moments):
    """Adam-normalised step from the per-distribution sums ``grad`` (float64 (C,), as
    ``distribution_gradient`` leaves them), in place on ``skills`` (M,) and ``moments``
    (float64 (2 M + 1,): first moments m, second moments v, then the step count t).

        g = (1 / n_rollouts) sum_c grad[c] loadings[c]      (the plain step / eta)
        m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2,   t <- t + 1
        skills += eta (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    (Kingma & Ba 2015, Algorithm 1). A step with no rollouts changes nothing.
    """
    if n_rollouts == 0:
        return
    n_skills = skills.shape[0]
    moments[2 * n_skills] += 1.0
    t = moments[2 * n_skills]
    correct1 = 1.0 - beta1 ** t
    correct2 = 1.0 - beta2 ** t
    for m in range(n_skills):
        g = 0.0
        for c in range(grad.shape[0]):
            g += grad[c] * loadings[c, m]
        g /= n_rollouts
        moments[m] = beta1 * moments[m] + (1.0 - beta1) * g
        moments[n_skills + m] = beta2 * moments[n_skills + m] + (1.0 - beta2) * g * g
        skills[m] += learning_rate * (moments[m] / correct1) / (math.sqrt(moments[n_skills + m] / correct2) + eps)


@jit
def memorize(memo, prompts, sizes, sums, n_groups, n_rollouts, rate):
    """The memorisation step: each trained prompt's own logit u_i (``memo``, float64
    (N,)) moves by the gradient of log pi with respect to u_i, which is 1 for prompt i
    only: u_i += rate / n_rollouts * sum_j A_j (r_j - p) (binary rewards, sums = square
    sums). Prompts not trained on keep u_i."""
    if n_rollouts == 0:
        return
    for g in range(n_groups):
        n = sizes[g]
        if n >= 2:
            memo[prompts[g]] += rate / n_rollouts * group_coefficient(n, sums[g], sums[g])


@jit
def learner_update(world, settings_f, settings_i, skills, extra, learn_rng, prompts, sizes, sums, n_groups, grad):
    """The whole learner update after a step's rollouts, in place on ``skills`` and
    ``extra`` (Adam moments then memorisation logits, see ``extra_layout``): the GRPO
    step (plain or Adam), memorisation, update noise skills += sigma xi (xi standard
    normal per skill, from the learner stream), then forgetting of skills and
    memorisation logits. With every option off it is ``policy_gradient_step`` and
    ``forget`` exactly."""
    loadings, init_skills, train_dist = world[0], world[1], world[2]
    learning_rate = settings_f[LEARNING_RATE]
    n_adam, n_memo = extra_layout(settings_f, settings_i, skills.shape[0], train_dist.shape[0])
    if settings_i[OPTIMIZER] == OPTIMIZER_SGD:
        policy_gradient_step(loadings, train_dist, skills, prompts, sizes, sums, sums, n_groups, learning_rate, grad)
        n_rollouts = 0
        if n_memo > 0:
            for g in range(n_groups):
                n_rollouts += sizes[g]
    else:
        n_rollouts = distribution_gradient(train_dist, prompts, sizes, sums, sums, n_groups, grad)
        adam_step(loadings, grad, n_rollouts, learning_rate, settings_f[ADAM_BETA1], settings_f[ADAM_BETA2],
                  settings_f[ADAM_EPS], skills, extra[:n_adam])
    memo = extra[n_adam:n_adam + n_memo]
    if n_memo > 0:
        memorize(memo, prompts, sizes, sums, n_groups, n_rollouts, settings_f[MEMORIZATION])
    noise = settings_f[UPDATE_NOISE]
    if noise > 0.0:
        for m in range(skills.shape[0]):
            skills[m] += noise * normal(learn_rng)
    forgetting = settings_f[FORGETTING]
    forget(skills, init_skills, forgetting)
    if n_memo > 0 and forgetting > 0.0:
        for x in range(n_memo):
            memo[x] *= 1.0 - forgetting


@jit
def extra_layout(settings_f, settings_i, n_skills, n_prompts):
    """(Adam state length, memorisation logits length) of a seed's ``extra`` row:
    2 M + 1 with Adam (else 0), then N with memorisation (else 0)."""
    n_adam = 2 * n_skills + 1 if settings_i[OPTIMIZER] == OPTIMIZER_ADAM else 0
    n_memo = n_prompts if settings_f[MEMORIZATION] > 0.0 else 0
    return n_adam, n_memo


@jit
def forget(skills, init_skills, forgetting):
    """skills <- init + (1 - forgetting) (skills - init)."""
    if forgetting > 0.0:
        for m in range(skills.shape[0]):
            skills[m] = init_skills[m] + (1.0 - forgetting) * (skills[m] - init_skills[m])


@jit
def bernoulli_group(rng, p, rewards, start, stop):
    """rewards[start:stop] = independent Bernoulli(p) draws (1.0 or 0.0), the j-th
    being ``banditcurr._rng.uniform(rng) < p`` exactly; returns the number of successes.

    The hot loop of the simulator: it compares the 53 random bits of each draw as
    integers (n 2**-53 < p <=> n < ceil(p 2**53)) and has no branch: outcomes are
    unpredictable, and mispredictions cost more than the draws.
    """
    threshold = np.uint64(math.ceil(p * _TWO_POW_53))
    k = 0
    for j in range(start, stop):
        success = np.int64((next_u64(rng) >> _U11) < threshold)
        rewards[j] = success
        k += success
    return k


@jit
def fixed_sizes(settings_f, settings_i, n_arms, f, arms, probs, count, sizes, sigma):
    """``ALLOCATION_FIXED``: G rollouts for each of the first ``count`` groups, in sizes[:count].

    This and the two allocations below are the engine's ``group_sizes`` argument, a
    first-class function like the scheduler's kernels (``GROUP_SIZES``): the engine
    compiles none of them, a run compiles the one it uses. Each writes sizes[:count];
    a group may get 0 (not rolled out).
    """
    for b in range(count):
        sizes[b] = settings_i[GROUP_SIZE]


@jit
def neyman_sizes(settings_f, settings_i, n_arms, f, arms, probs, count, sizes, sigma):
    """CurES's Neyman allocation of the budget count x G (``banditcurr.allocation._allocate``:
    G_x proportional to sigma_x, at least 2 for a prompt that gets any, 0 for a saturated
    one) with sigma_x = sqrt(p(1 - p)) of the scheduler's Beta posterior
    (``ALLOCATION_POSTERIOR``, for the schedulers whose state starts with alpha, beta) or
    of the learner's true p (``ALLOCATION_ORACLE``, the bound a perfect estimate would give)."""
    group_size = settings_i[GROUP_SIZE]
    if settings_i[ALLOCATION] == ALLOCATION_POSTERIOR:
        _state_posterior_sigma(f, n_arms, arms[:count], settings_f[SATURATION], settings_f[CONFIDENCE],
                               sigma[:count])
    else:
        _success_sigma(probs[:count], settings_f[SATURATION], sigma[:count])
    _allocate(sigma[:count], count * group_size, MIN_GROUP_SIZE, 0, sizes[:count])


@jit
def knapsack_sizes(settings_f, settings_i, n_arms, f, arms, probs, count, sizes, sigma):
    """Knapsack-RL's exact allocation of the budget count x G, at most
    ``KNAPSACK_MAX_FACTOR`` G per prompt, from the posterior mean alpha / (alpha + beta)
    (``ALLOCATION_KNAPSACK_POSTERIOR``) or from the true p (``ALLOCATION_KNAPSACK_ORACLE``)."""
    group_size = settings_i[GROUP_SIZE]
    for b in range(count):  # sigma holds the success rates here
        if settings_i[ALLOCATION] == ALLOCATION_KNAPSACK_POSTERIOR:
            alpha, beta = f[arms[b]], f[n_arms + arms[b]]
            sigma[b] = alpha / (alpha + beta)
        else:
            sigma[b] = probs[b]
    _allocate_knapsack(sigma[:count], count * group_size, MIN_GROUP_SIZE,
                       min(KNAPSACK_MAX_FACTOR * group_size, count * group_size), sizes[:count])


#: allocation code -> the engine's ``group_sizes`` function
GROUP_SIZES = {ALLOCATION_FIXED: fixed_sizes, ALLOCATION_POSTERIOR: neyman_sizes, ALLOCATION_ORACLE: neyman_sizes,
               ALLOCATION_KNAPSACK_POSTERIOR: knapsack_sizes, ALLOCATION_KNAPSACK_ORACLE: knapsack_sizes}


@jit
def _screen(learn_rng, probs, count, screen, group_size, rewards, sums, sizes, offsets):
    """SPEED-RL's two phases (arXiv 2506.09016) for the first ``count`` prompts: N_init =
    ``screen`` screening rollouts each (all screens first, in order, from the learner
    stream), then the other ``group_size`` - N_init for each prompt whose screen is mixed
    (0 < k < N_init), in order. Writes the ragged groups (screen + rest, or the screen
    alone) to rewards / offsets[:count + 1], their sizes and successes to sizes / sums."""
    for b in range(count):
        sums[b] = bernoulli_group(learn_rng, probs[b], rewards, b * group_size, b * group_size + screen)
    total = 0
    offsets[0] = 0
    for b in range(count):
        start = b * group_size
        sizes[b] = screen
        if 0 < sums[b] < screen:
            sums[b] += bernoulli_group(learn_rng, probs[b], rewards, start + screen, start + group_size)
            sizes[b] = group_size
        for j in range(sizes[b]):  # compact to the front (total <= start: a forward copy is safe)
            rewards[total + j] = rewards[start + j]
        total += sizes[b]
        offsets[b + 1] = total


@jit
def _passes(gate, successes, size, low, high):
    """Whether a group of ``size`` 0/1 rewards with ``successes`` ones passes ``gate``:
    mixed 0 < k < n; band low <= k/n <= high; std low <= sqrt(p (1 - p)) <= high, p = k/n."""
    if gate == GATE_NONE:
        return True
    if gate == GATE_DYNAMIC:
        return 0 < successes < size
    p = successes / size
    if gate == GATE_BAND:
        return low <= p <= high
    return low <= math.sqrt(p * (1.0 - p)) <= high


@jit
def fixed_sample(params, n_arms, f, i, rng, out):
    """The ``sample`` kernel of a static curriculum: ``params`` are the sampling
    probabilities (``sims.FixedSchedule``); it keeps no state."""
    sample_from_probs(rng, params, out)


@jit
def fixed_update(params, n_arms, f, i, arms, rewards, offsets):
    """The ``update`` kernel of a static curriculum: nothing to learn."""


@jit
def _step(world, settings_f, settings_i, sample, update, group_sizes, params, n_arms, skills, extra, f, i,
          sched_rng, learn_rng, work, record_counts, trace):
    """One training step of one seed; returns (rollouts, zero-variance groups,
    generated groups, summed reward).

    ``trace`` = (arm, prompt, successes, size, trained) rows of this step, int64 (R,)
    each (trained 0/1), or arrays of length 0 for no trace: every generated group is
    written in order from slot 0, the rest keep their fill (prompt -1).

    Without a gate or screening: one round of B groups, all trained on. With a gate
    (``_passes``) or screening (``_screen``), as ``banditcurr.gates.fill_batch``
    (oversample 1, update "all"): round r draws the ``need`` groups still missing (at
    prompt level, B <= n_arms, never an arm already drawn this step), the scheduler
    learns from every group rolled out (screens included), and the first ``need``
    groups that pass the gate (and, screening, were screened in) join the batch; at
    most ``max_rounds`` rounds.
    """
    loadings, init_skills, train_dist, train_difficulty, pool_start, pool_count, eval_difficulty, exp_eval = world
    draw, used, used_list, arms, prompts, probs, sizes, sigma, offsets, rewards, sums, keep_prompts, keep_sizes, \
        keep_sums, grad, base = work
    batch_size = settings_i[BATCH_SIZE]
    gate = settings_i[GATE]
    screen = settings_i[SCREENING]
    refill = gate != GATE_NONE or screen > 0  # rounds until B groups are kept
    distinct = batch_size <= n_arms
    n_rollouts = 0
    n_zero = 0
    n_groups = 0
    n_used = 0
    reward_sum = 0.0
    n_kept = 0
    n_traced = 0
    n_memo = extra_layout(settings_f, settings_i, skills.shape[0], train_dist.shape[0])[1]
    memo = extra[extra.shape[0] - n_memo:]
    for c in range(base.shape[0]):  # the policy is fixed during the step's rollouts
        base[c] = logit(loadings, skills, c, 0.0)
    for _ in range(settings_i[MAX_ROUNDS] if refill else 1):
        need = batch_size - n_kept
        if refill and distinct:  # draw past the arms used so far
            n_draw = min(n_arms, n_used + need)
            sample(params, n_arms, f, i, sched_rng, draw[:n_draw])
            count = 0
            for x in range(n_draw):
                arm = draw[x]
                if count < need and not used[arm]:
                    used[arm] = True
                    arms[count] = arm
                    used_list[n_used + count] = arm  # to clear `used` after the step
                    count += 1
            n_used += count
            if count == 0:
                continue
        else:
            count = need
            sample(params, n_arms, f, i, sched_rng, arms[:count])
        for b in range(count):
            if settings_i[PROMPT_LEVEL] == 1:
                prompts[b] = arms[b]
            else:
                # uniform within the pool, as banditcurr._sampling.sample_uniform draws
                prompts[b] = pool_start[arms[b]] + np.int64(uniform(learn_rng) * pool_count[arms[b]])
            if n_memo > 0:  # the prompt's own memorised logit u_i
                probs[b] = sigmoid(base[train_dist[prompts[b]]] - train_difficulty[prompts[b]] + memo[prompts[b]])
            else:
                probs[b] = sigmoid(base[train_dist[prompts[b]]] - train_difficulty[prompts[b]])
        group_sizes(settings_f, settings_i, n_arms, f, arms, probs, count, sizes, sigma)
        rolled = 0  # groups with rollouts, moved to the front; offsets over them
        offsets[0] = 0
        for b in range(count):
            if sizes[b] > 0:
                arms[rolled], prompts[rolled], probs[rolled], sizes[rolled] = arms[b], prompts[b], probs[b], sizes[b]
                offsets[rolled + 1] = offsets[rolled] + sizes[b]
                rolled += 1
        count = rolled
        if screen > 0:
            _screen(learn_rng, probs, count, screen, settings_i[GROUP_SIZE], rewards, sums, sizes, offsets)
        total = offsets[count]
        for b in range(count):
            record_counts[train_dist[prompts[b]]] += 1
            if screen == 0:  # rewards are 0 or 1: the sum of squares is the same number
                sums[b] = bernoulli_group(learn_rng, probs[b], rewards, offsets[b], offsets[b + 1])
            reward_sum += sums[b]
        if trace[0].shape[0] > 0:
            for b in range(count):
                trace[0][n_traced + b] = arms[b]
                trace[1][n_traced + b] = prompts[b]
                trace[2][n_traced + b] = np.int64(sums[b])
                trace[3][n_traced + b] = sizes[b]
                trace[4][n_traced + b] = 0 if refill else 1
        update(params, n_arms, f, i, arms[:count], rewards[:total], offsets[:count + 1])
        n_rollouts += total
        n_groups += count
        for b in range(count):
            if not 0 < sums[b] < sizes[b]:  # zero variance: no gradient
                n_zero += 1
            if refill and n_kept < batch_size and sizes[b] > screen \
                    and _passes(gate, sums[b], sizes[b], settings_f[GATE_LOW], settings_f[GATE_HIGH]):
                keep_prompts[n_kept] = prompts[b]
                keep_sizes[n_kept] = sizes[b]
                keep_sums[n_kept] = sums[b]
                n_kept += 1
                if trace[0].shape[0] > 0:
                    trace[4][n_traced + b] = 1
        n_traced += count
        if not refill or n_kept == batch_size:
            break
    for x in range(n_used):
        used[used_list[x]] = False
    if not refill:
        learner_update(world, settings_f, settings_i, skills, extra, learn_rng, prompts, sizes, sums, count, grad)
    else:
        learner_update(world, settings_f, settings_i, skills, extra, learn_rng, keep_prompts, keep_sizes, keep_sums,
                       n_kept, grad)
    return n_rollouts, n_zero, n_groups, reward_sum


@jit
def run_seeds(world, eval_slot, settings_f, settings_i, sample, update, group_sizes, params, n_arms, state, records,
              trace, s_start, s_stop, t_start, t_stop):
    """Advance seeds s_start..s_stop-1 from step t_start to t_stop (exclusive).

    sample, update: the scheduler's kernels (or ``fixed_sample``, ``fixed_update``) and
    group_sizes: one of ``GROUP_SIZES``, all three first-class functions
    (``banditcurr._compiled``), so one compiled engine serves every scheduler and
    allocation; params: the scheduler's packed hyperparameters;
    state = (skills (S, M), f (S, n_float), i (S, n_int), sched_rng (S, 4), learn_rng (S, 4),
    extra (S, X): Adam moments and memorisation logits, ``extra_layout``);
    records = (accuracy (S, E, C), zero_variance (S, T), arm_counts (S, T, C) int64,
    rollouts (S, T) int64 cumulative, train_reward (S, T)); trace = (arm, prompt, successes,
    size, trained), int64 (S, T, R) each, R >= the groups one step can generate, or
    (S, T, 0) for none; eval_slot (T,) int64: the
    evaluation index written after step t, or -1. Evaluation 0 (step 0) is written
    when t_start == 0. A seed touches only its own rows, and the GIL is released, so
    disjoint seed ranges run in parallel threads with results independent of the split.
    """
    skills, f, i, sched_rng, learn_rng, extra = state
    accuracy, zero_variance, arm_counts, rollouts, train_reward = records
    loadings, eval_difficulty, exp_eval = world[0], world[6], world[7]
    batch_size = settings_i[BATCH_SIZE]
    max_total = batch_size * settings_i[GROUP_SIZE]
    gated = (settings_i[GATE] != GATE_NONE or settings_i[SCREENING] > 0) and batch_size <= n_arms
    n_draw = min(n_arms, batch_size * settings_i[MAX_ROUNDS]) if gated else 0
    work = (np.empty(n_draw, np.int64), np.zeros(n_arms if gated else 0, np.bool_), np.empty(n_draw, np.int64),
            np.empty(batch_size, np.int64), np.empty(batch_size, np.int64), np.empty(batch_size),  # arms..probs
            np.empty(batch_size, np.int64), np.empty(batch_size),  # sizes, sigma
            np.empty(batch_size + 1, np.int64), np.empty(max_total),  # offsets, rewards
            np.empty(batch_size),  # sums
            np.empty(batch_size, np.int64), np.empty(batch_size, np.int64), np.empty(batch_size),  # kept groups
            np.empty(loadings.shape[0]), np.empty(loadings.shape[0]))  # grad, base
    for s in range(s_start, s_stop):
        if t_start == 0:
            evaluate(loadings, skills[s], eval_difficulty, exp_eval, accuracy[s, 0])
        for t in range(t_start, t_stop):
            n_roll, n_zero, n_groups, reward_sum = _step(
                world, settings_f, settings_i, sample, update, group_sizes, params, n_arms, skills[s], extra[s], f[s],
                i[s], sched_rng[s], learn_rng[s], work, arm_counts[s, t],
                (trace[0][s, t], trace[1][s, t], trace[2][s, t], trace[3][s, t], trace[4][s, t]))
            zero_variance[s, t] = n_zero / n_groups
            rollouts[s, t] = n_roll + (rollouts[s, t - 1] if t > 0 else 0)
            train_reward[s, t] = reward_sum / n_roll
            if eval_slot[t] >= 0:
                evaluate(loadings, skills[s], eval_difficulty, exp_eval, accuracy[s, eval_slot[t]])
