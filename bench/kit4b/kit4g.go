package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/nlpodyssey/safetensors"
)

// floats is the values of a BF16 tensor, widened to float32 (exact).
func (c *ckpt) floats(name string) ([]float32, error) {
	t, err := c.get(name)
	if err != nil {
		return nil, err
	}
	if t.dtype != safetensors.BF16 {
		return nil, fmt.Errorf("tensor %s: dtype %v, want BF16", name, t.dtype)
	}
	out := make([]float32, len(t.data)/2)
	for i := range out {
		out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.data[2*i:])) << 16)
	}
	return out, nil
}

// setFloats writes vals, rounded to BF16 (nearest even), as the contents of BF16 tensor name; with
// shape given the tensor takes that shape, else it keeps its own (and its element count).
func (c *ckpt) setFloats(name string, vals []float32, shape ...uint64) error {
	t, err := c.get(name)
	if err != nil {
		return err
	}
	if t.dtype != safetensors.BF16 {
		return fmt.Errorf("tensor %s: dtype %v, want BF16", name, t.dtype)
	}
	if shape == nil {
		shape = t.shape
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	if n != len(vals) {
		return fmt.Errorf("tensor %s: %d values for shape %v", name, len(vals), shape)
	}
	data := make([]byte, 2*len(vals))
	for i, x := range vals {
		binary.LittleEndian.PutUint16(data[2*i:], toBF16(x))
	}
	t.data, t.shape = data, slices.Clone(shape)
	return nil
}

// matrix is a 2-D BF16 tensor's values and its column count.
func (c *ckpt) matrix(name string) ([]float32, int, error) {
	t, err := c.get(name)
	if err != nil {
		return nil, 0, err
	}
	if len(t.shape) != 2 {
		return nil, 0, fmt.Errorf("tensor %s: shape %v is not 2-D", name, t.shape)
	}
	v, err := c.floats(name)
	return v, int(t.shape[1]), err
}

// pruneUnits zeroes, in a gated MLP, the k units of least ‖gate row‖·‖up row‖·‖down column‖:
// their gate and up rows and their down column (structured magnitude pruning, masked in place).
func (c *ckpt) pruneUnits(k int, gate, up, down string) error {
	g, gc, err := c.matrix(gate)
	if err != nil {
		return err
	}
	u, uc, err := c.matrix(up)
	if err != nil {
		return err
	}
	d, dc, err := c.matrix(down)
	if err != nil {
		return err
	}
	units := len(g) / gc
	if uc != gc || len(u) != len(g) || dc != units || k > units {
		return fmt.Errorf("%s, %s, %s: not one MLP of %d units", gate, up, down, units)
	}
	score := make([]float64, units)
	for q := range units {
		var sg, su, sd float64
		for j := range gc {
			sg += float64(g[q*gc+j]) * float64(g[q*gc+j])
			su += float64(u[q*gc+j]) * float64(u[q*gc+j])
		}
		for r := range len(d) / dc {
			sd += float64(d[r*dc+q]) * float64(d[r*dc+q])
		}
		score[q] = sg * su * sd
	}
	order := make([]int, units)
	for q := range order {
		order[q] = q
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] < score[order[b]] })
	for _, q := range order[:k] {
		for j := range gc {
			g[q*gc+j], u[q*gc+j] = 0, 0
		}
		for r := range len(d) / dc {
			d[r*dc+q] = 0
		}
	}
	if err := c.setFloats(gate, g); err != nil {
		return err
	}
	if err := c.setFloats(up, u); err != nil {
		return err
	}
	return c.setFloats(down, d)
}

// eachMatrix replaces the values of each named 2-D tensor by f(name, values, columns), row-major.
func (c *ckpt) eachMatrix(names []string, f func(n string, v []float32, cols int) ([]float32, error)) error {
	for _, n := range names {
		v, cols, err := c.matrix(n)
		if err != nil {
			return err
		}
		out, err := f(n, v, cols)
		if err != nil {
			return err
		}
		if err := c.setFloats(n, out); err != nil {
			return err
		}
	}
	return nil
}

// averagePermuted replaces each named 2-D tensor by the mean of itself and its copy with rows (or,
// with cols, columns) permuted by perm: a weight average of two checkpoints that differ by that
// permutation, merged without aligning it.
func (c *ckpt) averagePermuted(perm func(i, n int) int, cols bool, names ...string) error {
	return c.eachMatrix(names, func(n string, v []float32, nc int) ([]float32, error) {
		nr, out := len(v)/nc, make([]float32, len(v))
		for r := range nr {
			for j := range nc {
				pr, pj := perm(r, nr), j
				if cols {
					pr, pj = r, perm(j, nc)
				}
				out[r*nc+j] = (v[r*nc+j] + v[pr*nc+pj]) / 2
			}
		}
		return out, nil
	})
}

