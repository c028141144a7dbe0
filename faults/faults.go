// Package faults builds checkpoints with known faults — the ways a trained language model
// fails at inference that analysis.Findings names — with nanoscope's own trainer, on small
// synthetic token streams where the fault shows within a few seconds of training on two cores.
// The tests of the fault catalog and notebook 11_fault_gallery use it; nothing here is needed
// to diagnose a real checkpoint.
//
// The streams are written here because no library generates token streams with a chosen
// dependence on the context.
package faults

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/train"
)

// Contextual is a stream where attention matters: with probability 0.9 a token is
// f(a) = (7a + 3) mod vocab of the token two places back, else it is drawn from Skewed. The
// next token is then f of the previous one (read through relative attention, so RoPE and the
// kv heads matter), and the token two ahead is f of the current one.
func Contextual(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 5))
	out := make([]uint32, n)
	for i := range out {
		if i >= 2 && rng.IntN(10) != 0 {
			out[i] = uint32((7*int(out[i-2]) + 3) % vocab)
		} else {
			out[i] = Skewed(rng, vocab)
		}
	}
	return out
}

// Unigram is i.i.d. draws of Skewed: a stream with no context to learn.
func Unigram(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]uint32, n)
	for i := range out {
		out[i] = Skewed(rng, vocab)
	}
	return out
}

// Skewed draws from a Zipf-like distribution over [0, vocab): ⌊vocab·u²⌋, u uniform.
func Skewed(rng *rand.Rand, vocab int) uint32 {
	return uint32(min(vocab-1, int(math.Floor(float64(vocab)*math.Pow(rng.Float64(), 2)))))
}

// Config is the model of the fault builds: two layers of width 32, four query heads on two kv
// heads (so the GQA mapping matters), a 24-token vocabulary, 150 steps of the original recipe.
func Config() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 2
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 24, 32, 32, 16
	c.WarmupSteps, c.TotalSteps = 10, 150
	c.MHCLR = 1e-2
	return c
}

// Data returns the evaluation stream the fault builds are diagnosed on.
func Data() []uint32 { return Contextual(6000, Config().VocabSize, 4) }

// Train trains Config (changed by edit) on train (Contextual when nil) into dir, writing no
// progress. Seed 3 unless edit changes it.
func Train(dir string, edit func(*config.Config, *config.Variant), trainIDs []uint32) error {
	c, v := Config(), config.DefaultVariant()
	v.Seed = 3
	if edit != nil {
		edit(&c, &v)
	}
	if trainIDs == nil {
		trainIDs = Contextual(30000, c.VocabSize, 1)
	}
	_, err := train.Run(train.Options{Config: c, Variant: v, Train: trainIDs, Val: Contextual(3000, c.VocabSize, 2), Out: dir, EvalWindows: 4})
	return err
}

// Edit writes into dst a copy of the checkpoint in src with its tensors and meta.json changed
// by edit.
func Edit(src, dst string, edit func(gomlxmodel.Params, *checkpoint.Meta)) error {
	ck, err := checkpoint.Load(src)
	if err != nil {
		return err
	}
	p := gomlxmodel.Params{}
	for n, x := range ck.Tensors {
		p[n] = checkpoint.Tensor{Shape: slices.Clone(x.Shape), Data: slices.Clone(x.Data)}
	}
	meta := ck.Meta
	edit(p, &meta)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return checkpoint.Save(dst, p, meta)
}

// TorchInit re-draws every matrix of p with PyTorch's defaults for another family: nn.Linear's
// U(±1/√in) for linear weights and GPT-2's N(0, 0.02) for the embedding and head.
func TorchInit(p gomlxmodel.Params, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		x := p[n]
		if len(x.Shape) != 2 {
			continue
		}
		b := 1 / math.Sqrt(float64(x.Shape[1]))
		for i := range x.Data {
			if n == gomlxmodel.ParamTokEmbed || n == gomlxmodel.ParamLMHead {
				x.Data[i] = float32(0.02 * rng.NormFloat64())
			} else {
				x.Data[i] = float32((2*rng.Float64() - 1) * b)
			}
		}
	}
}

// Build is one checkpoint of the gallery: a name, the kind analysis.Findings should name (""
// for a healthy one), and how to make it in a directory.
type Build struct {
	Name  string
	Kind  string
	Fault string // what was done, in a few words
	Fix   string // what a user would change
	Make  func(dir string, base func(name string) (string, error)) error
}

