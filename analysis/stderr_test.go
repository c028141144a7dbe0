package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

func TestRatioSE(t *testing.T) {
	for _, tc := range []struct {
		name string
		y, x []float64
		want float64
	}{
		// equal windows: the SD of the window means (0.5, 1.5; SD 0.7071) over sqrt(2)
		{"two equal windows", []float64{1, 3}, []float64{2, 2}, 0.5},
		// means 0.25, 0.5, 0.75 (SD 0.25) over sqrt(3)
		{"three equal windows", []float64{1, 2, 3}, []float64{4, 4, 4}, 0.25 / math.Sqrt(3)},
		// r = 4/8 = 0.5; residuals 1−0.5·2 = 0, 3−0.5·6 = 0: the windows agree exactly
		{"unequal windows, same rate", []float64{1, 3}, []float64{2, 6}, 0},
		// r = 3/4; residuals 2 − 0.75·1 = 1.25, 1 − 0.75·3 = −1.25; sqrt(2·3.125)/4
		{"unequal windows", []float64{2, 1}, []float64{1, 3}, math.Sqrt(2*3.125) / 4},
		{"one window", []float64{3}, []float64{4}, 0},
		{"nothing counted", []float64{0, 0}, []float64{0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratioSE(tc.y, tc.x); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("ratioSE(%v, %v) = %v, want %v", tc.y, tc.x, got, tc.want)
			}
		})
	}
}

// The error bars of LogitAlignment and ShiftedLoss are those of their own per-window figures:
// each window measured alone gives the counts and losses that ratioSE must combine.
func TestStandardErrorsOverWindows(t *testing.T) {
	c := tinyConfig()
	c.WeightTied = false // an untied random head: rates and losses that vary from window to window
	c.MaxSeqLen = 64
	v := config.DefaultVariant()
	s := mustSubject(t, c, v, gomlxmodel.InitParams(c, v, 3))
	tokens := patterned(4000, c.VocabSize, 7)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 1; i < len(tokens); i++ {
		if rng.IntN(4) == 0 {
			tokens[i] = tokens[i-1] // a quarter of the positions repeat: the non-repeat rates differ from the plain ones
		}
	}
	w := mustWindows(t, tokens, c.MaxSeqLen, 12*c.MaxSeqLen)
	a, err := LogitAlignment(s, w)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ShiftedLoss(s, w)
	if err != nil {
		t.Fatal(err)
	}
	W := len(w.Inputs)
	pos, cp, hit, nr, cpNR, hitNR, ceS, ceU := make([]float64, W), make([]float64, W), make([]float64, W),
		make([]float64, W), make([]float64, W), make([]float64, W), make([]float64, W), make([]float64, W)
	for k := range W {
		one := &Windows{Index: w.Index[k : k+1], Inputs: w.Inputs[k : k+1], Next: w.Next[k : k+1], Span: w.Span[k : k+1]}
		ak, err := LogitAlignment(s, one)
		if err != nil {
			t.Fatal(err)
		}
		lk, err := ShiftedLoss(s, one)
		if err != nil {
			t.Fatal(err)
		}
		n := float64(ak.Positions)
		pos[k], cp[k], hit[k] = n, ak.CopyRate*n, ak.NextTokenAccuracy*n
		nr[k] = n - math.Round(ak.RepeatRate*n)
		cpNR[k], hitNR[k] = ak.CopyRateNonRepeat*nr[k], ak.NextAccuracyNonRepeat*nr[k]
		ceS[k], ceU[k] = lk.Shifted.CE*n, lk.Unshifted.CE*n
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"copy rate", a.CopyRateSE, ratioSE(cp, pos)},
		{"next-token accuracy", a.NextTokenAccuracySE, ratioSE(hit, pos)},
		{"copy rate, next ≠ current", a.CopyRateNonRepeatSE, ratioSE(cpNR, nr)},
		{"next-token accuracy, next ≠ current", a.NextAccuracyNonRepeatSE, ratioSE(hitNR, nr)},
		{"shifted CE", l.Shifted.CESE, ratioSE(ceS, pos)},
		{"unshifted CE", l.Unshifted.CESE, ratioSE(ceU, pos)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a.Windows != W || !(tc.got > 0) || math.Abs(tc.got-tc.want) > 1e-6*tc.want {
				t.Fatalf("SE %v over %d windows, want %v from the %d windows measured one at a time", tc.got, a.Windows, tc.want, W)
			}
		})
	}
}
