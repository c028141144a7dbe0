#!/usr/bin/env bash
# Wall time and peak resident memory of `nanoscope diagnose` on a trained GPT-2-small-size model
# (124M parameters, GPT-2's 50257-id vocabulary; issue 20's budget: ≤ 3 min and ≤ 3 GB on two
# cores), side by side for the builds given, pinned to two cores with taskset. The model is
# written by transformers (GPT2LMHeadModel, 12 layers, 768 wide, 1024 positions) and trained
# briefly on the GPU (bytes of the Python standard library as ids, enough to leave the
# initialisation), so the convention search runs as it would on a user's model.
#
#   bash bench/diagnose_gpt2small.sh OUT_DIR NAME=BINARY [NAME=xla:BINARY ...]
#
# NAME=BINARY runs on the Go backend pinned to two cores; NAME=xla:BINARY (a binary built with
# -tags xla) on the GPU through the PJRT CUDA plugin of PY's jax (PLUGIN to name another), not
# pinned. The progress lines of each run are kept in OUT_DIR/NAME.progress.
#
# Runs where PyTorch, transformers and a GPU are (the lent machine). Writes OUT_DIR/results.jsonl.
set -euo pipefail
out=$1
shift
mkdir -p "$out"
python3 - "$out" <<'PY'
import glob, os, sys, sysconfig
import numpy as np, torch
from transformers import GPT2Config, GPT2LMHeadModel
out = sys.argv[1]
data = b""
for p in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True)):
    data += open(p, "rb").read()
    if len(data) > 3_000_000:
        break
ids = torch.tensor(list(data), dtype=torch.long)
np.array(list(data[-200_000:]), dtype="<u4").tofile(os.path.join(out, "eval.bin"))
torch.manual_seed(0)
m = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).cuda().train()
opt = torch.optim.AdamW(m.parameters(), lr=3e-4)
g = torch.Generator().manual_seed(0)
for step in range(300):
    s = torch.randint(0, len(ids) - 257, (16,), generator=g)
    x = torch.stack([ids[i:i + 256] for i in s]).cuda()
    loss = m(input_ids=x, labels=x).loss
    opt.zero_grad(); loss.backward(); opt.step()
print("trained 300 steps, loss", loss.item(), flush=True)
m.cpu().eval().save_pretrained(os.path.join(out, "gpt2small"), safe_serialization=True)
PY
PY=${PY:-python3}
if [ -z "${PLUGIN:-}" ]; then
	PLUGIN=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/jax_plugins/xla_cuda13/xla_cuda_plugin.so
fi
for nb in "$@"; do
	name=${nb%%=*} bin=${nb#*=}
	cmd=(taskset -c 0,1 "$bin")
	if [[ $bin == xla:* ]]; then
		bin=${bin#xla:}
		cmd=(env GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 "$bin")
	fi
	# script(1) gives the command a terminal for its progress lines.
	/usr/bin/time -f "%e %M" -o "$out/time" script -qec "$(printf '%q ' "${cmd[@]}") diagnose --checkpoint $out/gpt2small --data $out/eval.bin --json >$out/$name.json" "$out/$name.progress" >/dev/null
	python3 - "$name" "$out" "${nb#*=}" <<'PY'
import json, sys
name, out = sys.argv[1:3]
secs, kb = open(f"{out}/time").read().split()[-2:]
rep = json.load(open(f"{out}/{name}.json"))
cat = rep["details"]["catalog"]
rec = {"bench": "diagnose_gpt2small", "build": name, "backend": "xla" if sys.argv[3].startswith("xla:") else "go (2 cores)", "seconds": float(secs), "max_rss_mb": round(int(kb) / 1024), "healthy": rep["healthy"],
       "findings": [f["kind"] for f in rep["findings"] or []], "searched": len(cat.get("search") or []), "positions": rep["details"]["positions"]}
open(f"{out}/results.jsonl", "a").write(json.dumps(rec) + "\n")
print(json.dumps(rec), flush=True)
PY
done