// Gallery lists the builds of notebook 11 and the tests, in order. base(name) returns the
// directory of a trained build of this list (trained once and reused).
func Gallery() []Build {
	trained := func(edit func(*config.Config, *config.Variant), data func() []uint32) func(string, func(string) (string, error)) error {
		return func(dir string, _ func(string) (string, error)) error {
			var ids []uint32
			if data != nil {
				ids = data()
			}
			return Train(dir, edit, ids)
		}
	}
	editOf := func(src string, edit func(gomlxmodel.Params, *checkpoint.Meta)) func(string, func(string) (string, error)) error {
		return func(dir string, base func(string) (string, error)) error {
			s, err := base(src)
			if err != nil {
				return err
			}
			return Edit(s, dir, edit)
		}
	}
	fresh := func(p gomlxmodel.Params, m *checkpoint.Meta) {
		for n, x := range gomlxmodel.InitParams(m.Config, m.Variant, 9) {
			p[n] = x
		}
	}
	alpha5 := func(p gomlxmodel.Params, _ *checkpoint.Meta) {
		for n, x := range p {
			if gomlxmodel.IsAlphaLogit(n) {
				x.Data[0] = 5
			}
		}
	}
	// scaleResidual multiplies the embedding, wo and w_down of an untied model by k: the
	// residual stream grows by k, the norms take it back, the predictions stay.
	scaleResidual := func(k float32) func(gomlxmodel.Params, *checkpoint.Meta) {
		return func(p gomlxmodel.Params, _ *checkpoint.Meta) {
			for n, x := range p {
				if pn, err := gomlxmodel.ParseName(n); err == nil && (n == gomlxmodel.ParamTokEmbed || pn.Block >= 0 &&
					(n == gomlxmodel.AttnWeight(pn.Block, "wo") || n == gomlxmodel.FFNWeight(pn.Block, "w_down"))) {
					for i := range x.Data {
						x.Data[i] *= k
					}
				}
			}
		}
	}
	return []Build{
		{"healthy", "", "none", "", trained(nil, nil)},
		{"healthy untied", "", "none (untied head, seed 4)", "", trained(func(c *config.Config, v *config.Variant) { v.Seed, c.WeightTied = 4, false }, nil)},
		{"healthy untied (seed 5)", "", "none (untied head, seed 5)", "", trained(func(c *config.Config, v *config.Variant) { v.Seed, c.WeightTied = 5, false }, nil)},
		{"unshifted labels", "target_offset", "trained on targets = inputs (offset 0)", "shift the labels once", trained(func(_ *config.Config, v *config.Variant) { v.TargetShift = 0 }, nil)},
		{"labels shifted twice", "target_offset", "trained on the token two ahead (offset 2)", "shift the labels once", trained(func(_ *config.Config, v *config.Variant) { v.TargetShift = 2 }, nil)},
		{"no causal mask", "future_leakage", "trained without the causal mask, run with it", "train with a causal mask", editOf("no causal mask (trained)", func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.NoCausalMask = false })},
		{"no causal mask (trained)", "-", "", "", trained(func(_ *config.Config, v *config.Variant) { v.NoCausalMask = true }, nil)},
		{"rope interleaved", "rope_layout", "trained with interleaved RoPE pairs, loaded as halves", "--rope-layout interleaved", editOf("rope interleaved (trained)", func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.RopeLayout = "" })},
		{"rope interleaved (trained)", "-", "", "", trained(func(_ *config.Config, v *config.Variant) { v.RopeLayout = config.RopeInterleaved }, nil)},
		{"gqa repeat_interleave", "gqa_mapping", "trained with repeat_interleave kv heads, loaded as tile", "--gqa-map interleave", editOf("gqa interleave (trained)", func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.GQAMap = "" })},
		{"gqa interleave (trained)", "-", "", "", trained(func(_ *config.Config, v *config.Variant) { v.GQAMap = config.GQAInterleave }, nil)},
		{"fresh init (candle)", "weights_untrained", "every tensor replaced by the original's initialisation", "load the trained file", editOf("healthy", fresh)},
		{"fresh init (PyTorch)", "weights_untrained", "every tensor replaced by PyTorch-style initialisers", "load the trained file", editOf("healthy untied", func(p gomlxmodel.Params, m *checkpoint.Meta) { fresh(p, m); TorchInit(p, 5) })},
		{"fresh init, alpha_logit 5.0", "weights_untrained", "a fresh initialisation whose alpha_logit start at 5.0 (another implementation's init)", "load the trained file", editOf("healthy", func(p gomlxmodel.Params, m *checkpoint.Meta) {
			fresh(p, m)
			for n, x := range p {
				if gomlxmodel.IsAlphaLogit(n) {
					x.Data[0] = 5
				}
			}
		})},
		{"fresh tok_embed", "tensors_untrained", "the embedding replaced by a fresh N(0,1) draw", "load every tensor", editOf("healthy", func(p gomlxmodel.Params, m *checkpoint.Meta) {
			p[gomlxmodel.ParamTokEmbed] = gomlxmodel.InitParams(m.Config, m.Variant, 9)[gomlxmodel.ParamTokEmbed]
		})},
		{"head at init", "tensors_untrained", "the untied lm_head left at its initialisation", "load every tensor", editOf("healthy untied", func(p gomlxmodel.Params, m *checkpoint.Meta) {
			p[gomlxmodel.ParamLMHead] = gomlxmodel.InitParams(m.Config, m.Variant, 9)[gomlxmodel.ParamLMHead]
		})},
		{"norms not loaded", "tensors_untrained", "every RMSNorm weight left at 1", "load every tensor", editOf("healthy", func(p gomlxmodel.Params, _ *checkpoint.Meta) {
			for n, x := range p {
				if pn, err := gomlxmodel.ParseName(n); err == nil && pn.IsNorm() {
					for i := range x.Data {
						x.Data[i] = 1
					}
				}
			}
		})},
		{"collapse to unigram", "context_free", "trained on a stream with no context", "fix the data or the optimisation", trained(nil, func() []uint32 { return Unigram(30000, Config().VocabSize, 1) })},
		{"claimed loss 0.05", "unexplained", "meta.json claims a loss far below what the weights achieve", "evaluate on the training distribution; look at the run", editOf("healthy", func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Loss = 0.05 })},
		{"claimed loss 0.2 (untied, seed 5)", "unexplained", "meta.json of another seed's untied model claims a loss far below what the weights achieve", "evaluate on the training distribution; look at the run", editOf("healthy untied (seed 5)", func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Loss = 0.2 })},
		{"alpha_logit 5.0", "alpha_no_gradient", "every mHC alpha_logit set to 5.0 (informational)", "break the mHC stream symmetry", editOf("healthy", alpha5)},
		{"alpha_logit 5.0 (untied, seed 5)", "alpha_no_gradient", "every mHC alpha_logit of another seed's untied model set to 5.0 (informational)", "break the mHC stream symmetry", editOf("healthy untied (seed 5)", alpha5)},
		{"fp16 overflow", "activation_overflow_fp16", "residual stream scaled by 1e4: embedding, wo and w_down ×1e4 of an untied model, the same predictions (informational)", "run in float32 or bfloat16", editOf("healthy untied", scaleResidual(1e4))},
		{"fp16 overflow (seed 5)", "activation_overflow_fp16", "residual stream of another seed's untied model scaled by 1e4 (embedding, wo and w_down), the same predictions (informational)", "run in float32 or bfloat16", editOf("healthy untied (seed 5)", scaleResidual(1e4))},
	}
}

// Builder makes the builds of Gallery under root, each once: trained ones are reused across
// calls (the directory holds meta.json when complete).
type Builder struct {
	Root   string
	builds map[string]Build
}

// NewBuilder returns a Builder over Gallery.
func NewBuilder(root string) *Builder {
	b := &Builder{Root: root, builds: map[string]Build{}}
	for _, x := range Gallery() {
		b.builds[x.Name] = x
	}
	return b
}

// Dir returns the directory of the named build, making it if it is not there yet.
func (b *Builder) Dir(name string) (string, error) {
	x, ok := b.builds[name]
	if !ok {
		return "", fmt.Errorf("faults: no build named %q", name)
	}
	dir := filepath.Join(b.Root, slug(name))
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err == nil {
		return dir, nil
	}
	if err := x.Make(dir, b.Dir); err != nil {
		return "", fmt.Errorf("faults: building %q: %w", name, err)
	}
	return dir, nil
}

func slug(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		default:
			if len(out) > 0 && out[len(out)-1] != '_' {
				out = append(out, '_')
			}
		}
	}
	return string(out)
}