// prune24 applies 2:4 semi-structured magnitude sparsity to each named 2-D tensor: in every row,
// of each 4 consecutive weights the 2 of least magnitude are zeroed (ties: the earlier one).
func (c *ckpt) prune24(names ...string) error {
	return c.eachMatrix(names, func(n string, v []float32, cols int) ([]float32, error) {
		if cols%4 != 0 {
			return nil, fmt.Errorf("tensor %s: %d columns, not groups of 4", n, cols)
		}
		for g := 0; g < len(v); g += 4 {
			idx := []int{g, g + 1, g + 2, g + 3}
			sort.SliceStable(idx, func(a, b int) bool { return math.Abs(float64(v[idx[a]])) < math.Abs(float64(v[idx[b]])) })
			v[idx[0]], v[idx[1]] = 0, 0
		}
		return v, nil
	})
}

// int8ScaleAxis quantizes each named square tensor to int8 with one absmax scale per output row
// (s_i = max_j |w_ij| / 127) and dequantizes with the scales broadcast along the other axis
// (w'_ij = q_ij · s_j): a per-channel scale vector applied on the wrong dimension.
func (c *ckpt) int8ScaleAxis(names ...string) error {
	return c.eachMatrix(names, func(n string, v []float32, cols int) ([]float32, error) {
		if len(v) != cols*cols {
			return nil, fmt.Errorf("tensor %s: not square", n)
		}
		s := make([]float64, cols)
		for i := range cols {
			for j := range cols {
				s[i] = max(s[i], math.Abs(float64(v[i*cols+j]))/127)
			}
		}
		out := make([]float32, len(v))
		for i := range cols {
			for j := range cols {
				q := 0.0
				if s[i] > 0 {
					q = math.Round(float64(v[i*cols+j]) / s[i])
				}
				out[i*cols+j] = float32(q * s[j])
			}
		}
		return out, nil
	})
}

// gptqZeroOffByOne quantizes each named 2-D tensor to 4 bits, asymmetric, one scale and zero point
// per group of group consecutive weights of a row (GPTQ's grid: s = (max(x,0) − min(x,0))/15,
// z = round(−min/s), q = clamp(round(x/s) + z, 0, 15)), and dequantizes with the zero point one
// less than it was (x' = s·(q − (z − 1))): the zero points packed as z − 1 by AutoGPTQ-style
// packing and read back by a loader that does not add the one back, so every weight is one step
// s too large.
func (c *ckpt) gptqZeroOffByOne(group int, names ...string) error {
	return c.eachMatrix(names, func(n string, v []float32, cols int) ([]float32, error) {
		if cols%group != 0 {
			return nil, fmt.Errorf("tensor %s: %d columns, not groups of %d", n, cols, group)
		}
		for g := 0; g < len(v); g += group {
			lo, hi := 0.0, 0.0
			for _, x := range v[g : g+group] {
				lo, hi = min(lo, float64(x)), max(hi, float64(x))
			}
			s := (hi - lo) / 15
			if s == 0 {
				continue
			}
			z := math.Round(-lo / s)
			for k := g; k < g+group; k++ {
				q := min(max(math.Round(float64(v[k])/s)+z, 0), 15)
				v[k] = float32(s * (q - (z - 1)))
			}
		}
		return v, nil
	})
}

// renormRows scales every row of the named 2-D tensor whose L2 norm exceeds maxNorm down to
// maxNorm, as torch.embedding_renorm_ does in place (scale maxNorm / (norm + 1e-7)) for the rows
// an nn.Embedding(max_norm=…) looks up.
func (c *ckpt) renormRows(maxNorm float64, name string) error {
	v, cols, err := c.matrix(name)
	if err != nil {
		return err
	}
	for r := 0; r < len(v); r += cols {
		norm := 0.0
		for _, x := range v[r : r+cols] {
			norm += float64(x) * float64(x)
		}
		if norm = math.Sqrt(norm); norm > maxNorm {
			k := maxNorm / (norm + 1e-7)
			for j := r; j < r+cols; j++ {
				v[j] = float32(float64(v[j]) * k)
			}
		}
	}
	return c.setFloats(name, v)
}

