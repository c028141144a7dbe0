#!/usr/bin/env bash
# Train the original d20 configuration on a GPU through GoMLX's XLA backend, 20,000 steps.
#
# Here (the 2-core machine):
#   make corpus
#   CGO_ENABLED=1 go build -tags xla -o bin/nanoscope-xla ./cmd/nanoscope
#   mkdir -p gpudata && gzip -9 -c data/rust/train.bin > gpudata/train.bin.gz &&
#     cp data/rust/val.bin data/rust/stats.json analysis/testdata/note_observation.json gpudata/
# On the GPU machine (carry bin/nanoscope-xla and gpudata), as many times as needed: each call
# trains until its time limit (SIGTERM saves a checkpoint) and the next one resumes exactly.
#   bash bench/run_d20_gpu.sh [seconds]
# Other presets and settings (issue 13): PRESET=d40|d60 (checkpoint in /tmp/$PRESET, outputs
# named $PRESET_*), PRECISION=fp32|tf32|bf16 and DEVICES=N|all (train --precision/--devices;
# both may change between calls of one run), STEPS (20000).
# d40 and d60 side by side in one call, for the steps the call allows: bench/run_sizes_gpu.sh.
set -u
LIMIT=${1:-520}
PLUGIN=$(ls /opt/torch/.venv/lib/python3*/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so | head -1)
export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export NCCL_NVLS_ENABLE=0
PRESET=${PRESET:-d20}; STEPS=${STEPS:-20000}
D=/tmp/d; CK=/tmp/$PRESET; OUT=${OUT:-/tmp/out}
mkdir -p "$D" "$OUT"
[ -f $D/train.bin ] || { gunzip -c gpudata/train.bin.gz > $D/train.bin && cp gpudata/val.bin gpudata/stats.json $D/; }
flags="--log-every 1000 --eval-every 2000 --save-every 1000 --metrics-every 100 --eval-windows 64 --precision ${PRECISION:-fp32} --devices ${DEVICES:-1}"
if [ -f $CK/meta.json ]; then
  timeout -s TERM "$LIMIT" ./bin/nanoscope-xla train --data $D --out $CK --resume $flags
else
  timeout -s TERM "$LIMIT" ./bin/nanoscope-xla train --preset $PRESET --data $D --out $CK --steps $STEPS $flags
fi
rc=$?
if [ $rc -eq 0 ]; then  # finished: the figures that come back
  cp $CK/metrics.jsonl $CK/meta.json "$OUT"/
  ./bin/nanoscope-xla logits --checkpoint $CK --tokens 22184,1388,3419,1391 --topk 5 --json > "$OUT"/${PRESET}_logits.json
  ./bin/nanoscope-xla inspect --checkpoint $CK --json > "$OUT"/${PRESET}_inspect.json
  ./bin/nanoscope-xla diagnose --checkpoint $CK --data $D/val.bin --observed gpudata/note_observation.json --json > "$OUT"/${PRESET}_diagnose.json
fi
exit $rc
