#!/usr/bin/env python3
"""Summarise bench/kernels_cpu.sh output as Markdown tables.

    python3 bench/summarize_kernels.py bench/results/kernels-cpu-YYYYMMDD.jsonl

Steps and forward passes: per variant, the median over rounds of each run's median ms/step, the
minimum over rounds, the median CPU ms/step (all threads) and the load average at the start of
each run. Single products: median ms and GFLOP/s per variant (and the best run's GFLOP/s).
"""

import json
import statistics
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
    order = []
    for r in rows:
        if r["variant"] not in order:
            order.append(r["variant"])
    print("| variant | part | rounds | ms/step median | ms/step min | CPU ms/step | load avg |")
    print("|---|---|---|---|---|---|---|")
    for part in ("step", "forward"):
        for v in order:
            rs = [r for r in rows if r["variant"] == v and r["part"] == part and r.get("result")]
            if not rs:
                continue
            med = statistics.median(r["result"]["ms_per_step_median"] for r in rs)
            mn = min(r["result"]["ms_per_step_min"] for r in rs)
            cpu = [r["result"].get("cpu_ms_per_step") for r in rs if r["result"].get("cpu_ms_per_step")]
            loads = [float(r["loadavg"]) for r in rs]
            print("| %s | %s | %d | %.1f | %.1f | %s | %.1f–%.1f |" % (
                v, part, len(rs), med, mn, "%.1f" % statistics.median(cpu) if cpu else "–", min(loads), max(loads)))
    mm = [r for r in rows if r["part"].startswith("matmul") and r.get("result")]
    if mm:
        shapes = []
        for r in mm:
            if r["part"] not in shapes:
                shapes.append(r["part"])
        print()
        print("| x (M×K) · wᵀ (N×K) | " + " | ".join(order) + " |")
        print("|---|" + "---|" * len(order))
        for s in shapes:
            cells = []
            for v in order:
                r = next((r for r in mm if r["variant"] == v and r["part"] == s), None)
                res = r["result"] if r else None
                if res and "gflops_best" in res:
                    cells.append("%.3g ms, %.1f GFLOP/s (best %.1f)" % (res["ms_median"], res["gflops"], res["gflops_best"]))
                else:
                    cells.append("%.3g ms, %.1f GFLOP/s" % (res["ms_median"], res["gflops"]) if res else "–")
            m, k, n = s.split()[1].split("x")
            print("| %s×%s · (%s×%s)ᵀ | %s |" % (m, k, n, k, " | ".join(cells)))


if __name__ == "__main__":
    main()
