#!/usr/bin/env bash
# Side-by-side GPU benchmark, one run, for the lent H100 (or H200) machine: nanoscope's GoMLX
# training step through XLA (bench/gobench built with -tags xla, PJRT CUDA plugin) against our
# PyTorch implementation (bench/bench_torch.py) eager and with torch.compile, for the d20 and
# cpu presets, plus the loss check and a short training check on the GPU.
#
# Here (the development machine), build the binary that travels:
#   CGO_ENABLED=1 go build -tags xla -o bin/gobench-xla ./bench/gobench
# Then on the device machine (run tool, carry ["bin/gobench-xla"]), from the repository root:
#   bash bench/run_gpu.sh
# Results: $OUT/gpu.jsonl (one JSON line per measurement; failures are recorded, not fatal),
# $OUT/gpu-summary.md (bench/summarize.py's table) and $OUT/logs/ (stderr of every command).
# Copy gpu.jsonl to bench/results/gpu-YYYYMMDD.jsonl and the table into bench/RESULTS.md.
#
# The run tool allows 10 minutes a command: the script stops starting measurements when BUDGET
# (540 s) is spent and records the rest as skipped. If d20 alone fills it, run it twice, e.g.
# PRESETS=d20 EXTRA=0 first, then PRESETS=cpu TRAIN_STEPS=0 LOSS_PRESET=cpu.
# Knobs: STEPS (50 timed) / WARMUP (5; torch.compile and XLA compile in the first), PRESETS
# ("d20 cpu"), TIMEOUT (240 s per measurement), BUDGET (540 s for the whole script), PY (/opt/torch/.venv/bin/python3), PLUGIN (the
# PJRT CUDA plugin, found under PY's site-packages), BIN (bin/gobench-xla), DEVICE (cuda; cpu
# for a dry run of the PyTorch parts on a machine without GPU), DATA (a u32 token file with ids
# < 50257 for d20; random tokens by default, as carrying the corpus is optional), EXTRA (1: also
# torch.compile with TF32, with SDPA attention and with bf16 autocast + TF32), TRAIN_STEPS (10) / TRAIN_PRESET (d20) for the
# training check, LOSS_PRESET (d20) for the loss check, BACKEND (xla:$PLUGIN; go:parallelism=-1
# with BIN=bin/gobench for a CPU dry run of the whole script).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu-run}
mkdir -p "$OUT/logs"
RES=$OUT/gpu.jsonl
: >"$RES"
PY=${PY:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)
STEPS=${STEPS:-50}
WARMUP=${WARMUP:-5}
PRESETS=${PRESETS:-d20 cpu}
TIMEOUT=${TIMEOUT:-240}
BUDGET=${BUDGET:-540}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-1}
TRAIN_STEPS=${TRAIN_STEPS:-10}
BIN=${BIN:-bin/gobench-xla}
DATA=${DATA:-}
if [ -z "${PLUGIN:-}" ]; then
  SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)
  PLUGIN=$SITE/jax_plugins/xla_cuda13/xla_cuda_plugin.so
fi
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
BACKEND=${BACKEND:-xla:$PLUGIN}
LOSS_PRESET=${LOSS_PRESET:-d20}
TRAIN_PRESET=${TRAIN_PRESET:-d20}
GOENV=(env GOMLX_BACKEND="$BACKEND")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- the machine
"$PY" - "$RES" "$PLUGIN" "$BIN" <<'EOF'
import json, os, subprocess, sys, time
res, plugin, binp = sys.argv[1:4]
def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:
        return "error: %s" % e
rec = {"kind": "env", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "gpu": sh("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader"),
       "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"), "nproc": os.cpu_count(),
       "python": sys.executable, "plugin": plugin, "plugin_exists": os.path.exists(plugin),
       "gobench_xla": binp, "gobench_xla_exists": os.path.exists(binp)}
try:
    import torch
    rec.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
except Exception as e:
    rec["torch_error"] = str(e)
open(res, "a").write(json.dumps(rec) + "\n")
print(json.dumps(rec), file=sys.stderr)
EOF

# record RUN FILE RC: append FILE's last JSON line with run/kind and the peak of nvidia-smi's
# memory.used during the command (includes the CUDA context, the caching allocator's and XLA's
# preallocated pools), or an error record with the stderr tail.
record() {
  "$PY" - "$RES" "$@" <<'EOF'
import json, sys
res, run, path, rc = sys.argv[1:5]
line = None
try:
    for l in open(path):
        if l.strip().startswith("{"):
            line = l
except OSError:
    pass
if line is not None and rc == "0":
    r = json.loads(line)
    r.update(kind="bench", run=run)
else:
    try:
        tail = open(path + ".err").read()[-1500:]
    except OSError:
        tail = ""
    r = {"kind": "bench", "run": run, "error": "exit %s%s" % (rc, " (timeout)" if rc in ("124", "137") else ""),
         "stderr_tail": tail}
try:
    mem = [float(x) for x in open(path + ".mem").read().split() if x.replace(".", "").isdigit()]
    if mem:
        r["gpu_mem_used_peak_mb"] = max(mem)
except OSError:
    pass
open(res, "a").write(json.dumps(r) + "\n")
print("run_gpu: %-36s %s" % (run, r.get("error") or "%s ms/step, %s tok/s, startup %s s" % (
    r.get("ms_per_step"), r.get("tokens_per_s"), r.get("startup_s"))), file=sys.stderr)
EOF
}

