package gomlxmodel

import (
	"fmt"
	"strconv"
	"strings"
)

// Names of parameters and activations. Every name the families, the trainer, the instruments
// and the notebooks use is built (and parsed) here, so that one vocabulary runs from the
// checkpoint to the plot labels.
//
// Activations (hooks) follow TransformerLens. The ternary model (Model) suffixes each residual
// stream with its mHC stream (".s0", and ".s1" with mHC) and calls its feed-forward sub-block
// "ffn"; GPT-2 and Llama have one stream, no suffix, and call it "mlp". Shapes, for batch B,
// T tokens, width D, H heads of size hd and feed-forward width F:
//
//	hook_embed                           (B, T, D)     token embeddings
//	hook_pos_embed                       (1, T, D)     GPT-2 only: position embeddings wpe[0:T]
//	blocks.{i}.hook_resid_pre[.s{0,1}]   (B, T, D)     residual stream(s) entering block i
//	blocks.{i}.attn.hook_in              (B, T, D)     normalised attention input u
//	blocks.{i}.attn.hook_pattern         (B, H, T, T)  attention probabilities
//	blocks.{i}.attn.hook_z               (B, T, H·hd)  ternary model; (B, T, H, hd) GPT-2, Llama:
//	                                                   the heads' outputs, what wo (c_proj, o_proj) reads
//	blocks.{i}.attn.hook_out             (B, T, D)     attention output y
//	blocks.{i}.hook_resid_mid[.s{0,1}]   (B, T, D)     stream(s) after the attention sub-block
//	blocks.{i}.{ffn,mlp}.hook_in         (B, T, D)     normalised feed-forward input u
//	blocks.{i}.{ffn,mlp}.hook_post       (B, T, F)     silu(gate) ⊙ up (GPT-2: gelu(c_fc)), what
//	                                                   w_down (c_proj, down_proj) reads
//	blocks.{i}.{ffn,mlp}.hook_out        (B, T, D)     feed-forward output y
//	blocks.{i}.hook_resid_post[.s{0,1}]  (B, T, D)     stream(s) leaving block i
//	hook_collapse                        (B, T, D)     ternary model: (s0 + s1)/2 (s0 without mHC)
//	norm_final.hook_out                  (B, T, D)     ternary model: the head's input
//	ln_final.hook_out                    (B, T, D)     GPT-2, Llama: the head's input
//
// Parameters keep their checkpoint names: the candle names of the ternary model
// ("blocks.3.attn.wq.weight", see config.Config.TensorShapes) and Hugging Face's for GPT-2
// ("transformer.h.3.attn.c_attn.weight") and Llama ("model.layers.3.self_attn.q_proj.weight").

// Hook names and the parts they are built from.
const (
	HookEmbed     = "hook_embed"
	HookPosEmbed  = "hook_pos_embed"
	HookCollapse  = "hook_collapse"
	HookNormFinal = "norm_final.hook_out" // the ternary model's final norm
	HookLnFinal   = "ln_final.hook_out"   // GPT-2's and Llama's final norm

	HookResidPre  = "hook_resid_pre"
	HookResidMid  = "hook_resid_mid"
	HookResidPost = "hook_resid_post"
	HookIn        = "hook_in"
	HookPattern   = "hook_pattern"
	HookZ         = "hook_z"
	HookOut       = "hook_out"
	HookPost      = "hook_post"

	SubAttn = "attn" // attention sub-block (all families)
	SubFFN  = "ffn"  // the ternary model's feed-forward sub-block
	SubMLP  = "mlp"  // GPT-2's and Llama's feed-forward sub-block (TransformerLens)
)

// Block roots: what precedes the block index in a name.
const (
	RootBlocks = "blocks"          // hooks of every family, parameters of the ternary model
	RootGPT2   = "transformer.h"   // GPT-2 parameters
	RootLlama  = "model.layers"    // Llama parameters
	RootNeoX   = "gpt_neox.layers" // GPT-NeoX parameters
)

// Parameters of the ternary model outside the blocks, and the leaves of its mHC parameters.
const (
	ParamTokEmbed  = "tok_embed.weight"
	ParamNormFinal = "norm_final.weight"
	ParamLMHead    = "lm_head.weight" // every family's untied head

	MHCAlphaLogit = "alpha_logit"
	MHCPreLogits  = "pre_logits"
	MHCPreBias    = "pre_bias"
	MHCPostLogits = "post_logits"
	MHCPostBias   = "post_bias"
)

