"""banditcurr in verl >= 0.9: a verl plugin that adds curriculum trainer modes.

verl 0.8 removed the curriculum-sampler hook that ``banditcurr.integrations.verl``
uses (upstream PR #6302); its v1 trainer (``verl.trainer.ppo.v1``, the default,
``trainer.use_v1=true``) chooses the trainer class by name,
``get_trainer_cls(trainer.v1.trainer_mode)``. ``pip install "banditcurr[verl09]"``
declares this module as an entry point of the group ``verl.plugins``, which ``import
verl`` loads (unless ``VERL_USE_EXTERNAL_PLUGINS=none``); loading it registers three
modes, one per verl mode:

==========================  ================================  =========================
``trainer.v1.trainer_mode``  class                             verl's mode it extends
==========================  ================================  =========================
``banditcurr_sync``           BanditCurriculumSyncTrainer       ``sync`` (the default)
``banditcurr_colocate_async`` BanditCurriculumColocateTrainer   ``colocate_async``
``banditcurr_separate_async`` BanditCurriculumSeparateTrainer   ``separate_async``
==========================  ================================  =========================

Each is verl's own trainer class with four methods extended:

- prompts: ``_next_train_batch(n)`` (what ``prepare_step`` and the refill function
  ``_add_prompts_to_generate`` call) draws n arms from the scheduler and a dataset row
  for each, instead of reading verl's shuffled ``StatefulDataLoader``;
- feedback: every group that leaves verl's replay buffer is scored and fed back, once:
  the trained ones after ``_step_once`` (their rewards are then in TransferQueue,
  also with a colocated reward model) and the ones the buffer evicts (DAPO's
  ``algorithm.filter_groups``, the sync-DAPO surplus, async staleness drops) in the
  buffer's ``_clear_groups``, before verl deletes them. The buffer stays verl's own
  (``ReplayBuffer`` or ``ReplayBufferAsync`` with verl's DAPO settings, or your
  ``custom_sampler``); it only gains that hook;
- checkpoints: ``global_step_N/banditcurr/curriculum.npz`` (``banditcurr.save_state``:
  npz + JSON, no pickle) holds the scheduler, the row-picking stream, the telemetry
  counts and the prompts in flight; written before verl's own files, so verl's
  ``latest_checkpointed_iteration.txt`` never points at a step without it; read back
  on resume, which refuses changed settings.

Settings, under a top-level ``banditcurr`` key (Hydra's ``+`` adds it)::

    trainer.v1.trainer_mode=banditcurr_sync
    +banditcurr.scheduler=dump-ucb          # any name in banditcurr.available()
    +banditcurr.level=distribution          # or prompt
    +banditcurr.hyperparameters.temperature=0.1

- ``level``/``arm_key``: as in the 0.7 adapter: ``data_source`` per distribution, or
  ``extra_info.index`` per prompt (a list of keys makes tuple keys);
- ``reward_key``: ``rm_scores`` (default: the trajectory's summed token scores, verl's
  canonical pre-KL reward) or a key of the reward function's ``reward_extra_info``
  (e.g. ``acc``);
- ``seed`` (default ``data.seed``, else 0), ``hyperparameters``;
- telemetry: ``success_threshold`` (pass rate; default 1.0) and ``log_arms`` (per-arm
  probabilities up to this many arms; default 16) for the ``curriculum/`` metrics,
  logged with verl's metrics (``trainer.logger``: console, tensorboard, wandb, ...).

Feedback timing (the lag, in steps, is logged as ``curriculum/lag_steps``): in sync
mode a step's prompts are drawn at its start, after the previous step's feedback (lag
0); DAPO refills are drawn after the evicted groups were fed back. In the async modes
prompts are drawn ``num_warmup_batches`` ahead and refilled as groups finish, so
feedback arrives while later prompts are already generating (lag >= 1).
"""

import os
import uuid

import numpy as np

from ..state_io import read_state, save_state
from ..telemetry import CurriculumStats, curriculum_metrics
from ._curriculum import LEVELS, ArmKey, Curriculum, dataset_keys, repeated_key

