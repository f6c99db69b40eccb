"""banditcurr in verl: a curriculum sampler for verl's PPO/GRPO trainer (on Ray, many nodes).

verl builds the training sampler from its data config and, after each step's advantages,
calls ``sampler.update(batch)`` with the step's ``DataProto``. Three config lines switch
it on (``+`` adds keys that verl's schema does not declare)::

    data.sampler.class_path=pkg://banditcurr.integrations.verl
    data.sampler.class_name=BanditCurriculumSampler
    data.dataloader_num_workers=0
    +data.sampler.scheduler=dump-ucb                # any name in banditcurr.available()
    +data.sampler.level=distribution                # or: prompt
    +data.sampler.hyperparameters.temperature=0.1   # optional, any of the scheduler's

Settings under ``data.sampler`` (all optional):

- ``scheduler``: registry name, default ``"dump-ucb"``.
- ``level``: ``"distribution"`` (an arm per value of ``arm_key``, default
  ``data_source``) or ``"prompt"`` (an arm per prompt, default key ``extra_info.index``,
  the stable prompt id; verl's ``uid`` changes every step).
- ``arm_key``: column, or dotted path into a dict column, giving each row's arm key;
  or a list of them (tuple keys), e.g. ``[data_source,extra_info.index]`` at prompt
  level when prompt ids repeat across sources (a repeated prompt id is refused).
- ``reward_key``: what a rollout's reward is. A token-level tensor of ``batch.batch``
  (``token_level_scores``, the default, or ``token_level_rewards``) is summed over the
  response; ``advantages`` is averaged over ``response_mask``; a non-tensor column
  (e.g. ``acc`` from the reward function's extra info) is read as is.
- ``seed``: default ``data.seed``, else 0. ``hyperparameters``: dict for the scheduler.

Feedback: rows of the batch are grouped into GRPO groups by ``uid`` (each prompt's
``rollout.n`` rows share one), in the order their first rows appear; every group's
rows must carry one arm key. The sampler lives in verl's driver process, so one
curriculum steers all nodes. ``dataloader_num_workers=0`` (verl asserts it) keeps the
loader from reading ahead: a batch is drawn only when the trainer asks for it, after the
previous step's ``update``, so each step's feedback shapes the very next batch.

Checkpoints: verl saves ``train_dataloader.state_dict()`` (``data.pt``); torchdata's
``StatefulDataLoader`` includes this sampler's ``state_dict()`` (scheduler, picking
stream, the drawn but not yet issued rows, the position in the epoch) and hands it back
to ``load_state_dict`` on resume. verl writes the step-t checkpoint before it calls
``update`` for step t, so a resumed run misses step t's rewards (one step of feedback);
all else is restored exactly.
"""

from collections.abc import Mapping

import numpy as np

from ._curriculum import LEVELS, ArmKey, Curriculum, dataset_keys, repeated_key

try:
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "banditcurr.integrations.verl needs verl with the curriculum sampler hook "
        "(verl.experimental.dataset.sampler, verl 0.5 to 0.7): pip install 'banditcurr[verl]'. "
        "For verl >= 0.9 use the plugin instead: pip install 'banditcurr[verl09]' and "
        "trainer.v1.trainer_mode=banditcurr_sync (docs/integrations/verl.md)."
    ) from error

DEFAULT_ARM_KEYS = {"distribution": "data_source", "prompt": "extra_info.index"}
SUM_KEYS = ("token_level_scores", "token_level_rewards")
MEAN_KEYS = ("advantages", "returns")
SETTINGS = ("class_path", "class_name", "scheduler", "level", "arm_key", "reward_key", "seed", "hyperparameters")


