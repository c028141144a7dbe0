package nbutil

// Fresh tied models' copying by size: the note's fresh d20 next to fresh tied GPT-2s of growing
// width and depth (analysis.FreshGPT2Copying), as a table and a figure.

import (
	"fmt"
	"math"

	"nanoscope/analysis"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// FreshNoteCopying measures the note's model (a fresh d20, nbutil.FreshD20 with seed 1) the same
// way on the first T GPT-2 ids of tokens, through analysis.LogitAlignment.
func FreshNoteCopying(tokens []uint32, T int) (analysis.FreshCopy, error) {
	s, err := FreshD20(1)
	if err != nil {
		return analysis.FreshCopy{}, err
	}
	in := make([]int32, T)
	next := make([]int32, T)
	for i := range in {
		in[i], next[i] = int32(tokens[i]), int32(tokens[i+1])
	}
	a, err := analysis.LogitAlignment(s, &analysis.Windows{Index: []int{0}, Inputs: [][]int32{in}, Next: [][]int32{next}})
	if err != nil {
		return analysis.FreshCopy{}, err
	}
	ss := a.SelfSimilarity
	return analysis.FreshCopy{Model: fmt.Sprintf("the note's d20 (D=%d, %d layers, N(0, 1) embedding)", s.Config.Dim, s.Config.NLayers), D: s.Config.Dim, Layers: s.Config.NLayers,
		CopyRate: a.CopyRate, MeanTop: a.MeanMaxLogit, MeanSelf: ss.MeanSqrtDNorm, MeanSelfPos: math.NaN(), SelfShare: ss.ShareWithin1Pct, ResidRatio: math.NaN()}, nil
}

// FreshSweep measures the note's fresh d20 and fresh tied GPT-2s of growing size (width,
// layers) on the first T ids of tokens.
func FreshSweep(tokens []uint32, T int, sizes [][2]int) ([]analysis.FreshCopy, error) {
	note, err := FreshNoteCopying(tokens, T)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, T)
	for i := range ids {
		ids[i] = int32(tokens[i])
	}
	out := []analysis.FreshCopy{note}
	for _, s := range sizes {
		fc, err := analysis.FreshGPT2Copying(s[0], s[1], ids)
		if err != nil {
			return nil, err
		}
		out = append(out, fc)
	}
	return out, nil
}

// MostCopying returns the fresh GPT-2 of fs (the entries with a residual ratio) that copies most.
func MostCopying(fs []analysis.FreshCopy) analysis.FreshCopy {
	var best analysis.FreshCopy
	for _, f := range fs {
		if !math.IsNaN(f.ResidRatio) && f.CopyRate >= best.CopyRate {
			best = f
		}
	}
	return best
}

// ShowFreshCopying tabulates fresh models' copying.
func ShowFreshCopying(fs []analysis.FreshCopy) {
	var rows [][]string
	for _, f := range fs {
		num := func(x float64) string {
			if math.IsNaN(x) {
				return "—"
			}
			return fmt.Sprintf("%.2f", x)
		}
		rows = append(rows, []string{f.Model, Pct(f.CopyRate), num(f.MeanTop), num(f.MeanSelf), num(f.MeanSelfPos), Pct(f.SelfShare), num(f.ResidRatio)})
	}
	nbdisplay.ShowTable([]string{"fresh model", "copy rate", "mean top logit", "mean √D·‖e‖", "mean √D·e·(e+p)/‖e+p‖", "top within 1% of √D·‖e‖", "RMS last residual / RMS embedding"}, rows)
}

// FreshCopyFigure draws the copy rate of fresh models by size.
func FreshCopyFigure(name string, fs []analysis.FreshCopy) (plots.Figure, error) {
	var groups []string
	var cp []float64
	for _, f := range fs {
		g := fmt.Sprintf("GPT-2 %d×%d", f.D, f.Layers)
		if math.IsNaN(f.ResidRatio) {
			g = "note's d20"
		}
		groups, cp = append(groups, g), append(cp, f.CopyRate)
	}
	return plots.GroupedBars(name, "Fresh tied models: copy rate (GPT-2 width×layers)", "copy rate", groups, []plots.BarSeries{{Label: "copy rate", Values: cp}})
}
