package gomlxmodel

import (
	"cmp"
	"fmt"
	"math"
	"strconv"

	. "github.com/gomlx/gomlx/core/graph"

	"nanoscope/gomlxmodel/config"
)

// RunConventions are the conventions of an inference path that the weights do not fix and that
// codebases disagree on: each is a way to run the same tensors, and a checkpoint trained under
// one and run under another "behaves differently at inference". Every family carries them (its
// config's Run field) and lists them among its Conventions, so the diagnosis can search them.
// The zero value is the family's reference convention (Hugging Face's or the original's), and
// costs no operation in the graph.
type RunConventions struct {
	// AttnScale multiplies q·kᵀ before the softmax: "" or AttnRsqrtHeadDim is 1/√head_dim (the
	// Transformer's), AttnInvHeadDim 1/head_dim (µP), AttnOne 1 (no scale).
	AttnScale string
	// EmbedScale multiplies the token embedding by √d_model (Gemma's normalizer, the original
	// Transformer's embedding scale).
	EmbedScale bool
	// NormOffset applies every norm weight as (1 + w) (Gemma's RMSNorm) instead of w.
	NormOffset bool
	// LogitSoftCap caps the final logits as c·tanh(x/c) (Gemma 2's final_logit_softcapping);
	// 0 is none.
	LogitSoftCap float64
	// NormType is how every norm normalises before its weight: NormLayer subtracts the mean
	// ((x − mean)/√(var + eps), LayerNorm), NormRMS does not (x/√(mean(x²) + eps), RMSNorm); ""
	// is the family's own. A LayerNorm-trained model converted as an RMSNorm one (nanoGPT's
	// bias-free LayerNorm written as a Llama) runs with the other.
	NormType string
	// AttnTemperature multiplies the attention scores after their scale (0 or 1: none). No
	// reference applies one; it moves a run off the attention scale training left it at, which
	// the diagnosis uses to test whether a run is at the optimum a trained convention is
	// (analysis: flattenedRun).
	AttnTemperature float64
	// PositionOffset is the id of the first position (0 in every reference; 1 where a
	// conversion or a cache is off by one).
	PositionOffset int
	// RopeSign is the direction rotary embeddings turn each pair: RopeSignPositive (the
	// textbook's and Hugging Face's y1 = x1·cos − x2·sin) or RopeSignNegative (nanochat's); "" is
	// the family's own. Under the other sign q·k sees every offset i − j as j − i.
	RopeSign string
	// RopeScale divides the rotary positions (linear rope_scaling's factor); 0 or 1 is none.
	// Rotary families only.
	RopeScale float64
	// RopeRowsQ and RopeRowsK say that the rotary rows of q's (k's) heads are stored in the other
	// pairing's order than the one the model runs (RopeRowsOther: interleaved rows 2j, 2j+1 in a
	// rotate_half model, or the reverse) — a converter's permutation applied to one of q and k
	// only; the forward reorders that role's rotary dimensions before its norm and RoPE. "" is
	// the pairing's own order.
	RopeRowsQ, RopeRowsK string
	// RotaryDims is which dimensions of each head a partial RoPE rotates: RotaryFirst (or ""),
	// the first rotary_ndims (GPT-NeoX's, every transformers family's), or RotaryLast, the last
	// (the rotary block kept after the pass-through one, as an engine or converter may lay it).
	RotaryDims string
	// Step, when non-nil, is one forward of an incremental or batched inference path: a KV
	// cache, padding, position ids, an inference fault (kvcache.go). nil is the full forward.
	Step *Step `json:"-"`
}

// Attention scales.
const (
	AttnRsqrtHeadDim = "rsqrt_head_dim"
	AttnInvHeadDim   = "inv_head_dim"
	AttnOne          = "one"
)

