package gomlxmodel

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

// Nanochat as karpathy/nanochat's GPT (nanochat/gpt.py) computes it: a token embedding over a
// vocabulary padded to a multiple of 64, a parameter-free RMSNorm, a "smear" gate that mixes the
// previous position's embedding in, per layer a blend of the stream with the first one
// (resid_lambdas, x0_lambdas), pre-norm blocks of rotary, QK-normed, grouped-query attention
// with a sliding window on some layers and value embeddings on alternate layers, a relu² MLP,
// a "backout" that subtracts part of the mid-depth stream, a final norm, an untied head whose
// padded columns are cropped, and a logit soft-cap. No biases, no norm weights.
//
// Tensor names are nanochat's state-dict keys (weights nn.Linear [out, in]; Vp is vocab_size
// padded up to a multiple of 64, hd = D/H):
//
//	transformer.wte.weight                (Vp, D)        bf16 in nanochat's files
//	transformer.h.{i}.attn.c_q.weight     (H·hd, D)
//	transformer.h.{i}.attn.c_k.weight     (Hkv·hd, D)
//	transformer.h.{i}.attn.c_v.weight     (Hkv·hd, D)
//	transformer.h.{i}.attn.ve_gate.weight (Hkv, 12)      layers with a value embedding
//	transformer.h.{i}.attn.c_proj.weight  (D, H·hd)
//	transformer.h.{i}.mlp.c_fc.weight     (4D, D)
//	transformer.h.{i}.mlp.c_proj.weight   (D, 4D)
//	value_embeds.{i}.weight               (Vp, Hkv·hd)   layers i with i%2 = (n_layer−1)%2; bf16
//	lm_head.weight                        (Vp, D)
//	resid_lambdas, x0_lambdas             (n_layer)
//	smear_gate.weight                     (1, 24)
//	smear_lambda, backout_lambda          (1)

// Parameters of nanochat outside the blocks (the embedding is GPT2Wte, the head ParamLMHead).
const (
	NanochatResidLambdas = "resid_lambdas"
	NanochatX0Lambdas    = "x0_lambdas"
	NanochatSmearGate    = "smear_gate.weight"
	NanochatSmearLambda  = "smear_lambda"
	NanochatBackout      = "backout_lambda"
)

// NanochatValueEmbed is layer i's value embedding: "value_embeds.{i}.weight".
func NanochatValueEmbed(i int) string { return "value_embeds." + strconv.Itoa(i) + ".weight" }

// Fixed sizes of nanochat's gates: the channels of the normalised stream they read.
const (
	nanochatSmearChannels = 24 // smear_gate reads x[…, :24]
	nanochatVEChannels    = 12 // ve_gate reads u[…, :12]
)

// Rotary signs (ConvRopeSign).
const (
	RopeSignNegative = "negative" // nanochat: each pair turned by −angle (y1 = x1·cos + x2·sin)
	RopeSignPositive = "positive" // the textbook and Hugging Face rotation (y1 = x1·cos − x2·sin)
)

// Names of nanochat's own conventions.
const (
	ConvRopeSign      = "rope_sign"      // RopeSignNegative | RopeSignPositive
	ConvQKNormScale   = "qk_norm_scale"  // the factor on q and k after their RMSNorm (> 0)
	ConvWindowPattern = "window_pattern" // the sliding-window pattern ("SSSL", "L", ...)
)

