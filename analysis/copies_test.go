package analysis

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// TestCopiesOf: rows written twice are found as runs with their source — a layer's matrix copied
// from another layer's, one head's rows copied over another's — while distinct draws, constant
// rows, vectors, the skipped embedding and kv heads expanded alike in k_proj and v_proj are not.
func TestCopiesOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(rows, cols int) checkpoint.Tensor {
		d := make([]float32, rows*cols)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return checkpoint.Tensor{Shape: []int{rows, cols}, Data: d}
	}
	const q0, q1 = "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"
	const k1, v1 = "model.layers.1.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight"
	const emb, norm = "model.embed_tokens.weight", "model.layers.1.input_layernorm.weight"
	base := func() gomlxmodel.Params {
		return gomlxmodel.Params{q0: draw(32, 32), q1: draw(32, 32), k1: draw(16, 32), v1: draw(16, 32), emb: draw(64, 32),
			norm: {Shape: []int{32}, Data: slices.Repeat([]float32{1, 2}, 16)}}
	}
	copyRows := func(p gomlxmodel.Params, dst string, at int, src string, from, n int) {
		d, s := p[dst], p[src]
		d.Data = slices.Clone(d.Data)
		w := d.Shape[1]
		copy(d.Data[at*w:(at+n)*w], s.Data[from*w:(from+n)*w])
		p[dst] = d
	}
	for _, c := range []struct {
		name string
		edit func(p gomlxmodel.Params)
		want []Copy
	}{
		{"distinct draws", func(gomlxmodel.Params) {}, nil},
		{"layer 1's q_proj copied from layer 0's", func(p gomlxmodel.Params) { copyRows(p, q1, 0, q0, 0, 32) },
			[]Copy{{Tensor: q1, Rows: [2]int{0, 32}, Source: q0, SourceRows: [2]int{0, 32}}}},
		{"v_proj's head 1 written from head 0", func(p gomlxmodel.Params) { copyRows(p, v1, 8, v1, 0, 8) },
			[]Copy{{Tensor: v1, Rows: [2]int{8, 16}, Source: v1, SourceRows: [2]int{0, 8}}}},
		{"kv heads expanded in k_proj and v_proj alike", func(p gomlxmodel.Params) { copyRows(p, k1, 8, k1, 0, 8); copyRows(p, v1, 8, v1, 0, 8) }, nil},
		{"zero rows", func(p gomlxmodel.Params) {
			q := p[q1]
			q.Data = slices.Clone(q.Data)
			clear(q.Data[:64])
			p[q1] = q
		}, nil},
		{"embedding rows repeated (skipped)", func(p gomlxmodel.Params) { copyRows(p, emb, 60, emb, 0, 4) }, nil},
		{"a vector repeated", func(p gomlxmodel.Params) {
			p["model.layers.0.input_layernorm.weight"] = checkpoint.Tensor{Shape: []int{32}, Data: slices.Clone(p[norm].Data)}
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := maps.Clone(base())
			c.edit(p)
			if got := copiesOf(p, []string{emb}); !slices.Equal(got, c.want) {
				t.Errorf("copies %v, want %v", got, c.want)
			}
		})
	}
}
