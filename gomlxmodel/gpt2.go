package gomlxmodel

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// GPT-2 as Hugging Face transformers' GPT2LMHeadModel computes it (and nanoGPT, whose tensor
// names are the same): learned position embeddings, pre-LayerNorm blocks with biases, fused
// c_attn projecting to q, k, v, a GELU MLP of width n_inner (4·D by default), a final
// LayerNorm and a head tied to the token embedding.
//
// Tensor names are Hugging Face's, with the "transformer." prefix:
//
//	transformer.wte.weight               (V, D)      token embedding
//	transformer.wpe.weight               (P, D)      position embedding
//	transformer.h.{i}.ln_1.{weight,bias} (D)
//	transformer.h.{i}.attn.c_attn.weight (D, 3D)     [in, out] (Conv1D) or (3D, D) [out, in] (nn.Linear)
//	transformer.h.{i}.attn.c_attn.bias   (3D)        q | k | v
//	transformer.h.{i}.attn.c_proj.weight (D, D)
//	transformer.h.{i}.attn.c_proj.bias   (D)
//	transformer.h.{i}.ln_2.{weight,bias} (D)
//	transformer.h.{i}.mlp.c_fc.weight    (D, F)      or (F, D)
//	transformer.h.{i}.mlp.c_fc.bias      (F)
//	transformer.h.{i}.mlp.c_proj.weight  (F, D)      or (D, F)
//	transformer.h.{i}.mlp.c_proj.bias    (D)
//	transformer.ln_f.{weight,bias}       (D)
//	lm_head.weight                       (V, D)      only when the head is untied

// GPT2Config is a GPT-2 configuration (config.json's n_embd, n_layer, ...) and its conventions.
type GPT2Config struct {
	VocabSize        int     // vocab_size
	NPositions       int     // n_positions: rows of wpe, the longest sequence
	DModel           int     // n_embd
	NLayers          int     // n_layer
	NHeads           int     // n_head
	DInner           int     // n_inner, 4·n_embd when null
	LayerNormEps     float64 // layer_norm_epsilon
	Activation       string  // activation_function: "gelu_new" or "gelu_pytorch_tanh" (tanh approximation), "gelu" (erf)
	InitializerRange float64 // initializer_range (0.02)
	// NoBias drops every Linear and LayerNorm bias (nanoGPT's bias=False; Hugging Face's
	// GPT-2 always has them).
	NoBias bool

	// Conventions.
	WeightLayout string // GPT2Conv1D: weights stored [in, out] (HF Conv1D); GPT2Linear: [out, in] (nanoGPT nn.Linear)
	TiedHead     bool   // tie_word_embeddings: logits = x · wteᵀ
	Causal       bool   // the causal mask (false only to test the "future leakage" fault)
	// QKVOrder is the order of c_attn's three output blocks ("" is "qkv", GPT-2's); QKVSplit
	// how each block is laid out: "" or "blocks" (q | k | v, each over all heads: GPT-2's),
	// "per_head" (per head q | k | v: GPT-NeoX's fused layout).
	QKVOrder string
	QKVSplit string
	// ScaleAttnByInverseLayerIdx (scale_attn_by_inverse_layer_idx) divides layer i's scores by
	// i + 1 as well as by √hd.
	ScaleAttnByInverseLayerIdx bool
	// Run are the conventions of the inference path shared by every family.
	Run RunConventions
}

// GPT-2 weight layouts.
const (
	GPT2Conv1D = "conv1d"
	GPT2Linear = "linear"
)

// GPT2 is the GPT-2 family.
type GPT2 struct{ Config GPT2Config }

var _ Family = GPT2{}