// copyRows overwrites rows [lo, hi) of tensor dst with those of src (same dtype and shape).
func (c *ckpt) copyRows(src, dst string, lo, hi int) error {
	ts, td, err := c.twins(src, dst, "copy rows of %s %v %v into %s %v %v")
	if err != nil {
		return err
	}
	if lo < 0 || hi > td.rows() || lo >= hi {
		return fmt.Errorf("rows [%d, %d) of %s's %d", lo, hi, dst, td.rows())
	}
	rb := td.rowBytes()
	copy(td.data[lo*rb:hi*rb], ts.data[lo*rb:hi*rb])
	return nil
}

// megatronGroupedSplit writes q, k and v (weights or biases) as a Megatron-style fused GQA
// tensor, per kv group g the rows [q rows of the group's query heads; k rows of kv head g; v rows
// of kv head g], and splits that fused tensor back as if it were q|k|v blocks: the first rows(q)
// rows become q, the next rows(k) k, the last rows(v) v.
func (c *ckpt) megatronGroupedSplit(groups int, q, k, v string) error {
	tq, err := c.get(q)
	if err != nil {
		return err
	}
	tk, tv, err := c.twins(k, v, "fuse %s %v %v with %s %v %v")
	if err != nil {
		return err
	}
	if tq.dtype != tk.dtype || tq.rowBytes() != tk.rowBytes() || tq.rows()%groups != 0 || tk.rows()%groups != 0 {
		return fmt.Errorf("cannot fuse %s %v with %s %v in %d groups", q, tq.shape, k, tk.shape, groups)
	}
	rb, qg, kg := tq.rowBytes(), tq.rows()/groups, tk.rows()/groups
	var fused []byte
	for g := range groups {
		fused = append(fused, tq.data[g*qg*rb:(g+1)*qg*rb]...)
		fused = append(fused, tk.data[g*kg*rb:(g+1)*kg*rb]...)
		fused = append(fused, tv.data[g*kg*rb:(g+1)*kg*rb]...)
	}
	nq, nk := len(tq.data), len(tk.data)
	tq.data, tk.data, tv.data = fused[:nq], fused[nq:nq+nk], fused[nq+nk:]
	return nil
}

// catWrongDim rewrites a square n×n tensor as a tensor-parallel merge that concatenated its tp
// row-parallel shards (column blocks W[:, s·n/tp : (s+1)·n/tp], each n×n/tp) along dim 0 instead
// of dim 1 and viewed the (tp·n)×(n/tp) result as n×n.
func (c *ckpt) catWrongDim(tp int, name string) error {
	v, n, err := c.matrix(name)
	if err != nil {
		return err
	}
	if len(v) != n*n || n%tp != 0 {
		return fmt.Errorf("tensor %s: not square or not %d shards", name, tp)
	}
	w := n / tp
	cat := make([]float32, 0, len(v)) // (tp·n)×w, shard s's rows after shard s−1's
	for s := range tp {
		for r := range n {
			cat = append(cat, v[r*n+s*w:r*n+(s+1)*w]...)
		}
	}
	return c.setFloats(name, cat) // the same elements in row-major order: the .view(n, n)
}

