"""GRPO with a bandit curriculum, in one file you can read top to bottom.

Each step:

1. the scheduler samples B arms (distributions, or prompts)        -> scheduler.sample
2. each arm gives a prompt of its distribution                      -> TaskPool.pick
3. the engine samples G completions per prompt                      -> engine.generate
4. the distribution's verifier scores them: rewards r (flat, with group offsets)
5. group advantages A_j = (r_j - mean_g) / (std_g + 1e-6), std unbiased
   (mean-centred only with ``scale_rewards = false``)
6. clipped policy-gradient step on the torch policy, per completion token t:
       ratio = pi(y_t) / pi_old(y_t)
       loss  = -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A) + kl_coef * k3
       k3    = exp(ref - logp) - (ref - logp) - 1     (only when kl_coef > 0)
   averaged per sequence then over sequences (GRPO) or over all tokens (DAPO),
   with gradient accumulation over micro-batches, ``minibatches`` optimizer steps
   and ``epochs`` passes per batch (pi_old = the policy before the batch); AdamW,
   learning rate warmed up linearly over ``warmup_steps``
7. the new weights go into the engine                               -> engine.sync
8. the reward groups go back to the scheduler                       -> scheduler.update
9. one JSONL record (train/ curriculum/ perf/ eval/), a checkpoint now and then;
   the sampling probabilities ``scheduler.probs()`` only feed the log (every
   ``probs_every`` steps: exact probabilities over thousands of prompts cost ms).

Rollouts are a flat reward array with group offsets throughout (groups may have
different sizes). Two options use that:

* ``rollout_budget = R`` (CurES, arXiv 2510.01037; ``banditcurr.allocate_for``): after
  step 1, prompt x gets G_x proportional to sqrt(p_x (1 - p_x)) of the scheduler's Beta
  posterior, sum_x G_x = R, 0 for saturated prompts (skipped), >= 2 otherwise; with
  ``allocation = "knapsack"`` (Knapsack-RL, arXiv 2509.25849; ``banditcurr.allocate_knapsack_for``)
  the split that maximises sum_x (1 - p^G_x - (1 - p)^G_x) p (1 - p)^2 at the posterior means;
* ``dynamic_sampling`` (DAPO, arXiv 2503.14476; ``banditcurr.fill_batch``): steps 1-4 run
  in rounds; groups whose rewards are all equal are dropped and new arms drawn until B
  groups have mixed rewards (or ``max_refill_rounds`` refills are spent); the scheduler
  is updated with every group, dropped ones included, and the log counts the cost.
 A sequence whose advantage is 0 adds exactly 0 to the loss when
``kl_coef = 0``, so it is not run through the model (the normalisers still count it).

Usage: ``banditcurr train --config FILE`` or ``train(TrainConfig(...))``.
"""

import hashlib
import json
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from . import checkpoint
from .rollout import make_engine, sync_error
from .tasks import TaskPool


@dataclass
class TrainResult:
    """What ``train`` returns: the log records and the live objects."""

    history: list
    policy: object
    tokenizer: object
    scheduler: object
    pool: TaskPool
    engine: object


def group_advantages(rewards, offsets, scale=True, eps=1e-6):
    """GRPO advantages of flat ``rewards`` grouped by ``offsets`` (float64, same length)."""
    sizes = np.diff(offsets)
    group = np.repeat(np.arange(sizes.size), sizes)
    mean = np.add.reduceat(rewards, offsets[:-1]) / sizes
    centred = rewards - mean[group]
    if not scale:
        return centred
    var = np.add.reduceat(centred ** 2, offsets[:-1]) / np.maximum(sizes - 1, 1)
    return centred / (np.sqrt(var)[group] + eps)


def rollout_seeds(seed, step, count, salt=0):
    """Independent per-prompt sampling seeds for one step (exactly reproducible on resume)."""
    return np.random.SeedSequence([seed, salt, step]).generate_state(count).tolist()


