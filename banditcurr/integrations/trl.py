"""banditcurr in TRL: ``GRPOTrainer`` with a bandit curriculum.

TRL has no curriculum hook, so this module uses the pattern its maintainers point to:
a ``GRPOTrainer`` subclass that overrides ``_get_train_sampler``. The pieces:

- :class:`CurriculumSampler` (a torch ``Sampler``) replaces TRL's ``RepeatSampler``
  and keeps its layout: each generation batch holds ``generation_batch_size /
  num_generations`` prompts, each index repeated ``num_generations`` times (one GRPO
  group), the whole batch repeated ``num_iterations * steps_per_generation`` times.
  Unlike ``RepeatSampler`` it draws a generation batch only when the loader reaches it.
- Feedback: :class:`CurriculumGRPOTrainer` overrides ``_calculate_rewards``. After TRL
  has called every reward function and gathered the rewards of all processes, the
  trainer gathers the rows' arm keys (the ``arm_key`` dataset column; TRL also passes
  dataset columns to reward functions as keyword arguments), splits the rows into
  groups of ``num_generations`` and feeds the weighted sum of the reward functions
  (TRL's ``reward_weights``; completions no function could score are left out) to the
  scheduler. Every process does the same, so all processes keep one curriculum.
- One batch late: accelerate's data loader fetches one batch ahead, so the next
  generation batch is drawn before the current one is scored; its rewards first shape
  the batch after. Feedback is attributed by the arm keys of the scored rows, never by
  "the last draw", and drawn-but-unscored batches are kept in the curriculum state.
  The measured lag is logged as ``curriculum/lag`` (batches drawn after the scored one).
- Checkpoints: :class:`CurriculumCheckpointCallback` writes the curriculum state into
  each ``checkpoint-N`` folder (``banditcurr_curriculum.pkl``); ``train(
  resume_from_checkpoint=...)`` reads it back and re-issues the batches that were drawn
  but not yet scored when the checkpoint was written. Because a curriculum has no fixed
  order to fast-forward through, resuming sets ``ignore_data_skip`` (the sampler state,
  not skipping, restores the position). With TRL's default ``steps_per_generation =
  gradient_accumulation_steps`` and ``num_iterations = 1`` a resumed run draws exactly
  what the uninterrupted run would have drawn from the same rewards.
"""

import os
import pickle
from collections import deque

import numpy as np

from ._curriculum import ArmKey, Curriculum, dataset_keys

try:
    import torch
    from torch.utils.data import Sampler
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
    from trl import GRPOTrainer
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("banditcurr.integrations.trl needs TRL: pip install 'banditcurr[trl]'.") from error

STATE_FILE = "banditcurr_curriculum.pkl"
MAX_LOGGED_ARMS = 16  # per-arm probabilities are logged up to this many arms


class CurriculumSampler(Sampler):
    """Dataset rows in TRL's GRPO order, one curriculum draw per generation batch.

    An epoch is ``len(dataset) // prompts_per_batch`` generation batches, as with TRL's
    ``RepeatSampler``. ``state_dict`` is the curriculum's; after ``load_state_dict`` the
    batches that were drawn but not scored are issued again first.
    """

    def __init__(self, curriculum, n_rows, prompts_per_batch, num_generations, repeat_count):
        self.curriculum = curriculum
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
            rows = self._replay.popleft() if self._replay else self.curriculum.draw(self.prompts_per_batch)
            for _ in range(self.repeat_count):
                for row in rows:
                    for _ in range(self.num_generations):
                        yield int(row)

    def state_dict(self):
        return self.curriculum.state_dict()

    def load_state_dict(self, state):
        self.curriculum.load_state_dict(state)
        self._replay = deque(rows for _, rows in self.curriculum.pending)


def save_curriculum(sampler, folder):
    """Write ``sampler.state_dict()`` to ``folder/banditcurr_curriculum.pkl`` (atomically)."""
    path = os.path.join(folder, STATE_FILE)
    with open(path + ".tmp", "wb") as handle:
        pickle.dump(sampler.state_dict(), handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(path + ".tmp", path)
    return path


def load_curriculum(sampler, folder):
    """Restore the state ``save_curriculum`` wrote into ``folder``."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The checkpoint {folder!r} has no {STATE_FILE}: it was not written by a CurriculumGRPOTrainer. "
            "Resume from a checkpoint of the curriculum run, or start without resume_from_checkpoint."
        )
    with open(path, "rb") as handle:
        sampler.load_state_dict(pickle.load(handle))
    return path


class CurriculumCheckpointCallback(TrainerCallback):
    """Saves the curriculum beside the model in every ``checkpoint-N`` folder."""

    def __init__(self, sampler):
        self.sampler = sampler

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            if os.path.isdir(folder):
                save_curriculum(self.sampler, folder)
        return control


class CurriculumGRPOTrainer(GRPOTrainer):
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

    ``trainer.curriculum`` holds the scheduler (``trainer.curriculum.probs()``,
    ``trainer.curriculum.arm_names``).
    """

    def __init__(self, *args, arm_key, scheduler="dump-ucb", scheduler_kwargs=None, curriculum_seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.arm_key = ArmKey(arm_key)
        if self.train_dataset is None or not hasattr(self.train_dataset, "__len__"):
            raise TypeError(
                "CurriculumGRPOTrainer needs a map-style train_dataset (a datasets.Dataset): a curriculum "
                f"chooses rows by index. Got {type(self.train_dataset).__name__}."
            )
        seed = self.args.seed if curriculum_seed is None else curriculum_seed
        self.curriculum = Curriculum(scheduler, dataset_keys(self.train_dataset, self.arm_key.spec), seed=seed,
                                     hyperparameters=scheduler_kwargs)
        self.curriculum_sampler = CurriculumSampler(
            self.curriculum, len(self.train_dataset),
            prompts_per_batch=self.args.generation_batch_size // self.num_generations,
            num_generations=self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
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
        from accelerate.utils import gather_object

        keys = gather_object([self.arm_key.of_row(row, f"Training row {j}") for j, row in enumerate(inputs)])
        weighted = rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        total = weighted.nansum(dim=1).double().cpu().numpy()
        scorable = ~torch.isnan(rewards_per_func).all(dim=1).cpu().numpy()
        size = self.num_generations
        if len(keys) != len(total) or len(total) % size:
            raise ValueError(
                f"Got {len(total)} rewards and {len(keys)} arm keys for groups of num_generations={size}; "
                "the curriculum needs whole GRPO groups in TRL's order."
            )
        group_keys, rewards, offsets = [], [], [0]
        for start in range(0, len(total), size):
            group = keys[start:start + size]
            if any(key != group[0] for key in group):
                raise ValueError(
                    f"Rows {start}..{start + size - 1} form one GRPO group but carry arm keys {group} "
                    f"(arm_key={self.arm_key.spec!r}); was the train sampler replaced?"
                )
            kept = total[start:start + size][scorable[start:start + size]]
            if kept.size:
                group_keys.append(group[0])
                rewards.extend(kept.tolist())
                offsets.append(len(rewards))
        if not group_keys:
            return
        self.curriculum.feedback(group_keys, np.asarray(rewards), np.asarray(offsets))
        metrics = self._metrics["train"]
        if self.curriculum.last_lag is not None:
            metrics["curriculum/lag"].append(float(self.curriculum.last_lag))
        if self.curriculum.n_arms <= MAX_LOGGED_ARMS:
            for name, p in zip(self.curriculum.arm_names, self.curriculum.probs()):
                metrics[f"curriculum/p/{name}"].append(float(p))
