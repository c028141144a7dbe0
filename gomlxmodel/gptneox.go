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

// GPTNeoX as Hugging Face transformers' GPTNeoXForCausalLM computes it (EleutherAI's Pythia):
// LayerNorm (with bias) pre-norm blocks whose attention and MLP read the same residual stream
// and add in parallel (use_parallel_residual; false: one after the other as GPT-2), one fused
// query_key_value projection laid out per head (its 3·D outputs are H groups of q | k | v, each
// hd wide), rotary embeddings on the first rotary_pct·hd dimensions of each head (rotate_half
// pairing), a GELU MLP with biases, a final LayerNorm and an untied head embed_out.
//
// Tensor names are Hugging Face's (weights nn.Linear [out, in]):
//
//	gpt_neox.embed_in.weight                                  (V, D)
//	gpt_neox.layers.{i}.input_layernorm.{weight,bias}         (D)
//	gpt_neox.layers.{i}.post_attention_layernorm.{weight,bias} (D)
//	gpt_neox.layers.{i}.attention.query_key_value.weight      (3D, D)  rows: per head q | k | v
//	gpt_neox.layers.{i}.attention.query_key_value.bias        (3D)     attention_bias
//	gpt_neox.layers.{i}.attention.dense.{weight,bias}         (D, D), (D)  bias: attention_bias
//	gpt_neox.layers.{i}.mlp.dense_h_to_4h.{weight,bias}       (F, D), (F)
//	gpt_neox.layers.{i}.mlp.dense_4h_to_h.{weight,bias}       (D, F), (D)
//	gpt_neox.final_layer_norm.{weight,bias}                   (D)
//	embed_out.weight                                          (V, D)  only when the head is untied

// GPTNeoXConfig is a GPT-NeoX configuration (config.json's hidden_size, ...) and its conventions.
type GPTNeoXConfig struct {
	VocabSize        int         // vocab_size
	DModel           int         // hidden_size
	NLayers          int         // num_hidden_layers
	NHeads           int         // num_attention_heads
	DFF              int         // intermediate_size
	LayerNormEps     float64     // layer_norm_eps
	RopeTheta        float64     // rope_theta (rotary_emb_base in transformers 4)
	RotaryPct        float64     // partial_rotary_factor (rotary_pct): the share of each head RoPE rotates
	MaxPositions     int         // max_position_embeddings (informative: RoPE has no table)
	InitializerRange float64     // initializer_range
	AttentionBias    bool        // attention_bias: query_key_value and dense have biases
	HiddenAct        string      // hidden_act: "gelu" (erf), "gelu_new" or "gelu_pytorch_tanh" (tanh)
	RopeScaling      RopeScaling // rope_parameters' rope_type beyond the default (zero: none)

	// Conventions.
	ParallelResidual bool   // use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)); false: sequential
	QKVSplit         string // "per_head" (GPT-NeoX's (H, 3, hd) view) or "blocks" (q | k | v, each all heads)
	QKVOrder         string // the order of the three parts in either split, one of QKVOrders ("" is "qkv", GPT-NeoX's)
	RopePairing      string // config.RopeHalves (rotate_half) or config.RopeInterleaved
	TiedHead         bool   // tie_word_embeddings: embed_out is embed_in
	Causal           bool
	Run              RunConventions
}

// GPTNeoX is the GPT-NeoX family.
type GPTNeoX struct{ Config GPTNeoXConfig }

var _ Family = GPTNeoX{}

// Parameters of GPT-NeoX outside the blocks.
const (
	NeoXEmbed     = "gpt_neox.embed_in.weight"
	NeoXNormFinal = "gpt_neox.final_layer_norm" // a LayerNorm: .weight and .bias
	NeoXHead      = "embed_out.weight"
)

// NeoXParam is GPT-NeoX parameter path of layer i: NeoXParam(3, "attention.dense.weight") =
// "gpt_neox.layers.3.attention.dense.weight".
func NeoXParam(i int, path string) string { return RootNeoX + "." + strconv.Itoa(i) + "." + path }

// Conventions of GPT-NeoX: the residual arrangement and the share of each head RoPE rotates.
const (
	ConvParallelResidual = "parallel_residual" // "true" | "false"
	ConvRotaryPct        = "rotary_pct"        // the share of head_dim RoPE rotates, (0, 1]
)

// HeadDim is hidden_size / num_attention_heads.
func (c GPTNeoXConfig) HeadDim() int { return c.DModel / c.NHeads }

