"""How far can a GRPO step move a warm-started model before it hurts? (docs/llm-study.md)

    python benchmarks/llm_sharpness.py out/llm-study/model-multiplication --task multiplication:2

Samples one GRPO batch from the model (transformers engine, temperature 1: G completions
for each of P prompts of ``--task``), takes the gradient of the GRPO loss exactly as the
training loop does (``banditcurr.llm.grpo._update_policy`` with a zero learning rate),
then moves the parameters by a fixed Euclidean distance along -gradient (the descent a
step takes), +gradient, and a random direction, and prints the *exact* expected reward
of the prompts after each move: the mean over prompts of p(answer + eos | prompt), from
the model's own log-probabilities (no sampling noise). A first-order gain that turns into
a collapse within a move of ~0.01 means the gradient lies along very sharp directions,
so only a tiny learning rate is stable.
"""

import argparse
import copy

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model directory (transformers format, e.g. from banditcurr.llm.tiny)")
    parser.add_argument("--task", default="multiplication:2", help="one task spec level (default multiplication:2)")
    parser.add_argument("--prompts", type=int, default=32, help="prompts P (default 32)")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt G (default 8)")
    parser.add_argument("--moves", type=float, nargs="+", default=[0.001, 0.01, 0.05], help="move sizes (norm)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problems, samples and random direction")
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from banditcurr.llm.config import TrainConfig
    from banditcurr.llm.grpo import _pad, _token_logprobs, _update_policy, group_advantages
    from banditcurr.llm.rollout_hf import HFEngine
    from banditcurr.llm.tasks import parse_spec

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    policy = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    dist = parse_spec(args.task)[0]
    problems = dist.generate(args.prompts, args.seed)
    prompts = [tokenizer(p.prompt).input_ids for p in problems]
    prompt_lens = np.array([len(p) for p in prompts])
    targets = [q + tokenizer(p.answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
               for q, p in zip(prompts, problems)]

    def expected_reward(model):
        ids, mask, cmask = _pad(targets, prompt_lens, tuple(range(len(targets))), tokenizer.pad_token_id, cpu)
        with torch.no_grad():
            return float(torch.exp((_token_logprobs(model, ids, mask) * cmask).sum(1)).mean())

    groups = HFEngine(policy, tokenizer).generate(prompts, [args.group] * len(prompts), [args.seed],
                                                  max_new_tokens=16, temperature=1.0, top_p=1.0)
    rewards = np.array([dist.reward(tokenizer.decode(c, skip_special_tokens=True), p)
                        for p, group in zip(problems, groups) for c in group])
    advantages = group_advantages(rewards, np.arange(0, rewards.size + 1, args.group))
    sequences = [q + c for q, group in zip(prompts, groups) for c in group]
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.0)  # the gradient only
    config = TrainConfig(model=args.model, micro_batch=args.group)
    _update_policy(policy, None, optimizer, sequences, np.repeat(prompt_lens, args.group), advantages, config, cpu,
                   torch.autocast("cpu", enabled=False))
    grads = {n: p.grad.detach().clone() for n, p in policy.named_parameters() if p.grad is not None}
    generator = torch.Generator().manual_seed(args.seed)
    noise = {n: torch.randn(g.shape, generator=generator) for n, g in grads.items()}
    directions = {"-gradient (a GRPO step)": {n: -g for n, g in grads.items()}, "+gradient": grads, "random": noise}
    print(f"sampled reward {rewards.mean():.3f}; exact expected reward {expected_reward(policy):.4f}; "
          f"gradient norm (after clipping) {float(torch.sqrt(sum(g.norm() ** 2 for g in grads.values()))):.3f}")
    print("| move | " + " | ".join(directions) + " |")
    print("| --- |" + " --- |" * len(directions))
    for size in args.moves:
        cells = []
        for direction in directions.values():
            norm = float(torch.sqrt(sum(d.norm() ** 2 for d in direction.values())))
            moved = copy.deepcopy(policy)
            with torch.no_grad():
                for name, param in moved.named_parameters():
                    if name in direction:
                        param += size * direction[name] / norm
            cells.append(f"{expected_reward(moved):.4f}")
        print(f"| {size:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
