package nbutil

// The hypotheses H1–H7 diagnosed on three checkpoints (notebook 09): the reports written by
// its first experiment and the tables and figures that show them.

import (
	"fmt"
	"path/filepath"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
	"nanoscope/report"
)

// DiagnosisSubject is a checkpoint diagnosed in notebook 09: its report file key, label and
// directory.
type DiagnosisSubject struct{ Key, Label, Dir string }

// DiagnosisSubjects are the three checkpoints of notebook 09.
var DiagnosisSubjects = []DiagnosisSubject{
	{"cpu", "trained (out/cpu)", CPUModelDir},
	{"fresh", "fresh, claims 3.29", FreshClaimsDir},
	{"unshifted", "unshifted control", UnshiftedModelDir},
}

// HypothesisIDs are the hypotheses in order, and HypothesisShort their labels in figures.
var (
	HypothesisIDs   = []string{"H1", "H2", "H3", "H4", "H5", "H6", "H7"}
	HypothesisShort = map[string]string{"H1": "no target shift", "H2": "train ≠ inference", "H3": "ternary STE",
		"H4": "tied self-similarity", "H5": "optimizer minimum", "H6": "wrong weights", "H7": "alpha no gradient"}
)

// ReportPath is where notebook 09 writes the report of the subject with key.
func ReportPath(root, key string) string {
	return filepath.Join(root, DiagnoseOutDir, "09_"+key+".json")
}

