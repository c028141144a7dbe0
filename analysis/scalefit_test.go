package analysis

import (
	"fmt"
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

// TestScaledLoss: the per-position loss of the scaled graph equals −log softmax of the logits of
// the runner with the same tensors scaled on the host (to 1e-4 nats), and its gradient with
// respect to each scale equals the central finite difference of the mean loss (to 2 %), on
// checkpoints transformers trained.
func TestScaledLoss(t *testing.T) {
	for _, c := range []struct{ fixture, neg, up string }{
		{"qwen2_trained_swa", "model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.v_proj.weight"},
		{"gpt2_trained_sharded", "transformer.h.0.mlp.c_proj.weight", "transformer.ln_f.weight"},
		{"gpt_neox_trained", "gpt_neox.layers.0.attention.dense.weight", "gpt_neox.embed_in.weight"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			l, r, ids, tg := fixtureBatch(t, filepath.Join("..", "gomlxmodel", "hf", "testdata", "hf", c.fixture), 12)
			V := l.Family.Dims().VocabSize
			specs := l.Family.ParamSpecs()
			x := make([]float64, len(specs))
			changed := gomlxmodel.Params{}
			for i, sp := range specs {
				x[i] = 1
				switch sp.Name {
				case c.neg:
					x[i] = -0.5
				case c.up:
					x[i] = 1.7
				default:
					continue
				}
				changed[sp.Name] = scaledCopy(l.Params[sp.Name], x[i])
			}
			if len(changed) != 2 {
				t.Fatalf("%d of the 2 tensors found", len(changed))
			}
			nll, grad, err := r.ScaledLoss(ids, tg, x)
			if err != nil {
				t.Fatal(err)
			}
			host, err := r.WithValues(changed)
			if err != nil {
				t.Fatal(err)
			}
			logits, err := host.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			for p := range nll {
				row := logits[p*V : (p+1)*V]
				m := float64(slices.Max(row))
				var z float64
				for _, v := range row {
					z += math.Exp(float64(v) - m)
				}
				want := m + math.Log(z) - float64(row[tg[p/12][p%12]])
				if math.Abs(float64(nll[p])-want) > 1e-4 {
					t.Fatalf("position %d: scaled graph %.6f, host-scaled runner %.6f", p, nll[p], want)
				}
			}
			meanAt := func(i int, h float64) float64 {
				y := slices.Clone(x)
				y[i] += h
				l, _, err := r.ScaledLoss(ids, tg, y)
				if err != nil {
					t.Fatal(err)
				}
				var s float64
				for _, v := range l {
					s += float64(v)
				}
				return s / float64(len(l))
			}
			for i, sp := range specs {
				if _, ok := changed[sp.Name]; !ok {
					continue
				}
				const h = 1e-2
				fd := (meanAt(i, h) - meanAt(i, -h)) / (2 * h)
				if math.Abs(grad[i]-fd) > 0.02*math.Abs(fd)+1e-4 {
					t.Errorf("%s: ∂CE/∂s %.6f, finite difference %.6f", sp.Name, grad[i], fd)
				}
			}
		})
	}
}