// RotaryDim is int(head_dim · rotary_pct), as transformers computes rotary_ndims.
func (c GPTNeoXConfig) RotaryDim() int { return int(float64(c.HeadDim()) * c.RotaryPct) }

// Validate checks the sizes and conventions.
func (c GPTNeoXConfig) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.DModel <= 0 || c.NLayers <= 0 || c.NHeads <= 0 || c.DFF <= 0:
		return fmt.Errorf("gpt_neox: sizes must be positive: %+v", c)
	case c.DModel%c.NHeads != 0:
		return fmt.Errorf("gpt_neox: hidden_size %d is not a multiple of num_attention_heads %d", c.DModel, c.NHeads)
	case !(c.RotaryPct > 0 && c.RotaryPct <= 1):
		return fmt.Errorf("gpt_neox: rotary_pct %v is not in (0, 1]", c.RotaryPct)
	case c.RotaryDim()%2 != 0 || c.RotaryDim() == 0:
		return fmt.Errorf("gpt_neox: rotary dimensions %d (rotary_pct %v of head_dim %d) must be even and positive", c.RotaryDim(), c.RotaryPct, c.HeadDim())
	case c.RopeTheta <= 0:
		return fmt.Errorf("gpt_neox: rope_theta %v must be positive", c.RopeTheta)
	case c.RopePairing != config.RopeHalves && c.RopePairing != config.RopeInterleaved:
		return fmt.Errorf("gpt_neox: RoPE pairing %q is not %q or %q", c.RopePairing, config.RopeHalves, config.RopeInterleaved)
	case c.QKVSplit != "per_head" && c.QKVSplit != "blocks":
		return fmt.Errorf("gpt_neox: qkv split %q is not per_head or blocks", c.QKVSplit)
	case c.QKVOrder != "" && !slices.Contains(QKVOrders, c.QKVOrder):
		return fmt.Errorf("gpt_neox: qkv order %q is not one of %v", c.QKVOrder, QKVOrders)
	case c.HiddenAct != "gelu" && c.HiddenAct != "gelu_new" && c.HiddenAct != "gelu_pytorch_tanh":
		return fmt.Errorf("gpt_neox: hidden_act %q is not gelu, gelu_new or gelu_pytorch_tanh", c.HiddenAct)
	}
	if err := c.RopeScaling.Validate(); err != nil {
		return fmt.Errorf("gpt_neox: %w", err)
	}
	return nil
}

// Arch is "gpt_neox".
func (m GPTNeoX) Arch() string { return "gpt_neox" }

// Dims of the model. MaxSeq is 0: RoPE runs at any length.
func (m GPTNeoX) Dims() Dims {
	c := m.Config
	return Dims{VocabSize: c.VocabSize, DModel: c.DModel, NLayers: c.NLayers, NHeads: c.NHeads}
}

// ParamSpecs lists the tensors with Hugging Face's initialisers (GPTNeoXPreTrainedModel): the
// embedding and every linear weight N(0, initializer_range), biases 0, LayerNorm weights 1.
func (m GPTNeoX) ParamSpecs() []ParamSpec {
	c := m.Config
	d, f := c.DModel, c.DFF
	normal, one, zero := InitKind{Normal: true, Std: c.InitializerRange}, InitKind{Value: 1}, InitKind{}
	out := []ParamSpec{
		{NeoXEmbed, []int{c.VocabSize, d}, normal},
		{NeoXNormFinal + ".weight", []int{d}, one},
		{NeoXNormFinal + ".bias", []int{d}, zero},
	}
	if !c.TiedHead {
		out = append(out, ParamSpec{NeoXHead, []int{c.VocabSize, d}, normal})
	}
	for i := 0; i < c.NLayers; i++ {
		p := func(path string) string { return NeoXParam(i, path) }
		out = append(out,
			ParamSpec{p("input_layernorm.weight"), []int{d}, one},
			ParamSpec{p("input_layernorm.bias"), []int{d}, zero},
			ParamSpec{p("post_attention_layernorm.weight"), []int{d}, one},
			ParamSpec{p("post_attention_layernorm.bias"), []int{d}, zero},
			ParamSpec{p("attention.query_key_value.weight"), []int{3 * d, d}, normal},
			ParamSpec{p("attention.dense.weight"), []int{d, d}, normal},
			ParamSpec{p("mlp.dense_h_to_4h.weight"), []int{f, d}, normal},
			ParamSpec{p("mlp.dense_h_to_4h.bias"), []int{f}, zero},
			ParamSpec{p("mlp.dense_4h_to_h.weight"), []int{d, f}, normal},
			ParamSpec{p("mlp.dense_4h_to_h.bias"), []int{d}, zero},
		)
		if c.AttentionBias {
			out = append(out, ParamSpec{p("attention.query_key_value.bias"), []int{3 * d}, zero},
				ParamSpec{p("attention.dense.bias"), []int{d}, zero})
		}
	}
	sortSpecs(out)
	return out
}

