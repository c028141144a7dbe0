package gomlxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"nanoscope/gomlxmodel/config"
)

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
}
