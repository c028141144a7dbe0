package nbutil

// Tables of analysis results that several notebooks show the same way.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/plots/nbdisplay"
)

// ShowAlignments shows one row per model: positions, copy rate and next-token accuracy (over
// all positions and where the next token differs from the current one) and the mean top logit.
func ShowAlignments(names []string, as []analysis.Alignment) {
	var rows [][]string
	for i, a := range as {
		rows = append(rows, []string{names[i], strconv.Itoa(a.Positions), Pct(a.CopyRate), Pct(a.NextTokenAccuracy),
			Pct(a.CopyRateNonRepeat), Pct(a.NextAccuracyNonRepeat), fmt.Sprintf("%.1f", a.MeanMaxLogit)})
	}
	nbdisplay.ShowTable([]string{"model", "positions", "copy rate", "next-token accuracy", "copy rate (next ≠ current)",
		"next-token acc. (next ≠ current)", "mean top logit"}, rows)
}

// ShowConditions shows the conditions of an observation check: the argmax ids, the top logits
// and whether each reproduces the observation.
func ShowConditions(cs []analysis.Condition) {
	var rows [][]string
	for _, c := range cs {
		var tops []string
		for _, x := range c.TopLogits {
			tops = append(tops, fmt.Sprintf("%.1f", x))
		}
		rows = append(rows, []string{c.Name, fmt.Sprint(c.Predicted), strings.Join(tops, " "),
			fmt.Sprint(c.IDsMatch), fmt.Sprint(c.MagnitudeMatch), fmt.Sprint(c.Reproduces)})
	}
	nbdisplay.ShowTable([]string{"condition", "argmax ids", "top logits", "ids = note's", "logits in band", "reproduces"}, rows)
}

// FreshRange returns the range of the top logits over the plain fresh-seed conditions of an
// observation check (those without a variant in their name, e.g. "fresh(seed=2)").
func FreshRange(oc analysis.ObservationCheck) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, c := range oc.Conditions[1:] { // Conditions[0] runs the subject itself
		if strings.HasPrefix(c.Name, "fresh") && !strings.Contains(c.Name, ",") {
			for _, x := range c.TopLogits {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	return lo, hi
}

// Condition returns the condition of oc whose name contains part, e.g. "untied head".
func Condition(oc analysis.ObservationCheck, part string) analysis.Condition {
	for _, c := range oc.Conditions {
		if strings.Contains(c.Name, part) {
			return c
		}
	}
	panic("no observation condition " + part)
}
