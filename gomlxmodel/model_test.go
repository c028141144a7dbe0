package gomlxmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Without the causal mask (the future-leakage fault) changing the last token changes the logits
// at every position.
func TestNoCausalMaskSeesTheFuture(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	v.NoCausalMask = true
	p := InitParams(c, v, 1)
	perturb(p, 2, 0.05)
	r := newTestRunner(t, c, v, p)
	ids := randomIDs(rand.New(rand.NewPCG(3, 4)), 1, c.MaxSeqLen, c.VocabSize)
	base, err := r.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	ids[0][c.MaxSeqLen-1] = (ids[0][c.MaxSeqLen-1] + 1) % int32(c.VocabSize)
	got, err := r.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	V := c.VocabSize
	for pos := 0; pos < c.MaxSeqLen; pos++ {
		same := true
		for i := pos * V; i < (pos+1)*V; i++ {
			same = same && got[i] == base[i]
		}
		if same {
			t.Fatalf("without the causal mask, changing the last token left position %d unchanged", pos)
		}
	}
}

// The two GQA mappings are the same model up to a permutation of the query heads: with 4 query
// heads on 2 kv heads, tile reads kv heads (0, 1, 0, 1) and interleave (0, 0, 1, 1), so the
// interleave model equals the tile model whose query heads (wq rows, wo columns) are reordered
// (0, 2, 1, 3). A wrong mapping in either breaks the equality.
func TestGQAMappingsArePermutations(t *testing.T) {
	c := tinyConfig() // 4 heads, 2 kv heads
	hd := c.HeadDim()
	perm := []int{0, 2, 1, 3} // tile head j plays interleave head perm[j]
	v := config.DefaultVariant()
	v.Ternary = false
	p := InitParams(c, v, 5)
	perturb(p, 6, 0.1)
	vi := v
	vi.GQAMap = config.GQAInterleave
	q := Params{}
	for n, tn := range p {
		q[n] = tn
	}
	for i := 0; i < c.NLayers; i++ {
		wq, wo := p[AttnWeight(i, "wq")], p[AttnWeight(i, "wo")]
		nq, no := slices.Clone(wq.Data), slices.Clone(wo.Data)
		for j, h := range perm {
			copy(nq[j*hd*c.Dim:(j+1)*hd*c.Dim], wq.Data[h*hd*c.Dim:(h+1)*hd*c.Dim]) // rows of head h
			for r := 0; r < c.Dim; r++ {                                            // wo (D, H·hd): columns of head h
				copy(no[r*c.NHeads*hd+j*hd:r*c.NHeads*hd+(j+1)*hd], wo.Data[r*c.NHeads*hd+h*hd:r*c.NHeads*hd+(h+1)*hd])
			}
		}
		q[AttnWeight(i, "wq")] = checkpoint.Tensor{Shape: wq.Shape, Data: nq}
		q[AttnWeight(i, "wo")] = checkpoint.Tensor{Shape: wo.Shape, Data: no}
	}
	ids := randomIDs(rand.New(rand.NewPCG(7, 8)), 2, c.MaxSeqLen, c.VocabSize)
	logits := func(v config.Variant, p Params) []float32 {
		out, err := newTestRunner(t, c, v, p).Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	inter, tiled, plain := logits(vi, p), logits(v, q), logits(v, p)
	maxDiff, maxPlain := 0.0, 0.0
	for i := range inter {
		maxDiff = max(maxDiff, math.Abs(float64(inter[i]-tiled[i])))
		maxPlain = max(maxPlain, math.Abs(float64(inter[i]-plain[i])))
	}
	if maxDiff > 1e-5 {
		t.Fatalf("interleave vs permuted tile: max |Δ| %g", maxDiff)
	}
	if maxPlain < 1e-3 {
		t.Fatalf("the two mappings give the same logits on the same weights (max |Δ| %g): the test cannot tell them apart", maxPlain)
	}
}

// Changing the tokens after position t must never change the logits at positions ≤ t.
func TestCausality(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ternary bool
		mhc     bool
	}{{"ternary+mhc", true, true}, {"float+mhc", false, true}, {"ternary, no mhc", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			v := config.DefaultVariant()
			v.Ternary, v.MHC = tc.ternary, tc.mhc
			p := InitParams(c, v, 1)
			perturb(p, 2, 0.05)
			r := newTestRunner(t, c, v, p)
			rng := rand.New(rand.NewPCG(3, 4))
			ids := randomIDs(rng, 1, c.MaxSeqLen, c.VocabSize)
			base, err := r.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			V := c.VocabSize
			for cut := 0; cut < c.MaxSeqLen-1; cut++ {
				changed := [][]int32{append([]int32(nil), ids[0]...)}
				for j := cut + 1; j < c.MaxSeqLen; j++ {
					changed[0][j] = int32((int(ids[0][j]) + 1 + rng.IntN(V-1)) % V)
				}
				got, err := r.Logits(changed)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < (cut+1)*V; i++ {
					if got[i] != base[i] {
						t.Fatalf("changing tokens after %d changed logit %d at position %d: %v → %v", cut, i%V, i/V, base[i], got[i])
					}
				}
				// and the future positions do depend on the change (the test can fail).
				diff := false
				for i := (cut + 1) * V; i < len(got); i++ {
					diff = diff || got[i] != base[i]
				}
				if !diff {
					t.Fatalf("changing tokens after %d changed no later logit", cut)
				}
			}
		})
	}
}

