package gomlxmodel

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

// Llama as Hugging Face transformers' LlamaForCausalLM computes it: RMSNorm pre-norm blocks,
// rotary position embeddings on q and k, grouped-query attention (n_kv_heads ≤ n_heads), a
// SwiGLU MLP, a final RMSNorm and a head tied to the embedding or not.
//
// The same decoder, with the same tensor names, is transformers' Qwen2ForCausalLM (biases on
// q, k and v_proj; layers from max_window_layers on with a sliding window when
// use_sliding_window), Qwen3ForCausalLM (q_norm and k_norm: an RMSNorm over each head's q and k
// before RoPE; attention_bias on all four projections) and MistralForCausalLM (a sliding window
// on every layer). LlamaConfig.Arch says which; the differences are fields.
//
// Tensor names are Hugging Face's (weights nn.Linear [out, in]):
//
//	model.embed_tokens.weight                        (V, D)
//	model.layers.{i}.input_layernorm.weight          (D)
//	model.layers.{i}.self_attn.q_proj.weight         (H·hd, D)
//	model.layers.{i}.self_attn.k_proj.weight         (Hkv·hd, D)
//	model.layers.{i}.self_attn.v_proj.weight         (Hkv·hd, D)
//	model.layers.{i}.self_attn.{q,k,v}_proj.bias     (H·hd), (Hkv·hd)  QKVBias (qwen2; attention_bias)
//	model.layers.{i}.self_attn.q_norm.weight         (hd)  QKNorm (qwen3)
//	model.layers.{i}.self_attn.k_norm.weight         (hd)  QKNorm (qwen3)
//	model.layers.{i}.self_attn.o_proj.weight         (D, H·hd)
//	model.layers.{i}.self_attn.o_proj.bias           (D)   OBias (attention_bias)
//	model.layers.{i}.post_attention_layernorm.weight (D)
//	model.layers.{i}.mlp.gate_proj.weight            (F, D)
//	model.layers.{i}.mlp.up_proj.weight              (F, D)
//	model.layers.{i}.mlp.down_proj.weight            (D, F)
//	model.norm.weight                                (D)
//	lm_head.weight                                   (V, D)  only when the head is untied

// LlamaConfig is a Llama configuration (config.json's hidden_size, ...) and its conventions.
type LlamaConfig struct {
	VocabSize        int     // vocab_size
	DModel           int     // hidden_size
	NLayers          int     // num_hidden_layers
	NHeads           int     // num_attention_heads
	NKVHeads         int     // num_key_value_heads (= NHeads without GQA)
	HeadDim          int     // head_dim, hidden_size / num_attention_heads when absent
	DFF              int     // intermediate_size
	RMSNormEps       float64 // rms_norm_eps
	RopeTheta        float64 // rope_theta, top level or under rope_parameters (transformers 5)
	MaxPositions     int     // max_position_embeddings (informative: RoPE has no table)
	InitializerRange float64 // initializer_range (0.02)

	// Arch is config.json's model_type: "llama" ("" is llama), "qwen2", "qwen3" or "mistral".
	Arch string
	// QKVBias: q_proj, k_proj and v_proj have biases (Qwen2 always; attention_bias elsewhere).
	// OBias: o_proj has one too (attention_bias of Llama and Qwen3; never Qwen2).
	QKVBias, OBias bool
	// QKNorm (Qwen3): q and k, per head, go through an RMSNorm over head_dim (q_norm, k_norm
	// weights, eps rms_norm_eps) after their projection and before RoPE.
	QKNorm bool
	// SlidingWindow is sliding_window as transformers applies it: a query sees itself and the
	// SlidingWindow − 1 keys before it (masking_utils: kv_idx > q_idx − sliding_window). 0: none.
	SlidingWindow int
	// LayerTypes is layer_types: per layer "full_attention" or "sliding_attention" (Qwen2 and
	// Qwen3: sliding from max_window_layers on). nil: every layer sliding when SlidingWindow > 0.
	LayerTypes []string
	// MLPBias: gate_proj, up_proj and down_proj have biases (Llama's mlp_bias).
	MLPBias bool
	// FusedQKV (Phi-3): one self_attn.qkv_proj (H·hd + 2·Hkv·hd, D) whose output rows are q,
	// then k, then v, in place of q_proj, k_proj and v_proj.
	FusedQKV bool
	// FusedGateUp (Phi-3): one mlp.gate_up_proj (2F, D) whose output rows are gate, then up
	// (chunk(2, dim=-1)), in place of gate_proj and up_proj.
	FusedGateUp bool
	// SandwichNorm (Gemma 2): each sublayer's output goes through its own RMSNorm before the
	// residual add (post_attention_layernorm after attention, post_feedforward_layernorm after
	// the MLP), and the MLP reads pre_feedforward_layernorm.
	SandwichNorm bool
	// AttnSoftCap (Gemma 2's attn_logit_softcapping) caps the scaled attention scores as
	// c·tanh(s/c) before the mask; 0 is none.
	AttnSoftCap float64
	// QueryPreAttnScalar (Gemma 2's query_pre_attn_scalar): the scores are scaled by its −½
	// power instead of head_dim's; 0 is head_dim.
	QueryPreAttnScalar float64
	// RotaryDim is how many of each head's first dimensions RoPE rotates (partial_rotary_factor ·
	// head_dim); the rest pass through. 0 is all of head_dim.
	RotaryDim int
	// RopeScaling is rope_parameters' rope_type with its parameters (zero: the default RoPE).
	RopeScaling RopeScaling

	// Conventions.
	RopePairing string // config.RopeHalves (HF rotate_half: i with i + hd/2) or config.RopeInterleaved (2i with 2i+1)
	GQAMapping  string // config.GQAInterleave (HF repeat_kv: query head h reads kv head h / n_rep) or config.GQATile (h mod n_kv)
	QKVOrder    string // FusedQKV only: the order of qkv_proj's three row blocks, one of QKVOrders ("" is "qkv", Phi-3's)
	UpFirst     bool   // FusedGateUp only: gate_up_proj's rows are up, then gate (Phi-3's are gate, then up)
	TiedHead    bool   // tie_word_embeddings: logits = x · embed_tokensᵀ
	Causal      bool   // the causal mask (false only to test the "future leakage" fault)
	HiddenAct   string // hidden_act: "silu" ("" is silu), "gelu_pytorch_tanh" (tanh approximation) or "gelu" (erf)
	// Run are the conventions of the inference path shared by every family (attention scale,
	// embedding scale, norm weight offset, logit soft-cap, position offset, rope scaling).
	Run RunConventions
}

