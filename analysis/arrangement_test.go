package analysis

import (
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

// TestBlockPermutations: every block permutation is a permutation, the two rotary readings are
// each other's inverse, and the rotary reading of halves as interleaved is rope_rows' (row 2j + p
// of a head from row p·b/2 + j).
func TestBlockPermutations(t *testing.T) {
	for _, b := range []int{4, 8, 64} {
		ps := blockPermutations(b)
		for name, p := range ps {
			if !slices.Equal(slices.Sorted(slices.Values(p)), identity(b)) {
				t.Errorf("b=%d %s: %v is not a permutation", b, name, p)
			}
		}
		i2h, h2i := ps["interleaved_as_halves"], ps["halves_as_interleaved"]
		for i := range b {
			if i2h[h2i[i]] != i {
				t.Fatalf("b=%d: interleaved_as_halves is not the inverse of halves_as_interleaved", b)
			}
			if h2i[i] != (i%2)*(b/2)+i/2 {
				t.Fatalf("b=%d: halves_as_interleaved[%d] = %d, want %d", b, i, h2i[i], (i%2)*(b/2)+i/2)
			}
		}
	}
}

// TestMostSignificantRun: the run of consecutive gains with the largest Σ g / √len.
func TestMostSignificantRun(t *testing.T) {
	for _, c := range []struct {
		g        []float64
		from, to int
	}{
		{[]float64{1, -5, 2, 2}, 2, 4},
		{[]float64{-1, -2}, 0, 0},
		{[]float64{0.01, 0.3, 0.3, 0.012, 0.3}, 1, 5},
		{[]float64{0.01, 0.3, 0.3, -0.4, 0.3}, 1, 3},
		{[]float64{0.03, 0.15, 0.01, 0.19, 0.002, 0.04}, 1, 4},
	} {
		if from, to := mostSignificantRun(c.g); from != c.from || to != c.to {
			t.Errorf("mostSignificantRun(%v) = [%d, %d), want [%d, %d)", c.g, from, to, c.from, c.to)
		}
	}
}

// TestPermutation: --permute's values parse, apply to rows or columns (the bias with them) and
// round-trip through the flag; malformed values, another length and a repeated index are errors
// naming the tensor.
func TestPermutation(t *testing.T) {
	w := checkpoint.Tensor{Shape: []int{3, 2}, Data: []float32{0, 1, 10, 11, 20, 21}}
	b := checkpoint.Tensor{Shape: []int{3}, Data: []float32{0, 1, 2}}
	for _, c := range []struct {
		flag     string
		bias     string
		w, b     []float32
		parseErr string
		applyErr string
	}{
		{flag: "m.weight:0=2,0,1", w: []float32{20, 21, 0, 1, 10, 11}, b: []float32{0, 1, 2}},
		{flag: "m.weight:0=2,0,1", bias: "m.bias", w: []float32{20, 21, 0, 1, 10, 11}, b: []float32{2, 0, 1}},
		{flag: "m.weight:1=1,0", w: []float32{1, 0, 11, 10, 21, 20}, b: []float32{0, 1, 2}},
		{flag: "m.weight=1,0", parseErr: "want TENSOR:AXIS=p0,p1,…"},
		{flag: "m.weight:2=1,0", parseErr: "axis \"2\" of m.weight"},
		{flag: "m.weight:0=1,x,0", parseErr: "permutation of m.weight: \"x\" is not an index"},
		{flag: "m.weight:0=1,0", applyErr: "m.weight: the permutation has 2 indices, axis 0 of shape [3 2] has 3"},
		{flag: "m.weight:0=1,1,0", applyErr: "m.weight: [1 1 0] is not a permutation of 0…2"},
		{flag: "other.weight:0=1,0", applyErr: "no tensor other.weight"},
	} {
		p, err := ParsePermutation(c.flag)
		if c.parseErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.parseErr) {
				t.Errorf("%s: error %v, want …%s…", c.flag, err, c.parseErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.flag, err)
		}
		if got := p.flag(); got != "--permute "+c.flag {
			t.Errorf("%s: flag %q", c.flag, got)
		}
		p.Bias = c.bias
		params := gomlxmodel.Params{"m.weight": w, "m.bias": b}
		err = p.applyTo(params)
		if c.applyErr != "" {
			if err == nil || err.Error() != c.applyErr {
				t.Errorf("%s: error %v, want %s", c.flag, err, c.applyErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.flag, err)
		}
		if !slices.Equal(params["m.weight"].Data, c.w) || !slices.Equal(params["m.bias"].Data, c.b) {
			t.Errorf("%s (bias %q): weight %v bias %v, want %v %v", c.flag, c.bias, params["m.weight"].Data, params["m.bias"].Data, c.w, c.b)
		}
		if w.Data[2] != 10 || b.Data[0] != 0 {
			t.Fatalf("%s: the loaded tensors were changed", c.flag)
		}
	}
}

// TestArrangementCosts: C[i][j] − C[i][i] of ArrangementCosts is the derivative of the mean loss
// along W_i → W_i + ε(W_j − W_i) (the bias with it), checked against central finite differences
// (to 3 %) on checkpoints transformers trained, rows of nn.Linear and columns of Conv1D.
func TestArrangementCosts(t *testing.T) {
	for _, c := range []struct {
		fixture string
		req     gomlxmodel.Arrangement
		i, j    int // within block 1
	}{
		{"llama_healthy_s1", gomlxmodel.Arrangement{Param: "model.layers.1.self_attn.v_proj.weight", Axis: 0, Block: 16}, 3, 9},
		{"llama_healthy_s1", gomlxmodel.Arrangement{Param: "model.layers.0.self_attn.o_proj.weight", Axis: 1, Block: 16}, 0, 15},
		{"gpt2_healthy_s1", gomlxmodel.Arrangement{Param: "transformer.h.0.attn.c_attn.weight", Bias: "transformer.h.0.attn.c_attn.bias", Axis: 1, Block: 16}, 5, 6},
	} {
		t.Run(c.fixture+"/"+c.req.Param, func(t *testing.T) {
			l, r, ids, tg := fixtureBatch(t, filepath.Join("testdata", "transformers_kit", c.fixture), 16)
			V := l.Family.Dims().VocabSize
			cs, err := r.ArrangementCosts(ids, tg, []gomlxmodel.Arrangement{c.req})
			if err != nil {
				t.Fatal(err)
			}
			b := c.req.Block
			at := func(i, j int) float64 { return float64(cs[0][(b+i)*b+j]) } // block 1
			want := at(c.i, c.j) - at(c.i, c.i)
			meanLoss := func(eps float64) float64 {
				pm := Permutation{Tensor: c.req.Param, Bias: c.req.Bias, Axis: c.req.Axis}
				changed := gomlxmodel.Params{}
				for _, name := range []string{pm.Tensor, pm.Bias} {
					if name == "" {
						continue
					}
					tt := l.Params[name]
					out := checkpoint.Tensor{Shape: tt.Shape, Data: slices.Clone(tt.Data)}
					axis := c.req.Axis
					if name == pm.Bias {
						axis = 0
					}
					n := tt.Shape[axis]
					inner := len(tt.Data) / n // rows: one row; columns: one entry per row
					for o := range inner {
						idx := func(k int) int {
							if axis == 0 {
								return k*inner + o
							}
							return o*n + k
						}
						x, y := idx(b+c.i), idx(b+c.j)
						out.Data[x] += float32(eps) * (tt.Data[y] - tt.Data[x])
					}
					changed[name] = out
				}
				rr, err := r.WithValues(changed)
				if err != nil {
					t.Fatal(err)
				}
				logits, err := rr.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				var sum float64
				for p := range len(ids) * len(ids[0]) {
					row := logits[p*V : (p+1)*V]
					sum += LogSumExp(row) - float64(row[tg[p/16][p%16]])
				}
				return sum / float64(len(ids)*len(ids[0]))
			}
			const h = 0.05
			fd := (meanLoss(h) - meanLoss(-h)) / (2 * h)
			t.Logf("C[i][j] − C[i][i] = %.6f, finite difference %.6f", want, fd)
			if math.Abs(want-fd) > 0.03*math.Abs(fd)+1e-5 {
				t.Errorf("C[%d][%d] − C[%d][%d] = %.6f, finite difference %.6f", c.i, c.j, c.i, c.i, want, fd)
			}
		})
	}
}

// TestArrangementSearch: checkpoints transformers trained, with the rows or columns of one
// projection rearranged inside every head after training — v_proj's rows reversed in every
// layer, the k block of GPT-2's fused c_attn rolled in one layer (its bias with it), o_proj's
// columns read as interleaved pairs — are named tensors_misplaced by a rearrangement that brings
// the loss back to the model's as trained (within 0.03 nats); the checkpoints as trained are
// healthy (TestTransformersKit).
func TestArrangementSearch(t *testing.T) {
	dir := filepath.Join("testdata", "transformers_kit")
	tokens, err := tokenfile.Read(filepath.Join(dir, "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	type slip struct { // the converter's: blocks [from, to) of 16 of an axis by the named permutation
		tensor, bias   string
		axis, from, to int
		perm           string
	}
	for _, c := range []struct {
		name  string
		slips []slip
	}{
		{"llama_healthy_s1", []slip{{"model.layers.0.self_attn.v_proj.weight", "", 0, 0, 2, "reversed"}, {"model.layers.1.self_attn.v_proj.weight", "", 0, 0, 2, "reversed"}}},
		{"gpt2_healthy_s1", []slip{{"transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias", 1, 4, 8, "rolled_by_4"}}},
		{"llama_healthy_s1", []slip{{"model.layers.1.self_attn.o_proj.weight", "", 1, 0, 4, "halves_as_interleaved"}}},
	} {
		t.Run(c.name+"/"+c.slips[0].tensor, func(t *testing.T) {
			l, err := load.Open(filepath.Join(dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			clean, err := FromFamily(l.Family, l.Params, l.Dir)
			if err != nil {
				t.Fatal(err)
			}
			p := maps.Clone(l.Params)
			for _, sl := range c.slips {
				bp, n := blockPermutations(16)[sl.perm], p[sl.tensor].Shape[sl.axis]
				perm := identity(n)
				for k := sl.from; k < sl.to; k++ {
					for i := range 16 {
						perm[k*16+i] = k*16 + bp[i]
					}
				}
				if err := (Permutation{Tensor: sl.tensor, Bias: sl.bias, Axis: sl.axis, Perm: perm}).applyTo(p); err != nil {
					t.Fatal(err)
				}
			}
			rep := diagnoseParams(t, l, p, tokens)
			s, err := FromFamily(l.Family, p, l.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 1 || rep.Findings[0].Kind != KindTensorsMisplaced {
				t.Fatalf("want tensors_misplaced, got %+v", rep.Findings)
			}
			f := rep.Findings[0]
			t.Logf("%s", f.Detail)
			if a := rep.Details.Catalog.Ablated; a != nil {
				t.Logf("zeroed instead: CE %.3f, gain %.3f", a.BestCE, a.Gain)
			}
			best, _, _ := bestCondition(rep.Details.Catalog)
			if best == nil || len(best.Flips) != 1 || best.Flips[0].Edit == nil || len(best.Flips[0].Edit.Permute) == 0 {
				t.Fatalf("best condition %+v is not a rearrangement", best)
			}
			fixed, err := s.withFlip(best.Flips[0])
			if err != nil {
				t.Fatal(err)
			}
			w := rep.Details.Catalog.confirm
			a, err := runOffsets(clean, w, l.Family.Dims().VocabSize)
			if err != nil {
				t.Fatal(err)
			}
			b, err := runOffsets(fixed, w, l.Family.Dims().VocabSize)
			if err != nil {
				t.Fatal(err)
			}
			if d := b.BestCE - a.BestCE; math.Abs(d) > 0.03 {
				t.Errorf("under %s: CE %.4f, as trained %.4f", best.Condition, b.BestCE, a.BestCE)
			}
		})
	}
}
