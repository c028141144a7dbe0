package main

import (
	"math"
	"slices"
)

// entries4d is kit 4d: rewrites that keep the function (heads, MLP units or a scale moved between
// tensors: healthy controls) and faults outside nanoscope's convention space that an alternative
// of the space can partly undo — a tensor scaled, a sign flipped, heads reordered on one side —
// fixed (with their truths) before any diagnosis of them was run. A diagnosis that names a
// convention for one of them has named a wrong kind.
func entries4d() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	reversed := func(i, n int) int { return n - 1 - i }
	// phi3Heads reorders the heads of Phi-3's fused qkv_proj (q|k|v, 4 heads of 8 in each).
	phi3Heads := func(order ...int) func(i, n int) int {
		return func(i, n int) int { s, r := i/(n/3), i%(n/3); return s*(n/3) + order[r/8]*8 + r%8 }
	}
	return []entry{
		// healthy controls: the same function written another way.
		{Name: "k4d_gpt_neox_heads_reordered", Source: neox, Note: "heads saved in the order 2,0,3,1 in query_key_value (rows and bias, per head q|k|v) and attention.dense (columns) together, every layer",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(heads(24, 2, 0, 3, 1), slices.Concat(layers(2, "gpt_neox.layers.%d.attention.query_key_value.weight"), layers(2, "gpt_neox.layers.%d.attention.query_key_value.bias"))...); err != nil {
					return err
				}
				return c.permuteCols(heads(8, 2, 0, 3, 1), layers(2, "gpt_neox.layers.%d.attention.dense.weight")...)
			}},
		{Name: "k4d_phi3_heads_reordered", Source: phi3, Note: "heads saved in the order 3,1,0,2 in the q, k and v blocks of qkv_proj and in o_proj's columns together, every layer",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(phi3Heads(3, 1, 0, 2), layers(2, "model.layers.%d.self_attn.qkv_proj.weight")...); err != nil {
					return err
				}
				return c.permuteCols(heads(8, 3, 1, 0, 2), layers(2, "model.layers.%d.self_attn.o_proj.weight")...)
			}},
		{Name: "k4d_mistral_mlp_units_reversed", Source: mistral, Note: "the 48 MLP units saved in reverse order (gate_proj and up_proj rows, down_proj columns), every layer",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(reversed, slices.Concat(layers(2, "model.layers.%d.mlp.gate_proj.weight"), layers(2, "model.layers.%d.mlp.up_proj.weight"))...); err != nil {
					return err
				}
				return c.permuteCols(reversed, layers(2, "model.layers.%d.mlp.down_proj.weight")...)
			}},
		{Name: "k4d_mistral_norm_x2_qkv_half", Source: mistral, Note: "input_layernorm saved ×2 and q/k/v_proj ×0.5 (exact in BF16), every layer",
			edit: func(c *ckpt) error {
				if err := c.scaleAll(2, layers(2, "model.layers.%d.input_layernorm.weight")...); err != nil {
					return err
				}
				return c.scaleAll(0.5, slices.Concat(layers(2, "model.layers.%d.self_attn.q_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.weight"), layers(2, "model.layers.%d.self_attn.v_proj.weight"))...)
			}},

		// faults no convention undoes.
		{Name: "k4d_qwen3_embed_x2", Source: qwen3, Kind: "unexplained", Note: "embed_tokens (tied with the head) saved ×2: logits twice as sharp, the embedding twice its share of the stream",
			edit: func(c *ckpt) error { return c.scaleAll(2, "model.embed_tokens.weight") }},
		{Name: "k4d_gemma2_embed_div_sqrt_d", Source: gemma2, Kind: "unexplained", Note: "embed_tokens (tied) saved divided by sqrt(hidden_size) = 5.66: the input is right under Gemma's normalizer, the logits 5.66 times too flat",
			edit: func(c *ckpt) error { return c.scaleAll(float32(1/math.Sqrt(32)), "model.embed_tokens.weight") }},
		{Name: "k4d_phi3_o_proj_l0_x3", Source: phi3, Kind: "unexplained", Note: "layer 0's o_proj saved ×3",
			edit: func(c *ckpt) error { return c.scaleAll(3, "model.layers.0.self_attn.o_proj.weight") }},
		{Name: "k4d_phi3_v_x0.25", Source: phi3, Kind: "unexplained", Note: "the v block of qkv_proj (rows 64–95) saved ×0.25, every layer",
			edit: func(c *ckpt) error {
				for _, n := range layers(2, "model.layers.%d.self_attn.qkv_proj.weight") {
					if err := c.mapBF16(n, func(i int, x float32) float32 {
						if i/32 >= 64 {
							return x / 4
						}
						return x
					}); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4d_gpt_neox_mlp_out_negated_l1", Source: neox, Kind: "unexplained", Note: "layer 1's dense_4h_to_h weight and bias saved with their sign flipped",
			edit: func(c *ckpt) error {
				return c.scaleAll(-1, "gpt_neox.layers.1.mlp.dense_4h_to_h.weight", "gpt_neox.layers.1.mlp.dense_4h_to_h.bias")
			}},
		{Name: "k4d_qwen2_k_negated", Source: qwen2, Kind: "unexplained", Note: "k_proj weight and bias saved with their sign flipped in every layer: every attention score negated",
			edit: func(c *ckpt) error {
				return c.scaleAll(-1, slices.Concat(layers(2, "model.layers.%d.self_attn.k_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.bias"))...)
			}},
		{Name: "k4d_mistral_q_heads_reordered", Source: mistral, Kind: "unexplained", Note: "q_proj rows of heads saved in the order 1,0,3,2 (o_proj unchanged), every layer: each head's pattern lands in another head's output slot",
			edit: func(c *ckpt) error {
				return c.permuteRows(heads(8, 1, 0, 3, 2), layers(2, "model.layers.%d.self_attn.q_proj.weight")...)
			}},
		{Name: "k4d_qwen2_mlp_gate_up_exchanged_l1", Source: qwen2, Kind: "tensors_misplaced", Convention: "tensor_mapping", Note: "layer 1's gate_proj and up_proj (48×32 both) written under each other's names",
			edit: func(c *ckpt) error {
				return c.exchange("model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight")
			}},

		// a tensor left at its initial value.
		{Name: "k4d_gemma_final_norm_reset", Source: gemma, Kind: "tensors_untrained", Note: "model.norm.weight saved as zeros (its initial value: Gemma applies 1 + w)",
			edit: func(c *ckpt) error { return c.fillAll(0, "model.norm.weight") }},
	}
}