// Llama is the Llama family.
type Llama struct{ Config LlamaConfig }

var _ Family = Llama{}

// Validate checks the sizes and conventions.
func (c LlamaConfig) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.DModel <= 0 || c.NLayers <= 0 || c.NHeads <= 0 || c.NKVHeads <= 0 || c.HeadDim <= 0 || c.DFF <= 0:
		return fmt.Errorf("llama: sizes must be positive: %+v", c)
	case c.NHeads%c.NKVHeads != 0:
		return fmt.Errorf("llama: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NHeads, c.NKVHeads)
	case c.QKVOrder != "" && (!c.FusedQKV || !slices.Contains(QKVOrders, c.QKVOrder)):
		return fmt.Errorf("llama: qkv order %q needs a fused qkv_proj and one of %v", c.QKVOrder, QKVOrders)
	case c.UpFirst && !c.FusedGateUp:
		return fmt.Errorf("llama: up-first row order needs a fused gate_up_proj")
	case c.HeadDim%2 != 0:
		return fmt.Errorf("llama: head_dim %d is odd: RoPE rotates pairs", c.HeadDim)
	case c.RopeTheta <= 0:
		return fmt.Errorf("llama: rope_theta %v must be positive", c.RopeTheta)
	case c.RopePairing != config.RopeHalves && c.RopePairing != config.RopeInterleaved:
		return fmt.Errorf("llama: RoPE pairing %q is not %q or %q", c.RopePairing, config.RopeHalves, config.RopeInterleaved)
	case c.GQAMapping != config.GQAInterleave && c.GQAMapping != config.GQATile:
		return fmt.Errorf("llama: GQA mapping %q is not %q or %q", c.GQAMapping, config.GQAInterleave, config.GQATile)
	case c.HiddenAct != "" && c.HiddenAct != "silu" && c.HiddenAct != "gelu_pytorch_tanh" && c.HiddenAct != "gelu":
		return fmt.Errorf("llama: hidden_act %q is not silu, gelu_pytorch_tanh or gelu", c.HiddenAct)
	case c.Arch != "" && !slices.Contains(LlamaArchs, c.Arch):
		return fmt.Errorf("llama: arch %q is not one of %v", c.Arch, LlamaArchs)
	case c.SlidingWindow < 0 || c.SlidingWindow == 1:
		return fmt.Errorf("llama: sliding_window %d: a window holds at least 2 keys (the query's own and one before), or is 0 for none", c.SlidingWindow)
	case c.LayerTypes != nil && len(c.LayerTypes) != c.NLayers:
		return fmt.Errorf("llama: layer_types has %d entries for %d layers", len(c.LayerTypes), c.NLayers)
	case c.RotaryDim < 0 || c.RotaryDim%2 != 0 || c.RotaryDim > c.HeadDim:
		return fmt.Errorf("llama: rotary dimensions %d (partial_rotary_factor · head_dim) must be even and within head_dim %d", c.RotaryDim, c.HeadDim)
	case c.AttnSoftCap < 0 || c.QueryPreAttnScalar < 0 || math.IsNaN(c.AttnSoftCap) || math.IsNaN(c.QueryPreAttnScalar):
		return fmt.Errorf("llama: attn_logit_softcapping %v and query_pre_attn_scalar %v must be ≥ 0", c.AttnSoftCap, c.QueryPreAttnScalar)
	}
	if err := c.RopeScaling.Validate(); err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	for i, lt := range c.LayerTypes {
		if lt != LayerFull && lt != LayerSliding {
			return fmt.Errorf("llama: layer_types[%d] %q is not %q or %q", i, lt, LayerFull, LayerSliding)
		}
		if lt == LayerSliding && c.SlidingWindow == 0 {
			return fmt.Errorf("llama: layer_types[%d] is %q but sliding_window is absent", i, lt)
		}
	}
	return nil
}

