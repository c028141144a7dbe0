package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/nlpodyssey/safetensors"
)

// quantize rounds every element of the named BF16 tensors to a per-tensor symmetric grid of
// bits bits (absmax scaling, levels −(2^(bits−1)−1) … 2^(bits−1)−1, round to nearest, halves
// away from zero) and back: a quantizer's round trip.
func (c *ckpt) quantize(bits int, names ...string) error {
	levels := float64(int(1)<<(bits-1) - 1)
	for _, n := range names {
		absmax := float32(0)
		if err := c.mapBF16(n, func(_ int, x float32) float32 { absmax = max(absmax, float32(math.Abs(float64(x)))); return x }); err != nil {
			return err
		}
		if absmax == 0 {
			continue
		}
		step := float64(absmax) / levels
		if err := c.mapBF16(n, func(_ int, x float32) float32 { return float32(math.Round(float64(x)/step) * step) }); err != nil {
			return err
		}
	}
	return nil
}

// foldCols multiplies column j of each named 2-D BF16 tensor by offset + vec[j], vec a 1-D BF16
// tensor as long as the rows: a norm weight folded into the linears that read the norm.
func (c *ckpt) foldCols(vec string, offset float32, names ...string) error {
	v, err := c.get(vec)
	if err != nil {
		return err
	}
	if v.dtype != safetensors.BF16 || len(v.shape) != 1 {
		return fmt.Errorf("tensor %s: %v %v, want a 1-D BF16 vector", vec, v.dtype, v.shape)
	}
	g := make([]float32, v.shape[0])
	for j := range g {
		g[j] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(v.data[2*j:])) << 16)
	}
	for _, n := range names {
		t, err := c.get(n)
		if err != nil {
			return err
		}
		if len(t.shape) != 2 || int(t.shape[1]) != len(g) {
			return fmt.Errorf("tensor %s: shape %v has not %d columns", n, t.shape, len(g))
		}
		if err := c.mapBF16(n, func(i int, x float32) float32 { return x * (offset + g[i%len(g)]) }); err != nil {
			return err
		}
	}
	return nil
}

// gatherBlocks rewrites each named tensor as its blocks of size rows in the order given, which may
// repeat or omit blocks: the first dimension becomes len(order)·size (a GQA model's k/v heads
// expanded to one per query head: order 0,0,1,1 as transformers' repeat_kv does, 0,1,0,1 tiled).
func (c *ckpt) gatherBlocks(size int, order []int, names ...string) error {
	for _, n := range names {
		t, err := c.get(n)
		if err != nil {
			return err
		}
		rb := t.rowBytes()
		var data []byte
		for _, b := range order {
			if (b+1)*size > t.rows() || b < 0 {
				return fmt.Errorf("tensor %s: block %d of %d rows past its %d rows", n, b, size, t.rows())
			}
			data = append(data, t.data[b*size*rb:(b+1)*size*rb]...)
		}
		t.data, t.shape = data, slices.Concat([]uint64{uint64(len(order) * size)}, t.shape[1:])
	}
	return nil
}

// quarterTurn turns rows [lo, hi) of each named BF16 tensor, per head of headDim rows, a quarter
// turn in every rotate_half plane: head rows (x1, x2) (first and second half) become (−x2, x1).
// Applied to q and k together it keeps every attention score, since a rotation of a plane
// commutes with the rotary rotation of that plane.
func (c *ckpt) quarterTurn(headDim, lo, hi int, names ...string) error {
	half := headDim / 2
	inRange := func(i int) bool { return i >= lo && i < hi }
	for _, n := range names {
		t, err := c.get(n)
		if err != nil {
			return err
		}
		if (hi-lo)%headDim != 0 || hi > t.rows() || lo < 0 {
			return fmt.Errorf("tensor %s: rows [%d, %d) of %d are not heads of %d", n, lo, hi, t.rows(), headDim)
		}
		if err := c.permuteRows(func(i, _ int) int {
			if !inRange(i) {
				return i
			}
			r := (i - lo) % headDim
			return i - r + (r+half)%headDim
		}, n); err != nil {
			return err
		}
		cols := t.rowBytes() / 2
		if err := c.mapBF16(n, func(i int, x float32) float32 {
			if row := i / cols; inRange(row) && (row-lo)%headDim < half {
				return -x
			}
			return x
		}); err != nil {
			return err
		}
	}
	return nil
}

