package gomlxmodel

import (
	"math/rand/v2"
	"slices"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
)

// TestFusedQKVOrder: a Phi-3-style fused qkv_proj whose row blocks a converter wrote in another
// order (q has H·hd rows, k and v Hkv·hd each: blocks of unequal size under GQA) computes the
// reference logits under that qkv_order, and other logits under the order the config implies.
func TestFusedQKVOrder(t *testing.T) {
	m := tinyLlama() // 4 heads, 2 kv heads, head_dim 4: q 16 rows, k and v 8 each
	m.Config.FusedQKV = true
	p := InitFamilyParams(m, 1)
	perturb(p, 2, 0.05)
	ids := randomIDs(rand.New(rand.NewPCG(5, 6)), 1, 8, m.Config.VocabSize)
	logits := func(f Family, p Params) []float32 { return familyLogits(t, f, p, ids) }
	want := logits(m, p)
	qd, kvd, d := m.Config.NHeads*m.Config.HeadDim, m.Config.NKVHeads*m.Config.HeadDim, m.Config.DModel
	for _, order := range QKVOrders {
		t.Run(order, func(t *testing.T) {
			q := Params{}
			for k, v := range p {
				q[k] = v
			}
			for i := range m.Config.NLayers {
				name := LlamaParam(i, "self_attn.qkv_proj.weight")
				w := p[name].Data
				rows := map[rune][]float32{'q': w[:qd*d], 'k': w[qd*d : (qd+kvd)*d], 'v': w[(qd+kvd)*d:]}
				var data []float32
				for _, b := range order {
					data = append(data, rows[b]...)
				}
				q[name] = checkpoint.Tensor{Shape: slices.Clone(p[name].Shape), Data: data}
			}
			f, err := m.WithConvention(ConvQKVOrder, order)
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxAbsDiff(logits(f, q), want); diff > 1e-5 {
				t.Errorf("qkv_order %s on rows stored %s: logits differ by %g", order, order, diff)
			}
			if diff := maxAbsDiff(logits(m, q), want); order != "qkv" && diff < 1e-3 {
				t.Errorf("rows stored %s read as qkv: logits differ by only %g", order, diff)
			}
		})
	}
	if _, err := tinyLlama().WithConvention(ConvQKVOrder, "kqv"); err == nil {
		t.Error("qkv_order accepted without a fused qkv_proj")
	}
}

// familyLogits runs f with weights p on ids and returns the logits (B, T, V), flattened.
func familyLogits(t *testing.T, f Family, p Params, ids [][]int32) []float32 {
	t.Helper()
	r, err := NewFamilyRunner(f, p)
	if err != nil {
		t.Fatal(err)
	}
	l, err := r.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
