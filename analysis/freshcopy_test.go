package analysis

import (
	"math"
	"testing"
)

// A small fresh tied GPT-2 copies: its top logit is near the self logit √D·‖e‖ at a share of
// positions, never above it on average, and with the position embedding (p ~ N(0, 0.02) like e)
// the self logit drops by about √2.
func TestFreshGPT2Copying(t *testing.T) {
	ids := make([]int32, 64)
	for i, id := range randomTokens(len(ids), 256, 1) {
		ids[i] = int32(id)
	}
	fc, err := FreshGPT2Copying(48, 3, ids)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", fc)
	if fc.CopyRate < 0.2 || fc.MeanTop > fc.MeanSelf {
		t.Errorf("fresh GPT-2 D=48 copies %g with mean top %g above mean self %g", fc.CopyRate, fc.MeanTop, fc.MeanSelf)
	}
	if r := fc.MeanSelf / fc.MeanSelfPos; math.Abs(r-math.Sqrt2) > 0.15 {
		t.Errorf("self logit without / with the position embedding = %.3f, want ≈ √2", r)
	}
	if fc.D != 48 || fc.Layers != 3 || fc.ResidRatio <= 0 {
		t.Errorf("FreshCopy %+v", fc)
	}
}
