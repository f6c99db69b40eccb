"""Run by tests/test_integration_trl.py under ``torchrun --nproc_per_node 2``: three GRPO
steps of one TRL route on CPU (gloo); each process writes its curriculum's view."""

import json
import os
import sys

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from banditcurr.integrations.trl import CurriculumFeed, CurriculumGRPOTrainer

TASKS = ("solved", "unsolved", "learnable")


def by_task(prompts, completions, task, **kwargs):
    return [1.0 if t == "solved" else 0.0 if t == "unsolved" else float(j % 2) for j, t in enumerate(task)]


def main(route, model, out):
    dataset = Dataset.from_list([{"prompt": f"question {j} about {t}", "task": t} for j in range(12) for t in TASKS])
    args = GRPOConfig(output_dir=out, per_device_train_batch_size=8, num_generations=4, max_completion_length=4,
                      max_steps=3, logging_steps=1, report_to=[], use_cpu=True, bf16=False, seed=0,
                      learning_rate=1e-3, beta=0.0, shuffle_dataset=False, save_strategy="no")
    if route == "feed":
        owner = CurriculumFeed(dataset, arm_key="task", scheduler="dump-ucb", seed=0)
        trainer = GRPOTrainer(model=model, reward_funcs=[owner.reward(by_task)], args=args,
                              train_dataset=owner.dataset, callbacks=[owner.callback()])
    else:
        trainer = owner = CurriculumGRPOTrainer(model=model, reward_funcs=by_task, args=args, train_dataset=dataset,
                                                arm_key="task", scheduler="dump-ucb")
    trainer.train()
    lags = [entry["curriculum/lag"] for entry in trainer.state.log_history if "curriculum/lag" in entry]
    with open(os.path.join(out, f"rank{trainer.accelerator.process_index}.json"), "w") as handle:
        json.dump({"world": trainer.accelerator.num_processes, "probs": owner.curriculum.probs().tolist(),
                   "groups": owner.curriculum.n_feedback_groups, "lags": lags,
                   "rng": owner.curriculum.state_dict()["picker_rng"].tolist()}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
