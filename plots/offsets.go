package plots

import "fmt"

// OffsetLabel is the x axis of OffsetCurves.
const OffsetLabel = "target offset k (scored against the token at t+k; 1 = next token)"

// OffsetCurves plots cross-entropy against the target offset k, one line per model (X the
// offsets, Y the CE at each), with dashed horizontal reference lines such as the unigram CE:
// a next-token model has its minimum at k = 1, a model trained on shifted labels elsewhere, and
// a context-free one is flat at the unigram line.
func OffsetCurves(name, title string, series []Series, ref []HLine) (Figure, error) {
	const fn = "OffsetCurves"
	if err := checkSeries(fn, series, false); err != nil {
		return Figure{}, err
	}
	for i, r := range ref {
		if b := badNumber(r.Y); b != "" {
			return Figure{}, fmt.Errorf("plots: %s: %s Y is %s", fn, describe("reference line", i, r.Label), b)
		}
	}
	return linesFigure(name, title, OffsetLabel, LossLabel, series, ref, false)
}
