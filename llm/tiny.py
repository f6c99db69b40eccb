"""A tiny language model made on this machine: nothing is downloaded.

* Tokenizer: one token per character (printable ASCII and newline) plus ``<pad>``,
  ``<eos>``, ``<unk>``, built with ``tokenizers`` and saved as a fast tokenizer that
  ``AutoTokenizer`` (and so vLLM) loads.
* Model: a small Llama (``LlamaForCausalLM``; defaults 4 layers, hidden 128, 2 heads
  of head dimension 64 -- the dimension vLLM's CPU attention supports; 16 failed),
  tied embeddings like the small Qwen2.5 models, about 0.8 M parameters.
* Warm start: a short supervised fine-tuning on ``(prompt, target)`` pairs of some
  task distributions (loss on the target and ``<eos>`` only), so a GRPO run starts
  with non-zero success on the easy levels; the greedy accuracy per distribution it
  reaches is saved in ``warm_start.json``.

Command line (the CPU demonstration's first step, minutes on a CPU):

    python -m banditcurr.llm.tiny --out out/tiny --warm-tasks addition:1-3 --warm-steps 1000 --threads 1
"""

import argparse
import json
import os
import string
import time

import numpy as np

SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
CHARACTERS = tuple(c for c in string.printable if c not in "\t\r\x0b\x0c")


