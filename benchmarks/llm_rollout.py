"""Rollout throughput: vLLM against transformers ``generate`` on the same prompts.

    python -m benchmarks.llm_rollout                          # a fresh tiny local model
    python -m benchmarks.llm_rollout --model out/tiny --prompts 64 --group-size 8

Both engines get the same prompt token ids (addition problems), the same group size,
temperature and token budget, through the rollout protocol the trainer uses. Each
engine runs one warm-up batch, then ``--repeats`` timed batches; the table gives the
median wall time per batch, completions per second and generated tokens per second
(tokens counted from the completions each engine returned, eos included). vLLM's
start-up is reported apart. Prints a Markdown table and one JSON line.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np


def measure(engine, prompts, group_size, max_new_tokens, repeats):
    sizes = [group_size] * len(prompts)
    engine.generate(prompts, sizes, list(range(len(prompts))), max_new_tokens=max_new_tokens, temperature=1.0,
                    top_p=1.0)  # warm-up: first-call allocations and caches
    walls, tokens = [], []
    for repeat in range(repeats):
        seeds = [1000 * (repeat + 1) + k for k in range(len(prompts))]
        start = time.perf_counter()
        groups = engine.generate(prompts, sizes, seeds, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0)
        walls.append(time.perf_counter() - start)
        tokens.append(sum(len(c) for g in groups for c in g))
    wall = float(np.median(walls))
    return {"wall_s": wall, "completions_per_s": len(prompts) * group_size / wall,
            "tokens_per_s": float(np.median(np.array(tokens) / np.array(walls))),
            "tokens_per_batch": float(np.mean(tokens))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llm_rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory or hub id (default: build a tiny one)")
    parser.add_argument("--prompts", type=int, default=64, help="prompts per batch")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="completion budget")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per engine")
    parser.add_argument("--device", default="cpu", help="device of the transformers engine (cpu or cuda)")
    parser.add_argument("--dtype", default="float32", help="dtype of both engines")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--engines", default="vllm,hf", help="comma-separated engines to time")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from banditcurr.llm.tasks import Addition
    from banditcurr.llm.tiny import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model or build_model(os.path.join(tempfile.mkdtemp(), "tiny"))
    tokenizer = AutoTokenizer.from_pretrained(model)
    problems = [p for level in (1, 2, 3, 4) for p in Addition(level).generate(args.prompts // 4 + 1, seed=level)]
    prompts = [tokenizer(p.prompt).input_ids for p in problems[:args.prompts]]
    rows = {}
    if "vllm" in args.engines:
        from banditcurr.llm.rollout_vllm import VLLMEngine

        start = time.perf_counter()
        engine = VLLMEngine(model, dtype=args.dtype, seed=0, kv_cache_gib=0.25)
        startup = time.perf_counter() - start
        rows["vllm"] = {**measure(engine, prompts, args.group_size, args.max_new_tokens, args.repeats),
                        "startup_s": startup, "platform": engine.platform}
        engine.close()
    if "hf" in args.engines:
        from banditcurr.llm.rollout_hf import HFEngine

        policy = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, args.dtype)).to(args.device).eval()
        rows["hf"] = {**measure(HFEngine(policy, tokenizer), prompts, args.group_size, args.max_new_tokens,
                                args.repeats), "startup_s": 0.0, "platform": args.device}
    print(f"{args.prompts} prompts x {args.group_size} completions, <= {args.max_new_tokens} new tokens, "
          f"model {model}, torch threads {torch.get_num_threads()}")
    print("| engine | platform | batch wall (s) | completions/s | tokens/s | start-up (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['platform']} | {row['wall_s']:.3f} | {row['completions_per_s']:.0f} | "
              f"{row['tokens_per_s']:.0f} | {row['startup_s']:.1f} |")
    if len(rows) == 2:
        print(f"vLLM / transformers tokens/s: {rows['vllm']['tokens_per_s'] / rows['hf']['tokens_per_s']:.1f}x")
    print(json.dumps({"config": vars(args), "results": rows}))


if __name__ == "__main__":
    main()
