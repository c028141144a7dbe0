#!/usr/bin/env bash
# Side-by-side CPU benchmark, one run: nanoscope's GoMLX training step on the pure-Go backend
# (bench/gobench; matrix products in OpenBLAS through gomlxmodel/blasdot, reductions and
# broadcasts in gomlxmodel/fastops) against our PyTorch implementation (bench/bench_torch.py) on
# Debian's python3-torch 1.13 with OpenBLAS, plus the loss check (same weights, same batch) and the
# training check (same initial weights, batches and rates for TRAIN_STEPS steps).
#
#   bash bench/run_cpu.sh            # writes bench/results/cpu-YYYYMMDD.jsonl and prints a table
#
# Environment knobs: ROUNDS (2: the cpu-preset pair is measured ROUNDS times, interleaved, so
# that load from other work on a shared machine hits both alike), STEPS (20) / WARMUP (3) for
# the cpu preset, D20_STEPS (2, 0 skips d20) / D20_BATCH (4: d20 at batch 32 takes ~3 min a
# step in Go and ~25 GB; batch 4 keeps the run to a few minutes), TRAIN_STEPS (30),
# TORCH_THREADS (torch's default), DATA (cpu-preset tokens: data/rust2k/train.compact.bin, vocab 2048;
# random tokens when absent), TIMEOUT (600 s per measurement), T2 (1: also time PyTorch with 2
# intra-op threads once), BEFORE (1: also time the Go step once with GoMLX's own kernels,
# NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego, as run "gomlx-go-simplego").
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for the PyTorch and Go commands (they pin
# OpenBLAS to an older kernel on some machines); the "env" record keeps their original values,
# each PyTorch record names the OpenBLAS kernel that ran (openblas_core) and each Go record the
# matrix product in effect (matmul).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
D20_STEPS=${D20_STEPS:-2}
D20_BATCH=${D20_BATCH:-4}
TRAIN_STEPS=${TRAIN_STEPS:-30}
TORCH_THREADS=${TORCH_THREADS:-}
TIMEOUT=${TIMEOUT:-600}
DATA=${DATA:-data/rust2k/train.compact.bin}
[ -f "$DATA" ] || [ ! -f data/rust/train.compact.bin ] || DATA=data/rust/train.compact.bin
VAL=${VAL:-${DATA/train/val}}
[ -f "$DATA" ] || { echo "run_cpu: $DATA not found: random tokens (no real-data loss check)" >&2; DATA=""; }
[ -n "$DATA" ] && [ -f "$VAL" ] || VAL="$DATA"
DAY=$(date -u +%Y%m%d)
mkdir -p bench/results
RES=bench/results/cpu-$DAY.jsonl
: >"$RES"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- dependencies: Debian's python3-torch and OpenBLAS (with only the reference libblas3,
# which --no-install-recommends leaves, PyTorch's matmuls are ~5x slower).
if ! $PY -c "import torch" 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1 || ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  echo "run_cpu: installing python3-torch and libopenblas0/-dev (Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-torch python3-numpy libopenblas0 libopenblas-dev >/dev/null || { echo "run_cpu: apt-get failed" >&2; exit 1; }
fi
go build -o bin/gobench ./bench/gobench || exit 1
GO=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./bin/gobench)

# --- the machine
$PY - "$RES" <<'EOF'
import json, os, platform, subprocess, sys, time
def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception as e:
        return str(e)
rec = {"kind": "env", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"), "nproc": os.cpu_count(),
       "mem": sh("free -g | awk '/Mem:/{print $2\" GiB\"}'"), "loadavg_start": os.getloadavg(),
       "kernel": platform.release(), "go": sh("go version"),
       "torch": sh("/usr/bin/python3 -c 'import torch; print(torch.__version__)'"),
       "libblas_so3": sh("readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3"),
       "OPENBLAS_CORETYPE_orig": os.environ.get("OPENBLAS_CORETYPE"),
       "OPENBLAS_L2_SIZE_orig": os.environ.get("OPENBLAS_L2_SIZE"),
       "GOMLX_BACKEND": os.environ.get("GOMLX_BACKEND"), "GOMAXPROCS": os.environ.get("GOMAXPROCS"),
       "git": sh("git rev-parse --short HEAD") + (" (dirty)" if sh("git status --porcelain") else "")}
open(sys.argv[1], "a").write(json.dumps(rec) + "\n")
EOF

# record RUN ROUND FILE RC: append the last JSON line of FILE with run/round/kind added, or an
# error record (the stderr tail) when the command failed.
record() {
  $PY - "$RES" "$@" <<'EOF'
import json, sys
res, run, rnd, path, rc = sys.argv[1:6]
line = None
try:
    for l in open(path):
        if l.strip().startswith("{"):
            line = l
except OSError:
    pass
if line is not None and rc == "0":
    r = json.loads(line)
    r.update(kind="bench", run=run, round=int(rnd))
else:
    try:
        tail = open(path + ".err").read()[-600:]
    except OSError:
        tail = ""
    r = {"kind": "bench", "run": run, "round": int(rnd), "error": "exit %s" % rc, "stderr_tail": tail}
open(res, "a").write(json.dumps(r) + "\n")
print("run_cpu: %-28s round %s: %s" % (run, rnd, r.get("error") or "%.1f ms/step (median %s), %.0f tok/s" % (
    r["ms_per_step"], r.get("ms_per_step_median"), r["tokens_per_s"])), file=sys.stderr)
EOF
}

