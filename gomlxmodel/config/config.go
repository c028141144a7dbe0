// Package config holds the model and training configuration of the investigated model
// (REFERENCE.md §2), its presets, and the exact set of tensors a checkpoint of a given
// configuration must contain.
//
// Config mirrors the original's serde TrainConfig field for field, so that meta.json files
// written by either implementation parse into it. Variant carries nanoscope's ablation switches
// (ternary off, mHC off, unshifted targets ...); it is stored in meta.json under "nanoscope" and
// defaults to the original architecture when absent.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Config is the original's TrainConfig (REFERENCE.md §2), serialised with the same JSON names.
// Sizes count elements; steps are optimizer steps; rates are per step.
type Config struct {
	Dim      int `json:"dim"` // residual width D
	NLayers  int `json:"n_layers"`
	NHeads   int `json:"n_heads"`    // query heads; the head width is Dim/NHeads (HeadDim)
	NKVHeads int `json:"n_kv_heads"` // key/value heads (GQA: NHeads is a multiple of it)
	// FFNMult scales the SwiGLU hidden width: Dim·FFNMult rounded *up* to a multiple of
	// GroupSize (FFNDim), not to the nearest integer.
	FFNMult   float64 `json:"ffn_mult"`
	VocabSize int     `json:"vocab_size"`
	MaxSeqLen int     `json:"max_seq_len"` // training window T; RoPE itself has no table of positions
	// GroupSize is BitLinear's quantisation group: each run of GroupSize consecutive weights
	// (row-major) shares one scale mean|w|.
	GroupSize   int     `json:"group_size"`
	MHCNStreams int     `json:"mhc_n_streams"` // residual streams of mHC (the original: 2; Variant.MHC switches mHC off)
	WeightTied  bool    `json:"weight_tied"`   // logits = x·tok_embedᵀ (no lm_head tensor)
	RopeTheta   float64 `json:"rope_theta"`    // RoPE base θ
	// LR is Muon's peak rate for the 2-D attention and FFN weights (AdamW's for every tensor
	// with Variant.Optimizer "adamw"), scaled by the WSD schedule.
	LR float64 `json:"lr"`
	// MHCLR, despite its name, is Lion's peak rate for every tensor Muon does not train: the
	// embedding, lm_head and all 1-D parameters (norm weights and the mHC logits, biases and
	// alpha_logit), scaled by the same schedule.
	MHCLR float64 `json:"mhc_lr"`
	// WeightDecay is the decoupled decay of Muon's (or AdamW's) updates; Lion's have none.
	WeightDecay    float64 `json:"weight_decay"`
	BatchSize      int     `json:"batch_size"`       // windows per step
	GradAccumSteps int     `json:"grad_accum_steps"` // must be 1: accumulation is not implemented
	WarmupSteps    int     `json:"warmup_steps"`     // linear warmup of both rates from 0
	TotalSteps     int     `json:"total_steps"`
	// DecayStartFrac is the share of TotalSteps after which the rates decay (cosine, to
	// 0.1 × peak at the last step); before it they stay at their peak.
	DecayStartFrac float64 `json:"decay_start_frac"`
	GradClip       float64 `json:"grad_clip"`     // global gradient-norm clip (0: none), before either optimizer
	NSSteps        int     `json:"ns_steps"`      // Newton–Schulz iterations orthogonalising Muon's direction
	MuonMomentum   float64 `json:"muon_momentum"` // Muon's Nesterov momentum
	// LionBetas are Lion's (β1, β2): the interpolation of the update's sign and the momentum's
	// decay.
	LionBetas [2]float64 `json:"lion_betas"`
}

