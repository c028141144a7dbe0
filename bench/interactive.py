#!/usr/bin/python3
"""Wall time of an edited GoNB cell, as a user pays it: a live GoNB kernel (jupyter_client),
each cell sent as an execute request and timed until the kernel is idle again (GoNB writes the
cell into its scratch module, compiles, links and runs it as a new process).

    /usr/bin/python3 bench/interactive.py D20_DIR OUT.jsonl [REPEATS]

Run from the root of a checkout outside /work (bench/interactive.sh makes one). Each figure is
the median of REPEATS edits (default 5), the edits of the cells compared taken in turn (one
kernel each), so that warm and cold share the machine's load; every edit is a real change of
the cell's source (so Go
rebuilds the cell's package), after one run of the same cell kept apart as first_s (it fills
Go's build cache and, for the first warm cell, builds and starts the server, reads d20 and
compiles its graphs). Measured:

  floor          the README's first cell, then a cell that only prints
  warm_prompt    d20: a new prompt — top-5 table, logit lens, lens heatmap saved and shown
                 (package warm: the server holds the model, graphs and answers)
  warm_title     the same cell with only the plot's title changed
  cold_prompt    the same work in the cell itself, as the notebooks did before (load.Open,
                 nbutil.TopK, analysis.LogitLensTokens, plots.Heatmap, nbutil.Save)
  cold_title     the cold cell with only the title changed
"""
import json
import os
import statistics
import subprocess
import sys
import time

from jupyter_client.manager import start_new_kernel

d20, out = os.path.abspath(sys.argv[1]), sys.argv[2]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5

SETUP = '!*bash "$GONB_DIR/gonb_setup.sh"\n%noautoget\n%goflags "-ldflags=-s -w -linkmode=internal"'

FLOOR = '%%\nfmt.Println("edit {n}")'

WARM_IMPORT = 'import (\n\t"fmt"\n\n\t"nanoscope/warm"\n)'
WARM = '''%%
p := warm.Prompt{{Checkpoint: "{d20}", Text: "{prompt}"}}
warm.ShowTopK(warm.Must(warm.TopKOf(p, 5)))
l := warm.Must(warm.LensOf(p))
fmt.Printf("lens: %d of %d cells on top, min margin %.2f\\n", l.OnTop, l.Cells, l.MinMargin)
if err := warm.Save(warm.Must(warm.LensPlotOf(p, "bench_lens", "{title}"))); err != nil {{
\tpanic(err)
}}'''

COLD_IMPORT = '''import (
\t"fmt"

\t"nanoscope/analysis"
\t"nanoscope/gomlxmodel/checkpoint"
\t"nanoscope/gomlxmodel/corpus"
\t"nanoscope/notebooks/nbutil"
\t"nanoscope/plots"
)'''
COLD = '''%%
ck := nbutil.Must(checkpoint.Load("{d20}"))
s := nbutil.Must(analysis.FromCheckpoint(ck))
var ids []int
for _, id := range nbutil.Must(corpus.NewEncoder()).Encode("{prompt}") {{
\tids = append(ids, int(id))
}}
nbutil.ShowTopTable(ids, nbutil.Must(nbutil.TopK(s, nil, ids, 5)))
l := nbutil.Must(analysis.LogitLensTokens(s, nbutil.Int32s(ids)))
fmt.Printf("lens: %d of %d cells on top, min margin %.2f\\n", l.OnTop, l.Cells, l.MinMargin)
nbutil.Save(plots.Heatmap("bench_lens_cold", "{title}", "input position (token)", "decoded residual stream", l.Depths, nbutil.GPT2Texts(ids), l.Margin))'''


def run(kc, code, timeout=600):
    """Executes code, returns (seconds, outputs text); raises on an error reply or output."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    texts, status = [], None
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            texts.append(c["text"])
        elif t == "error":
            texts.append("\n".join(c.get("traceback", [])))
            status = "error"
        elif t in ("display_data", "execute_result"):
            texts.append("[%s]" % ",".join(sorted(c["data"])))
        elif t == "status" and c["execution_state"] == "idle":
            break
    secs = time.perf_counter() - t0
    reply = kc.get_shell_msg(timeout=timeout)
    text = "".join(texts)
    if status == "error" or reply["content"]["status"] != "ok" or "panic:" in text or "exit status" in text:
        raise RuntimeError("cell failed:\n%s\n--- output:\n%s" % (code, text))
    return secs, text


def record(name, first, times):
    rec = {"bench": "interactive", "cell": name, "median_s": round(statistics.median(times), 3),
           "min_s": round(min(times), 3), "max_s": round(max(times), 3), "first_s": round(first, 3),
           "runs": [round(t, 3) for t in times], "cores": os.cpu_count(), "load1": round(os.getloadavg()[0], 2),
           "commit": os.environ.get("COMMIT", "")}
    print("%-12s median %6.2f s  (min %.2f, max %.2f; %d edits; load %.1f; the first, unmeasured run: %.2f s)" % (
        name, rec["median_s"], rec["min_s"], rec["max_s"], len(times), rec["load1"], first), flush=True)
    return rec


def interleaved(cells):
    """cells: [(name, kernel client, make(i))]. Runs each make(0) once apart (first_s), then
    edits 1..REPEATS of every cell in turn, so that warm and cold see the same load."""
    firsts = [run(kc, make(0))[0] for _, kc, make in cells]
    times = [[] for _ in cells]
    for i in range(1, repeats + 1):
        for k, (_, kc, make) in enumerate(cells):
            times[k].append(run(kc, make(i))[0])
    return [record(name, firsts[k], times[k]) for k, (name, _, _) in enumerate(cells)]


# Prompts of the same length in GPT-2 tokens: a changed prompt, not a changed shape.
PROMPTS = ["fn main() { let x = %d; }" % (i + 10) for i in range(40)]


def kernel():
    km, kc = start_new_kernel(kernel_name="gonb", cwd=os.path.join(os.getcwd(), "notebooks"), stderr=subprocess.DEVNULL)
    run(kc, SETUP)
    return km, kc


def main():
    kernels = [kernel() for _ in range(3)]  # the floor's, the warm cells', the cold cells'
    try:
        (_, floor), (_, warm), (_, cold) = kernels
        run(warm, WARM_IMPORT)
        run(cold, COLD_IMPORT)
        records = interleaved([
            ("floor", floor, lambda i: FLOOR.format(n=i)),
            ("warm_prompt", warm, lambda i: WARM.format(d20=d20, prompt=PROMPTS[i], title="d20 logit lens")),
            ("cold_prompt", cold, lambda i: COLD.format(d20=d20, prompt=PROMPTS[20 + i], title="d20 logit lens")),
        ])
        records += interleaved([
            ("warm_title", warm, lambda i: WARM.format(d20=d20, prompt=PROMPTS[0], title="d20 logit lens, take %d" % i)),
            ("cold_title", cold, lambda i: COLD.format(d20=d20, prompt=PROMPTS[20], title="d20 logit lens, take %d" % i)),
        ])
    finally:
        for km, kc in kernels:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    with open(out, "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


main()