// Validate checks the sizes and conventions.
func (c GPT2Config) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.NPositions <= 0 || c.DModel <= 0 || c.NLayers <= 0 || c.NHeads <= 0 || c.DInner <= 0:
		return fmt.Errorf("gpt2: sizes must be positive: %+v", c)
	case c.DModel%c.NHeads != 0:
		return fmt.Errorf("gpt2: n_embd %d is not a multiple of n_head %d", c.DModel, c.NHeads)
	case c.Activation != "gelu_new" && c.Activation != "gelu_pytorch_tanh" && c.Activation != "gelu":
		return fmt.Errorf("gpt2: unsupported activation_function %q (want gelu_new, gelu_pytorch_tanh or gelu)", c.Activation)
	case c.WeightLayout != GPT2Conv1D && c.WeightLayout != GPT2Linear:
		return fmt.Errorf("gpt2: weight layout %q is not %q or %q", c.WeightLayout, GPT2Conv1D, GPT2Linear)
	case c.QKVOrder != "" && !slices.Contains(QKVOrders, c.QKVOrder):
		return fmt.Errorf("gpt2: qkv order %q is not one of %v", c.QKVOrder, QKVOrders)
	case c.QKVSplit != "" && c.QKVSplit != "blocks" && c.QKVSplit != "per_head":
		return fmt.Errorf("gpt2: qkv split %q is not blocks or per_head", c.QKVSplit)
	}
	return nil
}

// Arch is "gpt2".
func (m GPT2) Arch() string { return "gpt2" }

// Dims of the model.
func (m GPT2) Dims() Dims {
	c := m.Config
	return Dims{VocabSize: c.VocabSize, DModel: c.DModel, NLayers: c.NLayers, NHeads: c.NHeads, MaxSeq: c.NPositions}
}

// ParamSpecs lists the tensors with Hugging Face's initialisers (GPT2PreTrainedModel):
// embeddings and weights N(0, initializer_range), the two c_proj weights of each block
// N(0, initializer_range/√(2·n_layer)), biases 0, LayerNorm weight 1 and bias 0.
func (m GPT2) ParamSpecs() []ParamSpec {
	c := m.Config
	d, f := c.DModel, c.DInner
	normal := InitKind{Normal: true, Std: c.InitializerRange}
	proj := InitKind{Normal: true, Std: c.InitializerRange / math.Sqrt(2*float64(c.NLayers))}
	zero, one := InitKind{Value: 0}, InitKind{Value: 1}
	w := func(in, out int) []int { // a weight in the configured layout
		if c.WeightLayout == GPT2Linear {
			return []int{out, in}
		}
		return []int{in, out}
	}
	out := []ParamSpec{
		{GPT2Wte, []int{c.VocabSize, d}, normal},
		{GPT2Wpe, []int{c.NPositions, d}, normal},
		{GPT2LnF + ".weight", []int{d}, one},
		{GPT2LnF + ".bias", []int{d}, zero},
	}
	if !c.TiedHead {
		out = append(out, ParamSpec{ParamLMHead, []int{c.VocabSize, d}, normal})
	}
	for i := 0; i < c.NLayers; i++ {
		p := func(path string) string { return GPT2Param(i, path) }
		out = append(out,
			ParamSpec{p("ln_1.weight"), []int{d}, one},
			ParamSpec{p("ln_1.bias"), []int{d}, zero},
			ParamSpec{p("attn.c_attn.weight"), w(d, 3*d), normal},
			ParamSpec{p("attn.c_attn.bias"), []int{3 * d}, zero},
			ParamSpec{p("attn.c_proj.weight"), w(d, d), proj},
			ParamSpec{p("attn.c_proj.bias"), []int{d}, zero},
			ParamSpec{p("ln_2.weight"), []int{d}, one},
			ParamSpec{p("ln_2.bias"), []int{d}, zero},
			ParamSpec{p("mlp.c_fc.weight"), w(d, f), normal},
			ParamSpec{p("mlp.c_fc.bias"), []int{f}, zero},
			ParamSpec{p("mlp.c_proj.weight"), w(f, d), proj},
			ParamSpec{p("mlp.c_proj.bias"), []int{d}, zero},
		)
	}
	if c.NoBias {
		out = slices.DeleteFunc(out, func(s ParamSpec) bool { return strings.HasSuffix(s.Name, ".bias") })
	}
	sortSpecs(out)
	return out
}

