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
// rows, vectors, the skipped embedding and kv heads expanded alike in k_proj and v_proj are not;
// and adjacent zero rows or columns of a matrix that moved are found as zero runs (zeroRuns),
// while one zero row, a matrix zero throughout and the embedding's rows are not.
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
	zeroed := func(p gomlxmodel.Params, name string, zero func(i, j int) bool) {
		d := p[name]
		d.Data = slices.Clone(d.Data)
		for i := range d.Shape[0] {
			for j := range d.Shape[1] {
				if zero(i, j) {
					d.Data[i*d.Shape[1]+j] = 0
				}
			}
		}
		p[name] = d
	}
	copyRows := func(p gomlxmodel.Params, dst string, at int, src string, from, n int) {
		d, s := p[dst], p[src]
		d.Data = slices.Clone(d.Data)
		w := d.Shape[1]
		copy(d.Data[at*w:(at+n)*w], s.Data[from*w:(from+n)*w])
		p[dst] = d
	}
	for _, c := range []struct {
		name  string
		edit  func(p gomlxmodel.Params)
		want  []Copy
		zeros []ZeroRun
	}{
		{"distinct draws", func(gomlxmodel.Params) {}, nil, nil},
		{"layer 1's q_proj copied from layer 0's", func(p gomlxmodel.Params) { copyRows(p, q1, 0, q0, 0, 32) },
			[]Copy{{Tensor: q1, Rows: [2]int{0, 32}, Source: q0, SourceRows: [2]int{0, 32}}}, nil},
		{"v_proj's head 1 written from head 0", func(p gomlxmodel.Params) { copyRows(p, v1, 8, v1, 0, 8) },
			[]Copy{{Tensor: v1, Rows: [2]int{8, 16}, Source: v1, SourceRows: [2]int{0, 8}}}, nil},
		{"kv heads expanded in k_proj and v_proj alike", func(p gomlxmodel.Params) { copyRows(p, k1, 8, k1, 0, 8); copyRows(p, v1, 8, v1, 0, 8) }, nil, nil},
		{"zero rows", func(p gomlxmodel.Params) {
			q := p[q1]
			q.Data = slices.Clone(q.Data)
			clear(q.Data[:64])
			p[q1] = q
		}, nil, []ZeroRun{{Tensor: q1, Axis: "rows", From: 0, To: 2}}},
		{"one zero row (a unit pruned)", func(p gomlxmodel.Params) { zeroed(p, q1, func(i, _ int) bool { return i == 5 }) }, nil, nil},
		{"a head's columns zeroed", func(p gomlxmodel.Params) { zeroed(p, q0, func(_, j int) bool { return j >= 8 && j < 16 }) },
			nil, []ZeroRun{{Tensor: q0, Axis: "columns", From: 8, To: 16}}},
		{"a matrix zero throughout", func(p gomlxmodel.Params) { zeroed(p, q0, func(int, int) bool { return true }) }, nil, nil},
		{"embedding rows zeroed (skipped)", func(p gomlxmodel.Params) { zeroed(p, emb, func(i, _ int) bool { return i >= 60 }) }, nil, nil},
		{"embedding rows repeated (skipped)", func(p gomlxmodel.Params) { copyRows(p, emb, 60, emb, 0, 4) }, nil, nil},
		{"a vector repeated", func(p gomlxmodel.Params) {
			p["model.layers.0.input_layernorm.weight"] = checkpoint.Tensor{Shape: []int{32}, Data: slices.Clone(p[norm].Data)}
		}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := maps.Clone(base())
			c.edit(p)
			if got := copiesOf(p, []string{emb}); !slices.Equal(got, c.want) {
				t.Errorf("copies %v, want %v", got, c.want)
			}
			if got := zeroRuns(p, []string{emb}); !slices.Equal(got, c.zeros) {
				t.Errorf("zero runs %v, want %v", got, c.zeros)
			}
		})
	}
}
