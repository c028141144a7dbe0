package main

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nlpodyssey/safetensors"
)

// center subtracts means from each named BF16 tensor (values rounded back to BF16): with cols
// false each row's mean over its columns (a 1-D tensor is one row), with cols true each column's
// mean over the rows.
func (c *ckpt) center(cols bool, names ...string) error {
	for _, n := range names {
		t, err := c.get(n)
		if err != nil {
			return err
		}
		v, err := c.floats(n)
		if err != nil {
			return err
		}
		nc := len(v)
		if len(t.shape) == 2 {
			nc = int(t.shape[1])
		} else if len(t.shape) != 1 || cols {
			return fmt.Errorf("tensor %s: cannot center shape %v by columns %v", n, t.shape, cols)
		}
		nr := len(v) / nc
		if cols {
			for j := range nc {
				m := 0.0
				for r := range nr {
					m += float64(v[r*nc+j])
				}
				m /= float64(nr)
				for r := range nr {
					v[r*nc+j] = float32(float64(v[r*nc+j]) - m)
				}
			}
		} else {
			for r := range nr {
				m := 0.0
				for _, x := range v[r*nc : (r+1)*nc] {
					m += float64(x)
				}
				m /= float64(nc)
				for j := r * nc; j < (r+1)*nc; j++ {
					v[j] = float32(float64(v[j]) - m)
				}
			}
		}
		if err := c.setFloats(n, v); err != nil {
			return err
		}
	}
	return nil
}

// toF16 is x as IEEE binary16 bits, rounded to nearest even (overflow to ±Inf, underflow through
// the subnormals to ±0).
func toF16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		r, rem, half := mant>>shift, mant&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r, rem := uint32(exp)<<10|mant>>13, mant&0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++
	}
	return sign | uint16(r)
}

// f16BitsAsBF16 stores, in each named BF16 tensor, every value's binary16 bits: what a loader
// reads from a file whose writer cast the tensor to float16 and kept the header's BF16 dtype.
func (c *ckpt) f16BitsAsBF16(names ...string) error {
	for _, n := range names {
		v, err := c.floats(n)
		if err != nil {
			return err
		}
		t, _ := c.get(n)
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.data[2*i:], toF16(x))
		}
	}
	return nil
}

// flaxReshaped rewrites each named 2-D tensor W (out × in) as a converter from a Flax Dense kernel
// (in × out, W transposed) that called .reshape(out, in) where it should have transposed: the
// kernel's elements in row-major order, read as out × in.
func (c *ckpt) flaxReshaped(names ...string) error {
	return c.eachMatrix(names, func(n string, w []float32, cols int) ([]float32, error) {
		rows, out := len(w)/cols, make([]float32, 0, len(w))
		for i := range cols {
			for o := range rows {
				out = append(out, w[o*cols+i])
			}
		}
		return out, nil
	})
}

// headDimMajor is the order of a (heads, headDim) axis pair flattened dim-major instead of
// head-major: new index d·heads + h holds old index h·headDim + d.
func headDimMajor(heads, headDim int) func(i, n int) int {
	return func(i, _ int) int { return (i%heads)*headDim + i/heads }
}

// widenMLP appends copies of the first k units to the MLP of each prefix (gate_proj and up_proj
// rows, down_proj columns; the new width is set in config.json by the entry): Net2WiderNet's split,
// which halves up_proj's rows of both copies when halve (each pair then sums to the unit it
// replaced), or leaves them whole.
func (c *ckpt) widenMLP(k int, halve bool, prefixes ...string) error {
	for _, p := range prefixes {
		g, cols, err := c.matrix(p + "gate_proj.weight")
		if err != nil {
			return err
		}
		u, _, err := c.matrix(p + "up_proj.weight")
		if err != nil {
			return err
		}
		d, dc, err := c.matrix(p + "down_proj.weight")
		if err != nil {
			return err
		}
		if halve {
			for i := range k * cols {
				u[i] /= 2
			}
		}
		var d2 []float32
		for r := range len(d) / dc {
			d2 = append(append(d2, d[r*dc:(r+1)*dc]...), d[r*dc:r*dc+k]...)
		}
		units := uint64(len(g)/cols + k)
		if err := c.setFloats(p+"gate_proj.weight", slices.Concat(g, g[:k*cols]), units, uint64(cols)); err != nil {
			return err
		}
		if err := c.setFloats(p+"up_proj.weight", slices.Concat(u, u[:k*cols]), units, uint64(cols)); err != nil {
			return err
		}
		if err := c.setFloats(p+"down_proj.weight", d2, uint64(len(d)/dc), units); err != nil {
			return err
		}
	}
	return nil
}

