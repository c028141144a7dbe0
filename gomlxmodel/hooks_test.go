package gomlxmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

// hookFamilies are the families the hook tests run on: GPT-2, Llama, nanochat, and the
// ternary model with and without mHC.
func hookFamilies() []Family {
	noMHC := config.DefaultVariant()
	noMHC.MHC = false
	return []Family{tinyGPT2(), tinyLlama(), tinyNanochat(),
		Model{Config: tinyConfig(), Variant: config.DefaultVariant()}, Model{Config: tinyConfig(), Variant: noMHC}}
}

func familyName(f Family) string {
	if m, ok := f.(Model); ok && !m.Variant.MHC {
		return f.Arch() + "_nomhc"
	}
	return f.Arch()
}

func newHooked(t *testing.T, f Family, seed uint64) *HookedRunner {
	t.Helper()
	p := InitFamilyParams(f, int64(seed))
	perturb(p, seed+1, 0.05)
	r, err := NewFamilyRunner(f, p)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHookedRunner(r)
	t.Cleanup(h.Close)
	return h
}

func mustRun(t *testing.T, h *HookedRunner, ids [][]int32, cache []string, edits ...Edit) map[string]Activation {
	t.Helper()
	out, err := h.Run(ids, cache, edits...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// residPost is the last block's resid_post alias; every family has it.
func lastResid(f Family, hook string) string { return BlockHook(f.Dims().NLayers-1, hook) }

// Patching the clean run into itself at every hook changes no logit (bit-exact), and a Run
// without edits gives Capture's logits (bit-exact).
func TestHookedPatchSelfIsExact(t *testing.T) {
	for _, f := range hookFamilies() {
		t.Run(familyName(f), func(t *testing.T) {
			h := newHooked(t, f, 3)
			ids := randomIDs(rand.New(rand.NewPCG(1, 2)), 2, 8, f.Dims().VocabSize)
			all := AllHookNames(f)
			clean := mustRun(t, h, ids, all)
			want, err := h.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(clean["logits"].Data, want) {
				t.Fatal("Run without edits differs from Logits")
			}
			for _, hook := range all {
				got := mustRun(t, h, ids, nil, Edit{Hook: hook, Kind: EditPatch, Source: clean})
				if !slices.Equal(got["logits"].Data, want) {
					t.Fatalf("patching %s with itself changed the logits", hook)
				}
			}
		})
	}
}

// Patching a corrupted run's last resid_post (every stream) with the clean run's gives the
// clean logits exactly. Not nanochat: its head reads resid_post minus backout_lambda times
// block n_layer/2's stream, which the patch leaves corrupted.
func TestHookedPatchLastResidRestoresClean(t *testing.T) {
	for _, f := range hookFamilies() {
		if f.Arch() == "nanochat" {
			continue
		}
		t.Run(familyName(f), func(t *testing.T) {
			h := newHooked(t, f, 5)
			rng := rand.New(rand.NewPCG(3, 4))
			clean, corrupt := randomIDs(rng, 1, 8, f.Dims().VocabSize), randomIDs(rng, 1, 8, f.Dims().VocabSize)
			hook := lastResid(f, HookResidPost)
			src := mustRun(t, h, clean, []string{hook})
			base := mustRun(t, h, corrupt, nil)
			got := mustRun(t, h, corrupt, nil, Edit{Hook: hook, Kind: EditPatch, Source: src})
			if slices.Equal(base["logits"].Data, src["logits"].Data) {
				t.Fatal("clean and corrupted logits are equal: the test cannot fail")
			}
			if !slices.Equal(got["logits"].Data, src["logits"].Data) {
				t.Fatalf("patched logits differ from the clean run's: max |Δ| %g", maxAbsDiff(got["logits"].Data, src["logits"].Data))
			}
		})
	}
}

// Zero-ablating every attention and feed-forward output leaves the embedding alone in the
// residual stream: the logits are the head applied to blocks.0.hook_resid_pre (the
// embedding-only model), to float tolerance (mHC's alpha mixing of two equal streams rounds).
// Not nanochat: its per-layer resid and x0 lambdas rescale the stream.
func TestHookedZeroAblationIsEmbeddingOnly(t *testing.T) {
	for _, f := range hookFamilies() {
		if f.Arch() == "nanochat" {
			continue
		}
		t.Run(familyName(f), func(t *testing.T) {
			h := newHooked(t, f, 7)
			ids := randomIDs(rand.New(rand.NewPCG(5, 6)), 2, 8, f.Dims().VocabSize)
			pre, err := ResolveHook(f, BlockHook(0, HookResidPre))
			if err != nil {
				t.Fatal(err)
			}
			clean := mustRun(t, h, ids, pre)
			var edits []Edit
			for i := 0; i < f.Dims().NLayers; i++ {
				edits = append(edits, Edit{Hook: BlockHook(i, "hook_attn_out"), Kind: EditZero}, Edit{Hook: BlockHook(i, "hook_mlp_out"), Kind: EditZero})
			}
			got := mustRun(t, h, ids, nil, edits...)
			want := unembedOf(t, h, clean[pre[0]])
			if d := maxAbsDiff(got["logits"].Data, want); d > 1e-5 || math.IsNaN(d) {
				t.Fatalf("ablated logits differ from the embedding-only logits by %g", d)
			}
			if d := maxAbsDiff(clean["logits"].Data, want); d < 1e-3 {
				t.Fatalf("the blocks change the logits by only %g: the test cannot fail", d)
			}
		})
	}
}

// unembedOf applies the family's Unembed to a residual stream.
func unembedOf(t *testing.T, h *HookedRunner, resid Activation) []float32 {
	t.Helper()
	exec, err := model.NewExec(h.Backend, h.Scope.Store(), func(ctx *model.Scope, x *Node) *Node {
		return ConvertDType(h.Family.Unembed(ctx, x), dtypes.Float32)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(resid.Data, resid.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	out, err := tensors.CopyFlatData[float32](res[0])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The cached shapes are TransformerLens's, and the pattern rows are causal distributions.
func TestHookedCacheShapesAndPattern(t *testing.T) {
	for _, f := range hookFamilies() {
		t.Run(familyName(f), func(t *testing.T) {
			h := newHooked(t, f, 9)
			const B, T = 2, 8
			ids := randomIDs(rand.New(rand.NewPCG(7, 8)), B, T, f.Dims().VocabSize)
			s := f.Spec()
			want := map[string][]int{
				HookEmbed:                        {B, T, s.DModel},
				BlockHook(1, HookResidPre):       {B, T, s.DModel},
				BlockHook(1, "hook_attn_out"):    {B, T, s.DModel},
				BlockHook(1, "hook_mlp_out"):     {B, T, s.DModel},
				BlockHook(1, HookResidPost):      {B, T, s.DModel},
				SubHook(1, SubAttn, HookQ):       {B, T, s.NHeads, s.HeadDim},
				SubHook(1, SubAttn, HookK):       {B, T, s.NHeads, s.HeadDim},
				SubHook(1, SubAttn, HookV):       {B, T, s.NHeads, s.HeadDim},
				SubHook(1, SubAttn, HookPattern): {B, s.NHeads, T, T},
				"ln_final.hook_normalized":       {B, T, s.DModel},
				"logits":                         {B, T, s.VocabSize},
			}
			var names []string
			for n := range want {
				if n != "logits" {
					names = append(names, n)
				}
			}
			out := mustRun(t, h, ids, names)
			for n, shape := range want {
				if !slices.Equal(out[n].Shape, shape) {
					t.Errorf("%s: shape %v, want %v", n, out[n].Shape, shape)
				}
			}
			p := out[SubHook(1, SubAttn, HookPattern)]
			for b := 0; b < B; b++ {
				for hd := 0; hd < s.NHeads; hd++ {
					for q := 0; q < T; q++ {
						sum := 0.0
						for k := 0; k < T; k++ {
							v := p.At(b, hd, q, k)
							if k > q && v != 0 {
								t.Fatalf("pattern[%d,%d,%d,%d] = %g: attends to the future", b, hd, q, k, v)
							}
							sum += float64(v)
						}
						if math.Abs(sum-1) > 1e-5 {
							t.Fatalf("pattern row [%d,%d,%d] sums to %g", b, hd, q, sum)
						}
					}
				}
			}
		})
	}
}

// Edits do what they say at the hook itself: zero at one head and position, the mean over
// positions, and nothing elsewhere (exactly).
func TestHookedEditsAtTheHook(t *testing.T) {
	f := tinyGPT2()
	h := newHooked(t, f, 11)
	const B, T = 2, 6
	ids := randomIDs(rand.New(rand.NewPCG(9, 10)), B, T, f.Dims().VocabSize)
	z := SubHook(1, SubAttn, HookZ)
	clean := mustRun(t, h, ids, []string{z, HookEmbed})
	got := mustRun(t, h, ids, []string{z}, Edit{Hook: z, Kind: EditZero, Positions: []int{2}, Heads: []int{1}})
	a, c := got[z], clean[z]
	for b := 0; b < B; b++ {
		for p := 0; p < T; p++ {
			for hd := 0; hd < a.Shape[2]; hd++ {
				for j := 0; j < a.Shape[3]; j++ {
					v, w := a.At(b, p, hd, j), c.At(b, p, hd, j)
					if p == 2 && hd == 1 {
						w = 0
					}
					if v != w {
						t.Fatalf("z[%d,%d,%d,%d] = %g, want %g", b, p, hd, j, v, w)
					}
				}
			}
		}
	}
	got = mustRun(t, h, ids, []string{HookEmbed}, Edit{Hook: HookEmbed, Kind: EditMean, Positions: []int{0, 3}})
	e, ce := got[HookEmbed], clean[HookEmbed]
	d := e.Shape[2]
	for b := 0; b < B; b++ {
		for j := 0; j < d; j++ {
			mean := 0.0
			for p := 0; p < T; p++ {
				mean += float64(ce.At(b, p, j))
			}
			mean /= T
			for p := 0; p < T; p++ {
				v := float64(e.At(b, p, j))
				if p == 0 || p == 3 {
					if math.Abs(v-mean) > 1e-6 {
						t.Fatalf("embed[%d,%d,%d] = %g, want the mean %g", b, p, j, v, mean)
					}
				} else if v != float64(ce.At(b, p, j)) {
					t.Fatalf("embed[%d,%d,%d] changed at an unselected position", b, p, j)
				}
			}
		}
	}
}

// Bad edits and names are one-line errors naming the hook.
func TestHookedErrors(t *testing.T) {
	f := tinyGPT2()
	h := newHooked(t, f, 13)
	ids := [][]int32{{1, 2, 3}}
	resid := BlockHook(0, HookResidPost)
	for _, c := range []struct {
		name  string
		cache []string
		edit  Edit
		want  string
	}{
		{"unknown cache hook", []string{"blocks.0.hook_nothing"}, Edit{Hook: resid, Kind: EditZero}, `unknown hook "blocks.0.hook_nothing"`},
		{"unknown edit hook", nil, Edit{Hook: "blocks.9.hook_resid_pre", Kind: EditZero}, `unknown hook "blocks.9.hook_resid_pre"`},
		{"kind", nil, Edit{Hook: resid, Kind: "resample"}, `kind "resample"`},
		{"position", nil, Edit{Hook: resid, Kind: EditZero, Positions: []int{3}}, "position 3 is outside [0, 3)"},
		{"heads without head axis", nil, Edit{Hook: resid, Kind: EditZero, Heads: []int{0}}, "has no head axis"},
		{"head", nil, Edit{Hook: SubHook(0, SubAttn, HookZ), Kind: EditZero, Heads: []int{3}}, "head 3 is outside [0, 3)"},
		{"no source", nil, Edit{Hook: resid, Kind: EditPatch}, "does not hold this hook"},
		{"source shape", nil, Edit{Hook: resid, Kind: EditPatch, Source: map[string]Activation{resid: {Shape: []int{1, 2, 12}, Data: make([]float32, 24)}}}, "source shape [1 2 12]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.Run(ids, c.cache, c.edit)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// TransformerLens's names resolve to the hooks each family sets.
func TestResolveHook(t *testing.T) {
	mhc := Model{Config: tinyConfig(), Variant: config.DefaultVariant()}
	noMHC := hookFamilies()[4]
	for _, c := range []struct {
		f    Family
		name string
		want []string
		err  string
	}{
		{tinyGPT2(), "blocks.1.hook_attn_out", []string{"blocks.1.attn.hook_out"}, ""},
		{tinyGPT2(), "blocks.1.hook_mlp_out", []string{"blocks.1.mlp.hook_out"}, ""},
		{tinyGPT2(), "ln_final.hook_normalized", []string{"ln_final.hook_out"}, ""},
		{tinyGPT2(), "blocks.0.hook_resid_pre", []string{"blocks.0.hook_resid_pre"}, ""},
		{tinyLlama(), "blocks.0.attn.hook_q", []string{"blocks.0.attn.hook_q"}, ""},
		{tinyNanochat(), "blocks.1.mlp.hook_post", []string{"blocks.1.mlp.hook_post"}, ""},
		{mhc, "blocks.1.hook_resid_post", []string{"blocks.1.hook_resid_post.s0", "blocks.1.hook_resid_post.s1"}, ""},
		{mhc, "blocks.1.mlp.hook_post", []string{"blocks.1.ffn.hook_post"}, ""},
		{mhc, "blocks.0.hook_mlp_out", []string{"blocks.0.ffn.hook_out"}, ""},
		{mhc, "ln_final.hook_normalized", []string{"norm_final.hook_out"}, ""},
		{mhc, "blocks.0.hook_resid_mid.s1", []string{"blocks.0.hook_resid_mid.s1"}, ""},
		{noMHC, "blocks.0.hook_resid_pre", []string{"blocks.0.hook_resid_pre.s0"}, ""},
		{noMHC, "blocks.0.hook_resid_pre.s1", nil, `unknown hook "blocks.0.hook_resid_pre.s1" for nanoscope`},
		{tinyGPT2(), "blocks.2.hook_resid_pre", nil, `unknown hook "blocks.2.hook_resid_pre" for gpt2`},
		{tinyGPT2(), "blocks.0.hook_resid_pre.s0", nil, "unknown hook"},
		{tinyGPT2(), "hook_nothing", nil, "unknown hook"},
	} {
		got, err := ResolveHook(c.f, c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: %v, %v; want an error containing %q", familyName(c.f), c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %v, %v; want %v", familyName(c.f), c.name, got, err, c.want)
		}
	}
}
