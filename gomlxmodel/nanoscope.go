package gomlxmodel

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// The investigated ternary model of REFERENCE.md §2 (the "nanoscope" family): pre-norm blocks
// of BitLinear attention (RoPE, GQA) and a SwiGLU FFN whose outputs mHC-lite mixes into two
// residual streams, then a final RMSNorm and a head tied to the embedding or not. BitLinear
// (bitlinear.go) quantises its weights to {−s, 0, s} per group of GroupSize and its inputs to
// 8 bits, with straight-through gradients.
//
// Tensor names are candle's VarBuilder names (weights [out, in]; hd = D/H, F = FFNDim), with
// the original's initialisers (InitOf):
//
//	tok_embed.weight                      (V, D)       N(0, 1)
//	blocks.{i}.norm_attn.weight           (D)          1
//	blocks.{i}.attn.wq.weight             (H·hd, D)    N(0, 0.02)
//	blocks.{i}.attn.wk.weight             (Hkv·hd, D)  N(0, 0.02)
//	blocks.{i}.attn.wv.weight             (Hkv·hd, D)  N(0, 0.02)
//	blocks.{i}.attn.wo.weight             (D, H·hd)    N(0, 0.02)
//	blocks.{i}.norm_ffn.weight            (D)          1
//	blocks.{i}.ffn.w_gate.weight          (F, D)       N(0, 0.02)
//	blocks.{i}.ffn.w_up.weight            (F, D)       N(0, 0.02)
//	blocks.{i}.ffn.w_down.weight          (D, F)       N(0, 0.02)
//	blocks.{i}.mhc_{attn,ffn}.pre_logits  (2)          0    only with mHC (Variant.MHC)
//	blocks.{i}.mhc_{attn,ffn}.pre_bias    (2)          0.5
//	blocks.{i}.mhc_{attn,ffn}.post_logits (2)          0
//	blocks.{i}.mhc_{attn,ffn}.post_bias   (2)          0.5
//	blocks.{i}.mhc_{attn,ffn}.alpha_logit (1)          0
//	norm_final.weight                     (D)          1
//	lm_head.weight                        (V, D)       N(0, 0.02)   only when untied
//
// The configuration is config.Config (the original's TrainConfig; its fields say their units
// and which rate trains what) with nanoscope's ablation switches config.Variant. The
// conventions — RoPE pairing and base, GQA mapping, causal mask, tying — are fields of those
// two that Conventions lists and WithConvention flips, like every family's.

// Model is the architecture: a configuration and its ablation switches. The weights live in a
// model.Store, reached through its root scope (see NewScope).
type Model struct {
	Config  config.Config
	Variant config.Variant
	// Precision of the blocks' matrix products (precision.go); "" is fp32.
	Precision Precision
	// Run are the conventions of the inference path shared by every family (attention scale,
	// embedding scale, norm weight offset, logit soft-cap, position offset, rope scaling); the
	// zero value is the original's.
	Run RunConventions
}

// Model is the investigated ternary model as a Family. Its conventions are the Variant's
// switches (RopeLayout, GQAMap, NoCausalMask) and Config.WeightTied.
var _ Family = Model{}

// Arch is "nanoscope".
func (m Model) Arch() string { return "nanoscope" }

// Dims of the model. MaxSeq is 0: RoPE has no table of positions.
func (m Model) Dims() Dims {
	c := m.Config
	return Dims{VocabSize: c.VocabSize, DModel: c.Dim, NLayers: c.NLayers, NHeads: c.NHeads}
}

// Spec of the model: the final RMSNorm (eps 1e-6), tok_embed as the tied head (or lm_head),
// the variant's target shift, one residual stream or mHC's two (hooks suffixed .s0, .s1),
// and the hook each [out, in] BitLinear matrix reads.
func (m Model) Spec() FamilySpec {
	c, v := m.Config, m.Variant
	head := ParamLMHead
	if c.WeightTied {
		head = ParamTokEmbed
	}
	streams := 1
	if v.MHC {
		streams = 2
	}
	return FamilySpec{
		Dims: m.Dims(), NKVHeads: c.NKVHeads, HeadDim: c.HeadDim(), MaxPositions: c.MaxSeqLen,
		Norm: NormRMS, NormEps: RMSNormEps,
		Embed: ParamTokEmbed, Head: head, Tied: c.WeightTied, NormFinal: ParamNormFinal,
		TargetShift: v.TargetShift, Streams: streams, MLP: SubFFN,
		Weights: weightsReading(m.ParamSpecs(), ternaryReads, func(string) bool { return false }),
		Ternary: &TernarySpec{Config: c, Variant: v},
	}
}