// LlamaArchs are the model_types the Llama decoder computes.
var LlamaArchs = []string{"llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "phi3"}

// rope is the rotary embedding of c: its base, pairing and scaling under the run conventions.
func (c LlamaConfig) rope() Rope {
	r := c.Run.rope(c.RopeTheta, c.RopePairing)
	r.Scaling = c.RopeScaling
	return r
}

// Layer types of layer_types.
const (
	LayerFull    = "full_attention"
	LayerSliding = "sliding_attention"
)

// window is the window of layer i in attendWindow's terms (keys to the left of the query), 0
// for full attention.
func (c LlamaConfig) window(i int) int {
	if c.SlidingWindow == 0 || c.LayerTypes != nil && c.LayerTypes[i] != LayerSliding {
		return 0
	}
	return c.SlidingWindow - 1
}

// Arch is config.json's model_type: "llama", "qwen2", "qwen3" or "mistral".
func (m Llama) Arch() string {
	if m.Config.Arch == "" {
		return "llama"
	}
	return m.Config.Arch
}

// Dims of the model. MaxSeq is 0: RoPE runs at any length.
func (m Llama) Dims() Dims {
	c := m.Config
	return Dims{VocabSize: c.VocabSize, DModel: c.DModel, NLayers: c.NLayers, NHeads: c.NHeads}
}

// ParamSpecs lists the tensors with Hugging Face's initialisers (LlamaPreTrainedModel):
// embedding and every linear weight N(0, initializer_range), RMSNorm weights 1.
func (m Llama) ParamSpecs() []ParamSpec {
	c := m.Config
	d, qd, kvd, f := c.DModel, c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim, c.DFF
	normal, one := InitKind{Normal: true, Std: c.InitializerRange}, InitKind{Value: 1}
	norm := one // RMSNorm weights: 1, or 0 where they apply as (1 + w) (Gemma)
	if c.Run.NormOffset {
		norm = InitKind{}
	}
	out := []ParamSpec{
		{LlamaEmbed, []int{c.VocabSize, d}, normal},
		{LlamaNorm, []int{d}, norm},
	}
	if !c.TiedHead {
		out = append(out, ParamSpec{ParamLMHead, []int{c.VocabSize, d}, normal})
	}
	for i := 0; i < c.NLayers; i++ {
		p := func(path string) string { return LlamaParam(i, path) }
		out = append(out,
			ParamSpec{p("input_layernorm.weight"), []int{d}, norm},
			ParamSpec{p("self_attn.o_proj.weight"), []int{d, qd}, normal},
			ParamSpec{p("post_attention_layernorm.weight"), []int{d}, norm},
			ParamSpec{p("mlp.down_proj.weight"), []int{d, f}, normal},
		)
		if c.FusedQKV {
			out = append(out, ParamSpec{p("self_attn.qkv_proj.weight"), []int{qd + 2*kvd, d}, normal})
		} else {
			out = append(out, ParamSpec{p("self_attn.q_proj.weight"), []int{qd, d}, normal},
				ParamSpec{p("self_attn.k_proj.weight"), []int{kvd, d}, normal},
				ParamSpec{p("self_attn.v_proj.weight"), []int{kvd, d}, normal})
		}
		if c.FusedGateUp {
			out = append(out, ParamSpec{p("mlp.gate_up_proj.weight"), []int{2 * f, d}, normal})
		} else {
			out = append(out, ParamSpec{p("mlp.gate_proj.weight"), []int{f, d}, normal},
				ParamSpec{p("mlp.up_proj.weight"), []int{f, d}, normal})
		}
		if c.SandwichNorm {
			out = append(out, ParamSpec{p("pre_feedforward_layernorm.weight"), []int{d}, norm},
				ParamSpec{p("post_feedforward_layernorm.weight"), []int{d}, norm})
		}
		if c.MLPBias {
			out = append(out, ParamSpec{p("mlp.gate_proj.bias"), []int{f}, InitKind{}},
				ParamSpec{p("mlp.up_proj.bias"), []int{f}, InitKind{}},
				ParamSpec{p("mlp.down_proj.bias"), []int{d}, InitKind{}})
		}
	}
	for i := 0; i < c.NLayers; i++ {
		p := func(path string) string { return LlamaParam(i, path) }
		if c.QKVBias {
			out = append(out, ParamSpec{p("self_attn.q_proj.bias"), []int{qd}, InitKind{}},
				ParamSpec{p("self_attn.k_proj.bias"), []int{kvd}, InitKind{}},
				ParamSpec{p("self_attn.v_proj.bias"), []int{kvd}, InitKind{}})
		}
		if c.OBias {
			out = append(out, ParamSpec{p("self_attn.o_proj.bias"), []int{d}, InitKind{}})
		}
		if c.QKNorm {
			out = append(out, ParamSpec{p("self_attn.q_norm.weight"), []int{c.HeadDim}, norm},
				ParamSpec{p("self_attn.k_norm.weight"), []int{c.HeadDim}, norm})
		}
	}
	sortSpecs(out)
	return out
}

// HookNames are the single-stream hooks of names.go: in Llama's terms attn.hook_in is
// input_layernorm's output, attn.hook_z (B, T, H, hd) what o_proj reads, mlp.hook_in
// post_attention_layernorm's output, mlp.hook_post silu(gate_proj(·)) ⊙ up_proj(·) what
// down_proj reads, ln_final.hook_out model.norm's output.
func (m Llama) HookNames() []string {
	return blockHookNames([]string{HookEmbed}, m.Config.NLayers)
}

// Spec of the model: a final RMSNorm, initializer_range, embed_tokens as the tied head (or
// lm_head), next-token targets, one residual stream, and the hook each [out, in] matrix reads.
func (m Llama) Spec() FamilySpec {
	c := m.Config
	head := ParamLMHead
	if c.TiedHead {
		head = LlamaEmbed
	}
	return FamilySpec{
		Dims: m.Dims(), NKVHeads: c.NKVHeads, HeadDim: c.HeadDim, MaxPositions: c.MaxPositions,
		Norm: NormRMS, NormEps: c.RMSNormEps, InitRange: c.InitializerRange,
		Embed: LlamaEmbed, Head: head, Tied: c.TiedHead, NormFinal: LlamaNorm,
		TargetShift: 1, MLP: SubMLP, Weights: weightsReading(m.ParamSpecs(), llamaReads, func(string) bool { return false }),
	}
}

// llamaReads names the hook a Llama weight matrix reads: q, k, v_proj attn.hook_in, o_proj
// attn.hook_z, gate and up_proj mlp.hook_in, down_proj mlp.hook_post, lm_head
// ln_final.hook_out; "" for the rest (the embedding reads one-hot ids).
func llamaReads(name string) string {
	if name == ParamLMHead {
		return HookLnFinal
	}
	n, err := ParseName(name)
	if err != nil || n.Root != RootLlama {
		return ""
	}
	attn := func(hook string) string { return SubHook(n.Block, SubAttn, hook) }
	mlp := func(hook string) string { return SubHook(n.Block, SubMLP, hook) }
	if n.Leaf != "weight" || !strings.HasSuffix(n.Sub, "_proj") {
		return "" // biases, norms
	}
	switch path := n.Sub + "." + n.Leaf; {
	case path == "self_attn.o_proj.weight":
		return attn(HookZ)
	case strings.HasPrefix(path, "self_attn."):
		return attn(HookIn)
	case path == "mlp.down_proj.weight":
		return mlp(HookPost)
	case strings.HasPrefix(path, "mlp."):
		return mlp(HookIn)
	}
	return ""
}

// Forward maps ids (B, T) to logits (B, T, V).
func (m Llama) Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node {
	c := m.Config
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	embed := param(ctx, ids.Graph(), LlamaEmbed)
	x := Reshape(Gather(embed, Reshape(ids, b*t, 1)), b, t, c.DModel) // (B, T, D)
	x = c.Run.embed(x)
	x = hooks.set(HookEmbed, x)
	for i := 0; i < c.NLayers; i++ {
		x = m.block(ctx, i, x, hooks)
	}
	return m.unembed(ctx, x, hooks)
}

// block is x + attn(rmsnorm(x)), then + mlp(rmsnorm(·)); with SandwichNorm
// x + rmsnorm(attn(rmsnorm(x))), then + rmsnorm(mlp(rmsnorm(·))).
func (m Llama) block(ctx *model.Scope, i int, x *Node, hooks Hooks) *Node {
	x = hooks.set(BlockHook(i, HookResidPre), x)
	u := m.rmsNorm(ctx, LlamaParam(i, "input_layernorm.weight"), x) // (B, T, D)
	u = hooks.set(SubHook(i, SubAttn, HookIn), u)
	y := m.attention(ctx, i, u, hooks)
	mlpNorm := "post_attention_layernorm.weight"
	if m.Config.SandwichNorm { // Gemma 2: the attention's output is normed before the add
		y = m.rmsNorm(ctx, LlamaParam(i, "post_attention_layernorm.weight"), y)
		mlpNorm = "pre_feedforward_layernorm.weight"
	}
	y = hooks.set(SubHook(i, SubAttn, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidMid), x)
	u = m.rmsNorm(ctx, LlamaParam(i, mlpNorm), x)
	u = hooks.set(SubHook(i, SubMLP, HookIn), u)
	y = m.mlp(ctx, i, u, hooks)
	if m.Config.SandwichNorm {
		y = m.rmsNorm(ctx, LlamaParam(i, "post_feedforward_layernorm.weight"), y)
	}
	y = hooks.set(SubHook(i, SubMLP, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidPost), x)
	return x
}

// attention: q, k, v projections; RoPE on q and k in the configured pairing; kv heads shared
// by n_rep = H/Hkv query heads in the configured mapping; causal softmax(q·kᵀ/√hd)·v; o_proj.
func (m Llama) attention(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	c := m.Config
	g := u.Graph()
	b, t := u.Shape().Dimensions[0], u.Shape().Dimensions[1]
	lin := func(proj string, x *Node, bias bool) *Node {
		var bn *Node
		if bias {
			bn = param(ctx, g, LlamaParam(i, "self_attn."+proj+".bias"))
		}
		return linearIO(x, param(ctx, g, LlamaParam(i, "self_attn."+proj+".weight")), bn, false)
	}
	qd, kvd := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim
	var q, k, v *Node
	if c.FusedQKV { // Phi-3: rows q | k | v of qkv_proj (or in the order QKVOrder says)
		qkv := lin("qkv_proj", u, c.QKVBias) // (B, T, qd + 2·kvd)
		order := cmp.Or(c.QKVOrder, "qkv")
		block := func(role byte) *Node {
			size := map[byte]int{'q': qd, 'k': kvd, 'v': kvd}
			start := 0
			for j := 0; order[j] != role; j++ {
				start += size[order[j]]
			}
			return SliceAxis(qkv, -1, AxisRange(start, start+size[role]))
		}
		q, k, v = block('q'), block('k'), block('v')
	} else {
		q, k, v = lin("q_proj", u, c.QKVBias), lin("k_proj", u, c.QKVBias), lin("v_proj", u, c.QKVBias)
	}
	q = Reshape(q, b, t, c.NHeads, c.HeadDim)   // (B, T, H, hd)
	k = Reshape(k, b, t, c.NKVHeads, c.HeadDim) // (B, T, Hkv, hd)
	v = Reshape(v, b, t, c.NKVHeads, c.HeadDim) // (B, T, Hkv, hd)
	q, k = c.Run.ropeRows(q, k, c.RopePairing, c.RotaryDim)
	if c.QKNorm { // Qwen3: RMSNorm over each head's hd features
		q = m.rmsNorm(ctx, LlamaParam(i, "self_attn.q_norm.weight"), q) // (B, T, H, hd)
		k = m.rmsNorm(ctx, LlamaParam(i, "self_attn.k_norm.weight"), k) // (B, T, Hkv, hd)
	}
	rope := c.rope()
	q, k = rope.ApplyPartial(q, c.RotaryDim), rope.ApplyPartial(k, c.RotaryDim)
	nRep := c.NHeads / c.NKVHeads
	q = TransposeAllAxes(q, 0, 2, 1, 3)                               // (B, H, T, hd)
	k = repeatKV(TransposeAllAxes(k, 0, 2, 1, 3), nRep, c.GQAMapping) // (B, H, T, hd)
	v = repeatKV(TransposeAllAxes(v, 0, 2, 1, 3), nRep, c.GQAMapping) // (B, H, T, hd)
	opts := attnOptions{causal: c.Causal, window: c.window(i), softCap: c.AttnSoftCap}
	if c.QueryPreAttnScalar > 0 {
		opts.scale = 1 / math.Sqrt(c.QueryPreAttnScalar)
	}
	z := attendOpts(q, k, v, opts, c.Run, hooks, SubHook(i, SubAttn, HookPattern)) // (B, H, T, hd)
	z = TransposeAllAxes(z, 0, 2, 1, 3)                                            // (B, T, H, hd)
	z = hooks.set(SubHook(i, SubAttn, HookZ), z)
	return lin("o_proj", Reshape(z, b, t, qd), c.OBias) // (B, T, D)
}

// mlp is SwiGLU: down_proj(silu(gate_proj(u)) ⊙ up_proj(u)) (GeGLU with the tanh GELU when
// hidden_act is gelu_pytorch_tanh).
func (m Llama) mlp(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	g := u.Graph()
	c := m.Config
	lin := func(proj string, x *Node) *Node {
		var bn *Node
		if c.MLPBias {
			bn = param(ctx, g, LlamaParam(i, "mlp."+proj+".bias"))
		}
		return linearIO(x, param(ctx, g, LlamaParam(i, "mlp."+proj+".weight")), bn, false)
	}
	act := silu
	if c.HiddenAct == "gelu_pytorch_tanh" || c.HiddenAct == "gelu" {
		act = func(x *Node) *Node { return gelu(x, c.HiddenAct) }
	}
	var gate, up *Node
	if c.FusedGateUp { // Phi-3: rows gate | up of gate_up_proj
		gu := lin("gate_up_proj", u) // (B, T, 2F)
		gate, up = SliceAxis(gu, -1, AxisRange(0, c.DFF)), SliceAxis(gu, -1, AxisRange(c.DFF, 2*c.DFF))
		if c.UpFirst {
			gate, up = up, gate
		}
	} else {
		gate, up = lin("gate_proj", u), lin("up_proj", u)
	}
	post := Mul(act(gate), up) // (B, T, F)
	post = hooks.set(SubHook(i, SubMLP, HookPost), post)
	return lin("down_proj", post)
}

// rmsNorm: x / √(mean(x²) + rms_norm_eps) · weight (· (1 + weight) under Run.NormOffset).
func (m Llama) rmsNorm(ctx *model.Scope, name string, x *Node) *Node {
	w := broadcastLast(m.Config.Run.normWeight(param(ctx, x.Graph(), name)), x.Rank())
	return Mul(m.Config.Run.normalize(x, m.Config.RMSNormEps, NormRMS), w) // (…, D)
}

// Unembed is model.norm and the head.
func (m Llama) Unembed(ctx *model.Scope, resid *Node) *Node { return m.unembed(ctx, resid, nil) }

func (m Llama) unembed(ctx *model.Scope, x *Node, hooks Hooks) *Node {
	x = m.rmsNorm(ctx, LlamaNorm, x)
	x = hooks.set(HookLnFinal, x)
	w := LlamaEmbed
	if !m.Config.TiedHead {
		w = ParamLMHead
	}
	return m.Config.Run.softCap(linearIO(x, param(ctx, x.Graph(), w), nil, false)) // (…, V)
}

// Conventions: RoPE pairing and base, GQA mapping (searched only when kv heads are shared),
// tying, the causal mask, the MLP's activation, and the run conventions.
func (m Llama) Conventions() []Convention {
	c := m.Config
	act := c.HiddenAct
	if act == "" {
		act = "silu"
	}
	out := []Convention{
		{ConvRopePairing, c.RopePairing, []string{config.RopeHalves, config.RopeInterleaved}, "the rotary pairing (rotate_half, or interleaved pairs 2i, 2i+1)", false, false},
		ropeThetaConvention(c.RopeTheta),
		{Name: ConvGQAMapping, Value: c.GQAMapping, Values: []string{config.GQAInterleave, config.GQATile}, Key: "which kv head each query head reads (repeat_kv, or tiled)", Inert: c.NKVHeads == c.NHeads},
		{ConvTiedHead, boolString(c.TiedHead), []string{"true", "false"}, "tie_word_embeddings", false, false},
		{ConvCausal, boolString(c.Causal), []string{"true", "false"}, "the causal attention mask (is_causal)", false, false},
		{ConvActivation, act, []string{"silu", "gelu_pytorch_tanh", "gelu"}, "hidden_act", false, false},
		normEpsConvention(c.RMSNormEps, "rms_norm_eps"),
	}
	if c.FusedQKV {
		out = append(out, Convention{Name: ConvQKVOrder, Value: cmp.Or(c.QKVOrder, "qkv"), Values: QKVOrders,
			Key: "the order of q, k, v in qkv_proj's output rows (Phi-3's: q, then k, then v)"})
	}
	if c.FusedGateUp {
		out = append(out, Convention{Name: ConvGateUpOrder, Value: map[bool]string{false: "gate_up", true: "up_gate"}[c.UpFirst],
			Values: []string{"gate_up", "up_gate"}, Key: "the order of gate and up in gate_up_proj's output rows (Phi-3's: gate, then up)"})
	}
	if c.AttnSoftCap > 0 {
		out = append(out, Convention{Name: ConvAttnSoftCap, Value: softCapName(c.AttnSoftCap), Values: uniq(softCapName(c.AttnSoftCap), "none"),
			Key: "attn_logit_softcapping (c·tanh(s/c) on the attention scores)", Free: true})
	}
	if c.QueryPreAttnScalar > 0 {
		out = append(out, Convention{Name: ConvQueryPreAttnScalar, Value: formatFloat(c.QueryPreAttnScalar),
			Values: uniq(formatFloat(c.QueryPreAttnScalar), strconv.Itoa(c.HeadDim)), Key: "query_pre_attn_scalar (scores scaled by its −½ power)", Free: true})
	}
	if t := c.RopeScaling.Type; t != "" && t != "default" {
		out = append(out, Convention{Name: ConvRopeType, Value: t, Values: []string{t, "default"},
			Key: "rope_scaling's rope_type (rope_parameters in transformers 5): default runs the plain RoPE"})
	}
	pct := "1"
	if c.RotaryDim > 0 && c.RotaryDim != c.HeadDim {
		pct = formatFloat(float64(c.RotaryDim) / float64(c.HeadDim))
	}
	shares := []string{pct}
	for _, v := range []string{"0.25", "0.5", "1"} {
		if f, _ := strconv.ParseFloat(v, 64); rotaryDims(f, c.HeadDim) > 0 {
			shares = uniq(append(shares, v)...)
		}
	}
	out = append(out, Convention{Name: ConvRotaryPct, Value: pct, Values: shares,
		Key: "partial_rotary_factor: the share of each head's dimensions RoPE rotates", Free: true})
	if pct != "1" {
		out = append(out, c.Run.rotaryDimsConvention())
	}
	windows := []string{fmt.Sprint(c.SlidingWindow), "0"}
	for w := 4; w <= WindowLadderMax && 2*w <= c.MaxPositions; w *= 2 {
		windows = append(windows, strconv.Itoa(w))
	}
	out = append(out, Convention{Name: ConvSlidingWindow, Value: fmt.Sprint(c.SlidingWindow), Values: uniq(windows...),
		Key: "sliding_window (keys a query sees, itself included; 0: full attention)", Free: true})
	return append(out, c.Run.conventions(true, NormRMS, RopeSignPositive)...)
}

// Conventions of the Llama decoder's family fields: sliding_window, the keys a query sees,
// itself included ("0": no window); attn_softcap, Gemma 2's attention soft-cap ("none" or c);
// query_pre_attn_scalar, the number whose −½ power scales the scores (head_dim's by default).
const (
	ConvGateUpOrder   = "gate_up_order" // Phi-3's fused gate_up_proj: "gate_up" or "up_gate"
	ConvSlidingWindow = "sliding_window"
	// WindowLadderMax bounds the windows the diagnosis tries besides the config's (4, 8, 16, …,
	// at most half of max_position_embeddings): a model trained with a short window, or on short
	// windows of text, that its config does not declare.
	WindowLadderMax        = 256
	ConvAttnSoftCap        = "attn_softcap"
	ConvRopeType           = "rope_type" // the config's rope_scaling type, or "default" (none)
	ConvQueryPreAttnScalar = "query_pre_attn_scalar"
)

// WithConvention flips one convention.
func (m Llama) WithConvention(name, value string) (Family, error) {
	var err error
	switch name {
	case ConvRopePairing:
		err = checkValue(name, value, config.RopeHalves, config.RopeInterleaved)
		m.Config.RopePairing = value
	case ConvGQAMapping:
		err = checkValue(name, value, config.GQAInterleave, config.GQATile)
		m.Config.GQAMapping = value
	case ConvTiedHead:
		m.Config.TiedHead, err = parseBool(name, value)
	case ConvCausal:
		m.Config.Causal, err = parseBool(name, value)
	case ConvRopeTheta:
		m.Config.RopeTheta, err = positiveFloat(name, value)
	case ConvNormEps:
		m.Config.RMSNormEps, err = positiveFloat(name, value)
	case ConvActivation:
		err = checkValue(name, value, "silu", "gelu_pytorch_tanh", "gelu")
		m.Config.HiddenAct = value
	case ConvGateUpOrder:
		if !m.Config.FusedGateUp {
			return nil, fmt.Errorf("%s: no convention %q (no fused gate_up_proj)", m.Arch(), name)
		}
		err = checkValue(name, value, "gate_up", "up_gate")
		m.Config.UpFirst = value == "up_gate"
	case ConvQKVOrder:
		if !m.Config.FusedQKV {
			return nil, fmt.Errorf("%s: no convention %q (no fused qkv_proj)", m.Arch(), name)
		}
		err = checkValue(name, value, QKVOrders...)
		m.Config.QKVOrder = value
	case ConvAttnSoftCap:
		if m.Config.AttnSoftCap == 0 {
			return nil, fmt.Errorf("%s: no convention %q (no attention soft-cap)", m.Arch(), name)
		}
		m.Config.AttnSoftCap = 0
		if value != "none" {
			m.Config.AttnSoftCap, err = positiveFloat(name, value)
		}
	case ConvRopeType:
		t := m.Config.RopeScaling.Type
		switch {
		case t == "" || t == "default":
			return nil, fmt.Errorf("%s: no convention %q (rope_scaling declares none)", m.Arch(), name)
		case value == "default":
			m.Config.RopeScaling = RopeScaling{}
		case value != t:
			err = fmt.Errorf("convention %s: value %q is not %q or default (the config's scaling can only be dropped)", name, value, t)
		}
	case ConvQueryPreAttnScalar:
		if m.Config.QueryPreAttnScalar == 0 {
			return nil, fmt.Errorf("%s: no convention %q", m.Arch(), name)
		}
		m.Config.QueryPreAttnScalar, err = positiveFloat(name, value)
	case ConvRotaryPct:
		var f float64
		if f, err = positiveFloat(name, value); err == nil {
			if d := rotaryDims(f, m.Config.HeadDim); d == 0 {
				err = fmt.Errorf("convention %s: %q of head_dim %d is not an even number of dimensions within it", name, value, m.Config.HeadDim)
			} else if d == m.Config.HeadDim {
				m.Config.RotaryDim = 0
			} else {
				m.Config.RotaryDim = d
			}
		}
	case ConvSlidingWindow:
		w, perr := strconv.Atoi(value)
		if perr != nil || w < 0 || w == 1 {
			err = fmt.Errorf("convention %s: value %q is not 0 or an integer ≥ 2", name, value)
		}
		m.Config.SlidingWindow = w
		if w == 0 {
			m.Config.LayerTypes = nil
		}
	default:
		var ok bool
		if ok, err = m.Config.Run.set(name, value); !ok {
			err = fmt.Errorf("%s: no convention %q", m.Arch(), name)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// rotaryDims is int(share · headDim) when that is an even number of dimensions in (0, headDim],
// else 0.
func rotaryDims(share float64, headDim int) int {
	d := int(share * float64(headDim))
	if share > 1 || d <= 0 || d%2 != 0 {
		return 0
	}
	return d
}
