package gomlxmodel

import (
	"math/rand/v2"
	"testing"

	"nanoscope/gomlxmodel/config"
)

// tinyConfig is a small model whose dimensions exercise every code path: GQA (4 heads on 2 kv
// heads), a group size that does not divide the rows, a rounded-up FFN width.
func tinyConfig() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 16, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize = 37, 8, 12
	c.BatchSize = 2
	return c
}

// perturb moves every parameter away from its symmetric initial value so that tests see
// distinct mHC streams and non-trivial norms.
func perturb(p Params, seed uint64, scale float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, name := range config.SortedNames(shapesOf(p)) {
		t := p[name]
		for i := range t.Data {
			t.Data[i] += scale * float32(rng.NormFloat64())
		}
	}
}

func shapesOf(p Params) map[string][]int {
	m := map[string][]int{}
	for k, v := range p {
		m[k] = v.Shape
	}
	return m
}

func randomIDs(rng *rand.Rand, b, t, vocab int) [][]int32 {
	ids := make([][]int32, b)
	for i := range ids {
		ids[i] = make([]int32, t)
		for j := range ids[i] {
			ids[i][j] = int32(rng.IntN(vocab))
		}
	}
	return ids
}

func newTestRunner(t *testing.T, c config.Config, v config.Variant, p Params) *Runner {
	t.Helper()
	r, err := NewRunner(c, v, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
