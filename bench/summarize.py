#!/usr/bin/env python3
"""Summarise a bench results file (cpu-YYYYMMDD.jsonl or gpu.jsonl) as Markdown tables.

    python3 bench/summarize.py bench/results/cpu-20261126.jsonl

Each benchmark line is one measurement (gobench or bench_torch.py output, with "run" and
"round" added by run_cpu.sh / run_gpu.sh). Rows group by (preset, part, run), figures are the
median over rounds of each measurement's median (or mean) per-step time; the ratio column is
tokens/s of GoMLX over the best PyTorch row of the same preset, part and device.
"""

import json
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                print("skipping a line that is not JSON: %r" % line[:80], file=sys.stderr)
    return rows


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    return "–" if x is None else ("%.*f" % (nd, x))


def main():
    rows = load(sys.argv[1])
    bench = [r for r in rows if r.get("kind", "bench") == "bench" and "impl" in r and r.get("tokens_per_s")]
    groups = {}
    for r in bench:
        key = (r.get("preset"), r.get("batch"), r.get("part", "step"), r.get("run", r["impl"]))
        groups.setdefault(key, []).append(r)
    print("| preset (batch) | part | run | impl | rounds | tokens/s | ms/step median | ms/step mean | ms/step min | CPU ms/step | startup s | first step s | peak mem MB | GoMLX / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for key in sorted(groups, key=lambda k: (str(k[0]), k[1] or 0, k[2], k[3])):
        rs = groups[key]
        ms_med = med([r.get("ms_per_step_median", r.get("ms_per_step")) for r in rs])
        ms_mean = med([r.get("ms_per_step") for r in rs])
        ms_min = min(r.get("ms_per_step_min") or r["ms_per_step"] for r in rs)
        tok = rs[0]["batch"] * rs[0]["seq"] / (ms_med / 1e3)
        summary[key] = dict(tok=tok, impl=rs[0]["impl"], rs=rs, ms_med=ms_med, ms_mean=ms_mean, ms_min=ms_min)
    for key, s in summary.items():
        preset, batch, part, run = key
        ratio = ""
        if s["impl"].startswith("gomlx"):
            torch_rows = [v["tok"] for k, v in summary.items()
                          if k[:3] == key[:3] and v["impl"].startswith("pytorch")]
            if torch_rows:
                ratio = "%.2f× (vs best %.0f tok/s)" % (s["tok"] / max(torch_rows), max(torch_rows))
        rs = s["rs"]
        print("| %s (%s) | %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            preset, batch, part, run, s["impl"], len(rs), s["tok"], fmt(s["ms_med"]), fmt(s["ms_mean"]),
            fmt(s["ms_min"]), fmt(med([r.get("cpu_ms_per_step") for r in rs])), fmt(med([r.get("startup_s") for r in rs]), 2),
            fmt(med([r.get("first_step_s") for r in rs]), 2), fmt(med([r.get("peak_mem_mb") for r in rs]), 0),
            ratio))
    checks = [r for r in rows if r.get("kind") in ("loss_check", "train_check", "reference_check")]
    if checks:
        print()
        for c in checks:
            print("- %s: %s" % (c["kind"], json.dumps({k: v for k, v in c.items() if k != "kind"})))
    errors = [r for r in rows if r.get("error") and r.get("kind", "bench") == "bench"]
    if errors:
        print()
        for e in errors:
            print("- FAILED %s: %s" % (e.get("run"), e.get("error")))


if __name__ == "__main__":
    main()
