"""banditcurr in TRL: ``GRPOTrainer`` with a bandit curriculum, by two routes.

TRL has no curriculum hook. Both routes keep TRL's GRPO layout (each generation batch
holds ``generation_batch_size / num_generations`` prompts, each repeated
``num_generations`` times, one GRPO group) and draw one batch of prompts from the
scheduler at a time, when TRL's loader reaches it.

**Subclass route (the default)**: :class:`CurriculumGRPOTrainer`, the pattern TRL's
maintainers point to. It overrides ``_get_train_sampler`` (a :class:`CurriculumSampler`
replaces ``RepeatSampler``) and ``_calculate_rewards``: after TRL has called every
reward function and gathered the rewards of all processes, the weighted sum of the
reward functions (TRL's ``reward_weights``; completions no function could score are
left out) goes back to the scheduler. Feedback lag: one generation batch (accelerate's
loader fetches one batch ahead, so the next batch is drawn before this one is scored).

**Public route**: :class:`CurriculumFeed` uses only public TRL API: ``feed.dataset`` is a
``datasets.IterableDataset`` that draws from the curriculum (TRL repeats it into its
GRPO layout), ``feed.reward(func)`` wraps one reward function (the success signal the
curriculum should read) so that its rewards, gathered across processes, go back to the
scheduler, and ``feed.callback()`` checkpoints and resumes the curriculum. Set
``shuffle_dataset=False`` (TRL's buffered shuffle would read up to 1000 prompts ahead).
Its feedback lag is measured and logged the same way (``curriculum/lag``, in
generation batches); docs/integrations/trl.md gives the figures of both routes.

Both: feedback is attributed by the rows' arm keys, never by "the last draw";
drawn-but-unscored batches are kept in the curriculum state and issued again after a
resume; ``curriculum/`` metrics (``banditcurr.telemetry``) go to TRL's own logger
(``report_to``). Checkpoints: each ``checkpoint-N`` folder gets
``banditcurr_curriculum.npz`` (``banditcurr.save_state``: npz + JSON, never pickle); a
pickle from older releases (``banditcurr_curriculum.pkl``) is refused with the command
that converts it. Resuming needs ``ignore_data_skip`` (the curriculum state, not
skipping batches, restores the position; the subclass sets it, the public route asks
for it). With TRL's default ``steps_per_generation = gradient_accumulation_steps`` and
``num_iterations = 1`` a resumed run draws exactly what the uninterrupted run would
have drawn from the same rewards.
"""

import os
from collections import deque

import numpy as np

from ..state_io import load_state, save_state
from ..telemetry import CurriculumStats, curriculum_metrics
from ._curriculum import ArmKey, Curriculum, dataset_keys

try:
    import torch
    from accelerate.utils import gather_object
    from datasets import Dataset, IterableDataset, Value
    from torch.utils.data import Sampler
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
    from trl import GRPOTrainer
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("banditcurr.integrations.trl needs TRL: pip install 'banditcurr[trl]'.") from error

STATE_FILE = "banditcurr_curriculum.npz"
LEGACY_STATE_FILE = "banditcurr_curriculum.pkl"
DRAW_COLUMN = "curriculum_draw"  # public route: which draw a row came from (0, 1, ...)


def _tracked_draw(curriculum, stats, n_prompts):
    """Draw ``n_prompts`` rows and count their arms for the telemetry."""
    rows = curriculum.draw(n_prompts)
    stats.observe_draw(curriculum.pending[-1][0])
    return rows


