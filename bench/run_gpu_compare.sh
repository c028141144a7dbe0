#!/usr/bin/env bash
# Mixed precision and data parallelism on the GPU machine, one run per call: nanoscope's own
# trainer (train --precision fp32|tf32|bf16, --devices 1|2) through GoMLX's XLA backend, against
# bench_torch.py with torch.compile in fp32, TF32 and bf16 autocast (+TF32), d20 at batch 32 on
# the same tokens, plus the 1-vs-2-device loss agreement and a SIGTERM/--resume on 2 devices.
#
# Here (the 2-core machine):
#   CGO_ENABLED=1 go build -tags xla -o bin/nanoscope-xla ./cmd/nanoscope
#   mkdir -p bin/gpudata && head -c 33554432 data/rust/train.bin | gzip -1 > bin/gpudata/train.bin.gz &&
#     head -c 2097152 data/rust/val.bin > bin/gpudata/val.bin && cp data/rust/stats.json bin/gpudata/
# On the device machine (run tool, kind nvidia-h200-x2, carry ["bin/nanoscope-xla", "bin/gpudata"]):
#   MODE=go bash bench/run_gpu_compare.sh     # GoMLX runs (about 5 minutes)
#   MODE=torch bash bench/run_gpu_compare.sh  # PyTorch runs (torch.compile: 1-2 minutes each)
# Each run's metrics.jsonl/meta.json (Go) or JSON line (PyTorch) lands in /tmp/cmp/<run>/, all
# of them in $OUT/runs.tgz, the summary in $OUT/compare.jsonl and $OUT/compare.md
# (bench/gpu_compare.py). Results of 2026-11-29: bench/results/gpu-compare-20261129.jsonl and
# bench/RESULTS.md's section on issue 13.
# Knobs: STEPS (100), RUNS (a space-separated subset of the run names below), BUDGET (560 s).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu-compare}
R=/tmp/cmp # the runs; $OUT gets the summary and runs.tgz (the run tool returns few files)
MODE=${MODE:-go}
STEPS=${STEPS:-100}
BUDGET=${BUDGET:-560}
PY=${PY:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so 2>/dev/null | head -1)
export GOMLX_BACKEND=${GOMLX_BACKEND:-xla:$PLUGIN} GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export NCCL_NVLS_ENABLE=0 # NVLink multicast stays off on the lent machines
BIN=${BIN:-bin/nanoscope-xla}
D=/tmp/gpudata
mkdir -p "$OUT" "$D" "$R"
[ -f $D/train.bin ] || { gunzip -c bin/gpudata/train.bin.gz >$D/train.bin && cp bin/gpudata/val.bin bin/gpudata/stats.json $D/; }
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader >"$R/gpus.txt" 2>&1

left() { echo $((BUDGET - SECONDS)); }
want() { [ -z "${RUNS:-}" ] || [[ " $RUNS " == *" $1 "* ]]; }

# gorun NAME VISIBLE_GPUS ARGS...: one training run of the d20 preset from scratch.
gorun() {
  local name=$1 vis=$2
  shift 2
  want "$name" || return 0
  if [ "$(left)" -lt 45 ]; then echo "skip $name (budget)" | tee -a "$R/skipped.txt"; return 0; fi
  local dir=/tmp/runs/$name
  rm -rf "$dir"
  mkdir -p "$R/$name"
  local t0=$SECONDS
  env ${XF:+XLA_FLAGS=$XF} CUDA_VISIBLE_DEVICES=$vis timeout -s TERM $(($(left) - 10)) "$BIN" train --preset d20 --data $D --out "$dir" --steps "$STEPS" \
    --log-every 25 --eval-every 1000000 --save-every 1000000 --eval-windows 64 "$@" \
    >"$R/$name/stdout.txt" 2>"$R/$name/stderr.txt"
  echo "$name rc=$? wall=$((SECONDS - t0))s" | tee -a "$R/runs.txt"
  cp "$dir/metrics.jsonl" "$dir/meta.json" "$R/$name/" 2>/dev/null
}

