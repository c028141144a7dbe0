#!/usr/bin/env bash
# The CPU kernels of the go backend, before and after, and OpenBLAS's threading (issue 10):
# the cpu-preset training step and forward pass, and single products of the model's shapes,
# with
#   simplego          GoMLX's own kernels (NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego)
#   blas-1t           OpenBLAS cblas_sgemm, 1 thread; simplego's reductions/broadcasts
#   blas-1t+fastops   the default: OpenBLAS 1 thread and gomlxmodel/fastops
#   blas-2t+fastops   OPENBLAS_NUM_THREADS=2
#   blas-split+fastops  1 OpenBLAS thread, products ≥ 4 MFLOP split over 2 goroutines
#                     (NANOSCOPE_BLAS_SPLIT=2)
# Each variant runs ROUNDS times, interleaved, so that load from other work on a shared machine
# hits all alike. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset, as for PyTorch in run_cpu.sh.
#   bash bench/kernels_cpu.sh [ROUNDS] > bench/results/kernels-cpu-YYYYMMDD.jsonl
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
STEPS=${STEPS:-10}
DATA=${DATA:-data/rust2k/train.compact.bin}
[ -f "$DATA" ] || DATA=data/rust/train.compact.bin
[ -f "$DATA" ] || DATA=""
go build -o bin/gobench ./bench/gobench || exit 1
variants=(
  "simplego|NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego"
  "blas-1t|NANOSCOPE_FASTOPS=simplego"
  "blas-1t+fastops|X=1"
  "blas-2t+fastops|OPENBLAS_NUM_THREADS=2"
  "blas-split+fastops|NANOSCOPE_BLAS_SPLIT=2"
)
run() { # name round part envs args...
  local name=$1 r=$2 part=$3 envs=$4
  shift 4
  local line
  line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $envs timeout 300 ./bin/gobench "$@" 2>/dev/null | tail -1)
  echo "{\"variant\":\"$name\",\"round\":$r,\"part\":\"$part\",\"loadavg\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"result\":${line:-null}}"
}
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name envs <<<"$v"
    run "$name" "$r" step "$envs" --preset cpu --steps "$STEPS" --warmup 3 ${DATA:+--data "$DATA"}
    run "$name" "$r" forward "$envs" --preset cpu --part forward --steps "$STEPS" --warmup 2
  done
done
# Single products (x·wᵀ, 2 cores available), the shapes of bench/RESULTS.md's matmul table.
for v in "${variants[@]}"; do
  IFS='|' read -r name envs <<<"$v"
  for mkn in "1024 64 2048" "1024 2048 64" "1024 64 128" "1024 128 64" "1024 256 50257"; do
    read -r m k n <<<"$mkn"
    run "$name" 1 "matmul ${m}x${k}x${n}" "$envs" --part matmul --m "$m" --k "$k" --n "$n" --steps 7 --warmup 1
  done
done