// tiled rewrites each named 2-D tensor as the row-major reading of its tile-major layout (tiles
// of tile × tile in row-major tile order, each tile row-major), as a GPU kernel repacks weights.
func (c *ckpt) tiled(tile int, names ...string) error {
	return c.eachMatrix(names, func(n string, w []float32, cols int) ([]float32, error) {
		rows := len(w) / cols
		if rows%tile != 0 || cols%tile != 0 {
			return nil, fmt.Errorf("tensor %s: %d×%d is not in tiles of %d", n, rows, cols, tile)
		}
		out := make([]float32, 0, len(w))
		for ti := range rows / tile {
			for tj := range cols / tile {
				for a := range tile {
					out = append(out, w[(ti*tile+a)*cols+tj*tile:(ti*tile+a)*cols+(tj+1)*tile]...)
				}
			}
		}
		return out, nil
	})
}

// awqOrder is AutoAWQ's packing order of 8 output channels in an int32 ([0 2 4 6 1 3 5 7]) read
// back in natural order: new channel i of each group of 8 holds old channel order[i].
func awqOrder(i, _ int) int { return i - i%8 + []int{0, 2, 4, 6, 1, 3, 5, 7}[i%8] }

// flatShift concatenates the named BF16 tensors in order (their elements, row-major) and reads
// them back pad elements late: the first tensor starts with pad zeros and each tensor's last pad
// elements become the next one's first; the last tensor's tail is lost.
func (c *ckpt) flatShift(pad int, names ...string) error {
	var flat []byte
	for _, n := range names {
		t, err := c.get(n)
		if err != nil {
			return err
		}
		if t.dtype != safetensors.BF16 {
			return fmt.Errorf("tensor %s: dtype %v, want BF16", n, t.dtype)
		}
		flat = append(flat, t.data...)
	}
	flat = append(make([]byte, 2*pad), flat...)
	for _, n := range names {
		t := c.tensors[n]
		t.data, flat = bytes.Clone(flat[:len(t.data)]), flat[len(t.data):]
	}
	return nil
}

// loraMerged adds to each named 2-D tensor W (out × in) the merge (alpha/r)·B·A of a LoRA adapter
// that was never trained, created with PEFT's init_lora_weights=False: A (r × in) and B (out × r)
// both keep nn.Linear's default initialisation, U(±1/√fan_in) (so B is not zero); seeded.
func (c *ckpt) loraMerged(r int, alpha float64, seed uint64, names ...string) error {
	rng := rand.New(rand.NewPCG(seed, 0))
	u := func(bound float64) float64 { return (2*rng.Float64() - 1) * bound }
	return c.eachMatrix(names, func(n string, w []float32, in int) ([]float32, error) {
		out := len(w) / in
		a, b := make([]float64, r*in), make([]float64, out*r)
		for i := range a {
			a[i] = u(1 / math.Sqrt(float64(in)))
		}
		for i := range b {
			b[i] = u(1 / math.Sqrt(float64(r)))
		}
		for o := range out {
			for j := range in {
				d := 0.0
				for k := range r {
					d += b[o*r+k] * a[k*in+j]
				}
				w[o*in+j] = float32(float64(w[o*in+j]) + alpha/float64(r)*d)
			}
		}
		return w, nil
	})
}

// emaFromInit replaces every tensor by decay·init + (1 − decay)·trained, init GPT-NeoX's
// initialisation (linear weights and embeddings N(0, std²), LayerNorm weights 1, biases 0):
// an EMA shadow started at the initial weights whose decay^steps is still decay when saved, the
// trajectory's average taken as its end; seeded.
func (c *ckpt) emaFromInit(decay, std float64, seed uint64) error {
	names := make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, n := range names {
		t := c.tensors[n]
		init := func() float64 { return rng.NormFloat64() * std }
		switch {
		case len(t.shape) == 2:
		case strings.HasSuffix(n, ".bias"):
			init = func() float64 { return 0 }
		default: // a LayerNorm weight
			init = func() float64 { return 1 }
		}
		if err := c.mapBF16(n, func(_ int, x float32) float32 {
			return float32(decay*init() + (1-decay)*float64(x))
		}); err != nil {
			return err
		}
	}
	return nil
}