try:
    import transfer_queue as tq
    from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
    from verl.trainer.ppo.v1 import get_trainer_cls, register_trainer
    from verl.utils import tensordict_utils as tu
    from verl.utils.dataset.rl_dataset import collate_fn
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "banditcurr.integrations.verl_v1 needs verl >= 0.9 with its v1 trainer and TransferQueue: "
        "pip install 'banditcurr[verl09]'. For verl 0.5-0.7 use banditcurr.integrations.verl."
    ) from error

MODE_PREFIX = "banditcurr_"
DEFAULT_ARM_KEYS = {"distribution": "data_source", "prompt": "extra_info.index"}
SETTINGS = ("scheduler", "level", "arm_key", "reward_key", "seed", "hyperparameters", "success_threshold", "log_arms")
STATE_DIR, STATE_FILE = "banditcurr", "curriculum.npz"
COMPARED = ("scheduler", "level", "arm_key", "reward_key", "seed", "hyperparameters")  # a resume must match these


def read_settings(config):
    """The ``banditcurr`` settings of verl's config, defaults filled in, checked."""
    section = config.get("banditcurr") if isinstance(config, DictConfig) else None
    section = OmegaConf.to_container(section, resolve=True) if isinstance(section, (DictConfig, ListConfig)) else {}
    if not isinstance(section, dict):
        raise TypeError(f"The 'banditcurr' config entry must be a mapping of settings. Got {section!r}.")
    unknown = sorted(set(section) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown banditcurr setting(s) {unknown}. Allowed: {', '.join(SETTINGS)}.")
    level = section.get("level") or "distribution"
    if level not in LEVELS:
        raise ValueError(f"The banditcurr.level setting must be one of {LEVELS}. Got {level!r} instead.")
    hyperparameters = section.get("hyperparameters") or {}
    if not isinstance(hyperparameters, dict):
        raise TypeError(f"The banditcurr.hyperparameters setting must be a mapping. Got {hyperparameters!r}.")
    reward_key = section.get("reward_key") or "rm_scores"
    if not isinstance(reward_key, str):
        raise ValueError(f"The banditcurr.reward_key setting must be 'rm_scores' or a reward_extra_info key. "
                         f"Got {reward_key!r}.")
    log_arms = section.get("log_arms", 16)
    if isinstance(log_arms, bool) or not isinstance(log_arms, int) or log_arms < 0:
        raise ValueError(f"The banditcurr.log_arms setting must be an int >= 0. Got {log_arms!r} instead.")
    threshold = section.get("success_threshold", 1.0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise ValueError(f"The banditcurr.success_threshold setting must be a finite number. Got {threshold!r}.")
    seed = section.get("seed")
    seed = config.data.get("seed") if seed is None else seed
    return {
        "scheduler": section.get("scheduler") or "dump-ucb",
        "level": level,
        "arm_key": ArmKey(section.get("arm_key") or DEFAULT_ARM_KEYS[level]).spec,
        "reward_key": reward_key,
        "seed": 0 if seed is None else seed,
        "hyperparameters": hyperparameters,
        "success_threshold": float(threshold),
        "log_arms": log_arms,
    }


class CurriculumFeedback:
    """Mixed into verl's replay buffer class: the groups it evicts are fed to the
    curriculum (``curriculum_feedback``, set by the trainer) before verl deletes them."""

    curriculum_feedback = None

    def _clear_groups(self, partition_id, uids):
        if partition_id == "train" and uids and self.curriculum_feedback is not None:
            keys = [key for key in self.partitions[partition_id] if key.rsplit("_", 2)[0] in uids]
            self.curriculum_feedback(keys, partition_id, evicted=uids)
        super()._clear_groups(partition_id, uids)


_WITH_FEEDBACK = {}


def with_feedback(buffer_class):
    """``buffer_class`` with :class:`CurriculumFeedback` mixed in (one class per base)."""
    if issubclass(buffer_class, CurriculumFeedback):
        return buffer_class
    if buffer_class not in _WITH_FEEDBACK:
        _WITH_FEEDBACK[buffer_class] = type(f"Curriculum{buffer_class.__name__}", (CurriculumFeedback, buffer_class),
                                            {"__module__": __name__})
    return _WITH_FEEDBACK[buffer_class]


class BanditCurriculumTrainer:
    """Mixed into one of verl's v1 trainer classes (see the module doc); ``base_mode``
    is the verl mode whose behaviour it keeps."""

    base_mode = None

    def __init__(self, config):
        self.curriculum_settings = read_settings(config)
        self.curriculum = None
        with open_dict(config):  # verl's code branches on the mode name: it must read verl's own
            config.trainer.v1.trainer_mode = self.base_mode
        super().__init__(config)

    # -- setup ------------------------------------------------------------------------

    def _build_replay_buffer(self):
        buffer = super()._build_replay_buffer()
        # verl picks and configures the buffer (sync or async, DAPO, failure refill): keep
        # that object and only add the eviction hook to its class
        buffer.__class__ = with_feedback(type(buffer))
        buffer.curriculum_feedback = self.curriculum_feedback
        return buffer

    def _init_dataloader(self):
        super()._init_dataloader()
        self.init_curriculum(self.train_dataset)

    def init_curriculum(self, dataset):
        """Arms from the dataset's rows (``arm_key``), the scheduler, telemetry counts."""
        settings = self.curriculum_settings
        keys = dataset_keys(dataset, settings["arm_key"])
        if settings["level"] == "prompt":
            shared = repeated_key(keys)
            if shared is not None:
                raise ValueError(
                    f"level=prompt needs one arm key per prompt, but rows {shared[0]} and {shared[1]} share "
                    f"{keys[shared[0]]!r} (arm_key={settings['arm_key']!r}). When ids repeat across sources, key "
                    "on both: +banditcurr.arm_key=[data_source,extra_info.index].")
        self.curriculum = Curriculum(settings["scheduler"], keys, seed=settings["seed"],
                                     hyperparameters=settings["hyperparameters"])
        index = self.curriculum.index
        self._row_keys = keys
        self._row_arm = np.empty(len(keys), dtype=np.int64)
        self._row_arm[index.rows] = np.repeat(np.arange(index.n_arms), np.diff(index.starts))
        self.curriculum_stats = CurriculumStats(index.n_arms, success_threshold=settings["success_threshold"],
                                                **_distributions(dataset, index, settings["level"]))
        self._inflight = {}  # uid -> (row, global step of the draw): drawn, not yet fed back
        self._lags = []
        self._unscored = 0

    # -- prompts ----------------------------------------------------------------------

    def _next_train_batch(self, num_prompts=None):
        """``num_prompts`` rows chosen by the curriculum, as verl's loader would give them."""
        if num_prompts is None:
            num_prompts = self.config.data.train_batch_size
        if isinstance(num_prompts, bool) or not isinstance(num_prompts, (int, np.integer)) or num_prompts < 1:
            raise ValueError(f"The 'num_prompts' argument must be an int >= 1. Got {num_prompts!r} instead.")
        rows = self.curriculum.draw(int(num_prompts))
        self.curriculum_stats.observe_draw(self._row_arm[rows])
        batch_dict = collate_fn([self.train_dataset[int(row)] for row in rows])
        uids = [str(uuid.uuid4()) for _ in rows]
        batch_dict["uid"] = np.array(uids, dtype=object)
        batch = tu.get_tensordict(batch_dict)
        tu.assign_non_tensor_data(batch, "global_steps", self.global_steps)
        for uid, row in zip(uids, rows):
            self._inflight[uid] = (int(row), int(self.global_steps))
        return batch

    # -- feedback ---------------------------------------------------------------------

    def _step_once(self, metrics, timing_raw, sample_batch_size):
        batch = super()._step_once(metrics, timing_raw, sample_batch_size)
        self.feed_trained(batch, metrics)
        return batch

    def feed_trained(self, batch, metrics):
        """Feed the trained batch's groups back (padding rows left out) and add the
        ``curriculum/`` metrics to ``metrics``."""
        keys = [key for key, tag in zip(batch.keys, batch.tags) if not tag.get("is_padding", False)]
        self.curriculum_feedback(keys, batch.partition_id)
        metrics.update(self.curriculum_metrics())

    def curriculum_feedback(self, trajectory_keys, partition_id, evicted=()):
        """Score the trajectories (``{uid}_{session}_{index}`` keys in TransferQueue) of
        groups this curriculum drew and feed them back, one reward per session; other
        keys (validation, padding) are ignored. Returns the number of groups fed back.

        ``evicted``: the uids of groups the replay buffer is deleting. Those with no
        reward to read are forgotten unscored (counted in ``curriculum/unscored_groups``):
        failed groups without trajectories, and, with a colocated reward model (verl
        scores a batch only after sampling it), every evicted group.
        """
        if partition_id != "train" or self.curriculum is None:
            return 0
        if evicted and not self._rewards_at_sampling():
            trajectory_keys = []
        keys = [key for key in trajectory_keys if key.rsplit("_", 2)[0] in self._inflight]
        fed = self._feed_keys(keys, partition_id) if keys else 0
        for uid in evicted:
            self._unscored += self._inflight.pop(uid, None) is not None
        return fed

    def _feed_keys(self, keys, partition_id):
        """Feed back the groups of these trajectory keys (all of groups in flight)."""
        sessions = {}  # uid -> {session: reward}, first output of each session
        for key, reward in zip(keys, self._read_rewards(keys, partition_id)):
            uid, session, _ = key.rsplit("_", 2)
            sessions.setdefault(uid, {}).setdefault(session, reward)
        group_keys, rewards, offsets, arms = [], [], [0], []
        for uid in sorted(sessions):  # an order that does not depend on how TransferQueue lists keys
            by_session = sessions[uid]
            row, drawn_at = self._inflight.pop(uid)
            group_keys.append(self._row_keys[row])
            arms.append(self._row_arm[row])
            rewards.extend(by_session[s] for s in sorted(by_session, key=int))
            offsets.append(len(rewards))
            self._lags.append(self.global_steps - drawn_at)
        rewards, offsets = np.asarray(rewards, dtype=np.float64), np.asarray(offsets, dtype=np.int64)
        self.curriculum.feedback(group_keys, rewards, offsets)
        self.curriculum_stats.observe_feedback(np.asarray(arms, dtype=np.int64), rewards, offsets)
        return len(group_keys)

    def _rewards_at_sampling(self):
        """Whether rewards are in TransferQueue when groups finish (a reward loop scores
        them as they are generated), as opposed to a colocated reward model scoring the
        sampled batch (``_compute_reward_colocate``)."""
        manager = getattr(self, "reward_loop_manager", None)  # made in _setup
        return manager is None or manager.reward_loop_worker_handles is not None

    def _read_rewards(self, keys, partition_id):
        """One reward per trajectory key, from TransferQueue (see ``reward_key``)."""
        reward_key = self.curriculum_settings["reward_key"]
        if reward_key == "rm_scores":
            data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=["rm_scores"])
            values = [float(scores.sum().item()) for scores in data["rm_scores"]]
        else:
            data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=["extra_fields"])
            values = []
            for key, extra in zip(keys, data["extra_fields"]):
                extra = getattr(extra, "data", extra)
                info = extra.get("reward_extra_info", {}) if isinstance(extra, dict) else {}
                if reward_key not in info:
                    raise ValueError(f"Trajectory {key!r} has no reward_extra_info[{reward_key!r}] (banditcurr."
                                     f"reward_key); it holds {sorted(info)}. Use rm_scores or one of those.")
                values.append(float(info[reward_key]))
        if not np.all(np.isfinite(values)):
            raise ValueError(f"A trajectory's reward ({reward_key}) is not finite: {values}.")
        return values

    def curriculum_metrics(self):
        """The ``curriculum/`` metrics (banditcurr.telemetry) plus the mean feedback lag in steps."""
        settings = self.curriculum_settings
        metrics = curriculum_metrics(self.curriculum.probs(), self.curriculum.arm_names, self.curriculum_stats,
                                     max_arms=settings["log_arms"])
        if self._lags:
            metrics["curriculum/lag_steps"] = float(np.mean(self._lags))
            self._lags = []
        if self._unscored:
            metrics["curriculum/unscored_groups"] = float(self._unscored)
            self._unscored = 0
        return metrics

    # -- checkpoints ------------------------------------------------------------------

    def _save_checkpoint(self):
        self.save_curriculum(os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}"))
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.global_steps > 0:  # verl resumed from global_step_<global_steps>
            if self.config.trainer.resume_mode == "resume_path":
                folder = self.config.trainer.resume_from_path
            else:
                folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
            self.load_curriculum(folder if os.path.isabs(folder) else os.path.join(os.getcwd(), folder))

    def save_curriculum(self, step_folder):
        """Write the curriculum state into ``step_folder/banditcurr/curriculum.npz``."""
        folder = os.path.join(step_folder, STATE_DIR)
        os.makedirs(folder, exist_ok=True)
        uids = list(self._inflight)
        state = {
            "settings": {name: self.curriculum_settings[name] for name in COMPARED},
            "curriculum": self.curriculum.state_dict(),
            "stats": self.curriculum_stats.state_dict(),
            "inflight_uids": uids,
            "inflight_rows": np.array([self._inflight[u][0] for u in uids], dtype=np.int64),
            "inflight_steps": np.array([self._inflight[u][1] for u in uids], dtype=np.int64),
        }
        return save_state(state, os.path.join(folder, STATE_FILE))

    def load_curriculum(self, step_folder):
        """Restore what :meth:`save_curriculum` wrote; refuses other settings or data."""
        path = os.path.join(step_folder, STATE_DIR, STATE_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"The checkpoint {step_folder!r} has no {STATE_DIR}/{STATE_FILE}: it was not written by a banditcurr "
                "trainer mode. Resume from a checkpoint of the curriculum run, or start without resuming "
                "(trainer.resume_mode=disable).")
        state = read_state(path)
        saved = state["settings"]
        current = {name: self.curriculum_settings[name] for name in COMPARED}
        changed = sorted(name for name in COMPARED if _canonical(saved.get(name)) != _canonical(current[name]))
        if changed:
            raise ValueError(f"The checkpoint's curriculum was made with other settings: "
                             + "; ".join(f"{n}: saved {saved.get(n)!r}, now {current[n]!r}" for n in changed)
                             + ". Resume with the same banditcurr settings, or start a new run.")
        rows = np.asarray(state["inflight_rows"], dtype=np.int64)
        if np.any(rows < 0) or np.any(rows >= len(self._row_keys)):
            raise ValueError(f"The checkpoint's in-flight prompts are not rows of this dataset "
                             f"({len(self._row_keys)} rows).")
        self.curriculum_stats.load_state_dict(state["stats"])  # checked shapes first
        self.curriculum.load_state_dict(state["curriculum"])
        self._inflight = {uid: (int(row), int(step)) for uid, row, step
                          in zip(state["inflight_uids"], rows, state["inflight_steps"])}
        return path