// Names of the run conventions (shared by every family) and of the family conventions that
// more than one family has.
const (
	ConvAttnScale      = "attn_scale"       // AttnRsqrtHeadDim | AttnInvHeadDim | AttnOne
	ConvEmbedScale     = "embed_scale"      // "none" | "sqrt_d_model"
	ConvNormWeight     = "norm_weight"      // "w" | "1+w"
	ConvLogitSoftCap   = "logit_softcap"    // "none" or c > 0
	ConvPositionOffset = "position_offset"  // first position id, ≥ 0
	ConvRopeScaling    = "rope_scaling"     // linear factor ≥ 1 ("1" is none)
	ConvRopeTheta      = "rope_theta"       // the rotary base, > 0
	ConvActivation     = "activation"       // the MLP's nonlinearity
	ConvQKVOrder       = "qkv_order"        // the order of q, k, v in a fused projection
	ConvQKVSplit       = "qkv_split"        // "blocks" (q|k|v, each all heads) | "per_head" (per head q|k|v)
	ConvNormEps        = "norm_eps"         // the epsilon every norm adds to the variance, > 0
	ConvNormType       = "norm_type"        // NormLayer | NormRMS: whether norms subtract the mean
	ConvAttnTemp       = "attn_temperature" // a factor on the scaled attention scores, > 0 (1: none)
	ConvRopeRowsQ      = "rope_rows_q"      // RopeRowsPairing | RopeRowsOther: the order q's rotary rows are stored in
	ConvRopeRowsK      = "rope_rows_k"      // the same for k
	ConvRotaryDims     = "rotary_dims"      // RotaryFirst | RotaryLast: which dimensions of a head a partial RoPE rotates
)

// Orders of one role's rotary rows (RunConventions.RopeRowsQ, RopeRowsK).
const (
	RopeRowsPairing = "pairing" // as the rotary pairing reads them (every reference)
	RopeRowsOther   = "other"   // in the other pairing's order
)

// Places of a partial RoPE's dimensions in each head (RunConventions.RotaryDims).
const (
	RotaryFirst = "first"
	RotaryLast  = "last"
)

// RopeThetaLadder are the rotary bases the diagnosis tries besides the config's: the values
// public models use.
var RopeThetaLadder = []float64{1e4, 1e5, 5e5, 1e6}

// NormEpsLadder are the norm epsilons the diagnosis tries besides the config's: the values public
// configs use (layer_norm_eps 1e-5 of GPT-2 and GPT-NeoX, rms_norm_eps 1e-6 and 1e-5 of Llama's).
var NormEpsLadder = []float64{1e-5, 1e-6}

// normEpsConvention is the norm epsilon as a convention: the config's value (under key) and the
// ladder. A config that says another epsilon than training used still loads: no weight depends
// on it.
func normEpsConvention(eps float64, key string) Convention {
	vals := []string{formatFloat(eps)}
	for _, e := range NormEpsLadder {
		vals = append(vals, formatFloat(e))
	}
	return Convention{Name: ConvNormEps, Value: formatFloat(eps), Values: uniq(vals...), Key: key, Free: true}
}

// ConventionMechanisms groups the conventions by the quantity of the computation they set: the
// attention scale (a scale, a scalar under a root, a soft-cap on the scores, the QK-norm's
// factor), the positions (the rotary base, scaling, share, pairing and sign; the first position
// id), the mask, the split of projections into heads, and the scale of the residual stream (the
// embedding multiplier, the norm weight's offset, the norm epsilon). Two alternatives of one
// mechanism are rival values of one quantity, not rival explanations of a fault: the diagnosis
// asks a finding to beat the alternatives of the other mechanisms (analysis: rivalCondition).
// A convention absent here is its own mechanism.
var ConventionMechanisms = map[string]string{
	ConvAttnScale: "attention_scale", ConvQueryPreAttnScalar: "attention_scale", ConvAttnSoftCap: "attention_scale", ConvQKNormScale: "attention_scale", ConvAttnTemp: "attention_scale",
	ConvRopeTheta: "positions", ConvRopeScaling: "positions", ConvRotaryPct: "positions", ConvRopePairing: "positions", ConvRopeSign: "positions", ConvRopeType: "positions", ConvPositionOffset: "positions", ConvRopeRowsQ: "positions", ConvRopeRowsK: "positions", ConvRotaryDims: "positions",
	ConvCausal: "mask", ConvSlidingWindow: "mask", ConvWindowPattern: "mask",
	ConvQKVOrder: "head_layout", ConvQKVSplit: "head_layout", ConvNumHeads: "head_layout", ConvGQAMapping: "head_layout",
	ConvEmbedScale: "residual_scale", ConvNormWeight: "residual_scale", ConvNormEps: "residual_scale", ConvNormType: "residual_scale",
}

