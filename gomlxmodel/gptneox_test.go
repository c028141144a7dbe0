package gomlxmodel

import (
	"testing"

	"nanoscope/gomlxmodel/config"
)

func tinyNeoX() GPTNeoX {
	return GPTNeoX{GPTNeoXConfig{VocabSize: 37, DModel: 16, NLayers: 2, NHeads: 2, DFF: 24, LayerNormEps: 1e-5, RopeTheta: 10000,
		RotaryPct: 0.25, InitializerRange: 0.02, AttentionBias: true, HiddenAct: "gelu", ParallelResidual: true,
		QKVSplit: "per_head", RopePairing: config.RopeHalves, Causal: true}}
}

func tinyGemma2() Llama {
	l := tinyLlama()
	c := &l.Config
	c.Arch, c.SandwichNorm, c.AttnSoftCap, c.QueryPreAttnScalar, c.SlidingWindow, c.HiddenAct = "gemma2", true, 2, 6, 3, "gelu_pytorch_tanh"
	c.LayerTypes = []string{LayerSliding, LayerFull}
	c.Run.NormOffset, c.Run.EmbedScale, c.Run.LogitSoftCap, c.TiedHead = true, true, 3, true
	return l
}

func tinyPhi3() Llama {
	l := tinyLlama()
	l.Config.Arch, l.Config.FusedQKV, l.Config.FusedGateUp, l.Config.RotaryDim = "phi3", true, true, 2
	return l
}

// TestNewFamilySpecs: the fused, sandwich-normed and GPT-NeoX tensors are named as transformers
// names them, read the hooks their position says, and every convention a family lists flips
// to a family that validates and runs.
func TestNewFamilySpecs(t *testing.T) {
	cases := []struct {
		f        Family
		reads    map[string]string
		matrices int
	}{
		{tinyNeoX(), map[string]string{"gpt_neox.layers.1.attention.query_key_value.weight": "blocks.1.attn.hook_in",
			"gpt_neox.layers.0.attention.dense.weight": "blocks.0.attn.hook_z", "gpt_neox.layers.0.mlp.dense_4h_to_h.weight": "blocks.0.mlp.hook_post",
			NeoXHead: HookLnFinal, NeoXEmbed: ""}, 9},
		{tinyPhi3(), map[string]string{"model.layers.0.self_attn.qkv_proj.weight": "blocks.0.attn.hook_in",
			"model.layers.1.mlp.gate_up_proj.weight": "blocks.1.mlp.hook_in", "model.layers.1.mlp.down_proj.weight": "blocks.1.mlp.hook_post"}, 9},
		{tinyGemma2(), map[string]string{"model.layers.0.pre_feedforward_layernorm.weight": "", "model.layers.0.self_attn.o_proj.weight": "blocks.0.attn.hook_z"}, 14},
	}
	for _, c := range cases {
		t.Run(c.f.Arch(), func(t *testing.T) {
			s := c.f.Spec()
			shapes := ParamShapes(c.f)
			if len(s.Weights) != c.matrices {
				t.Errorf("%d weights read an activation, want %d", len(s.Weights), c.matrices)
			}
			for n, h := range c.reads {
				if _, ok := shapes[n]; !ok {
					t.Errorf("no parameter %s", n)
				}
				if s.Weights[n].Reads != h {
					t.Errorf("%s reads %q, want %q", n, s.Weights[n].Reads, h)
				}
			}
			for _, conv := range c.f.Conventions() {
				for _, v := range conv.Values {
					g, err := c.f.WithConvention(conv.Name, v)
					if err != nil {
						t.Errorf("%s=%s: %v", conv.Name, v, err)
						continue
					}
					if _, err := NewFamilyRunner(g, InitFamilyParams(g, 1)); err != nil {
						t.Errorf("%s=%s: %v", conv.Name, v, err)
					}
				}
			}
		})
	}
}