// sibling is the tensors of another checkpoint of the source directory (dir beside c's source).
func (c *ckpt) sibling(dir string) (map[string]*tensor, error) {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(c.src), dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	return readTensors(raw)
}

// symEig is the eigenvalues and eigenvectors (columns of v, n × n row-major) of the symmetric n × n
// matrix a, by cyclic Jacobi rotations.
func symEig(a []float64, n int) ([]float64, []float64) {
	a = slices.Clone(a)
	v := make([]float64, n*n)
	for i := range n {
		v[i*n+i] = 1
	}
	for range 100 {
		off := 0.0
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += a[p*n+q] * a[p*n+q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				if math.Abs(a[p*n+q]) < 1e-300 {
					continue
				}
				theta := (a[q*n+q] - a[p*n+p]) / (2 * a[p*n+q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				cs := 1 / math.Sqrt(t*t+1)
				sn := t * cs
				for k := range n { // a ← a·J
					akp, akq := a[k*n+p], a[k*n+q]
					a[k*n+p], a[k*n+q] = cs*akp-sn*akq, sn*akp+cs*akq
				}
				for k := range n { // a ← Jᵀ·a
					apk, aqk := a[p*n+k], a[q*n+k]
					a[p*n+k], a[q*n+k] = cs*apk-sn*aqk, sn*apk+cs*aqk
				}
				for k := range n {
					vkp, vkq := v[k*n+p], v[k*n+q]
					v[k*n+p], v[k*n+q] = cs*vkp-sn*vkq, sn*vkp+cs*vkq
				}
			}
		}
	}
	ev := make([]float64, n)
	for i := range n {
		ev[i] = a[i*n+i]
	}
	return ev, v
}

// lowRank replaces each named 2-D tensor W (out × in) by its best rank-r approximation (truncated
// SVD: W projected on its r leading right singular vectors, W·V_r·V_rᵀ).
func (c *ckpt) lowRank(r int, names ...string) error {
	return c.eachMatrix(names, func(n string, w []float32, in int) ([]float32, error) {
		out := len(w) / in
		if r > in {
			return nil, fmt.Errorf("tensor %s: rank %d of %d columns", n, r, in)
		}
		g := make([]float64, in*in)
		for i := range in {
			for j := range in {
				for o := range out {
					g[i*in+j] += float64(w[o*in+i]) * float64(w[o*in+j])
				}
			}
		}
		ev, v := symEig(g, in)
		order := make([]int, in)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ev[b], ev[a]) })
		p := make([]float64, in*in) // V_r·V_rᵀ
		for _, k := range order[:r] {
			for i := range in {
				for j := range in {
					p[i*in+j] += v[i*in+k] * v[j*in+k]
				}
			}
		}
		res := make([]float32, len(w))
		for o := range out {
			for j := range in {
				s := 0.0
				for i := range in {
					s += float64(w[o*in+i]) * p[i*in+j]
				}
				res[o*in+j] = float32(s)
			}
		}
		return res, nil
	})
}

// actOrderCols permutes the input columns of each named 2-D tensor into descending order of their
// L2 norms: GPTQ's act-order (desc_act) storage order, the Hessian diagonal approximated by the
// columns' norms, left in place by a loader that ignored g_idx.
func (c *ckpt) actOrderCols(names ...string) error {
	for _, n := range names {
		w, in, err := c.matrix(n)
		if err != nil {
			return err
		}
		norm := make([]float64, in)
		for i, x := range w {
			norm[i%in] += float64(x) * float64(x)
		}
		order := make([]int, in)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(norm[b], norm[a]) })
		if err := c.permuteCols(func(j, _ int) int { return order[j] }, n); err != nil {
			return err
		}
	}
	return nil
}