// QKVOrders are the six orders of a fused projection's three blocks.
var QKVOrders = []string{"qkv", "qvk", "kqv", "kvq", "vqk", "vkq"}

// PermutingConventions are the conventions whose alternatives read the same weights in another
// arrangement — which rows are q, k or v, which dimensions RoPE pairs, which kv head a query
// reads, which half of a fused MLP projection gates — rather than changing a scale, a cap or a
// window. Under a wrong arrangement a trained model loses what it learned; no alternative of
// one can help a model trained as loaded, even a little, so the diagnosis needs a smaller gain
// to name one (analysis/thresholds.go).
var PermutingConventions = map[string]bool{
	ConvRopePairing: true, ConvGQAMapping: true, ConvQKVOrder: true, ConvQKVSplit: true, ConvGateUpOrder: true,
	ConvRopeRowsQ: true, ConvRopeRowsK: true, ConvRotaryDims: true,
}

// conventions lists the run conventions with the values the diagnosis tries: rope scaling for
// rotary families, the position offset for the others; norm is the family's own norm type
// (NormLayer or NormRMS) and ropeSign its own rotary sign ("": none, no rotary embedding).
func (r RunConventions) conventions(rotary bool, norm, ropeSign string) []Convention {
	out := []Convention{
		{Name: ConvAttnScale, Value: r.attnScaleName(), Values: []string{AttnRsqrtHeadDim, AttnInvHeadDim, AttnOne},
			Key: "the attention softmax scale (attention scaling, query_pre_attn_scalar)"},
		{Name: ConvEmbedScale, Value: map[bool]string{false: "none", true: "sqrt_d_model"}[r.EmbedScale], Values: []string{"none", "sqrt_d_model"},
			Key: "the embedding multiplier √hidden_size (Gemma's normalizer)"},
		{Name: ConvNormWeight, Value: map[bool]string{false: "w", true: "1+w"}[r.NormOffset], Values: []string{"w", "1+w"},
			Key: "how norms apply their weight: w, or (1 + w) as Gemma's RMSNorm"},
		{Name: ConvNormType, Value: r.normType(norm), Values: []string{NormLayer, NormRMS},
			Key: "the norm class: LayerNorm (subtracts the mean) or RMSNorm"},
		{Name: ConvAttnTemp, Value: formatFloat(temperature(r.AttnTemperature)), Values: []string{formatFloat(temperature(r.AttnTemperature))},
			Key: "a factor on the attention scores after their scale (none in any reference; not searched)", Free: true},
		{Name: ConvLogitSoftCap, Value: softCapName(r.LogitSoftCap), Values: uniq(softCapName(r.LogitSoftCap), "none", "30"),
			Key: "final_logit_softcapping", Free: true},
	}
	if !rotary { // rotary attention scores depend on relative positions only: an offset is inert
		out = append(out, Convention{Name: ConvPositionOffset, Value: strconv.Itoa(r.PositionOffset), Values: uniq(strconv.Itoa(r.PositionOffset), "0", "1"),
			Key: "the first position id (position_ids, a cache's offset)", Free: true})
	} else {
		if ropeSign != "" {
			out = append(out, Convention{Name: ConvRopeSign, Value: r.ropeSign(ropeSign), Values: []string{RopeSignPositive, RopeSignNegative},
				Key: "the direction of the rotary turn (rotate_half's y1 = x1·cos − x2·sin; nanochat's apply_rotary_emb turns by −θ)"})
		}
		out = append(out, Convention{Name: ConvRopeScaling, Value: formatFloat(r.ropeScale()), Values: uniq(formatFloat(r.ropeScale()), "1", "2", "4", "8"),
			Key: `rope_scaling {"rope_type": "linear", "factor"}`, Free: true})
		for _, c := range []struct{ name, value, role string }{{ConvRopeRowsQ, r.RopeRowsQ, "q"}, {ConvRopeRowsK, r.RopeRowsK, "k"}} {
			out = append(out, Convention{Name: c.name, Value: cmp.Or(c.value, RopeRowsPairing), Values: []string{RopeRowsPairing, RopeRowsOther},
				Key: "the order of " + c.role + "_proj's rotary rows (a converter's rotary permutation applied to " + c.role + " alone)"})
		}
	}
	return out
}