def _canonical(value):
    """Settings as compared on resume: tuples and lists alike."""
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def _distributions(dataset, index, level):
    """Telemetry groups: at prompt level, each prompt arm's ``data_source`` (when the
    dataset has one); at distribution level every arm is its own distribution."""
    names = [str(name) for name in index.names]
    if level == "prompt":
        try:
            sources = dataset_keys(dataset, "data_source")
        except ValueError:
            sources = None
        if sources is not None:
            names = sorted({str(source) for source in sources})
            position = {name: n for n, name in enumerate(names)}
            first_row = index.rows[index.starts[:-1]]
            return {"arm_distribution": np.array([position[str(sources[row])] for row in first_row]),
                    "distribution_names": names}
    return {"distribution_names": names}


def _variant(mode, name):
    base = get_trainer_cls(mode)
    cls = type(name, (BanditCurriculumTrainer, base), {
        "base_mode": mode, "__module__": __name__,
        "__doc__": f"verl's {base.__name__} with prompts chosen by a banditcurr scheduler "
                   f"(trainer.v1.trainer_mode={MODE_PREFIX}{mode})."})
    return register_trainer(MODE_PREFIX + mode)(cls)


BanditCurriculumSyncTrainer = _variant("sync", "BanditCurriculumSyncTrainer")
BanditCurriculumColocateTrainer = _variant("colocate_async", "BanditCurriculumColocateTrainer")
BanditCurriculumSeparateTrainer = _variant("separate_async", "BanditCurriculumSeparateTrainer")