// ParamSpecs lists the candle tensors of (Config, Variant) with the original's initialisers.
func (m Model) ParamSpecs() []ParamSpec {
	shapes := m.Config.TensorShapes(m.Variant)
	out := make([]ParamSpec, 0, len(shapes))
	for _, name := range config.SortedNames(shapes) {
		out = append(out, ParamSpec{Name: name, Shape: slices.Clone(shapes[name]), Init: InitOf(name)})
	}
	return out
}

// Parameters and their initialisers.

// InitKind says how the original initialises a tensor (REFERENCE.md §2).
type InitKind struct {
	Normal bool    // N(0, Std) when true, else the constant Value
	Std    float64 // standard deviation of the normal
	Value  float32 // the constant
}

// InitOf returns the original's initialisation of a tensor: tok_embed N(0, 1) (candle's
// embedding default), linear weights and lm_head N(0, 0.02), RMSNorm weights 1, alpha_logit
// and the mHC logits 0, the mHC biases 0.5.
func InitOf(name string) InitKind {
	switch {
	case name == ParamTokEmbed:
		return InitKind{Normal: true, Std: 1}
	case hasSuffix(name, MHCAlphaLogit, MHCPreLogits, MHCPostLogits):
		return InitKind{Value: 0}
	case hasSuffix(name, MHCPreBias, MHCPostBias):
		return InitKind{Value: 0.5}
	case hasSuffix(name, "norm_attn.weight", "norm_ffn.weight") || name == ParamNormFinal:
		return InitKind{Value: 1}
	}
	return InitKind{Normal: true, Std: 0.02} // attention, FFN and lm_head weights
}

func hasSuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if len(s) >= len(x) && s[len(s)-len(x):] == x {
			return true
		}
	}
	return false
}

// InitParams draws a freshly initialised model. Each tensor has its own random stream derived
// from (seed, name), so a tensor's initial value does not depend on which others exist.
func InitParams(c config.Config, v config.Variant, seed int64) Params {
	shapes := c.TensorShapes(v)
	out := make(Params, len(shapes))
	for _, name := range config.SortedNames(shapes) {
		shape := shapes[name]
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		init := InitOf(name)
		if init.Normal {
			h := fnv.New64a()
			h.Write([]byte(name))
			rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
			for i := range data {
				data[i] = float32(rng.NormFloat64() * init.Std)
			}
		} else {
			for i := range data {
				data[i] = init.Value
			}
		}
		out[name] = checkpoint.Tensor{Shape: slices.Clone(shape), Data: data}
	}
	return out
}

