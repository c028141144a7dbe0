#!/usr/bin/env bash
# Cheap-win sweep of the pure-Go backend at the cpu preset (RESULTS.md "Profile and cheap wins"):
# backend options and GOMAXPROCS (the DotGeneral block-size knob and the dotgeneral_* options
# went with GoMLX v0.26.0's simplego; the v0.28.2 Go backend has neither). Each variant runs ROUNDS times, interleaved
# with the others, so that drifting load on a shared machine hits all of them alike.
#   bash bench/sweep_go.sh [ROUNDS] > bench/results/sweep-cpu.jsonl
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${STEPS:-8}
DATA=${DATA:-data/rust2k/train.compact.bin}
[ -f "$DATA" ] || DATA=""
go build -o bin/gobench ./bench/gobench || exit 1
variants=(
  "default|GOMLX_BACKEND=go:parallelism=-1|"
  "ops_sequential|GOMLX_BACKEND=go:parallelism=-1,ops_sequential|"
  "ops_parallel|GOMLX_BACKEND=go:parallelism=-1,ops_parallel|"
  "GOMAXPROCS=1|GOMLX_BACKEND=go:parallelism=-1 GOMAXPROCS=1|"
)
# Not in the list: go:parallelism=2 (and GoMLX's default parallelism), which deadlocked the
# first training step with GoMLX v0.26.0 (REFERENCE.md §4).
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name envs args <<<"$v"
    line=$(env $envs timeout 120 ./bin/gobench --preset cpu --steps "$STEPS" --warmup 2 ${DATA:+--data "$DATA"} $args 2>/dev/null)
    echo "{\"variant\":\"$name\",\"round\":$r,\"result\":${line:-null}}"
  done
done
