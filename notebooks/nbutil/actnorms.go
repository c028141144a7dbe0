package nbutil

// Activation norms (notebook 04): how much each block changes the residual stream, at a
// checkpoint and over a run's metrics.

import (
	"math"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// RunActs reads the activation-norm series of the run in dir (relative to root).
func RunActs(root, dir string) (analysis.RunActNorms, error) {
	ms, err := RunMetrics(root, dir)
	return analysis.RunActivationNorms(ms), err
}

// SeriesValues returns the values of the series called name.
func SeriesValues(ss []analysis.Series, name string) []float64 {
	for _, s := range ss {
		if s.Name == name {
			return s.Values
		}
	}
	panic("no series " + name)
}

// ActLabel turns a hook name of a block, or a ratio name of analysis.RatioName, into a plot
// label: "blocks.1.ffn.hook_out" → "block 1 FFN out", "blocks.1.hook_resid_post.s0" →
// "block 1 residual s0", "blocks.1.attn.hook_out/hook_resid_post.s0" → "block 1 attn / resid".
// Other names are returned as they are.
func ActLabel(name string) string {
	hook, _, ratio := strings.Cut(name, "/")
	n, err := gomlxmodel.ParseName(hook)
	if err != nil || n.Root != gomlxmodel.RootBlocks {
		return name
	}
	block := "block " + strconv.Itoa(n.Block)
	out := map[string]string{gomlxmodel.SubAttn: " attention out", gomlxmodel.SubFFN: " FFN out"}[n.Sub]
	switch {
	case ratio && out != "" && name == analysis.RatioName(n.Block, n.Sub):
		return block + map[string]string{gomlxmodel.SubAttn: " attn / resid", gomlxmodel.SubFFN: " FFN / resid"}[n.Sub]
	case !ratio && out != "" && n.Leaf == gomlxmodel.HookOut:
		return block + out
	case !ratio && n.Sub == "" && n.Leaf == gomlxmodel.HookResidPost && n.Stream >= 0:
		return block + " residual s" + strconv.Itoa(n.Stream)
	}
	return name
}

// RatioRange is the range over blocks of the attention and FFN output RMS relative to the
// residual each joins, and the largest max|s0 − s1| leaving a block.
type RatioRange struct{ Lo, Hi, Asym float64 }

// ShowActNorms tabulates ActivationNorms of several models and returns each one's RatioRange.
func ShowActNorms(names []string, ans []analysis.ActNorms) []RatioRange {
	var rows [][]string
	var out []RatioRange
	for i, an := range ans {
		r := RatioRange{Lo: math.Inf(1), Hi: math.Inf(-1)}
		for _, l := range an.Layers {
			rows = append(rows, []string{names[i], strconv.Itoa(l.Layer), G3(l.ResidPre), G3(l.AttnOut), G3(l.AttnRatio),
				G3(l.ResidMid), G3(l.FFNOut), G3(l.FFNRatio), G3(l.ResidPost), G3(l.StreamAsymmetry)})
			r.Lo, r.Hi = min(r.Lo, l.AttnRatio, l.FFNRatio), max(r.Hi, l.AttnRatio, l.FFNRatio)
			r.Asym = max(r.Asym, l.StreamAsymmetry)
		}
		out = append(out, r)
	}
	nbdisplay.ShowTable([]string{"model", "block", "residual in", "attention out", "attn / residual", "residual mid", "FFN out", "FFN / residual", "residual out", "max|s0 − s1|"}, rows)
	return out
}

// RunChange summarises a run's activation norms: for each block its larger output (attention
// or FFN) relative to the residual s0 leaving it — the range over blocks at the first and the
// last logged step, the first step from which every block stays above 0.05 (From, −1 if
// none), the smallest value after the first tenth of the run (MinLate, from step LateFrom) —
// and at how many logged steps the RMS of s0 and s1 leaving some block differ.
type RunChange struct {
	Layers, Steps, FirstStep, LastStep int
	Lo0, Hi0, LoN, HiN, MinLate        float64
	From, LateFrom, StreamsDiffer      int
}

// RunChangeOf computes the RunChange of a run.
func RunChangeOf(an analysis.RunActNorms) RunChange {
	n := len(an.Steps)
	rc := RunChange{Steps: n, FirstStep: an.Steps[0], LastStep: an.Steps[n-1], From: -1, LateFrom: an.Steps[n/10], MinLate: math.Inf(1)}
	for _, s := range an.Series {
		if n, err := gomlxmodel.ParseName(s.Name); err == nil && n.Sub == "" && n.Leaf == gomlxmodel.HookResidPost && n.Stream == 0 {
			rc.Layers++
		}
	}
	change := func(i int) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for l := 0; l < rc.Layers; l++ {
			r := max(SeriesValues(an.Ratios, analysis.RatioName(l, gomlxmodel.SubAttn))[i], SeriesValues(an.Ratios, analysis.RatioName(l, gomlxmodel.SubFFN))[i])
			lo, hi = min(lo, r), max(hi, r)
		}
		return lo, hi
	}
	rc.Lo0, rc.Hi0 = change(0)
	rc.LoN, rc.HiN = change(n - 1)
	for i := n - 1; i >= 0; i-- {
		if lo, _ := change(i); lo < 0.05 {
			break
		}
		rc.From = an.Steps[i]
	}
	for i := n / 10; i < n; i++ {
		lo, _ := change(i)
		rc.MinLate = min(rc.MinLate, lo)
	}
	for i := range an.Steps {
		for l := 0; l < rc.Layers; l++ {
			s0, s1 := gomlxmodel.StreamHook(l, gomlxmodel.HookResidPost, 0), gomlxmodel.StreamHook(l, gomlxmodel.HookResidPost, 1)
			if SeriesValues(an.Series, s0)[i] != SeriesValues(an.Series, s1)[i] {
				rc.StreamsDiffer++
				break
			}
		}
	}
	return rc
}

// PlotRunActs draws a run's activation RMS per block (hooks: the hook names after
// "blocks.{i}.") and its sub-block output / residual ratios, on log axes.
func PlotRunActs(an analysis.RunActNorms, normsName, normsTitle, ratiosName, ratiosTitle string, hooks ...string) {
	var norms, ratios []plots.Series
	for l := 0; l < RunChangeOf(an).Layers; l++ {
		for _, h := range hooks {
			n := gomlxmodel.BlockHook(l, h)
			norms = append(norms, StepSeries(ActLabel(n), an.Steps, SeriesValues(an.Series, n)))
		}
	}
	Save(plots.LinesOverSteps(normsName, normsTitle, "RMS (log scale)", norms, true))
	for _, r := range an.Ratios {
		ratios = append(ratios, StepSeries(ActLabel(r.Name), an.Steps, r.Values))
	}
	Save(plots.LinesOverSteps(ratiosName, ratiosTitle, "RMS ratio (log scale)", ratios, true))
}