// CheckParams verifies that params hold exactly the tensors of the configuration, with the
// right shapes: the model is never built from a partial set.
func CheckParams(c config.Config, v config.Variant, p Params) error {
	want := c.TensorShapes(v)
	var missing, extra []string
	for name := range want {
		if _, ok := p[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range p {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		return fmt.Errorf("parameters do not match the config: missing %v, unexpected %v", missing, extra)
	}
	for name, shape := range want {
		t := p[name]
		if !slices.Equal(t.Shape, shape) {
			return fmt.Errorf("parameter %s: shape mismatch: expected %v, found %v", name, shape, t.Shape)
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if len(t.Data) != n {
			return fmt.Errorf("parameter %s: %d values for shape %v", name, len(t.Data), shape)
		}
	}
	return nil
}

// NewScope creates a GoMLX model.Store whose variables are exactly params (checked first) and
// returns its root scope.
func NewScope(c config.Config, v config.Variant, p Params) (*model.Scope, error) {
	if err := CheckParams(c, v, p); err != nil {
		return nil, err
	}
	ctx := model.NewStore().RootScope()
	for _, name := range config.SortedNames(c.TensorShapes(v)) {
		t := p[name]
		scope, vname := ScopeAndName(name)
		ctx.Store().VariableWithValue(model.JoinPath(scope, vname), tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)) // copies the data
	}
	return ctx, nil
}

// ScopeParams copies the model's variables out of ctx's store (other scopes, such as
// optimizer state, are ignored).
func ScopeParams(ctx *model.Scope, c config.Config, v config.Variant) (Params, error) {
	shapes := c.TensorShapes(v)
	out := make(Params, len(shapes))
	for name, shape := range shapes {
		scope, vname := ScopeAndName(name)
		vr := ctx.Store().GetVariable(model.JoinPath(scope, vname))
		if vr == nil {
			return nil, fmt.Errorf("store has no variable for %s", name)
		}
		val, err := vr.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		out[name] = checkpoint.Tensor{Shape: slices.Clone(shape), Data: data}
	}
	return out, nil
}

// Parameters returns the names (sorted), variables and graph values of every parameter of the
// model in ctx's store, in one order, for code that differentiates with respect to all of them.
func (m Model) Parameters(ctx *model.Scope, g *Graph) (names []string, vars []*model.Variable, values []*Node) {
	names = config.SortedNames(m.Config.TensorShapes(m.Variant))
	vars, values = make([]*model.Variable, len(names)), make([]*Node, len(names))
	for i, name := range names {
		scope, vn := ScopeAndName(name)
		vars[i] = ctx.Store().GetVariable(model.JoinPath(scope, vn))
		if vars[i] == nil {
			panic(fmt.Errorf("gomlxmodel: parameter %s not in the store", name))
		}
		values[i] = vars[i].NodeValue(g)
	}
	return names, vars, values
}

// The forward pass.

// Forward maps token ids (B, T) int32 to logits (B, T, V). When hooks is non-nil it is filled
// with the activations named in Hooks.
func (m Model) Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node {
	c, v := m.Config, m.Variant
	g := ids.Graph()
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	embed := param(ctx, g, ParamTokEmbed)                          // (V, D)
	x := Reshape(Gather(embed, Reshape(ids, b*t, 1)), b, t, c.Dim) // (B, T, D)
	x = m.Run.embed(x)
	x = hooks.set(HookEmbed, x)

	var s0, s1 *Node
	if v.MHC {
		s0, s1 = x, x // mHC expand: two identical streams
	} else {
		s0 = x
	}
	for i := 0; i < c.NLayers; i++ {
		s0, s1 = hooks.setStreams(BlockHook(i, HookResidPre), s0, s1)
		s0, s1 = m.subBlock(ctx, i, SubAttn, s0, s1, hooks)
		s0, s1 = hooks.setStreams(BlockHook(i, HookResidMid), s0, s1)
		s0, s1 = m.subBlock(ctx, i, SubFFN, s0, s1, hooks)
		s0, s1 = hooks.setStreams(BlockHook(i, HookResidPost), s0, s1)
	}
	x = s0
	if v.MHC {
		x = DivScalar(Add(s0, s1), 2) // mHC collapse
	}
	x = hooks.set(HookCollapse, x)
	x = m.rmsNorm(x, m.Run.normWeight(param(ctx, g, ParamNormFinal)))
	x = hooks.set(HookNormFinal, x)
	return m.Head(ctx, x)
}

// subBlock runs one residual sub-block (SubAttn or SubFFN) of block i on the streams.
// With mHC: prepare (mix the streams with sigmoid weights), norm, layer, apply (add the output
// to both streams with 2·sigmoid gains, then mix the streams with alpha). Without mHC: the
// plain pre-norm residual s0 + layer(norm(s0)).
func (m Model) subBlock(ctx *model.Scope, i int, kind string, s0, s1 *Node, hooks Hooks) (*Node, *Node) {
	g := s0.Graph()
	norm := m.Run.normWeight(param(ctx, g, NormWeight(i, kind)))
	layer := func(u *Node) *Node {
		if kind == SubAttn {
			return m.Attention(ctx, i, u, hooks)
		}
		return m.FFN(ctx, i, u, hooks)
	}
	if !m.Variant.MHC {
		u := m.rmsNorm(s0, norm)
		u = hooks.set(SubHook(i, kind, HookIn), u)
		y := layer(u)
		y = hooks.set(SubHook(i, kind, HookOut), y)
		return Add(s0, y), nil
	}
	pre := func(leaf string) *Node { return param(ctx, g, MHCParam(i, kind, leaf)) }
	u := MHCPrepare(s0, s1, pre(MHCPreLogits), pre(MHCPreBias))
	u = m.rmsNorm(u, norm)
	u = hooks.set(SubHook(i, kind, HookIn), u)
	y := layer(u) // (B, T, D)
	y = hooks.set(SubHook(i, kind, HookOut), y)
	return MHCApply(s0, s1, y, pre(MHCPostLogits), pre(MHCPostBias), pre(MHCAlphaLogit))
}

// MHCPrepare mixes the two streams into the sub-block input:
// h_pre = sigmoid(pre_logits + pre_bias); u = h_pre[0]·s0 + h_pre[1]·s1.
func MHCPrepare(s0, s1, preLogits, preBias *Node) *Node {
	hPre := Sigmoid(Add(preLogits, preBias))                           // (2)
	return Add(Mul(scalarAt(hPre, 0), s0), Mul(scalarAt(hPre, 1), s1)) // (B, T, D)
}

// MHCApply adds the sub-block output y to both streams and mixes them:
// h_post = 2·sigmoid(post_logits + post_bias); r_k = s_k + h_post[k]·y;
// alpha = sigmoid(alpha_logit); s0' = alpha·r0 + (1−alpha)·r1; s1' = (1−alpha)·r0 + alpha·r1.
// When s0 ≡ s1 and h_post[0] = h_post[1], r0 = r1 and alpha has no effect: its gradient is 0 (H7).
func MHCApply(s0, s1, y, postLogits, postBias, alphaLogit *Node) (*Node, *Node) {
	hPost := MulScalar(Sigmoid(Add(postLogits, postBias)), 2) // (2)
	alpha := scalarAt(Sigmoid(alphaLogit), 0)                 // (1, 1, 1)
	r0 := Add(s0, Mul(scalarAt(hPost, 0), y))
	r1 := Add(s1, Mul(scalarAt(hPost, 1), y))
	oneMinus := OneMinus(alpha)
	return Add(Mul(alpha, r0), Mul(oneMinus, r1)), Add(Mul(oneMinus, r0), Mul(alpha, r1))
}

// Attention is block i's causal multi-head attention with GQA and RoPE on u (B, T, D) →
// (B, T, D), under the variant's RoPE layout, GQA mapping and causal mask (config.Variant).
func (m Model) Attention(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	c := m.Config
	g := u.Graph()
	b, t := u.Shape().Dimensions[0], u.Shape().Dimensions[1]
	hd := c.HeadDim()
	lin := func(w string, x *Node) *Node {
		return m.bitLinear(x, param(ctx, g, AttnWeight(i, w)))
	}
	q := Reshape(lin("wq", u), b, t, c.NHeads, hd)   // (B, T, H, hd)
	k := Reshape(lin("wk", u), b, t, c.NKVHeads, hd) // (B, T, Hkv, hd)
	val := Reshape(lin("wv", u), b, t, c.NKVHeads, hd)
	rope, gqa := m.Variant.Rope(), m.Variant.GQA()
	q, k = m.Run.ropeRows(q, k, rope, 0)
	rot := m.Run.rope(c.RopeTheta, rope)
	q, k = rot.Apply(q), rot.Apply(k)
	q = TransposeAllAxes(q, 0, 2, 1, 3) // (B, H, T, hd)
	k = repeatKV(TransposeAllAxes(k, 0, 2, 1, 3), c.NHeads/c.NKVHeads, gqa)
	val = repeatKV(TransposeAllAxes(val, 0, 2, 1, 3), c.NHeads/c.NKVHeads, gqa)
	q, k, val = hooks.setQKV(SubHook(i, SubAttn, HookPattern), q, k, val)

	var z *Node // (B, H, T, hd)
	if FusedAttention && !m.Variant.NoCausalMask && m.Run.Step == nil {
		z = m.fusedAttention(q, k, val, m.Run.attnScale(hd)*temperature(m.Run.AttnTemperature))
	} else {
		k, val = cacheKV(m.Run, SubHook(i, SubAttn, HookPattern), k, val)   // with a KV cache: (B, H, Past+T, hd)
		scores := m.dot(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}) // (B, H, T, Past+T)
		scores = temper(MulScalar(scores, m.Run.attnScale(hd)), m.Run.AttnTemperature)
		// the "future leakage" fault runs without the causal mask
		if mask := attnMask(g, m.Run, t, k.Shape().Dimensions[2], !m.Variant.NoCausalMask, 0, scores.DType()); mask != nil {
			scores = Add(scores, mask)
		}
		probs := softmax(scores) // (B, H, T, Past+T)
		probs = hooks.set(SubHook(i, SubAttn, HookPattern), probs)
		z = m.dot(probs, []int{3}, []int{0, 1}, val, []int{2}, []int{0, 1})
	}
	z = Reshape(TransposeAllAxes(z, 0, 2, 1, 3), b, t, c.NHeads*hd) // (B, T, H·hd)
	z = hooks.set(SubHook(i, SubAttn, HookZ), z)
	return lin("wo", z) // (B, T, D)
}

// FusedAttention (NANOSCOPE_ATTENTION=fused) makes the ternary model's causal attention GoMLX's
// attention.Core: the backend's fused scaled-dot-product attention where it has one (cuDNN
// flash attention on XLA+CUDA, with its fused backward), the same product, mask and softmax
// decomposed elsewhere. The pattern hook (attn.hook_pattern) is then not computed. Off by
// default: a training-speed option, measured against the explicit graph on the GPU.
var FusedAttention = os.Getenv("NANOSCOPE_ATTENTION") == "fused"

// fusedAttention is attention.Core on q, k, v (B, H, T, hd) with the causal mask and scale, in
// the model's product dtype.
func (m Model) fusedAttention(q, k, v *Node, scale float64) *Node {
	out := q.DType()
	if dt := m.matMulDType(); dt != dtypes.InvalidDType && dt != out {
		q, k, v = ConvertDType(q, dt), ConvertDType(k, dt), ConvertDType(v, dt)
	}
	z, _ := attention.Core(q, k, v, attention.LayoutBHSD, attention.CoreOptions{Scale: scale, UseCausalMask: true})
	return ConvertDType(z, out)
}

// FFN is block i's SwiGLU: w_down(silu(w_gate(u)) ⊙ w_up(u)).
func (m Model) FFN(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	g := u.Graph()
	lin := func(w string, x *Node) *Node {
		return m.bitLinear(x, param(ctx, g, FFNWeight(i, w)))
	}
	h := Mul(silu(lin("w_gate", u)), lin("w_up", u)) // (B, T, F)
	h = hooks.set(SubHook(i, SubFFN, HookPost), h)
	return lin("w_down", h)
}

// Head maps final hidden states (…, D) to logits (…, V): x · tok_embedᵀ when tied, else
// x · lm_headᵀ. It is a plain float product (no BitLinear), as in the original.
func (m Model) Head(ctx *model.Scope, x *Node) *Node {
	name := ParamTokEmbed
	if !m.Config.WeightTied {
		name = ParamLMHead
	}
	w := param(ctx, x.Graph(), name)
	return m.Run.softCap(DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil))
}