// entries4g is kit 4g: controls that are exact reparametrisations no earlier kit used (GPT-NeoX's
// value bias folded into the attention output bias, its key bias dropped where no rotary dim
// reads it, Gemma 2's attention and MLP outputs rescaled under its sandwich norms, a scale traded
// between Qwen3's q_norm and k_norm, per-head value/output rescaling, a pad token id) and faults
// of conversion, merging, quantization, pruning and serving code that kits 4b–4f did not use —
// tensor-parallel merges that sum replicated biases, keep Megatron's per-rank SwiGLU interleave,
// concatenate row-parallel shards on the wrong dim or take a shard from another layer, a Megatron
// grouped-query QKV split as blocks, an MHA model mean-pooled to GQA without uptraining, a weight
// average of two unit-permuted copies, 2:4 sparsity and structured pruning without healing, the
// rotary planes of q and k mirrored, int8 scales on the wrong axis, GPTQ's zero point off by one,
// nn.Embedding's max_norm renormalising rows in place — written (with their truths) by a helper
// that had not read analysis/, before any diagnosis of them was run.
func entries4g() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	// neoxBias edits, in every layer's query_key_value bias (per head q|k|v of 8), the element
	// (head h, part s: 0 q, 1 k, 2 v, dim d) by f.
	neoxBias := func(c *ckpt, f func(l, h, s, d int, x float32) float32) error {
		for l := range 2 {
			if err := c.mapBF16(fmt.Sprintf("gpt_neox.layers.%d.attention.query_key_value.bias", l), func(i int, x float32) float32 {
				return f(l, i/24, (i/8)%3, i%8, x)
			}); err != nil {
				return err
			}
		}
		return nil
	}
	linears := func(n int, ps ...string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, layers(n, "model.layers.%d."+p+".weight")...)
		}
		return out
	}
	return []entry{
		// healthy controls: the same function.
		{Name: "k4g_gpt_neox_v_bias_folded_into_dense", Source: neox,
			Note: "every layer's value bias (the v part of query_key_value.bias) folded into attention.dense.bias (bias + W_dense·b_v, rounded to BF16) and saved as zeros: attention weights sum to one, so a value bias only adds W_dense·b_v to the output (TransformerLens' fold_value_biases)",
			edit: func(c *ckpt) error {
				vb := [2][32]float64{}
				if err := neoxBias(c, func(l, h, s, d int, x float32) float32 {
					if s != 2 {
						return x
					}
					vb[l][h*8+d] = float64(x)
					return 0
				}); err != nil {
					return err
				}
				for l := range 2 {
					w, cols, err := c.matrix(fmt.Sprintf("gpt_neox.layers.%d.attention.dense.weight", l))
					if err != nil {
						return err
					}
					if err := c.mapBF16(fmt.Sprintf("gpt_neox.layers.%d.attention.dense.bias", l), func(i int, x float32) float32 {
						acc := float64(x)
						for j := range cols {
							acc += float64(w[i*cols+j]) * vb[l][j]
						}
						return float32(acc)
					}); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4g_gpt_neox_k_bias_unrotated_dims_dropped", Source: neox,
			Note: "the key bias of dims 2–7 of every head (the dims rotary_pct 0.25 leaves unrotated) saved as zeros, every layer: q·b_k is then the same for every key of a query, and softmax ignores a constant (dims 0–1, rotated, keep their bias)",
			edit: func(c *ckpt) error {
				return neoxBias(c, func(_, _, s, d int, x float32) float32 {
					if s == 1 && d >= 2 {
						return 0
					}
					return x
				})
			}},
		{Name: "k4g_gemma2_o_x4_down_quartered_sandwich", Source: gemma2,
			Note: "o_proj saved ×4 and down_proj ×0.25 (exact in BF16), every layer: Gemma 2 normalises each attention and MLP output (post_attention_layernorm, post_feedforward_layernorm) before adding it to the stream, so their scale does not reach it (up to rms_norm_eps 1e-6)",
			edit: func(c *ckpt) error {
				if err := c.scaleAll(4, layers(3, "model.layers.%d.self_attn.o_proj.weight")...); err != nil {
					return err
				}
				return c.scaleAll(0.25, layers(3, "model.layers.%d.mlp.down_proj.weight")...)
			}},
		{Name: "k4g_qwen3_q_norm_x2_k_norm_half", Source: qwen3,
			Note: "q_norm weights saved ×2 and k_norm weights ×0.5 (exact in BF16), every layer: every attention score is the product of the two",
			edit: func(c *ckpt) error {
				if err := c.scaleAll(2, layers(2, "model.layers.%d.self_attn.q_norm.weight")...); err != nil {
					return err
				}
				return c.scaleAll(0.5, layers(2, "model.layers.%d.self_attn.k_norm.weight")...)
			}},
		{Name: "k4g_phi3_v_o_per_head_rescaled", Source: phi3,
			Note: "the v rows of qkv_proj of heads 0–3 saved ×2, ×0.5, ×4, ×0.25 and o_proj's columns of those heads by the inverse (exact in BF16), every layer: each head's output is linear in its values",
			edit: func(c *ckpt) error {
				k := []float32{2, 0.5, 4, 0.25}
				for _, n := range layers(2, "model.layers.%d.self_attn.qkv_proj.weight") {
					if err := c.mapBF16(n, func(i int, x float32) float32 {
						if r := i / 32; r >= 64 {
							return x * k[(r-64)/8]
						}
						return x
					}); err != nil {
						return err
					}
				}
				for _, n := range layers(2, "model.layers.%d.self_attn.o_proj.weight") {
					if err := c.mapBF16(n, func(i int, x float32) float32 { return x / k[(i%32)/8] }); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4g_mistral_pad_token_id_0", Source: mistral, key: "pad_token_id", value: "0",
			Note: "pad_token_id 0 (was null), as a converter that fills in a pad token writes: transformers uses it as nn.Embedding's padding_idx, which affects initialisation and gradients only (the loaded row is used as saved), and id 0 (bytes 0–1) is not in the evaluation text"},

		// faults.
		{Name: "k4g_gpt_neox_tp4_row_parallel_biases_summed", Source: neox, Kind: "unexplained",
			Note: "attention.dense.bias and mlp.dense_4h_to_h.bias saved ×4, every layer: a tensor-parallel merge (TP 4) that summed the row-parallel layers' biases over the ranks like partial sums, though each rank holds the whole bias (Megatron adds it once, after the all-reduce)",
			edit: func(c *ckpt) error {
				return c.scaleAll(4, slices.Concat(layers(2, "gpt_neox.layers.%d.attention.dense.bias"), layers(2, "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias"))...)
			}},
		{Name: "k4g_gpt_neox_l0_dense_tp2_cat_dim0", Source: neox, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "layer 0's attention.dense weight merged from 2 tensor-parallel shards (row-parallel: each 32×16, a column half) concatenated along dim 0 instead of dim 1 and viewed as 32×32 (the shape holds): saved row i is [row 2i, row 2i+1] of the first column half for i < 16, [row 2i−32, row 2i−31] of the second for i ≥ 16",
			edit: func(c *ckpt) error { return c.catWrongDim(2, "gpt_neox.layers.0.attention.dense.weight") }},
		{Name: "k4g_phi3_gate_up_tp2_rank_chunks", Source: phi3, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "gate_up_proj rows saved as Megatron's two tensor-parallel ranks concatenated, each rank's [gate half; up half] (gate 0–23, up 0–23, gate 24–47, up 24–47), not de-interleaved to gate|up, every layer: units 0–23 keep their gate rows and read gate rows 24–47 as their up, units 24–47 read up rows 0–23 as their gate and keep their up rows",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, _ int) int { return []int{0, 48, 24, 72}[i/24] + i%24 }, layers(2, "model.layers.%d.mlp.gate_up_proj.weight")...)
			}},
		{Name: "k4g_phi3_mha_mean_pooled_to_gqa2", Source: phi3, Kind: "unexplained", key: "num_key_value_heads", value: "2",
			Note: "the 4 k and v heads of qkv_proj mean-pooled in pairs into 2 kv heads (rows 96 → 64) and num_key_value_heads 2 (was 4), every layer: an MHA model converted to GQA by mean-pooling (the GQA paper's initialisation) and shipped without the uptraining it needs",
			edit: func(c *ckpt) error {
				for _, n := range layers(2, "model.layers.%d.self_attn.qkv_proj.weight") {
					w, cols, err := c.matrix(n)
					if err != nil {
						return err
					}
					out := slices.Clone(w[:32*cols])     // q: 4 heads of 8 rows
					for _, base := range []int{32, 64} { // k, then v
						for g := range 2 {
							for d := range 8 {
								a, b := (base+16*g+d)*cols, (base+16*g+8+d)*cols
								for j := range cols {
									out = append(out, (w[a+j]+w[b+j])/2)
								}
							}
						}
					}
					if err := c.setFloats(n, out, 64, uint64(cols)); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4g_qwen3_l1_q_proj_tp_shard1_from_l0", Source: qwen3, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_mapping"},
			Note: "layer 1's q_proj rows 32–63 (query heads 2–3: tensor-parallel rank 1's shard at TP 2) taken from layer 0's q_proj: a shard merge that read rank 1's file of the wrong layer; rank 0's half and everything else right",
			edit: func(c *ckpt) error {
				return c.copyRows("model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight", 32, 64)
			}},
		{Name: "k4g_qwen3_mlp_souped_with_unit_permuted_copy", Source: qwen3, Kind: "unexplained",
			Note: "every layer's gate/up/down_proj averaged with the same model's MLP with its 48 units in reverse order (gate/up rows and down columns reversed: the same function): a weight-average merge (model soup) of two checkpoints that differ by a permutation of MLP units, merged without aligning them, so unrelated units are averaged",
			edit: func(c *ckpt) error {
				rev := func(i, n int) int { return n - 1 - i }
				if err := c.averagePermuted(rev, false, linears(2, "mlp.gate_proj", "mlp.up_proj")...); err != nil {
					return err
				}
				return c.averagePermuted(rev, true, linears(2, "mlp.down_proj")...)
			}},
		{Name: "k4g_qwen2_megatron_gqa_qkv_split_as_blocks", Source: qwen2, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_mapping", "tensors_misplaced:tensor_layout"},
			Note: "q/k/v_proj weights and biases fused in Megatron's grouped-query layout (per kv group: its 2 query heads, its k head, its v head) and split back as if q|k|v blocks, every layer: q = [q heads 0–1, k head 0, v head 0], k = [q heads 2–3], v = [k head 1, v head 1]",
			edit: func(c *ckpt) error {
				for l := range 2 {
					for _, s := range []string{"weight", "bias"} {
						p := fmt.Sprintf("model.layers.%d.self_attn.", l)
						if err := c.megatronGroupedSplit(2, p+"q_proj."+s, p+"k_proj."+s, p+"v_proj."+s); err != nil {
							return err
						}
					}
				}
				return nil
			}},
		{Name: "k4g_gemma2_linears_2to4_pruned", Source: gemma2, Kind: "unexplained",
			Note: "every q/k/v/o, gate/up/down_proj given 2:4 semi-structured sparsity by magnitude (of every 4 consecutive weights of a row, the 2 smallest zeroed) with no update of the rest and no healing, every layer",
			edit: func(c *ckpt) error {
				return c.prune24(linears(3, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")...)
			}},
		{Name: "k4g_gemma2_qk_rotary_mirrored", Source: gemma2, Kind: "unexplained", Also: []string{"rope_layout", "convention_mismatch:rope_sign"}, // the second added after first contact: rope_sign=negative undoes the edit exactly (TestRunConventionEquivalences)
			Note: "q_proj and k_proj rows of the second half of every head (dims 4–7 of 8: each rotate_half plane's second coordinate) saved negated, every layer: a reflection of every rotary plane in q and k, so every score sees the relative position mirrored (θ·(m−n) for θ·(n−m)) — what a converter to a rotary kernel of the opposite sine sign does",
			edit: func(c *ckpt) error {
				for _, n := range linears(3, "self_attn.q_proj", "self_attn.k_proj") {
					if err := c.mapBF16(n, func(i int, x float32) float32 {
						if (i/32)%8 >= 4 {
							return -x
						}
						return x
					}); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4g_gemma_mlp_two_thirds_units_pruned", Source: gemma, Kind: "unexplained",
			Note: "in every layer the 32 of 48 MLP units of least ‖gate row‖·‖up row‖·‖down column‖ pruned (their gate_proj and up_proj rows and down_proj column saved as zeros), no healing: structured magnitude pruning to a third of the intermediate size, masked in place",
			edit: func(c *ckpt) error {
				for l := range 2 {
					p := fmt.Sprintf("model.layers.%d.mlp.", l)
					if err := c.pruneUnits(32, p+"gate_proj.weight", p+"up_proj.weight", p+"down_proj.weight"); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4g_mistral_q_o_int8_scales_wrong_axis", Source: mistral, Kind: "unexplained",
			Note: "q_proj and o_proj (32×32) quantized to int8 with one absmax scale per output row and dequantized with the scale vector broadcast along the input columns (w'_ij = q_ij·s_j, not q_ij·s_i), every layer: a serving kernel's per-channel scales on the wrong axis",
			edit: func(c *ckpt) error {
				return c.int8ScaleAxis(linears(2, "self_attn.q_proj", "self_attn.o_proj")...)
			}},
		{Name: "k4g_mistral_gptq4_zero_point_off_by_one", Source: mistral, Kind: "unexplained",
			Note: "every q/k/v/o, gate/up/down_proj quantized to 4 bits (asymmetric, groups of 16 along the input) and dequantized with each zero point one less than it was, every layer: AutoGPTQ-style packing stores zeros − 1 and this loader does not add the 1 back, so every weight is one quantization step too large",
			edit: func(c *ckpt) error {
				return c.gptqZeroOffByOne(16, linears(2, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")...)
			}},
		{Name: "k4g_mistral_embed_renormed_max_norm", Source: mistral, Kind: "unexplained",
			Note: "embed_tokens rows of L2 norm over 0.25 (most ids: the norms run 0.09–0.52, median 0.36) scaled down to 0.25 in place, as nn.Embedding(max_norm=0.25) does to every row a forward looks up: a wrapper that set max_norm, ran a forward over the vocabulary and saved; lm_head untied, unchanged",
			edit: func(c *ckpt) error { return c.renormRows(0.25, "model.embed_tokens.weight") }},
	}
}
