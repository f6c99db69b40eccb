"""transformers ``generate`` rollout engine, for machines without vLLM.

It samples from the policy module itself, so ``sync`` has nothing to copy. Prompts are
left-padded into one batch (each repeated for its group); a group's randomness comes
from the torch generator seeded with the first seed of the call (transformers takes
no per-request seed), inside ``torch.random.fork_rng`` so the caller's stream is left
alone. Same calls in the same order give the same completions.
"""

import numpy as np


class HFEngine:
    """Rollouts with ``policy.generate`` (see banditcurr.llm.rollout for the protocol)."""

    platform = "transformers"

    def __init__(self, policy, tokenizer):
        self.policy, self.pad_id, self.eos_id = policy, tokenizer.pad_token_id, tokenizer.eos_token_id
        if self.pad_id is None:
            self.pad_id = self.eos_id

    def generate(self, prompts, group_sizes, seeds, *, max_new_tokens, temperature, top_p):
        import torch

        rows = [list(p) for p, n in zip(prompts, group_sizes) for _ in range(int(n))]
        width = max(len(r) for r in rows)
        device = next(self.policy.parameters()).device
        ids = torch.full((len(rows), width), self.pad_id, device=device)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for k, row in enumerate(rows):
            ids[k, width - len(row):] = torch.tensor(row, device=device)
            mask[k, width - len(row):] = 1
        # top_k = vocabulary size: no top-k cut (transformers' default is 50; vLLM has none)
        sampling = (dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=self.policy.config.vocab_size)
                    if temperature > 0 else dict(do_sample=False))
        was_training = self.policy.training
        self.policy.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(int(seeds[0]))
            out = self.policy.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                       pad_token_id=self.pad_id, eos_token_id=self.eos_id, **sampling)
        self.policy.train(was_training)
        completions = []
        for row in out[:, width:].tolist():
            end = row.index(self.eos_id) + 1 if self.eos_id in row else len(row)
            completions.append(row[:end])
        bounds = np.concatenate([[0], np.cumsum(group_sizes)]).astype(int)
        return [completions[bounds[k]:bounds[k + 1]] for k in range(len(prompts))]

    def sequence_logprobs(self, sequences):
        return policy_logprobs(self.policy, sequences)

    def sync(self, policy):
        if policy is not self.policy:
            raise ValueError("HFEngine samples from the policy it was made with; sync() got a different module.")

    def close(self):
        self.policy = None


def policy_logprobs(policy, sequences):
    """The torch policy's log p of each next token of each sequence (float64 arrays)."""
    import torch

    device = next(policy.parameters()).device
    out = []
    with torch.no_grad():
        for seq in sequences:
            logits = policy(torch.tensor([seq], device=device)).logits[0, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(seq[1:], device=device)[:, None])
            out.append(logp[:, 0].double().cpu().numpy())
    return out