// HookNames are the single-stream hooks of names.go. With the parallel residual, resid_mid is
// resid_pre plus the attention's output (what a sequential block would add the MLP to) and the
// MLP reads mlp.hook_in = post_attention_layernorm(resid_pre).
func (m GPTNeoX) HookNames() []string { return blockHookNames([]string{HookEmbed}, m.Config.NLayers) }

// Spec of the model: a final LayerNorm with bias, initializer_range, embed_in and embed_out,
// next-token targets, one residual stream, and the hook each [out, in] matrix reads.
func (m GPTNeoX) Spec() FamilySpec {
	c := m.Config
	head := NeoXHead
	if c.TiedHead {
		head = NeoXEmbed
	}
	return FamilySpec{
		Dims: m.Dims(), NKVHeads: c.NHeads, HeadDim: c.HeadDim(), MaxPositions: c.MaxPositions,
		Norm: NormLayer, NormEps: c.LayerNormEps, InitRange: c.InitializerRange,
		Embed: NeoXEmbed, Head: head, Tied: c.TiedHead, NormFinal: NeoXNormFinal + ".weight", NormFinalBias: NeoXNormFinal + ".bias",
		TargetShift: 1, MLP: SubMLP, Weights: weightsReading(m.ParamSpecs(), neoxReads, func(string) bool { return false }),
	}
}

// neoxReads names the hook a GPT-NeoX weight matrix reads: query_key_value attn.hook_in, dense
// attn.hook_z, dense_h_to_4h mlp.hook_in, dense_4h_to_h mlp.hook_post, embed_out
// ln_final.hook_out; "" for the rest.
func neoxReads(name string) string {
	if name == NeoXHead {
		return HookLnFinal
	}
	n, err := ParseName(name)
	if err != nil || n.Root != RootNeoX || n.Leaf != "weight" {
		return ""
	}
	switch n.Sub {
	case "attention.query_key_value":
		return SubHook(n.Block, SubAttn, HookIn)
	case "attention.dense":
		return SubHook(n.Block, SubAttn, HookZ)
	case "mlp.dense_h_to_4h":
		return SubHook(n.Block, SubMLP, HookIn)
	case "mlp.dense_4h_to_h":
		return SubHook(n.Block, SubMLP, HookPost)
	}
	return ""
}

// Forward maps ids (B, T) to logits (B, T, V).
func (m GPTNeoX) Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node {
	c := m.Config
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	embed := param(ctx, ids.Graph(), NeoXEmbed)
	x := Reshape(Gather(embed, Reshape(ids, b*t, 1)), b, t, c.DModel) // (B, T, D)
	x = c.Run.embed(x)
	x = hooks.set(HookEmbed, x)
	for i := 0; i < c.NLayers; i++ {
		x = m.block(ctx, i, x, hooks)
	}
	return m.unembed(ctx, x, hooks)
}

// block is x + attn(ln1(x)) + mlp(ln2(x)) with the parallel residual, else
// y = x + attn(ln1(x)); y + mlp(ln2(y)).
func (m GPTNeoX) block(ctx *model.Scope, i int, x *Node, hooks Hooks) *Node {
	x = hooks.set(BlockHook(i, HookResidPre), x)
	u := m.layerNorm(ctx, NeoXParam(i, "input_layernorm"), x) // (B, T, D)
	u = hooks.set(SubHook(i, SubAttn, HookIn), u)
	a := m.attention(ctx, i, u, hooks)
	a = hooks.set(SubHook(i, SubAttn, HookOut), a)
	mid := Add(x, a)
	mid = hooks.set(BlockHook(i, HookResidMid), mid)
	mlpIn := mid
	if m.Config.ParallelResidual {
		mlpIn = x
	}
	u = m.layerNorm(ctx, NeoXParam(i, "post_attention_layernorm"), mlpIn)
	u = hooks.set(SubHook(i, SubMLP, HookIn), u)
	y := m.mlp(ctx, i, u, hooks)
	y = hooks.set(SubHook(i, SubMLP, HookOut), y)
	x = Add(mid, y)
	x = hooks.set(BlockHook(i, HookResidPost), x)
	return x
}

