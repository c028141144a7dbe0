package analysis

import (
	"slices"
	"testing"
)

// TestUntrainedNeedsAnIndistinctSwap: a matrix whose statistics alone look untrained (not at its
// initialiser's distribution) is called untrained only when a fresh draw in its place gives its
// CE within swapSigmas standard errors either way; a tensor at its initialiser's distribution
// keeps the looser test (no cost beyond max(minDeltaNats, 2 SE)). The swap numbers are blind
// kit 4b's (bench/kit4b, bench/results/blind-kit4b-20261207.md): Phi-3 with rms_norm_eps 1.0 and
// GPT-NeoX with its embedding rows shifted had a trained tensor called untrained; Mistral with
// layer 1's MLP a fresh draw is untrained.
func TestUntrainedNeedsAnIndistinctSwap(t *testing.T) {
	const name = "model.layers.1.mlp.up_proj.weight"
	for _, c := range []struct {
		what      string
		delta, se float64
		initLike  bool
		want      string
	}{
		{"phi3 eps 1.0: o_proj swap +10.7 SE", 0.0024098, 0.00022539, false, KindUnexplained},
		{"gpt-neox embed shifted: swap -3.9 SE", -0.0338407, 0.0085961, false, KindUnexplained},
		{"statistics only, swap within 3 SE", 0.0005, 0.0007, false, KindTensorsUntrained},
		{"statistics only, swap -2.9 SE", -0.0020, 0.0007, false, KindTensorsUntrained},
		{"at the initialiser, swap +2.5 SE (mistral up_proj)", 0.0017803, 0.00070436, true, KindTensorsUntrained},
		{"at the initialiser, swap +0.15 ± 0.05 nats", 0.15, 0.05, true, KindUnexplained},
	} {
		t.Run(c.what, func(t *testing.T) {
			cat := &Catalog{
				Unigram:  3.2,
				AsLoaded: OffsetCE{CE: slices.Repeat([]float64{2.5}, len(Offsets))},
				Traces: []TensorTrace{
					{Name: "model.layers.0.mlp.up_proj.weight", Test: "alignment", AlignZ: 30, GradNorm: 1},
					{Name: name, Test: "alignment", AlignZ: 1, GradNorm: 1, Untrained: true},
				},
				Swaps: []Swap{{Tensor: name, DeltaCE: c.delta, SE: c.se, Informative: significant(c.delta, c.se)}},
			}
			if c.initLike {
				cat.InitLike = []string{name}
			}
			fs := untrainedFindings(cat, true)
			if len(fs) != 1 || fs[0].Kind != c.want || !slices.Equal(fs[0].Tensors, []string{name}) {
				t.Fatalf("ΔCE %+.4f ± %.4f (init-like %v): got %+v, want one %s naming %s", c.delta, c.se, c.initLike, fs, c.want, name)
			}
		})
	}
}
