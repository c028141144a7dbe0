package analysis

import "testing"

// H2 from the parity measurement alone: identical logits, rounding flips on CPU, differences
// within the inference path's own rounding at another batch shape (a GPU's TF32 products), and
// real mismatches that exceed that floor. The d40 row is the measured GPU reading
// (bench/results/sizes_h200) with a noise floor of the same size, which the rule must refute;
// the rows with O(1) differences must stay supported whatever the noise.
func TestH2Verdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Parity
		want Outcome
	}{
		{"identical", Parity{MaxAbsDelta: 0, ArgmaxAgreement: 1}, Refuted},
		{"cpu rounding flips", Parity{MaxAbsDelta: 0.2, MeanAbsDelta: 1e-4, ArgmaxAgreement: 1, PositionsOverTol: 0.02}, Refuted},
		{"gpu rounding at the noise floor", Parity{MaxAbsDelta: 0.33, MeanAbsDelta: 0.016, ArgmaxAgreement: 0.990, PositionsOverTol: 0.58,
			Noise: ParityNoise{MaxAbsDelta: 0.3, MeanAbsDelta: 0.012, ArgmaxAgreement: 0.992}}, Refuted},
		{"mismatch, no noise", Parity{MaxAbsDelta: 3, MeanAbsDelta: 0.8, ArgmaxAgreement: 0.6, PositionsOverTol: 1}, Supported},
		{"mismatch above a gpu noise floor", Parity{MaxAbsDelta: 3, MeanAbsDelta: 0.8, ArgmaxAgreement: 0.6, PositionsOverTol: 1,
			Noise: ParityNoise{MaxAbsDelta: 0.3, MeanAbsDelta: 0.012, ArgmaxAgreement: 0.992}}, Supported},
		{"mean within the floor but argmax far below it", Parity{MaxAbsDelta: 0.5, MeanAbsDelta: 0.02, ArgmaxAgreement: 0.9, PositionsOverTol: 0.7,
			Noise: ParityNoise{MaxAbsDelta: 0.3, MeanAbsDelta: 0.012, ArgmaxAgreement: 0.995}}, Supported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := (&verdictInput{d: &Details{Parity: tc.p}}).h2()
			if v.Verdict != tc.want {
				t.Errorf("H2 %s, want %s: %s", v.Verdict, tc.want, v.Evidence)
			}
		})
	}
}
