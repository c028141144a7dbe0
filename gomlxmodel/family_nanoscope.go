package gomlxmodel

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

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

// ParamSpecs lists the candle tensors of (Config, Variant) with the original's initialisers.
func (m Model) ParamSpecs() []ParamSpec {
	shapes := m.Config.TensorShapes(m.Variant)
	out := make([]ParamSpec, 0, len(shapes))
	for _, name := range config.SortedNames(shapes) {
		out = append(out, ParamSpec{Name: name, Shape: slices.Clone(shapes[name]), Init: InitOf(name)})
	}
	return out
}

// Unembed is the final RMSNorm and the head. With mHC, callers pass the stream they lens
// (s0, s1 or their mean, which is what Forward collapses to).
func (m Model) Unembed(ctx *model.Scope, resid *Node) *Node {
	return m.Head(ctx, RMSNorm(resid, m.Run.normWeight(param(ctx, resid.Graph(), ParamNormFinal))))
}

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

// Conventions of the model: RoPE pairing and base, GQA mapping (searched only when kv heads
// are shared), causal mask, tying, and the run conventions.
func (m Model) Conventions() []Convention {
	return append([]Convention{
		{ConvRopePairing, m.Variant.Rope(), []string{config.RopeHalves, config.RopeInterleaved}, "meta.json's variant.rope_layout (--rope-layout)", false, false},
		ropeThetaConvention(m.Config.RopeTheta),
		{Name: ConvGQAMapping, Value: m.Variant.GQA(), Values: []string{config.GQATile, config.GQAInterleave}, Key: "meta.json's variant.gqa_map (--gqa-map)", Inert: m.Config.NKVHeads == m.Config.NHeads},
		{ConvCausal, boolString(!m.Variant.NoCausalMask), []string{"true", "false"}, "meta.json's variant.no_causal_mask", false, false},
		{ConvTiedHead, boolString(m.Config.WeightTied), []string{"true", "false"}, "config.weight_tied", false, false},
	}, m.Run.conventions(true)...)
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
