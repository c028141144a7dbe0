package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/load"
)

// verbModels are the models the verbs are tested on: two trained Hugging Face fixtures
// (byte vocabulary, trained by transformers on Go sources) and the ternary model with and
// without mHC at perturbed initial weights.
func verbModels(t *testing.T) map[string]*gomlxmodel.HookedRunner {
	t.Helper()
	out := map[string]*gomlxmodel.HookedRunner{}
	for _, name := range []string{"gpt2_trained_sharded", "llama_trained_bf16"} {
		l, err := load.Open(filepath.Join("..", "gomlxmodel", "hf", "testdata", "hf", name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = hooked(t, l.Family, l.Params)
	}
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 16, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize = 37, 8, 12
	for _, mhc := range []bool{true, false} {
		v := config.DefaultVariant()
		v.MHC = mhc
		p := gomlxmodel.InitParams(c, v, 1)
		rng := rand.New(rand.NewPCG(2, 3))
		for _, tn := range p {
			for i := range tn.Data {
				tn.Data[i] += 0.05 * float32(rng.NormFloat64())
			}
		}
		name := "nanoscope"
		if !mhc {
			name += "_nomhc"
		}
		out[name] = hooked(t, gomlxmodel.Model{Config: c, Variant: v}, p)
	}
	return out
}

func hooked(t *testing.T, f gomlxmodel.Family, p gomlxmodel.Params) *gomlxmodel.HookedRunner {
	t.Helper()
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		t.Fatal(err)
	}
	h := gomlxmodel.NewHookedRunner(r)
	t.Cleanup(h.Close)
	return h
}

func promptIDs(vocab, n int, seed uint64) []int32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	return ids
}