// Variant holds nanoscope's switches for the ablations the investigation note asks for.
// The zero value is NOT the original: use DefaultVariant.
type Variant struct {
	// Ternary enables BitLinear's ternary weights and 8-bit activations (straight-through).
	Ternary bool `json:"ternary"`
	// MHC enables mHC-lite with two streams; false gives a plain pre-norm residual block.
	MHC bool `json:"mhc"`
	// TargetShift is the offset of the training target: 1 is next-token prediction (the
	// original), 0 trains the model to reproduce the current token (a control for H1), 2 and 3
	// the "labels shifted twice" mistakes (MaxTargetShift at most).
	TargetShift int `json:"target_shift"`
	// NoCausalMask trains and runs attention without the causal mask: every position sees the
	// whole window, later tokens included (the "future leakage" fault). false is the original.
	NoCausalMask bool `json:"no_causal_mask,omitempty"`
	// RopeLayout is the RoPE pairing: RopeHalves ("" or "halves": dimension i rotates with
	// i + hd/2, the original's and Hugging Face's rotate_half) or RopeInterleaved (dimension
	// 2i rotates with 2i+1, Meta's original Llama and GPT-NeoX-style complex pairs).
	RopeLayout string `json:"rope_layout,omitempty"`
	// GQAMap is how query heads share kv heads: GQATile ("" or "tile": query head h reads kv
	// head h mod n_kv_heads, candle's repeat as in the original) or GQAInterleave (query head h
	// reads kv head h / (n_heads/n_kv_heads), PyTorch's repeat_interleave and Hugging Face's
	// repeat_kv).
	GQAMap string `json:"gqa_map,omitempty"`
	// Optimizer is "muon-lion" (the original) or "adamw".
	Optimizer string `json:"optimizer"`
	// Tokenizer names the tokenizer of the ids ("r50k_base" or "" when unknown).
	Tokenizer string `json:"tokenizer,omitempty"`
	// VocabMap names a file beside the checkpoint mapping model ids to GPT-2 ids, when the
	// vocabulary was compacted.
	VocabMap string `json:"vocab_map,omitempty"`
	// Seed of the initialisation and of the data order.
	Seed int64 `json:"seed"`
}

// Conventions of Variant.RopeLayout and Variant.GQAMap, and the largest target shift.
const (
	RopeHalves      = "halves"
	RopeInterleaved = "interleaved"
	GQATile         = "tile"
	GQAInterleave   = "interleave"
	MaxTargetShift  = 3
)

// Rope returns the RoPE layout in effect (RopeHalves when unset).
func (v Variant) Rope() string {
	if v.RopeLayout == "" {
		return RopeHalves
	}
	return v.RopeLayout
}

// GQA returns the query-head → kv-head mapping in effect (GQATile when unset).
func (v Variant) GQA() string {
	if v.GQAMap == "" {
		return GQATile
	}
	return v.GQAMap
}

// CheckConventions validates TargetShift, RopeLayout and GQAMap.
func (v Variant) CheckConventions() error {
	if v.TargetShift < 0 || v.TargetShift > MaxTargetShift {
		return fmt.Errorf("target_shift must be in [0, %d] (got %d)", MaxTargetShift, v.TargetShift)
	}
	if r := v.Rope(); r != RopeHalves && r != RopeInterleaved {
		return fmt.Errorf("rope_layout must be %q or %q (got %q)", RopeHalves, RopeInterleaved, v.RopeLayout)
	}
	if g := v.GQA(); g != GQATile && g != GQAInterleave {
		return fmt.Errorf("gqa_map must be %q or %q (got %q)", GQATile, GQAInterleave, v.GQAMap)
	}
	return nil
}

// DefaultVariant is the original architecture and training recipe.
func DefaultVariant() Variant {
	return Variant{Ternary: true, MHC: true, TargetShift: 1, Optimizer: "muon-lion", Tokenizer: "r50k_base"}
}

// D20 is the original "d20" preset, exactly (REFERENCE.md §2).
func D20() Config {
	return Config{
		Dim: 256, NLayers: 6, NHeads: 4, NKVHeads: 4, FFNMult: 2.6875, VocabSize: 50257,
		MaxSeqLen: 256, GroupSize: 128, MHCNStreams: 2, WeightTied: true, RopeTheta: 10000,
		LR: 0.02, MHCLR: 1e-4, WeightDecay: 0, BatchSize: 32, GradAccumSteps: 1,
		WarmupSteps: 100, TotalSteps: 5000, DecayStartFrac: 0.8, GradClip: 1.0, NSSteps: 5,
		MuonMomentum: 0.95, LionBetas: [2]float64{0.9, 0.99},
	}
}

