#!/usr/bin/env python3
"""Summarise bench/run_gpu_compare.sh's runs: tokens/s, time of the first step (XLA compile or
torch.compile included), final losses and the loss agreement of every variant with its fp32
one-device reference (same tokens, same seed). Prints a markdown table on stdout and writes
compare.jsonl beside the runs.

    python3 bench/gpu_compare.py DIR
"""
import json
import os
import sys

TOKENS = 32 * 256  # d20: batch 32 x 256 tokens


def go_run(d):
    recs = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip().startswith("{")]
    train = [r for r in recs if r.get("kind") == "train"]
    ev = [r for r in recs if r.get("kind") == "eval"]
    meta = json.load(open(os.path.join(d, "meta.json")))
    extra = meta.get("extra", meta)
    out = {"impl": "gomlx-xla", "steps": len(train), "losses": {r["step"]: r["loss"] for r in train},
           "tokens_per_s": extra.get("tokens_per_s"), "precision": extra.get("precision"),
           "devices": extra.get("devices")}
    if train:
        out["first_step_s"] = TOKENS / train[0]["tokens_per_s"]
        out["loss_last"] = train[-1]["loss"]
    if ev:
        out["val_ce"] = ev[-1].get("val_ce")
    return out


def torch_run(d):
    line = [l for l in open(os.path.join(d, "result.json")) if l.strip().startswith("{")][-1]
    r = json.loads(line)
    return {"impl": "torch.compile", "tokens_per_s": r.get("tokens_per_s"), "first_step_s": r.get("first_step_s"),
            "startup_s": r.get("startup_s"), "loss_first": r.get("loss_first"), "loss_last": r.get("loss_last"),
            "tf32": r.get("tf32"), "bf16": r.get("bf16_autocast"), "peak_mem_mb": r.get("peak_mem_mb"),
            "torch": r.get("torch")}


def main():
    root = sys.argv[1]
    runs, errors = {}, {}
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        try:
            runs[name] = go_run(d) if name.startswith("go-") else torch_run(d)
        except Exception as e:  # a failed run: keep its stderr tail
            tail = ""
            for f in ("stderr.txt", "stderr2.txt", "stderr1.txt"):
                p = os.path.join(d, f)
                if os.path.exists(p):
                    tail = open(p).read()[-600:]
                    break
            errors[name] = "%s: %s | %s" % (type(e).__name__, e, tail)
    ref = runs.get("go-fp32-1gpu")

    def agree(name, r, base):
        if not base or "losses" not in r:
            return None
        common = sorted(set(r["losses"]) & set(base["losses"]))
        if not common:
            return None
        diffs = [abs(r["losses"][s] - base["losses"][s]) for s in common]
        return {"steps_compared": len(common), "max_abs_dloss": max(diffs), "last_abs_dloss": diffs[-1]}

    rows = []
    for name, r in runs.items():
        rec = {"run": name, **{k: v for k, v in r.items() if k != "losses"}}
        if name.startswith("go-") and name != "go-fp32-1gpu":
            base = runs.get("go-fp32-2gpu") if name == "go-resume-2gpu" else ref
            a = agree(name, r, base)
            if a:
                rec["vs"] = "go-fp32-2gpu" if name == "go-resume-2gpu" else "go-fp32-1gpu"
                rec.update(a)
        if name.startswith("torch-") and "torch-compile-fp32" in runs and r.get("loss_last") is not None:
            rec["torch_fp32_loss_last_abs_diff"] = abs(r["loss_last"] - runs["torch-compile-fp32"]["loss_last"])
        rows.append(rec)
    if "go-fp32-2gpu" in runs and ref and ref.get("tokens_per_s"):
        rows.append({"kind": "speedup", "what": "go fp32 2 vs 1 GPU", "x": runs["go-fp32-2gpu"]["tokens_per_s"] / ref["tokens_per_s"]})
    if "go-bf16-2gpu" in runs and runs.get("go-bf16-1gpu", {}).get("tokens_per_s"):
        rows.append({"kind": "speedup", "what": "go bf16 2 vs 1 GPU", "x": runs["go-bf16-2gpu"]["tokens_per_s"] / runs["go-bf16-1gpu"]["tokens_per_s"]})
    best_t = max([r["tokens_per_s"] or 0 for n, r in runs.items() if n.startswith("torch-")] or [0])
    best_g = max([r["tokens_per_s"] or 0 for n, r in runs.items() if n.startswith("go-") and r.get("devices") == 1] or [0])
    if best_t and best_g:
        rows.append({"kind": "speedup", "what": "best GoMLX 1 GPU vs best torch.compile 1 GPU", "x": best_g / best_t})
    for n, e in errors.items():
        rows.append({"run": n, "error": e})
    with open(os.path.join(root, "compare.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| run | tokens/s | first step s (compile) | loss last | agreement |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        if "run" in r and "error" not in r:
            ag = ""
            if "max_abs_dloss" in r:
                ag = "vs %s over %d steps: max |dloss| %.2e, last %.2e" % (r["vs"], r["steps_compared"], r["max_abs_dloss"], r["last_abs_dloss"])
            elif "torch_fp32_loss_last_abs_diff" in r:
                ag = "vs torch fp32 last loss: %.2e" % r["torch_fp32_loss_last_abs_diff"]
            fs = r.get("first_step_s")
            print("| %s | %s | %s | %s | %s |" % (r["run"], "%.0f" % r["tokens_per_s"] if r.get("tokens_per_s") else "-",
                                                 "%.1f" % fs if fs else "-", "%.4f" % r["loss_last"] if r.get("loss_last") is not None else "-", ag))
    for r in rows:
        if r.get("kind") == "speedup":
            print("\n%s: %.2fx" % (r["what"], r["x"]))
        if "error" in r:
            print("\n%s failed: %s" % (r["run"], r["error"]))


if __name__ == "__main__":
    main()
