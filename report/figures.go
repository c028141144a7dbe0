// Package report draws the figures and tables of one diagnosis (an analysis.Report) and writes
// them as a shareable Markdown or HTML document. It sits above analysis (the measurements) and
// plots (the drawing): `nanoscope diagnose --format md|html` and the notebooks show a diagnosis
// through it, so that each figure and table is defined once.
package report

import (
	"fmt"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/plots"
)

// LensFigure draws the logit lens: the copy rate and next-token accuracy of each residual
// stream decoded through the final norm and the head (groups named point and stream where the
// stream is not the point itself). It fails when the report has no lens points.
func LensFigure(name string, r *analysis.Report) (plots.Figure, error) {
	pts := r.Details.Lens.Points
	if len(pts) == 0 {
		return plots.Figure{}, fmt.Errorf("report %s: no logit-lens points", r.Checkpoint)
	}
	groups := make([]string, len(pts))
	cp, acc := make([]float64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		groups[i] = p.Point
		if p.Stream != "" && p.Stream != p.Point {
			groups[i] += " " + p.Stream
		}
		cp[i], acc[i] = p.CopyRate, p.NextTokenAccuracy
	}
	return plots.GroupedBars(name, "Logit lens: each stream decoded through the head", "share of positions",
		groups, []plots.BarSeries{{Label: "copy rate", Values: cp}, {Label: "next-token accuracy", Values: acc}})
}

// OffsetFigure draws the catalog's cross-entropy (nats) against the token at t+k for each
// target offset k, as loaded and under each other convention it re-ran, with the unigram CE in
// the title. It fails when the report has no catalog or its CE rows do not match its offsets.
func OffsetFigure(name string, r *analysis.Report) (plots.Figure, error) {
	if !hasOffsets(r) {
		return plots.Figure{}, fmt.Errorf("report %s: no CE by target offset", r.Checkpoint)
	}
	cat := r.Details.Catalog
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
	return plots.GroupedBars(name, fmt.Sprintf("Cross-entropy by target offset (unigram %.2f nats)", cat.Unigram), "nats", groups, series)
}

// LossesFigure draws the cross-entropy (nats) against the next token, against the current
// token, and the unigram entropy of the data: the figure for a report without a catalog.
func LossesFigure(name string, r *analysis.Report) (plots.Figure, error) {
	m := r.Metrics
	return plots.GroupedBars(name, "Cross-entropy against the targets", "nats",
		[]string{"next token (shift 1)", "current token (shift 0)", "unigram entropy"},
		[]plots.BarSeries{{Label: "cross-entropy", Values: []float64{m.LossShifted, m.LossUnshifted, m.UnigramEntropy}}})
}

// ActNormsFigure draws the RMS of the residual stream before and after each block and of the
// attention and MLP outputs, per block (the token embedding's RMS in the title).
func ActNormsFigure(name string, r *analysis.Report) (plots.Figure, error) {
	an := r.Details.ActNorms
	var groups []string
	var pre, attn, mlp, post []float64
	for _, l := range an.Layers {
		groups = append(groups, fmt.Sprintf("block %d", l.Layer))
		pre, attn, mlp, post = append(pre, l.ResidPre), append(attn, l.AttnOut), append(mlp, l.FFNOut), append(post, l.ResidPost)
	}
	return plots.GroupedBars(name, fmt.Sprintf("Activation RMS per block (token embedding %.3g)", an.Embed), "RMS", groups,
		[]plots.BarSeries{{Label: "resid_pre", Values: pre}, {Label: "attn_out", Values: attn}, {Label: "mlp_out", Values: mlp}, {Label: "resid_post", Values: post}})
}

// GradFlowFigure draws the gradient norm of every parameter on the diagnosis's batch.
func GradFlowFigure(name string, r *analysis.Report) (plots.Figure, error) {
	var names []string
	var norms []float64
	for _, p := range r.Details.GradFlow.Params {
		names, norms = append(names, p.Name), append(norms, p.GradNorm)
	}
	return plots.GradientFlow(name, names, norms)
}

// Figure is a figure of the document with its heading and a caption that says how to read it.
type Figure struct {
	Title, Caption string
	plots.Figure
}

// Figures are the document's figures: the logit lens, then the CE by target offset (or, without
// a catalog, the losses against the targets). A figure the report lacks the data for is left
// out.
func Figures(r *analysis.Report) []Figure {
	var out []Figure
	if fig, err := LensFigure("diagnose_logit_lens", r); err == nil {
		out = append(out, Figure{"Logit lens", "Where copying appears: already at the embedding (the tied head's self-similarity) or only after some block.", fig})
	}
	if hasOffsets(r) {
		if fig, err := OffsetFigure("diagnose_ce_by_offset", r); err == nil {
			out = append(out, Figure{"Cross-entropy by target offset", "The loss of predicting the token at t+k from the context up to t: a next-token model is lowest at t+1, a copying model at t+0; the other bars re-run the weights under other conventions.", fig})
		}
	} else if fig, err := LossesFigure("diagnose_losses", r); err == nil {
		out = append(out, Figure{"Losses", "A next-token model is far below the unigram entropy at shift 1; a copying model at shift 0.", fig})
	}
	return out
}

// hasOffsets reports whether the report carries the catalog's CE at every target offset.
func hasOffsets(r *analysis.Report) bool {
	cat := r.Details.Catalog
	return cat != nil && len(cat.Offsets) > 0 && len(cat.AsLoaded.CE) == len(cat.Offsets)
}

// ShortName is a parameter name without "blocks." and ".weight", a figure's row or group
// label: "blocks.0.attn.wq.weight" → "0.attn.wq", "tok_embed.weight" → "tok_embed".
func ShortName(name string) string {
	n, err := gomlxmodel.ParseName(name)
	if err != nil {
		return name
	}
	var parts []string
	if n.Root != gomlxmodel.RootBlocks && n.Root != "" {
		parts = append(parts, n.Root)
	}
	if n.Block >= 0 {
		parts = append(parts, strconv.Itoa(n.Block))
	}
	if n.Sub != "" {
		parts = append(parts, n.Sub)
	}
	if n.Leaf != "weight" || len(parts) == 0 {
		parts = append(parts, n.Leaf)
	}
	return strings.Join(parts, ".")
}

// SwapFigure draws a report's replacement tests (catalog.Swaps): the CE change (nats) when one
// tensor alone is replaced by a fresh draw, split by the diagnosis's decision (a change beyond
// its margin: the tensor carries training); label names the checkpoint in the title. It fails
// when the report ran none.
func SwapFigure(name, label string, r *analysis.Report) (plots.Figure, error) {
	var sws []analysis.Swap
	if r.Details.Catalog != nil {
		sws = r.Details.Catalog.Swaps
	}
	if len(sws) == 0 {
		return plots.Figure{}, fmt.Errorf("%s: no replacement tests", label)
	}
	var groups []string
	yes := plots.BarSeries{Label: "costs loss: carries training"}
	no := plots.BarSeries{Label: "within the margin: no trace"}
	for _, sw := range sws {
		groups = append(groups, ShortName(sw.Tensor))
		a, b := sw.DeltaCE, 0.0
		if !sw.Informative {
			a, b = 0, sw.DeltaCE
		}
		yes.Values, no.Values = append(yes.Values, a), append(no.Values, b)
	}
	return plots.GroupedBars(name, "ΔCE per redrawn tensor ("+label+")", "ΔCE (nats/token)", groups, []plots.BarSeries{yes, no})
}