// TinyCPU is the original "tiny_cpu" preset.
func TinyCPU() Config {
	c := D20()
	c.NLayers, c.FFNMult, c.VocabSize = 4, 2.0, 4096
	return c
}

// CPU is nanoscope's preset, sized so that training takes about three minutes on a 2-core
// machine with the pure-Go backend: the d20 architecture and recipe (ternary BitLinear, mHC,
// tied N(0,1) embedding, Muon + Lion, WSD, clipping) at dim 64, 2 layers, 64-token windows,
// 400 steps. Lion's rate is raised from 1e-4 to 1e-2: at 1e-4 the embedding, norms and mHC
// parameters could move at most 0.04 in 400 steps. VocabSize is set from the corpus's compact
// vocabulary at training time.
func CPU() Config {
	c := D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 64, 2, 4, 4, 2.0
	c.MaxSeqLen, c.BatchSize = 64, 16
	c.VocabSize = 2048
	c.WarmupSteps, c.TotalSteps = 20, 400
	c.MHCLR = 1e-2
	return c
}

// D40 and D60 answer the note's last next step — "maybe d20 (256 dim) is too small? Try d40
// or d60" — by widening d20 to dim 512 and 768, the note's meaning of the names (d20's 20 is
// not a depth: it has 6 layers). Only the width and what must follow it change:
//   - n_heads (and n_kv_heads, no GQA as in d20) grow with dim, 8 and 12, so head_dim stays
//     64: attention per head is the same; only the number of heads grows;
//   - the FFN keeps ffn_mult 2.6875 (FFNDim rounds it up to a multiple of group_size: 1408
//     and 2176 hidden units).
//
// Depth (6 layers), vocabulary, sequence, batch, group size, the schedule and the optimizers'
// rates stay those of d20, so that width is the only variable of the comparison (Muon's update
// is orthogonalised and scaled by sqrt(rows/cols), so its rate needs no width correction;
// Lion's sign update is width-free too).
func D40() Config {
	c := D20()
	c.Dim, c.NHeads, c.NKVHeads = 512, 8, 8
	return c
}

// D60 is d20 widened to dim 768 with 12 heads of 64; see D40.
func D60() Config {
	c := D20()
	c.Dim, c.NHeads, c.NKVHeads = 768, 12, 12
	return c
}

// Preset returns a named preset.
func Preset(name string) (Config, error) {
	switch name {
	case "d20":
		return D20(), nil
	case "d40":
		return D40(), nil
	case "d60":
		return D60(), nil
	case "tiny_cpu":
		return TinyCPU(), nil
	case "cpu":
		return CPU(), nil
	}
	return Config{}, fmt.Errorf("unknown preset %q (want cpu, tiny_cpu, d20, d40 or d60)", name)
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.NHeads }

// FFNDim is the SwiGLU hidden width, rounded up to a multiple of GroupSize as the original does:
// ceil(dim·ffn_mult / group_size)·group_size.
func (c Config) FFNDim() int {
	g := float64(c.GroupSize)
	return int(math.Ceil(float64(c.Dim)*c.FFNMult/g)) * c.GroupSize
}