func TestRoPEHandComputed(t *testing.T) {
	// head_dim 4, theta 10000: inverse frequencies 1 and 10000^(-1/2) = 0.01.
	cos, sin := RopeTables(3, 4, 10000)
	want := [][2]float64{{1, 0.01}, {2, 0.02}}
	for pos := 1; pos < 3; pos++ {
		for i, f := range []float64{1, 0.01} {
			a := float64(pos) * f
			if math.Abs(float64(cos[pos][i])-math.Cos(a)) > 1e-6 || math.Abs(float64(sin[pos][i])-math.Sin(a)) > 1e-6 {
				t.Fatalf("pos %d freq %d: got cos %v sin %v, want %v %v", pos, i, cos[pos][i], sin[pos][i], math.Cos(a), math.Sin(a))
			}
		}
	}
	_ = want
	// Rotation of x = [1, 2, 3, 4] at position 2 in the halves layout:
	// x1 = (1, 2), x2 = (3, 4); out = (x1·cos − x2·sin, x2·cos + x1·sin) per frequency.
	x := []float64{1, 2, 3, 4}
	got := evalRoPE(t, x, 3, 2, 10000)
	c0, s0, c1, s1 := math.Cos(2), math.Sin(2), math.Cos(0.02), math.Sin(0.02)
	exp := []float64{1*c0 - 3*s0, 2*c1 - 4*s1, 3*c0 + 1*s0, 4*c1 + 2*s1}
	for i := range exp {
		if math.Abs(got[i]-exp[i]) > 1e-5 {
			t.Fatalf("RoPE element %d: got %v, want %v (all %v vs %v)", i, got[i], exp[i], got, exp)
		}
	}
	// The interleaved layout pairs (x0, x1) at frequency 1 and (x2, x3) at 0.01.
	got = evalRoPELayout(t, x, 3, 2, 10000, config.RopeInterleaved)
	exp = []float64{1*c0 - 2*s0, 2*c0 + 1*s0, 3*c1 - 4*s1, 4*c1 + 3*s1}
	for i := range exp {
		if math.Abs(got[i]-exp[i]) > 1e-5 {
			t.Fatalf("interleaved RoPE element %d: got %v, want %v (all %v vs %v)", i, got[i], exp[i], got, exp)
		}
	}
}

// The fused attention (attention.Core) computes the same logits as the explicit graph, for
// grouped kv heads under both mappings; under it the pattern hook is refused (the proof that the
// fused path ran).
func TestFusedAttentionSameLogits(t *testing.T) {
	for _, gqa := range []string{config.GQATile, config.GQAInterleave} {
		t.Run(gqa, func(t *testing.T) {
			c := tinyConfig()
			v := config.DefaultVariant()
			v.GQAMap = gqa
			p := InitParams(c, v, 1)
			perturb(p, 2, 0.05)
			ids := randomIDs(rand.New(rand.NewPCG(3, 4)), 2, c.MaxSeqLen, c.VocabSize)
			run := func(fused bool) []float32 {
				defer func(old bool) { FusedAttention = old }(FusedAttention)
				FusedAttention = fused
				r := newTestRunner(t, c, v, p)
				out, err := r.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				_, err = r.Capture(ids, []string{SubHook(0, SubAttn, HookPattern)})
				if fused != (err != nil && strings.Contains(err.Error(), "not computed")) {
					t.Fatalf("fused %v: pattern capture error %v", fused, err)
				}
				return out
			}
			plain, fused := run(false), run(true)
			var maxDiff, maxAbs float64
			for i := range plain {
				maxDiff = max(maxDiff, math.Abs(float64(plain[i]-fused[i])))
				maxAbs = max(maxAbs, math.Abs(float64(plain[i])))
			}
			t.Logf("max |Δ| %.3g, max |logit| %.3g", maxDiff, maxAbs)
			if maxDiff > 1e-5*maxAbs {
				t.Fatalf("max |Δ| %.3g > 1e-5 × max |logit| %.3g", maxDiff, maxAbs)
			}
		})
	}
}
