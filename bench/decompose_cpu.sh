#!/usr/bin/env bash
# Where the time of a cpu-preset training step goes, GoMLX (go backend) beside PyTorch (CPU):
# forward only, forward+backward, the full step, and ablations (float linears instead of
# BitLinear, no mHC, AdamW instead of Muon for the Go step). Random tokens. ROUNDS interleaved
# rounds; compare medians/minimums, as other work on a shared machine adds noise.
#   bash bench/decompose_cpu.sh [ROUNDS] > bench/results/decompose-cpu-YYYYMMDD.jsonl
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${STEPS:-12}
PY=/usr/bin/python3
go build -o bin/gobench ./bench/gobench || exit 1
T=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/bench_torch.py --preset cpu --steps "$STEPS" --warmup 2)
G=(./bin/gobench --preset cpu --steps "$STEPS" --warmup 2)
runs=(
  "go step|${G[*]}"
  "torch step|${T[*]}"
  "go forward|${G[*]} --part forward"
  "torch forward|${T[*]} --part forward"
  "go backward|${G[*]} --part backward"
  "torch backward|${T[*]} --part backward"
  "go step no-ternary|${G[*]} --no-ternary"
  "torch step no-ternary|${T[*]} --no-ternary"
  "go forward no-ternary|${G[*]} --part forward --no-ternary"
  "torch forward no-ternary|${T[*]} --part forward --no-ternary"
  "go step no-mhc|${G[*]} --no-mhc"
  "torch step no-mhc|${T[*]} --no-mhc"
  "go step adamw|${G[*]} --optimizer adamw"
)
for r in $(seq 1 "$ROUNDS"); do
  for v in "${runs[@]}"; do
    name=${v%%|*}
    cmd=${v#*|}
    line=$(timeout 300 $cmd 2>/dev/null | tail -1)
    echo "{\"variant\":\"$name\",\"round\":$r,\"loadavg\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"result\":${line:-null}}"
  done
done
