package gomlxmodel

import (
	"strings"
	"testing"

	"nanoscope/gomlxmodel/config"
)

// Every builder gives the name it documents, and ParseName takes it apart into the same
// block, sub-block, leaf and stream, at one- and two-digit (and larger) block indices.
func TestNamesRoundTrip(t *testing.T) {
	for _, i := range []int{0, 9, 10, 11, 123} {
		b := Block(i)
		cases := []struct {
			name string
			want Name
		}{
			{BlockHook(i, HookResidPre), Name{RootBlocks, i, "", HookResidPre, -1}},
			{StreamHook(i, HookResidPost, 0), Name{RootBlocks, i, "", HookResidPost, 0}},
			{StreamHook(i, HookResidMid, 1), Name{RootBlocks, i, "", HookResidMid, 1}},
			{SubHook(i, SubAttn, HookPattern), Name{RootBlocks, i, "attn", HookPattern, -1}},
			{SubHook(i, SubAttn, HookZ), Name{RootBlocks, i, "attn", HookZ, -1}},
			{SubHook(i, SubFFN, HookPost), Name{RootBlocks, i, "ffn", HookPost, -1}},
			{SubHook(i, SubMLP, HookOut), Name{RootBlocks, i, "mlp", HookOut, -1}},
			{AttnWeight(i, "wq"), Name{RootBlocks, i, "attn.wq", "weight", -1}},
			{FFNWeight(i, "w_down"), Name{RootBlocks, i, "ffn.w_down", "weight", -1}},
			{NormWeight(i, SubFFN), Name{RootBlocks, i, "norm_ffn", "weight", -1}},
			{MHCParam(i, SubAttn, MHCAlphaLogit), Name{RootBlocks, i, "mhc_attn", "alpha_logit", -1}},
			{GPT2Param(i, "attn.c_attn.weight"), Name{RootGPT2, i, "attn.c_attn", "weight", -1}},
			{GPT2Param(i, "ln_1.bias"), Name{RootGPT2, i, "ln_1", "bias", -1}},
			{LlamaParam(i, "self_attn.q_proj.weight"), Name{RootLlama, i, "self_attn.q_proj", "weight", -1}},
		}
		for _, c := range cases {
			if !strings.HasPrefix(c.name, b+".") && c.want.Root == RootBlocks {
				t.Errorf("%s does not start with %s.", c.name, b)
			}
			got, err := ParseName(c.name)
			if err != nil {
				t.Errorf("ParseName(%q): %v", c.name, err)
				continue
			}
			if got != c.want {
				t.Errorf("ParseName(%q) = %+v, want %+v", c.name, got, c.want)
			}
			if got.String() != c.name {
				t.Errorf("ParseName(%q).String() = %q", c.name, got.String())
			}
			if got.IsHook() != strings.HasPrefix(c.want.Leaf, "hook_") {
				t.Errorf("%q: IsHook %v", c.name, got.IsHook())
			}
		}
	}
	for name, want := range map[string][4]bool{ // IsMHC, IsBitLinear, IsAlphaLogit, IsNorm
		MHCParam(10, SubFFN, MHCAlphaLogit): {true, false, true, false},
		MHCParam(0, SubAttn, MHCPreBias):    {true, false, false, false},
		AttnWeight(11, "wo"):                {false, true, false, false},
		FFNWeight(9, "w_gate"):              {false, true, false, false},
		NormWeight(1, SubAttn):              {false, false, false, true},
		NormWeight(12, SubFFN):              {false, false, false, true},
		ParamNormFinal:                      {false, false, false, true},
		GPT2Param(1, "attn.c_attn.weight"):  {false, false, false, false},
		GPT2Param(1, "ln_1.weight"):         {false, false, false, false},
		ParamTokEmbed:                       {false, false, false, false},
		StreamHook(2, HookResidPost, 0):     {false, false, false, false},
		HookNormFinal:                       {false, false, false, false},
	} {
		n, err := ParseName(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := [4]bool{n.IsMHC(), n.IsBitLinear(), IsAlphaLogit(name), n.IsNorm()}; got != want {
			t.Errorf("%s: IsMHC, IsBitLinear, IsAlphaLogit, IsNorm = %v, want %v", name, got, want)
		}
	}
	// The exact strings, which checkpoints, metrics.jsonl and plots carry.
	for got, want := range map[string]string{
		StreamHook(10, HookResidPost, 1):    "blocks.10.hook_resid_post.s1",
		SubHook(3, SubAttn, HookIn):         "blocks.3.attn.hook_in",
		MHCParam(11, SubFFN, MHCAlphaLogit): "blocks.11.mhc_ffn.alpha_logit",
		NormWeight(0, SubAttn):              "blocks.0.norm_attn.weight",
		GPT2Param(2, "mlp.c_proj.bias"):     "transformer.h.2.mlp.c_proj.bias",
		LlamaParam(2, "mlp.up_proj.weight"): "model.layers.2.mlp.up_proj.weight",
	} {
		if got != want {
			t.Errorf("built %q, want %q", got, want)
		}
	}
	for _, s := range []string{HookEmbed, HookPosEmbed, HookCollapse, HookNormFinal, HookLnFinal, ParamTokEmbed,
		ParamNormFinal, ParamLMHead, GPT2Wte, GPT2Wpe, GPT2LnF + ".bias", LlamaEmbed, LlamaNorm} {
		n, err := ParseName(s)
		if err != nil || n.Block != -1 || n.Stream != -1 || n.String() != s {
			t.Errorf("ParseName(%q) = %+v, %v", s, n, err)
		}
	}
}

// Malformed names are rejected with an error that quotes them.
func TestParseNameRejects(t *testing.T) {
	for _, s := range []string{"", ".", "blocks", "blocks.", "blocks.3", "blocks.x.hook_in", "blocks.03.hook_in",
		"blocks.-1.hook_in", "blocks.3..hook_in", "blocks.3.hook_resid_post.s2", "blocks.3.hook_resid_post.s10",
		"blocks.3.hook_in.attn", "blocks.3.4.hook_in", "transformer.h", "transformer.h.a.ln_1.weight",
		"model.layers.1", "blocks.3.attn hook_z", "blocks.3.attn/hook_z", "hook_embed."} {
		n, err := ParseName(s)
		if err == nil {
			t.Errorf("ParseName(%q) = %+v, want an error", s, n)
			continue
		}
		if !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseName(%q): error %q does not name the input", s, err)
		}
	}
}

