package analysis

import (
	"math"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

func TestTopIndices(t *testing.T) {
	for _, tc := range []struct {
		row  []float32
		k    int
		want []int
	}{
		{[]float32{1, 3, 3, 2}, 2, []int{1, 2}}, // tie: the lower index first
		{[]float32{1, 3, 3, 2}, 10, []int{1, 2, 3, 0}},
		{[]float32{-5, -1, -3}, 1, []int{1}},
	} {
		if got := TopIndices(tc.row, tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("TopIndices(%v, %d) = %v, want %v", tc.row, tc.k, got, tc.want)
		}
	}
}

func TestLogSumExp(t *testing.T) {
	for _, tc := range []struct {
		row  []float32
		want float64
	}{
		{[]float32{0, 0}, math.Ln2},
		{[]float32{1000, 1000}, 1000 + math.Ln2}, // no overflow
		{[]float32{0, float32(math.Log(3))}, math.Log(4)},
		{[]float32{-2}, -2},
	} {
		if got := LogSumExp(tc.row); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("LogSumExp(%v) = %g, want %g", tc.row, got, tc.want)
		}
	}
}

func TestCompareLogits(t *testing.T) {
	// Two positions of V = 2: position 0 agrees (argmax 1 in both), position 1 does not.
	a := []float32{1, 2, 3, 0}
	b := []float32{1, 2.5, 0, 3}
	d := CompareLogits(a, b, 2)
	want := LogitDiff{MaxAbs: 3, MeanAbs: (0 + 0.5 + 3 + 3) / 4.0, Agreement: 0.5, ShareOverTol: 1, MaxAbsB: 3}
	if d != want {
		t.Errorf("CompareLogits = %+v, want %+v", d, want)
	}
	if d := CompareLogits(a, a, 2); d.MaxAbs != 0 || d.Agreement != 1 || d.ShareOverTol != 0 {
		t.Errorf("CompareLogits(a, a) = %+v, want no difference", d)
	}
}

func TestRepeatRate(t *testing.T) {
	for _, tc := range []struct {
		ids  []uint32
		want float64
	}{
		{[]uint32{1, 1, 2, 2, 2}, 3.0 / 4},
		{[]uint32{1, 2, 3}, 0},
		{[]uint32{7}, 0},
		{nil, 0},
	} {
		if got := RepeatRate(tc.ids); got != tc.want {
			t.Errorf("RepeatRate(%v) = %g, want %g", tc.ids, got, tc.want)
		}
	}
}

func TestEvidenceText(t *testing.T) {
	ev := map[string]any{"b": 0.123456, "a": 3, "c": float32(1.5), "d": "interleaved"}
	for _, tc := range []struct {
		max  int
		want string
	}{
		{0, "a=3 b=0.1235 c=1.5 d=interleaved"},
		{2, "a=3 b=0.1235 … and 2 more"},
		{4, "a=3 b=0.1235 c=1.5 d=interleaved"},
	} {
		if got := EvidenceText(ev, tc.max); got != tc.want {
			t.Errorf("EvidenceText(max %d) = %q, want %q", tc.max, got, tc.want)
		}
	}
	if got := EvidenceText[any](nil, 0); got != "" {
		t.Errorf("EvidenceText(nil) = %q, want empty", got)
	}
}

// The identity model (wo and w_down zeroed, tied head) copies: its top prediction at every
// position is the input token, and the probabilities are the softmax of the runner's own logits.
func TestTopPredictionsOfIdentityModel(t *testing.T) {
	c, v := tinyConfig(), config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 1)
	for i := 0; i < c.NLayers; i++ {
		scale(p, gomlxmodel.AttnWeight(i, "wo"), 0)
		scale(p, gomlxmodel.FFNWeight(i, "w_down"), 0)
	}
	s := mustSubject(t, c, v, p)
	ids := []int32{3, 17, 17, 0, 39, 8}
	preds, err := TopPredictions(s, ids, c.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Runner()
	if err != nil {
		t.Fatal(err)
	}
	logits, err := r.Logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	V := c.VocabSize
	for pos, id := range ids {
		row := logits[pos*V : (pos+1)*V]
		if preds[pos][0].ID != int(id) {
			t.Errorf("position %d: top prediction %d, want the input %d", pos, preds[pos][0].ID, id)
		}
		var z, sum float64
		for _, x := range row {
			z += math.Exp(float64(x))
		}
		for i, q := range preds[pos] {
			if i > 0 && q.Logit > preds[pos][i-1].Logit {
				t.Fatalf("position %d: predictions not in descending order at %d", pos, i)
			}
			want := math.Exp(float64(row[q.ID])) / z
			if math.Abs(q.P-want) > 1e-9 || q.Logit != float64(row[q.ID]) {
				t.Errorf("position %d id %d: p %g logit %g, want %g %g", pos, q.ID, q.P, q.Logit, want, row[q.ID])
			}
			sum += q.P
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("position %d: probabilities of all %d ids sum to %g", pos, V, sum)
		}
	}
}

// Setting alpha_logit changes nothing but rounding while the two mHC streams are identical
// (fresh, symmetric pre/post logits), and changes the logits once pre and post are asymmetric.
func TestAlphaSwapLogits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pre, post [2]float32
		changes   bool // max |Δlogit| above ParityTolerance
	}{
		{"symmetric (fresh)", [2]float32{0, 0}, [2]float32{0, 0}, false},
		{"asymmetric pre and post", [2]float32{3, -3}, [2]float32{3, -3}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, v := tinyConfig(), config.DefaultVariant()
			p := gomlxmodel.InitParams(c, v, 5)
			for i := 0; i < c.NLayers; i++ { // blocks that move the residual, so that the streams' mix shows
				scale(p, gomlxmodel.AttnWeight(i, "wo"), 20)
				scale(p, gomlxmodel.FFNWeight(i, "w_down"), 20)
			}
			setMHC(p, tc.pre, tc.post, 0)
			s := mustSubject(t, c, v, p)
			w := mustWindows(t, randomTokens(200, c.VocabSize, 6), c.MaxSeqLen, 32)
			base, swapped, err := AlphaSwapLogits(s, w.Inputs, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(base) != w.Positions()*c.VocabSize || len(swapped) != len(base) {
				t.Fatalf("%d and %d logits, want %d", len(base), len(swapped), w.Positions()*c.VocabSize)
			}
			d := CompareLogits(base, swapped, c.VocabSize)
			t.Logf("max |Δlogit| %g, argmax agreement %g", d.MaxAbs, d.Agreement)
			if (d.MaxAbs > ParityTolerance) != tc.changes {
				t.Errorf("max |Δlogit| %g with alpha_logit 5, want changes=%v", d.MaxAbs, tc.changes)
			}
			if s.Params[gomlxmodel.MHCParam(0, "attn", gomlxmodel.MHCAlphaLogit)].Data[0] != 0 {
				t.Error("AlphaSwapLogits changed the subject's own alpha_logit")
			}
		})
	}
}