// HookNames are the single-stream hooks of names.go, with hook_pos_embed: in GPT-2's terms
// attn.hook_in is ln_1's output, attn.hook_z (B, T, H, hd) what attn.c_proj reads, mlp.hook_in
// ln_2's output, mlp.hook_post gelu(c_fc(·)) what mlp.c_proj reads, ln_final.hook_out ln_f's.
func (m GPT2) HookNames() []string {
	return blockHookNames([]string{HookEmbed, HookPosEmbed}, m.Config.NLayers)
}

// Spec of the model: a final LayerNorm with its bias, initializer_range, wte as the tied head
// (or lm_head), next-token targets, one residual stream, and the hook each matrix reads —
// Conv1D matrices stored [in, out].
func (m GPT2) Spec() FamilySpec {
	c := m.Config
	head := ParamLMHead
	if c.TiedHead {
		head = GPT2Wte
	}
	conv1d := func(name string) bool { return c.WeightLayout == GPT2Conv1D && strings.HasPrefix(name, RootGPT2+".") }
	normBias := GPT2LnF + ".bias"
	if c.NoBias {
		normBias = ""
	}
	return FamilySpec{
		Dims: m.Dims(), NKVHeads: c.NHeads, HeadDim: c.DModel / c.NHeads, MaxPositions: c.NPositions,
		Norm: NormLayer, NormEps: c.LayerNormEps, InitRange: c.InitializerRange,
		Embed: GPT2Wte, Head: head, Tied: c.TiedHead, NormFinal: GPT2LnF + ".weight", NormFinalBias: normBias,
		TargetShift: 1, MLP: SubMLP, Weights: weightsReading(m.ParamSpecs(), gpt2Reads, conv1d),
	}
}

// gpt2Reads names the hook a GPT-2 weight matrix reads: c_attn attn.hook_in, attn.c_proj
// attn.hook_z, c_fc mlp.hook_in, mlp.c_proj mlp.hook_post, lm_head ln_final.hook_out; "" for
// the rest (the embeddings read one-hot ids).
func gpt2Reads(name string) string {
	if name == ParamLMHead {
		return HookLnFinal
	}
	n, err := ParseName(name)
	if err != nil || n.Root != RootGPT2 {
		return ""
	}
	switch n.Sub + "." + n.Leaf {
	case "attn.c_attn.weight":
		return SubHook(n.Block, SubAttn, HookIn)
	case "attn.c_proj.weight":
		return SubHook(n.Block, SubAttn, HookZ)
	case "mlp.c_fc.weight":
		return SubHook(n.Block, SubMLP, HookIn)
	case "mlp.c_proj.weight":
		return SubHook(n.Block, SubMLP, HookPost)
	}
	return ""
}

// Forward maps ids (B, T) to logits (B, T, V).
func (m GPT2) Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node {
	c := m.Config
	g := ids.Graph()
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	if off := c.Run.firstPosition(); t+off > c.NPositions {
		panic(fmt.Errorf("gpt2: %d positions from position id %d exceed n_positions %d", t, off, c.NPositions))
	}
	tok := Reshape(Gather(param(ctx, g, GPT2Wte), Reshape(ids, b*t, 1)), b, t, c.DModel) // (B, T, D)
	tok = c.Run.embed(tok)
	var pos *Node
	if c.Run.Step == nil {
		positions := Iota(g, shapes.Make(ids.DType(), t, 1), 0) // (T, 1): 0..T-1
		if off := c.Run.PositionOffset; off != 0 {
			positions = AddScalar(positions, float64(off))
		}
		pos = Reshape(Gather(param(ctx, g, GPT2Wpe), positions), 1, t, c.DModel) // (1, T, D)
	} else { // a cached or padded forward: positions from Past, per row when shifted
		pos = c.Run.positionEmbed("gpt2", param(ctx, g, GPT2Wpe), b, t) // (1|B, T, D)
	}
	tok = hooks.set(HookEmbed, tok)
	pos = hooks.set(HookPosEmbed, pos)
	x := Add(tok, pos) // (B, T, D)
	for i := 0; i < c.NLayers; i++ {
		x = m.block(ctx, i, x, hooks)
	}
	return m.unembed(ctx, x, hooks)
}