// rmsNorm normalises x over its last axis, x/√(mean(x²) + 1e-6) · w (under Run.NormType).
func (m Model) rmsNorm(x, w *Node) *Node {
	return Mul(m.Run.normalize(x, RMSNormEps, NormRMS), broadcastLast(w, x.Rank())) // (…, D)
}

// Unembed is the final RMSNorm and the head. With mHC, callers pass the stream they lens
// (s0, s1 or their mean, which is what Forward collapses to).
func (m Model) Unembed(ctx *model.Scope, resid *Node) *Node {
	return m.Head(ctx, m.rmsNorm(resid, m.Run.normWeight(param(ctx, resid.Graph(), ParamNormFinal))))
}

// Loss returns the objective the original optimises and logs — cross-entropy with label
// smoothing 0.1, 0.9·CE + 0.1·(−mean_v log p_v) — and the plain cross-entropy, both averaged
// over all positions. logits (B, T, V), targets (B, T) int32.
func Loss(logits, targets *Node) (smoothed, ce *Node) {
	dims := logits.Shape().Dimensions
	n, vocab := dims[0]*dims[1], dims[2]
	logp := Reshape(LogSoftmax(logits, -1), n, vocab) // (N, V)
	// Each row's target is gathered by its (row, target) pair, never by a flat row·V + target
	// index: that overflows int32 once N·V reaches 2³¹ (d20 at batch 167 with GPT-2's vocabulary).
	row := IotaFull(logits.Graph(), shapes.Make(targets.DType(), n, 1))           // (N, 1)
	picked := Gather(logp, Concatenate([]*Node{row, Reshape(targets, n, 1)}, -1)) // (N)
	ce = Neg(ReduceAllMean(picked))
	uniform := Neg(ReduceAllMean(logp)) // −mean over positions and vocab of log p
	smoothed = Add(MulScalar(ce, 0.9), MulScalar(uniform, 0.1))
	return smoothed, ce
}

