#!/usr/bin/env bash
# live-jupyter.sh — the live-Jupyter browser test: run notebooks through the notebook server's
# UI in Chromium, as a person would, and time the round trip of one small cell.
#
#   scripts/live-jupyter.sh [NN ...]     (default: 00 03)
#
# Copies notebooks/NN_*.ipynb (and gonb_setup.sh) to out/live/, so that the UI's autosave never
# writes into the tracked notebooks, starts `jupyter notebook` on 127.0.0.1 with a random token
# and its root at out/live/ (inside this checkout, so the notebooks still find its go.mod), and
# runs scripts/live/live-jupyter.mjs (Playwright driving /usr/bin/chromium; see there). Each
# notebook must show at least as many figures as its headless run did (out/NN_name.ipynb), when
# there is one. Screenshots: out/render/live_NN_name.png; results: out/render/live.json; the
# server's log: out/logs/live-jupyter.log. Unless LIVE_INTERACTIVE=0, it also times the d20
# prompt change and title-only change of an edited cell through the warm server (see below)
# and writes them to live.json as d20_prompt_change_s and d20_title_change_s. Needs `make deps` (Jupyter, GoNB, Chromium, and
# scripts/live/node_modules from `npm ci`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ -d scripts/live/node_modules/playwright-core ] ||
	{ echo "live-jupyter: scripts/live/node_modules is missing; run 'make deps' (npm ci --prefix scripts/live)" >&2; exit 1; }
export PYDEVD_DISABLE_FILE_VALIDATION=1
[ $# -gt 0 ] || set -- 00 03

rm -rf out/live
mkdir -p out/live out/render out/logs
cp notebooks/gonb_setup.sh out/live/
names=()
for n in "$@"; do
	match=(notebooks/"$n"_*.ipynb)
	[ -e "${match[0]}" ] || { echo "live-jupyter: no notebook notebooks/${n}_*.ipynb" >&2; exit 1; }
	for nb in "${match[@]}"; do
		name=$(basename "$nb" .ipynb)
		cp "$nb" out/live/
		names+=("$name.ipynb")
		# The figures its headless run showed, when it ran (make test-notebooks).
		if [ -f "out/$name.ipynb" ]; then
			figs=$(/usr/bin/python3 -c 'import json,sys; nb=json.load(open(sys.argv[1])); print(sum("image/png" in o.get("data",{}) for c in nb["cells"] for o in c.get("outputs",[])))' "out/$name.ipynb")
			export "MIN_FIGURES_$name=$figs"
		fi
	done
done

# The interactive d20 figures (issue 25): a d20 checkpoint (the original configuration, GPT-2
# ids, one training step at batch 1: the cost does not depend on the weights) and a notebook
# holding only the README's first cell; live-jupyter.mjs then times a prompt change (top-5,
# logit lens, its plot, through the warm server) and a title-only change, edited in the UI.
# LIVE_INTERACTIVE=0 skips them.
if [ "${LIVE_INTERACTIVE:-1}" = 1 ]; then
	[ -x bin/nanoscope ] || go build -o bin/nanoscope ./cmd/nanoscope
	bin/nanoscope train --preset d20 --ids gpt2 --data data/rust --out out/live/d20 --steps 1 --batch 1 --log-every 1 >out/logs/live-d20-train.log 2>&1 ||
		{ echo "live-jupyter: training the d20 checkpoint failed (out/logs/live-d20-train.log)" >&2; exit 1; }
	/usr/bin/python3 - out/live/interactive.ipynb <<'PY'
import json, sys
cells = ['!*bash "$GONB_DIR/gonb_setup.sh"\n%noautoget\n%goflags "-ldflags=-s -w -linkmode=internal"',
         'import (\n\t"fmt"\n\n\t"nanoscope/warm"\n)']
nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c} for c in cells],
      "metadata": {"kernelspec": {"display_name": "Go (gonb)", "language": "go", "name": "gonb"}}, "nbformat": 4, "nbformat_minor": 4}
json.dump(nb, open(sys.argv[1], "w"), indent=1)
PY
	export LIVE_INTERACTIVE_NB=interactive.ipynb LIVE_D20="$ROOT/out/live/d20"
	# The warm server of this check: its own state directory, stopped with its kernel.
	export NANOSCOPE_WARM_DIR="$ROOT/out/live/warm"
fi

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=out/logs/live-jupyter.log
allow_root=()
[ "$(id -u)" != 0 ] || allow_root=(--allow-root)
start=$EPOCHREALTIME
jupyter notebook --no-browser --ip=127.0.0.1 --port="$port" --NotebookApp.token="$token" \
	--NotebookApp.open_browser=False --notebook-dir="$ROOT/out/live" "${allow_root[@]}" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	if /usr/bin/python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
		"http://127.0.0.1:$port/api/status?token=$token" 2>/dev/null; then
		break
	fi
	kill -0 "$server" 2>/dev/null || { echo "live-jupyter: the notebook server exited:" >&2; tail -n 30 "$log" >&2; exit 1; }
	sleep 0.2
done
rc=0
node scripts/live/live-jupyter.mjs "http://127.0.0.1:$port/?token=$token" out/render "${names[@]}" || rc=$?
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
if [ $rc -ne 0 ]; then
	echo "live-jupyter: FAILED after ${secs} s (server log: $log)" >&2
	grep -iE 'error|traceback' "$log" | tail -n 20 >&2 || true
	exit $rc
fi
echo "live-jupyter: ok in ${secs} s (server start to finish)"
