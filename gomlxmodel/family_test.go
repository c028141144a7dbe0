package gomlxmodel

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

func tinyGPT2() GPT2 {
	return GPT2{GPT2Config{VocabSize: 37, NPositions: 16, DModel: 12, NLayers: 2, NHeads: 3, DInner: 20,
		LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: GPT2Conv1D, TiedHead: true, Causal: true}}
}

func tinyLlama() Llama {
	return Llama{LlamaConfig{VocabSize: 37, DModel: 16, NLayers: 2, NHeads: 4, NKVHeads: 2, HeadDim: 4, DFF: 24,
		RMSNormEps: 1e-6, RopeTheta: 10000, InitializerRange: 0.02, RopePairing: config.RopeHalves,
		GQAMapping: config.GQAInterleave, Causal: true}}
}

func tinyNanochat() Nanochat {
	return Nanochat{DefaultNanochatConventions(NanochatConfig{VocabSize: 37, PaddedVocab: 64, SeqLen: 8, DModel: 24, NLayers: 2,
		NHeads: 4, NKVHeads: 2, WindowPattern: "SL"})}
}

// The investigated model through the Family interface computes what Runner computes.
func TestModelAsFamily(t *testing.T) {
	c, v := tinyConfig(), config.DefaultVariant()
	p := InitParams(c, v, 1)
	perturb(p, 2, 0.05)
	ids := randomIDs(rand.New(rand.NewPCG(1, 2)), 2, c.MaxSeqLen, c.VocabSize)
	want, err := newTestRunner(t, c, v, p).Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := NewFamilyRunner(Model{Config: c, Variant: v}, p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fr.Capture(ids, Model{Config: c, Variant: v}.HookNames())
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if out["logits"][i] != want[i] {
			t.Fatalf("logit %d: family %v, runner %v", i, out["logits"][i], want[i])
		}
	}
}

