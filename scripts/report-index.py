#!/usr/bin/python3
"""report-index.py OUT_DIR — write OUT_DIR/index.html, the page a reader who never opens Jupyter
is sent: one line per notebook, in order, linking its results-only rendering
OUT_DIR/report/NN_name.html (nbconvert's --no-input export, written by run-notebooks.sh).

Each line is the notebook's title (its first "# " heading) and the first sentence of the verdict
its cells computed (the first Markdown output that starts with "**Verdict"), both read from
the executed notebook OUT_DIR/NN_name.ipynb. A notebook that has no report page is left out; one
whose verdict is missing is listed with "(no verdict in the executed notebook)".
"""
import glob
import html
import json
import os
import re
import sys

NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+$")


def text(src):
    return "".join(src) if isinstance(src, list) else (src or "")


def title_of(nb, name):
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in text(cell.get("source")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return name


def verdict_of(nb):
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            md = text(out.get("data", {}).get("text/markdown"))
            if md.lstrip().startswith("**Verdict"):
                first = md.strip().split("\n", 1)[0]
                m = re.match(r"\*\*(.+?)\*\*", first)
                v = (m.group(1) if m else first).strip()
                # Its first sentence: one line in the index.
                m = re.match(r"(.+?[.!?])\s", v + " ")
                return m.group(1) if m else v
    return None


def main(out):
    rows = []
    for page in sorted(glob.glob(os.path.join(out, "report", "*.html"))):
        name = os.path.splitext(os.path.basename(page))[0]
        if not NAME.match(name):
            continue
        title, verdict = name, None
        executed = os.path.join(out, name + ".ipynb")
        if os.path.exists(executed):
            with open(executed) as f:
                nb = json.load(f)
            title, verdict = title_of(nb, name), verdict_of(nb)
        rows.append((name, title, verdict or "(no verdict in the executed notebook)"))
    if not rows:
        print("report-index.py: no %s/report/NN_name.html pages" % out, file=sys.stderr)
        return 1
    items = "\n".join(
        '<li><a href="report/%s.html">%s</a> — %s</li>' % (html.escape(n), html.escape(t), html.escape(v))
        for n, t, v in rows)
    page = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nanoscope — results</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}li{margin:.4em 0}</style>
</head><body>
<h1>nanoscope — why the model "copies its input"</h1>
<p>The investigation's notebooks in order, each rendered with its results only (no code). Each line
gives the notebook's verdict as its cells computed it.</p>
<ol>
%s
</ol>
</body></html>
""" % items
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(page)
    print("report-index.py: %s/index.html links %d notebooks" % (out, len(rows)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
