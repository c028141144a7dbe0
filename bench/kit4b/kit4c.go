package main

import (
	"bytes"
	"math"
	"slices"
)

// scaleAll multiplies every element of the named BF16 tensors by k (k = 0 zeroes them).
func (c *ckpt) scaleAll(k float32, names ...string) error {
	for _, n := range names {
		if err := c.mapBF16(n, func(_ int, x float32) float32 { return k * x }); err != nil {
			return err
		}
	}
	return nil
}

// fillAll sets every element of the named BF16 tensors to v (a norm weight reset to 1).
func (c *ckpt) fillAll(v float32, names ...string) error {
	for _, n := range names {
		if err := c.mapBF16(n, func(int, float32) float32 { return v }); err != nil {
			return err
		}
	}
	return nil
}

// copyTensor overwrites tensor dst with the contents of src (same dtype and shape).
func (c *ckpt) copyTensor(src, dst string) error {
	ts, td, err := c.twins(src, dst, "copy %s %v %v into %s %v %v")
	if err != nil {
		return err
	}
	td.data = bytes.Clone(ts.data)
	return nil
}

// entries4c is kit 4c: faults that are not kit 4b's edits, fixed (with their truths) before any
// diagnosis of them was run. Truths name the kind a correct diagnosis would give; "also" lists the
// other defensible answers.
func entries4c() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	cm := "convention_mismatch"
	return []entry{
		// healthy controls: a re-serialization, and config changes inference does not read.
		{Name: "k4c_qwen2_resaved", Source: qwen2, resave: true, Note: "re-serialized by nlpodyssey/safetensors, tensors byte-identical"},
		{Name: "k4c_qwen3_dtype_float32", Source: qwen3, key: "dtype", value: `"float32"`, Note: "config.json dtype float32 (tensors stay BF16; transformers upcasts them on load)"},
		{Name: "k4c_gemma2_use_cache_false", Source: gemma2, key: "use_cache", value: "false", Note: "use_cache false (generation only)"},
		{Name: "k4c_mistral_initializer_range", Source: mistral, key: "initializer_range", value: "0.01", Note: "initializer_range 0.01 (initialisation only)"},

		// config.json says another value than training used.
		{Name: "k4c_gemma2_attn_softcap_dropped", Source: gemma2, Kind: cm, Convention: "attn_logit_softcapping", Also: []string{cm + ":attn_softcap", cm + ":logit_softcap"},
			key: "attn_logit_softcapping", value: "null", Note: "trained with attn_logit_softcapping 50, config.json says null"},
		{Name: "k4c_gpt_neox_heads4_saved2", Source: neox, Kind: cm, Convention: "num_attention_heads",
			key: "num_attention_heads", value: "2", Note: "trained with 4 heads of 8, config.json says 2 heads (of 16: every shape holds)"},
		{Name: "k4c_mistral_untied_saved_tied", Source: mistral, Kind: cm, Convention: "tie_word_embeddings", Also: []string{"tensors_misplaced:tensor_mapping"},
			key: "tie_word_embeddings", value: "true", Note: "trained with an untied lm_head; the converter believed the model tied: config.json says tie_word_embeddings true and lm_head.weight is a copy of embed_tokens",
			edit: func(c *ckpt) error { return c.copyTensor("model.embed_tokens.weight", "lm_head.weight") }},
		{Name: "k4c_qwen3_act_saved_gelu", Source: qwen3, Kind: cm, Convention: "activation",
			key: "hidden_act", value: `"gelu"`, Note: "trained with silu, config.json says gelu (relu, the first choice, nanoscope refuses to load for GPT-NeoX)"},
		{Name: "k4c_gpt_neox_parallel_saved_sequential", Source: neox, Kind: cm, Convention: "use_parallel_residual", Also: []string{cm + ":parallel_residual"},
			key: "use_parallel_residual", value: "false", Note: "trained with the parallel residual, config.json says use_parallel_residual false"},
		{Name: "k4c_gpt_neox_lneps_saved0.1", Source: neox, Kind: cm, Convention: "layer_norm_eps", Also: []string{cm + ":norm_eps"},
			key: "layer_norm_eps", value: "0.1", Note: "trained with layer_norm_eps 1e-5, config.json says 0.1"},
		{Name: "k4c_phi3_rotary1_saved0.5", Source: phi3, Kind: cm, Convention: "rotary_pct", Also: []string{cm + ":partial_rotary_factor"},
			key: "partial_rotary_factor", value: "0.5", Note: "trained rotating all of each head, config.json says partial_rotary_factor 0.5"},

		// conversion slips on tensors.
		{Name: "k4c_qwen3_q_heads_regrouped", Source: qwen3, Kind: "gqa_mapping", Also: []string{cm + ":gqa_mapping"},
			Note: "q heads saved in the order 0,2,1,3 (q_proj rows and o_proj columns together): each head keeps its output slot but shares the other kv head (2 kv heads of 4)",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(heads(16, 0, 2, 1, 3), layers(2, "model.layers.%d.self_attn.q_proj.weight")...); err != nil {
					return err
				}
				return c.permuteCols(heads(16, 0, 2, 1, 3), layers(2, "model.layers.%d.self_attn.o_proj.weight")...)
			}},
		{Name: "k4c_mistral_embed_ids_pairswapped", Source: mistral, Kind: "unexplained",
			Note: "embed_tokens rows of ids 2k and 2k+1 exchanged (a vocab remap applied to the input side only); lm_head unchanged",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, _ int) int { return i ^ 1 }, "model.embed_tokens.weight")
			}},
		{Name: "k4c_phi3_gate_up_halves_swapped", Source: phi3, Kind: "tensors_misplaced", Convention: "tensor_mapping", Also: []string{cm + ":gate_up_order"},
			Note: "fused gate_up_proj rows saved up|gate instead of gate|up in every layer",
			edit: func(c *ckpt) error {
				return c.permuteRows(halves, layers(2, "model.layers.%d.mlp.gate_up_proj.weight")...)
			}},
		{Name: "k4c_phi3_o_proj_heads_reordered", Source: phi3, Kind: "unexplained",
			Note: "o_proj columns of heads saved in the order 1,0,3,2 in every layer (q/k/v unchanged)",
			edit: func(c *ckpt) error {
				return c.permuteCols(heads(8, 1, 0, 3, 2), layers(2, "model.layers.%d.self_attn.o_proj.weight")...)
			}},
		{Name: "k4c_qwen2_o_proj_negated_l1", Source: qwen2, Kind: "unexplained", Note: "layer 1's o_proj saved with its sign flipped",
			edit: func(c *ckpt) error { return c.scaleAll(-1, "model.layers.1.self_attn.o_proj.weight") }},
		{Name: "k4c_qwen2_qkv_biases_zeroed", Source: qwen2, Kind: "tensors_untrained",
			Note: "q/k/v_proj biases dropped (saved as zeros, their initial value) in every layer",
			edit: func(c *ckpt) error {
				return c.scaleAll(0, slices.Concat(layers(2, "model.layers.%d.self_attn.q_proj.bias"), layers(2, "model.layers.%d.self_attn.k_proj.bias"), layers(2, "model.layers.%d.self_attn.v_proj.bias"))...)
			}},
		{Name: "k4c_gemma_v_proj_x4", Source: gemma, Kind: "unexplained", Note: "v_proj saved multiplied by 4 in every layer",
			edit: func(c *ckpt) error { return c.scaleAll(4, layers(2, "model.layers.%d.self_attn.v_proj.weight")...) }},
		{Name: "k4c_gemma_k_v_exchanged_l0", Source: gemma, Kind: "tensors_misplaced", Convention: "tensor_mapping",
			Note: "layer 0's k_proj and v_proj written under each other's names (16×32 both)",
			edit: func(c *ckpt) error {
				return c.exchange("model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight")
			}},
		{Name: "k4c_gemma2_embed_prescaled", Source: gemma2, Kind: "unexplained", Also: []string{cm + ":embed_scale"},
			Note: "embed_tokens (tied) saved multiplied by sqrt(hidden_size) = 5.66, the normalizer Gemma applies in its forward",
			edit: func(c *ckpt) error { return c.scaleAll(float32(math.Sqrt(32)), "model.embed_tokens.weight") }},
		{Name: "k4c_mistral_input_norms_reset", Source: mistral, Kind: "tensors_untrained",
			Note: "input_layernorm weights saved as ones (their initial value) in every layer",
			edit: func(c *ckpt) error { return c.fillAll(1, layers(2, "model.layers.%d.input_layernorm.weight")...) }},
		{Name: "k4c_qwen3_q_norm_reset", Source: qwen3, Kind: "tensors_untrained",
			Note: "q_norm weights saved as ones (their initial value) in every layer",
			edit: func(c *ckpt) error { return c.fillAll(1, layers(2, "model.layers.%d.self_attn.q_norm.weight")...) }},
		{Name: "k4c_qwen3_down_proj_halved", Source: qwen3, Kind: "unexplained", Note: "down_proj saved multiplied by 0.5 in every layer",
			edit: func(c *ckpt) error { return c.scaleAll(0.5, layers(2, "model.layers.%d.mlp.down_proj.weight")...) }},
		{Name: "k4c_gemma2_q_proj_transposed", Source: gemma2, Kind: "tensors_misplaced", Convention: "tensor_layout",
			Note: "q_proj (32×32: the shape holds) saved transposed in every layer",
			edit: func(c *ckpt) error {
				for _, n := range layers(3, "model.layers.%d.self_attn.q_proj.weight") {
					if err := c.transpose(n); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4c_gpt_neox_embed_in_out_exchanged", Source: neox, Kind: "tensors_misplaced", Convention: "tensor_mapping",
			Note: "embed_in and embed_out (64×32 both, untied) written under each other's names",
			edit: func(c *ckpt) error { return c.exchange("gpt_neox.embed_in.weight", "embed_out.weight") }},
	}
}
