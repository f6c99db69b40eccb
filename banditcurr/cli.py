"""The ``banditcurr`` command: one sub-command per job.

Each sub-command lives in its own module with ``add_arguments(parser)`` and
``run(args)``; only the chosen one is imported (so ``--help`` stays fast and the core
never imports torch).
"""

import argparse
import importlib
import sys

COMMANDS = {
    "simulate": ("banditcurr.sims.cli", "study schedulers on a synthetic GRPO learner (no GPU)"),
    "train": ("banditcurr.llm.cli", "GRPO training of a language model with a curriculum"),
    "plot": ("banditcurr.llm.plot", "plot a training run's JSONL log"),
    "ledger": ("banditcurr.ledger", "per-distribution and per-prompt pass rates of a rollout ledger"),
    "calibrate": ("banditcurr.sims.calibrate_cli", "fit the simulated learner to a run's rollout ledger"),
    "predict": ("banditcurr.sims.predict", "predict each scheduler's speed-up for a run from its ledger"),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="banditcurr",
        description="Bandit curriculum schedulers for RL post-training of LLMs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)  # light: heavy imports live in run()
        command = sub.add_parser(name, help=help_text, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
