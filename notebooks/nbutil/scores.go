package nbutil

import (
	"fmt"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gallery"
	"nanoscope/plots/nbdisplay"
)

// ShowScores tabulates the scores of a diagnosed gallery (gallery.Run): recall and precision
// per kind, then the builds left out as no fault, and returns the one-line summary of the
// rates the targets are stated in.
func ShowScores(results []gallery.Result, sc analysis.Scores) string {
	var rows [][]string
	for _, k := range sc.Kinds {
		rows = append(rows, []string{k.Kind, fmt.Sprintf("%.2f (%d/%d)", k.Recall, k.TP, k.TP+k.FN), fmt.Sprintf("%.2f (%d/%d)", k.Precision, k.TP, k.TP+k.FP)})
	}
	nbdisplay.ShowTable([]string{"kind", "recall", "precision"}, rows)
	var out []string
	for _, r := range results {
		if !r.Counted {
			out = append(out, fmt.Sprintf("*%s* (its own convention gains %.3f ± %.3f nats)", r.Case.Name, r.Gain, r.SE))
		}
	}
	left := "none"
	if len(out) > 0 {
		left = strings.Join(out, "; ")
	}
	return fmt.Sprintf("%d faulty builds: %d called healthy, %d given a wrong kind, %d unexplained (%s); %d healthy controls: %d flagged. Left out as no fault: %s.",
		sc.Faulty, len(sc.FalseHealthy), len(sc.WrongKind), len(sc.Unexplained), strings.Join(sc.Unexplained, ", "), sc.Healthy, len(sc.HealthyFlagged), left)
}
