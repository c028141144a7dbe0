package analysis

import (
	"math"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

// A fresh tied model copies at every depth of the logit lens, its two mHC streams are equal,
// and its self logits are sqrt(D)·‖e‖ with the chi distribution's mean.
func TestLogitLensTokensAndSelfLogitsOfAFreshModel(t *testing.T) {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 40, 16, 16, 4
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 1)
	s, err := NewSubject(c, v, p)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{3, 17, 5, 39, 0}
	lens, err := LogitLensTokens(s, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(lens.Depths) != c.NLayers+1 || lens.Depths[0] != "embedding" || lens.Depths[c.NLayers] != "after block 1" {
		t.Fatalf("depths %v", lens.Depths)
	}
	if lens.Cells != (c.NLayers+1)*len(ids) || lens.OnTop != lens.Cells || lens.MinMargin <= 0 {
		t.Fatalf("a fresh tied model should copy everywhere: %d of %d on top, min margin %g", lens.OnTop, lens.Cells, lens.MinMargin)
	}
	if lens.StreamAsymmetry != 0 {
		t.Fatalf("fresh mHC streams differ by %g", lens.StreamAsymmetry)
	}
	sl := EmbeddingSelfLogits(p, c.Dim)
	if len(sl.Self) != c.VocabSize {
		t.Fatalf("%d self logits for %d tokens", len(sl.Self), c.VocabSize)
	}
	for i, n := range sl.Norms {
		if math.Abs(sl.Self[i]-math.Sqrt(float64(c.Dim))*n) > 1e-9 {
			t.Fatalf("self[%d] = %g, want sqrt(D)·%g", i, sl.Self[i], n)
		}
	}
	if math.Abs(sl.TheoryMean-float64(c.Dim)) > 1 || math.Abs(sl.MeanSelf-sl.TheoryMean) > 4*sl.TheorySD/math.Sqrt(float64(c.VocabSize)) {
		t.Fatalf("mean self logit %g, theory %g ± %g", sl.MeanSelf, sl.TheoryMean, sl.TheorySD)
	}
	if got := sl.Share(math.Inf(-1), math.Inf(1)); got != 1 {
		t.Fatalf("Share(−∞, ∞) = %g", got)
	}
}
