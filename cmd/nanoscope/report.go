package main

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
	"nanoscope/plots"
)

// A shareable diagnosis report (diagnose --format md|html): the verdict and the findings
// first, then the summary, the hypotheses, the headline measurements and figures embedded as
// PNG data, so that one file carries everything.

// reportFigure is one embedded figure.
type reportFigure struct {
	title, caption string
	png            []byte
}

// reportFigures draws the logit lens and the losses against the targets; a figure that cannot
// be drawn is left out.
func reportFigures(r *analysis.Report) []reportFigure {
	var out []reportFigure
	d, m := r.Details, r.Metrics
	if n := len(d.Lens.Points); n > 0 {
		groups := make([]string, n)
		cp, acc := make([]float64, n), make([]float64, n)
		for i, p := range d.Lens.Points {
			groups[i] = p.Point
			if p.Stream != "" && p.Stream != p.Point {
				groups[i] += " " + p.Stream
			}
			cp[i], acc[i] = p.CopyRate, p.NextTokenAccuracy
		}
		if fig, err := plots.GroupedBars("diagnose_logit_lens", "Logit lens: each stream decoded through the head", "share of positions",
			groups, []plots.BarSeries{{Label: "copy rate", Values: cp}, {Label: "next-token accuracy", Values: acc}}); err == nil {
			out = append(out, reportFigure{"Logit lens", "Where copying appears: already at the embedding (the tied head's self-similarity) or only after some block.", fig.PNG})
		}
	}
	if cat := d.Catalog; cat != nil && len(cat.Offsets) > 0 && len(cat.AsLoaded.CE) == len(cat.Offsets) {
		groups := make([]string, len(cat.Offsets))
		for i, o := range cat.Offsets {
			groups[i] = fmt.Sprintf("t%+d", o)
		}
		series := []plots.BarSeries{{Label: "as loaded", Values: cat.AsLoaded.CE}}
		for _, c := range cat.Conditions {
			if len(c.CE) == len(cat.Offsets) {
				series = append(series, plots.BarSeries{Label: c.Condition, Values: c.CE})
			}
		}
		if fig, err := plots.GroupedBars("diagnose_ce_by_offset", fmt.Sprintf("Cross-entropy by target offset (unigram %.2f nats)", cat.Unigram), "nats",
			groups, series); err == nil {
			out = append(out, reportFigure{"Cross-entropy by target offset", "The loss of predicting the token at t+k from the context up to t: a next-token model is lowest at t+1, a copying model at t+0; the other bars re-run the weights under other conventions.", fig.PNG})
		}
	} else if fig, err := plots.GroupedBars("diagnose_losses", "Cross-entropy against the targets", "nats",
		[]string{"next token (shift 1)", "current token (shift 0)", "unigram entropy"},
		[]plots.BarSeries{{Label: "cross-entropy", Values: []float64{m.LossShifted, m.LossUnshifted, m.UnigramEntropy}}}); err == nil {
		out = append(out, reportFigure{"Losses", "A next-token model is far below the unigram entropy at shift 1; a copying model at shift 0.", fig.PNG})
	}
	return out
}

func reportTitle(l *load.Loaded) string {
	return "nanoscope diagnosis of " + l.Dir
}

// mdCell escapes a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func writeMarkdown(w io.Writer, l *load.Loaded, setup []string, r *analysis.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n**Healthy: %s**\n\n## Findings\n\n", reportTitle(l), yesNo(r.Healthy))
	if len(r.Findings) == 0 {
		b.WriteString("None.\n\n")
	} else {
		b.WriteString("| kind | detail | evidence | fix | tensors |\n|---|---|---|---|---|\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Kind, mdCell(f.Detail), mdCell(analysis.EvidenceText(f.Evidence, 0)), mdCell(f.Fix), mdCell(strings.Join(f.Tensors, ", ")))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Summary\n\n%s\n\n## Setup\n\n", r.Summary)
	for _, line := range setup {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n## Hypotheses\n\n| | verdict | hypothesis | evidence |\n|---|---|---|---|\n")
	for _, h := range r.Hypotheses {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", h.ID, h.Verdict, mdCell(h.Name), mdCell(h.Evidence))
	}
	b.WriteString("\n## Measurements\n\n| metric | value |\n|---|---|\n")
	for _, row := range metricRows(r, l) {
		fmt.Fprintf(&b, "| %s | %s |\n", mdCell(row[0]), mdCell(row[1]))
	}
	for _, f := range reportFigures(r) {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n![%s](data:image/png;base64,%s)\n", f.title, f.caption, f.title, base64.StdEncoding.EncodeToString(f.png))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeHTML(w io.Writer, l *load.Loaded, setup []string, r *analysis.Report) error {
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n", e(reportTitle(l)))
	b.WriteString("<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}.no{color:#b00}.yes{color:#070}img{max-width:100%}</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p><strong class=\"%s\">Healthy: %s</strong></p>\n<h2>Findings</h2>\n", e(reportTitle(l)), yesNo(r.Healthy), yesNo(r.Healthy))
	if len(r.Findings) == 0 {
		b.WriteString("<p>None.</p>\n")
	} else {
		b.WriteString("<table><tr><th>kind</th><th>detail</th><th>evidence</th><th>fix</th><th>tensors</th></tr>\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				e(f.Kind), e(f.Detail), e(analysis.EvidenceText(f.Evidence, 0)), e(f.Fix), e(strings.Join(f.Tensors, ", ")))
		}
		b.WriteString("</table>\n")
	}
	fmt.Fprintf(&b, "<h2>Summary</h2>\n<p>%s</p>\n<h2>Setup</h2>\n<ul>\n", e(r.Summary))
	for _, line := range setup {
		fmt.Fprintf(&b, "<li>%s</li>\n", e(line))
	}
	b.WriteString("</ul>\n<h2>Hypotheses</h2>\n<table><tr><th></th><th>verdict</th><th>hypothesis</th><th>evidence</th></tr>\n")
	for _, h := range r.Hypotheses {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(h.ID), e(h.Verdict), e(h.Name), e(h.Evidence))
	}
	b.WriteString("</table>\n<h2>Measurements</h2>\n<table><tr><th>metric</th><th>value</th></tr>\n")
	for _, row := range metricRows(r, l) {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>\n", e(row[0]), e(row[1]))
	}
	b.WriteString("</table>\n")
	for _, f := range reportFigures(r) {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<p>%s</p>\n<img alt=\"%s\" src=\"data:image/png;base64,%s\">\n", e(f.title), e(f.caption), e(f.title), base64.StdEncoding.EncodeToString(f.png))
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
