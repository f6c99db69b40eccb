#!/usr/bin/env bash
# The one GPU check, run on a lent CUDA machine (never by the tests), ~5 minutes:
#   1. install banditcurr there without its dependencies (that machine has no package index;
#      it ships torch, transformers, numba, numpy, scipy; vllm only if someone installed it);
#   2. a 20-step GRPO run of a tiny warm-started model on CUDA (vllm if importable, else the
#      transformers engine), with the per-step times from its log;
#   3. rollout throughput on CUDA: transformers generate, and vLLM when importable;
#   4. the simulator's demo study on that machine's CPU cores.
# Usage: OUT=some/dir bash benchmarks/gpu_check.sh     (figures go to $OUT/*.txt, *.json)
set -uo pipefail
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -m pip install --quiet --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -3
$PY -c "import torch, transformers, numba; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
'transformers', transformers.__version__, 'numba', numba.__version__)" | tee "$OUT/versions.txt"
if $PY -c "import vllm" 2>/dev/null; then ENGINE=vllm; else ENGINE=hf; fi
echo "rollout engine: $ENGINE (vllm importable: $([ $ENGINE = vllm ] && echo yes || echo no))" | tee -a "$OUT/versions.txt"

echo "== 1. tiny model + 300-step warm start (CPU threads of that machine)"
/usr/bin/time -f "warm start wall %e s" $PY -m banditcurr.llm.tiny --out "$OUT/tiny" --warm-tasks addition:1-3 \
  --warm-steps 300 --threads 8 2>&1 | grep -v "it/s" | tail -3

echo "== 2. 20-step GRPO on CUDA ($ENGINE)"
sed -e "s#MODEL#$OUT/tiny#" -e "s#ENGINE#$ENGINE#" -e "s#OUTDIR#$OUT/grpo#" benchmarks/gpu_check.toml > "$OUT/grpo.toml"
/usr/bin/time -f "grpo wall %e s" $PY -m banditcurr.cli train --config "$OUT/grpo.toml" --progress false 2>&1 | tail -5
$PY - "$OUT/grpo/log.jsonl" <<'PY' | tee "$OUT/grpo_summary.txt"
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if "perf/time_step" in r]
print(f"steps logged: {len(steps)}; median step {st.median(r['perf/time_step'] for r in steps):.3f} s, "
      f"generate {st.median(r['perf/time_generate'] for r in steps):.3f} s, train {st.median(r['perf/time_train'] for r in steps):.3f} s, "
      f"scheduler {st.median(r['perf/time_scheduler'] for r in steps) * 1e3:.3f} ms")
for r in rows:
    if "eval/accuracy" in r:
        print(f"step {r['step']}: held-out accuracy {r['eval/accuracy']:.3f}")
PY

echo "== 3. rollout throughput on CUDA (tiny model, then a 12-layer 768-wide random Llama)"
$PY -m benchmarks.llm_rollout --model "$OUT/tiny" --device cuda --engines "$ENGINE" --prompts 256 --group-size 8 \
  --max-new-tokens 16 2>&1 | grep -E "^\||x$|prompts" | tee "$OUT/rollout_tiny.txt"
$PY - "$OUT/mid" <<'PY'
import sys
from banditcurr.llm.tiny import build_model
build_model(sys.argv[1], hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072, max_positions=512)
PY
$PY -m benchmarks.llm_rollout --model "$OUT/mid" --device cuda --dtype bfloat16 --engines "$ENGINE" --prompts 256 \
  --group-size 8 --max-new-tokens 64 2>&1 | grep -E "^\||x$|prompts" | tee "$OUT/rollout_mid.txt"

echo "== 4. simulator demo study on this machine's CPUs"
/usr/bin/time -f "simulate wall %e s (cold compile included)" $PY -m banditcurr.cli simulate --scenario kk12 \
  --schedulers uniform,dump-ucb,thompson,learnability --seeds 100 --steps 200 --out "$OUT/sim" --no-progress 2>&1 | tail -8