// Parameters of GPT-2 and Llama outside the blocks.
const (
	GPT2Wte    = "transformer.wte.weight"
	GPT2Wpe    = "transformer.wpe.weight"
	GPT2LnF    = "transformer.ln_f" // a LayerNorm: .weight and .bias
	LlamaEmbed = "model.embed_tokens.weight"
	LlamaNorm  = "model.norm.weight"
)

// Block is "blocks.{i}", the hook prefix of block i (and the ternary model's parameter prefix).
func Block(i int) string { return RootBlocks + "." + strconv.Itoa(i) }

// BlockHook is hook of block i: BlockHook(3, HookResidPre) = "blocks.3.hook_resid_pre".
func BlockHook(i int, hook string) string { return Block(i) + "." + hook }

// StreamHook is stream k of a residual hook of block i:
// StreamHook(3, HookResidPost, 1) = "blocks.3.hook_resid_post.s1".
func StreamHook(i int, hook string, k int) string { return WithStream(BlockHook(i, hook), k) }

// WithStream suffixes a hook with mHC stream k: "….hook_resid_post" → "….hook_resid_post.s0".
func WithStream(hook string, k int) string { return hook + ".s" + strconv.Itoa(k) }

// SubHook is hook of sub-block sub of block i: SubHook(3, SubAttn, HookZ) = "blocks.3.attn.hook_z".
func SubHook(i int, sub, hook string) string { return Block(i) + "." + sub + "." + hook }

// BlockParam is the ternary model's parameter path of block i:
// BlockParam(3, "mhc_ffn.alpha_logit") = "blocks.3.mhc_ffn.alpha_logit".
func BlockParam(i int, path string) string { return Block(i) + "." + path }

// AttnWeight is attention matrix w ("wq", "wk", "wv", "wo") of block i: "blocks.3.attn.wq.weight".
func AttnWeight(i int, w string) string { return BlockParam(i, SubAttn+"."+w+".weight") }

// FFNWeight is feed-forward matrix w ("w_gate", "w_up", "w_down") of block i:
// "blocks.3.ffn.w_down.weight".
func FFNWeight(i int, w string) string { return BlockParam(i, SubFFN+"."+w+".weight") }

// NormWeight is the RMSNorm weight before sub-block sub (SubAttn, SubFFN) of block i:
// "blocks.3.norm_attn.weight".
func NormWeight(i int, sub string) string { return BlockParam(i, "norm_"+sub+".weight") }

// MHCParam is mHC parameter leaf (MHCAlphaLogit, ...) of the mixing around sub-block sub of
// block i: MHCParam(3, SubFFN, MHCAlphaLogit) = "blocks.3.mhc_ffn.alpha_logit".
func MHCParam(i int, sub, leaf string) string { return BlockParam(i, "mhc_"+sub+"."+leaf) }

// GPT2Param is GPT-2 parameter path of block i: GPT2Param(3, "attn.c_attn.weight") =
// "transformer.h.3.attn.c_attn.weight".
func GPT2Param(i int, path string) string { return RootGPT2 + "." + strconv.Itoa(i) + "." + path }

// LlamaParam is Llama parameter path of layer i: LlamaParam(3, "self_attn.q_proj.weight") =
// "model.layers.3.self_attn.q_proj.weight".
func LlamaParam(i int, path string) string {
	return RootLlama + "." + strconv.Itoa(i) + "." + path
}

// Name is a parameter or hook name taken apart:
//
//	"blocks.3.hook_resid_post.s1"        {Root "blocks", Block 3, Sub "", Leaf "hook_resid_post", Stream 1}
//	"blocks.3.attn.wq.weight"            {Root "blocks", Block 3, Sub "attn.wq", Leaf "weight", Stream −1}
//	"transformer.h.0.attn.c_attn.weight" {Root "transformer.h", Block 0, Sub "attn.c_attn", Leaf "weight", Stream −1}
//	"norm_final.hook_out"                {Root "", Block −1, Sub "norm_final", Leaf "hook_out", Stream −1}
//	"hook_embed"                         {Root "", Block −1, Sub "", Leaf "hook_embed", Stream −1}
type Name struct {
	Root   string // RootBlocks, RootGPT2 or RootLlama; "" outside the blocks
	Block  int    // the block index; −1 outside the blocks
	Sub    string // the path between the block (or the start) and Leaf, dot-separated; may be ""
	Leaf   string // the last component before the stream: a hook ("hook_…") or a tensor ("weight")
	Stream int    // mHC stream 0 or 1 of a hook with suffix ".s0"/".s1"; −1 when none
}

// IsHook reports whether n names an activation.
func (n Name) IsHook() bool { return strings.HasPrefix(n.Leaf, "hook_") }