// entries4h is kit 4h: controls that are exact reparametrisations no earlier kit used (writing
// weights centred under LayerNorm, the unembedding centred over the vocabulary, MLP units split
// Net2Net-style, a grown query head with a zero output, Gemma 2's query scale moved between
// config.json and q_proj) and faults of export, serving, adapter, compression, training-state
// and dtype code that kits 4b–4g did not use — float16 bits under a BF16 header, an EMA shadow
// saved too early, an untrained LoRA adapter merged, the vocabulary resized with mean rows, Flax
// kernels reshaped instead of transposed or flattened dim-major, a kernel's tile layout, AWQ's
// packing order or GPTQ's act order not undone, ZeRO padding not skipped while consolidating,
// plain truncated SVD, MLP units split without halving, a layer's MLP from another run — written
// (with their truths) by a helper that had not read analysis/, before any diagnosis of them was
// run. Candidates that cost under 0.05 nats (writing weights centred under RMSNorm, 0.015 on
// Qwen3 and at most 0.042 on the other RMSNorm families; AWQ scales folded into Phi-3's gate
// half, 0.011 with scales in [1/16, 16]; Phi-3's MLP split without halving, 0.038) were
// replaced, and num_hidden_layers 1 with layer 1's tensors left in, which nanoscope's loader
// refuses, dropped.
func entries4h() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	linears := func(n int, ps ...string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, layers(n, "model.layers.%d."+p+".weight")...)
		}
		return out
	}
	return []entry{
		// healthy controls: the same function.
		{Name: "k4h_gpt_neox_writing_weights_centered", Source: neox,
			Note: "embed_in rows, and attention.dense and mlp.dense_4h_to_h weights (each column over the 32 output dims) and biases, centred to mean zero over the hidden dims (rounded to BF16), every layer: everything that writes to the residual stream then writes mean zero, and every reader of the stream is a LayerNorm (parallel residual), which subtracts the mean anyway (TransformerLens' center_writing_weights)",
			edit: func(c *ckpt) error {
				if err := c.center(false, slices.Concat([]string{"gpt_neox.embed_in.weight"}, layers(2, "gpt_neox.layers.%d.attention.dense.bias"), layers(2, "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias"))...); err != nil {
					return err
				}
				return c.center(true, slices.Concat(layers(2, "gpt_neox.layers.%d.attention.dense.weight"), layers(2, "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight"))...)
			}},
		{Name: "k4h_phi3_unembed_centered", Source: phi3,
			Note: "lm_head (untied) centred over the vocabulary: each of its 32 columns minus its mean over the 64 rows (rounded to BF16): every logit of a position moves by the same amount, which softmax ignores (TransformerLens' center_unembed)",
			edit: func(c *ckpt) error { return c.center(true, "lm_head.weight") }},
		{Name: "k4h_gemma_mlp_net2wider_split", Source: gemma, key: "intermediate_size", value: "64",
			Note: "intermediate_size 64 (was 48): units 0–15 of every layer's MLP split in two (Net2WiderNet): gate_proj rows copied to units 48–63, up_proj rows of both halves ×0.5 (exact in BF16), down_proj columns copied: each pair computes gelu(g)·(u/2) twice, the same sum",
			edit: func(c *ckpt) error { return c.widenMLP(16, true, layers(2, "model.layers.%d.mlp.")...) }},
		{Name: "k4h_mistral_grown_head_zero_output", Source: mistral, key: "num_attention_heads", value: "5",
			Note: "num_attention_heads 5 (was 4; head_dim 8 stays explicit, hidden_size 32): a fifth query head added to every layer as function-preserving growth does it, its q_proj rows a fresh N(0, 0.02²) draw and its o_proj columns zero, sharing the one kv head: its output is multiplied by zero",
			edit: func(c *ckpt) error {
				rng := rand.New(rand.NewPCG(41, 0))
				for _, p := range layers(2, "model.layers.%d.self_attn.") {
					q, cols, err := c.matrix(p + "q_proj.weight")
					if err != nil {
						return err
					}
					for range 8 * cols {
						q = append(q, float32(rng.NormFloat64()*0.02))
					}
					o, oc, err := c.matrix(p + "o_proj.weight")
					if err != nil {
						return err
					}
					var o2 []float32
					for r := range len(o) / oc {
						o2 = append(append(o2, o[r*oc:(r+1)*oc]...), make([]float32, 8)...)
					}
					if err := c.setFloats(p+"q_proj.weight", q, uint64(len(q)/cols), uint64(cols)); err != nil {
						return err
					}
					if err := c.setFloats(p+"o_proj.weight", o2, uint64(len(o)/oc), uint64(oc+8)); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "k4h_gemma2_qpas32_q_proj_x2", Source: gemma2, key: "query_pre_attn_scalar", value: "32",
			Note: "query_pre_attn_scalar 32 (was 8) and q_proj saved ×2 (exact in BF16), every layer: the scores are scaled by 32^-0.5 = 8^-0.5 / 2, which the doubled queries undo exactly, before the soft cap",
			edit: func(c *ckpt) error { return c.scaleAll(2, layers(3, "model.layers.%d.self_attn.q_proj.weight")...) }},

		// faults.
		{Name: "k4h_qwen2_norms_f16_bits_under_bf16", Source: qwen2, Kind: "unexplained",
			Note: "every RMSNorm weight (input_layernorm, post_attention_layernorm, model.norm: the 1-D tensors) written as float16 bits under the header's BF16 dtype: an exporter that keeps norms in half precision cast them with .half() and copied the dtype from the BF16 source; a weight near 1 (0x3C00) reads as ≈2^-7 and the ratio between two weights is raised to about the 8th power",
			edit: func(c *ckpt) error {
				return c.f16BitsAsBF16(slices.Concat(linears(2, "input_layernorm", "post_attention_layernorm"), []string{"model.norm.weight"})...)
			}},
		{Name: "k4h_gpt_neox_ema_shadow_half_init", Source: neox, Kind: "unexplained",
			Note: "every tensor saved as 0.5·init + 0.5·trained, init a draw of GPT-NeoX's initialisation (linear weights and embeddings N(0, 0.02²), LayerNorm weights 1, biases 0; seeded): the EMA shadow saved instead of the live weights, with a decay too slow for the run (0.9999^6931 = 0.5 of the initial shadow left), the trajectory's average approximated by its end",
			edit: func(c *ckpt) error { return c.emaFromInit(0.5, 0.02, 43) }},
		{Name: "k4h_mistral_untrained_lora_qv_merged", Source: mistral, Kind: "unexplained",
			Note: "a LoRA adapter on q_proj and v_proj (r 8, alpha 16), created with PEFT's init_lora_weights=False (lora_B not zero: both factors keep nn.Linear's U(±1/√fan_in)) and never trained, merged (W + 2·B·A), every layer: a test adapter merged into the released model",
			edit: func(c *ckpt) error {
				return c.loraMerged(8, 16, 47, linears(2, "self_attn.q_proj", "self_attn.v_proj")...)
			}},
		{Name: "k4h_qwen2_vocab_resized_mean_rows", Source: qwen2, Kind: "unexplained", key: "vocab_size", value: "128",
			Note: "vocab_size 128 (was 64): the tied embed_tokens resized to 128 rows after training, rows 64–127 the mean of the 64 trained rows (resize_token_embeddings(pad_to_multiple_of=128) with transformers' mean_resizing, its tiny covariance draw left out): 64 ids the text never holds each get the mean logit and take probability from every real token",
			edit: func(c *ckpt) error {
				e, cols, err := c.matrix("model.embed_tokens.weight")
				if err != nil {
					return err
				}
				mean := make([]float32, cols)
				for j := range cols {
					s := 0.0
					for r := range 64 {
						s += float64(e[r*cols+j])
					}
					mean[j] = float32(s / 64)
				}
				for range 64 {
					e = append(e, mean...)
				}
				return c.setFloats("model.embed_tokens.weight", e, 128, uint64(cols))
			}},
		{Name: "k4h_qwen3_mlp_flax_kernels_reshaped", Source: qwen3, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "gate_proj, up_proj and down_proj of every layer converted from Flax Dense kernels (in × out) with .reshape(out, in) instead of .T: the shapes hold (48×32, 32×48) but every row is a run of the kernel's row-major elements",
			edit: func(c *ckpt) error {
				return c.flaxReshaped(linears(2, "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")...)
			}},
		{Name: "k4h_gemma2_attn_flax_heads_dim_major", Source: gemma2, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "q_proj, k_proj, v_proj rows and o_proj columns of every layer flattened from Flax's (heads, head_dim) axes dim-major ((head_dim, heads): new row d·H + h = old row h·8 + d, H 4 for q and o, 2 for k and v) — a JAX-to-PyTorch converter that transposed the einsum kernels with the wrong axis order: each head now holds dims of every head",
			edit: func(c *ckpt) error {
				if err := c.permuteRows(headDimMajor(4, 8), layers(3, "model.layers.%d.self_attn.q_proj.weight")...); err != nil {
					return err
				}
				if err := c.permuteRows(headDimMajor(2, 8), linears(3, "self_attn.k_proj", "self_attn.v_proj")...); err != nil {
					return err
				}
				return c.permuteCols(headDimMajor(4, 8), layers(3, "model.layers.%d.self_attn.o_proj.weight")...)
			}},
		{Name: "k4h_gemma_attn_16x16_tiles_not_untiled", Source: gemma, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "q_proj, k_proj, v_proj and o_proj of every layer saved in a GPU kernel's 16×16 tile-major layout (tiles in row-major order, each tile row-major) and read back as row-major: an export from a serving engine that wrote its repacked weights without undoing the tiling",
			edit: func(c *ckpt) error {
				return c.tiled(16, linears(2, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")...)
			}},
		{Name: "k4h_mistral_mlp_awq_pack_order_not_undone", Source: mistral, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "gate_proj, up_proj and down_proj rows (output channels) of every layer in AutoAWQ's int32 packing order [0 2 4 6 1 3 5 7] within each group of 8, as an unpacker that reads the nibbles in natural order gives them (the quantization itself left out: values as trained): gate and up stay paired, but down_proj's columns no longer match their units and its outputs land on permuted hidden dims",
			edit: func(c *ckpt) error {
				return c.permuteRows(awqOrder, linears(2, "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")...)
			}},
		{Name: "k4h_phi3_l1_zero_consolidation_pad_not_skipped", Source: phi3, Kind: "unexplained",
			Note: "layer 1's parameters after mlp.gate_up_proj, in registration order (mlp.down_proj, input_layernorm, post_attention_layernorm), read 8 elements late from the flat buffer: a ZeRO consolidation (zero_to_fp32-style) that did not skip 8 elements of alignment padding: down_proj starts with 8 zeros and every row takes the previous row's last 8 weights, input_layernorm's first 8 weights are down_proj's last 8, and both norms are shifted by 8 dims",
			edit: func(c *ckpt) error {
				return c.flatShift(8, "model.layers.1.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight")
			}},
		{Name: "k4h_gemma2_attn_svd_rank4", Source: gemma2, Kind: "unexplained",
			Note: "q_proj, k_proj, v_proj and o_proj of every layer replaced by their rank-4 truncated SVD (of 16 or 32): plain SVD compression with no activation whitening or fine-tuning afterwards",
			edit: func(c *ckpt) error {
				return c.lowRank(4, linears(3, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")...)
			}},
		{Name: "k4h_qwen3_gptq_act_order_g_idx_ignored", Source: qwen3, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"},
			Note: "every q/k/v/o, gate/up/down_proj's input columns stored in descending order of their norms (GPTQ's desc_act order, the Hessian diagonal approximated by the column norms; the quantization itself left out) and loaded without g_idx's inverse permutation, every layer: each linear reads its inputs in another order",
			edit: func(c *ckpt) error {
				return c.actOrderCols(linears(2, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")...)
			}},
		{Name: "k4h_qwen2_mlp_widened_split_not_halved", Source: qwen2, Kind: "unexplained", key: "intermediate_size", value: "64",
			Note: "intermediate_size 64 (was 48): units 0–15 of every layer's MLP replicated as units 48–63 (gate_proj and up_proj rows, down_proj columns copied) with neither copy halved: a Net2WiderNet growth step that forgot to divide the replicated units' weights by their count, so units 0–15 contribute twice (the control k4h_gemma_mlp_net2wider_split done wrong)",
			edit: func(c *ckpt) error { return c.widenMLP(16, false, layers(2, "model.layers.%d.mlp.")...) }},
		{Name: "k4h_gemma_l1_mlp_from_another_run", Source: gemma, Kind: "unexplained",
			Note: "layer 1's gate_proj, up_proj and down_proj replaced by layer 1's of gemma2_trained (same shapes 48×32 and 32×48, same activation, trained on the same text): a shard of another training run uploaded with this one's, trained weights that do not belong to this model",
			edit: func(c *ckpt) error {
				other, err := c.sibling(gemma2)
				if err != nil {
					return err
				}
				for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
					n := "model.layers.1.mlp." + p + ".weight"
					t, o := c.tensors[n], other[n]
					if t == nil || o == nil || t.dtype != o.dtype || !slices.Equal(t.shape, o.shape) {
						return fmt.Errorf("%s: not the same tensor in %s", n, gemma2)
					}
					t.data = bytes.Clone(o.data)
				}
				return nil
			}},
	}
}
