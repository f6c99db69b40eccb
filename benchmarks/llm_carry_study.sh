#!/usr/bin/env bash
# The addition-carry family of docs/llm-study.md, run once on a lent CUDA machine (one H200,
# 16 CPU cores; no vllm there, so rollouts come from the transformers engine on CUDA):
#   1. the noisy-teacher warm start (benchmarks/llm_study.py's FAMILIES["addition-carry"]),
#   2. every scheduler x 5 seeds through benchmarks/llm_study.py with docs/llm-study.toml's
#      GRPO settings plus engine = "hf", device = "cuda", 13 runs at a time,
#   3. the study's analysis; run logs, ledgers and results come back as one archive.
# Usage: OUT=dir bash benchmarks/llm_carry_study.sh     (on this 2-core machine: hours)
set -uo pipefail
OUT=${OUT:-out/carry}
PY=${PY:-python3}
JOBS=${JOBS:-13}
STUDY=${STUDY_DIR:-/tmp/carry-study}  # outside $OUT: only the results and one archive come back
mkdir -p "$STUDY"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
[ "${INSTALL:-1}" = 1 ] && $PY -m pip install --quiet --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -3
{ cat docs/llm-study.toml; printf 'engine = "%s"\ndevice = "%s"\n' "${ENGINE:-hf}" "${DEVICE:-cuda}"; } > "$OUT/study.toml"
[ -n "${STEPS:-}" ] && sed -i "s/^steps = .*/steps = $STEPS/" "$OUT/study.toml"
# compile the schedulers' kernels once, beside the warm start, not 13 times at once
$PY -c "
import numpy as np, banditcurr as bc
for name in ('uniform', 'dump-ucb', 'thompson', 'learnability', 'sec'):
    s = bc.make(name, 6, seed=0); a = s.sample(4); s.update(a, np.zeros((4, 8))); s.probs()
print('kernels compiled')" &
WARM=$($PY -c "import benchmarks.llm_study as s; print(' '.join(s.FAMILIES['addition-carry']['warm']))")
[ -f "$STUDY/model-addition-carry/warm_start.json" ] || \
  /usr/bin/time -f "warm start wall %e s" $PY -m banditcurr.llm.tiny --out "$STUDY/model-addition-carry" \
  --threads "${WARM_THREADS:-12}" $WARM 2>&1 | grep -v "it/s" | tail -3
wait
timeout "${STUDY_TIMEOUT:-400}" $PY benchmarks/llm_study.py --families addition-carry --jobs "$JOBS" \
  --seeds "${SEEDS:-5}" --config "$OUT/study.toml" --out "$STUDY" --results "$OUT/llm-study-carry.json" \
  --img "$OUT/llm-study-carry" 2>&1 | grep -v started | tail -20
tar czf "$OUT/runs.tgz" --exclude=checkpoints --exclude="*.safetensors" -C "$STUDY" .
ls -la "$OUT"