def group_rewards(keys, rewards, size, spec):
    """Split TRL's flat, gathered rows into GRPO groups of ``size``: returns the arm key,
    rewards (NaN rows left out) and offsets of every group with a scored row."""
    if len(keys) != len(rewards) or len(rewards) % size:
        raise ValueError(f"Got {len(rewards)} rewards and {len(keys)} arm keys for groups of num_generations={size}; "
                         "the curriculum needs whole GRPO groups in TRL's order.")
    group_keys, kept, offsets = [], [], [0]
    for start in range(0, len(rewards), size):
        group = keys[start:start + size]
        if any(key != group[0] for key in group):
            raise ValueError(f"Rows {start}..{start + size - 1} form one GRPO group but carry arm keys {group} "
                             f"(arm_key={spec!r}); was the train sampler or dataset order changed?")
        values = np.asarray(rewards[start:start + size], dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size:
            group_keys.append(group[0])
            kept.extend(values.tolist())
            offsets.append(len(kept))
    return group_keys, np.asarray(kept, dtype=np.float64), np.asarray(offsets, dtype=np.int64)


class _Feedback:
    """What both routes share: a curriculum, its telemetry counts, feedback and metrics."""

    def _setup_curriculum(self, dataset, arm_key, scheduler, scheduler_kwargs, seed, success_threshold, log_arms):
        self.arm_key = ArmKey(arm_key)
        self.curriculum = Curriculum(scheduler, dataset_keys(dataset, self.arm_key.spec), seed=seed,
                                     hyperparameters=scheduler_kwargs)
        self.curriculum_stats = CurriculumStats(self.curriculum.n_arms, success_threshold=success_threshold,
                                                distribution_names=self.curriculum.arm_names)
        self.log_arms = log_arms

    def _feed(self, keys, rewards, size):
        """Feed gathered rows back; returns the ``curriculum/`` metrics, or {} if nothing was scored."""
        group_keys, values, offsets = group_rewards(keys, rewards, size, self.arm_key.spec)
        if not group_keys:
            return {}
        arms = self.curriculum.feedback(group_keys, values, offsets)
        self.curriculum_stats.observe_feedback(arms, values, offsets)
        metrics = curriculum_metrics(self.curriculum.probs(), self.curriculum.arm_names, self.curriculum_stats,
                                     max_arms=self.log_arms)
        if self.curriculum.last_lag is not None:
            metrics["curriculum/lag"] = float(self.curriculum.last_lag)
        return metrics


class CurriculumSampler(Sampler):
    """Dataset rows in TRL's GRPO order, one curriculum draw per generation batch.

    An epoch is ``len(dataset) // prompts_per_batch`` generation batches, as with TRL's
    ``RepeatSampler``. ``state_dict`` is the curriculum's; after ``load_state_dict`` the
    batches that were drawn but not scored are issued again first.
    """

    def __init__(self, curriculum, n_rows, prompts_per_batch, num_generations, repeat_count, stats=None):
        self.curriculum = curriculum
        self.stats = stats if stats is not None else CurriculumStats(curriculum.n_arms)
        self.n_rows = n_rows
        self.prompts_per_batch = prompts_per_batch
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self._replay = deque()

    def batches_per_epoch(self):
        return self.n_rows // self.prompts_per_batch

    def __len__(self):
        return self.batches_per_epoch() * self.prompts_per_batch * self.num_generations * self.repeat_count

    def __iter__(self):
        for _ in range(self.batches_per_epoch()):
            rows = self._replay.popleft() if self._replay else _tracked_draw(self.curriculum, self.stats,
                                                                            self.prompts_per_batch)
            for _ in range(self.repeat_count):
                for row in rows:
                    for _ in range(self.num_generations):
                        yield int(row)

    def state_dict(self):
        return {"curriculum": self.curriculum.state_dict(), "stats": self.stats.state_dict()}

    def load_state_dict(self, state):
        if state.get("stats") is not None:  # absent in a converted pickle: the counts restart
            self.stats.load_state_dict(state["stats"])
        self.curriculum.load_state_dict(state["curriculum"])
        self._replay = deque(rows for _, rows in self.curriculum.pending)


def save_curriculum(owner, folder):
    """Write ``owner.state_dict()`` to ``folder/banditcurr_curriculum.npz`` (atomically, no pickle)."""
    return save_state(owner, os.path.join(folder, STATE_FILE))


def load_curriculum(owner, folder):
    """Restore the state :func:`save_curriculum` wrote into ``folder``."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        legacy = os.path.join(folder, LEGACY_STATE_FILE)
        if os.path.isfile(legacy):
            raise ValueError(
                f"The checkpoint {folder!r} holds the curriculum as a pickle ({LEGACY_STATE_FILE}, written by "
                f"banditcurr <= 0.1), which banditcurr no longer loads: unpickling runs code. If you trust the "
                f"file, convert it once (this command unpickles it; the state inside is plain numpy):\n"
                f"  python -c \"import pickle, banditcurr as bc; "
                f"bc.save_state({{'curriculum': pickle.load(open('{legacy}', 'rb'))}}, "
                f"'{path}')\"\n"
                f"then resume (the telemetry counts restart from zero).")
        raise FileNotFoundError(
            f"The checkpoint {folder!r} has no {STATE_FILE}: it was not written with a banditcurr curriculum. "
            "Resume from a checkpoint of the curriculum run, or start without resume_from_checkpoint.")
    return load_state(path, into=owner)


class CurriculumCheckpointCallback(TrainerCallback):
    """Saves ``owner.state_dict()`` beside the model in every ``checkpoint-N`` folder."""

    def __init__(self, owner):
        self.owner = owner

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            if os.path.isdir(folder):
                save_curriculum(self.owner, folder)
        return control


class CurriculumGRPOTrainer(_Feedback, GRPOTrainer):
    """``GRPOTrainer`` whose training prompts come from a banditcurr scheduler.

    Takes every argument of ``GRPOTrainer`` plus, as keywords:

    - ``arm_key``: the dataset column (or dotted path into a dict column, or a list of
      them for tuple keys) naming each row's arm: a task or difficulty name for a
      distribution-level curriculum, a unique prompt id for a prompt-level one.
    - ``scheduler``: a registry name (default ``"dump-ucb"``) or a ready
      ``banditcurr.Scheduler`` over as many arms as the column has distinct values.
    - ``scheduler_kwargs``: hyperparameters for a scheduler given by name.
    - ``curriculum_seed``: seeds the scheduler and the choice of rows within an arm;
      default ``args.seed`` (the same on every process, as the curriculum must be).
    - ``success_threshold`` (pass rate: reward >= it; default 1.0) and ``log_arms``
      (per-arm probabilities up to this many arms; default 16): telemetry.
    - ``curriculum_metric``: the name of one reward function (as TRL names it:
      ``trainer.reward_func_names``) whose rewards the curriculum reads instead of the
      weighted sum that trains the policy, e.g. the verifier's raw 0/1 success when the
      training reward is shaped; default None (the weighted sum).

    ``trainer.curriculum`` holds the scheduler (``trainer.curriculum.probs()``,
    ``trainer.curriculum.arm_names``).
    """

    def __init__(self, *args, arm_key, scheduler="dump-ucb", scheduler_kwargs=None, curriculum_seed=None,
                 success_threshold=1.0, log_arms=16, curriculum_metric=None, **kwargs):
        super().__init__(*args, **kwargs)
        if curriculum_metric is not None and curriculum_metric not in self.reward_func_names:
            raise ValueError(f"The 'curriculum_metric' argument of CurriculumGRPOTrainer must name one of the reward "
                             f"functions {self.reward_func_names}. Got {curriculum_metric!r} instead.")
        self.curriculum_metric = curriculum_metric
        if self.train_dataset is None or not hasattr(self.train_dataset, "__len__"):
            raise TypeError(
                "CurriculumGRPOTrainer needs a map-style train_dataset (a datasets.Dataset): a curriculum "
                f"chooses rows by index. Got {type(self.train_dataset).__name__}; for a stream use CurriculumFeed.")
        seed = self.args.seed if curriculum_seed is None else curriculum_seed
        self._setup_curriculum(self.train_dataset, arm_key, scheduler, scheduler_kwargs, seed, success_threshold,
                               log_arms)
        self.curriculum_sampler = CurriculumSampler(
            self.curriculum, len(self.train_dataset),
            prompts_per_batch=self.args.generation_batch_size // self.num_generations,
            num_generations=self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            stats=self.curriculum_stats,
        )
        self.add_callback(CurriculumCheckpointCallback(self.curriculum_sampler))

    def _get_train_sampler(self, dataset=None):
        if dataset is not None and len(dataset) != self.curriculum_sampler.n_rows:
            raise ValueError(
                f"The curriculum was built for a train_dataset of {self.curriculum_sampler.n_rows} rows; "
                f"got a dataset of {len(dataset)} rows. Create a new trainer for new training data."
            )
        return self.curriculum_sampler

    def train(self, resume_from_checkpoint=None, **kwargs):
        """``GRPOTrainer.train``; on resume, the curriculum state comes back too."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No checkpoint found in output_dir {self.args.output_dir!r} to resume from.")
        if resume_from_checkpoint:
            load_curriculum(self.curriculum_sampler, resume_from_checkpoint)
            self.args.ignore_data_skip = True  # the curriculum state, not skipping, restores the position
        return super().train(resume_from_checkpoint=resume_from_checkpoint or None, **kwargs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.model.training:
            self._feed_curriculum(inputs, rewards_per_func)
        return rewards_per_func

    def _feed_curriculum(self, inputs, rewards_per_func):
        """Group the gathered rewards of one generation batch and update the scheduler."""
        keys = gather_object([self.arm_key.of_row(row, f"Training row {j}") for j, row in enumerate(inputs)])
        if self.curriculum_metric is not None:  # one function's rewards: NaN where it could not score
            total = rewards_per_func[:, self.reward_func_names.index(self.curriculum_metric)].double().cpu().numpy()
        else:
            weighted = rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
            total = weighted.nansum(dim=1).double().cpu().numpy()
            total[torch.isnan(rewards_per_func).all(dim=1).cpu().numpy()] = np.nan  # no function could score it
        for name, value in self._feed(keys, total, self.num_generations).items():
            self._metrics["train"][name].append(value)


class CurriculumFeed(_Feedback):
    """The public route: a curriculum behind TRL's public API (see the module doc).

    ``dataset`` is a map-style ``datasets.Dataset`` holding the ``arm_key`` column; the
    other arguments are :class:`CurriculumGRPOTrainer`'s (``seed`` instead of
    ``curriculum_seed``, default 0). Use ``feed.dataset`` as ``train_dataset``,
    ``feed.reward(func)`` in ``reward_funcs`` and ``feed.callback()`` in ``callbacks``,
    with ``GRPOConfig(shuffle_dataset=False)``.
    """

    def __init__(self, dataset, *, arm_key, scheduler="dump-ucb", scheduler_kwargs=None, seed=0,
                 success_threshold=1.0, log_arms=16):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"The 'dataset' argument of CurriculumFeed must be a datasets.Dataset (rows chosen by "
                            f"index). Got {type(dataset).__name__}.")
        if DRAW_COLUMN in dataset.column_names:
            raise ValueError(f"The dataset already has a {DRAW_COLUMN!r} column, which CurriculumFeed adds.")
        self._setup_curriculum(dataset, arm_key, scheduler, scheduler_kwargs, seed, success_threshold, log_arms)
        self.source = dataset
        self.prompts_per_batch = None  # TRL's generation batch in prompts: set by the callback at train start
        self.num_generations = None
        self.n_draws = 0
        self._replay = deque()
        features = dataset.features.copy()
        features[DRAW_COLUMN] = Value("int64")
        self.dataset = IterableDataset.from_generator(self._rows, features=features)

    def _rows(self):
        if self.prompts_per_batch is None:
            raise RuntimeError("CurriculumFeed.dataset was read before training started: pass feed.callback() in "
                               "the trainer's callbacks, which tells the feed TRL's batch size.")
        while True:
            rows = self._replay.popleft() if self._replay else _tracked_draw(self.curriculum, self.curriculum_stats,
                                                                            self.prompts_per_batch)
            draw = self.n_draws
            self.n_draws += 1
            for row in rows:
                yield {**self.source[int(row)], DRAW_COLUMN: draw}

    def reward(self, func):
        """``func`` as a TRL reward function whose rewards also go to the curriculum."""

        def curriculum_reward(prompts, completions, **kwargs):
            rewards = func(prompts=prompts, completions=completions, **kwargs)
            if DRAW_COLUMN in kwargs:  # a training batch of this feed (evaluation rows lack the column)
                rows = [{parts[0]: kwargs[parts[0]][j] for parts in self.arm_key.paths} for j in range(len(prompts))]
                keys = gather_object([self.arm_key.of_row(row, f"Training row {j}") for j, row in enumerate(rows)])
                values = gather_object([np.nan if r is None else float(r) for r in rewards])
                log_metric = kwargs.get("log_metric")
                for name, value in self._feed(keys, values, self.num_generations).items():
                    if log_metric is not None:
                        log_metric(name, value)
            return rewards

        curriculum_reward.__name__ = getattr(func, "__name__", type(func).__name__)
        return curriculum_reward

    def callback(self):
        """The ``TrainerCallback`` that sizes the draws, checkpoints and resumes the curriculum."""
        return _FeedCallback(self)

    def state_dict(self):
        return {"curriculum": self.curriculum.state_dict(), "stats": self.curriculum_stats.state_dict(),
                "n_draws": self.n_draws}

    def load_state_dict(self, state):
        self.curriculum_stats.load_state_dict(state["stats"])
        self.curriculum.load_state_dict(state["curriculum"])
        self.n_draws = int(state["n_draws"]) - len(self.curriculum.pending)  # the replayed draws keep their numbers
        self._replay = deque(rows for _, rows in self.curriculum.pending)


class _FeedCallback(CurriculumCheckpointCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        feed = self.owner
        feed.num_generations = args.num_generations
        feed.prompts_per_batch = args.generation_batch_size // args.num_generations
        if args.shuffle_dataset:
            raise ValueError("CurriculumFeed needs GRPOConfig(shuffle_dataset=False): TRL's buffered shuffle of an "
                             "iterable dataset would read up to 1000 curriculum prompts ahead of the rewards.")
        if state.global_step > 0:  # resuming
            if not args.ignore_data_skip:
                raise ValueError("Resuming with a CurriculumFeed needs GRPOConfig(ignore_data_skip=True): the "
                                 "curriculum state, not skipping batches of the stream, restores the position.")
            load_curriculum(feed, os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"))
        return control