// Hooks: the activations Forward captures and which one each weight reads.

// HookNames lists the hooks of Hooks for this configuration.
func (m Model) HookNames() []string {
	out := []string{HookEmbed}
	add := func(i int, hook string) {
		out = append(out, StreamHook(i, hook, 0))
		if m.Variant.MHC {
			out = append(out, StreamHook(i, hook, 1))
		}
	}
	for i := 0; i < m.Config.NLayers; i++ {
		add(i, HookResidPre)
		out = append(out, SubHook(i, SubAttn, HookIn), SubHook(i, SubAttn, HookPattern), SubHook(i, SubAttn, HookZ),
			SubHook(i, SubAttn, HookOut))
		add(i, HookResidMid)
		out = append(out, SubHook(i, SubFFN, HookIn), SubHook(i, SubFFN, HookPost), SubHook(i, SubFFN, HookOut))
		add(i, HookResidPost)
	}
	return append(out, HookCollapse, HookNormFinal)
}

// ternaryReads names the hook a weight matrix of the ternary model reads: wq, wk, wv
// attn.hook_in, wo attn.hook_z, w_gate and w_up ffn.hook_in, w_down ffn.hook_post, lm_head
// norm_final.hook_out; "" for the rest (tok_embed reads one-hot ids).
func ternaryReads(name string) string {
	if name == ParamLMHead {
		return HookNormFinal
	}
	n, err := ParseName(name)
	if err != nil || n.Root != RootBlocks {
		return ""
	}
	sub, _, _ := strings.Cut(n.Sub, ".")
	switch {
	case n.Sub == "attn.wo":
		return SubHook(n.Block, SubAttn, HookZ)
	case sub == SubAttn && n.Sub != sub:
		return SubHook(n.Block, SubAttn, HookIn)
	case n.Sub == "ffn.w_down":
		return SubHook(n.Block, SubFFN, HookPost)
	case sub == SubFFN && n.Sub != sub:
		return SubHook(n.Block, SubFFN, HookIn)
	}
	return ""
}