// NanochatConfig is a nanochat configuration (meta_<step>.json's model_config: GPTConfig's
// fields) and its conventions.
type NanochatConfig struct {
	VocabSize int // vocab_size: the tokenizer's, the width of the logits
	// PaddedVocab is the rows of wte, value_embeds and lm_head: vocab_size rounded up to a
	// multiple of 64. The head's columns past VocabSize are cropped before the soft-cap: they
	// never enter the softmax.
	PaddedVocab int
	SeqLen      int // sequence_len: the long window; nanochat's rotary table holds 10·sequence_len positions
	DModel      int // n_embd
	NLayers     int // n_layer
	NHeads      int // n_head
	NKVHeads    int // n_kv_head (= n_head without GQA)
	NormEps     float64

	// Conventions.
	// WindowPattern is window_pattern: one letter per layer, tiled, L a window of sequence_len
	// keys to the left, S one of ⌈sequence_len/4/128⌉·128; the last layer is always L. "L"
	// alone is full causal attention up to sequence_len.
	WindowPattern string
	RopeTheta     float64 // the rotary base: 100000 in nanochat
	RopePairing   string  // config.RopeHalves (nanochat: i with i + hd/2) or config.RopeInterleaved
	RopeSign      string  // RopeSignNegative (nanochat) or RopeSignPositive
	GQAMapping    string  // config.GQAInterleave (nanochat, SDPA enable_gqa: query head h reads kv head h / n_rep) or config.GQATile
	QKNormScale   float64 // q and k are multiplied by it after their RMSNorm: 1.2 in nanochat
	Causal        bool    // the causal mask (false only to test the "future leakage" fault)
	// Run are the conventions of the inference path shared by every family; nanochat's logit
	// soft-cap of 15 is Run.LogitSoftCap.
	Run RunConventions
}

// DefaultNanochatConventions sets c's conventions to nanochat's: base 100000, halves turned by
// −angle, repeat-interleaved kv heads, QK-norm ×1.2, the causal mask, soft-cap 15, RMSNorm eps
// of float32 (F.rms_norm without eps). WindowPattern is the checkpoint's.
func DefaultNanochatConventions(c NanochatConfig) NanochatConfig {
	c.NormEps = float64(math.Nextafter32(1, 2) - 1)
	c.RopeTheta, c.RopePairing, c.RopeSign = 1e5, config.RopeHalves, RopeSignNegative
	c.GQAMapping, c.QKNormScale, c.Causal = config.GQAInterleave, 1.2, true
	c.Run.LogitSoftCap = 15
	return c
}

// Nanochat is the nanochat family.
type Nanochat struct{ Config NanochatConfig }

var _ Family = Nanochat{}

// NanochatPadVocab is vocab_size rounded up to a multiple of 64, as nanochat's GPT pads it.
func NanochatPadVocab(v int) int { return (v + 63) / 64 * 64 }

// Validate checks the sizes and conventions.
func (c NanochatConfig) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.SeqLen <= 0 || c.DModel <= 0 || c.NLayers <= 0 || c.NHeads <= 0 || c.NKVHeads <= 0:
		return fmt.Errorf("nanochat: sizes must be positive: %+v", c)
	case c.PaddedVocab != NanochatPadVocab(c.VocabSize):
		return fmt.Errorf("nanochat: padded vocabulary %d is not vocab_size %d rounded up to a multiple of 64", c.PaddedVocab, c.VocabSize)
	case c.DModel%c.NHeads != 0:
		return fmt.Errorf("nanochat: n_embd %d is not a multiple of n_head %d", c.DModel, c.NHeads)
	case c.NKVHeads > c.NHeads || c.NHeads%c.NKVHeads != 0:
		return fmt.Errorf("nanochat: n_head %d is not a multiple of n_kv_head %d", c.NHeads, c.NKVHeads)
	case (c.DModel/c.NHeads)%2 != 0:
		return fmt.Errorf("nanochat: head dim %d is odd: RoPE rotates pairs", c.DModel/c.NHeads)
	case c.DModel < nanochatSmearChannels:
		return fmt.Errorf("nanochat: n_embd %d < %d, the channels smear_gate reads", c.DModel, nanochatSmearChannels)
	case c.RopeTheta <= 0 || c.QKNormScale <= 0 || c.NormEps <= 0:
		return fmt.Errorf("nanochat: rope base %v, QK-norm scale %v and norm eps %v must be positive", c.RopeTheta, c.QKNormScale, c.NormEps)
	case c.RopePairing != config.RopeHalves && c.RopePairing != config.RopeInterleaved:
		return fmt.Errorf("nanochat: RoPE pairing %q is not %q or %q", c.RopePairing, config.RopeHalves, config.RopeInterleaved)
	case c.RopeSign != RopeSignNegative && c.RopeSign != RopeSignPositive:
		return fmt.Errorf("nanochat: RoPE sign %q is not %q or %q", c.RopeSign, RopeSignNegative, RopeSignPositive)
	case c.GQAMapping != config.GQAInterleave && c.GQAMapping != config.GQATile:
		return fmt.Errorf("nanochat: GQA mapping %q is not %q or %q", c.GQAMapping, config.GQAInterleave, config.GQATile)
	}
	return checkWindowPattern(c.WindowPattern)
}