// attention: query_key_value split per head (or in blocks), RoPE on the first rotary
// dimensions of q and k, causal softmax(q·kᵀ/√hd)·v, dense.
func (m GPTNeoX) attention(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	c := m.Config
	g := u.Graph()
	b, t, hd := u.Shape().Dimensions[0], u.Shape().Dimensions[1], c.HeadDim()
	lin := func(path string, x *Node, bias bool) *Node {
		var bn *Node
		if bias {
			bn = param(ctx, g, NeoXParam(i, path+".bias"))
		}
		return linearIO(x, param(ctx, g, NeoXParam(i, path+".weight")), bn, false)
	}
	qkv := lin("attention.query_key_value", u, c.AttentionBias) // (B, T, 3D)
	order := cmp.Or(c.QKVOrder, "qkv")
	var part func(role string) *Node // (B, T, H, hd)
	if c.QKVSplit == "blocks" {
		qkv = Reshape(qkv, b, t, 3, c.NHeads, hd) // (B, T, 3, H, hd)
		part = func(role string) *Node { return pick(qkv, 2, strings.Index(order, role)) }
	} else {
		qkv = Reshape(qkv, b, t, c.NHeads, 3*hd) // (B, T, H, 3·hd): per head q | k | v
		part = func(role string) *Node {
			j := strings.Index(order, role)
			return SliceAxis(qkv, 3, AxisRange(j*hd, (j+1)*hd))
		}
	}
	q, k, v := part("q"), part("k"), part("v")
	q, k = c.Run.ropeRows(q, k, c.RopePairing, c.RotaryDim())
	rope := c.Run.rope(c.RopeTheta, c.RopePairing)
	rope.Scaling = c.RopeScaling
	q, k = rope.ApplyPartial(q, c.RotaryDim()), rope.ApplyPartial(k, c.RotaryDim()) // (B, T, H, hd)
	q, k, v = TransposeAllAxes(q, 0, 2, 1, 3), TransposeAllAxes(k, 0, 2, 1, 3), TransposeAllAxes(v, 0, 2, 1, 3)
	z := attend(q, k, v, c.Causal, c.Run, hooks, SubHook(i, SubAttn, HookPattern)) // (B, H, T, hd)
	z = TransposeAllAxes(z, 0, 2, 1, 3)                                            // (B, T, H, hd)
	z = hooks.set(SubHook(i, SubAttn, HookZ), z)
	return lin("attention.dense", Reshape(z, b, t, c.DModel), c.AttentionBias) // (B, T, D)
}

// mlp is dense_4h_to_h(act(dense_h_to_4h(u))).
func (m GPTNeoX) mlp(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	g := u.Graph()
	lin := func(path string, x *Node) *Node {
		return linearIO(x, param(ctx, g, NeoXParam(i, path+".weight")), param(ctx, g, NeoXParam(i, path+".bias")), false)
	}
	kind := "gelu"
	if m.Config.HiddenAct != "gelu" {
		kind = "gelu_new" // the tanh approximation, gelu_new and gelu_pytorch_tanh alike
	}
	post := gelu(lin("mlp.dense_h_to_4h", u), kind) // (B, T, F)
	post = hooks.set(SubHook(i, SubMLP, HookPost), post)
	return lin("mlp.dense_4h_to_h", post)
}

// layerNorm is LayerNorm with bias: (x − mean)/√(var + eps) · w + b.
func (m GPTNeoX) layerNorm(ctx *model.Scope, p string, x *Node) *Node {
	g := x.Graph()
	xn := m.Config.Run.normalize(x, m.Config.LayerNormEps, NormLayer) // (…, D)
	y := Mul(xn, broadcastLast(m.Config.Run.normWeight(param(ctx, g, p+".weight")), x.Rank()))
	return Add(y, broadcastLast(param(ctx, g, p+".bias"), x.Rank()))
}

// Unembed is final_layer_norm and embed_out.
func (m GPTNeoX) Unembed(ctx *model.Scope, resid *Node) *Node { return m.unembed(ctx, resid, nil) }

func (m GPTNeoX) unembed(ctx *model.Scope, x *Node, hooks Hooks) *Node {
	x = m.layerNorm(ctx, NeoXNormFinal, x)
	x = hooks.set(HookLnFinal, x)
	w := NeoXHead
	if m.Config.TiedHead {
		w = NeoXEmbed
	}
	return m.Config.Run.softCap(linearIO(x, param(ctx, x.Graph(), w), nil, false)) // (…, V)
}

