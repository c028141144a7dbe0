#!/usr/bin/python3
"""nbcheck.py NOTEBOOK.ipynb [REPORT.ipynb] — post-process a notebook executed with the GoNB kernel.

1. Exit status 1 if a cell failed. `jupyter nbconvert --execute` stops on a cell whose
   execute_reply says "error", but GoNB v0.11.1 said so only when a cell did not compile: when
   the compiled cell panicked or exited non-zero it wrote the panic and "exit status N" (or
   "signal: ...") to the cell's stderr and replied "ok" (GoNB v0.11.4 replies "error"). This
   finds those cells (and any "error" output) and prints them to stderr.
2. Set metadata.language_info.pygments_lexer (and codemirror_mode) to "go" when empty, as GoNB
   v0.11.1 leaves them: nbconvert's HTML export would otherwise highlight Go as Python.
3. With REPORT.ipynb, write a copy for the results-only export (nbconvert --no-input): without
   the outputs of the kernel-wiring cells (`!*bash ...gonb_setup.sh`) and without stderr
   streams (build and backend messages, not results).
"""
import json
import re
import sys

FAILED = re.compile(r"^(exit status \d+|signal: [a-z ]+)\s*$", re.M)


def write_report(nb, path):
    out = json.loads(json.dumps(nb))
    for cell in out.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "".join(cell.get("source", "")).lstrip().startswith("!"):
            cell["outputs"] = []
            continue
        cell["outputs"] = [o for o in cell.get("outputs", [])
                           if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    with open(path, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main(path, report=None):
    with open(path) as f:
        nb = json.load(f)
    li = nb.setdefault("metadata", {}).setdefault("language_info", {})
    if li.get("name", "go") == "go" and not (li.get("pygments_lexer") and li.get("codemirror_mode")):
        li["pygments_lexer"] = li.get("pygments_lexer") or "go"
        li["codemirror_mode"] = li.get("codemirror_mode") or "go"
        with open(path, "w") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    bad = 0
    code_cells = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_cells += 1
        for out in cell.get("outputs", []):
            text = None
            if out.get("output_type") == "error":
                text = "%s: %s\n%s" % (out.get("ename"), out.get("evalue"), "\n".join(out.get("traceback", [])))
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                s = "".join(out.get("text", ""))
                if FAILED.search(s):
                    text = s
            if text is not None:
                bad += 1
                src = "".join(cell.get("source", ""))
                print("%s: code cell %d failed:\n--- source ---\n%s\n--- output ---\n%s" %
                      (path, code_cells, src[:2000], text[-4000:]), file=sys.stderr)
    if report:
        write_report(nb, report)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