// checkWindowPattern: one or more of S and L (either case, as nanochat upper-cases it).
func checkWindowPattern(p string) error {
	if p == "" || strings.Trim(strings.ToUpper(p), "SL") != "" {
		return fmt.Errorf("nanochat: window_pattern %q is not made of S and L", p)
	}
	return nil
}

// HeadDim is n_embd / n_head.
func (c NanochatConfig) HeadDim() int { return c.DModel / c.NHeads }

// HasVE reports whether layer i has a value embedding: alternate layers, the last included.
func (c NanochatConfig) HasVE(i int) bool { return i%2 == (c.NLayers-1)%2 }

// Windows are the keys to the left each layer's queries see: the pattern tiled over the
// layers, L = sequence_len, S = ⌈sequence_len/4/128⌉·128, the last layer L.
func (c NanochatConfig) Windows() []int {
	long := c.SeqLen
	short := (long/4 + 127) / 128 * 128
	p := strings.ToUpper(c.WindowPattern)
	out := make([]int, c.NLayers)
	for i := range out {
		out[i] = long
		if p[i%len(p)] == 'S' {
			out[i] = short
		}
	}
	out[len(out)-1] = long
	return out
}

// Arch is "nanochat".
func (m Nanochat) Arch() string { return "nanochat" }

// Dims of the model: the logits are vocab_size wide; MaxSeq is nanochat's rotary table,
// 10·sequence_len positions (beyond sequence_len the long windows slide too).
func (m Nanochat) Dims() Dims {
	c := m.Config
	return Dims{VocabSize: c.VocabSize, DModel: c.DModel, NLayers: c.NLayers, NHeads: c.NHeads, MaxSeq: 10 * c.SeqLen}
}

// ParamSpecs lists the tensors with nanochat's initialisers (GPT.init_weights), its uniform
// draws given as normals of the same std s = 1/√D: wte N(0, 0.8), lm_head N(0, 0.001), c_q,
// c_k, c_v and value embeddings N(0, s), c_fc N(0, 0.4·s), both c_proj 0, the gates 0.01 (the
// mean of U(0, 0.02)), resid_lambdas 1 and x0_lambdas 0 (its loader's defaults; init_weights
// ramps them over depth), smear_lambda 0, backout_lambda 0.2.
func (m Nanochat) ParamSpecs() []ParamSpec {
	c := m.Config
	d, hd, vp := c.DModel, c.HeadDim(), c.PaddedVocab
	s := 1 / math.Sqrt(float64(d))
	normal := func(std float64) InitKind { return InitKind{Normal: true, Std: std} }
	val := func(v float32) InitKind { return InitKind{Value: v} }
	out := []ParamSpec{
		{GPT2Wte, []int{vp, d}, normal(0.8)},
		{ParamLMHead, []int{vp, d}, normal(0.001)},
		{NanochatResidLambdas, []int{c.NLayers}, val(1)},
		{NanochatX0Lambdas, []int{c.NLayers}, val(0)},
		{NanochatSmearGate, []int{1, nanochatSmearChannels}, val(0.01)},
		{NanochatSmearLambda, []int{1}, val(0)},
		{NanochatBackout, []int{1}, val(0.2)},
	}
	for i := 0; i < c.NLayers; i++ {
		p := func(path string) string { return GPT2Param(i, path) }
		out = append(out,
			ParamSpec{p("attn.c_q.weight"), []int{c.NHeads * hd, d}, normal(s)},
			ParamSpec{p("attn.c_k.weight"), []int{c.NKVHeads * hd, d}, normal(s)},
			ParamSpec{p("attn.c_v.weight"), []int{c.NKVHeads * hd, d}, normal(s)},
			ParamSpec{p("attn.c_proj.weight"), []int{d, c.NHeads * hd}, val(0)},
			ParamSpec{p("mlp.c_fc.weight"), []int{4 * d, d}, normal(0.4 * s)},
			ParamSpec{p("mlp.c_proj.weight"), []int{d, 4 * d}, val(0)},
		)
		if c.HasVE(i) {
			out = append(out,
				ParamSpec{p("attn.ve_gate.weight"), []int{c.NKVHeads, nanochatVEChannels}, val(0.01)},
				ParamSpec{NanochatValueEmbed(i), []int{vp, c.NKVHeads * hd}, normal(s)},
			)
		}
	}
	sortSpecs(out)
	return out
}

