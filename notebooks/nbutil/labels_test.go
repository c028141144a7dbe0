package nbutil

import "testing"

// Plot labels made from hook and parameter names are the ones the notebooks have always shown,
// at one- and two-digit block indices.
func TestNameLabels(t *testing.T) {
	for name, want := range map[string]string{
		"blocks.1.ffn.hook_out":                     "block 1 FFN out",
		"blocks.10.attn.hook_out":                   "block 10 attention out",
		"blocks.11.hook_resid_post.s0":              "block 11 residual s0",
		"blocks.0.attn.hook_out/hook_resid_post.s0": "block 0 attn / resid",
		"blocks.12.ffn.hook_out/hook_resid_post.s0": "block 12 FFN / resid",
		"hook_embed": "hook_embed",
		"blocks.3.ffn.hook_out/hook_resid_post.s1": "blocks.3.ffn.hook_out/hook_resid_post.s1",
		"transformer.h.1.attn.c_attn.weight":       "transformer.h.1.attn.c_attn.weight",
	} {
		if got := ActLabel(name); got != want {
			t.Errorf("ActLabel(%q) = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"blocks.0.mhc_attn.alpha_logit": "block 0 attention",
		"blocks.11.mhc_ffn.alpha_logit": "block 11 FFN",
	} {
		if got := alphaLabel(name); got != want {
			t.Errorf("alphaLabel(%q) = %q, want %q", name, got, want)
		}
	}
}
