#!/usr/bin/env bash
# Issue 25's GPU check: a second question of a shape the warm server has already seen compiles
# nothing. Starts `nanoscope serve` (built with -tags xla) on the GPU through the PJRT CUDA plugin
# and asks bench/warmcell's cell (top-5, logit lens, heatmap) three times: prompt A, prompt B of
# the same token count (a new answer, not a memo hit), then prompt C, longer (a new shape, the
# control). Per ask: wall time of each call and the server's graph count (warm.Model.Compiles).
#
#   NANOSCOPE_BIN=/path/nsx WARMCELL=/path/warmcell bash bench/warm_gpu.sh CHECKPOINT OUT_DIR
#
# Writes OUT_DIR/warm_gpu.txt.
set -euo pipefail
ck=$1 out=$2
mkdir -p "$out"
PY=${PY:-python3}
PLUGIN=${PLUGIN:-$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/jax_plugins/xla_cuda13/xla_cuda_plugin.so}
export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 NANOSCOPE_WARM_DIR=$(mktemp -d) NANOSCOPE_WARM_SESSION=gpu
{
	for p in "fn main() { let x = 1; }" "fn main() { let y = 2; }" "fn main() { let x = 1; let y = 2; }"; do
		echo "== prompt: $p"
		"$WARMCELL" --checkpoint "$ck" --prompt "$p" --title "lens: $p"
	done
} 2>&1 | tee "$out/warm_gpu.txt"
pkill -f "serve --state $NANOSCOPE_WARM_DIR" || true