// HookNames are the single-stream hooks of names.go. In nanochat's terms: hook_embed is
// wte(ids) before its norm; blocks.{i}.hook_resid_pre the stream entering block i after the
// blend resid_lambdas[i]·x + x0_lambdas[i]·x0 (x0 the normalised, smeared embedding), so it
// differs from block i−1's hook_resid_post; attn.hook_in and mlp.hook_in the parameter-free
// norms' outputs; attn.hook_z (B, T, H, hd) what c_proj reads; mlp.hook_post relu(c_fc(·))²;
// ln_final.hook_out the final norm of the last stream minus backout_lambda times block
// n_layer/2's hook_resid_post.
func (m Nanochat) HookNames() []string {
	return blockHookNames([]string{HookEmbed}, m.Config.NLayers)
}

// Spec of the model: a final RMSNorm without weight (NormFinal ""), no initializer_range, an
// untied head, next-token targets, one residual stream. The gates (smear_gate, ve_gate) read a
// slice of their hook's channels and are not listed among the weights.
func (m Nanochat) Spec() FamilySpec {
	c := m.Config
	return FamilySpec{
		Dims: m.Dims(), NKVHeads: c.NKVHeads, HeadDim: c.HeadDim(), MaxPositions: c.SeqLen,
		Norm: NormRMS, NormEps: c.NormEps, Embed: GPT2Wte, Head: ParamLMHead, Tied: false,
		TargetShift: 1, MLP: SubMLP, Weights: weightsReading(m.ParamSpecs(), nanochatReads, func(string) bool { return false }),
	}
}

