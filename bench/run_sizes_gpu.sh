#!/usr/bin/env bash
# d40 and d60 (issue 13) trained for the same number of steps in one call of the device tool on
# an nvidia-h200-x2: d40 on GPU 0, d60 on GPU 1, concurrently; then d20 for the same steps on
# GPU 0 if the call's time allows. The number of steps is whatever the slower model (d60) can
# finish in the call: both runs start with a provisional total of 100,000 steps, are stopped by
# SIGTERM at step $PROBE (a checkpoint; WSD is still in its constant phase there, so nothing
# yet depends on the total) and resumed with --steps N, N fitted from the measured step rate and
# compile time. Outputs per model P in $OUT: P_metrics.jsonl, P_meta.json, P_logits.json
# (logits on the note's tokens), P_inspect.json, P_diagnose.json (diagnose --json against the
# note's observation), P_stdout.txt/P_stderr.txt; summary.jsonl (one line per model: steps,
# timings, rates); gpus.txt.
#
# Here (the 2-core machine):
#   make corpus
#   CGO_ENABLED=1 go build -tags xla -o bin/nanoscope-xla ./cmd/nanoscope && gzip -1 -k -f bin/nanoscope-xla
#   mkdir -p bin/gd && gzip -9 -c data/rust/train.bin > bin/gd/train.bin.gz &&
#     cp data/rust/val.bin data/rust/stats.json analysis/testdata/note_observation.json bin/gd/
# On the device machine (run tool, kind nvidia-h200-x2, carry ["bin/nanoscope-xla.gz", "bin/gd"],
# timeout_s 600):
#   BUDGET=575 bash bench/run_sizes_gpu.sh
# Knobs: BUDGET (seconds for the whole call, 575), PROBE (300; 0: no probe, MAXSTEPS steps from
# scratch), PRECISION (bf16), MODELS
# ("d40:0 d60:1": preset:GPU, run concurrently), AFTER ("d20:0": run after the model on that
# GPU, with the same N, when it fits), POST (seconds kept for logits/diagnose/inspect, 130),
# EXTRA (flags for the first train call; a dry run on the CPU:
#   BIN=bin/nanoscope PRECISION=fp32 PROBE=4 METRICS=1 MAXSTEPS=12 EXTRA="--batch 2 --seq 32" BUDGET=900 bash bench/run_sizes_gpu.sh).
# Results of 2026-11-29: bench/results/sizes_h200/.
set -u
cd "$(dirname "$0")/.."
PY=/opt/torch/.venv/bin/python3
[ -x $PY ] || PY=python3
BUDGET=${BUDGET:-575}
PROBE=${PROBE:-300}
PRECISION=${PRECISION:-bf16}
MODELS=${MODELS:-d40:0 d60:1}
AFTER=${AFTER-d20:0}
POST=${POST:-130}
MAXSTEPS=${MAXSTEPS:-20000}
METRICS=${METRICS:-50}
EXTRA=${EXTRA:-}
GD=${GPUDATA:-bin/gd}
BIN=${BIN:-bin/nanoscope-xla}
OUT=${OUT:-/tmp/out}
W=/tmp/sizes
D=$W/data
mkdir -p "$OUT" "$D"
[ -x "$BIN" ] || { gunzip -c "$BIN.gz" >"$BIN" && chmod +x "$BIN"; }
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so 2>/dev/null | head -1)
if [ -n "$PLUGIN" ]; then
  export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
  export XLA_FLAGS="--xla_gpu_per_fusion_autotune_cache_dir=$W/autotune"
fi
export NCCL_NVLS_ENABLE=0 # NVLink multicast stays off on the lent machines
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader >"$OUT/gpus.txt" 2>&1
[ -f $D/train.bin ] || { gunzip -c $GD/train.bin.gz >$D/train.bin && cp $GD/val.bin $GD/stats.json $D/; }

# step P STEP: the elapsed_s of model P's metrics record at STEP (empty if not there yet).
step() { grep "\"kind\":\"train\",\"step\":$2," $W/$1/metrics.jsonl 2>/dev/null | head -1 | sed 's/.*"elapsed_s":\([0-9.e+-]*\).*/\1/'; }
log() { echo "[$SECONDS s] $*" | tee -a "$OUT/log.txt"; }

# outputs P: copy the run's files and ask the checkpoint the questions the notebooks need.
outputs() {
  local p=$1 gpu=$2 ck=$W/$1
  cp $ck/metrics.jsonl "$OUT/${p}_metrics.jsonl"
  cp $ck/meta.json "$OUT/${p}_meta.json"
  export CUDA_VISIBLE_DEVICES=$gpu
  "$BIN" logits --checkpoint $ck --tokens 22184,1388,3419,1391 --topk 5 --json >"$OUT/${p}_logits.json" 2>>"$OUT/${p}_stderr.txt"
  local t0=$SECONDS
  timeout -s KILL $((BUDGET - SECONDS - 3)) "$BIN" diagnose --checkpoint $ck --data $D/val.bin --observed $GD/note_observation.json --json \
    >"$OUT/${p}_diagnose.json" 2>>"$OUT/${p}_stderr.txt"
  log "$p diagnose rc=$? ($((SECONDS - t0)) s)"
  t0=$SECONDS
  timeout -s KILL $((BUDGET - SECONDS - 3)) "$BIN" inspect --checkpoint $ck --json >"$OUT/${p}_inspect.json" 2>>"$OUT/${p}_stderr.txt"
  log "$p inspect rc=$? ($((SECONDS - t0)) s)"
}

