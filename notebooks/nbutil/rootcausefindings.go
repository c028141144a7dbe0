package nbutil

// What notebook 10's sections measure and its summary quotes, kept in one JSON file between
// cells (each cell is a process of its own).

import "path/filepath"

// RootCauseResults is the file, relative to the repository root.
const RootCauseResults = "out/results/10_root_cause.json"

// RootCauseFindings are the numbers notebook 10's summary quotes.
type RootCauseFindings struct {
	Dim, Tensors, D20Dim        int
	BuggyMatched, StrictMatched int
	BuggyMatches                []string
	CPUBuggy, CPUStrict         SelfPredictions
	D20Fresh, D20Trained        SelfPredictions // trained: from d20_logits.json (strict loader)
	MissingTensorError          string
	AlphaNoOpDelta              float64 // max |Δlogit| of the trained model with alpha_logit 5.0 vs 0.0
	AlphaGrads                  map[string]map[string]float64
	AsymAlphaDelta              float64 // the same with the asymmetric init
}

// UpdateRootCause applies f to the findings in root/RootCauseResults and writes them back.
func UpdateRootCause(root string, f func(r *RootCauseFindings)) {
	Must(0, UpdateJSONFile(filepath.Join(root, RootCauseResults), f))
}

// ReadRootCause reads the findings in root/RootCauseResults.
func ReadRootCause(root string) (r RootCauseFindings, err error) {
	return r, ReadJSONFile(filepath.Join(root, RootCauseResults), &r)
}