// block is one pre-LayerNorm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(·)).
func (m GPT2) block(ctx *model.Scope, i int, x *Node, hooks Hooks) *Node {
	x = hooks.set(BlockHook(i, HookResidPre), x)
	u := m.layerNorm(ctx, GPT2Param(i, "ln_1"), x) // (B, T, D)
	u = hooks.set(SubHook(i, SubAttn, HookIn), u)
	y := m.attention(ctx, i, u, hooks)
	y = hooks.set(SubHook(i, SubAttn, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidMid), x)
	u = m.layerNorm(ctx, GPT2Param(i, "ln_2"), x)
	u = hooks.set(SubHook(i, SubMLP, HookIn), u)
	y = m.mlp(ctx, i, u, hooks)
	y = hooks.set(SubHook(i, SubMLP, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidPost), x)
	return x
}

// attention: fused c_attn → q, k, v; causal softmax(q·kᵀ/√hd)·v over H heads; c_proj.
func (m GPT2) attention(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	c := m.Config
	b, t := u.Shape().Dimensions[0], u.Shape().Dimensions[1]
	hd := c.DModel / c.NHeads
	qkv := m.linear(ctx, GPT2Param(i, "attn.c_attn"), u) // (B, T, 3D)
	axis := 2
	if c.QKVSplit == "per_head" {
		qkv, axis = Reshape(qkv, b, t, c.NHeads, 3, hd), 3 // (B, T, H, 3, hd): per head q | k | v
	} else {
		qkv = Reshape(qkv, b, t, 3, c.NHeads, hd) // (B, T, 3, H, hd): q | k | v
	}
	order := c.QKVOrder
	if order == "" {
		order = "qkv"
	}
	heads := func(role string) *Node { // (B, H, T, hd)
		return TransposeAllAxes(pick(qkv, axis, strings.Index(order, role)), 0, 2, 1, 3)
	}
	opts := attnOptions{causal: c.Causal}
	if c.ScaleAttnByInverseLayerIdx {
		opts.scale = 1 / (math.Sqrt(float64(hd)) * float64(i+1))
	}
	z := attendOpts(heads("q"), heads("k"), heads("v"), opts, c.Run, hooks, SubHook(i, SubAttn, HookPattern)) // (B, H, T, hd)
	z = TransposeAllAxes(z, 0, 2, 1, 3)                                                                       // (B, T, H, hd)
	z = hooks.set(SubHook(i, SubAttn, HookZ), z)
	return m.linear(ctx, GPT2Param(i, "attn.c_proj"), Reshape(z, b, t, c.DModel)) // (B, T, D)
}

// mlp: c_proj(gelu(c_fc(u))).
func (m GPT2) mlp(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	post := gelu(m.linear(ctx, GPT2Param(i, "mlp.c_fc"), u), m.Config.Activation) // (B, T, F)
	post = hooks.set(SubHook(i, SubMLP, HookPost), post)
	return m.linear(ctx, GPT2Param(i, "mlp.c_proj"), post)
}

// linear applies weight p.weight in the configured layout and bias p.bias.
func (m GPT2) linear(ctx *model.Scope, p string, x *Node) *Node {
	g := x.Graph()
	return linearIO(x, param(ctx, g, p+".weight"), m.bias(ctx, g, p), m.Config.WeightLayout == GPT2Conv1D)
}

// bias is p.bias, or nil under NoBias.
func (m GPT2) bias(ctx *model.Scope, g *Graph, p string) *Node {
	if m.Config.NoBias {
		return nil
	}
	return param(ctx, g, p+".bias")
}

// layerNorm over the last axis: (x − mean)/√(var + eps)·weight + bias (biased variance).
func (m GPT2) layerNorm(ctx *model.Scope, p string, x *Node) *Node {
	g := x.Graph()
	xn := m.Config.Run.normalize(x, m.Config.LayerNormEps, NormLayer) // (…, D)
	y := Mul(xn, broadcastLast(m.Config.Run.normWeight(param(ctx, g, p+".weight")), x.Rank()))
	if b := m.bias(ctx, g, p); b != nil {
		y = Add(y, broadcastLast(b, x.Rank()))
	}
	return y
}