// entries4f is kit 4f: controls that look like faults (a GQA model expanded to MHA, the residual
// stream scaled with rms_norm_eps to match, q and k turned in their rotary planes, a gated MLP's
// up and down negated together, v's dims reordered with o's, a window key no layer reads) and
// faults of mechanisms kits 4b–4e did not use — a tokenizer of another vocabulary revision, a
// rotary permutation applied to v or forgotten on QK-norm weights, rotary dims moved to the end of
// each head, a low-bit quantizer's round trip, a pruned head, a norm folded into the next linears
// and kept, a layer's norms written from another layer, a tensor's rows reversed, a GQA model
// expanded with tiled kv heads, kv heads reordered in v alone, LayerNorm weight and bias
// exchanged — fixed (with their truths) before any diagnosis of them was run.
func entries4f() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	reversed := func(i, n int) int { return n - 1 - i }
	// neoxHeads permutes the dims d of part s (0 q, 1 k, 2 v) of every head of GPT-NeoX's fused
	// query_key_value (per head q|k|v of 8 rows) by perm, for the parts in parts.
	neoxHeads := func(perm func(d int) int, parts ...int) func(i, n int) int {
		return func(i, _ int) int {
			h, s, d := i/24, (i/8)%3, i%8
			if slices.Contains(parts, s) {
				return h*24 + s*8 + perm(d)
			}
			return i
		}
	}
	neoxQKV := slices.Concat(layers(2, "gpt_neox.layers.%d.attention.query_key_value.weight"), layers(2, "gpt_neox.layers.%d.attention.query_key_value.bias"))
	return []entry{
		// healthy controls: the same function, or a key transformers 5.17 does not read here.
		{Name: "k4f_qwen3_window16_unread", Source: qwen3, key: "sliding_window", value: "16",
			Note: "sliding_window 16 (was null): Qwen3 reads it only under use_sliding_window, which is false, and every layer_types entry is full_attention"},
		{Name: "k4f_qwen2_gqa_expanded_to_mha", Source: qwen2, key: "num_key_value_heads", value: "4",
			Note: "the 2 kv heads expanded to 4 as transformers' repeat_kv does (k_proj, v_proj rows and biases in the order 0,0,1,1: 32 rows), config.json num_key_value_heads 4, every layer: the same function",
			edit: func(c *ckpt) error {
				return c.gatherBlocks(8, []int{0, 0, 1, 1}, slices.Concat(layers(2, "model.layers.%d.self_attn.k_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.bias"),
					layers(2, "model.layers.%d.self_attn.v_proj.weight"), layers(2, "model.layers.%d.self_attn.v_proj.bias"))...)
			}},
		{Name: "k4f_mistral_stream_x4_eps_x16", Source: mistral, key: "rms_norm_eps", value: "0.00016",
			Note: "embed_tokens, o_proj and down_proj saved ×4 (every layer), so the residual stream is 4 times the trained one, and rms_norm_eps 1.6e-4 (= 16 × 1e-5, was 1e-5): every RMSNorm gives its trained output, lm_head unchanged (untied): the same function",
			edit: func(c *ckpt) error {
				return c.scaleAll(4, slices.Concat([]string{"model.embed_tokens.weight"}, layers(2, "model.layers.%d.self_attn.o_proj.weight"), layers(2, "model.layers.%d.mlp.down_proj.weight"))...)
			}},
		{Name: "k4f_phi3_qk_quarter_turn", Source: phi3,
			Note: "the q and k blocks of qkv_proj (rows 0–63) turned a quarter in every rotate_half plane of each head ((x1, x2) saved as (−x2, x1)), every layer: every attention score unchanged (a plane's rotations commute with its rotary rotation)",
			edit: func(c *ckpt) error {
				return c.quarterTurn(8, 0, 64, layers(2, "model.layers.%d.self_attn.qkv_proj.weight")...)
			}},
		{Name: "k4f_gemma_l1_up_down_negated", Source: gemma,
			Note: "layer 1's up_proj and down_proj both saved with their sign flipped (gate_proj unchanged): down(gelu(gate)·(−up)) negated again, the same function",
			edit: func(c *ckpt) error {
				return c.scaleAll(-1, "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight")
			}},
		{Name: "k4f_gpt_neox_v_dims_reversed", Source: neox,
			Note: "the 8 dims of every head's v saved in reverse order (query_key_value rows and bias) with attention.dense's columns of that head reversed alike, every layer: the same function",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(neoxHeads(func(d int) int { return 7 - d }, 2), neoxQKV...); err != nil {
					return err
				}
				return c.permuteCols(func(j, _ int) int { return j - j%8 + 7 - j%8 }, layers(2, "gpt_neox.layers.%d.attention.dense.weight")...)
			}},

		// faults.
		{Name: "k4f_qwen3_vocab_ids32_39_rotated", Source: qwen3, Kind: "unexplained",
			Note: "embed_tokens (tied, so input and output alike) rows of ids 32–39 rotated by one (id i holds id i+1's row, 39 holds 32's): a tokenizer of another vocabulary revision, 8 of 64 ids assigned otherwise",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, _ int) int {
					if i >= 32 && i < 40 {
						return 32 + (i-32+1)%8
					}
					return i
				}, "model.embed_tokens.weight")
			}},
		{Name: "k4f_qwen3_qk_norms_interleaved", Source: qwen3, Kind: "unexplained",
			Note: "q_norm and k_norm weights (16 per head dim) saved in the interleaved rotary order while q_proj/k_proj rows stay rotate_half, every layer: a converter that permuted q/k rows between the layouts and forgot the QK-norm weights",
			edit: func(c *ckpt) error {
				return c.permuteRows(interleaved(16), slices.Concat(layers(2, "model.layers.%d.self_attn.q_norm.weight"), layers(2, "model.layers.%d.self_attn.k_norm.weight"))...)
			}},
		{Name: "k4f_phi3_v_rows_interleaved", Source: phi3, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "the v block of qkv_proj (rows 64–95) saved in the interleaved rotary order per head (q and k blocks right, o_proj unchanged), every layer: a rotary permutation applied to all of the fused tensor instead of q and k",
			edit: func(c *ckpt) error {
				il := interleaved(8)
				return c.permuteRows(func(i, n int) int {
					if i >= 64 {
						return 64 + il(i-64, n)
					}
					return i
				}, layers(2, "model.layers.%d.self_attn.qkv_proj.weight")...)
			}},
		{Name: "k4f_gpt_neox_rotary_dims_last", Source: neox, Kind: "unexplained", Also: []string{"rope_layout", "convention_mismatch:rotary_dims"}, // the second added with the convention (rotary_dims=last undoes the edit exactly)
			Note: "q and k dims of every head saved rolled by two (new dim d = old dim d+2 mod 8: the rotary pair, dims 0–1 of 8 at rotary_pct 0.25, moved to the end) in query_key_value rows and bias, every layer: a converter for an engine that keeps the rotary dims last",
			edit: func(c *ckpt) error {
				return c.permuteRows(neoxHeads(func(d int) int { return (d + 2) % 8 }, 0, 1), neoxQKV...)
			}},
		{Name: "k4f_mistral_mlp_int3", Source: mistral, Kind: "unexplained",
			Note: "gate_proj, up_proj and down_proj of every layer rounded to 3 bits (per-tensor absmax, levels −3…3) and back: a quantizer's round trip too coarse for the model",
			edit: func(c *ckpt) error {
				return c.quantize(3, slices.Concat(layers(2, "model.layers.%d.mlp.gate_proj.weight"), layers(2, "model.layers.%d.mlp.up_proj.weight"), layers(2, "model.layers.%d.mlp.down_proj.weight"))...)
			}},
		{Name: "k4f_mistral_l0_q_head2_zeroed", Source: mistral, Kind: "unexplained",
			Note: "layer 0's q_proj rows of head 2 (rows 16–23) saved as zeros: a head pruned by zeroing its query, so it attends uniformly over its window",
			edit: func(c *ckpt) error {
				return c.mapBF16("model.layers.0.self_attn.q_proj.weight", func(i int, x float32) float32 {
					if r := i / 32; r >= 16 && r < 24 {
						return 0
					}
					return x
				})
			}},
		{Name: "k4f_gemma_input_norm_folded_kept", Source: gemma, Kind: "unexplained",
			Note: "input_layernorm's multiplier 1 + w folded into the columns of q_proj, k_proj and v_proj, and input_layernorm kept: attention reads the normalized stream times (1 + w)², every layer",
			edit: func(c *ckpt) error {
				for l := range 2 {
					p := fmt.Sprintf("model.layers.%d.", l)
					if err := c.foldCols(p+"input_layernorm.weight", 1, p+"self_attn.q_proj.weight", p+"self_attn.k_proj.weight", p+"self_attn.v_proj.weight"); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4f_gemma_l1_norms_from_l0", Source: gemma, Kind: "tensors_misplaced", Convention: "tensor_mapping", Also: []string{"unexplained"},
			Note: "layer 1's input_layernorm and post_attention_layernorm overwritten by layer 0's (a converter that wrote every layer's norms from layer 0)",
			edit: func(c *ckpt) error {
				for _, p := range []string{"input_layernorm", "post_attention_layernorm"} {
					if err := c.copyTensor("model.layers.0."+p+".weight", "model.layers.1."+p+".weight"); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4f_gemma2_l1_k_rows_reversed", Source: gemma2, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "layer 1's k_proj rows saved in reverse order (16 rows: the 2 kv heads exchanged and each head's dims reversed); q, v unchanged",
			edit: func(c *ckpt) error { return c.permuteRows(reversed, "model.layers.1.self_attn.k_proj.weight") }},
		{Name: "k4f_gemma2_gqa_tiled_to_mha", Source: gemma2, Kind: "unexplained", Also: []string{"gqa_mapping", "convention_mismatch:gqa_mapping", "tensors_misplaced:tensor_mapping"},
			key: "num_key_value_heads", value: "4",
			Note: "the 2 kv heads expanded to 4 by tiling (k_proj, v_proj rows in the order 0,1,0,1) instead of repeat_kv's 0,0,1,1, config.json num_key_value_heads 4, every layer: query heads 1 and 2 read the other kv head",
			edit: func(c *ckpt) error {
				return c.gatherBlocks(8, []int{0, 1, 0, 1}, slices.Concat(layers(3, "model.layers.%d.self_attn.k_proj.weight"), layers(3, "model.layers.%d.self_attn.v_proj.weight"))...)
			}},
		{Name: "k4f_qwen2_v_kv_heads_exchanged", Source: qwen2, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "v_proj rows and bias of the 2 kv heads saved in the order 1,0 (k_proj in the order 0,1), every layer: each query group reads its keys from one kv head and its values from the other",
			edit: func(c *ckpt) error {
				return c.permuteRows(heads(8, 1, 0), slices.Concat(layers(2, "model.layers.%d.self_attn.v_proj.weight"), layers(2, "model.layers.%d.self_attn.v_proj.bias"))...)
			}},
		{Name: "k4f_gpt_neox_l1_post_ln_weight_bias_exchanged", Source: neox, Kind: "tensors_misplaced", Convention: "tensor_mapping", Also: []string{"unexplained"},
			Note: "layer 1's post_attention_layernorm weight and bias written under each other's names (gamma/beta mapped the wrong way round): layer 1's MLP reads bias·x̂ + weight",
			edit: func(c *ckpt) error {
				return c.exchange("gpt_neox.layers.1.post_attention_layernorm.weight", "gpt_neox.layers.1.post_attention_layernorm.bias")
			}},
	}
}