// Conventions.

// Conventions of the model: RoPE pairing and base, GQA mapping (searched only when kv heads
// are shared), causal mask, tying, and the run conventions.
func (m Model) Conventions() []Convention {
	return append([]Convention{
		{ConvRopePairing, m.Variant.Rope(), []string{config.RopeHalves, config.RopeInterleaved}, "meta.json's variant.rope_layout (--rope-layout)", false, false},
		ropeThetaConvention(m.Config.RopeTheta),
		{Name: ConvGQAMapping, Value: m.Variant.GQA(), Values: []string{config.GQATile, config.GQAInterleave}, Key: "meta.json's variant.gqa_map (--gqa-map)", Inert: m.Config.NKVHeads == m.Config.NHeads},
		{ConvCausal, boolString(!m.Variant.NoCausalMask), []string{"true", "false"}, "meta.json's variant.no_causal_mask", false, false},
		{ConvTiedHead, boolString(m.Config.WeightTied), []string{"true", "false"}, "config.weight_tied", false, false},
	}, m.Run.conventions(true, NormRMS, RopeSignPositive)...)
}

// WithConvention flips one convention.
func (m Model) WithConvention(name, value string) (Family, error) {
	switch name {
	case ConvRopePairing:
		if err := checkValue(name, value, config.RopeHalves, config.RopeInterleaved); err != nil {
			return nil, err
		}
		m.Variant.RopeLayout = value
	case ConvGQAMapping:
		if err := checkValue(name, value, config.GQATile, config.GQAInterleave); err != nil {
			return nil, err
		}
		m.Variant.GQAMap = value
	case ConvCausal:
		b, err := parseBool(name, value)
		if err != nil {
			return nil, err
		}
		m.Variant.NoCausalMask = !b
	case ConvTiedHead:
		b, err := parseBool(name, value)
		if err != nil {
			return nil, err
		}
		m.Config.WeightTied = b
	case ConvRopeTheta:
		t, err := positiveFloat(name, value)
		if err != nil {
			return nil, err
		}
		m.Config.RopeTheta = t
	default:
		ok, err := m.Run.set(name, value)
		if !ok {
			return nil, fmt.Errorf("nanoscope: no convention %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}
