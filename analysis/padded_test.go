package analysis

import (
	"math"
	"testing"
)

// paddedMass and its finding on constructed logits (V = 10, real vocabulary 8): the padded
// ids' softmax mass computed by hand, and the finding only where they take more than 1% of it
// or an argmax.
func TestPaddedVocabMass(t *testing.T) {
	row := func(real, padded float32) []float32 {
		r := make([]float32, 10)
		for j := range r {
			r[j] = real
			if j >= 8 {
				r[j] = padded
			}
		}
		return r
	}
	cases := []struct {
		name         string
		rows         [][]float32
		mean, argmax float64
		finding      bool
	}{
		// e^0·2 / (8e^0 + 2e^0) = 0.2
		{"uniform", [][]float32{row(0, 0)}, 0.2, 0, true},
		// 2e^−10 / (8 + 2e^−10) ≈ 1.13e-5
		{"pushed down", [][]float32{row(0, -10), row(0, -10)}, 2 * math.Exp(-10) / (8 + 2*math.Exp(-10)), 0, false},
		// the argmax is padded at one of two positions
		{"argmax padded", [][]float32{row(0, -10), append(row(0, -10)[:9], 5)}, (2*math.Exp(-10)/(8+2*math.Exp(-10)) + (math.Exp(-10)+math.Exp(5))/(8+math.Exp(-10)+math.Exp(5))) / 2, 0.5, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var win []float32
			for _, r := range c.rows {
				win = append(win, r...)
			}
			p := paddedMass([][]float32{win}, 8, 10)
			if math.Abs(p.Mean-c.mean) > 1e-6 || p.ArgmaxShare != c.argmax || p.Padded != 2 || p.UniformShare != 0.2 {
				t.Fatalf("got %+v, want mean %.6g argmax share %g", *p, c.mean, c.argmax)
			}
			f := paddedFinding(&Catalog{Padded: p})
			if (f != nil) != c.finding {
				t.Fatalf("finding %v, want %v", f, c.finding)
			}
			if f != nil && f.Kind != KindPaddedVocabMass {
				t.Fatalf("kind %s", f.Kind)
			}
		})
	}
}