// The lens at the last depth is the model's logits; its argmax is the logits' argmax.
func TestResidLensLastDepthIsLogits(t *testing.T) {
	for name, h := range verbModels(t) {
		t.Run(name, func(t *testing.T) {
			ids := promptIDs(h.Family.Dims().VocabSize, 8, 4)
			lens, err := ResidLens(h, ids)
			if err != nil {
				t.Fatal(err)
			}
			want, err := h.Logits([][]int32{ids})
			if err != nil {
				t.Fatal(err)
			}
			nd, T, V := lens.Logits.Shape[0], lens.Logits.Shape[1], lens.Logits.Shape[2]
			if nd != h.Family.Dims().NLayers+1 || T != len(ids) || V != h.Family.Dims().VocabSize {
				t.Fatalf("lens shape %v", lens.Logits.Shape)
			}
			last := lens.Logits.Data[(nd-1)*T*V:]
			scale := 0.0
			for _, v := range want {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i, v := range want {
				if d := math.Abs(float64(last[i]) - float64(v)); d > 1e-5*scale {
					t.Fatalf("lens logit %d: %g, model %g", i, last[i], v)
				}
			}
			first := lens.Logits.Data[:T*V]
			if d := maxAbsF(first, want); d < 1e-3 {
				t.Fatalf("the embedding's lens is within %g of the logits: the test cannot fail", d)
			}
			for p := 0; p < T; p++ {
				if a := lens.Argmax[nd-1][p]; last[p*V+a] != maxF(last[p*V:(p+1)*V]) {
					t.Fatalf("argmax at position %d is %d, not the maximum", p, a)
				}
			}
		})
	}
}

// Direct logit attribution sums to the logit difference, per layer for every model and per
// head where the output projection is linear.
func TestDirectLogitAttributionSums(t *testing.T) {
	for name, h := range verbModels(t) {
		for _, perHead := range []bool{false, true} {
			ternary := h.Family.Spec().Ternary != nil
			t.Run(name+map[bool]string{false: "", true: "_per_head"}[perHead], func(t *testing.T) {
				ids := promptIDs(h.Family.Dims().VocabSize, 8, 5)
				d, err := DirectLogitAttribution(h, ids, 6, 3, 7, perHead)
				if perHead && ternary {
					if err == nil || !strings.Contains(err.Error(), "BitLinear") {
						t.Fatalf("per-head attribution of a BitLinear projection: error %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				wantN := 1 + 2*h.Family.Dims().NLayers
				if perHead {
					wantN += h.Family.Dims().NLayers * (h.Family.Dims().NHeads - 1)
				}
				if h.Family.Spec().Norm == gomlxmodel.NormLayer {
					wantN++ // ln_final bias
				}
				if perHead && h.Family.Arch() == "gpt2" {
					wantN += h.Family.Dims().NLayers // c_proj bias
				}
				if len(d.Values) != wantN {
					t.Fatalf("%d components %v, want %d", len(d.Values), d.Labels, wantN)
				}
				if diff := math.Abs(d.Sum() - d.LogitDiff); diff > 1e-4*math.Max(1, math.Abs(d.LogitDiff)) {
					t.Fatalf("contributions sum to %g, the logit difference is %g", d.Sum(), d.LogitDiff)
				}
				if maxAbs(d.Values) < 1e-3 {
					t.Fatalf("every contribution is below 1e-3: the test cannot fail")
				}
			})
		}
	}
}

// Patching block 0's resid_pre at a position where the prompts agree restores nothing
// (exactly), and at the one position where they differ restores everything (exactly).
func TestPatchByLayerPositionKnownEnds(t *testing.T) {
	for name, h := range verbModels(t) {
		t.Run(name, func(t *testing.T) {
			V := h.Family.Dims().VocabSize
			clean := promptIDs(V, 6, 6)
			corrupted := append([]int32(nil), clean...)
			corrupted[2] = (clean[2] + 1) % int32(V)
			p, err := PatchByLayerPosition(h, clean, corrupted, gomlxmodel.HookResidPre, 3, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Restored) != h.Family.Dims().NLayers || len(p.Restored[0]) != 6 {
				t.Fatalf("restored is %dx%d", len(p.Restored), len(p.Restored[0]))
			}
			for pos, r := range p.Restored[0] {
				want := 0.0
				if pos == 2 {
					want = 1
				}
				if r != want {
					t.Errorf("block 0 position %d restores %g, want %g exactly", pos, r, want)
				}
			}
		})
	}
}

// Attention patterns through the verb: rows are causal distributions.
func TestPatternRows(t *testing.T) {
	h := verbModels(t)["gpt2_trained_sharded"]
	ids := promptIDs(h.Family.Dims().VocabSize, 7, 8)
	p, err := Pattern(h, ids, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for q, row := range p {
		s := 0.0
		for k, v := range row {
			if k > q && v != 0 {
				t.Fatalf("pattern[%d][%d] = %g attends to the future", q, k, v)
			}
			s += v
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("row %d sums to %g", q, s)
		}
	}
	nh := h.Family.Dims().NHeads
	if _, err := Pattern(h, ids, 1, nh); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("head %d outside [0, %d)", nh, nh)) {
		t.Fatalf("head out of range: error %v", err)
	}
}

func maxAbsF(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func maxF(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// What the attribution cannot decompose is an error naming why; so is a bad position or token.
func TestDirectLogitAttributionErrors(t *testing.T) {
	models := verbModels(t)
	l, err := load.Open(filepath.Join("..", "gomlxmodel", "load", "testdata", "nanochat", "trained"))
	if err != nil {
		t.Fatal(err)
	}
	nano := hooked(t, l.Family, l.Params)
	gpt2 := models["gpt2_trained_sharded"]
	ids := promptIDs(gpt2.Family.Dims().VocabSize, 6, 9)
	for _, c := range []struct {
		name    string
		h       *gomlxmodel.HookedRunner
		pos, a  int
		perHead bool
		want    string
	}{
		{"nanochat", nano, 5, 3, false, "nanochat's head reads resid_post minus backout_lambda"},
		{"ternary per head", models["nanoscope"], 5, 3, true, "BitLinear"},
		{"position", gpt2, 6, 3, false, "position 6 outside [0, 6)"},
		{"token", gpt2, 5, gpt2.Family.Dims().VocabSize, false, "outside [0, vocab_size="},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DirectLogitAttribution(c.h, ids, c.pos, c.a, 7, c.perHead)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
