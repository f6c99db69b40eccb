#!/usr/bin/env bash
# The CPU demonstration of docs/llm-demo.md, from a clone with `make install-test` done.
# Two runs at a time (JOBS=1 for one); about 35 minutes on a busy 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-out/llm-demo}
JOBS=${JOBS:-2}
[ -f out/tiny/warm_start.json ] || $BIN/python -m banditcurr.llm.tiny --out out/tiny --threads 1
runs=()
for seed in 0 1 2; do
  runs+=("--scheduler uniform --seed $seed --out-dir $OUT/uniform-$seed")
  runs+=("--scheduler dump-ucb --seed $seed --out-dir $OUT/dump-ucb-$seed")
  runs+=("--scheduler thompson --arm-level prompt --seed $seed --out-dir $OUT/thompson-$seed")
done
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -I{} sh -c "$BIN/banditcurr train --config docs/llm-demo.toml --progress false {} > /dev/null"
$BIN/banditcurr plot $OUT/*/ --kind accuracy --out docs/img/llm-demo-accuracy.png --title "held-out greedy accuracy, 3 seeds"
$BIN/banditcurr plot $OUT/*-0/ --kind curriculum --out docs/img/llm-demo-curriculum.png --title "sampling probability per level, seed 0"
$BIN/banditcurr plot $OUT/*/ --kind time --out docs/img/llm-demo-time.png --title "step time split"
