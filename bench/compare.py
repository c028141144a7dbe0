#!/usr/bin/env python3
"""Compare the Go and PyTorch outputs of a loss check or a training check; print one JSON line
with kind "loss_check" / "train_check" and "pass". Exit status 0 either way (the verdict is in
the line), 2 when an input is missing or not JSON.

    python3 bench/compare.py loss  GO.json TORCH.json [REL_TOL]
    python3 bench/compare.py train GO.json TORCH.json [REL_TOL]
"""

import json
import sys


def read(path):
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1])
    except (OSError, IndexError, ValueError) as e:
        print(json.dumps({"kind": sys.argv[1] + "_check", "pass": False, "error": "%s: %s" % (path, e)}))
        sys.exit(2)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def main():
    mode, gpath, tpath = sys.argv[1:4]
    tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    g, t = read(gpath), read(tpath)
    if mode == "loss":
        out = {"kind": "loss_check", "checkpoint": g.get("checkpoint"), "batch": g.get("batch"),
               "shape": g.get("shape"), "go_impl": g.get("impl"),
               "go_loss": g["loss"], "torch_loss": t["loss"], "go_ce": g["ce"], "torch_ce": t["ce"],
               "torch_loss_f64": t.get("loss_f64"), "torch_ce_f64": t.get("ce_f64"),
               "rel_diff_loss": rel(g["loss"], t["loss"]), "rel_diff_ce": rel(g["ce"], t["ce"]),
               "tol": tol}
        out["pass"] = out["rel_diff_loss"] <= tol and out["rel_diff_ce"] <= tol
    else:
        gl, tl = g["losses"], t["losses"]
        n = min(len(gl), len(tl))
        diffs = [rel(gl[i], tl[i]) for i in range(n)]
        out = {"kind": "train_check", "steps": n, "go_losses": [round(x, 6) for x in gl[:n]],
               "torch_losses": [round(x, 6) for x in tl[:n]],
               "max_rel_diff": max(diffs) if diffs else None,
               "rel_diff_first": diffs[0] if diffs else None,
               "rel_diff_last": diffs[-1] if diffs else None, "tol": tol}
        out["pass"] = bool(diffs) and len(gl) == len(tl) and max(diffs) <= tol
    print(json.dumps(out))


if __name__ == "__main__":
    main()
