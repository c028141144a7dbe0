#!/usr/bin/env bash
# One call of the device tool on an nvidia-h200-x2 (issue 13): the xla-tagged data-parallel test
# (gomlxmodel/train/devices_xla_test.go) on the GPUs, then the throughput of 1 against 2 GPUs at
# global batches large enough that per-step host work and the all-reduce stop dominating.
#
# Here (the 2-core machine):
#   CGO_ENABLED=1 go build -tags xla -o bin/nanoscope-xla ./cmd/nanoscope && gzip -1 -k -f bin/nanoscope-xla
#   CGO_ENABLED=1 go test -tags xla -c -o bin/train-xla.test ./gomlxmodel/train && gzip -1 -k -f bin/train-xla.test
#   bin/gd as in bench/run_sizes_gpu.sh
# On the device machine (carry ["bin/nanoscope-xla.gz", "bin/train-xla.test.gz", "bin/gd"]):
#   bash bench/run_scaling_gpu.sh
# Each training run: nanoscope train --preset P --batch B --steps $STEPS on 1 GPU
# (CUDA_VISIBLE_DEVICES=0) or 2 (--devices 2), a metrics record every 10 steps; tokens/s over
# the steps between the records at step 10 and the last (compilation excluded). Outputs in $OUT:
# test_det_*.txt, scaling.jsonl (one line per run), runs.tgz (runs/NAME_metrics.jsonl, _meta.json, _out.txt), log.txt, gpus.txt.
# Knobs: RUNS ("d20:256 d20:512 d60:128": preset:global batch[:devices], both 1 and 2 devices
# unless given; on an nvidia-h200-x4 e.g. "d20:128:1 d20:128:2 d20:128:4"), STEPS (40), BUDGET (540 s), DET ("true false": the test's deterministic-ops settings).
set -u
cd "$(dirname "$0")/.."
PY=/opt/torch/.venv/bin/python3
[ -x $PY ] || PY=python3
OUT=${OUT:-/tmp/out}
BUDGET=${BUDGET:-540}
STEPS=${STEPS:-40}
RUNS=${RUNS:-d20:256 d20:512 d60:128}
GD=${GPUDATA:-bin/gd}
W=/tmp/scaling
D=$W/data
mkdir -p "$OUT" "$W/runs" "$D"
for b in bin/nanoscope-xla bin/train-xla.test; do [ -x $b ] || { gunzip -c $b.gz >$b && chmod +x $b; }; done
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so 2>/dev/null | head -1)
export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export NCCL_NVLS_ENABLE=0 # NVLink multicast stays off on the lent machines
[ -f $D/train.bin ] || { gunzip -c $GD/train.bin.gz >$D/train.bin && cp $GD/val.bin $GD/stats.json $D/; }
log() { echo "[$SECONDS s] $*" | tee -a "$OUT/log.txt"; }

# The test, with XLA's deterministic kernels (without them two identical GPU runs already
# differ by ~1e-3 in 20 steps: bench/RESULTS.md), then with the default kernels.
for det in ${DET-true false}; do
  XLA_FLAGS=--xla_gpu_deterministic_ops=$det timeout 150 ./bin/train-xla.test -test.run 'TestDataParallelMatchesOneDevice' -test.v -test.count 1 \
    >"$OUT/test_det_$det.txt" 2>&1
  log "test (deterministic ops $det) rc=$?"
done

# rate P_METRICS: tokens/s between the records at step 10 and the last one, and the last loss.
rate() {
  $PY - "$1" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"train"' in l]
a = next(r for r in recs if r["step"] == 10); b = recs[-1]
c = json.load(open(sys.argv[1].replace("_metrics.jsonl", "_meta.json")))["config"]
tok = (b["step"] - a["step"]) * c["batch_size"] * c["max_seq_len"]
print(json.dumps({"tokens_per_s": tok / (b["elapsed_s"] - a["elapsed_s"]), "first_record_s": recs[0]["elapsed_s"],
                  "loss_last": b["loss"], "step_last": b["step"], "losses": [round(r["loss"], 5) for r in recs]}))
EOF
}

for r in $RUNS; do
  IFS=: read -r p b devs <<<"$r"
  for dev in ${devs:-1 2}; do
    name=${p}_b${b}_${dev}gpu
    [ $((BUDGET - SECONDS)) -gt 60 ] || { log "skip $name (budget)"; continue; }
    vis=$(seq -s, 0 $((dev - 1))) # GPUs 0..dev-1
    rm -rf $W/$name
    t=$SECONDS
    CUDA_VISIBLE_DEVICES=$vis timeout -s TERM $((BUDGET - SECONDS - 5)) ./bin/nanoscope-xla train --preset $p --batch $b --data $D --out $W/$name \
      --steps $STEPS --devices $dev --log-every 10 --metrics-every 10 --eval-every 100000 --save-every 100000 >"$W/runs/${name}_out.txt" 2>&1
    rc=$?
    cp $W/$name/metrics.jsonl "$W/runs/${name}_metrics.jsonl" 2>/dev/null
    cp $W/$name/meta.json "$W/runs/${name}_meta.json" 2>/dev/null
    res=$(rate "$W/runs/${name}_metrics.jsonl" 2>/dev/null || echo '{}')
    echo "{\"run\":\"$name\",\"preset\":\"$p\",\"batch\":$b,\"devices\":$dev,\"rc\":$rc,\"wall_s\":$((SECONDS - t)),\"result\":$res}" >>"$OUT/scaling.jsonl"
    log "$name rc=$rc wall $((SECONDS - t)) s $res" | cut -c1-300
  done
done
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader >"$OUT/gpus.txt" 2>&1
tar czf "$OUT/runs.tgz" -C $W runs
log done