# left: seconds of BUDGET left for a command (at most TIMEOUT), 0 when under 20 s remain.
left() {
  local rem=$((BUDGET - SECONDS))
  if [ "$rem" -lt 20 ]; then echo 0; elif [ "$rem" -lt "$TIMEOUT" ]; then echo "$rem"; else echo "$TIMEOUT"; fi
}

# measure RUN CMD...: one measurement under a timeout; never aborts the script.
measure() {
  local run=$1
  shift
  local f="$TMP/$run"
  local lim
  lim=$(left)
  if [ "$lim" = 0 ]; then
    echo "{\"kind\":\"bench\",\"run\":\"$run\",\"error\":\"skipped: BUDGET=$BUDGET s spent\"}" >>"$RES"
    echo "run_gpu: $run skipped (budget)" >&2
    return
  fi
  local smi=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$f.mem" 2>/dev/null &
    smi=$!
  fi
  timeout -k 15 "$lim" "$@" >"$f" 2>"$f.err"
  local rc=$?
  [ -n "$smi" ] && kill "$smi" 2>/dev/null && wait "$smi" 2>/dev/null
  cp "$f.err" "$OUT/logs/$run.stderr" 2>/dev/null
  record "$run" "$f" "$rc"
}

TORCH=("$PY" bench/bench_torch.py --device "$DEVICE")
for preset in $PRESETS; do
  DATA_ARG=()
  [ -n "$DATA" ] && [ "$preset" = d20 ] && DATA_ARG=(--data "$DATA")
  OUTARG=()
  [ "$preset" = "$LOSS_PRESET" ] && OUTARG=(--out "$TMP/ck-loss")
  if [ -x "$BIN" ]; then
    measure "gomlx-xla-$preset" "${GOENV[@]}" "$BIN" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}" "${OUTARG[@]}"
  else
    echo "{\"kind\":\"bench\",\"run\":\"gomlx-xla-$preset\",\"error\":\"$BIN not found: build it with CGO_ENABLED=1 go build -tags xla -o bin/gobench-xla ./bench/gobench and carry it\"}" >>"$RES"
  fi
  measure "pytorch-eager-$preset" "${TORCH[@]}" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}"
  measure "pytorch-compile-$preset" "${TORCH[@]}" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" --compile "${DATA_ARG[@]}"
done

# --- loss check on the GPU: the final weights of the Go run of LOSS_PRESET, on a fixed batch of
# seeded random tokens of that preset's shape (or of DATA's windows for d20)
if [ -f "$TMP/ck-loss/meta.json" ]; then
  WB_DATA=()
  [ -n "$DATA" ] && [ "$LOSS_PRESET" = d20 ] && WB_DATA=(--data "$DATA")
  "$BIN" --write-batch "$TMP/batch.json" --preset "$LOSS_PRESET" "${WB_DATA[@]}" 2>"$OUT/logs/write-batch.stderr"
  timeout "$(left)" "${GOENV[@]}" "$BIN" --loss-check "$TMP/ck-loss" --batch "$TMP/batch.json" >"$TMP/lc-go.json" 2>"$OUT/logs/loss-check-go.stderr"
  timeout "$(left)" "${TORCH[@]}" --loss-check "$TMP/ck-loss" --batch "$TMP/batch.json" >"$TMP/lc-torch.json" 2>"$OUT/logs/loss-check-torch.stderr"
  "$PY" bench/compare.py loss "$TMP/lc-go.json" "$TMP/lc-torch.json" 1e-4 >>"$RES"
else
  echo "{\"kind\":\"loss_check\",\"pass\":false,\"error\":\"no checkpoint from the gomlx-xla-$LOSS_PRESET run\"}" >>"$RES"
fi

# --- training check on the GPU: same initial weights, batches and rates, TRAIN_STEPS steps
if [ "$TRAIN_STEPS" -gt 0 ] && [ -x "$BIN" ] && [ "$(left)" != 0 ]; then
  timeout "$(left)" "${GOENV[@]}" "$BIN" --preset "$TRAIN_PRESET" --steps "$TRAIN_STEPS" --warmup 0 \
    --dump-batches "$TMP/batches.json" --init-out "$TMP/init" >"$TMP/tc-go.json" 2>"$OUT/logs/train-check-go.stderr"
  timeout "$(left)" "${TORCH[@]}" --train-check "$TMP/init" --batches "$TMP/batches.json" >"$TMP/tc-torch.json" 2>"$OUT/logs/train-check-torch.stderr"
  "$PY" bench/compare.py train "$TMP/tc-go.json" "$TMP/tc-torch.json" 1e-3 >>"$RES"
fi

# --- extras, last (they are what a budget cut drops): TF32 matmuls, and SDPA attention
if [ "$EXTRA" = 1 ]; then
  for preset in $PRESETS; do
    DATA_ARG=()
    [ -n "$DATA" ] && [ "$preset" = d20 ] && DATA_ARG=(--data "$DATA")
    measure "pytorch-compile-tf32-$preset" "${TORCH[@]}" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" --compile --tf32 "${DATA_ARG[@]}"
    measure "pytorch-compile-sdpa-$preset" "${TORCH[@]}" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" --compile --attn sdpa "${DATA_ARG[@]}"
    measure "pytorch-compile-bf16-$preset" "${TORCH[@]}" --preset "$preset" --steps "$STEPS" --warmup "$WARMUP" --compile --bf16 --tf32 "${DATA_ARG[@]}"
  done
fi

"$PY" bench/summarize.py "$RES" | tee "$OUT/gpu-summary.md"
echo "run_gpu: wrote $RES" >&2
