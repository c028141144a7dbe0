package nbutil

// The mHC alpha_logits in notebook 06: which parameters are alpha_logits, the values a file
// holds, and whether a model still copies once they are changed.

import (
	"slices"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
)

// AlphaLogitsAmong returns the alpha_logits among names (gomlxmodel.IsAlphaLogit), in their order.
func AlphaLogitsAmong(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !gomlxmodel.IsAlphaLogit(n) })
}

// AlphaLogitsInFile returns the distinct alpha_logit values of an inspected checkpoint, in
// increasing order, and how many alpha_logits it has.
func AlphaLogitsInFile(in analysis.Inspection) (distinct []float64, n int) {
	var logits []float64
	for _, a := range in.Alphas {
		logits = append(logits, a.Logit)
	}
	return slices.Compact(slices.Sorted(slices.Values(logits))), len(logits)
}

// ArgmaxCopies counts the positions t whose argmax over logits[t·V:(t+1)·V] is ids[t].
func ArgmaxCopies(logits []float32, ids []int, V int) int {
	copies := 0
	for t, id := range ids {
		if analysis.TopIndices(logits[t*V:(t+1)*V], 1)[0] == id {
			copies++
		}
	}
	return copies
}