// TestScaleFit: checkpoints transformers trained, with one tensor negated or scaled ×¼ after
// training — a fault no convention of their family's space is — are unexplained. By the scale
// refit as loaded, with the tensor moved toward undoing it (the negated one below ½ — through 0
// or, where the refit splits a product among its factors, toward it —, the quartered one above
// 1.25) and its scale alone gaining on the held-out positions; or, where a rearrangement of the
// search scrambles the damaged attention (GPT-2's attention output of layer 0 negated: its v
// heads reversed gain 1.40 nats; a Llama's o_proj of layer 1 negated), by that rearrangement
// doing no better than zeroing what it moves, by less than ablatedShareMin of its gain. The
// checkpoints as trained are healthy (TestTransformersKit).
func TestScaleFit(t *testing.T) {
	dir := filepath.Join("testdata", "transformers_kit")
	tokens, err := tokenfile.Read(filepath.Join(dir, "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, tensor string
		scale        float32
		ablated      bool // unexplained by a rearrangement no better than zeroing, not by the refit
	}{
		{"llama_healthy_s1", "model.layers.0.self_attn.v_proj.weight", 0.25, false},
		{"gpt2_healthy_s1", "transformer.h.1.mlp.c_proj.weight", -1, false},
		{"gpt2_healthy_s1", "transformer.h.0.attn.c_proj.weight", -1, true},
		{"llama_healthy_s1", "model.layers.1.self_attn.o_proj.weight", -1, true},
	} {
		t.Run(c.name+"/"+c.tensor, func(t *testing.T) {
			l, err := load.Open(filepath.Join(dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			scale(l.Params, c.tensor, c.scale)
			rep := diagnoseParams(t, l, l.Params, tokens)
			if len(rep.Findings) != 1 || rep.Findings[0].Kind != KindUnexplained {
				t.Fatalf("want unexplained, got %+v", rep.Findings)
			}
			f := rep.Findings[0]
			t.Logf("%s", f.Detail)
			if c.ablated {
				m, ok := f.Evidence["margin_over_ablated_nats"].(float64)
				if g, _ := f.Evidence["gain_nats"].(float64); !ok || m > ablatedShareMin*g {
					t.Fatalf("want a rearrangement no better than zeroing what it moves, got %+v", f.Evidence)
				}
				return
			}
			sf := rep.Details.Catalog.ScaleFit
			if sf == nil || !sf.Better {
				t.Fatalf("want unexplained by the scale refit (refit %+v)", sf)
			}
			i := slices.IndexFunc(sf.Moved, func(m TensorScale) bool { return m.Tensor == c.tensor })
			if i < 0 {
				t.Fatalf("%s not among the moved tensors %+v", c.tensor, sf.Moved)
			}
			m := sf.Moved[i]
			if (c.scale < 0 && m.Scale > 0.5) || (c.scale > 0 && m.Scale < 1.25) || m.Gain <= 2*m.SE {
				t.Errorf("%s saved ×%g: refitted ×%.3f, alone %.3f ± %.3f nats", c.tensor, c.scale, m.Scale, m.Gain, m.SE)
			}
		})
	}
}

// diagnoseParams diagnoses l's family with the weights p on tokens.
func diagnoseParams(t *testing.T, l *load.Loaded, p gomlxmodel.Params, tokens []uint32) *Report {
	t.Helper()
	s, err := FromFamily(l.Family, p, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := DiagnoseSubject(s, tokens, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// fixtureBatch opens the checkpoint dir with a runner of its weights and a fixed batch of two rows
// of n ids and targets.
func fixtureBatch(t *testing.T, dir string, n int) (*load.Loaded, *gomlxmodel.FamilyRunner, [][]int32, [][]int32) {
	t.Helper()
	l, err := load.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		t.Fatal(err)
	}
	V := l.Family.Dims().VocabSize
	ids, tg := [][]int32{make([]int32, n), make([]int32, n)}, [][]int32{make([]int32, n), make([]int32, n)}
	for b := range ids {
		for i := range ids[b] {
			ids[b][i], tg[b][i] = int32((7*i+13*b+3)%V), int32((5*i+11*b+1)%V)
		}
	}
	return l, r, ids, tg
}

// scaledCopy returns a copy of t with every entry multiplied by x.
func scaledCopy(t checkpoint.Tensor, x float64) checkpoint.Tensor {
	out := checkpoint.Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	for i := range out.Data {
		out.Data[i] *= float32(x)
	}
	return out
}

// TestScaleRival: a convention the search names must not be beaten by one scale per tensor
// refitted as loaded. The transformers-trained GPT-NeoX fixture with the output biases of every
// attention and MLP block ×8 (row-parallel biases summed over eight tensor-parallel ranks; blind
// kit 4g's ×4), which the embedding scale √d_model partly offsets, is unexplained with the refit
// better by the margin; a Llama run under the attention scale 1/head_dim, trained under
// 1/√head_dim, keeps its name: the refit, which can scale q_proj by the same factor, recovers no
// more than the convention. The check is one-sided: at ×4 on this fixture the refit stops after
// 16 steps with the biases at ×0.50, not ×0.25, and does not beat the convention (−0.009 ±
// 0.027 nats), which is then named, as it was before the check.
func TestScaleRival(t *testing.T) {
	folded, err := foldedGoSource()
	if err != nil {
		t.Fatal(err)
	}
	kit, err := tokenfile.Read(filepath.Join("testdata", "transformers_kit", "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, fixture string
		edit          func(l *load.Loaded) error
		beaten        bool
	}{
		{"output biases ×8", filepath.Join("..", "gomlxmodel", "hf", "testdata", "hf", "gpt_neox_trained"), func(l *load.Loaded) error {
			for _, n := range []string{"attention.dense.bias", "mlp.dense_4h_to_h.bias"} {
				for i := range 2 {
					scale(l.Params, fmt.Sprintf("gpt_neox.layers.%d.%s", i, n), 8)
				}
			}
			return nil
		}, true},
		{"run under attn_scale 1/head_dim", filepath.Join("testdata", "transformers_kit", "llama_healthy_s1"), func(l *load.Loaded) error { return l.WithConventions("attn_scale=inv_head_dim") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := load.Open(c.fixture)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.edit(l); err != nil {
				t.Fatal(err)
			}
			tokens := folded
			if strings.Contains(c.fixture, "transformers_kit") {
				tokens = kit
			}
			rep := diagnoseParams(t, l, l.Params, tokens)
			r := rep.Details.Catalog.ScaleRival
			if len(rep.Findings) != 1 || r == nil {
				t.Fatalf("want one finding and the refit compared with a named convention, got %+v (rival %+v)", rep.Findings, r)
			}
			f := rep.Findings[0]
			t.Logf("%s: %s (refit %.3f vs %.3f under %s: %.3f ± %.3f)", f.Kind, f.Detail, r.FittedCE, r.CE, r.Convention, r.Margin, r.SE)
			if r.Beats != c.beaten || (f.Kind == KindUnexplained) != c.beaten {
				t.Errorf("%s: refit beats the convention %v, finding %s; want %v", c.name, r.Beats, f.Kind, c.beaten)
			}
		})
	}
}
