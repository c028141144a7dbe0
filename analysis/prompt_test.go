package analysis

import (
	"math"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/load"
)

// marginOf is the current token's logit minus the best other logit of one row, and its argmax.
func marginOf(row []float32, cur int) (float64, int) {
	best, other := 0, math.Inf(-1)
	for v, x := range row {
		if x > row[best] {
			best = v
		}
		if v != cur {
			other = max(other, float64(x))
		}
	}
	return float64(row[cur]) - other, best
}

// The lens of the last residual stream is what the model outputs (Forward's logits are Unembed
// of it), for the single-stream families: its margins and argmaxes equal those computed in Go
// from the runner's logits, and a second prompt of the same length compiles no new graph.
func TestPromptLensLastDepthIsTheOutput(t *testing.T) {
	cases := []struct {
		name, dir string
		ids       []int32
	}{
		{"gpt2", "../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded", []int32{102, 110, 32, 109, 97, 105}},
		{"llama", "../gomlxmodel/hf/testdata/hf/llama_trained_bf16", []int32{102, 110, 32, 109, 97, 105}},
	}
	for _, c := range cases {
		l, err := load.Open(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := FromFamily(l.Family, l.Params, c.dir)
		if err != nil {
			t.Fatal(err)
		}
		p := NewPrompt(s)
		lens, err := p.Lens(c.ids)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 + l.Family.Dims().NLayers; len(lens.Depths) != want || lens.Cells != want*len(c.ids) {
			t.Fatalf("%s: %d depths, %d cells", c.name, len(lens.Depths), lens.Cells)
		}
		r, err := s.Runner()
		if err != nil {
			t.Fatal(err)
		}
		logits, err := r.Logits([][]int32{c.ids})
		if err != nil {
			t.Fatal(err)
		}
		V, last := l.Family.Dims().VocabSize, len(lens.Depths)-1
		for pos, cur := range c.ids {
			m, am := marginOf(logits[pos*V:(pos+1)*V], int(cur))
			if got := lens.Margin[last][pos]; math.Abs(got-m) > 1e-4*max(1, math.Abs(m)) || lens.Argmax[last][pos] != am {
				t.Fatalf("%s position %d: lens margin %v argmax %d, from the logits %v %d", c.name, pos, got, lens.Argmax[last][pos], m, am)
			}
		}
		n := p.Compiles()
		if _, err := p.Lens([]int32{1, 2, 3, 4, 5, 6}); err != nil {
			t.Fatal(err)
		}
		if p.Compiles() != n {
			t.Fatalf("%s: a second prompt of the same length compiled %d graphs", c.name, p.Compiles()-n)
		}
	}
}

// At the embedding, the ternary model's lens is RMSNorm(e)·w decoded by the tied head, which
// float64 arithmetic in Go gives independently.
func TestPromptLensEmbeddingByHand(t *testing.T) {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 40, 16, 16, 4
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 3)
	// A final norm weight that is not all ones, so that the test sees it.
	for i := range p[gomlxmodel.ParamNormFinal].Data {
		p[gomlxmodel.ParamNormFinal].Data[i] = 0.5 + float32(i%7)/7
	}
	s, err := NewSubject(c, v, p)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{3, 17, 5, 39, 0}
	lens, err := NewPrompt(s).Lens(ids)
	if err != nil {
		t.Fatal(err)
	}
	D, emb, w := c.Dim, p[gomlxmodel.ParamTokEmbed].Data, p[gomlxmodel.ParamNormFinal].Data
	for pos, cur := range ids {
		x := emb[int(cur)*D : (int(cur)+1)*D]
		var ms float64
		for _, a := range x {
			ms += float64(a) * float64(a)
		}
		rs := 1 / math.Sqrt(ms/float64(D)+gomlxmodel.RMSNormEps)
		row := make([]float32, c.VocabSize)
		for tok := range row {
			var l float64
			for d := range D {
				l += float64(x[d]) * rs * float64(w[d]) * float64(emb[tok*D+d])
			}
			row[tok] = float32(l)
		}
		m, am := marginOf(row, int(cur))
		if got := lens.Margin[0][pos]; math.Abs(got-m) > 1e-3*max(1, math.Abs(m)) || lens.Argmax[0][pos] != am {
			t.Fatalf("position %d: lens margin %v argmax %d, by hand %v %d", pos, got, lens.Argmax[0][pos], m, am)
		}
	}
}

// The one-pass selection of a few indices agrees with the full stable sort, ties included.
func TestTopIndicesSmallAgreesWithSort(t *testing.T) {
	row := make([]float32, 5000)
	for i := range row {
		row[i] = float32((i * 7919) % 97) // many ties
	}
	for _, k := range []int{1, 3, 64} {
		got := TopIndices(row, k)
		all := TopIndices(row, len(row)) // the sort
		if !slices.Equal(got, all[:k]) {
			t.Fatalf("k=%d: %v, the sort gives %v", k, got, all[:k])
		}
	}
}
