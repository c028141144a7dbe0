package nbutil

// The summary of notebook 12: a diagnosis's findings and verdicts in a line each.

import "nanoscope/analysis"

// FindingKinds lists the kinds of rep's findings as inline code, each followed by a space,
// or "none".
func FindingKinds(rep *analysis.Report) string {
	if len(rep.Findings) == 0 {
		return "none"
	}
	kinds := ""
	for _, f := range rep.Findings {
		kinds += "`" + f.Kind + "` "
	}
	return kinds
}

// VerdictList returns "H1 refuted", "H2 …", … for rep's hypotheses, in order.
func VerdictList(rep *analysis.Report) []string {
	var verdicts []string
	for _, h := range rep.Hypotheses {
		verdicts = append(verdicts, h.ID+" "+string(h.Verdict))
	}
	return verdicts
}