def train(config, engine=None):
    """Run GRPO as ``config`` says; reuse ``engine`` (its weights are replaced by the
    policy's) when given. Returns a :class:`TrainResult`."""
    distributions = config.validate()  # everything checkable fails here, before any work
    # out_dir holds one run: a new run needs a folder without one, a resumed run its own settings
    run = checkpoint.start_run(config, [d.name for d in distributions])
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import banditcurr as bc
    from banditcurr.telemetry import Reporter, curriculum_metrics

    # -- setup: threads, device, dtypes, output -----------------------------------
    if config.threads:
        torch.set_num_threads(config.threads)  # vLLM's CPU worker forbids changing it later
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))
    dtype = config.dtype if config.dtype != "auto" else ("bfloat16" if device.type == "cuda" else "float32")
    autocast = (torch.autocast(device.type, dtype=getattr(torch, dtype)) if dtype != "float32" else nullcontext())
    log_path = os.path.join(config.out_dir, "log.jsonl")

    # -- tasks, arms, scheduler --------------------------------------------------
    pool = TaskPool(distributions, config.n_train, config.n_test, config.seed, config.arm_level)
    names = pool.names
    arm_dist = pool.arm_distribution()
    scheduler_kwargs = scheduler_arguments(config, pool)  # + difficulty labels, horizon where taken
    scheduler = bc.make(config.scheduler, pool.n_arms, seed=config.seed, **scheduler_kwargs)
    _compile_kernels(config, pool.n_arms, scheduler_kwargs)
    data_rng = np.random.default_rng([config.seed, 1])  # picks problems inside distribution-level arms

    # -- policy, optimizer, frozen reference; resume ------------------------------
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    source = checkpoint.policy_dir(run.checkpoint) if run.checkpoint else config.model
    policy = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    policy.eval()  # no dropout: rollouts and updates see the same function
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    reference = None
    if config.kl_coef > 0:
        reference = AutoModelForCausalLM.from_pretrained(config.model, dtype=torch.float32).to(device).eval()
        reference.requires_grad_(False)
    # log records and ledger rows after the checkpoint are gone (start_run): the resumed run redoes them
    start_step, history, rows = run.step, run.history, run.ledger
    if run.checkpoint:
        info, tensors, scheduler_state = checkpoint.load(run.checkpoint)
        optimizer.load_state_dict(tensors["optimizer"])
        torch.set_rng_state(tensors["torch_rng"])
        scheduler.load_state_dict(scheduler_state)
        data_rng.bit_generator.state = info["data_rng"]
        random.setstate(checkpoint.python_rng_state(info["python_rng"]))

    # -- rollout engine (expensive: vLLM starts in ~15 s on CPU) -----------------
    if engine is None:
        engine = make_engine(config, policy, tokenizer, dtype)
    else:
        engine.sync(policy)
    probes = [_encode(tokenizer, p.prompt, config.chat_template)  # for verify_sync_every: one per distribution
              + tokenizer(d.target(p), add_special_tokens=False).input_ids
              for d, test in zip(distributions, pool.test) for p in test[:1]]

    def evaluate(step):
        """Greedy accuracy on every held-out problem, per distribution."""
        problems = [(d, p) for d, test in enumerate(pool.test) for p in test]
        prompts = [_encode(tokenizer, p.prompt, config.chat_template) for _, p in problems]
        outs = engine.generate(prompts, [1] * len(prompts), rollout_seeds(config.seed, step, len(prompts), salt=2),
                               max_new_tokens=config.max_new_tokens, temperature=0.0, top_p=1.0)
        solved = np.zeros(len(names))
        for (d, p), out in zip(problems, outs):
            reward = distributions[d].reward(tokenizer.decode(out[0], skip_special_tokens=True), p)
            solved[d] += reward >= config.success_threshold
        accuracy = solved / np.array([len(t) for t in pool.test])
        return {**{f"eval/accuracy/{n}": float(a) for n, a in zip(names, accuracy)},
                "eval/accuracy": float(accuracy.mean())}

    # trackers beside log.jsonl (report_to): every record, at its step
    reporter = Reporter(config.report_to, config.out_dir, config=config.to_dict()) if config.report_to else None

    if start_step == 0 and config.eval_every:
        record = {"step": 0, **evaluate(0), **_probs_record(scheduler.probs(), arm_dist, names)}
        history.append(record)
        _append_log(log_path, record)
        if reporter:
            reporter.log(record, 0)

    def roll_out(arms, group_sizes, seeds, times, picked=None):
        """Steps 2-4 for ``arms``: problems (``picked`` or new), ``group_sizes[g]`` completions each, rewards."""
        picked = pool.pick(arms, data_rng) if picked is None else picked
        prompts = [_encode(tokenizer, problem.prompt, config.chat_template) for _, problem in picked]
        t = time.perf_counter()
        groups = engine.generate(prompts, [int(n) for n in group_sizes], seeds, max_new_tokens=config.max_new_tokens,
                                 temperature=config.temperature, top_p=config.top_p)
        times["generate"] = times.get("generate", 0.0) + time.perf_counter() - t
        rewards = np.array([pool.distributions[d].reward(tokenizer.decode(c, skip_special_tokens=True), problem)
                            for (d, problem), group in zip(picked, groups) for c in group], dtype=np.float64)
        offsets = np.concatenate([[0], np.cumsum(group_sizes)]).astype(np.int64)
        return Groups(np.asarray(arms, dtype=np.int64), picked, prompts, groups, rewards, offsets)

    def gate_metric(rewards):
        """What the gate and the screen read: the reward, or the verifier's raw 0/1 success."""
        return rewards if config.gate_metric == "reward" else (rewards >= config.success_threshold).astype(float)

    def screened_roll_out(arms, step, salt, times):
        """SPEED-RL (arXiv 2506.09016): N_init screening completions per prompt, then the other
        group_size - N_init for the prompts whose screen is mixed (on gate_metric), on the same
        problems with their own seeds (salt 10000 + the round's). Returns (groups: screen + rest,
        or the screen alone; which prompts were screened in)."""
        n_init = config.screening
        screen = roll_out(arms, np.full(arms.size, n_init, dtype=np.int64),
                          rollout_seeds(config.seed, step, arms.size, salt), times)
        accepted = bc.keep_groups(gate_metric(screen.rewards), screen.offsets, "mixed")
        index = np.flatnonzero(accepted)
        rest = roll_out(arms[index], np.full(index.size, config.group_size - n_init, dtype=np.int64),
                        rollout_seeds(config.seed, step, index.size, 10000 + salt), times,
                        picked=[screen.picked[g] for g in index]) if index.size else None
        completions, rewards, sizes = [], [], []
        for g in range(arms.size):
            completions.append(list(screen.completions[g]))
            rewards.append(screen.rewards[screen.offsets[g]:screen.offsets[g + 1]])
            if accepted[g]:
                j = int(np.searchsorted(index, g))
                completions[-1] += rest.completions[j]
                rewards[-1] = np.concatenate([rewards[-1], rest.rewards[rest.offsets[j]:rest.offsets[j + 1]]])
            sizes.append(rewards[-1].size)
        return Groups(screen.arms, screen.picked, screen.prompts, completions, np.concatenate(rewards),
                      np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)), accepted

    def gated_rollouts(step, times):
        """The gate (config.gate on config.gate_metric; "none" with screening alone) and
        SPEED-RL screening through ``banditcurr.fill_batch``, which updates the scheduler
        with every group rolled out, dropped and screened-out ones included. Returns
        (every group rolled out, which of them are trained, the batch = the first B
        groups that pass, in rollout order, log record)."""
        rounds, eligible = [], []
        gate = bc.parse_gate(config.gate if config.dynamic_sampling else "none")

        def rollout(arms):  # round r (from 0) seeds with salt 0, 3, 4, ... (2 is the eval's)
            salt = 2 + len(rounds) if rounds else 0
            if config.screening:
                groups, accepted = screened_roll_out(arms, step, salt, times)
            else:
                sizes = np.full(arms.size, config.group_size, dtype=np.int64)
                groups = roll_out(arms, sizes, rollout_seeds(config.seed, step, arms.size, salt), times)
                accepted = np.ones(arms.size, dtype=bool)
            rounds.append(groups)
            eligible.append(accepted)
            return {"rewards": groups.rewards, "offsets": groups.offsets, "metric": gate_metric(groups.rewards),
                    "eligible": accepted}

        t = time.perf_counter()
        times["generate"] = 0.0
        filled = bc.fill_batch(scheduler, rollout, config.batch_prompts, max_rounds=1 + config.max_refill_rounds,
                               gate=gate)
        times["scheduler"] = time.perf_counter() - t - times["generate"]  # includes scoring, as it is interleaved
        rolled = Groups.concat(rounds)
        passing = bc.keep_groups(gate_metric(rolled.rewards), rolled.offsets, gate) & np.concatenate(eligible)
        kept = np.flatnonzero(passing)[:config.batch_prompts]
        batch = rolled.take(kept)
        if not (np.array_equal(batch.arms, filled.arms) and np.array_equal(batch.rewards, filled.rewards)):
            raise RuntimeError("The gated batch differs from banditcurr.fill_batch's kept groups.")
        trained = np.isin(np.arange(rolled.arms.size), kept)
        record = {"train/dropped_groups": filled.dropped_groups, "perf/gate_rounds": filled.rounds,
                  "perf/extra_rollouts": filled.extra_rollouts, "train/batch_full": filled.full}
        if config.screening:
            screened_out = ~np.concatenate(eligible)
            record.update({"train/screened_out": int(screened_out.sum()),
                           "perf/screened_out_rollouts": int(config.screening * screened_out.sum())})
        return rolled, trained, batch, record

    # -- the loop ------------------------------------------------------------------
    bar = _progress_bar(config, start_step)
    n_syncs = 0
    for step in range(start_step, config.steps):
        times = {}
        t_step = time.perf_counter()
        skipped = np.empty(0, dtype=np.int64)  # arms an allocation gives no rollouts (ledger rows only)

        if config.dynamic_sampling or config.screening:
            # 1-4 in rounds, through the gate (DAPO: groups whose rewards are all equal are
            # dropped) and SPEED-RL screening, with new draws until B groups pass
            rolled, trained, batch, gate = gated_rollouts(step, times)
        else:
            # 1. arms; with rollout_budget, CurES gives each its own group size (0: saturated, skipped)
            t = time.perf_counter()
            arms = scheduler.sample(config.batch_prompts)
            group_sizes = np.full(arms.size, config.group_size, dtype=np.int64)
            if config.rollout_budget:
                group_sizes = allocate(scheduler, arms, config)
                skipped = arms[group_sizes == 0]
                arms, group_sizes = arms[group_sizes > 0], group_sizes[group_sizes > 0]
            times["scheduler"] = time.perf_counter() - t
            # 2-4. problems -> rollouts (expensive) -> verifiable rewards, flat with offsets
            rolled = roll_out(arms, group_sizes, rollout_seeds(config.seed, step, arms.size), times)
            batch, trained, gate = rolled, np.ones(arms.size, dtype=bool), {}

        # 5. group advantages (per group, whatever its size)
        rewards, offsets = batch.rewards, batch.offsets
        advantages = group_advantages(rewards, offsets, scale=config.scale_rewards) if rewards.size else rewards

        # 6. policy update (expensive); the learning rate is a function of the step alone
        t = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else config.lr
        sequences = [batch.prompts[g] + c for g, group in enumerate(batch.completions) for c in group]
        prompt_lens = np.repeat([len(p) for p in batch.prompts], np.diff(offsets))
        train_stats = (_update_policy(policy, reference, optimizer, sequences, prompt_lens, advantages,
                                      config, device, autocast) if sequences else {"train/updates": 0})
        train_stats["train/lr"] = optimizer.param_groups[0]["lr"]
        times["train"] = time.perf_counter() - t
        _check_finite(train_stats, policy, step + 1, config)  # before the weights reach the engine or a checkpoint

        # 7. weight sync into the engine (expensive on GPU: a full copy of the weights)
        t = time.perf_counter()
        engine.sync(policy)
        n_syncs += 1
        times["sync"] = time.perf_counter() - t
        sync_check = {}
        if config.verify_sync_every and n_syncs % config.verify_sync_every == 0:
            error = sync_error(engine, policy, probes)
            sync_check["perf/sync_logprob_error"] = error
            if error > config.sync_tolerance:
                raise RuntimeError(f"Weight sync failed at step {step + 1}: the engine's log-probs differ from the "
                                   f"policy's by up to {error:.3g} > sync_tolerance = {config.sync_tolerance}.")

        # 8. feedback to the curriculum (the gate has already fed back every group it rolled out)
        t = time.perf_counter()
        if not (config.dynamic_sampling or config.screening):
            scheduler.update(batch.arms, rewards, offsets)
        times["scheduler"] += time.perf_counter() - t
        times["step"] = time.perf_counter() - t_step

        # 9. log, eval, checkpoint
        record = {"step": step + 1,
                  **_reward_record(rolled.rewards, rolled.offsets, rolled.picked, names, config.success_threshold),
                  **_batch_record(rolled, batch, config),
                  **train_stats,
                  **_perf_record(times, [c for group in rolled.completions for c in group], sequences),
                  **gate, **sync_check}
        if (step + 1) % config.probs_every == 0 or step + 1 == config.steps:
            t = time.perf_counter()  # probs() is for the log only; the loop never needs it
            probs = scheduler.probs()
            record.update(_probs_record(probs, arm_dist, names))
            record.update(curriculum_metrics(probs, range(probs.size), max_arms=0))  # entropy, exp(H), top-k share
            record["perf/time_probs"] = time.perf_counter() - t
        if config.eval_every and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            t = time.perf_counter()
            record.update(evaluate(step + 1))
            record["perf/time_eval"] = time.perf_counter() - t
        history.append(record)
        _append_log(log_path, record)
        if reporter:
            reporter.log(record, step + 1)
        _ledger_rows(rows, step, rolled, trained, skipped, pool, config)
        rows.flush()  # the step's rows are on disk before its checkpoint
        if (config.checkpoint_every and (step + 1) % config.checkpoint_every == 0) or step + 1 == config.steps:
            checkpoint.save(config.out_dir, step + 1, policy,
                            {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, scheduler,
                            {"run_id": run.run_id, "config": config.to_dict(), "data_rng": data_rng.bit_generator.state,
                             "python_rng": random.getstate()}, keep=config.keep_checkpoints)
        bar.update(1)
        bar.set_postfix(reward=f"{record['train/reward']:.2f}", acc=f"{record['train/accuracy']:.2f}")
    bar.close()
    if reporter:
        reporter.close()
    return TrainResult(history, policy, tokenizer, scheduler, pool, engine)


@dataclass
class Groups:
    """Rolled-out groups: arms, (distribution, problem) pairs, prompt ids, completion ids
    per group, and the rewards flat with ``offsets`` (group g = rewards[offsets[g]:offsets[g+1]])."""

    arms: np.ndarray
    picked: list
    prompts: list
    completions: list
    rewards: np.ndarray
    offsets: np.ndarray

    def take(self, index):
        """The groups at ``index``, in that order."""
        sizes = np.diff(self.offsets)[index]
        rewards = [self.rewards[self.offsets[g]:self.offsets[g + 1]] for g in index]
        return Groups(self.arms[index], [self.picked[g] for g in index], [self.prompts[g] for g in index],
                      [self.completions[g] for g in index], np.concatenate(rewards) if rewards else np.empty(0),
                      np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    @staticmethod
    def concat(parts):
        sizes = np.concatenate([np.diff(p.offsets) for p in parts])
        return Groups(np.concatenate([p.arms for p in parts]), [x for p in parts for x in p.picked],
                      [x for p in parts for x in p.prompts], [x for p in parts for x in p.completions],
                      np.concatenate([p.rewards for p in parts]),
                      np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


# -- the policy update -------------------------------------------------------------------


def _token_logprobs(model, ids, mask):
    """log p of each next token: (n, L - 1), without materialising log_softmax."""
    import torch

    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    chosen = logits.gather(-1, ids[:, 1:, None])[..., 0]
    return chosen - torch.logsumexp(logits, dim=-1)


def _pad(sequences, prompt_lens, rows, pad_id, device):
    """Right-padded ids, attention mask and completion mask (aligned with targets 1..L-1).
    Padding positions are masked everywhere, so any valid ``pad_id`` will do."""
    import torch

    width = max(len(sequences[r]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, :len(sequences[r])] = torch.tensor(sequences[r])
        mask[k, :len(sequences[r])] = 1
    completion = mask.clone()
    for k, r in enumerate(rows):
        completion[k, :prompt_lens[r]] = 0
    return ids.to(device), mask.to(device), completion[:, 1:].to(device).float()


def _update_policy(policy, reference, optimizer, sequences, prompt_lens, advantages, config, device, autocast):
    """Clipped policy-gradient updates on one batch; returns train/ metrics."""
    import torch

    pad_id = 0  # see _pad
    n = len(sequences)
    per_minibatch = n // config.minibatches
    n_tokens = np.array([len(s) - p for s, p in zip(sequences, prompt_lens)])
    reuse = config.epochs > 1 or config.minibatches > 1  # pi_old must be frozen before the first step
    needed = [r for r in range(n) if advantages[r] != 0 or config.kl_coef > 0]
    needed_set = set(needed)
    chunks = {}  # row chunk -> padded tensors, built once
    old = {}
    if reuse:
        with torch.no_grad(), autocast:
            for start in range(0, n, config.micro_batch):
                rows = tuple(r for r in range(start, min(start + config.micro_batch, n)) if r in needed_set)
                if rows:
                    chunks[rows] = _pad(sequences, prompt_lens, rows, pad_id, device)
                    old[rows] = _token_logprobs(policy, *chunks[rows][:2])
    stats = {"loss": 0.0, "clipped": 0.0, "kl": 0.0, "grad_norm": []}
    for _ in range(config.epochs):
        for first in range(0, n, per_minibatch):
            seq_count, tok_count = per_minibatch, float(n_tokens[first:first + per_minibatch].sum())
            optimizer.zero_grad(set_to_none=True)
            for start in range(first, first + per_minibatch, config.micro_batch):
                rows = tuple(r for r in range(start, start + config.micro_batch) if r in needed_set)
                if not rows:
                    continue
                if rows not in chunks:
                    chunks[rows] = _pad(sequences, prompt_lens, rows, pad_id, device)
                ids, mask, cmask = chunks[rows]
                adv = torch.tensor(advantages[list(rows)], dtype=torch.float32, device=device)[:, None]
                with autocast:
                    logp = _token_logprobs(policy, ids, mask)
                    old_logp = old[rows] if reuse else logp.detach()
                    ratio = torch.exp(logp - old_logp)
                    clipped_ratio = ratio.clamp(1 - config.clip_eps, 1 + config.clip_eps)
                    token_loss = -torch.minimum(ratio * adv, clipped_ratio * adv)
                    if reference is not None:
                        with torch.no_grad():
                            ref_logp = _token_logprobs(reference, ids, mask)
                        delta = ref_logp - logp
                        kl = torch.exp(delta) - delta - 1
                        token_loss = token_loss + config.kl_coef * kl
                        stats["kl"] += float((kl.detach() * cmask).sum())
                    if config.loss_aggregation == "token-mean":
                        loss = (token_loss * cmask).sum() / tok_count
                    else:
                        loss = ((token_loss * cmask).sum(1) / cmask.sum(1)).sum() / seq_count
                loss.backward()
                stats["loss"] += float(loss.detach()) / (config.epochs * config.minibatches)
                clip = ((ratio - clipped_ratio).abs() > 0).float()
                stats["clipped"] += float((clip * cmask).sum())
            norm = torch.nn.utils.clip_grad_norm_(policy.parameters(),
                                                  config.max_grad_norm if config.max_grad_norm > 0 else float("inf"))
            stats["grad_norm"].append(float(norm))
            optimizer.step()
    updates = config.epochs * config.minibatches
    total_tokens = float(n_tokens.sum()) * config.epochs
    out = {"train/loss": stats["loss"], "train/grad_norm": float(np.mean(stats["grad_norm"])),
           "train/clip_frac": stats["clipped"] / total_tokens, "train/updates": updates,
           "train/active_frac": len(needed) / n, "train/completion_len": float(n_tokens.mean())}
    if reference is not None:
        out["train/kl"] = stats["kl"] / total_tokens
    return out


# -- small helpers: prompts, records, log file, progress ------------------------------------


def allocate(scheduler, arms, config):
    """Rollouts per arm for ``config.rollout_budget``: CurES's Neyman split
    (``allocation = "neyman"``) or Knapsack-RL's (``"knapsack"``, at most 8 G a prompt),
    both from the scheduler's Beta posteriors."""
    import banditcurr as bc

    if config.allocation == "knapsack":
        return bc.allocate_knapsack_for(scheduler, arms, config.rollout_budget,
                                        max_size=min(8 * config.group_size, config.rollout_budget))
    return bc.allocate_for(scheduler, arms, config.rollout_budget)


def scheduler_arguments(config, pool):
    """``config.scheduler_kwargs``, plus what the loop knows and the scheduler takes
    unless the config sets it: ``difficulty`` (adarft, e2h) = each arm's distribution
    index (the order the task specs list them: "addition:1-6" is easy -> hard), and
    ``horizon`` (e2h) = ``config.steps``."""
    import inspect

    import banditcurr as bc

    cls = bc.REGISTRY[config.scheduler][0]
    kwargs = dict(config.scheduler_kwargs)
    if "difficulty" in inspect.signature(cls.__init__).parameters and "difficulty" not in kwargs:
        kwargs["difficulty"] = pool.arm_distribution().astype(np.float64)
    if any(p.name == "horizon" for p in cls.params) and "horizon" not in kwargs:
        kwargs["horizon"] = config.steps
    return kwargs


def _compile_kernels(config, n_arms, scheduler_kwargs):
    """Run the scheduler's kernels once on a throwaway copy: Numba compiles (or loads
    from its cache) now, not inside step 1's timing."""
    import banditcurr as bc

    spare = bc.make(config.scheduler, n_arms, seed=0, **scheduler_kwargs)
    arms = spare.sample(config.batch_prompts)
    spare.update(arms, np.zeros((arms.size, config.group_size)))
    spare.probs()
    if config.rollout_budget:
        allocate(spare, arms, config)
    if config.dynamic_sampling:
        bc.keep_mixed(np.zeros((arms.size, config.group_size)))


def _encode(tokenizer, prompt, chat_template):
    if chat_template:
        return list(tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                  tokenize=True))
    return tokenizer(prompt).input_ids


def _reward_record(rewards, offsets, picked, names, threshold):
    dist = np.array([d for d, _ in picked])
    sizes = np.diff(offsets)
    group_mean = np.add.reduceat(rewards, offsets[:-1]) / sizes
    group_acc = np.add.reduceat((rewards >= threshold).astype(float), offsets[:-1]) / sizes
    zero_var = np.array([np.ptp(rewards[a:b]) == 0 for a, b in zip(offsets[:-1], offsets[1:])])
    record = {"train/reward": float(rewards.mean()), "train/accuracy": float((rewards >= threshold).mean()),
              "curriculum/zero_var_frac": float(zero_var.mean())}
    for d, name in enumerate(names):
        chosen = dist == d
        record[f"curriculum/groups/{name}"] = int(chosen.sum())
        if chosen.any():
            weights = sizes[chosen]
            record[f"train/reward/{name}"] = float(np.average(group_mean[chosen], weights=weights))
            record[f"train/accuracy/{name}"] = float(np.average(group_acc[chosen], weights=weights))
            record[f"curriculum/zero_var_frac/{name}"] = float(zero_var[chosen].mean())
    return record


def _batch_record(rolled, batch, config):
    """What was rolled out versus trained on (they differ with the gate or an allocation)."""
    sizes = np.diff(batch.offsets)
    record = {"perf/rollouts": int(rolled.offsets[-1]), "train/batch_groups": int(sizes.size),
              "train/batch_rollouts": int(sizes.sum())}
    if config.rollout_budget:
        record.update({"curriculum/skipped_prompts": config.batch_prompts - int(sizes.size),
                       "curriculum/group_size_min": int(sizes.min()), "curriculum/group_size_max": int(sizes.max())})
    return record


def _probs_record(probs, arm_dist, names):
    mass = np.bincount(arm_dist, weights=probs, minlength=len(names))
    return {f"curriculum/prob/{name}": float(m) for name, m in zip(names, mass)}


def _perf_record(times, completions, sequences):
    generated = sum(len(c) for c in completions)
    record = {f"perf/time_{k}": v for k, v in times.items()}
    record["perf/scheduler_share"] = times["scheduler"] / times["step"]
    record["perf/gen_tokens_per_s"] = generated / times["generate"]
    record["perf/tokens_per_s"] = sum(len(s) for s in sequences) / times["step"]
    return record


def _append_log(path, record):
    """One line per record, written in one call (a crash can tear only the last line,
    which a resume drops; see checkpoint.start_run)."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _prompt_id(distribution, prompt):
    """Stable across runs and seeds: the distribution and a hash of the prompt text."""
    return f"{distribution}/{hashlib.sha256(prompt.encode()).hexdigest()[:16]}"


def _ledger_rows(rows, step, rolled, trained, skipped, pool, config):
    """Step ``step``'s groups into the ledger (rewards, success, completion tokens, trained),
    then the ``skipped`` arms as rows without rollouts (a prompt id only for prompt arms:
    a distribution arm that gets no rollouts draws no prompt)."""
    names = pool.names
    rows.append_groups(step + 1, step, rolled.arms, [_prompt_id(names[d], p.prompt) for d, p in rolled.picked],
                       [d for d, _ in rolled.picked], rolled.rewards, rolled.offsets,
                       rolled.rewards >= config.success_threshold,
                       [len(c) for group in rolled.completions for c in group], trained)
    if skipped.size:
        ids = ([_prompt_id(names[d], p.prompt) for d, p in pool.pick(skipped, rng=None)]
               if config.arm_level == "prompt" else [None] * skipped.size)
        rows.append_groups(step + 1, step, skipped, ids, pool.arm_distribution()[skipped], [],
                           np.zeros(skipped.size + 1, dtype=np.int64), np.zeros(0, dtype=bool), [], trained=False)


def _check_finite(stats, policy, step, config):
    """Stop with a clear error when the update produced NaN or infinity (a learning rate
    far too high, most often): the last checkpoint stays the good one."""
    import torch

    values = [stats.get("train/loss", 0.0), stats.get("train/grad_norm", 0.0)]
    if all(np.isfinite(values)) and bool(torch.stack([p.isfinite().all() for p in policy.parameters()]).all()):
        return
    raise RuntimeError(f"Step {step}: the policy update gave non-finite values (loss {values[0]}, grad norm "
                       f"{values[1]}): training diverged. Lower lr (now {config.lr}) or max_grad_norm "
                       f"(now {config.max_grad_norm}), or use warmup_steps; resume from the last checkpoint.")


def _progress_bar(config, start):
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, initial=start, desc=f"grpo {config.scheduler}", disable=not config.progress,
                dynamic_ncols=True)