def _plain(value):
    """An OmegaConf node as plain Python (dicts, lists, scalars); anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - verl depends on omegaconf
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def read_settings(data_config):
    """The sampler settings from verl's ``data`` config, defaults filled in, checked."""
    data = _plain(data_config)
    if not isinstance(data, Mapping):
        raise TypeError(f"The 'data_config' argument must be verl's data config (a mapping). Got {type(data).__name__}.")
    sampler = data.get("sampler") or {}
    unknown = sorted(set(sampler) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown data.sampler setting(s) {unknown}. Allowed: {', '.join(SETTINGS)}.")
    level = sampler.get("level") or "distribution"
    if level not in LEVELS:
        raise ValueError(f"The data.sampler.level setting must be one of {LEVELS}. Got {level!r} instead.")
    seed = sampler.get("seed")
    seed = data.get("seed") if seed is None else seed
    batch_size = data.get("gen_batch_size") or data.get("train_batch_size")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"data.train_batch_size must be an int >= 1 for the curriculum sampler. Got {batch_size!r}.")
    hyperparameters = sampler.get("hyperparameters") or {}
    if not isinstance(hyperparameters, Mapping):
        raise TypeError(f"data.sampler.hyperparameters must be a mapping. Got {hyperparameters!r}.")
    settings = {
        "scheduler": sampler.get("scheduler") or "dump-ucb",
        "level": level,
        "arm_key": sampler.get("arm_key") or DEFAULT_ARM_KEYS[level],
        "reward_key": sampler.get("reward_key") or "token_level_scores",
        "seed": 0 if seed is None else seed,
        "hyperparameters": dict(hyperparameters),
        "batch_size": batch_size,
    }
    settings["arm_key"] = ArmKey(settings["arm_key"]).spec  # checked; a list stays a list
    return settings