// nanochatReads names the hook a nanochat matrix reads: c_q, c_k, c_v attn.hook_in, attn
// c_proj attn.hook_z, c_fc mlp.hook_in, mlp c_proj mlp.hook_post, lm_head ln_final.hook_out;
// "" for the rest.
func nanochatReads(name string) string {
	if name == ParamLMHead {
		return HookLnFinal
	}
	n, err := ParseName(name)
	if err != nil || n.Root != RootGPT2 {
		return ""
	}
	switch n.Sub + "." + n.Leaf {
	case "attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight":
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

// Forward maps ids (B, T) to logits (B, T, vocab_size).
func (m Nanochat) Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node {
	c := m.Config
	g := ids.Graph()
	b, t := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	flat := Reshape(ids, b*t, 1)
	x := Reshape(Gather(param(ctx, g, GPT2Wte), flat), b, t, c.DModel) // (B, T, D)
	x = hooks.set(HookEmbed, x)
	x = m.smear(ctx, m.norm(c.Run.embed(x)))
	x0 := x
	resid, mix := param(ctx, g, NanochatResidLambdas), param(ctx, g, NanochatX0Lambdas)
	var mid *Node
	for i := 0; i < c.NLayers; i++ {
		x = Add(Mul(scalarAt(resid, i), x), Mul(scalarAt(mix, i), x0)) // (B, T, D)
		x = m.block(ctx, i, flat, x, hooks)
		if i == c.NLayers/2 {
			mid = x
		}
	}
	x = Sub(x, Mul(Reshape(param(ctx, g, NanochatBackout), 1, 1, 1), mid)) // backout
	return m.unembed(ctx, x, hooks)
}

// smear adds to each position t > 0 the previous one, gated per position:
// x[t] + smear_lambda · sigmoid(smear_gate(x[t][:24])) · x[t−1].
func (m Nanochat) smear(ctx *model.Scope, x *Node) *Node {
	g := x.Graph()
	t := x.Shape().Dimensions[1]
	gate := linearIO(firstChannels(x, nanochatSmearChannels), param(ctx, g, NanochatSmearGate), nil, false) // (B, T, 1)
	gate = Mul(Reshape(param(ctx, g, NanochatSmearLambda), 1, 1, 1), Sigmoid(gate))
	full := x // with a KV cache: the past positions' x too, (B, Past+T, D)
	if st := m.Config.Run.Step; st != nil {
		full = st.extend("smear", x, 1)
	}
	tf := full.Shape().Dimensions[1]
	// prev[t] = x[t−1], 0 at t = 0: a product with a constant shift matrix rather than a Slice.
	shift := make([]float32, tf*tf) // shift[s][t] = 1 when s = t − 1
	for p := 1; p < tf; p++ {
		shift[(p-1)*tf+p] = 1
	}
	sh := ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(shift, tf, tf)), x.DType())
	prev := TransposeAllAxes(DotGeneral(full, []int{1}, nil, sh, []int{0}, nil), 0, 2, 1) // (B, Past+T, D)
	if tf != t {
		prev = Slice(prev, AxisRange(), AxisRange(tf-t, tf), AxisRange()) // (B, T, D)
	}
	if st := m.Config.Run.Step; st != nil && st.Pad != nil { // a padded position is no previous token
		keep := make([]float32, len(st.Pad)*t)
		for b, row := range st.Pad {
			for i := 0; i < t; i++ {
				if p := tf - t + i - 1; p >= 0 && !row[p] {
					keep[b*t+i] = 1
				}
			}
		}
		prev = Mul(prev, ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(keep, len(st.Pad), t, 1)), x.DType()))
	}
	return Add(x, Mul(gate, prev))
}

// firstChannels is x[…, :n], a product with a constant selection matrix rather than a Slice.
func firstChannels(x *Node, n int) *Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	sel := make([]float32, d*n)
	for i := 0; i < n; i++ {
		sel[i*n+i] = 1
	}
	s := ConvertDType(ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(sel, d, n)), x.DType())
	return DotGeneral(x, []int{x.Rank() - 1}, nil, s, []int{0}, nil) // (…, n)
}

// block is x + attn(norm(x)), then + mlp(norm(·)).
func (m Nanochat) block(ctx *model.Scope, i int, ids, x *Node, hooks Hooks) *Node {
	x = hooks.set(BlockHook(i, HookResidPre), x)
	u := m.norm(x) // (B, T, D)
	u = hooks.set(SubHook(i, SubAttn, HookIn), u)
	y := m.attention(ctx, i, ids, u, hooks)
	y = hooks.set(SubHook(i, SubAttn, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidMid), x)
	u = m.norm(x)
	u = hooks.set(SubHook(i, SubMLP, HookIn), u)
	y = m.mlp(ctx, i, u, hooks)
	y = hooks.set(SubHook(i, SubMLP, HookOut), y)
	x = Add(x, y)
	x = hooks.set(BlockHook(i, HookResidPost), x)
	return x
}

