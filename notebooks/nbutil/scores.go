package nbutil

import (
	"fmt"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gallery"
	"nanoscope/plots/nbdisplay"
)

// ShowScores tabulates the scores of the diagnosed gallery (gallery.Run) as one table: per
// kind, how many counted builds of each set it has, its recall and precision; then the builds
// left out (convention faults that are no fault, inference faults inert on their model), and
// returns the one-line summary of the rates the targets are stated in.
func ShowScores(results []gallery.Result, sc analysis.Scores) string {
	sets := map[string]map[string]int{} // kind → set → counted builds
	for _, r := range results {
		if !r.Counted || r.Build.Kind == "" {
			continue
		}
		if sets[r.Build.Kind] == nil {
			sets[r.Build.Kind] = map[string]int{}
		}
		sets[r.Build.Kind][r.Build.Set]++
	}
	var rows [][]string
	for _, k := range sc.Kinds {
		var in []string
		for _, s := range []string{gallery.SetTernary, gallery.SetFamily, gallery.SetInference} {
			if n := sets[k.Kind][s]; n > 0 {
				in = append(in, fmt.Sprintf("%s %d", s, n))
			}
		}
		rows = append(rows, []string{k.Kind, strings.Join(in, ", "), fmt.Sprintf("%.2f (%d/%d)", k.Recall, k.TP, k.TP+k.FN), fmt.Sprintf("%.2f (%d/%d)", k.Precision, k.TP, k.TP+k.FP)})
	}
	nbdisplay.ShowTable([]string{"kind", "builds", "recall", "precision"}, rows)
	var out []string
	healthy := map[string]int{}
	for _, r := range results {
		switch {
		case r.Counted && r.Build.Kind == "":
			healthy[r.Build.Set]++
		case !r.Counted && r.Inference != nil:
			out = append(out, fmt.Sprintf("*%s* (%s)", r.Build.Name, r.Inference.Skipped))
		case !r.Counted:
			out = append(out, fmt.Sprintf("*%s* (its own convention gains %.3f ± %.3f nats)", r.Build.Name, r.Gain, r.SE))
		}
	}
	left := "none"
	if len(out) > 0 {
		left = strings.Join(out, "; ")
	}
	return fmt.Sprintf("%d faulty builds: %d called healthy (%.3f), %d given a wrong kind (%.3f), %d unexplained (%s); %d healthy controls (ternary %d, family %d, clean inference paths %d): %d flagged (%.3f). Left out: %s.",
		sc.Faulty, len(sc.FalseHealthy), sc.FalseHealthyRate(), len(sc.WrongKind), sc.WrongKindRate(), len(sc.Unexplained), strings.Join(sc.Unexplained, ", "),
		sc.Healthy, healthy[gallery.SetTernary], healthy[gallery.SetFamily], healthy[gallery.SetInference], len(sc.HealthyFlagged), sc.HealthyFlaggedRate(), left)
}

// ShowInferenceRows tabulates the inference rows of the gallery: per model and fault, the check
// that isolates the fault with its margin over the rounding floor (limit 100), the checks that
// failed, and the engine fingerprint's verdict with the kind of the run it named.
func ShowInferenceRows(results []gallery.Result) {
	var rows [][]string
	for _, r := range results {
		in := r.Inference
		if in == nil {
			continue
		}
		fault, check := string(in.Fault), "—"
		if fault == "" {
			fault = "clean path"
		}
		if in.Check != "" {
			check = fmt.Sprintf("%s %.3g×", in.Check, in.Margin)
		}
		if in.Skipped != "" {
			rows = append(rows, []string{in.Model, fault, in.Observe, check, "—", "not scored: " + in.Skipped})
			continue
		}
		failed := strings.Join(in.Path.Failed, ", ")
		if failed == "" {
			failed = "none"
		}
		verdict := in.Fingerprint.Verdict
		if in.Fingerprint.BestKind != "" && verdict != "unexplained" {
			verdict += ": " + in.Fingerprint.BestKind
		}
		rows = append(rows, []string{in.Model, fault, in.Observe, check, failed, verdict})
	}
	nbdisplay.ShowTable([]string{"model", "fault", "observed", "isolating check (margin)", "checks failed", "fingerprint"}, rows)
}
