package corpus

import (
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
)

// UnigramEntropy returns the entropy in nats, −Σ p ln p, of the distribution proportional to
// counts (maximum-likelihood estimate, no smoothing). It is 0 for all-zero counts.
func UnigramEntropy(counts []float64) float64 {
	n := floats.Sum(counts)
	if n == 0 {
		return 0
	}
	p := make([]float64, len(counts))
	floats.ScaleTo(p, 1/n, counts)
	return stat.Entropy(p)
}

// UnigramCrossEntropy returns the mean loss in nats that the unigram model of trainCounts
// reaches on tokens with counts evalCounts: −(1/M) Σ_i evalCounts[i]·ln q_i with add-one
// (Laplace) smoothing over the whole vocabulary, q_i = (trainCounts[i]+1)/(N+V),
// N = Σ trainCounts, V = len(trainCounts), M = Σ evalCounts. This is the loss a model that
// ignores its context would reach on held-out tokens. It is 0 when evalCounts are all zero.
func UnigramCrossEntropy(trainCounts, evalCounts []float64) float64 {
	if len(trainCounts) != len(evalCounts) {
		panic("corpus: UnigramCrossEntropy: count vectors of different lengths")
	}
	m := floats.Sum(evalCounts)
	if m == 0 {
		return 0
	}
	v := float64(len(trainCounts))
	n := floats.Sum(trainCounts)
	p := make([]float64, len(evalCounts))
	floats.ScaleTo(p, 1/m, evalCounts)
	q := make([]float64, len(trainCounts))
	for i, c := range trainCounts {
		q[i] = (c + 1) / (n + v)
	}
	return stat.CrossEntropy(p, q)
}