// IsMHC reports whether n is a parameter of the ternary model's mHC mixing:
// "blocks.{i}.mhc_{attn,ffn}.{leaf}".
func (n Name) IsMHC() bool {
	return n.Root == RootBlocks && strings.HasPrefix(n.Sub, "mhc_") && !strings.Contains(n.Sub, ".")
}

// IsBitLinear reports whether n is a BitLinear (ternary) weight of the ternary model:
// "blocks.{i}.attn.{wq,wk,wv,wo}.weight" or "blocks.{i}.ffn.{w_gate,w_up,w_down}.weight".
func (n Name) IsBitLinear() bool {
	sub, w, ok := strings.Cut(n.Sub, ".")
	return n.Root == RootBlocks && ok && (sub == SubAttn || sub == SubFFN) && n.Leaf == "weight" && !strings.Contains(w, ".")
}

// IsNorm reports whether n is an RMSNorm weight of the ternary model: "norm_final.weight" or
// "blocks.{i}.norm_{attn,ffn}.weight".
func (n Name) IsNorm() bool {
	return n.Leaf == "weight" && (n.Block < 0 && n.Sub == "norm_final" ||
		n.Root == RootBlocks && (n.Sub == "norm_"+SubAttn || n.Sub == "norm_"+SubFFN))
}

// IsBitLinearWeight reports whether name is the weight of one of the ternary model's BitLinears
// ("blocks.{i}.attn.wq.weight", "blocks.{i}.ffn.w_down.weight", …): the 2-D matrices Muon trains.
func IsBitLinearWeight(name string) bool {
	n, err := ParseName(name)
	return err == nil && n.IsBitLinear()
}

// IsAlphaLogit reports whether name is an mHC alpha_logit ("blocks.{i}.mhc_ffn.alpha_logit").
func IsAlphaLogit(name string) bool {
	n, err := ParseName(name)
	return err == nil && n.IsMHC() && n.Leaf == MHCAlphaLogit
}

// String is the name n was parsed from.
func (n Name) String() string {
	var parts []string
	if n.Block >= 0 {
		parts = append(parts, n.Root, strconv.Itoa(n.Block))
	}
	if n.Sub != "" {
		parts = append(parts, n.Sub)
	}
	s := strings.Join(append(parts, n.Leaf), ".")
	if n.Stream >= 0 {
		s = WithStream(s, n.Stream)
	}
	return s
}

// ParseName takes a parameter or hook name apart. It rejects empty components, characters
// other than letters, digits and '_', a block root without a decimal index (or with nothing
// after it), numeric components elsewhere, a hook that is not the last component, and a
// stream suffix other than .s0 and .s1.
func ParseName(s string) (Name, error) {
	fail := func(why string) (Name, error) {
		return Name{}, fmt.Errorf("gomlxmodel: malformed name %q: %s", s, why)
	}
	if s == "" {
		return fail("empty")
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" {
			return fail("empty component")
		}
		for _, r := range p {
			if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fail(fmt.Sprintf("character %q", r))
			}
		}
	}
	n := Name{Block: -1, Stream: -1}
	if k := len(parts); k >= 2 && strings.HasPrefix(parts[k-2], "hook_") && isStream(parts[k-1]) {
		if parts[k-1] != "s0" && parts[k-1] != "s1" {
			return fail(fmt.Sprintf("stream %s is not s0 or s1", parts[k-1]))
		}
		n.Stream = int(parts[k-1][1] - '0')
		parts = parts[:k-1]
	}
	for _, root := range []string{RootBlocks, RootGPT2, RootLlama, RootNeoX} {
		r := strings.Split(root, ".")
		if len(parts) < len(r) || strings.Join(parts[:len(r)], ".") != root {
			continue
		}
		if len(parts) == len(r) || !isIndex(parts[len(r)]) {
			return fail(root + " without a block index")
		}
		n.Root, n.Block = root, atoi(parts[len(r)])
		parts = parts[len(r)+1:]
		if len(parts) == 0 {
			return fail("nothing after the block index")
		}
		break
	}
	for i, p := range parts {
		if isDigits(p) {
			return fail(fmt.Sprintf("numeric component %s", p))
		}
		if i < len(parts)-1 && strings.HasPrefix(p, "hook_") {
			return fail(fmt.Sprintf("hook %s is not the last component", p))
		}
	}
	n.Sub, n.Leaf = strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	return n, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isIndex: decimal digits without a leading zero.
func isIndex(s string) bool { return isDigits(s) && (s == "0" || s[0] != '0') && len(s) <= 9 }

// isStream: "s" and digits.
func isStream(s string) bool { return len(s) >= 2 && s[0] == 's' && isDigits(s[1:]) }

func atoi(s string) int {
	i, _ := strconv.Atoi(s)
	return i
}
