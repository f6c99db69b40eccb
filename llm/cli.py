"""GRPO training of a language model with a bandit curriculum.

    banditcurr train --config run.toml                 # options from a TOML/YAML file
    banditcurr train --config run.toml --steps 20      # a flag overrides the file

A minimal run.toml (a tiny local model: python -m banditcurr.llm.tiny --out out/tiny):

    model = "out/tiny"
    tasks = ["addition:1-6"]
    scheduler = "dump-ucb"
    steps = 100
    lr = 3e-4

Writes out_dir/log.jsonl (one record per step; `banditcurr plot` draws it),
out_dir/ledger/ (one row per rollout group; `banditcurr ledger` reads it),
out_dir/config.json and out_dir/checkpoints/. A bad config stops before any work.
An out_dir holds one run: a new run there is refused unless --overwrite (which first
deletes the old run's files); --resume continues it and refuses changed settings that
alter the run. Every option (file key = flag name with '_'; a bool flag alone means true):
"""

from . import config as _config


def add_arguments(parser):
    parser.add_argument("--config", metavar="FILE", help="TOML (.toml) or YAML (.yaml/.yml) file of options")
    _config.add_flags(parser)


def run(args):
    try:
        cfg = _config.from_args(args)
        cfg.validate()
    except (TypeError, ValueError) as error:
        raise SystemExit(f"banditcurr train: error: {error}") from None
    from .checkpoint import RunFolderError
    from .grpo import train

    try:
        result = train(cfg)
    except RunFolderError as error:
        raise SystemExit(f"banditcurr train: error: {error}") from None
    last = result.history[-1] if result.history else {}
    evals = {k.removeprefix("eval/accuracy/"): round(v, 3) for k, v in last.items() if k.startswith("eval/accuracy/")}
    print(f"done: {cfg.steps} steps, log in {cfg.out_dir}/log.jsonl, rollouts in {cfg.out_dir}/ledger "
          f"(banditcurr ledger {cfg.out_dir}/ledger)")
    if evals:
        print("held-out accuracy:", evals)
    return 0