// attention: q, k, v projections; on value-embedding layers v += 3·sigmoid(ve_gate(u[…, :12]))
// · value_embeds[ids] per kv head; RoPE on q and k (pairing, sign, base); RMSNorm of q and k
// over hd, each × QKNormScale; kv heads shared by n_rep query heads in the configured mapping;
// softmax(q·kᵀ/√hd) under the causal mask and the layer's window; c_proj.
func (m Nanochat) attention(ctx *model.Scope, i int, ids, u *Node, hooks Hooks) *Node {
	c := m.Config
	g := u.Graph()
	b, t := u.Shape().Dimensions[0], u.Shape().Dimensions[1]
	hd := c.HeadDim()
	lin := func(proj string, x *Node) *Node {
		return linearIO(x, param(ctx, g, GPT2Param(i, "attn."+proj+".weight")), nil, false)
	}
	q := Reshape(lin("c_q", u), b, t, c.NHeads, hd)   // (B, T, H, hd)
	k := Reshape(lin("c_k", u), b, t, c.NKVHeads, hd) // (B, T, Hkv, hd)
	v := Reshape(lin("c_v", u), b, t, c.NKVHeads, hd) // (B, T, Hkv, hd)
	if c.HasVE(i) {
		ve := Reshape(Gather(param(ctx, g, NanochatValueEmbed(i)), ids), b, t, c.NKVHeads, hd) // (B, T, Hkv, hd)
		gate := MulScalar(Sigmoid(lin("ve_gate", firstChannels(u, nanochatVEChannels))), 3)    // (B, T, Hkv)
		v = Add(v, Mul(Reshape(gate, b, t, c.NKVHeads, 1), ve))
	}
	q, k = c.Run.ropeRows(q, k, c.RopePairing, 0)
	rope := c.Run.rope(c.RopeTheta, c.RopePairing)
	rope.Negative = c.Run.ropeSign(c.RopeSign) == RopeSignNegative
	q, k = rope.Apply(q), rope.Apply(k)
	q, k = MulScalar(m.norm(q), c.QKNormScale), MulScalar(m.norm(k), c.QKNormScale)
	nRep := c.NHeads / c.NKVHeads
	q = TransposeAllAxes(q, 0, 2, 1, 3)                               // (B, H, T, hd)
	k = repeatKV(TransposeAllAxes(k, 0, 2, 1, 3), nRep, c.GQAMapping) // (B, H, T, hd)
	v = repeatKV(TransposeAllAxes(v, 0, 2, 1, 3), nRep, c.GQAMapping) // (B, H, T, hd)
	z := attendWindow(q, k, v, c.Causal, c.Windows()[i], c.Run, hooks, SubHook(i, SubAttn, HookPattern))
	z = TransposeAllAxes(z, 0, 2, 1, 3) // (B, T, H, hd)
	z = hooks.set(SubHook(i, SubAttn, HookZ), z)
	return lin("c_proj", Reshape(z, b, t, c.NHeads*hd)) // (B, T, D)
}

// mlp is c_proj(relu(c_fc(u))²).
func (m Nanochat) mlp(ctx *model.Scope, i int, u *Node, hooks Hooks) *Node {
	g := u.Graph()
	lin := func(proj string, x *Node) *Node {
		return linearIO(x, param(ctx, g, GPT2Param(i, "mlp."+proj+".weight")), nil, false)
	}
	post := Square(MaxScalar(lin("c_fc", u), 0)) // (B, T, 4D)
	post = hooks.set(SubHook(i, SubMLP, HookPost), post)
	return lin("c_proj", post)
}

// norm is the parameter-free RMSNorm over the last axis: x / √(mean(x²) + eps).
func (m Nanochat) norm(x *Node) *Node {
	return m.Config.Run.normalize(x, m.Config.NormEps, NormRMS)
}