// Validate checks that the configuration describes a buildable model.
func (c Config) Validate() error {
	switch {
	case c.Dim <= 0 || c.NLayers <= 0 || c.NHeads <= 0 || c.NKVHeads <= 0 || c.VocabSize <= 0:
		return fmt.Errorf("config: dim, n_layers, n_heads, n_kv_heads and vocab_size must be positive (got %d, %d, %d, %d, %d)",
			c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize)
	case c.Dim%c.NHeads != 0:
		return fmt.Errorf("config: dim %d is not a multiple of n_heads %d", c.Dim, c.NHeads)
	case c.NHeads%c.NKVHeads != 0:
		return fmt.Errorf("config: n_heads %d is not a multiple of n_kv_heads %d", c.NHeads, c.NKVHeads)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("config: head_dim %d must be even for RoPE", c.HeadDim())
	case c.GroupSize <= 0:
		return fmt.Errorf("config: group_size must be positive (got %d)", c.GroupSize)
	case c.FFNMult <= 0:
		return fmt.Errorf("config: ffn_mult must be positive (got %g)", c.FFNMult)
	case c.MaxSeqLen <= 0:
		return fmt.Errorf("config: max_seq_len must be positive (got %d)", c.MaxSeqLen)
	case c.MHCNStreams != 2:
		return fmt.Errorf("config: mhc_n_streams %d not supported (mHC-lite is n=2)", c.MHCNStreams)
	case c.RopeTheta <= 0:
		return fmt.Errorf("config: rope_theta must be positive (got %g)", c.RopeTheta)
	}
	return nil
}

// TensorShapes lists every tensor a checkpoint of this configuration holds, with its shape
// ([out, in] for linear weights), under the candle VarBuilder names of REFERENCE.md §2. The
// names are those gomlxmodel's names.go builds (this package cannot import it; its
// TestFamilyNamesParse checks that the two agree).
func (c Config) TensorShapes(v Variant) map[string][]int {
	d, hd, f := c.Dim, c.HeadDim(), c.FFNDim()
	m := map[string][]int{
		"tok_embed.weight":  {c.VocabSize, d},
		"norm_final.weight": {d},
	}
	if !c.WeightTied {
		m["lm_head.weight"] = []int{c.VocabSize, d}
	}
	for i := 0; i < c.NLayers; i++ {
		p := fmt.Sprintf("blocks.%d.", i)
		if v.MHC {
			for _, mhc := range []string{"mhc_attn", "mhc_ffn"} {
				m[p+mhc+".alpha_logit"] = []int{1}
				for _, n := range []string{"pre_logits", "pre_bias", "post_logits", "post_bias"} {
					m[p+mhc+"."+n] = []int{2}
				}
			}
		}
		m[p+"norm_attn.weight"] = []int{d}
		m[p+"norm_ffn.weight"] = []int{d}
		m[p+"attn.wq.weight"] = []int{c.NHeads * hd, d}
		m[p+"attn.wk.weight"] = []int{c.NKVHeads * hd, d}
		m[p+"attn.wv.weight"] = []int{c.NKVHeads * hd, d}
		m[p+"attn.wo.weight"] = []int{d, c.NHeads * hd}
		m[p+"ffn.w_gate.weight"] = []int{f, d}
		m[p+"ffn.w_up.weight"] = []int{f, d}
		m[p+"ffn.w_down.weight"] = []int{d, f}
	}
	return m
}

// SortedNames returns the tensor names of TensorShapes in a stable order.
func SortedNames(m map[string][]int) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// requiredFields are the TrainConfig fields a meta.json must carry: a config with a missing
// field would silently take Go's zero value, which is never what the writer meant.
var requiredFields = []string{"dim", "n_layers", "n_heads", "n_kv_heads", "ffn_mult", "vocab_size",
	"max_seq_len", "group_size", "mhc_n_streams", "weight_tied", "rope_theta", "lr", "mhc_lr",
	"weight_decay", "batch_size", "grad_accum_steps", "warmup_steps", "total_steps",
	"decay_start_frac", "grad_clip", "ns_steps", "muon_momentum", "lion_betas"}

// ParseStrict decodes a TrainConfig JSON object, rejecting unknown and missing fields.
func ParseStrict(raw []byte) (Config, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Config{}, fmt.Errorf("config is not a JSON object: %w", err)
	}
	for _, k := range requiredFields {
		if _, ok := fields[k]; !ok {
			return Config{}, fmt.Errorf("config field %q is missing", k)
		}
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