// rotaryDimsConvention is RotaryDims as a convention, listed by the families whose RoPE is
// partial (with a full one both values are the same).
func (r RunConventions) rotaryDimsConvention() Convention {
	return Convention{Name: ConvRotaryDims, Value: cmp.Or(r.RotaryDims, RotaryFirst), Values: []string{RotaryFirst, RotaryLast},
		Key: "which dimensions of each head a partial RoPE rotates: the first rotary_ndims (every transformers family), or the last"}
}

// set changes one run convention; ok is false when name is not one.
func (r *RunConventions) set(name, value string) (ok bool, err error) {
	switch name {
	case ConvAttnScale:
		err = checkValue(name, value, AttnRsqrtHeadDim, AttnInvHeadDim, AttnOne)
		r.AttnScale = value
	case ConvEmbedScale:
		err = checkValue(name, value, "none", "sqrt_d_model")
		r.EmbedScale = value == "sqrt_d_model"
	case ConvNormWeight:
		err = checkValue(name, value, "w", "1+w")
		r.NormOffset = value == "1+w"
	case ConvLogitSoftCap:
		r.LogitSoftCap = 0
		if value != "none" {
			r.LogitSoftCap, err = positiveFloat(name, value)
		}
	case ConvNormType:
		err = checkValue(name, value, NormLayer, NormRMS)
		r.NormType = value
	case ConvRopeSign:
		err = checkValue(name, value, RopeSignPositive, RopeSignNegative)
		r.RopeSign = value
	case ConvAttnTemp:
		r.AttnTemperature, err = positiveFloat(name, value)
	case ConvRopeRowsQ, ConvRopeRowsK:
		err = checkValue(name, value, RopeRowsPairing, RopeRowsOther)
		if name == ConvRopeRowsQ {
			r.RopeRowsQ = value
		} else {
			r.RopeRowsK = value
		}
	case ConvRotaryDims:
		err = checkValue(name, value, RotaryFirst, RotaryLast)
		r.RotaryDims = value
	case ConvPositionOffset:
		r.PositionOffset, err = strconv.Atoi(value)
		if err != nil || r.PositionOffset < 0 {
			err = fmt.Errorf("convention %s: value %q is not an integer ≥ 0", name, value)
		}
	case ConvRopeScaling:
		r.RopeScale, err = positiveFloat(name, value)
		if err == nil && r.RopeScale < 1 {
			err = fmt.Errorf("convention %s: factor %q is below 1", name, value)
		}
	default:
		return false, nil
	}
	return true, err
}

func (r RunConventions) attnScaleName() string {
	if r.AttnScale == "" {
		return AttnRsqrtHeadDim
	}
	return r.AttnScale
}

func (r RunConventions) ropeScale() float64 {
	if r.RopeScale == 0 {
		return 1
	}
	return r.RopeScale
}

// temperature is a temperature field's factor: 1 for the zero value.
func temperature(t float64) float64 {
	if t == 0 {
		return 1
	}
	return t
}

// temper multiplies x by the temperature t unless it is none (0 or 1: no operation).
func temper(x *Node, t float64) *Node {
	if t == 0 || t == 1 {
		return x
	}
	return MulScalar(x, t)
}

// attnScale is the factor of q·kᵀ for heads of hd dimensions.
func (r RunConventions) attnScale(hd int) float64 {
	switch r.AttnScale {
	case AttnInvHeadDim:
		return 1 / float64(hd)
	case AttnOne:
		return 1
	}
	return 1 / math.Sqrt(float64(hd))
}

// embed scales a token embedding (…, D) by √D when EmbedScale is on (after FaultDropout's
// mask, when a Step switches it on).
func (r RunConventions) embed(x *Node) *Node {
	x = r.dropEmbedding(x)
	if !r.EmbedScale {
		return x
	}
	return MulScalar(x, math.Sqrt(float64(x.Shape().Dimensions[x.Rank()-1])))
}

// ropeSign is the rotary sign in effect for a family whose own is own.
func (r RunConventions) ropeSign(own string) string {
	if r.RopeSign != "" {
		return r.RopeSign
	}
	return own
}

// normType is the norm type in effect for a family whose own is own.
func (r RunConventions) normType(own string) string {
	if r.NormType != "" {
		return r.NormType
	}
	return own
}

