#!/usr/bin/env bash
# XLA compile time before the first training step on one GPU (issue 13's target: ≤ 12 s) and the
# step time that goes with it, one fresh process per variant: bench/gobench's d20 step (batch
# 32 × 256, fp32, random tokens, WARMUP untimed + STEPS timed steps) with nanoscope's XLA_FLAGS
# defaults (gomlxmodel.XLAGPUDefaults) and with XLA's own (NANOSCOPE_XLA_DEFAULTS=off), without
# autotuning, with XLA's persistent autotune and kernel caches cold then warm, and with the step
# graph before batching Muon's Newton–Schulz by shape (BIN_OLD: gobench built from commit
# 813d24b, which also predates the defaults). Each run's JSON line (first_step_s, graph_build_s,
# ms_per_step, tokens_per_s, loss_last) gets the variant's name, flags and environment added, in
# $OUT/compile.jsonl.
#
# Here (the 2-core machine):
#   CGO_ENABLED=1 go build -tags xla -o bin/gobench-xla ./bench/gobench && gzip -1 -k -f bin/gobench-xla
#   (and the same from commit 813d24b as bin/gobench-xla-old)
# On the device machine (run tool, carry ["bin/gobench-xla.gz", "bin/gobench-xla-old.gz"]):
#   GPU=0 bash bench/run_compile_gpu.sh
# Knobs: GPU (0), STEPS (30), WARMUP (2), BUDGET (seconds, 300), RUNS (subset of the names).
# Results of 2026-11-30: bench/results/compile-h200-20261130*.jsonl and bench/RESULTS.md.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
PY=/opt/torch/.venv/bin/python3
[ -x $PY ] || PY=python3
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-2}
BUDGET=${BUDGET:-300}
export CUDA_VISIBLE_DEVICES=${GPU:-0}
for b in bin/gobench-xla bin/gobench-xla-old; do
  [ -x $b ] || [ ! -f $b.gz ] || { gunzip -c $b.gz >$b && chmod +x $b; }
done
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so 2>/dev/null | head -1)
export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 NCCL_NVLS_ENABLE=0
C=/tmp/xlacache
rm -rf $C
RES=$OUT/compile.jsonl

# one NAME BIN XLA_FLAGS [VAR=VALUE...]: one process (with those environment variables), its
# JSON line annotated.
one() {
  local name=$1 bin=$2 flags=$3
  shift 3
  [ -z "${RUNS:-}" ] || [[ " $RUNS " == *" $name "* ]] || return 0
  if [ $SECONDS -gt $((BUDGET - 40)) ]; then echo "{\"variant\":\"$name\",\"skipped\":\"budget\"}" >>$RES; return 0; fi
  local t0=$SECONDS line
  line=$(env XLA_FLAGS="$flags" "$@" timeout 120 $bin --preset d20 --steps $STEPS --warmup $WARMUP 2>$OUT/$name.err | tail -1)
  local rc=$?
  $PY -c 'import json,sys; r=json.loads(sys.argv[1]) if sys.argv[1].startswith("{") else {"error": "rc %s" % sys.argv[4]}; r.update(variant=sys.argv[2], xla_flags=sys.argv[3], env=sys.argv[6], wall_s=int(sys.argv[5])); print(json.dumps(r))' \
    "$line" "$name" "$flags" "$rc" $((SECONDS - t0)) "$*" >>$RES
  echo "[$SECONDS s] $name: $(tail -1 $RES | cut -c1-200)"
}

nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader | head -1 >$OUT/gpu.txt
# Since 2026-11-30 nanoscope adds its XLA_FLAGS defaults (gomlxmodel.XLAGPUDefaults: no command
# buffers, no Triton GEMM) unless NANOSCOPE_XLA_DEFAULTS=off; the first call of that day measured
# them one at a time with XLA's own defaults as the base (bench/results/compile-h200-20261130.jsonl).
one nanoscope-defaults bin/gobench-xla ""
one xla-defaults bin/gobench-xla "" NANOSCOPE_XLA_DEFAULTS=off
one ns-per-matrix-xla-defaults bin/gobench-xla-old ""
one no-autotune bin/gobench-xla "--xla_gpu_autotune_level=0"
K="--xla_gpu_per_fusion_autotune_cache_dir=$C/b --xla_gpu_kernel_cache_file=$C/b.kernels"
one caches-cold bin/gobench-xla "$K"
one caches-warm bin/gobench-xla "$K"
one nanoscope-defaults-again bin/gobench-xla ""