def build_tokenizer():
    """The character-level tokenizer: a ``PreTrainedTokenizerFast``, pad id 0, eos id 1."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character
    core.decoder = decoders.Fuse()  # join characters back without spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def build_model(out_dir, *, hidden_size=128, num_layers=4, num_heads=2, intermediate_size=512,
                max_positions=256, seed=0):
    """Save a freshly initialised tiny Llama and its tokenizer to ``out_dir``; return the path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if hidden_size % num_heads or hidden_size // num_heads != 64:
        raise ValueError(f"hidden_size / num_heads must be 64 (the head dimension vLLM's CPU backend supports). "
                         f"Got {hidden_size} / {num_heads}.")
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True, rope_theta=10000.0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _pack(tokenizer, pairs):
    """Right-padded ids, attention mask and labels (-100 outside target + eos)."""
    import torch

    rows, labels = [], []
    for prompt, target in pairs:
        p = tokenizer(prompt, add_special_tokens=False).input_ids
        t = tokenizer(target, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        rows.append(p + t)
        labels.append([-100] * len(p) + t)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    lab = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, (r, l) in enumerate(zip(rows, labels)):
        ids[k, :len(r)], lab[k, :len(l)], mask[k, :len(r)] = torch.tensor(r), torch.tensor(l), 1
    return ids, mask, lab


def greedy_accuracy(model, tokenizer, distribution, problems, max_new_tokens):
    """Share of ``problems`` the model solves with greedy decoding (transformers)."""
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer([p.prompt for p in problems], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(out[:, batch.input_ids.shape[1]:], skip_special_tokens=True)
    return float(np.mean([distribution.reward(t, p) for t, p in zip(texts, problems)]))


def warm_start(model_dir, distributions, *, steps=400, batch_size=64, lr=1e-3, final_lr=0.0, seed=0,
               n_eval=100, max_new_tokens=16, carry_drop=0.0, progress=True):
    """Supervised fine-tuning of the model in ``model_dir`` on targets of ``distributions``
    (equal shares, fresh problems each step), saved in place. Returns the greedy
    accuracy per distribution on ``n_eval`` problems none of the steps used.

    The learning rate warms up over 20 steps, then falls linearly from ``lr`` to
    ``final_lr``. A decay to 0 leaves the model in a sharp spot: along the GRPO
    gradient the reward then collapses within a step of norm ~0.01 (docs/llm-study.md);
    ending at the learning rate GRPO will use keeps it trainable.

    ``carry_drop = q > 0`` (addition only) makes a noisy teacher: each carry of a target
    is dropped with probability q (see :func:`dropped_carry_target`), so the model learns
    to carry with probability about 1 - q. With q > 1/2 its greedy answer drops every
    carry while its samples are right with probability (1 - q)^carries: a latent skill
    that reward can bring out, shared by all levels and rarer in the longer ones."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    floor = final_lr / lr
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 20) * (floor + (1 - floor) * (1 - s / steps)))
    from .tasks import Addition

    if carry_drop and not all(isinstance(d, Addition) and d.reverse for d in distributions):
        raise ValueError(f"carry_drop applies to addition tasks only (reversed digits). Got "
                         f"{[d.name for d in distributions]}.")
    if not 0.0 <= carry_drop <= 1.0:
        raise ValueError(f"carry_drop must be a probability in [0, 1]. Got {carry_drop!r}.")
    per_dist = max(1, batch_size // len(distributions))
    bar = _progress(steps, "warm start", progress)
    model.train()
    for step in range(steps):
        pairs = []
        for index, dist in enumerate(distributions):
            step_seed = int(np.random.SeedSequence([seed, 1, index, step]).generate_state(1)[0])
            problems = dist.generate(per_dist, step_seed)
            if carry_drop:
                noise = np.random.default_rng([seed, 3, index, step])
                pairs += [(p.prompt, dropped_carry_target(p, carry_drop, noise)) for p in problems]
            else:
                pairs += [(p.prompt, dist.target(p)) for p in problems]
        ids, mask, labels = _pack(tokenizer, pairs)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    accuracy = {}
    for index, dist in enumerate(distributions):
        eval_seed = int(np.random.SeedSequence([seed, 2, index]).generate_state(1)[0])
        accuracy[dist.name] = greedy_accuracy(model, tokenizer, dist, dist.generate(n_eval, eval_seed), max_new_tokens)
    model.save_pretrained(model_dir)
    with open(os.path.join(model_dir, "warm_start.json"), "w") as handle:
        json.dump({"steps": steps, "batch_size": batch_size, "lr": lr, "final_lr": final_lr, "seed": seed,
                   "carry_drop": carry_drop,
                   "distributions": [d.name for d in distributions], "greedy_accuracy": accuracy}, handle, indent=1)
    return accuracy


def dropped_carry_target(problem, drop, rng):
    """A noisy teacher's answer to a reversed-digit addition ``problem`` ("321+654="):
    digit by digit, least significant first, each carry is forgotten with probability
    ``drop`` (``drop = 0``: the exact answer; ``drop = 1``: digit sums mod 10)."""
    a, b = problem.prompt.rstrip("=").split("+")
    digits, carry = [], 0
    for x, y in zip(a, b):
        total = int(x) + int(y) + carry
        digits.append(total % 10)
        carry = total // 10
        if carry and rng.random() < drop:
            carry = 0
    return "".join(map(str, digits)) + ("1" if carry else "")


def _progress(total, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m banditcurr.llm.tiny", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory to write the model and tokenizer to")
    parser.add_argument("--layers", type=int, default=4, help="number of transformer layers")
    parser.add_argument("--hidden", type=int, default=128, help="hidden size (heads = hidden / 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the warm-start data")
    parser.add_argument("--warm-tasks", nargs="*", default=["addition:1-3"],
                        help="task specs of the supervised warm start (none: skip it)")
    parser.add_argument("--warm-steps", type=int, default=1000, help="optimizer steps of the warm start")
    parser.add_argument("--warm-batch", type=int, default=64, help="sequences per warm-start step")
    parser.add_argument("--warm-lr", type=float, default=1e-3, help="AdamW learning rate of the warm start")
    parser.add_argument("--warm-final-lr", type=float, default=0.0,
                        help="learning rate the warm start decays to, linearly (default 0)")
    parser.add_argument("--warm-carry-drop", type=float, default=0.0,
                        help="addition only: a noisy teacher that drops each carry of a target with this "
                             "probability (a latent carry skill for GRPO to bring out; default 0: exact targets)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    from .tasks import parse_specs

    distributions = parse_specs(args.warm_tasks)
    start = time.perf_counter()
    build_model(args.out, hidden_size=args.hidden, num_layers=args.layers, num_heads=args.hidden // 64, seed=args.seed)
    if distributions and args.warm_steps > 0:
        accuracy = warm_start(args.out, distributions, steps=args.warm_steps, batch_size=args.warm_batch,
                              lr=args.warm_lr, final_lr=args.warm_final_lr, seed=args.seed,
                              carry_drop=args.warm_carry_drop)
        print("greedy accuracy after the warm start:", json.dumps(accuracy))
    print(f"tiny model saved to {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