// normalize is a norm over x's last axis before its weight, for a family whose own norm type is
// own (Run.NormType overrides it): (x − mean)/√(var + eps) (LayerNorm, biased variance) or
// x/√(mean(x²) + eps) (RMSNorm). Shapes (…, D) → (…, D).
func (r RunConventions) normalize(x *Node, eps float64, own string) *Node {
	if r.normType(own) == NormLayer {
		x = Sub(x, ReduceAndKeep(x, ReduceMean, -1)) // (…, D)
	}
	ms := ReduceAndKeep(Square(x), ReduceMean, -1) // (…, 1)
	return Div(x, Sqrt(AddScalar(ms, eps)))
}

// normWeight is the weight a norm applies: w, or 1 + w under NormOffset.
func (r RunConventions) normWeight(w *Node) *Node {
	if !r.NormOffset {
		return w
	}
	return OnePlus(w)
}

// softCap caps logits as c·tanh(x/c) when LogitSoftCap is set.
func (r RunConventions) softCap(x *Node) *Node {
	if r.LogitSoftCap <= 0 {
		return x
	}
	return MulScalar(Tanh(DivScalar(x, r.LogitSoftCap)), r.LogitSoftCap)
}

// rope is the rotary embedding of the positions under these conventions.
func (r RunConventions) rope(theta float64, layout string) Rope {
	return Rope{Theta: theta, Layout: layout, Offset: r.firstPosition(), Scale: r.ropeScale(), Rows: r.Step.rowShift(), Negative: r.RopeSign == RopeSignNegative, Last: r.RotaryDims == RotaryLast}
}

// ropeRows returns q and k (B, T, H, hd) with the rotaryDim rotary dimensions of each head (the
// first, or the last under RotaryLast; 0 or hd: all of them) of the roles whose rows are stored in
// the other pairing's order (RopeRowsQ, RopeRowsK) put in pairing's order: interleaved rows
// 2j + p are read as rotate_half's p·rd/2 + j, and the reverse.
func (r RunConventions) ropeRows(q, k *Node, pairing string, rotaryDim int) (*Node, *Node) {
	reorder := func(x *Node) *Node {
		d := x.Shape().Dimensions // (B, T, H, hd)
		rd := rotaryDim
		if rd == 0 {
			rd = d[3]
		}
		from := 0
		if r.RotaryDims == RotaryLast {
			from = d[3] - rd
		}
		rot := SliceAxis(x, 3, AxisRange(from, from+rd))
		a, b := rd/2, 2 // stored (j, p), read (p, j): interleaved → halves
		if pairing == config.RopeInterleaved {
			a, b = 2, rd/2 // stored (p, j), read (j, p): halves → interleaved
		}
		rot = Reshape(TransposeAllAxes(Reshape(rot, d[0], d[1], d[2], a, b), 0, 1, 2, 4, 3), d[0], d[1], d[2], rd)
		if rd == d[3] {
			return rot
		}
		if from > 0 {
			return Concatenate([]*Node{SliceAxis(x, 3, AxisRange(0, from)), rot}, 3)
		}
		return Concatenate([]*Node{rot, SliceAxis(x, 3, AxisRange(rd, d[3]))}, 3)
	}
	if r.RopeRowsQ == RopeRowsOther {
		q = reorder(q)
	}
	if r.RopeRowsK == RopeRowsOther {
		k = reorder(k)
	}
	return q, k
}

func softCapName(c float64) string {
	if c <= 0 {
		return "none"
	}
	return formatFloat(c)
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func positiveFloat(name, value string) (float64, error) {
	x, err := strconv.ParseFloat(value, 64)
	if err != nil || !(x > 0) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("convention %s: value %q is not a positive number", name, value)
	}
	return x, nil
}

// uniq returns the values in order without repeats.
func uniq(values ...string) []string {
	var out []string
	for _, v := range values {
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// ropeThetaConvention is the rotary base with the ladder of RopeThetaLadder.
func ropeThetaConvention(theta float64) Convention {
	vals := []string{formatFloat(theta)}
	for _, t := range RopeThetaLadder {
		vals = append(vals, formatFloat(t))
	}
	return Convention{Name: ConvRopeTheta, Value: formatFloat(theta), Values: uniq(vals...), Key: "rope_theta", Free: true}
}