// Every hook and parameter name of every family parses and prints back, and the ternary
// model's parameter names (config.TensorShapes, which cannot import this package) are the
// ones the builders spell.
func TestFamilyNamesParse(t *testing.T) {
	c := tinyConfig()
	c.NLayers, c.WeightTied = 12, false
	g2, ll := tinyGPT2(), tinyLlama()
	g2.Config.NLayers, g2.Config.TiedHead, ll.Config.NLayers, ll.Config.TiedHead = 11, false, 11, false
	for _, f := range []Family{Model{Config: c, Variant: config.DefaultVariant()}, g2, ll} {
		var names []string
		for _, p := range f.ParamSpecs() {
			names = append(names, p.Name)
		}
		for _, s := range append(names, f.HookNames()...) {
			n, err := ParseName(s)
			if err != nil {
				t.Errorf("%s: %v", f.Arch(), err)
			} else if n.String() != s {
				t.Errorf("%s: %q parses to %+v, prints %q", f.Arch(), s, n, n.String())
			}
		}
	}
	built := map[string]bool{ParamTokEmbed: true, ParamNormFinal: true, ParamLMHead: true}
	for i := 0; i < c.NLayers; i++ {
		for _, sub := range []string{SubAttn, SubFFN} {
			built[NormWeight(i, sub)] = true
			for _, leaf := range []string{MHCAlphaLogit, MHCPreLogits, MHCPreBias, MHCPostLogits, MHCPostBias} {
				built[MHCParam(i, sub, leaf)] = true
			}
		}
		for _, w := range []string{"wq", "wk", "wv", "wo"} {
			built[AttnWeight(i, w)] = true
		}
		for _, w := range []string{"w_gate", "w_up", "w_down"} {
			built[FFNWeight(i, w)] = true
		}
	}
	shapes := c.TensorShapes(config.DefaultVariant())
	for n := range shapes {
		if !built[n] {
			t.Errorf("config.TensorShapes has %s, which no builder spells", n)
		}
	}
	if len(shapes) != len(built) {
		t.Errorf("config.TensorShapes has %d names, the builders %d", len(shapes), len(built))
	}
}