// Every family differentiates on the Go backend (gradient flow needs it): the gradient of the
// cross-entropy reaches every parameter, finite.
func TestFamilyGradients(t *testing.T) {
	for _, f := range []Family{tinyGPT2(), tinyLlama(), tinyQwen3(), tinyGemma2(), tinyPhi3(), tinyNeoX(), tinyNanochat(), Model{Config: tinyConfig(), Variant: config.DefaultVariant()}} {
		t.Run(f.Arch(), func(t *testing.T) {
			p := InitFamilyParams(f, 3)
			perturb(p, 4, 0.05)
			ctx, err := NewFamilyScope(f, p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewBackend()
			if err != nil {
				t.Fatal(err)
			}
			InstallDotGeneralGradient()
			rng := rand.New(rand.NewPCG(5, 6))
			ids := randomIDs(rng, 2, 8, f.Dims().VocabSize)
			tg := randomIDs(rng, 2, 8, f.Dims().VocabSize)
			var names []string
			exec, err := model.NewExec(b, ctx.Store(), func(ctx *model.Scope, ids, targets *Node) []*Node {
				var values []*Node
				names, _, values = FamilyParameters(f, ctx, ids.Graph())
				_, ce := Loss(f.Forward(ctx, ids, nil), targets)
				return append([]*Node{ce}, Gradient(ce, values...)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			in := func(x [][]int32) *tensors.Tensor {
				flat := append(append([]int32{}, x[0]...), x[1]...)
				return tensors.FromFlatDataAndDimensions(flat, 2, 8)
			}
			res, err := exec.Exec(in(ids), in(tg))
			if err != nil {
				t.Fatal(err)
			}
			zero := 0
			for i, r := range res[1:] {
				g, err := tensors.CopyFlatData[float32](r)
				if err != nil {
					t.Fatal(err)
				}
				sum := 0.0
				for _, v := range g {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s: non-finite gradient", names[i])
					}
					sum += math.Abs(float64(v))
				}
				if sum == 0 && !strings.HasSuffix(names[i], "alpha_logit") { // H7: alpha has no effect at init
					zero++
				}
			}
			if zero > 0 || len(res) != len(f.ParamSpecs())+1 {
				t.Errorf("%d of %d parameters have a zero gradient", zero, len(res)-1)
			}
		})
	}
}

// Each family's Spec names tensors it has, hooks its forward fills, and the layout of every
// matrix it reads through: hand-written facts of the tiny configurations.
func TestFamilySpec(t *testing.T) {
	gpt2Linear := tinyGPT2()
	gpt2Linear.Config.WeightLayout, gpt2Linear.Config.TiedHead = GPT2Linear, false
	nano := Model{Config: tinyConfig(), Variant: config.DefaultVariant()}
	cases := []struct {
		f                 Family
		embed, head, norm string
		eps               float64
		streams, shift    int
		reads             map[string]string // a few weights and the hook each reads
		inOut             string            // a matrix stored [in, out] ("" for none)
		matrices          int               // weights that read an activation
	}{
		{tinyGPT2(), GPT2Wte, GPT2Wte, NormLayer, 1e-5, 0, 1, map[string]string{
			"transformer.h.1.attn.c_proj.weight": "blocks.1.attn.hook_z", "transformer.h.0.mlp.c_fc.weight": "blocks.0.mlp.hook_in",
			GPT2Wte: "", GPT2Wpe: "", "transformer.h.0.attn.c_attn.bias": ""}, "transformer.h.0.attn.c_attn.weight", 8},
		{gpt2Linear, GPT2Wte, ParamLMHead, NormLayer, 1e-5, 0, 1, map[string]string{
			ParamLMHead: HookLnFinal, "transformer.h.0.mlp.c_proj.weight": "blocks.0.mlp.hook_post"}, "", 9},
		{tinyLlama(), LlamaEmbed, ParamLMHead, NormRMS, 1e-6, 0, 1, map[string]string{
			"model.layers.0.self_attn.k_proj.weight": "blocks.0.attn.hook_in", "model.layers.1.mlp.down_proj.weight": "blocks.1.mlp.hook_post",
			ParamLMHead: HookLnFinal, LlamaEmbed: ""}, "", 15},
		{tinyNanochat(), GPT2Wte, ParamLMHead, NormRMS, float64(math.Nextafter32(1, 2) - 1), 0, 1, map[string]string{
			"transformer.h.1.attn.c_k.weight": "blocks.1.attn.hook_in", "transformer.h.0.attn.c_proj.weight": "blocks.0.attn.hook_z",
			"transformer.h.1.mlp.c_proj.weight": "blocks.1.mlp.hook_post", "transformer.h.1.attn.ve_gate.weight": "",
			NanochatValueEmbed(1): "", ParamLMHead: HookLnFinal}, "", 13},
		{nano, ParamTokEmbed, ParamTokEmbed, NormRMS, RMSNormEps, 2, 1, map[string]string{
			"blocks.0.attn.wo.weight": "blocks.0.attn.hook_z", "blocks.1.ffn.w_up.weight": "blocks.1.ffn.hook_in",
			"blocks.0.mhc_attn.alpha_logit": "", ParamTokEmbed: ""}, "", 14},
	}
	for _, c := range cases {
		t.Run(c.f.Arch()+"/"+c.head, func(t *testing.T) {
			s := c.f.Spec()
			if s.Embed != c.embed || s.Head != c.head || s.Norm != c.norm || s.NormEps != c.eps || s.Streams != c.streams || s.TargetShift != c.shift {
				t.Fatalf("spec %+v", s)
			}
			if s.Dims != c.f.Dims() {
				t.Errorf("Dims %+v, family's %+v", s.Dims, c.f.Dims())
			}
			shapes := ParamShapes(c.f)
			for _, n := range []string{s.Embed, s.Head, s.NormFinal} {
				if _, ok := shapes[n]; !ok && n != "" { // "": a norm without weight (nanochat)
					t.Errorf("spec names %s, not a parameter", n)
				}
			}
			hooks := c.f.HookNames()
			for n, w := range s.Weights {
				if len(shapes[n]) != 2 || !slices.Contains(hooks, w.Reads) || w.InOut != (n == c.inOut || c.inOut != "" && strings.HasPrefix(n, RootGPT2+".")) {
					t.Errorf("weight %s %v: %+v", n, shapes[n], w)
				}
			}
			if len(s.Weights) != c.matrices {
				t.Errorf("%d weights read an activation, want %d", len(s.Weights), c.matrices)
			}
			for n, h := range c.reads {
				if s.Weights[n].Reads != h {
					t.Errorf("%s reads %q, want %q", n, s.Weights[n].Reads, h)
				}
			}
			if (s.Ternary != nil) != (c.f.Arch() == "nanoscope") {
				t.Errorf("Ternary %v", s.Ternary)
			}
		})
	}
}

// A runner of WithValues computes what a runner built on the changed weights computes, bit for
// bit, concurrently with its base, which still computes its own weights' logits; values on top
// of values merge; a name or shape not of the family is refused.
func TestWithValues(t *testing.T) {
	for _, f := range []Family{tinyGPT2(), tinyLlama()} {
		t.Run(f.Arch(), func(t *testing.T) {
			p := InitFamilyParams(f, 3)
			perturb(p, 4, 0.05)
			ids := randomIDs(rand.New(rand.NewPCG(5, 6)), 2, 8, f.Dims().VocabSize)
			logits := func(p Params) []float32 { return familyLogits(t, f, p, ids) }
			specs := f.ParamSpecs()
			a, b := specs[1].Name, specs[len(specs)-1].Name // two tensors to redraw
			fresh := InitFamilyParams(f, 9)
			p1, p2 := maps.Clone(p), maps.Clone(p)
			p1[a] = fresh[a]
			p2[a], p2[b] = fresh[a], fresh[b]
			base, err := NewFamilyRunner(f, p)
			if err != nil {
				t.Fatal(err)
			}
			r1, err := base.WithValues(Params{a: fresh[a]})
			if err != nil {
				t.Fatal(err)
			}
			r2, err := r1.WithValues(Params{b: fresh[b]})
			if err != nil {
				t.Fatal(err)
			}
			want := map[*FamilyRunner][]float32{base: logits(p), r1: logits(p1), r2: logits(p2)}
			if slices.Equal(want[base], want[r1]) {
				t.Fatalf("redrawing %s changes no logit: the test cannot tell", a)
			}
			var wg sync.WaitGroup
			errs := make(chan string, 30)
			for range 10 {
				for r, w := range want {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got, err := r.Logits(ids)
						if err != nil || !slices.Equal(got, w) {
							errs <- fmt.Sprintf("runner %p: %v, logits differ: %v", r, err, !slices.Equal(got, w))
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			for _, c := range []struct {
				p    Params
				want string
			}{
				{Params{"no.such.tensor": fresh[a]}, "runner: no parameter no.such.tensor"},
				{Params{a: fresh[b]}, fmt.Sprintf("runner: %s: expected shape %v, found %v", a, fresh[a].Shape, fresh[b].Shape)},
			} {
				if _, err := base.WithValues(c.p); err == nil || !strings.HasSuffix(err.Error(), c.want) {
					t.Errorf("WithValues(%v): error %v, want …%q", slices.Collect(maps.Keys(c.p)), err, c.want)
				}
			}
		})
	}
}

// TestRunConventionEquivalences: run conventions that must compute the same function — the
// attention scores tempered by 1/√head_dim under the 1/√head_dim scale and the scale 1/head_dim;
// the rotary turn by −θ and, by +θ, q and k with the second half of every head negated;
// one role's rotary rows saved interleaved and read back by rope_rows; a partial RoPE's rows
// saved after the pass-through ones and read back by rotary_dims=last (and the pass-through rows,
// first or last, are the ones a reversal of leaves the logits alone);
// a LayerNorm model (every norm subtracting the mean) with a constant added to every entry of
// its token embedding and without — give the same log-probabilities to float rounding, while the norm type itself changes
// the logits of that shifted model.
func TestRunConventionEquivalences(t *testing.T) {
	wide := tinyLlama() // heads of 8: the interleaved and rotate_half orders are two permutations
	wide.Config.HeadDim = 8
	for _, f := range []Family{tinyGPT2(), tinyLlama(), wide, tinyNanochat()} {
		t.Run(f.Arch(), func(t *testing.T) {
			p := InitFamilyParams(f, 3)
			perturb(p, 4, 0.05)
			ids := randomIDs(rand.New(rand.NewPCG(5, 6)), 2, 8, f.Dims().VocabSize)
			logits := func(p Params, conv ...string) []float32 {
				g := f
				for i := 0; i < len(conv); i += 2 {
					var err error
					if g, err = g.WithConvention(conv[i], conv[i+1]); err != nil {
						t.Fatal(err)
					}
				}
				return familyLogits(t, g, p, ids)
			}
			V := f.Dims().VocabSize
			logProbs := func(x []float32) []float64 { // a tied head shifted adds one constant per row
				out := make([]float64, len(x))
				for r := 0; r < len(x); r += V {
					m, z := math.Inf(-1), 0.0
					for _, v := range x[r : r+V] {
						m = max(m, float64(v))
					}
					for _, v := range x[r : r+V] {
						z += math.Exp(float64(v) - m)
					}
					for i, v := range x[r : r+V] {
						out[r+i] = float64(v) - m - math.Log(z)
					}
				}
				return out
			}
			maxDiff := func(a, b []float32) float64 {
				d, lb := 0.0, logProbs(b)
				for i, x := range logProbs(a) {
					d = max(d, math.Abs(x-lb[i]))
				}
				return d
			}
			var hd int
			for _, s := range f.ParamSpecs() { // the head size: q's rows over the heads
				if strings.Contains(s.Name, "layers.0.") && (strings.HasSuffix(s.Name, "q_proj.weight") || strings.HasSuffix(s.Name, "c_q.weight")) {
					hd = s.Shape[0] / f.Dims().NHeads
				}
			}
			if hd == 0 {
				hd = f.Dims().DModel / f.Dims().NHeads
			}
			temp := strconv.FormatFloat(1/math.Sqrt(float64(hd)), 'g', -1, 64)
			if d := maxDiff(logits(p, ConvAttnTemp, temp), logits(p, ConvAttnScale, AttnInvHeadDim)); d > 1e-5 {
				t.Errorf("attn_temperature %s vs attn_scale %s: logits differ by %g", temp, AttnInvHeadDim, d)
			}
			if d := maxDiff(logits(p), logits(p, ConvAttnTemp, "1")); d != 0 {
				t.Errorf("attn_temperature 1 changes the logits by %g", d)
			}
			if f.Arch() == "llama" { // rotary pairs (x1, x2) turned by −θ are (x1, −x2) turned by +θ, x2 negated
				flipped := maps.Clone(p)
				for _, n := range []string{"q_proj", "k_proj"} {
					for l := range f.Dims().NLayers {
						name := fmt.Sprintf("model.layers.%d.self_attn.%s.weight", l, n)
						w := flipped[name]
						w.Data = slices.Clone(w.Data)
						cols := w.Shape[1]
						for r := range w.Shape[0] {
							if r%hd >= hd/2 {
								for j := range cols {
									w.Data[r*cols+j] = -w.Data[r*cols+j]
								}
							}
						}
						flipped[name] = w
					}
				}
				if d := maxDiff(logits(p, ConvRopeSign, RopeSignNegative), logits(flipped)); d > 1e-5 {
					t.Errorf("rope_sign negative vs the second half of q and k negated: logits differ by %g", d)
				}
				if d := maxDiff(logits(p, ConvRopeSign, RopeSignNegative), logits(p)); d < 1e-3 {
					t.Errorf("rope_sign changes the logits by only %g", d)
				}
				// One role's rows written in the interleaved order (row 2j + p of each head from
				// row p·hd/2 + j), the other's left: rope_rows of that role reads them back.
				for _, c := range []struct{ proj, conv string }{{"q_proj", ConvRopeRowsQ}, {"k_proj", ConvRopeRowsK}} {
					permuted := maps.Clone(p)
					for l := range f.Dims().NLayers {
						name := fmt.Sprintf("model.layers.%d.self_attn.%s.weight", l, c.proj)
						w := permuted[name]
						w.Data = slices.Clone(w.Data)
						cols := w.Shape[1]
						for r := range w.Shape[0] {
							h, i := r/hd, r%hd
							from := h*hd + (i%2)*(hd/2) + i/2
							copy(w.Data[r*cols:(r+1)*cols], p[name].Data[from*cols:(from+1)*cols])
						}
						permuted[name] = w
					}
					if d := maxDiff(logits(permuted, c.conv, RopeRowsOther), logits(p)); d > 1e-5 {
						t.Errorf("%s rows interleaved, run with %s=%s: logits differ from the model's by %g", c.proj, c.conv, RopeRowsOther, d)
					}
					if d := maxDiff(logits(permuted), logits(p)); d < 1e-3 {
						t.Errorf("%s rows interleaved change the logits by only %g", c.proj, d)
					}
				}
				// A partial RoPE (half of each head) whose rotary rows were saved after the
				// pass-through ones (saved row i of a head from row (i + rd) mod hd), q's rotary rows
				// also interleaved: rotary_dims=last with rope_rows_q=other reads them back.
				rd := hd / 2
				rolled := maps.Clone(p)
				for l := range f.Dims().NLayers {
					for _, proj := range []string{"q_proj", "k_proj"} {
						name := fmt.Sprintf("model.layers.%d.self_attn.%s.weight", l, proj)
						w := rolled[name]
						w.Data = slices.Clone(w.Data)
						cols := w.Shape[1]
						for r := range w.Shape[0] {
							h, i := r/hd, r%hd
							j := (i + rd) % hd // the model's dimension saved at i
							if proj == "q_proj" && i >= hd-rd {
								k := i - (hd - rd) // 2m + p of the rotary block, read as p·rd/2 + m
								j = (k%2)*(rd/2) + k/2
							}
							copy(w.Data[r*cols:(r+1)*cols], p[name].Data[(h*hd+j)*cols:(h*hd+j+1)*cols])
						}
						rolled[name] = w
					}
				}
				half := []string{ConvRotaryPct, "0.5"}
				if d := maxDiff(logits(rolled, append(half, ConvRotaryDims, RotaryLast, ConvRopeRowsQ, RopeRowsOther)...), logits(p, half...)); d > 1e-5 {
					t.Errorf("rotary rows saved last, q's interleaved, run with rotary_dims=last and rope_rows_q=other: logits differ from the model's by %g", d)
				}
				if d := maxDiff(logits(rolled, append(half, ConvRopeRowsQ, RopeRowsOther)...), logits(p, half...)); d < 1e-3 {
					t.Errorf("rotary rows saved last change the logits by only %g", d)
				}
				// The pass-through rows are only dotted: reversing them in q and k alike changes
				// nothing, reversing the rotary rows does — rows [rd, hd) pass through, or [0, hd − rd)
				// under rotary_dims=last.
				reversed := func(from, to int) Params {
					out := maps.Clone(p)
					for l := range f.Dims().NLayers {
						for _, proj := range []string{"q_proj", "k_proj"} {
							name := fmt.Sprintf("model.layers.%d.self_attn.%s.weight", l, proj)
							w := out[name]
							w.Data = slices.Clone(w.Data)
							cols := w.Shape[1]
							for r := range w.Shape[0] {
								if h, i := r/hd, r%hd; i >= from && i < to {
									j := h*hd + from + to - 1 - i
									copy(w.Data[r*cols:(r+1)*cols], p[name].Data[j*cols:(j+1)*cols])
								}
							}
							out[name] = w
						}
					}
					return out
				}
				for _, c := range []struct {
					dims     string
					from, to int
					same     bool
				}{{RotaryFirst, rd, hd, true}, {RotaryFirst, 0, rd, false}, {RotaryLast, 0, hd - rd, true}, {RotaryLast, hd - rd, hd, false}} {
					run := append(half, ConvRotaryDims, c.dims)
					if d := maxDiff(logits(reversed(c.from, c.to), run...), logits(p, run...)); (d < 1e-5) != c.same {
						t.Errorf("rotary_dims=%s, rows %d–%d of q and k reversed: logits differ by %g", c.dims, c.from, c.to-1, d)
					}
				}
			}
			if f.Arch() == "nanochat" { // its residual also mixes in the embedding after the norms
				return
			}
			emb := f.Spec().Embed
			shifted := maps.Clone(p)
			e := shifted[emb]
			e.Data = slices.Clone(e.Data)
			for i := range e.Data {
				e.Data[i] += 3
			}
			shifted[emb] = e
			if d := maxDiff(logits(p, ConvNormType, NormLayer), logits(shifted, ConvNormType, NormLayer)); d > 1e-4 {
				t.Errorf("layernorm: a constant added to %s changes the logits by %g", emb, d)
			}
			if d := maxDiff(logits(shifted, ConvNormType, NormLayer), logits(shifted, ConvNormType, NormRMS)); d < 1e-2 {
				t.Errorf("the norm type changes the shifted model's logits by only %g", d)
			}
		})
	}
}
