package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// rotateLayers moves every tensor of layer l (prefix fmt.Sprintf(f, l), e.g. "model.layers.%d.")
// to layer (l+1) mod n: a converter that numbered the layers from one off.
func (c *ckpt) rotateLayers(n int, f string) error {
	old := map[string][]byte{}
	for name, t := range c.tensors {
		old[name] = t.data
	}
	for l := range n {
		from, to := fmt.Sprintf(f, l), fmt.Sprintf(f, (l+1)%n)
		for name := range old {
			if !strings.HasPrefix(name, from) {
				continue
			}
			if _, _, err := c.twins(name, to+strings.TrimPrefix(name, from), "move %s %v %v to %s %v %v"); err != nil {
				return err
			}
			c.tensors[to+strings.TrimPrefix(name, from)].data = old[name]
		}
	}
	return nil
}

// freshRows replaces rows [lo, hi) of a 2-D BF16 tensor by a seeded N(0, std²) draw.
func (c *ckpt) freshRows(std float64, seed uint64, lo, hi int, name string) error {
	t, err := c.get(name)
	if err != nil {
		return err
	}
	cols, r := int(t.shape[1]), rand.New(rand.NewPCG(seed, 0))
	return c.mapBF16(name, func(i int, x float32) float32 {
		if row := i / cols; row >= lo && row < hi {
			return float32(r.NormFloat64() * std)
		}
		return x
	})
}