declare -A PID GPU T0 C R N
n=$MAXSTEPS
if [ "$PROBE" = 0 ]; then
  # No probe: MAXSTEPS steps from scratch, when the caller knows they fit.
  for m in $MODELS; do
    p=${m%%:*}
    GPU[$p]=${m##*:} C[$p]=0 R[$p]=0
    rm -rf $W/$p
  done
else
# Phase 1: provisional runs up to step PROBE.
for m in $MODELS; do
  p=${m%%:*} g=${m##*:}
  GPU[$p]=$g
  rm -rf $W/$p
  T0[$p]=$SECONDS
  CUDA_VISIBLE_DEVICES=$g "$BIN" train --preset $p --data $D --out $W/$p --steps 100000 --precision $PRECISION \
    --log-every 100 --metrics-every $METRICS --eval-every 1000000 --save-every 1000000 $EXTRA >"$OUT/${p}_stdout.txt" 2>"$OUT/${p}_stderr.txt" &
  PID[$p]=$!
done
declare -A STOPPED
while :; do
  running=0
  for p in "${!PID[@]}"; do
    [ -z "${STOPPED[$p]:-}" ] || continue
    if [ -n "$(step $p $PROBE)" ] || ! kill -0 ${PID[$p]} 2>/dev/null || [ $SECONDS -gt $((BUDGET - 60)) ]; then
      kill -TERM ${PID[$p]} 2>/dev/null
      STOPPED[$p]=1
    else
      running=1
    fi
  done
  [ $running = 1 ] || break
  sleep 0.3
done
for p in "${!PID[@]}"; do
  wait ${PID[$p]}
  rc=$?
  e1=$(step $p 1) e100=$(step $p 100) eP=$(step $p $PROBE)
  [ -n "$e100" ] || e100=$(step $p $((PROBE / 2)))
  if [ $rc -ne 130 ] || [ -z "$eP" ] || [ -z "$e1" ]; then log "$p: provisional run failed (rc $rc)"; unset "GPU[$p]"; continue; fi
  lo=$([ -n "$(step $p 100)" ] && echo 100 || echo $((PROBE / 2)))
  C[$p]=$e1
  R[$p]=$($PY -c "print(($PROBE-$lo)/($eP-$e100))")
  log "$p: first step (compile) ${C[$p]} s, ${R[$p]} steps/s, phase 1 wall $((SECONDS - T0[$p])) s"
done
[ ${#GPU[@]} -gt 0 ] || exit 1

# N: what the slowest model finishes before BUDGET - POST, its resume compiling again.
left=$((BUDGET - SECONDS - POST - 30))
n=$MAXSTEPS
for p in "${!GPU[@]}"; do
  k=$($PY -c "k = int($PROBE + ${R[$p]} * ($left - ${C[$p]} - 5)); print(k // 100 * 100 if k >= 1000 else k)")
  [ $k -lt $n ] && n=$k
done
log "N = $n steps for ${!GPU[*]} ($left s left for training)"
[ $n -gt $PROBE ] || exit 1

fi

# Phase 2: resume with the real total; then the AFTER model on a freed GPU, when it fits.
declare -A PID2
for p in "${!GPU[@]}"; do
  (
    t=$SECONDS
    CUDA_VISIBLE_DEVICES=${GPU[$p]} timeout -s TERM $((BUDGET - SECONDS - POST)) "$BIN" train --data $D --out $W/$p $([ "$PROBE" = 0 ] || echo --resume) --steps $n \
      $([ "$PROBE" = 0 ] && echo --preset $p --precision $PRECISION $EXTRA || echo --precision $PRECISION) --log-every 500 --metrics-every 100 --eval-every $((n / 10)) --save-every $n >>"$OUT/${p}_stdout.txt" 2>>"$OUT/${p}_stderr.txt"
    rc=$?
    log "$p: $([ "$PROBE" = 0 ] && echo run || echo resumed run) rc=$rc wall $((SECONDS - t)) s"
    echo "{\"model\":\"$p\",\"gpu\":${GPU[$p]},\"steps\":$n,\"probe\":$PROBE,\"precision\":\"$PRECISION\",\"first_step_s\":${C[$p]},\"probe_steps_per_s\":${R[$p]},\"resumed_wall_s\":$((SECONDS - t)),\"rc\":$rc}" >>"$OUT/summary.jsonl"
    [ $rc -eq 0 ] || [ $rc -eq 130 ] && outputs $p ${GPU[$p]} # 130: stopped early, with a checkpoint
    for a in $AFTER; do
      q=${a%%:*}
      [ "${a##*:}" = "${GPU[$p]}" ] || continue
      # d20 from scratch: its compile plus N steps at twice the finished model's rate at most.
      need=$($PY -c "print(int(${C[$p]} + $n / (2 * ${R[$p]}) + 60))")
      if [ $((BUDGET - SECONDS)) -lt "$need" ]; then log "$q skipped: $((BUDGET - SECONDS)) s left, $need needed"; continue; fi
      rm -rf $W/$q
      t=$SECONDS
      CUDA_VISIBLE_DEVICES=${GPU[$p]} timeout -s TERM $((BUDGET - SECONDS - 45)) "$BIN" train --preset $q --data $D --out $W/$q --steps $n --precision $PRECISION \
        --log-every 500 --metrics-every 100 --eval-every $((n / 10)) --save-every $n $EXTRA >"$OUT/${q}_stdout.txt" 2>"$OUT/${q}_stderr.txt"
      rc=$?
      log "$q: run rc=$rc wall $((SECONDS - t)) s"
      echo "{\"model\":\"$q\",\"gpu\":${GPU[$p]},\"steps\":$n,\"precision\":\"$PRECISION\",\"wall_s\":$((SECONDS - t)),\"rc\":$rc}" >>"$OUT/summary.jsonl"
      [ $rc -eq 0 ] || [ $rc -eq 130 ] && outputs $q ${GPU[$p]}
    done
  ) &
  PID2[$p]=$!
done
wait
log "done"