// Unembed is the final norm, the head's first vocab_size rows (the padded ones cropped) and
// the soft-cap. Forward's logits are Unembed of the last block's stream minus backout_lambda
// times block n_layer/2's.
func (m Nanochat) Unembed(ctx *model.Scope, resid *Node) *Node { return m.unembed(ctx, resid, nil) }

func (m Nanochat) unembed(ctx *model.Scope, x *Node, hooks Hooks) *Node {
	c := m.Config
	x = m.norm(x)
	x = hooks.set(HookLnFinal, x)
	head := param(ctx, x.Graph(), ParamLMHead) // (Vp, D)
	if c.PaddedVocab != c.VocabSize {          // rows 0..V−1: a Gather, whose gradient every backend has
		rows := make([]int32, c.VocabSize)
		for j := range rows {
			rows[j] = int32(j)
		}
		head = Gather(head, Reshape(Const(x.Graph(), rows), c.VocabSize, 1)) // (V, D)
	}
	return c.Run.softCap(linearIO(x, head, nil, false)) // (…, V)
}

// Conventions: the rotary pairing, sign and base, the GQA mapping (searched only when kv heads
// are shared), the QK-norm scale, the window pattern, the causal mask, and the run conventions
// (the soft-cap among them; norm_weight and embed_scale are inert: the norms have no weight
// and the embedding is normalised at once).
func (m Nanochat) Conventions() []Convention {
	c := m.Config
	run := c.Run.conventions(true, NormRMS, c.RopeSign)
	for j := range run {
		if run[j].Name == ConvNormWeight || run[j].Name == ConvEmbedScale {
			run[j].Inert = true
		}
	}
	return append([]Convention{
		{ConvRopePairing, c.RopePairing, []string{config.RopeHalves, config.RopeInterleaved}, "nanochat's apply_rotary_emb splits halves (x[..., :d], x[..., d:])", false, false},
		ropeThetaConvention(c.RopeTheta),
		{Name: ConvGQAMapping, Value: c.GQAMapping, Values: []string{config.GQAInterleave, config.GQATile}, Key: "which kv head each query head reads (SDPA enable_gqa, FA3: h / n_rep)", Inert: c.NKVHeads == c.NHeads},
		{Name: ConvQKNormScale, Value: formatFloat(c.QKNormScale), Values: uniq(formatFloat(c.QKNormScale), "1.2", "1"), Key: "q, k = q * 1.2, k * 1.2 after the QK norm", Free: true},
		{Name: ConvWindowPattern, Value: c.WindowPattern, Values: uniq(c.WindowPattern, "L"), Key: "model_config window_pattern (its loader patches a missing one to L)", Free: true},
		{ConvCausal, boolString(c.Causal), []string{"true", "false"}, "the causal mask (causal=True)", false, false},
		normEpsConvention(c.NormEps, "F.rms_norm's eps (None: the dtype's machine epsilon)"),
	}, run...)
}

// WithConvention flips one convention.
func (m Nanochat) WithConvention(name, value string) (Family, error) {
	var err error
	c := &m.Config
	switch name {
	case ConvRopePairing:
		err = checkValue(name, value, config.RopeHalves, config.RopeInterleaved)
		c.RopePairing = value
	case ConvRopeTheta:
		c.RopeTheta, err = positiveFloat(name, value)
	case ConvGQAMapping:
		err = checkValue(name, value, config.GQAInterleave, config.GQATile)
		c.GQAMapping = value
	case ConvQKNormScale:
		c.QKNormScale, err = positiveFloat(name, value)
	case ConvNormEps:
		c.NormEps, err = positiveFloat(name, value)
	case ConvWindowPattern:
		err = checkWindowPattern(value)
		c.WindowPattern = value
	case ConvCausal:
		c.Causal, err = parseBool(name, value)
	default:
		var ok bool
		if ok, err = c.Run.set(name, value); !ok {
			err = fmt.Errorf("nanochat: no convention %q", name)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
