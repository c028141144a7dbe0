#!/usr/bin/env bash
# Wall time of `nanoscope diagnose` (the instruments and the fault catalog) on this machine, one
# run: the cpu preset checkpoint (out/cpu, trained by `make train-cpu` when missing) on its
# validation data, a fault of the gallery that takes the replacement tests (a fresh tok_embed in
# the cpu checkpoint: the slowest path), and a d20 checkpoint (the original configuration, GPT-2
# ids, one training step at batch 1: the cost of the measurements does not depend on the
# weights), and a random GPT-2-small-size model written with hf.Save (bench/hfrandom: 124M
# parameters, GPT-2's vocabulary). Targets (issue 9): cpu preset ≤ 5 s, d20 ≤ 30 s on two cores;
# issue 20 (the convention search): d20 ≤ 2× the build before it and no more resident memory,
# GPT-2-small-size ≤ 3 min and ≤ 3 GB.
#
#   bash bench/diagnose.sh     # writes bench/results/diagnose-YYYYMMDD.jsonl and prints a table
#   BASE=b14d626 bash bench/diagnose.sh   # also times the build of that commit, side by side
#
# Each line gives the wall time and the peak resident memory (GNU time's %M).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build corpus >/dev/null
[ -f out/cpu/meta.json ] || make -s train-cpu
BIN=bin/nanoscope
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; [ -z "${BASE:-}" ] || git worktree remove --force "$TMP.base" 2>/dev/null || true' EXIT
BINS=("this:$BIN")
if [ -n "${BASE:-}" ]; then
	git worktree add --detach "$TMP.base" "$BASE" >/dev/null 2>&1
	(cd "$TMP.base" && go build -o "$TMP/nanoscope.base" ./cmd/nanoscope)
	BINS+=("$BASE:$TMP/nanoscope.base")
fi
DAY=$(date -u +%Y%m%d)
OUT=bench/results/diagnose-$DAY.jsonl
mkdir -p bench/results
: >"$OUT"

# A fresh tok_embed in the trained cpu checkpoint (tensors_untrained through the swap tests).
go run ./bench/faultedit --src out/cpu --dst "$TMP/fresh_embed" --fresh tok_embed.weight
# d20: one step at batch 1.
$BIN train --preset d20 --ids gpt2 --data data/rust --out "$TMP/d20" --steps 1 --batch 1 --log-every 1 >/dev/null 2>&1
# GPT-2-small-size, random (hf.Save), on uniformly drawn ids.
go run ./bench/hfrandom --out "$TMP/gpt2small" --tokens "$TMP/gpt2small.bin"

run() { # name checkpoint data
	local tag bin
	for tb in "${BINS[@]}"; do
		tag=${tb%%:*} bin=${tb#*:}
		/usr/bin/time -f "%e %M" -o "$TMP/time" "$bin" diagnose --checkpoint "$2" --data "$3" --json >"$TMP/$1.json"
		python3 - "$1" "$tag" "$TMP/time" "$TMP/$1.json" "$OUT" <<'EOF'
import json, sys
name, tag, tpath, path, out = sys.argv[1:6]
secs, kb = open(tpath).read().split()[-2:]
rep = json.load(open(path))
rec = {"bench": "diagnose", "build": tag, "checkpoint": name, "seconds": float(secs), "max_rss_mb": round(int(kb) / 1024),
       "healthy": rep["healthy"], "findings": [f["kind"] for f in rep["findings"] or []],
       "positions": rep["details"]["positions"], "swaps": len(rep["details"]["catalog"].get("swaps") or []),
       "searched": len(rep["details"]["catalog"].get("search") or [])}
open(out, "a").write(json.dumps(rec) + "\n")
print(f'{name:12s} {tag:8s} {rec["seconds"]:7.2f} s {rec["max_rss_mb"]:6d} MB  healthy {rec["healthy"]!s:5s}  {", ".join(rec["findings"])}  ({rec["swaps"]} replacement tests, {rec["searched"]} alternatives searched)')
EOF
	done
}
echo "nanoscope diagnose, $(nproc) cores, $($BIN version 2>/dev/null | tr '\n' ' ')"
run cpu out/cpu data/rust
run fresh_embed "$TMP/fresh_embed" data/rust/val.compact.bin
run d20 "$TMP/d20" data/rust/val.bin
run gpt2small "$TMP/gpt2small" "$TMP/gpt2small.bin"
echo "-> $OUT"