// entries4e is kit 4e: controls that look like edits (a config key transformers 5.17 does not read
// for this checkpoint, tensors rewritten into the same function) and faults of kinds kits 4b–4d
// did not use — layers numbered one off, one layer's attention written from another, half of a
// fused tensor, one kv head or a slice of the vocabulary corrupted, a scale folded into a
// projection, one side of the rotary layout converted, the final norm alone given Gemma's offset,
// LayerNorm biases dropped, a window as long as the context — fixed (with their truths) before any
// diagnosis of them was run.
func entries4e() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	// perm32 is a permutation of the 32 hidden dimensions (5 is prime to 32).
	perm32 := func(j, n int) int { return (5*j + 3) % n }
	return []entry{
		// healthy controls.
		{Name: "k4e_qwen2_max_window_layers_28", Source: qwen2, key: "max_window_layers", value: "28",
			Note: "max_window_layers 28 (was 1): transformers 5.17 reads it only when layer_types is absent, and layer_types is written"},
		{Name: "k4e_gpt_neox_hidden_dropout_0.1", Source: neox, key: "hidden_dropout", value: "0.1",
			Note: "hidden_dropout 0.1 (was 0.0): dropout is off at inference"},
		{Name: "k4e_phi3_original_max_pos_8192", Source: phi3, key: "original_max_position_embeddings", value: "8192",
			Note: "original_max_position_embeddings 8192 (was 4096): read by longrope only, and rope_type is default"},
		{Name: "k4e_gemma_hidden_dims_permuted", Source: gemma,
			Note: "the 32 hidden dimensions saved in the order j → (5j+3) mod 32 in every tensor that touches the residual stream (embedding columns, norm weights, q/k/v/gate/up columns, o/down rows): the same function",
			edit: func(c *ckpt) error {
				cols := []string{"model.embed_tokens.weight"}
				rows := []string{"model.norm.weight"}
				for _, p := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"} {
					cols = append(cols, layers(2, "model.layers.%d."+p+".weight")...)
				}
				for _, p := range []string{"self_attn.o_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"} {
					rows = append(rows, layers(2, "model.layers.%d."+p)...)
				}
				if err := c.permuteCols(perm32, cols...); err != nil {
					return err
				}
				return c.permuteRows(perm32, rows...)
			}},
		{Name: "k4e_qwen2_q_and_k_negated", Source: qwen2,
			Note: "q_proj and k_proj weights and biases all saved with their sign flipped, every layer: every attention score unchanged (rotary is linear)",
			edit: func(c *ckpt) error {
				return c.scaleAll(-1, slices.Concat(layers(2, "model.layers.%d.self_attn.q_proj.weight"), layers(2, "model.layers.%d.self_attn.q_proj.bias"),
					layers(2, "model.layers.%d.self_attn.k_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.bias"))...)
			}},
		{Name: "k4e_gemma2_kv_groups_swapped", Source: gemma2,
			Note: "the 2 kv heads saved in the order 1,0 (k_proj, v_proj rows) with the q heads regrouped to follow them (q_proj rows and o_proj columns in the order 2,3,0,1), every layer: the same function",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(heads(8, 1, 0), slices.Concat(layers(3, "model.layers.%d.self_attn.k_proj.weight"), layers(3, "model.layers.%d.self_attn.v_proj.weight"))...); err != nil {
					return err
				}
				if err := c.permuteRows(heads(8, 2, 3, 0, 1), layers(3, "model.layers.%d.self_attn.q_proj.weight")...); err != nil {
					return err
				}
				return c.permuteCols(heads(8, 2, 3, 0, 1), layers(3, "model.layers.%d.self_attn.o_proj.weight")...)
			}},
		{Name: "k4e_qwen3_q_k_quartered", Source: qwen3,
			Note: "q_proj and k_proj saved ×0.25 (exact in BF16), every layer: q_norm and k_norm rescale them (up to rms_norm_eps 1e-6)",
			edit: func(c *ckpt) error {
				return c.scaleAll(0.25, slices.Concat(layers(2, "model.layers.%d.self_attn.q_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.weight"))...)
			}},

		// faults.
		{Name: "k4e_gemma2_window8_saved64", Source: gemma2, Kind: "convention_mismatch", Convention: "sliding_window",
			key: "sliding_window", value: "64", Note: "trained with sliding_window 8 on layers 0 and 2, config.json says 64 (= max_position_embeddings: the sliding layers see the whole context)"},
		{Name: "k4e_gemma2_layers_rotated", Source: gemma2, Kind: "tensors_misplaced", Convention: "tensor_mapping", Also: []string{"unexplained"},
			Note: "every layer's tensors saved one layer on (layer 0's as layer 1, 1's as 2, 2's as 0): the layer index off by one, cyclic",
			edit: func(c *ckpt) error { return c.rotateLayers(3, "model.layers.%d.") }},
		{Name: "k4e_qwen3_l1_attention_from_l0", Source: qwen3, Kind: "tensors_misplaced", Convention: "tensor_mapping", Also: []string{"unexplained"},
			Note: "layer 1's q/k/v/o_proj, q_norm and k_norm overwritten by layer 0's (layer 1's MLP and norms its own)",
			edit: func(c *ckpt) error {
				for _, p := range []string{"q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm"} {
					if err := c.copyTensor("model.layers.0.self_attn."+p+".weight", "model.layers.1.self_attn."+p+".weight"); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4e_phi3_lm_head_shifted", Source: phi3, Kind: "unexplained",
			Note: "lm_head rows shifted by one id (id i's logit from row i−1, cyclic); embed_tokens unchanged",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, rows int) int { return (i + rows - 1) % rows }, "lm_head.weight")
			}},
		{Name: "k4e_phi3_l1_up_half_fresh", Source: phi3, Kind: "tensors_untrained",
			Note: "layer 1's gate_up_proj up half (rows 48–95) replaced by a fresh N(0, 0.02²) draw; the gate half trained",
			edit: func(c *ckpt) error { return c.freshRows(0.02, 11, 48, 96, "model.layers.1.mlp.gate_up_proj.weight") }},
		{Name: "k4e_gpt_neox_ln_biases_dropped", Source: neox, Kind: "tensors_untrained", Also: []string{"unexplained"},
			Note: "every LayerNorm bias (input, post_attention, final) saved as zeros, its initial value",
			edit: func(c *ckpt) error {
				return c.scaleAll(0, slices.Concat(layers(2, "gpt_neox.layers.%d.input_layernorm.bias"), layers(2, "gpt_neox.layers.%d.post_attention_layernorm.bias"),
					[]string{"gpt_neox.final_layer_norm.bias"})...)
			}},
		// rope_rows_k (added after this kit was written blind) names exactly this fault: the truth
		// accepts it as it accepted rope_pairing.
		{Name: "k4e_mistral_k_only_interleaved", Source: mistral, Kind: "unexplained", Also: []string{"convention_mismatch:rope_pairing", "convention_mismatch:rope_rows_k"},
			Note: "k_proj rows converted to the interleaved rotary layout, q_proj left in rotate_half, every layer",
			edit: func(c *ckpt) error {
				return c.permuteRows(interleaved(8), layers(2, "model.layers.%d.self_attn.k_proj.weight")...)
			}},
		{Name: "k4e_mistral_q_prescaled", Source: mistral, Kind: "unexplained", Also: []string{"convention_mismatch:attn_scale"},
			Note: "q_proj saved × head_dim^-0.5 = 0.354 (the attention scale folded into the weights, which transformers applies again), every layer",
			edit: func(c *ckpt) error {
				return c.scaleAll(float32(1/math.Sqrt(8)), layers(2, "model.layers.%d.self_attn.q_proj.weight")...)
			}},
		{Name: "k4e_gemma_final_norm_as_multiplier", Source: gemma, Kind: "unexplained", Also: []string{"convention_mismatch:norm_weight"},
			Note: "model.norm.weight alone saved as the multiplier 1 + w (Gemma applies 1 + w: the final norm multiplies by 2 + w); the layers' norms saved right",
			edit: func(c *ckpt) error {
				return c.mapBF16("model.norm.weight", func(_ int, x float32) float32 { return 1 + x })
			}},
		{Name: "k4e_qwen2_l1_v_head1_from_head0", Source: qwen2, Kind: "unexplained",
			Note: "layer 1's v_proj rows and bias of kv head 1 overwritten by kv head 0's",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, _ int) int { return i % 8 }, "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.v_proj.bias")
			}},
		{Name: "k4e_qwen2_embed_tail_zeroed", Source: qwen2, Kind: "unexplained", Also: []string{"tensors_untrained"},
			Note: "embed_tokens (tied) rows of ids 48–63 saved as zeros (the vocabulary cut to 48 and padded)",
			edit: func(c *ckpt) error {
				return c.mapBF16("model.embed_tokens.weight", func(i int, x float32) float32 {
					if i/32 >= 48 {
						return 0
					}
					return x
				})
			}},
	}
}
