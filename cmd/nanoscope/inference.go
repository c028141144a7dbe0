package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
)

// inferenceChecks runs the reference-free checks of nanoscope's inference path on the first
// evaluation ids (model ids), with the tokenizer's BOS where the checkpoint names one.
func inferenceChecks(l *load.Loaded, tokens []uint32) (*analysis.InferencePath, error) {
	ids := make([]int32, 0, 32)
	for _, x := range tokens[:min(len(tokens), 32)] {
		ids = append(ids, int32(x))
	}
	return analysis.CheckInference(l.Family, l.Params, ids, l.BOS, "")
}

// printInference writes the "inference path" section: each check's max |Δ| against its
// rounding floor.
func printInference(w io.Writer, p *analysis.InferencePath) {
	if p == nil {
		return
	}
	verdict := "every check of the path passes"
	if !p.Passed {
		verdict = fmt.Sprintf("FAILED: %v", p.Failed)
	}
	if len(p.HalfFailed) > 0 {
		verdict += fmt.Sprintf("; the weights do not survive %v (overflow or drift beyond the format's floor): run them in float32", p.HalfFailed)
	}
	fmt.Fprintf(w, "\ninference path (%d positions, max |logit| %.3g, float32 rounding floor %.3g): %s\n", p.Positions, p.MaxAbsLogit, p.Floor, verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  check\tmax |Δ|\t× floor (limit)\targmax agrees\tnon-finite\t\n")
	for _, c := range p.Checks {
		if c.Skipped != "" {
			fmt.Fprintf(tw, "  %s\tskipped: %s\t\t\t\t\n", c.Name, c.Skipped)
			continue
		}
		status := "ok"
		if !c.Passed {
			status = "FAIL"
		}
		extra := ""
		switch {
		case c.FirstDiverging != nil && *c.FirstDiverging >= 0:
			extra = fmt.Sprintf("first diverging decoded step %d (prefill max |Δ| %.3g)", *c.FirstDiverging, *c.PrefillMaxAbsDelta)
		case c.CEWithBOS != nil:
			extra = fmt.Sprintf("CE with BOS %.3f, without %.3f nats", *c.CEWithBOS, *c.CEWithoutBOS)
		}
		fmt.Fprintf(tw, "  %s\t%.3g\t%.3g (%g)\t%.2f\t%d\t%s %s\n", c.Name, c.MaxAbsDelta, c.Margin, c.Limit, c.ArgmaxAgreement, c.NonFinite, status, extra)
	}
	tw.Flush()
}
