#!/usr/bin/env python3
"""Diagnose every checkpoint of a blind kit (bench/blind_kit.py) with the nanoscope CLI, one at a
time, and score the answers against kit.json's truth. Standard library only (runs on the dev
machine, no PyTorch):

    python3 bench/score_kit.py --kit /tmp/kit4 [--bin bin/nanoscope] [--positions 1024] > table.md

Each report is kept as KIT/diag/NAME.json (rerun with --reuse to score without diagnosing again).
Categories, per checkpoint:
    right            healthy control called healthy; a fault given exactly its kind (and, for a
                     convention, its convention) or one of the answers kit.json's "also" lists; a
                     fault of no named kind ("unexplained" truth) given only `unexplained`
    unexplained      a named fault given only `unexplained`: a miss, but honest
    false_healthy    a fault called healthy
    wrong_kind       a fault given a kind that is not its own (beside or instead of the right one)
    healthy_flagged  a healthy control given any fault
    no_fault         the saved files are not worse than the trained model (ce_excess < --min-excess
                     nats, measured by transformers): not scored as a fault
    failed / refused the kit build failed, or nanoscope refused to load the checkpoint
"""

import argparse
import json
import os
import subprocess
import sys
import time

INFORMATIONAL = {"alpha_no_gradient", "activation_overflow_fp16"}


def answer(rep):
    """The fault findings of a report as (kind, convention) pairs."""
    out = []
    for f in rep.get("findings") or []:
        if f["kind"] in INFORMATIONAL:
            continue
        conv = (f.get("evidence") or {}).get("convention", "")
        out.append((f["kind"], conv if isinstance(conv, str) else ""))
    return out


def judge(c, rep, min_excess):
    """The category of one checkpoint's answer (see the module docstring)."""
    got = answer(rep)
    truth = c["kind"]
    if truth and c.get("ce_excess") is not None and c["ce_excess"] < min_excess:
        return "no_fault"
    if not truth:
        return "right" if rep["healthy"] and not got else "healthy_flagged"
    if rep["healthy"] or not got:
        return "false_healthy"
    ok = {(truth, c.get("convention", "")) if truth != "unexplained" else ("unexplained", "")}
    for alt in c.get("also", []):
        k, _, conv = alt.partition(":")
        ok.add((k, conv))
    def fits(g):
        return any(g[0] == k and (not conv or g[1] == conv) for k, conv in ok)
    kinds = {g[0] for g in got}
    if all(fits(g) for g in got):
        return "right"
    if kinds == {"unexplained"}:
        return "unexplained"
    return "wrong_kind"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", required=True)
    ap.add_argument("--bin", default="bin/nanoscope")
    ap.add_argument("--positions", type=int, default=1024)
    ap.add_argument("--min-excess", type=float, default=0.05)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated names")
    a = ap.parse_args()
    kit = json.load(open(os.path.join(a.kit, "kit.json")))
    os.makedirs(os.path.join(a.kit, "diag"), exist_ok=True)
    rows, counts = [], {}
    for c in kit:
        if a.only and c["name"] not in a.only.split(","):
            continue
        path = os.path.join(a.kit, "diag", c["name"] + ".json")
        secs = None
        if c["kind"] == "failed":
            cat, got, rep = "failed", "", None
        else:
            if not (a.reuse and os.path.exists(path)):
                t0 = time.time()
                p = subprocess.run([a.bin, "diagnose", "--checkpoint", os.path.join(a.kit, c["name"]),
                                    "--data", os.path.join(a.kit, "eval.bin"), "--positions", str(a.positions), "--json"],
                                   capture_output=True, text=True)
                secs = round(time.time() - t0, 1)
                if p.returncode != 0:
                    with open(path, "w") as f:
                        json.dump({"refused": p.stderr.strip()[-1000:]}, f)
                else:
                    with open(path, "w") as f:
                        f.write(p.stdout)
            rep = json.load(open(path))
            if "refused" in rep:
                cat, got = "refused", rep["refused"].splitlines()[-1][:160] if rep["refused"] else "refused"
            else:
                cat = judge(c, rep, a.min_excess)
                got = "healthy" if rep["healthy"] else ", ".join(k + (" " + v if v else "") for k, v in answer(rep))
        counts[cat] = counts.get(cat, 0) + 1
        truth = c.get("truth_kind", c["kind"]) or "healthy"
        if c.get("convention"):
            truth += " " + c["convention"]
        ce = lambda k: "" if c.get(k) is None else f"{c[k]:.3f}"
        rows.append(f"| {c['name']} | {truth} | {ce('ce_true')} | {ce('ce_saved')} | {got} | **{cat}** |" +
                    (f" {secs} |" if secs is not None else " |"))
        print(rows[-1], file=sys.stderr, flush=True)
    print("| checkpoint | truth | CE as trained | CE as saved (transformers) | nanoscope | score | s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("Counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
