#!/usr/bin/env bash
# d20 training on the GPU with two builds side by side (issue 21: GoMLX v0.26.0 from main against
# v0.28.2), fp32 and bf16, interleaved over ROUNDS rounds in one call of the run tool.
#
# Here (the 2-core machine), build both binaries with the XLA backend and without OpenBLAS (not
# needed on the GPU, and the device machine need not have it), and a small slice of the corpus:
#   CGO_ENABLED=1 go build -tags "xla noblas" -o /tmp/nsx-new ./cmd/nanoscope   # this tree
#   (cd <checkout of the other commit> && CGO_ENABLED=1 go build -tags "xla noblas" -o /tmp/nsx-main ./cmd/nanoscope)
#   mkdir -p bin/gpu/corpus && gzip -c /tmp/nsx-new > bin/gpu/nsx-new.gz && gzip -c /tmp/nsx-main > bin/gpu/nsx-main.gz
#   head -c 4000000 data/rust/train.bin > bin/gpu/corpus/train.bin
#   cp data/rust/{val.bin,stats.json,vocab.json} bin/gpu/corpus/
# On the GPU machine (carry ["bin/gpu"]): bash bench/run_versions_gpu.sh
# Per run: $OUT/<build>_<precision>_<round>/metrics.jsonl (elapsed_s per step: step 1's is the
# compile before the first step plus one step), stdout/stderr, and one summary line in
# $OUT/summary.jsonl: first_step_s, and tokens/s over steps WARM..STEPS. A build named NAME+fused
# runs bin/gpu/nsx-NAME.gz with NANOSCOPE_ATTENTION=fused (attention.Core: cuDNN flash attention).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-60}
WARM=${WARM:-10}
BUILDS=${BUILDS:-main new}
PRECISIONS=${PRECISIONS:-fp32 bf16}
mkdir -p "$OUT" /tmp/vg
PY=/opt/torch/.venv/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so | head -1)
export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
nvidia-smi -L >"$OUT/gpu.txt" 2>&1
echo "plugin: $PLUGIN" >>"$OUT/gpu.txt"
for b in $BUILDS; do
  b=${b%+fused}
  [ -x "/tmp/vg/nsx-$b" ] && continue
  if [ -f "bin/gpu/nsx-$b.xz" ]; then xz -dc "bin/gpu/nsx-$b.xz"; else gunzip -c "bin/gpu/nsx-$b.gz"; fi >"/tmp/vg/nsx-$b" && chmod +x "/tmp/vg/nsx-$b"
  "/tmp/vg/nsx-$b" version >"$OUT/version_$b.txt" 2>&1
done
for r in $(seq 1 "$ROUNDS"); do
  for b in $BUILDS; do
    for p in $PRECISIONS; do
      d=$OUT/${b}_${p}_$r
      rm -rf "/tmp/vg/ck"
      t0=$SECONDS
      attn=explicit
      [[ $b == *+fused ]] && attn=fused
      NANOSCOPE_ATTENTION=$attn timeout 150 "/tmp/vg/nsx-${b%+fused}" train --preset d20 --data bin/gpu/corpus --out /tmp/vg/ck --steps "$STEPS" \
        --precision "$p" --log-every 20 --eval-every 100000 --save-every 100000 --eval-windows 4 \
        >"$d.stdout" 2>"$d.stderr"
      rc=$?
      mkdir -p "$d"
      cp /tmp/vg/ck/metrics.jsonl "$d/" 2>/dev/null
      "$PY" - "$d/metrics.jsonl" "$b" "$p" "$r" "$rc" "$((SECONDS - t0))" "$WARM" >>"$OUT/summary.jsonl" <<'EOF'
import json, sys
path, b, p, r, rc, wall, warm = sys.argv[1:8]
rec = {"build": b, "precision": p, "round": int(r), "rc": int(rc), "wall_s": int(wall)}
try:
    tr = [json.loads(l) for l in open(path)]
    tr = [x for x in tr if x.get("kind") == "train"]
    e = {x["step"]: x["elapsed_s"] for x in tr}
    last, w = max(e), int(warm)
    rec["first_step_s"] = round(e[1], 3)
    rec["steps"] = last
    rec["ms_per_step"] = round(1000 * (e[last] - e[w]) / (last - w), 2)
    rec["loss_last"] = tr[-1]["loss"]
except Exception as ex:
    rec["error"] = str(ex)
print(json.dumps(rec))
EOF
    done
  done
done
cat "$OUT/summary.jsonl"
