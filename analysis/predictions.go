package analysis

import (
	"math"
	"slices"
	"sort"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// Predictions read off a logits row: the top entries with their probabilities, the
// comparison of two logit arrays, and the stream statistics a context-free or copying model
// would reach. The CLI's logits command, the report and the notebooks read them here.

// Prediction is one of the top predictions at a position: a model id, its logit and its
// softmax probability.
type Prediction struct {
	ID    int     `json:"id"`
	Logit float64 `json:"logit"`
	P     float64 `json:"p"`
}

// TopIndices returns the indices of the k largest values of row, largest first, ties by the lower
// index (all of them when k ≥ len(row)).
func TopIndices(row []float32, k int) []int {
	if k <= 64 && k < len(row) {
		return topIndicesSmall(row, k)
	}
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	return idx[:min(k, len(idx))]
}

// LogSumExp is log Σ_j exp(row[j]) in float64, computed from the row's maximum (the
// normaliser of a softmax over one position's logits).
func LogSumExp(row []float32) float64 {
	mx := math.Inf(-1)
	for _, x := range row {
		mx = max(mx, float64(x))
	}
	var z float64
	for _, x := range row {
		z += math.Exp(float64(x) - mx)
	}
	return mx + math.Log(z)
}

// TopPredictions runs ids through the subject's inference path as one sequence and returns,
// for each of its positions, the top k predictions (TopIndices) with their logits and softmax
// probabilities, for every family. It fails where an id is outside the vocabulary.
func TopPredictions(s *Subject, ids []int32, k int) ([][]Prediction, error) {
	r, err := s.Runner()
	if err != nil {
		return nil, err
	}
	logits, err := r.Logits([][]int32{ids})
	if err != nil {
		return nil, err
	}
	V := s.dims().VocabSize
	out := make([][]Prediction, len(ids))
	for t := range ids {
		row := logits[t*V : (t+1)*V]
		lse := LogSumExp(row)
		for _, j := range TopIndices(row, k) {
			out[t] = append(out[t], Prediction{ID: j, Logit: float64(row[j]), P: math.Exp(float64(row[j]) - lse)})
		}
	}
	return out, nil
}

// LogitDiff compares two (positions × V) logit arrays a and b.
type LogitDiff struct {
	MaxAbs, MeanAbs float64 // max and mean |a − b| over all logits
	Agreement       float64 // share of positions whose argmax agrees (first maximum of each row)
	ShareOverTol    float64 // share of positions with some |a − b| > ParityTolerance
	MaxAbsB         float64 // max |b|, for scale
}

// CompareLogits compares a and b, both (positions × V) row-major, position by position.
func CompareLogits(a, b []float32, V int) (d LogitDiff) {
	agree, over := 0, 0
	for pos := 0; pos < len(a)/V; pos++ {
		ra, rb := a[pos*V:(pos+1)*V], b[pos*V:(pos+1)*V]
		ia, ib := 0, 0
		posMax := 0.0
		for j := range ra {
			x := math.Abs(float64(ra[j]) - float64(rb[j]))
			posMax = max(posMax, x)
			d.MeanAbs += x
			d.MaxAbsB = max(d.MaxAbsB, math.Abs(float64(rb[j])))
			if ra[j] > ra[ia] {
				ia = j
			}
			if rb[j] > rb[ib] {
				ib = j
			}
		}
		d.MaxAbs = max(d.MaxAbs, posMax)
		if ia == ib {
			agree++
		}
		if posMax > ParityTolerance {
			over++
		}
	}
	n := float64(len(a) / V)
	d.MeanAbs /= float64(len(a))
	d.Agreement, d.ShareOverTol = float64(agree)/n, float64(over)/n
	return d
}

// RepeatRate is the share of positions t of a stream with ids[t+1] = ids[t]: the next-token
// accuracy of a model that always predicts its current input (0 for fewer than two ids).
func RepeatRate(ids []uint32) float64 {
	if len(ids) < 2 {
		return 0
	}
	n := 0
	for t := 0; t+1 < len(ids); t++ {
		if ids[t+1] == ids[t] {
			n++
		}
	}
	return float64(n) / float64(len(ids)-1)
}

// AlphaSwapLogits runs inputs through the subject as it is and with every mHC alpha_logit
// set to value, and returns both logit arrays ((positions × V) each, the windows in order).
// A subject without mHC streams runs twice with the same weights.
func AlphaSwapLogits(s *Subject, inputs [][]int32, value float32) (base, swapped []float32, err error) {
	p := make(map[string]checkpoint.Tensor, len(s.Params))
	for n, t := range s.Params {
		if gomlxmodel.IsAlphaLogit(n) {
			data := slices.Clone(t.Data)
			for i := range data {
				data[i] = value
			}
			t = checkpoint.Tensor{Shape: t.Shape, Data: data}
		}
		p[n] = t
	}
	s2, err := s.withParams(p)
	if err != nil {
		return nil, nil, err
	}
	for i, x := range []*Subject{s, s2} {
		r, err := x.Runner()
		if err != nil {
			return nil, nil, err
		}
		l, err := r.Logits(inputs)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			base = l
		} else {
			swapped = l
		}
	}
	return base, swapped, nil
}