if [ "$MODE" = go ] || [ "$MODE" = all ]; then
  gorun go-fp32-2gpu 0,1 --devices 2
  gorun go-fp32-1gpu 0
  gorun go-bf16-1gpu 0 --precision bf16
  gorun go-bf16-2gpu 0,1 --precision bf16 --devices 2
  gorun go-tf32-1gpu 0 --precision tf32
  # SIGTERM during a 2-device run, then --resume on 2 devices: the steps after the checkpoint
  # must repeat go-fp32-2gpu's losses.
  if want go-resume-2gpu && [ "$(left)" -gt 90 ]; then
    dir=/tmp/runs/go-resume-2gpu
    rm -rf $dir
    mkdir -p "$R/go-resume-2gpu"
    CUDA_VISIBLE_DEVICES=0,1 timeout -s TERM 120 "$BIN" train --preset d20 --data $D --out $dir --steps "$STEPS" --devices 2 \
      --log-every 25 --eval-every 1000000 --save-every 1000000 >"$R/go-resume-2gpu/stdout1.txt" 2>"$R/go-resume-2gpu/stderr1.txt" &
    pid=$!
    # SIGTERM once step 40 is logged: the run saves step 40 or 41 and exits 130.
    until grep -q '"step":40,' $dir/metrics.jsonl 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.1; done
    kill -TERM $pid 2>/dev/null
    wait $pid
    echo "go-resume-2gpu first rc=$?" | tee -a "$R/runs.txt"
    CUDA_VISIBLE_DEVICES=0,1 timeout -s TERM $(($(left) - 10)) "$BIN" train --data $D --out $dir --resume --devices 2 \
      >"$R/go-resume-2gpu/stdout2.txt" 2>"$R/go-resume-2gpu/stderr2.txt"
    echo "go-resume-2gpu resumed rc=$?" | tee -a "$R/runs.txt"
    cp $dir/metrics.jsonl $dir/meta.json "$R/go-resume-2gpu/" 2>/dev/null
  fi
  # Loss agreement without GPU nondeterminism: XLA's deterministic ops, 1 and 2 devices.
  XF="--xla_gpu_deterministic_ops=true"
  gorun go-fp32-1gpu-det 0 --steps 30
  gorun go-fp32-2gpu-det 0,1 --devices 2 --steps 30
  gorun go-bf16-1gpu-det 0 --precision bf16 --steps 30
  XF=""
  # XLA's persistent per-fusion autotune cache: the second run reads what the first wrote.
  XF="--xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-autotune"
  gorun go-fp32-1gpu-cache1 0 --steps 20
  gorun go-fp32-1gpu-cache2 0 --steps 20
  XF=""
fi

# torun NAME ARGS...: bench_torch.py on GPU 0, same tokens as the Go runs (windows of train.bin).
torun() {
  local name=$1
  shift
  want "$name" || return 0
  if [ "$(left)" -lt 60 ]; then echo "skip $name (budget)" | tee -a "$R/skipped.txt"; return 0; fi
  mkdir -p "$R/$name"
  local t0=$SECONDS
  CUDA_VISIBLE_DEVICES=0 timeout -s TERM $(($(left) - 5)) "$PY" bench/bench_torch.py --device cuda --preset d20 --steps "$STEPS" --warmup 5 \
    --data $D/train.bin "$@" >"$R/$name/result.json" 2>"$R/$name/stderr.txt"
  echo "$name rc=$? wall=$((SECONDS - t0))s" | tee -a "$R/runs.txt"
}

if [ "$MODE" = torch ] || [ "$MODE" = all ]; then
  torun torch-compile-bf16 --compile --bf16 --tf32
  torun torch-compile-tf32 --compile --tf32
  torun torch-compile-fp32 --compile
fi

"$PY" bench/gpu_compare.py "$R" >"$R/compare.md" 2>"$R/compare.err"
cp "$R/compare.md" "$R/compare.jsonl" "$R/runs.txt" "$OUT/" 2>/dev/null
tar -czf "$OUT/runs.tgz" -C "$R" .
cat "$R/runs.txt" "$R/compare.md" 2>/dev/null