// Conventions: the parallel residual, the rotary share, base and pairing, the fused projection's
// split, tying, the causal mask, the activation, and the run conventions.
func (m GPTNeoX) Conventions() []Convention {
	c := m.Config
	pct := formatFloat(c.RotaryPct)
	out := []Convention{
		{ConvParallelResidual, boolString(c.ParallelResidual), []string{"true", "false"}, "use_parallel_residual", false, false},
		{Name: ConvRotaryPct, Value: pct, Values: uniq(pct, "0.25", "0.5", "1"), Key: "rotary_pct (partial_rotary_factor): the share of each head RoPE rotates", Free: true},
		{ConvRopePairing, c.RopePairing, []string{config.RopeHalves, config.RopeInterleaved}, "the rotary pairing (rotate_half, or interleaved pairs 2i, 2i+1)", false, false},
		ropeThetaConvention(c.RopeTheta),
		{ConvQKVSplit, c.QKVSplit, []string{"per_head", "blocks"}, "the layout of query_key_value's output: per head q|k|v (GPT-NeoX's), or q|k|v blocks", false, false},
		{ConvQKVOrder, cmp.Or(c.QKVOrder, "qkv"), QKVOrders, "the order of q, k, v in query_key_value's output (within each head, or of the blocks)", false, false},
		{ConvTiedHead, boolString(c.TiedHead), []string{"true", "false"}, "tie_word_embeddings", false, false},
		{ConvCausal, boolString(c.Causal), []string{"true", "false"}, "the causal attention mask (is_causal)", false, false},
		{ConvActivation, c.HiddenAct, uniq(c.HiddenAct, "gelu", "gelu_new"), "hidden_act", false, false},
		{Name: ConvNumHeads, Value: strconv.Itoa(c.NHeads), Values: headCounts(c.NHeads, c.DModel, int(math.Ceil(2/c.RotaryPct))), Key: "num_attention_heads", Free: true},
		normEpsConvention(c.LayerNormEps, "layer_norm_eps"),
	}
	if c.RotaryDim() < c.HeadDim() {
		out = append(out, c.Run.rotaryDimsConvention())
	}
	return append(out, c.Run.conventions(true, NormLayer, RopeSignPositive)...)
}

// WithConvention flips one convention.
func (m GPTNeoX) WithConvention(name, value string) (Family, error) {
	var err error
	c := &m.Config
	switch name {
	case ConvParallelResidual:
		c.ParallelResidual, err = parseBool(name, value)
	case ConvRotaryPct:
		c.RotaryPct, err = positiveFloat(name, value)
		if err == nil && (c.RotaryPct > 1 || c.RotaryDim()%2 != 0 || c.RotaryDim() == 0) {
			err = fmt.Errorf("convention %s: %q gives %d rotary dimensions of %d (must be even, positive, at most head_dim)", name, value, c.RotaryDim(), c.HeadDim())
		}
	case ConvRopePairing:
		err = checkValue(name, value, config.RopeHalves, config.RopeInterleaved)
		c.RopePairing = value
	case ConvRopeTheta:
		c.RopeTheta, err = positiveFloat(name, value)
	case ConvNormEps:
		c.LayerNormEps, err = positiveFloat(name, value)
	case ConvQKVSplit:
		err = checkValue(name, value, "per_head", "blocks")
		c.QKVSplit = value
	case ConvQKVOrder:
		err = checkValue(name, value, QKVOrders...)
		c.QKVOrder = value
	case ConvTiedHead:
		c.TiedHead, err = parseBool(name, value)
	case ConvCausal:
		c.Causal, err = parseBool(name, value)
	case ConvActivation:
		err = checkValue(name, value, "gelu", "gelu_new", "gelu_pytorch_tanh")
		c.HiddenAct = value
	case ConvNumHeads:
		if c.NHeads, err = parseHeads(name, value, c.DModel); err == nil && (c.RotaryDim()%2 != 0 || c.RotaryDim() == 0) {
			err = fmt.Errorf("convention %s: %q heads leave %d rotary dimensions (must be even, positive)", name, value, c.RotaryDim())
		}
	default:
		var ok bool
		if ok, err = c.Run.set(name, value); !ok {
			err = fmt.Errorf("gpt_neox: no convention %q", name)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
