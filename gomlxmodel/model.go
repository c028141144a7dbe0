// Package gomlxmodel is the investigated ternary transformer of REFERENCE.md §2 in GoMLX:
// BitLinear layers with straight-through ternary weights and 8-bit activations, RMSNorm, RoPE
// ("halves" layout by default), GQA attention (tiled kv heads by default), SwiGLU, mHC-lite with two streams, and a tied or untied head.
//
// Parameters live in a GoMLX model.Store (v0.28.2; a context.Context before) under scopes that
// spell the candle tensor names: "blocks.3.attn.wq.weight" is variable "weight" in scope
// "/blocks/3/attn/wq", path "/blocks/3/attn/wq/weight"; graph code receives the store's root
// model.Scope and reads variables by that absolute path. Activations are
// captured under TransformerLens-style hook names derived from the same vocabulary (names.go).
package gomlxmodel

import (
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

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

// Hooks maps activation names to graph nodes, filled by Forward when capture is on. The names
// and their shapes are listed in names.go. Forward continues from what set returns: the
// activation, or its replacement by the graph's hook edits (WithHookEdits, hooks.go).
type Hooks map[string]*Node

func (h Hooks) set(name string, x *Node) *Node {
	x = editHook(name, x)
	if h != nil {
		h[name] = x
	}
	return x
}

// param returns the graph node of the parameter with the given candle name.
func param(ctx *model.Scope, g *Graph, name string) *Node {
	scope, vname := ScopeAndName(name)
	v := ctx.Store().GetVariable(model.JoinPath(scope, vname))
	if v == nil {
		panic(fmt.Errorf("gomlxmodel: parameter %s (scope %s) not in the store", name, scope))
	}
	return v.NodeValue(g)
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

// ScopeAndName maps a candle tensor name to a GoMLX scope and variable name:
// "blocks.3.attn.wq.weight" → ("/blocks/3/attn/wq", "weight").
func ScopeAndName(tensor string) (scope, name string) {
	i := strings.LastIndexByte(tensor, '.')
	if i < 0 {
		return "/", tensor
	}
	return "/" + strings.ReplaceAll(tensor[:i], ".", "/"), tensor[i+1:]
}

// TensorName is the inverse of ScopeAndName.
func TensorName(scope, name string) string {
	s := strings.Trim(scope, "/")
	if s == "" {
		return name
	}
	return strings.ReplaceAll(s, "/", ".") + "." + name
}

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
	x = RMSNorm(x, m.Run.normWeight(param(ctx, g, ParamNormFinal)))
	x = hooks.set(HookNormFinal, x)
	return m.Head(ctx, x)
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

func (h Hooks) setStreams(name string, s0, s1 *Node) (*Node, *Node) {
	s0 = h.set(WithStream(name, 0), s0)
	if s1 != nil {
		s1 = h.set(WithStream(name, 1), s1)
	}
	return s0, s1
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
		u := RMSNorm(s0, norm)
		u = hooks.set(SubHook(i, kind, HookIn), u)
		y := layer(u)
		y = hooks.set(SubHook(i, kind, HookOut), y)
		return Add(s0, y), nil
	}
	pre := func(leaf string) *Node { return param(ctx, g, MHCParam(i, kind, leaf)) }
	u := MHCPrepare(s0, s1, pre(MHCPreLogits), pre(MHCPreBias))
	u = RMSNorm(u, norm)
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
	rot := m.Run.rope(c.RopeTheta, rope)
	q, k = rot.Apply(q), rot.Apply(k)
	q = TransposeAllAxes(q, 0, 2, 1, 3) // (B, H, T, hd)
	k = repeatKV(TransposeAllAxes(k, 0, 2, 1, 3), c.NHeads/c.NKVHeads, gqa)
	val = repeatKV(TransposeAllAxes(val, 0, 2, 1, 3), c.NHeads/c.NKVHeads, gqa)
	q, k, val = hooks.setQKV(SubHook(i, SubAttn, HookPattern), q, k, val)

	var z *Node // (B, H, T, hd)
	if FusedAttention && !m.Variant.NoCausalMask {
		z = m.fusedAttention(q, k, val, m.Run.attnScale(hd))
	} else {
		scores := m.dot(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}) // (B, H, T, T)
		scores = MulScalar(scores, m.Run.attnScale(hd))
		if !m.Variant.NoCausalMask { // the "future leakage" fault runs without it
			scores = Add(scores, causalMask(g, t, scores.DType()))
		}
		probs := softmax(scores) // (B, H, T, T)
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
