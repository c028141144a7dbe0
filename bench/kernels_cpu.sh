#!/usr/bin/env bash
# The CPU kernels of the go backend, nanoscope's against the backend's own (issues 10 and 21):
# the cpu-preset training step and forward pass, and single products of the model's shapes, with
#   gobackend           the Go backend's own kernels (github.com/gomlx/compute v0.1.2;
#                       NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego)
#   gobackend-simd      the same, built with GOEXPERIMENT=simd (its AVX2/AVX-512 matmul)
#   blas                OpenBLAS cblas_sgemm, 1 thread; the backend's reductions/broadcasts
#   blas+fastops        the default: OpenBLAS 1 thread and gomlxmodel/fastops
#   blas-2t+fastops     OPENBLAS_NUM_THREADS=2
#   blas-split+fastops  1 OpenBLAS thread, products ≥ 4 MFLOP split over 2 goroutines
#                       (NANOSCOPE_BLAS_SPLIT=2)
# VARIANTS="name …" runs a subset. Each variant runs ROUNDS times, interleaved, so that load from
# other work on a shared machine hits all alike. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset,
# as for PyTorch in run_cpu.sh.
#   bash bench/kernels_cpu.sh [ROUNDS] > bench/results/kernels-cpu-YYYYMMDD.jsonl
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
STEPS=${STEPS:-10}
DATA=${DATA:-data/rust2k/train.compact.bin}
[ -f "$DATA" ] || DATA=data/rust/train.compact.bin
[ -f "$DATA" ] || DATA=""
go build -o bin/gobench ./bench/gobench || exit 1
GOEXPERIMENT=simd go build -o bin/gobench-simd ./bench/gobench || exit 1
all=(
  "gobackend|gobench|NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego"
  "gobackend-simd|gobench-simd|NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego"
  "blas|gobench|NANOSCOPE_FASTOPS=simplego"
  "blas+fastops|gobench|X=1"
  "blas-2t+fastops|gobench|OPENBLAS_NUM_THREADS=2"
  "blas-split+fastops|gobench|NANOSCOPE_BLAS_SPLIT=2"
)
variants=()
for v in "${all[@]}"; do
  if [ -z "${VARIANTS:-}" ] || [[ " $VARIANTS " == *" ${v%%|*} "* ]]; then variants+=("$v"); fi
done
run() { # name binary round part envs args...
  local name=$1 bin=$2 r=$3 part=$4 envs=$5
  shift 5
  local line
  line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $envs timeout 300 "./bin/$bin" "$@" 2>/dev/null | tail -1)
  echo "{\"variant\":\"$name\",\"round\":$r,\"part\":\"$part\",\"loadavg\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"result\":${line:-null}}"
}
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name bin envs <<<"$v"
    run "$name" "$bin" "$r" step "$envs" --preset cpu --steps "$STEPS" --warmup 3 ${DATA:+--data "$DATA"}
    run "$name" "$bin" "$r" forward "$envs" --preset cpu --part forward --steps "$STEPS" --warmup 2
  done
done
# Single products (x·wᵀ, 2 cores available), the shapes of bench/RESULTS.md's matmul table.
for v in "${variants[@]}"; do
  IFS='|' read -r name bin envs <<<"$v"
  for mkn in "1024 64 2048" "1024 2048 64" "1024 64 128" "1024 128 64" "1024 256 50257"; do
    read -r m k n <<<"$mkn"
    run "$name" "$bin" 1 "matmul ${m}x${k}x${n}" "$envs" --part matmul --m "$m" --k "$k" --n "$n" --steps 7 --warmup 1
  done
done