// Unembed is ln_f and the head.
func (m GPT2) Unembed(ctx *model.Scope, resid *Node) *Node { return m.unembed(ctx, resid, nil) }

func (m GPT2) unembed(ctx *model.Scope, x *Node, hooks Hooks) *Node {
	x = m.layerNorm(ctx, GPT2LnF, x)
	x = hooks.set(HookLnFinal, x)
	w := GPT2Wte
	if !m.Config.TiedHead {
		w = ParamLMHead
	}
	return m.Config.Run.softCap(linearIO(x, param(ctx, x.Graph(), w), nil, false)) // (…, V): x · Wᵀ, W (V, D)
}

// Conventions: weight layout, tying, the causal mask, the order and split of the fused q, k,
// v projection, the activation, and the run conventions.
func (m GPT2) Conventions() []Convention {
	c := m.Config
	order, split := c.QKVOrder, c.QKVSplit
	if order == "" {
		order = "qkv"
	}
	if split == "" {
		split = "blocks"
	}
	act := []string{"gelu_new", "gelu"}
	if c.Activation == "gelu_pytorch_tanh" {
		act = []string{"gelu_pytorch_tanh", "gelu"}
	}
	return append([]Convention{
		{ConvWeightLayout, c.WeightLayout, []string{GPT2Conv1D, GPT2Linear}, "the weight layout ([in, out] Conv1D or [out, in] nn.Linear)", false, false},
		{ConvTiedHead, boolString(c.TiedHead), []string{"true", "false"}, "tie_word_embeddings", false, false},
		{ConvCausal, boolString(c.Causal), []string{"true", "false"}, "the causal attention mask (is_causal)", false, false},
		{ConvQKVOrder, order, QKVOrders, "the order of q, k, v in c_attn's output (split(n_embd, dim=2))", false, false},
		{ConvQKVSplit, split, []string{"blocks", "per_head"}, "the layout of c_attn's output: q|k|v blocks, or q|k|v per head", false, false},
		{ConvActivation, c.Activation, act, "activation_function", false, false},
		{Name: ConvNumHeads, Value: strconv.Itoa(c.NHeads), Values: headCounts(c.NHeads, c.DModel, 4), Key: "n_head", Free: true},
		normEpsConvention(c.LayerNormEps, "layer_norm_epsilon"),
	}, c.Run.conventions(false, NormLayer, "")...)
}

// WithConvention flips one convention. Flipping the weight layout changes which shapes the
// family expects (a square weight reads transposed), which is the point of the test.
func (m GPT2) WithConvention(name, value string) (Family, error) {
	var err error
	switch name {
	case ConvWeightLayout:
		err = checkValue(name, value, GPT2Conv1D, GPT2Linear)
		m.Config.WeightLayout = value
	case ConvTiedHead:
		m.Config.TiedHead, err = parseBool(name, value)
	case ConvCausal:
		m.Config.Causal, err = parseBool(name, value)
	case ConvQKVOrder:
		err = checkValue(name, value, QKVOrders...)
		m.Config.QKVOrder = value
	case ConvNumHeads:
		m.Config.NHeads, err = parseHeads(name, value, m.Config.DModel)
	case ConvNormEps:
		m.Config.LayerNormEps, err = positiveFloat(name, value)
	case ConvQKVSplit:
		err = checkValue(name, value, "blocks", "per_head")
		m.Config.QKVSplit = value
	case ConvActivation:
		err = checkValue(name, value, "gelu_new", "gelu_pytorch_tanh", "gelu")
		m.Config.Activation = value
	default:
		var ok bool
		if ok, err = m.Config.Run.set(name, value); !ok {
			err = fmt.Errorf("gpt2: no convention %q", name)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// gelu is the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) ("gelu_new",
// "gelu_pytorch_tanh"), or the exact 0.5·x·(1 + erf(x/√2)) ("gelu").
func gelu(x *Node, kind string) *Node {
	if kind == "gelu" {
		return MulScalar(Mul(x, OnePlus(Erf(MulScalar(x, 1/math.Sqrt2)))), 0.5)
	}
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(Mul(x, OnePlus(Tanh(inner))), 0.5)
}