// Reports reads the three reports notebook 09's first experiment wrote.
func Reports(root string) ([]analysis.Report, error) {
	var out []analysis.Report
	for _, s := range DiagnosisSubjects {
		var r analysis.Report
		if err := ReadJSONFile(ReportPath(root, s.Key), &r); err != nil {
			return nil, fmt.Errorf("%w (run experiment 1 first)", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Evidence shows hypothesis id's verdict, evidence and deciding numbers (Verdict.Numbers) for
// each report, and returns the verdicts.
func Evidence(rs []analysis.Report, id string) []string {
	var rows [][]string
	var vs []string
	for i := range rs {
		v := Must(rs[i].Hypothesis(id))
		rows = append(rows, []string{DiagnosisSubjects[i].Label, string(v.Verdict), v.Evidence, analysis.EvidenceText(v.Numbers, 0)})
		vs = append(vs, string(v.Verdict))
	}
	nbdisplay.Markdown(fmt.Sprintf("**%s — %s**", id, Must(rs[0].Hypothesis(id)).Name))
	nbdisplay.ShowTable([]string{"checkpoint", "verdict", "evidence (measured)", "deciding numbers"}, rows)
	return vs
}

// ShowVerdicts shows the verdicts of every hypothesis for every report as a table and as a
// categorical heat map with the verdicts written in its cells.
func ShowVerdicts(name string, rs []analysis.Report) {
	headers := []string{"hypothesis"}
	var cols []string
	for _, s := range DiagnosisSubjects {
		headers, cols = append(headers, s.Label), append(cols, s.Label)
	}
	var rows, cells [][]string
	var labels []string
	for _, id := range HypothesisIDs {
		row := []string{id + " " + Must(rs[0].Hypothesis(id)).Name}
		var vs []string
		for i := range rs {
			vs = append(vs, string(Must(rs[i].Hypothesis(id)).Verdict))
		}
		rows, cells = append(rows, append(row, vs...)), append(cells, vs)
		labels = append(labels, id+" "+HypothesisShort[id])
	}
	nbdisplay.ShowTable(headers, rows)
	Save(plots.CategoricalHeatmap(name, "Verdicts of H1–H7 per checkpoint", "checkpoint", "hypothesis", labels, cols, cells, plots.VerdictCategories))
}

// ShowMetrics shows the key numbers behind the verdicts, one column per report.
func ShowMetrics(rs []analysis.Report) {
	var rows [][]string
	add := func(name string, f func(m analysis.Metrics) string) {
		row := []string{name}
		for _, r := range rs {
			row = append(row, f(r.Metrics))
		}
		rows = append(rows, row)
	}
	b := func(x bool) string { return fmt.Sprint(x) }
	add("copy rate", func(m analysis.Metrics) string { return Pct(m.CopyRate) })
	add("next-token accuracy", func(m analysis.Metrics) string { return Pct(m.NextTokenAccuracy) })
	add("copy rate, next ≠ current", func(m analysis.Metrics) string { return Pct(m.CopyRateNonRepeat) })
	add("next-token acc., next ≠ current", func(m analysis.Metrics) string { return Pct(m.NextAccuracyNonRepeat) })
	add("CE shifted / unshifted", func(m analysis.Metrics) string { return fmt.Sprintf("%.3f / %.3f", m.LossShifted, m.LossUnshifted) })
	add("smoothed loss: claimed / measured", func(m analysis.Metrics) string {
		return fmt.Sprintf("%.3f / %.3f (lower of the two)", m.ClaimedLoss, min(m.LossShiftedSmoothed, m.LossUnshiftedSmoothed))
	})
	add("unigram entropy", func(m analysis.Metrics) string { return fmt.Sprintf("%.3f", m.UnigramEntropy) })
	add("init-like (tensors moved)", func(m analysis.Metrics) string {
		return fmt.Sprintf("%v (%d/%d)", m.InitLike, m.TensorsMoved, m.Tensors)
	})
	add("top logit ≈ self logit", func(m analysis.Metrics) string { return Pct(m.SelfSimilarityShare) })
	add("mean top / self logit", func(m analysis.Metrics) string { return fmt.Sprintf("%.1f / %.1f", m.MeanTopLogit, m.MeanSelfLogit) })
	add("train/inference max |Δlogit|", func(m analysis.Metrics) string { return fmt.Sprintf("%.3g", m.ParityMaxAbsDelta) })
	add("alpha_logit all 0 / grads all 0", func(m analysis.Metrics) string { return b(m.AlphaLogitsAllZero) + " / " + b(m.AlphaGradsAllZero) })
	add("dead parameters", func(m analysis.Metrics) string { return fmt.Sprint(m.DeadParams) })
	add("loader hashes match", func(m analysis.Metrics) string { return b(m.LoaderHashesMatch) })
	add("observation: file / fresh seeds reproduce", func(m analysis.Metrics) string {
		return fmt.Sprintf("%v / %d of 3", *m.ObservationFileReproduces, *m.ObservationFreshReproduces)
	})
	headers := []string{"metric"}
	for _, s := range DiagnosisSubjects {
		headers = append(headers, s.Label)
	}
	nbdisplay.ShowTable(headers, rows)
}

// ShowParity tabulates the train/inference parity of each report (H2).
func ShowParity(rs []analysis.Report) {
	var rows [][]string
	for i, r := range rs {
		p := r.Details.Parity
		rows = append(rows, []string{DiagnosisSubjects[i].Label, fmt.Sprint(p.Positions), fmt.Sprintf("%.3g", p.MaxAbsDelta), fmt.Sprintf("%.3g", p.MaxAbsLogit), Pct(p.ArgmaxAgreement), Pct(p.PositionsOverTol)})
	}
	nbdisplay.ShowTable([]string{"checkpoint", "positions", "max |Δlogit|", "max |logit|", "argmax agreement", "positions with |Δ| > 1e-3"}, rows)
}

// ShowTernaryOff tabulates copy rate and next-token accuracy with and without ternary
// quantisation (H3).
func ShowTernaryOff(rs []analysis.Report) {
	var rows [][]string
	for i, r := range rs {
		a, off := r.Details.Alignment, r.Details.TernaryOff
		rows = append(rows, []string{DiagnosisSubjects[i].Label, Pct(a.CopyRateNonRepeat), Pct(a.NextAccuracyNonRepeat), Pct(off.CopyRateNonRepeat), Pct(off.NextAccuracyNonRepeat)})
	}
	nbdisplay.ShowTable([]string{"checkpoint", "copy rate (ternary)", "next acc. (ternary)", "copy rate (quantisation off)", "next acc. (quantisation off)"}, rows)
}

// LensCopyFigure draws the logit lens's copy rate at the embedding and after each block
// (mean of the two streams) for each report (H4).
func LensCopyFigure(name string, rs []analysis.Report) (plots.Figure, error) {
	var groups []string
	var series []plots.BarSeries
	for i, r := range rs {
		var vals []float64
		groups = groups[:0]
		for _, p := range r.Details.Lens.Points {
			if p.Stream == "embed" {
				vals, groups = append(vals, 100*p.CopyRate), append(groups, "embedding")
			} else if p.Stream == "mean" {
				vals, groups = append(vals, 100*p.CopyRate), append(groups, "after "+p.Point)
			}
		}
		series = append(series, plots.BarSeries{Label: DiagnosisSubjects[i].Label, Values: vals})
	}
	return plots.GroupedBars(name, "Logit lens: copy rate per stage", "copy rate (% of positions)", groups, series)
}

// ShowDrift tabulates the losses, the drift from initialisation and the dead parameters (H5).
func ShowDrift(rs []analysis.Report) {
	var rows [][]string
	for i, r := range rs {
		d := r.Details.Drift
		rows = append(rows, []string{DiagnosisSubjects[i].Label, fmt.Sprintf("%.3f", r.Metrics.LossShifted), fmt.Sprintf("%.3f", r.Metrics.UnigramEntropy),
			fmt.Sprintf("%d/%d", len(d.Moved), d.Total), fmt.Sprintf("%d/%d", d.AtInitCount, d.ConstCount), strings.Join(r.Details.GradFlow.Dead, ", ")})
	}
	nbdisplay.ShowTable([]string{"checkpoint", "CE shifted", "unigram entropy", "tensors moved from init", "constant-init tensors still exactly at init", "parameters with exactly zero gradient"}, rows)
}

// ShowAlphaState tabulates the mHC alpha state of each report (H7).
func ShowAlphaState(rs []analysis.Report) {
	var rows [][]string
	for i, r := range rs {
		asym := 0.0
		for _, l := range r.Details.ActNorms.Layers {
			asym = max(asym, l.StreamAsymmetry)
		}
		run := "no metrics.jsonl"
		if r.Details.Run != nil {
			zero, total := 0, 0
			for _, g := range r.Details.Run.GradFlow.Params {
				if gomlxmodel.IsAlphaLogit(g.Name) {
					total++
					if g.ZeroSteps == r.Details.Run.Steps {
						zero++
					}
				}
			}
			run = fmt.Sprintf("%d/%d zero at all %d steps", zero, total, r.Details.Run.Steps)
		}
		sw := r.Details.AlphaSwap
		rows = append(rows, []string{DiagnosisSubjects[i].Label, fmt.Sprint(r.Metrics.AlphaLogitsAllZero), fmt.Sprintf("%d/%d", NonZero(r.Details.GradFlow.AlphaGrads), len(r.Details.GradFlow.AlphaGrads)),
			run, fmt.Sprint(r.Details.MHCSymmetric), fmt.Sprintf("%g", asym), fmt.Sprintf("%.3g (of max |logit| %.3g)", sw.MaxAbsDelta, sw.MaxAbsLogit)})
	}
	nbdisplay.ShowTable([]string{"checkpoint", "all alpha_logit = 0", "non-zero alpha gradients (batch)", "alpha gradients in the run", "mHC pre/post symmetric", "max |s0 − s1|", "max |Δlogit| with alpha_logit = 5"}, rows)
}

// ShowHypotheses tabulates one report's verdicts with their evidence (report.Hypotheses),
// the verdict column headed verdictHeader.
func ShowHypotheses(r analysis.Report, verdictHeader string) {
	t := report.Hypotheses(&r)
	t.Head[1] = verdictHeader
	ShowReportTable(t)
}
