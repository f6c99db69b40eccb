#!/usr/bin/env bash
# The CPU demonstration of docs/llm-demo.md, from a clone with `make install-test` done.
#   docs/llm-demo.sh                   # warm start of 500 steps (the main result)
#   WARM_STEPS=1000 docs/llm-demo.sh   # a warm start that already solves 2 digits
# Two runs at a time (JOBS=1 for one); 15-35 minutes on a shared 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
WARM_STEPS=${WARM_STEPS:-500}
JOBS=${JOBS:-2}
MODEL=out/tiny-w$WARM_STEPS
OUT=out/llm-demo-w$WARM_STEPS
[ -f $MODEL/warm_start.json ] || $BIN/python -m banditcurr.llm.tiny --out $MODEL --warm-steps $WARM_STEPS --threads 1
runs=()
for seed in 0 1 2; do
  runs+=("--scheduler uniform --seed $seed --out-dir $OUT/uniform-$seed")
  runs+=("--scheduler dump-ucb --seed $seed --out-dir $OUT/dump-ucb-$seed")
  runs+=("--scheduler thompson --arm-level prompt --seed $seed --out-dir $OUT/thompson-$seed")
done
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -I{} sh -c \
  "$BIN/banditcurr train --config docs/llm-demo.toml --model $MODEL --progress false --overwrite {} > /dev/null"
IMG=docs/img/llm-demo-w$WARM_STEPS
$BIN/banditcurr plot $OUT/*/ --kind accuracy --out $IMG-accuracy.png --title "held-out greedy accuracy, 3 seeds (warm start $WARM_STEPS steps)"
$BIN/banditcurr plot $OUT/*-0/ --kind curriculum --out $IMG-curriculum.png --title "sampling probability per level, seed 0"
$BIN/banditcurr plot $OUT/*/ --kind batch --out $IMG-batch.png --title "share of the batch per level, 3 seeds"
$BIN/banditcurr plot $OUT/*/ --kind time --out $IMG-time.png --title "step time split (s)"
