package analysis

import (
	"maps"
	"math"
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
// while one zero row, a matrix zero throughout, the embedding's rows and an output projection's
// columns of one head (its input units: a head removed or grown) are not.
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
	const o0 = "model.layers.0.self_attn.o_proj.weight"
	base := func() gomlxmodel.Params {
		return gomlxmodel.Params{q0: draw(32, 32), q1: draw(32, 32), k1: draw(16, 32), v1: draw(16, 32), emb: draw(64, 32), o0: draw(32, 32),
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
		{"o_proj's columns of one head zeroed (the head removed or grown: its input units, skipped)", func(p gomlxmodel.Params) { zeroed(p, o0, func(_, j int) bool { return j >= 8 && j < 16 }) }, nil, nil},
		{"o_proj's rows zeroed", func(p gomlxmodel.Params) { zeroed(p, o0, func(i, _ int) bool { return i < 3 }) },
			nil, []ZeroRun{{Tensor: o0, Axis: "rows", From: 0, To: 3}}},
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
			if got := zeroRuns(p, []string{emb}, map[string]string{o0: "columns"}); !slices.Equal(got, c.zeros) {
				t.Errorf("zero runs %v, want %v", got, c.zeros)
			}
		})
	}
}

// TestCoarseGrids: a matrix rounded by a quantizer's round trip — int3 or int4 per tensor, int4
// per group of 128 inputs (GPTQ's), absmax blocks of 64 (bitsandbytes'), fp8 e4m3 — is found
// with its number of levels, while trained-like draws stored in fp32, fp16 or bf16, a 2:4 sparse
// one and a small matrix are not.
func TestCoarseGrids(t *testing.T) {
	const name = "model.layers.0.mlp.down_proj.weight"
	const rows, cols = 64, 256
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func() []float32 {
		d := make([]float32, rows*cols)
		for i := range d {
			d[i] = float32(0.02 * rng.NormFloat64())
		}
		return d
	}
	// round rounds groups of n consecutive entries to a symmetric grid of the given bits
	// (absmax scaling), as kit 4f's quantizer does per tensor.
	round := func(bits, n int) func([]float32) {
		levels := float64(int(1)<<(bits-1) - 1)
		return func(d []float32) {
			for from := 0; from < len(d); from += n {
				g := d[from:min(from+n, len(d))]
				absmax := 0.0
				for _, x := range g {
					absmax = max(absmax, math.Abs(float64(x)))
				}
				for i, x := range g {
					g[i] = float32(math.Round(float64(x)/absmax*levels) * absmax / levels)
				}
			}
		}
	}
	mantissa := func(bits int) func([]float32) { // keep the top bits of the mantissa, round to nearest
		return func(d []float32) {
			for i, x := range d {
				f, e := math.Frexp(float64(x))
				s := math.Ldexp(1, bits+1)
				d[i] = float32(math.Ldexp(math.Round(f*s)/s, e))
			}
		}
	}
	for _, c := range []struct {
		name   string
		edit   func([]float32)
		shape  []int
		levels int // at most this many levels; 0: not a grid, −1: a grid of any number
	}{
		{"fp32 draw", func([]float32) {}, nil, 0},
		{"fp16 (10 mantissa bits)", mantissa(10), nil, 0},
		{"bf16 (7 mantissa bits)", mantissa(7), nil, 0},
		{"bf16, 2:4 sparse", func(d []float32) {
			mantissa(7)(d)
			for i := range d {
				if i%4 < 2 {
					d[i] = 0
				}
			}
		}, nil, 0},
		{"int3 per tensor", round(3, rows*cols), nil, 7},
		{"int4 per tensor", round(4, rows*cols), nil, 15},
		{"int4 per group of 128", round(4, 128), nil, -1},
		{"int4 per block of 64", round(4, 64), nil, -1},
		{"fp8 e4m3 (3 mantissa bits)", mantissa(3), nil, -1},
		{"int3, fewer than minGridValues entries", round(3, 8*16), []int{8, 16}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, shape := draw(), []int{rows, cols}
			if c.shape != nil {
				shape, d = c.shape, d[:c.shape[0]*c.shape[1]]
			}
			c.edit(d)
			got := coarseGrids(gomlxmodel.Params{name: {Shape: shape, Data: d}}, nil)
			r, _ := gridRepeat(d)
			t.Logf("repeat share %.3f", r)
			switch {
			case c.levels == 0 && len(got) > 0:
				t.Fatalf("found %v, want none", got)
			case c.levels != 0 && len(got) != 1:
				t.Fatalf("found %v, want %s", got, name)
			case c.levels > 0 && got[0].Levels > c.levels:
				t.Fatalf("%d levels, want at most %d", got[0].Levels, c.levels)
			}
		})
	}
}

// TestSparseMatrices: exact zeros scattered through a matrix (2:4 sparsity, magnitude pruning)
// are found with their share, while a dense draw and zeros that fill whole rows or columns (a
// head or unit removed whole: zeroRuns' business) are not.
func TestSparseMatrices(t *testing.T) {
	const name = "model.layers.0.self_attn.o_proj.weight"
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		name  string
		zero  func(i, j int) bool
		share float64 // 0: not found
	}{
		{"dense", func(int, int) bool { return false }, 0},
		{"2:4 sparse", func(i, j int) bool { return (i+j)%4 < 2 }, 0.5},
		{"one entry in 40", func(i, j int) bool { return (i*32+j)%40 == 0 }, 0.025},
		{"one entry in 100", func(i, j int) bool { return (i*32+j)%100 == 0 }, 0},
		{"a head's columns zero", func(_, j int) bool { return j >= 8 && j < 16 }, 0},
		{"rows zero", func(i, _ int) bool { return i < 4 }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := make([]float32, 32*32)
			for i := range d {
				if d[i] = float32(rng.NormFloat64()); c.zero(i/32, i%32) {
					d[i] = 0
				}
			}
			got := sparseMatrices(gomlxmodel.Params{name: {Shape: []int{32, 32}, Data: d}}, nil)
			switch {
			case c.share == 0 && len(got) > 0:
				t.Fatalf("found %v, want none", got)
			case c.share > 0 && (len(got) != 1 || math.Abs(got[0].Share-c.share) > 0.002):
				t.Fatalf("found %v, want a share of %.3f", got, c.share)
			}
		})
	}
}