class BanditCurriculumSampler(AbstractCurriculumSampler):
    """verl curriculum sampler driven by a banditcurr scheduler (see the module doc).

    ``data_source`` is the training dataset (verl's ``RLHFDataset`` or any sized dataset
    of dict rows); ``data_config`` is verl's ``data`` config. Yields dataset row indices,
    one training batch (``data.train_batch_size`` prompts) drawn at a time;
    ``len(sampler)`` is the number of rows, rounded down to whole batches.
    """

    def __init__(self, data_source, data_config):
        self.settings = read_settings(data_config)
        self.arm_key = ArmKey(self.settings["arm_key"])
        self.reward_key = self.settings["reward_key"]
        self.batch_size = self.settings["batch_size"]
        keys = dataset_keys(data_source, self.arm_key.spec)
        if self.settings["level"] == "prompt":
            shared = repeated_key(keys)
            if shared is not None:
                raise ValueError(
                    f"level=prompt needs one arm key per prompt, but rows {shared[0]} and {shared[1]} share "
                    f"{keys[shared[0]]!r} (arm_key={self.arm_key.spec!r}). When ids repeat across sources, "
                    "key on both: +data.sampler.arm_key=[data_source,extra_info.index]."
                )
        self.curriculum = Curriculum(self.settings["scheduler"], keys, seed=self.settings["seed"],
                                     hyperparameters=self.settings["hyperparameters"])
        self._n_rows = len(data_source)
        self._buffer = np.empty(0, dtype=np.int64)  # rows of the current batch, drawn
        self._cursor = 0  # how many of them were issued
        self._epoch_issued = 0

    @property
    def arm_names(self):
        """Arm k's key (a data source, or a prompt id) is ``arm_names[k]``."""
        return self.curriculum.arm_names

    @property
    def scheduler(self):
        return self.curriculum.scheduler

    def probs(self):
        """The scheduler's current distribution over arms (float64, in ``arm_names`` order)."""
        return self.curriculum.probs()

    def __len__(self):
        return self._n_rows // self.batch_size * self.batch_size

    def __iter__(self):
        while self._epoch_issued < len(self):
            if self._cursor == len(self._buffer):
                self._buffer = self.curriculum.draw(self.batch_size)
                self._cursor = 0
            row = int(self._buffer[self._cursor])
            self._cursor += 1
            self._epoch_issued += 1
            yield row
        self._epoch_issued = 0

    # -- feedback -----------------------------------------------------------------

    def groups(self, batch):
        """The GRPO groups of a verl ``DataProto``: (keys, rewards, offsets).

        Rows sharing a ``uid`` form a group (verl repeats each prompt ``rollout.n``
        times, may reorder rows to balance sequence lengths, and draws fresh uids every
        step); groups come in the order of their first rows. ``keys[g]`` is group g's arm
        key, ``rewards`` (float64) holds each group's rollout rewards contiguously and
        ``offsets`` (int64, n_groups + 1) delimits them.
        """
        non_tensor = batch.non_tensor_batch
        if "uid" not in non_tensor:
            raise ValueError(
                "The batch has no non_tensor_batch['uid']: the curriculum sampler groups rollouts by the "
                "uid verl's trainer gives each prompt. Call update() with the trainer's step batch."
            )
        uids = np.asarray(non_tensor["uid"])
        if len(uids) == 0:
            raise ValueError("The batch is empty: update() needs at least one scored rollout.")
        row_keys = self.arm_key.of_columns(non_tensor, len(uids), "The batch's non_tensor_batch")
        rewards = self._row_rewards(batch, len(uids))
        _, first, group_of_row = np.unique(uids, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        group_of_row = rank[group_of_row.reshape(-1)]
        rows = np.argsort(group_of_row, kind="stable")
        sizes = np.bincount(group_of_row, minlength=len(first))
        offsets = np.zeros(len(first) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        keys = []
        for g in range(len(first)):
            members = rows[offsets[g]:offsets[g + 1]]
            key = row_keys[members[0]]
            for row in members[1:]:
                if row_keys[row] != key:
                    raise ValueError(
                        f"Rows {members[0]} and {row} share uid {uids[row]!r} but have arm keys {key!r} and "
                        f"{row_keys[row]!r} (arm_key={self.arm_key.spec!r}): a GRPO group must come from one prompt."
                    )
            keys.append(key)
        return keys, rewards[rows], offsets

    def _row_rewards(self, batch, n_rows):
        key = self.reward_key
        tensors = batch.batch
        if tensors is not None and key in tensors.keys():
            values = tensors[key].detach().float().cpu().numpy().astype(np.float64)
            if values.ndim == 2 and key in MEAN_KEYS:
                if "response_mask" not in tensors.keys():
                    raise ValueError(f"reward_key={key!r} is averaged over 'response_mask', which the batch lacks.")
                mask = tensors["response_mask"].detach().float().cpu().numpy()
                values = (values * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
            elif values.ndim == 2:
                values = values.sum(axis=1)
        elif key in batch.non_tensor_batch:
            try:
                values = np.asarray(batch.non_tensor_batch[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"non_tensor_batch[{key!r}] (reward_key) must hold one number per row.") from None
        else:
            held = sorted(tensors.keys()) if tensors is not None else []
            raise ValueError(
                f"The batch has no {key!r} (reward_key). Tensors: {held}; non-tensors: {sorted(batch.non_tensor_batch)}."
            )
        if values.shape != (n_rows,):
            raise ValueError(f"reward_key={key!r} gives shape {values.shape}; expected one reward per row, ({n_rows},).")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"reward_key={key!r} holds a non-finite reward at row {int(np.flatnonzero(~np.isfinite(values))[0])}.")
        return values

    def update(self, batch):
        """Feed a scored step batch (``DataProto``) back to the scheduler."""
        keys, rewards, offsets = self.groups(batch)
        self.curriculum.feedback(keys, rewards, offsets)

    # -- checkpoints ----------------------------------------------------------------

    def state_dict(self):
        """Everything a resume needs (torchdata's StatefulDataLoader saves it with the loader)."""
        return {
            "curriculum": self.curriculum.state_dict(),
            "buffer": self._buffer.copy(),
            "cursor": self._cursor,
            "epoch_issued": self._epoch_issued,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state):
        """Restore ``state_dict()``; checked before anything changes."""
        if not isinstance(state, Mapping) or "curriculum" not in state:
            raise ValueError("The sampler state must be a dict from BanditCurriculumSampler.state_dict().")
        buffer = np.asarray(state["buffer"], dtype=np.int64)
        cursor, issued = int(state["cursor"]), int(state["epoch_issued"])
        if buffer.ndim != 1 or not 0 <= cursor <= len(buffer) or np.any((buffer < 0) | (buffer >= self._n_rows)):
            raise ValueError(f"The sampler state's buffer does not hold rows of this dataset ({self._n_rows} rows).")
        if not 0 <= issued <= len(self):
            raise ValueError(f"The sampler state's epoch position {issued} is outside 0..{len(self)}.")
        self.curriculum.load_state_dict(state["curriculum"])
        self._buffer, self._cursor, self._epoch_issued = buffer, cursor, issued
