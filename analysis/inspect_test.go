package analysis

import (
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Inspect points out what is remarkable: a fresh initialisation is all at init; a trained-like
// copy with a duplicated weight, an untied head equal to the embedding, a collapsed ternary
// weight and a saturated alpha shows each of those, naming the tensors.
func TestInspectRemarks(t *testing.T) {
	c, v := tinyConfig(), config.DefaultVariant()
	fresh := gomlxmodel.InitParams(c, v, 1)
	kinds := func(rs []Remark) map[string][]string {
		m := map[string][]string{}
		for _, r := range rs {
			m[r.Kind] = r.Tensors
		}
		return m
	}
	in := Inspect(&checkpoint.Checkpoint{Dir: "fresh", Meta: checkpoint.Meta{Config: c, Variant: v}, Tensors: fresh})
	got := kinds(in.Remarks)
	if _, ok := got[RemarkUntrained]; !ok {
		t.Errorf("step 0 not remarked: %+v", in.Remarks)
	}
	if n := len(got[RemarkAtInit]) + len(got[RemarkInitLike]); n != len(fresh) {
		t.Errorf("fresh init: %d of %d tensors remarked at init or init-like: %+v", n, len(fresh), in.Remarks)
	}

	c.WeightTied = false
	p := gomlxmodel.InitParams(c, v, 2)
	k := 0
	for _, name := range config.SortedNames(c.TensorShapes(v)) { // move every tensor away from its init, each its own way
		ts := p[name]
		k++
		d := slices.Clone(ts.Data)
		for i := range d {
			if len(ts.Shape) == 2 { // matrices: a wider normal
				d[i] *= 1.5
			} else { // constants: off their value, distinct per tensor
				d[i] += 0.1 + 0.01*float32((i+k)%7) + 0.001*float32(k)
			}
		}
		p[name] = checkpoint.Tensor{Shape: ts.Shape, Data: d}
	}
	p["blocks.1.attn.wk.weight"] = p["blocks.0.attn.wk.weight"]
	p["lm_head.weight"] = p["tok_embed.weight"]
	collapsed := slices.Clone(p["blocks.0.ffn.w_up.weight"].Data)
	for i := range collapsed {
		collapsed[i] = 1e-6 * float32(i%3)
		if i%c.GroupSize == 0 {
			collapsed[i] = 100 // one huge entry per group: every other value quantises to 0
		}
	}
	p["blocks.0.ffn.w_up.weight"] = checkpoint.Tensor{Shape: p["blocks.0.ffn.w_up.weight"].Shape, Data: collapsed}
	p["blocks.1.mhc_ffn.alpha_logit"] = checkpoint.Tensor{Shape: []int{1}, Data: []float32{9}}
	in = Inspect(&checkpoint.Checkpoint{Dir: "edited", Meta: checkpoint.Meta{Config: c, Variant: v, Step: 10}, Tensors: p})
	got = kinds(in.Remarks)
	for kind, want := range map[string][]string{
		RemarkDuplicate:         {"blocks.0.attn.wk.weight", "blocks.1.attn.wk.weight", "lm_head.weight", "tok_embed.weight"},
		RemarkHeadCopiesEmbed:   {"lm_head.weight", "tok_embed.weight"},
		RemarkTernaryDegenerate: {"blocks.0.ffn.w_up.weight"},
		RemarkAlphaSaturated:    {"blocks.1.mhc_ffn.alpha_logit"},
	} {
		if !slices.Equal(got[kind], want) {
			t.Errorf("%s: tensors %v, want %v (remarks %+v)", kind, got[kind], want, in.Remarks)
		}
	}
	for _, kind := range []string{RemarkUntrained, RemarkAtInit, RemarkInitLike} {
		if ts, ok := got[kind]; ok {
			t.Errorf("%s remarked on moved tensors: %v", kind, ts)
		}
	}
}
