#!/usr/bin/env bash
# Wall time of an edited notebook cell on this machine, warm (package warm: a server keeps the
# model, its compiled graphs and its answers between cells) against cold (the cell loads the
# checkpoint and builds the runner itself, as every cell did before), through a live GoNB
# kernel (bench/interactive.py). Targets (issue 25), on two cores: the d20 prompt change
# (top-5 + logit lens + its plot) ≤ 2.0 s, a title-only change ≤ 1.7 s, the floor — the
# README's first cell, then a cell that only prints — ≤ 1.5 s.
#
#   bash bench/interactive.sh [REPEATS]   # writes bench/results/interactive-YYYYMMDD.jsonl
#
# The d20 checkpoint is the original configuration with GPT-2's vocabulary after one training
# step at batch 1 (as bench/diagnose.sh makes it: the cost does not depend on the weights).
# The kernel runs in a clone of HEAD under /tmp (GoNB's internal link of a cell that uses
# OpenBLAS fails under some paths), with data/ linked from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
make -s build corpus >/dev/null
ROOT=$PWD
TMP=$(mktemp -d /tmp/nanoscope-interactive.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
git clone -q "$ROOT" "$TMP/repo"
[ -e "$TMP/repo/data" ] || ln -s "$ROOT/data" "$TMP/repo/data"
bin/nanoscope train --preset d20 --ids gpt2 --data data/rust --out "$TMP/d20" --steps 1 --batch 1 --log-every 1 >/dev/null 2>&1
mkdir -p bench/results
OUT=$ROOT/bench/results/interactive-$(date -u +%Y%m%d).jsonl
# A server of its own (started by the first warm cell, stopped with its kernel).
export NANOSCOPE_WARM_DIR=$TMP/warm
echo "interactive cells, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), commit $(git rev-parse --short HEAD)"
(cd "$TMP/repo" && COMMIT=$(git rev-parse --short HEAD) /usr/bin/python3 "$ROOT/bench/interactive.py" "$TMP/d20" "$OUT" "$REPEATS")
echo "-> $OUT"