# measure RUN ROUND CMD...: run one measurement under a timeout, never aborting the script.
measure() {
  local run=$1 rnd=$2
  shift 2
  local f="$TMP/$run.$rnd"
  timeout -k 10 "$TIMEOUT" "$@" >"$f" 2>"$f.err"
  record "$run" "$rnd" "$f" "$?"
}

# PyTorch's own thread count: torch's default unless TORCH_THREADS is set (Debian's build
# starts with 1 intra-op thread here; OpenBLAS runs its own 2 threads either way). 2 threads
# spin against OpenBLAS's and collapse under load from other processes, see RESULTS.md.
TORCH=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/bench_torch.py ${TORCH_THREADS:+--threads "$TORCH_THREADS"})
DATA_ARG=()
[ -n "$DATA" ] && DATA_ARG=(--data "$DATA")

# --- cpu preset, interleaved rounds; round 1 of Go keeps its checkpoint for the loss check
for r in $(seq 1 "$ROUNDS"); do
  OUTARG=()
  [ "$r" = 1 ] && OUTARG=(--out "$TMP/ck-cpu")
  measure gomlx-go-cpu "$r" "${GO[@]}" --preset cpu --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}" "${OUTARG[@]}"
  measure pytorch-eager-cpu "$r" "${TORCH[@]}" --preset cpu --device cpu --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}"
done

if [ "${BEFORE:-1}" = 1 ]; then
  measure gomlx-go-simplego-cpu 1 env NANOSCOPE_MATMUL=simplego NANOSCOPE_FASTOPS=simplego "${GO[@]}" \
    --preset cpu --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}"
fi

if [ "${T2:-1}" = 1 ]; then
  measure pytorch-eager-cpu-threads2 1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/bench_torch.py --threads 2 \
    --preset cpu --device cpu --steps "$STEPS" --warmup "$WARMUP" "${DATA_ARG[@]}"
fi

# --- where the time goes: forward only and forward+backward (no optimizer), random tokens
for part in forward backward; do
  measure "gomlx-go-cpu-$part" 1 "${GO[@]}" --preset cpu --part "$part" --steps "$STEPS" --warmup 2
  measure "pytorch-eager-cpu-$part" 1 "${TORCH[@]}" --preset cpu --device cpu --part "$part" --steps "$STEPS" --warmup 2
done

# --- d20 architecture (vocab 50257) at a reduced batch
if [ "$D20_STEPS" -gt 0 ]; then
  measure "gomlx-go-d20-b$D20_BATCH" 1 "${GO[@]}" --preset d20 --batch-size "$D20_BATCH" --steps "$D20_STEPS" --warmup 1
  measure "pytorch-eager-d20-b$D20_BATCH" 1 "${TORCH[@]}" --preset d20 --device cpu --batch-size "$D20_BATCH" --steps "$D20_STEPS" --warmup 1
fi

# --- the PyTorch model against the independent numpy reference's fixtures (logits)
"$PY" bench/check_reference.py >>"$RES" 2>"$TMP/ref.err" || echo '{"kind":"reference_check","pass":false,"error":"check_reference.py failed"}' >>"$RES"

# --- loss check: the Go run's final weights on a fixed batch of validation windows
if [ -f "$TMP/ck-cpu/meta.json" ] && [ -n "$VAL" ]; then
  "${GO[@]}" --write-batch "$TMP/batch.json" --data "$VAL" --preset cpu 2>"$TMP/wb.err"
  timeout "$TIMEOUT" "${GO[@]}" --loss-check "$TMP/ck-cpu" --batch "$TMP/batch.json" >"$TMP/lc-go.json" 2>"$TMP/lc-go.err"
  timeout "$TIMEOUT" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY bench/bench_torch.py \
    --loss-check "$TMP/ck-cpu" --batch "$TMP/batch.json" >"$TMP/lc-torch.json" 2>"$TMP/lc-torch.err"
  $PY bench/compare.py loss "$TMP/lc-go.json" "$TMP/lc-torch.json" 1e-4 >>"$RES"
else
  echo '{"kind":"loss_check","pass":false,"error":"no Go checkpoint or no data"}' >>"$RES"
fi

# --- training check: same initial weights, batches and learning rates for TRAIN_STEPS steps
if [ "$TRAIN_STEPS" -gt 0 ] && [ -n "$DATA" ]; then
  timeout "$TIMEOUT" "${GO[@]}" --preset cpu --steps "$TRAIN_STEPS" --warmup 0 --data "$DATA" \
    --dump-batches "$TMP/batches.json" --init-out "$TMP/init" >"$TMP/tc-go.json" 2>"$TMP/tc-go.err"
  timeout "$TIMEOUT" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY bench/bench_torch.py \
    --train-check "$TMP/init" --batches "$TMP/batches.json" >"$TMP/tc-torch.json" 2>"$TMP/tc-torch.err"
  $PY bench/compare.py train "$TMP/tc-go.json" "$TMP/tc-torch.json" 1e-3 >>"$RES"
fi

$PY -c "import json,os; print(json.dumps({'kind':'env_end','loadavg_end':os.getloadavg()}))" >>"$RES"
echo "run_cpu: wrote $RES" >&2
$PY bench/summarize.py "$RES"
