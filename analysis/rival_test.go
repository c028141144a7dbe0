package analysis

import (
	"math"
	"testing"

	"nanoscope/gomlxmodel"
)

func TestRivals(t *testing.T) {
	conv := func(name, value, loaded string) Flip { return Flip{Convention: name, Value: value, Loaded: loaded} }
	edit := func(transpose []string, exchange ...[2]string) Flip {
		return Edit{Transpose: transpose, Exchange: exchange, What: "edit"}.Flip()
	}
	for _, c := range []struct {
		name string
		a, b Flip
		want bool
	}{
		{"two attention scales: one quantity", conv(gomlxmodel.ConvAttnScale, "one", "rsqrt_head_dim"), conv(gomlxmodel.ConvQueryPreAttnScalar, "16", "256"), false},
		{"rotary base and scaling: one quantity", conv(gomlxmodel.ConvRopeTheta, "1e+06", "10000"), conv(gomlxmodel.ConvRopeScaling, "4", "1"), false},
		{"epsilon and norm offset: the residual scale", conv(gomlxmodel.ConvNormEps, "1e-05", "0.1"), conv(gomlxmodel.ConvNormWeight, "1+w", "w"), false},
		{"rotary base and attention scale", conv(gomlxmodel.ConvRopeTheta, "1e+06", "10000"), conv(gomlxmodel.ConvAttnScale, "one", "rsqrt_head_dim"), true},
		{"a convention without a mechanism is its own", conv(gomlxmodel.ConvActivation, "gelu", "silu"), conv(gomlxmodel.ConvParallelResidual, "true", "false"), true},
		{"a narrower window only hides", conv(gomlxmodel.ConvRopeTheta, "1e+06", "10000"), conv(gomlxmodel.ConvSlidingWindow, "4", "0"), false},
		{"a window widened is a mask", conv(gomlxmodel.ConvSlidingWindow, "0", "32"), conv(gomlxmodel.ConvRopeScaling, "8", "1"), true},
		{"edits of one tensor", edit([]string{"o"}), edit(nil, [2]string{"o", "q"}), false},
		{"edits of other tensors", edit([]string{"o"}), edit(nil, [2]string{"k", "v"}), true},
		{"an edit and a convention", edit([]string{"o"}), conv(gomlxmodel.ConvAttnScale, "one", "rsqrt_head_dim"), true},
	} {
		if got := rivals(c.a, c.b); got != c.want {
			t.Errorf("%s: rivals %v, want %v", c.name, got, c.want)
		}
		if got := rivals(c.b, c.a); got != c.want {
			t.Errorf("%s (swapped): rivals %v, want %v", c.name, got, c.want)
		}
	}
}

// offsetRun is a run whose CE at offset 1 is ce per position and 9 nats at every other offset.
func offsetRun(ce ...float64) OffsetCE {
	o := OffsetCE{CE: make([]float64, len(Offsets)), perPos: make([][]float64, len(Offsets)), seqLen: len(ce) + 1}
	for i, k := range Offsets {
		o.perPos[i] = make([]float64, len(ce))
		for j := range ce {
			o.perPos[i][j] = 9
			if k == 1 {
				o.perPos[i][j] = ce[j]
			}
		}
	}
	o.summarise()
	return o
}

// TestGainMargin: the margin is the difference of the two gains, its standard error that of the
// per-position differences, by hand: gains 1, 0.8, 1.2, 1 and 0.5, 0.5, 0.3, 0.7 differ by 0.5,
// 0.3, 0.9, 0.3: mean 0.5, sample deviation √(0.24/3), standard error that over √4.
func TestGainMargin(t *testing.T) {
	base := offsetRun(3, 3, 3, 3)
	best := offsetRun(2, 2.2, 1.8, 2)
	rival := offsetRun(2.5, 2.5, 2.7, 2.3)
	m, se := gainMargin(base, best, rival)
	if want, wantSE := 0.5, math.Sqrt(0.24/3)/2; math.Abs(m-want) > 1e-12 || math.Abs(se-wantSE) > 1e-12 {
		t.Errorf("margin %v ± %v, want %v ± %v", m, se, want, wantSE)
	}
	g1, _ := gainOver(base, best)
	g2, _ := gainOver(base, rival)
	if math.Abs(m-(g1-g2)) > 1e-12 {
		t.Errorf("margin %v is not the gains' difference %v − %v", m, g1, g2)
	}
}

