package report

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"

	"nanoscope/analysis"
)

// Table is one table of a report: a header and rows of plain-text cells (the Markdown and
// HTML writers escape them).
type Table struct {
	Head []string
	Rows [][]string
}

// Findings tabulates the report's findings: kind, detail, evidence (analysis.EvidenceText,
// every pair), fix and the tensors concerned; no rows for a report without findings.
func Findings(r *analysis.Report) Table {
	t := Table{Head: []string{"kind", "detail", "evidence", "fix", "tensors"}}
	for _, f := range r.Findings {
		t.Rows = append(t.Rows, []string{f.Kind, f.Detail, analysis.EvidenceText(f.Evidence, 0), f.Fix, strings.Join(f.Tensors, ", ")})
	}
	return t
}

// InferencePath tabulates the inference path's checks (analysis.CheckInference): check,
// what it compares, max |Δlogit|, its floor, the margin against the limit, argmax agreement
// and the verdict; no rows when the diagnosis ran none.
func InferencePath(r *analysis.Report) Table {
	t := Table{Head: []string{"check", "compared", "max |Δ|", "floor", "margin / limit", "argmax agreement", "verdict"}}
	if r.Details.Inference == nil {
		return t
	}
	for _, c := range r.Details.Inference.Checks {
		verdict := map[bool]string{true: "pass", false: "FAIL"}[c.Passed]
		if c.Skipped != "" {
			verdict = "skipped: " + c.Skipped
		}
		t.Rows = append(t.Rows, []string{c.Name, c.Compared, fmt.Sprintf("%.3g", c.MaxAbsDelta), fmt.Sprintf("%.3g", c.Floor),
			fmt.Sprintf("%.3g / %g", c.Margin, c.Limit), fmt.Sprintf("%.3f", c.ArgmaxAgreement), verdict})
	}
	return t
}

// EngineFingerprint tabulates the engine fingerprint's candidates (diagnose --observed), best
// first: run, kind, top-1 agreement ± SE, mean |Δ top logit| where measured; its verdict heads
// the section. No rows without an observation.
func EngineFingerprint(r *analysis.Report) Table {
	t := Table{Head: []string{"run", "kind", "top-1 agreement", "mean |Δ top logit|"}}
	if r.Details.Engine == nil {
		return t
	}
	for _, run := range r.Details.Engine.Runs {
		if run.Skipped != "" {
			continue
		}
		mae := ""
		if run.LogitMAE > 0 {
			mae = fmt.Sprintf("%.3g", run.LogitMAE)
		}
		t.Rows = append(t.Rows, []string{run.Name, run.Kind, fmt.Sprintf("%.3f ± %.3f", run.Agreement, run.SE), mae})
	}
	return t
}

// sections are the optional sections of a document: title, a lead line and a table.
func (d Document) sections() []struct {
	title, lead string
	table       Table
} {
	type section = struct {
		title, lead string
		table       Table
	}
	var out []section
	if ip := d.Report.Details.Inference; ip != nil {
		lead := "Every check passed."
		if !ip.Passed {
			lead = "Failed: " + strings.Join(ip.Failed, ", ") + "."
		}
		if len(ip.HalfFailed) > 0 {
			lead += " In half precision the weights fail: " + strings.Join(ip.HalfFailed, ", ") + " (a reason to run them in float32, not a fault of the path)."
		}
		out = append(out, section{"Inference path", lead, InferencePath(d.Report)})
	}
	if e := d.Report.Details.Engine; e != nil {
		out = append(out, section{"Engine fingerprint", e.Verdict + ": " + e.Detail, EngineFingerprint(d.Report)})
	}
	return out
}

// Hypotheses tabulates the verdicts: id, verdict, the hypothesis and the evidence measured.
func Hypotheses(r *analysis.Report) Table {
	t := Table{Head: []string{"id", "verdict", "hypothesis", "evidence"}}
	for _, h := range r.Hypotheses {
		t.Rows = append(t.Rows, []string{h.ID, string(h.Verdict), h.Name, h.Evidence})
	}
	return t
}

// Measurements tabulates the headline measurements as (metric, value) rows; rates and plain
// CE carry "± SE", their standard error over the windows, when there are two windows or more.
// The claimed loss (meta.json's) and the alpha_logit row are the ternary model's: rows for them
// only when ternary is true.
func Measurements(r *analysis.Report, ternary bool) Table {
	m := r.Metrics
	se := func(x, e float64) string {
		if m.Windows < 2 {
			return fmt.Sprintf("%.4f", x)
		}
		return fmt.Sprintf("%.4f ± %.4f", x, e)
	}
	rows := [][]string{
		{"copy rate", se(m.CopyRate, m.CopyRateSE)},
		{"next-token accuracy", se(m.NextTokenAccuracy, m.NextTokenAccuracySE)},
		{"copy rate (next != current)", se(m.CopyRateNonRepeat, m.CopyRateNonRepeatSE)},
		{"next-token acc. (next != current)", se(m.NextAccuracyNonRepeat, m.NextAccuracyNonRepeatSE)},
		{"repeat rate (next == current)", fmt.Sprintf("%.4f", m.RepeatRate)},
		{"loss shifted (CE / smoothed)", fmt.Sprintf("%s / %.4f", se(m.LossShifted, m.LossShiftedSE), m.LossShiftedSmoothed)},
		{"loss unshifted (CE / smoothed)", fmt.Sprintf("%s / %.4f", se(m.LossUnshifted, m.LossUnshiftedSE), m.LossUnshiftedSmoothed)},
		{"claimed loss (meta.json)", fmt.Sprintf("%.4g", m.ClaimedLoss)},
		{"unigram entropy of the data", fmt.Sprintf("%.4f", m.UnigramEntropy)},
		{"init-like", fmt.Sprintf("%v (%d/%d tensors moved from init)", m.InitLike, m.TensorsMoved, m.Tensors)},
		{"top logit within 1% of self logit", fmt.Sprintf("%.4f", m.SelfSimilarityShare)},
		{"mean top / self logit", fmt.Sprintf("%.3f / %.3f", m.MeanTopLogit, m.MeanSelfLogit)},
		{"parity max |dlogits|", fmt.Sprintf("%.3g", m.ParityMaxAbsDelta)},
		{"alpha_logit all 0 / grads all 0", fmt.Sprintf("%v / %v", m.AlphaLogitsAllZero, m.AlphaGradsAllZero)},
		{"dead parameters (grad exactly 0)", fmt.Sprintf("%d", m.DeadParams)},
		{"loader hashes match file", fmt.Sprintf("%v", m.LoaderHashesMatch)},
	}
	rows = slices.DeleteFunc(rows, func(row []string) bool {
		return !ternary && (row[0] == "claimed loss (meta.json)" || strings.HasPrefix(row[0], "alpha_logit"))
	})
	return Table{Head: []string{"metric", "value"}, Rows: rows}
}

