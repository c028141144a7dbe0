#!/usr/bin/env bash
# Cheap-win sweep of the pure-Go backend at the cpu preset (RESULTS.md "Profile and cheap wins"):
# backend options, DotGeneral block size, GOMAXPROCS. Each variant runs ROUNDS times, interleaved
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
  "dotgeneral_large|GOMLX_BACKEND=go:parallelism=-1,dotgeneral_large|"
  "dotgeneral_small|GOMLX_BACKEND=go:parallelism=-1,dotgeneral_small|"
  "ops_sequential|GOMLX_BACKEND=go:parallelism=-1,ops_sequential|"
  "ops_parallel|GOMLX_BACKEND=go:parallelism=-1,ops_parallel|"
  "GOMAXPROCS=1|GOMLX_BACKEND=go:parallelism=-1 GOMAXPROCS=1|"
  "block_log2=3|GOMLX_BACKEND=go:parallelism=-1|--block-log2 3"
  "block_log2=4|GOMLX_BACKEND=go:parallelism=-1|--block-log2 4"
  "block_log2=6|GOMLX_BACKEND=go:parallelism=-1|--block-log2 6"
  "block_log2=4+dotgeneral_large|GOMLX_BACKEND=go:parallelism=-1,dotgeneral_large|--block-log2 4"
)
# Not in the list: go:parallelism=2 (and GoMLX's default parallelism) deadlock in the first
# training step with GoMLX v0.26.0 (no output after 60 s), see REFERENCE.md §4.
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name envs args <<<"$v"
    line=$(env $envs timeout 120 ./bin/gobench --preset cpu --steps "$STEPS" --warmup 2 ${DATA:+--data "$DATA"} $args 2>/dev/null)
    echo "{\"variant\":\"$name\",\"round\":$r,\"result\":${line:-null}}"
  done
done
