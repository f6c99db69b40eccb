"""The rollout-engine protocol, the engine factory and the weight-sync check.

An engine turns prompts into groups of sampled completions and takes the policy's
new weights; every id list is plain Python ints (no tokenizer inside an engine):

    generate(prompts, group_sizes, seeds, *, max_new_tokens, temperature, top_p)
        prompts: list of token-id lists; group_sizes[k] completions of prompts[k];
        seeds[k] makes prompt k's completions reproducible.
        -> one list per prompt of completion token-id lists (ending with eos when
           the model stopped, cut at max_new_tokens otherwise)
    sync(policy)                      push the torch policy's weights into the engine
    sequence_logprobs(sequences)      log p(token t | tokens < t) for t = 1..L-1 of
                                      each sequence: float64 arrays of length L - 1
    close()

Two engines: :class:`banditcurr.llm.rollout_vllm.VLLMEngine` (default) and
:class:`banditcurr.llm.rollout_hf.HFEngine` (transformers ``generate`` on the policy).
Group sizes are per prompt so that rollout allocation (different G per prompt) needs
no change here.
"""

from typing import Protocol

import numpy as np

from .rollout_hf import HFEngine, policy_logprobs


class RolloutEngine(Protocol):
    def generate(self, prompts, group_sizes, seeds, *, max_new_tokens, temperature, top_p): ...

    def sync(self, policy): ...

    def sequence_logprobs(self, sequences): ...

    def close(self): ...


def make_engine(config, policy, tokenizer, dtype):
    """The engine ``config.engine`` names, holding the policy's current weights."""
    if config.engine == "hf":
        return HFEngine(policy, tokenizer)
    from .rollout_vllm import VLLMEngine

    engine = VLLMEngine(
        config.model, dtype=dtype, seed=config.seed, max_model_len=config.vllm_max_model_len,
        gpu_memory_utilization=config.vllm_gpu_memory_utilization, kv_cache_gib=config.vllm_kv_cache_gib,
        enforce_eager=config.vllm_enforce_eager, **config.vllm_kwargs,
    )
    engine.sync(policy)
    return engine


def sync_error(engine, policy, sequences):
    """Largest |log p_engine - log p_policy| over the tokens of ``sequences``: how far
    the engine's weights are from the policy's (0 up to float rounding after a sync)."""
    engine_lp = engine.sequence_logprobs(sequences)
    torch_lp = policy_logprobs(policy, sequences)
    return float(max(np.max(np.abs(a - b)) for a, b in zip(engine_lp, torch_lp)))