// Document is a shareable diagnosis: the verdict and the findings first, then the summary,
// the setup (what was diagnosed on what, one line each), the hypotheses, the headline
// measurements and the figures embedded as PNG data, so that one file carries everything.
type Document struct {
	Title        string
	Setup        []string
	Report       *analysis.Report
	Measurements Table // e.g. Measurements(Report, ternary)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// mdCell escapes a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// WriteMarkdown writes the document as Markdown (GitHub's tables; figures as data URLs).
func (d Document) WriteMarkdown(w io.Writer) error {
	r := d.Report
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n**Healthy: %s**\n\n## Findings\n\n", d.Title, yesNo(r.Healthy))
	if fs := Findings(r); len(fs.Rows) == 0 {
		b.WriteString("None.\n\n")
	} else {
		b.WriteString("| kind | detail | evidence | fix | tensors |\n|---|---|---|---|---|\n")
		for _, c := range fs.Rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", c[0], mdCell(c[1]), mdCell(c[2]), mdCell(c[3]), mdCell(c[4]))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Summary\n\n%s\n\n## Setup\n\n", r.Summary)
	for _, line := range d.Setup {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n## Hypotheses\n\n| | verdict | hypothesis | evidence |\n|---|---|---|---|\n")
	for _, c := range Hypotheses(r).Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c[0], c[1], mdCell(c[2]), mdCell(c[3]))
	}
	b.WriteString("\n## Measurements\n\n| metric | value |\n|---|---|\n")
	for _, row := range d.Measurements.Rows {
		fmt.Fprintf(&b, "| %s | %s |\n", mdCell(row[0]), mdCell(row[1]))
	}
	for _, sec := range d.sections() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n|%s|\n|%s\n", sec.title, mdCell(sec.lead), strings.Join(sec.table.Head, "|"), strings.Repeat("---|", len(sec.table.Head)))
		for _, row := range sec.table.Rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = mdCell(c)
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	for _, f := range Figures(r) {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n![%s](data:image/png;base64,%s)\n", f.Title, f.Caption, f.Title, base64.StdEncoding.EncodeToString(f.PNG))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHTML writes the document as one HTML page (figures as data URLs).
func (d Document) WriteHTML(w io.Writer) error {
	r := d.Report
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n", e(d.Title))
	b.WriteString("<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}.no{color:#b00}.yes{color:#070}img{max-width:100%}</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p><strong class=\"%s\">Healthy: %s</strong></p>\n<h2>Findings</h2>\n", e(d.Title), yesNo(r.Healthy), yesNo(r.Healthy))
	if fs := Findings(r); len(fs.Rows) == 0 {
		b.WriteString("<p>None.</p>\n")
	} else {
		b.WriteString("<table><tr><th>kind</th><th>detail</th><th>evidence</th><th>fix</th><th>tensors</th></tr>\n")
		for _, c := range fs.Rows {
			fmt.Fprintf(&b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(c[0]), e(c[1]), e(c[2]), e(c[3]), e(c[4]))
		}
		b.WriteString("</table>\n")
	}
	fmt.Fprintf(&b, "<h2>Summary</h2>\n<p>%s</p>\n<h2>Setup</h2>\n<ul>\n", e(r.Summary))
	for _, line := range d.Setup {
		fmt.Fprintf(&b, "<li>%s</li>\n", e(line))
	}
	b.WriteString("</ul>\n<h2>Hypotheses</h2>\n<table><tr><th></th><th>verdict</th><th>hypothesis</th><th>evidence</th></tr>\n")
	for _, c := range Hypotheses(r).Rows {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(c[0]), e(c[1]), e(c[2]), e(c[3]))
	}
	b.WriteString("</table>\n<h2>Measurements</h2>\n<table><tr><th>metric</th><th>value</th></tr>\n")
	for _, row := range d.Measurements.Rows {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>\n", e(row[0]), e(row[1]))
	}
	b.WriteString("</table>\n")
	for _, sec := range d.sections() {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<p>%s</p>\n<table><tr>", e(sec.title), e(sec.lead))
		for _, h := range sec.table.Head {
			fmt.Fprintf(&b, "<th>%s</th>", e(h))
		}
		b.WriteString("</tr>\n")
		for _, row := range sec.table.Rows {
			b.WriteString("<tr>")
			for _, c := range row {
				fmt.Fprintf(&b, "<td>%s</td>", e(c))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	for _, f := range Figures(r) {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<p>%s</p>\n<img alt=\"%s\" src=\"data:image/png;base64,%s\">\n", e(f.Title), e(f.Caption), e(f.Title), base64.StdEncoding.EncodeToString(f.PNG))
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