// TestAmbiguousFinding: the best run of the search is named only when it beats its rival by
// sigmas standard errors, a transposition only when the alignment prior rises by sigmas, the
// causal mask only when the model without it reads its target, any run only when flattening its
// attention further does not help by sigmas and flattenedShareMin of its gain.
func TestAmbiguousFinding(t *testing.T) {
	n := 400
	ce := func(mean, wobble float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = mean + wobble*float64(i%2*2-1)
		}
		return out
	}
	base := offsetRun(ce(3, 0.5)...)
	run := func(f Flip, mean, wobble float64) OffsetCE {
		o := offsetRun(ce(mean, wobble)...)
		o.Flips, o.Condition = []Flip{f}, ConditionName([]Flip{f})
		o.Gain, o.SE = gainOver(base, o)
		return o
	}
	theta := Flip{Convention: gomlxmodel.ConvRopeTheta, Value: "1e+06", Loaded: "10000"}
	scale := Flip{Convention: gomlxmodel.ConvAttnScale, Value: "one", Loaded: "rsqrt_head_dim"}
	steep := Edit{Transpose: []string{"o"}, What: "o transposed", PriorZ: 40}.Flip()
	flat := Edit{Transpose: []string{"o"}, What: "o transposed", PriorZ: 2}.Flip()
	noMask := Flip{Convention: gomlxmodel.ConvCausal, Value: "false", Loaded: "true"}
	for _, c := range []struct {
		name        string
		best, rival OffsetCE
		flattened   float64 // the best run's CE with its attention flattened (0: not run)
		unexplained bool
	}{
		// the rival's per-position wobble is in phase: the margin is 0.3 nats ± 0 → named
		{"a rival far behind", run(theta, 2, 0.5), run(scale, 2.3, 0.5), 0, false},
		// out of phase: the margin is 0.02 ± 0.05 → unexplained
		{"a rival as good", run(theta, 2, 0.5), run(scale, 2.02, -0.5), 0, true},
		{"a transposition the alignment confirms", run(steep, 2, 0.5), run(scale, 2.5, 0.5), 0, false},
		{"a transposition the alignment does not confirm", run(flat, 2, 0.5), run(scale, 2.5, 0.5), 0, true},
		// the unigram CE is 3.5: a model trained seeing its target predicts it below 1.75
		{"no mask, the target read", run(noMask, 1, 0.5), run(scale, 2.5, 0.5), 0, false},
		{"no mask, the target not read", run(noMask, 2, 0.5), run(scale, 2.5, 0.5), 0, true},
		// the best run gains 1 nat; flattening its attention further gains 0.1 ± 0 (10 %), 0.03 ± 0
		// (3 %) or costs 0.05
		{"flatter still is better", run(scale, 2, 0.5), run(theta, 2.8, 0.5), 1.9, true},
		{"flatter still is a little better", run(scale, 2, 0.5), run(theta, 2.8, 0.5), 1.97, false},
		{"flatter is worse", run(scale, 2, 0.5), run(theta, 2.8, 0.5), 2.05, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cat := &Catalog{Unigram: 3.5, heldOut: base, Conditions: []OffsetCE{c.best, c.rival}}
			best, gain, se := bestCondition(cat)
			if best == nil || best.Condition != c.best.Condition {
				t.Fatalf("best condition %v, want %s", best, c.best.Condition)
			}
			if c.flattened > 0 {
				o := offsetRun(ce(c.flattened, 0.5)...)
				o.Gain, o.SE = gainOver(*best, o)
				cat.Flattened = &o
			}
			rival, margin, marginSE := rivalCondition(cat, best)
			f := ambiguousFinding(cat, best, comparable(base), gain, se, rival, margin, marginSE)
			if (f != nil) != c.unexplained {
				t.Fatalf("unexplained %v, want %v (%+v)", f != nil, c.unexplained, f)
			}
			fs := conventionFindings(cat)
			if len(fs) == 0 || (fs[0].Kind == KindUnexplained) != c.unexplained {
				t.Errorf("findings %+v, want unexplained %v", fs, c.unexplained)
			}
		})
	}
}
