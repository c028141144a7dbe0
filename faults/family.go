package faults

import (
	"fmt"
	"os"
	"path/filepath"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/hf"
	"nanoscope/gomlxmodel/train"
)

// The fault builds of the GPT-2, Llama, Qwen2 and GPT-NeoX families: small models trained with AdamW
// (train.TrainFamily, as a user of transformers would) on the Contextual stream, saved in Hugging
// Face layout (hf.Save, which records Hugging Face's conventions whatever the model was trained
// under), and diagnosed as hf.Load reads them back.

// GPT2Config is the GPT-2 of the fault builds: Config's sizes (vocabulary 24, width 32, two
// layers, four heads), 32 positions, a tied head in Hugging Face's Conv1D layout.
func GPT2Config() gomlxmodel.GPT2Config {
	c := Config()
	return gomlxmodel.GPT2Config{VocabSize: c.VocabSize, NPositions: c.MaxSeqLen, DModel: c.Dim, NLayers: c.NLayers,
		NHeads: c.NHeads, DInner: 2 * c.Dim, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02,
		WeightLayout: gomlxmodel.GPT2Conv1D, TiedHead: true, Causal: true}
}

// LlamaConfig is the Llama of the fault builds: Config's sizes, four query heads on two kv heads
// (so the GQA mapping matters), an untied head, Hugging Face's conventions.
func LlamaConfig() gomlxmodel.LlamaConfig {
	c := Config()
	return gomlxmodel.LlamaConfig{VocabSize: c.VocabSize, DModel: c.Dim, NLayers: c.NLayers, NHeads: c.NHeads,
		NKVHeads: c.NKVHeads, HeadDim: c.Dim / c.NHeads, DFF: 2 * c.Dim, RMSNormEps: 1e-5, RopeTheta: 10000,
		MaxPositions: c.MaxSeqLen, InitializerRange: 0.02, RopePairing: config.RopeHalves,
		GQAMapping: config.GQAInterleave, TiedHead: false, Causal: true}
}

// Qwen2Config is the Qwen2 of the fault builds: LlamaConfig with Qwen2's biases on q, k and
// v_proj.
func Qwen2Config() gomlxmodel.LlamaConfig {
	c := LlamaConfig()
	c.Arch, c.QKVBias = "qwen2", true
	return c
}

// NeoXConfig is the GPT-NeoX of the fault builds: Config's sizes, Pythia's conventions (parallel
// residual, RoPE on a quarter of each head, per-head query_key_value, biases, untied embed_out).
func NeoXConfig() gomlxmodel.GPTNeoXConfig {
	c := Config()
	return gomlxmodel.GPTNeoXConfig{VocabSize: c.VocabSize, DModel: c.Dim, NLayers: c.NLayers, NHeads: c.NHeads,
		DFF: 2 * c.Dim, LayerNormEps: 1e-5, RopeTheta: 10000, RotaryPct: 0.25, MaxPositions: c.MaxSeqLen,
		InitializerRange: 0.02, AttentionBias: true, HiddenAct: "gelu", ParallelResidual: true,
		QKVSplit: "per_head", RopePairing: config.RopeHalves, Causal: true}
}

// FamilyOptions are the training options of the family builds: 200 AdamW steps of 16 windows
// of 32 tokens at 1e-2, clipped at 1 (a GPT-2 of this size learns its positions late: after 150
// steps at 1e-2, or 200 at 3e-3, it still predicts the previous token better than the next).
func FamilyOptions() train.FamilyOptions {
	return train.FamilyOptions{Steps: 200, BatchSize: 16, SeqLen: Config().MaxSeqLen, LR: 1e-2, GradClip: 1, TargetShift: 1, Seed: 1}
}

// FamilyBuild is one Hugging Face checkpoint of the family gallery: the kind analysis.Findings
// should name ("" for a healthy one) and how it was made.
type FamilyBuild struct {
	Name   string
	Arch   string // "gpt2", "llama", "qwen2" or "gpt_neox"
	Kind   string
	Fault  string
	Family gomlxmodel.Family // what it is trained as (conventions included)
	// Saved is what the file says: the family's reference configuration (Hugging Face's
	// conventions), whatever Family was trained under; nil saves Family.
	Saved gomlxmodel.Family
	// Convention and Value name the convention a convention fault was trained under (the
	// finding must name it); "" for other kinds.
	Convention, Value string
	// Shift is the target offset of training (1, or 0 and 2 for the label mistakes);
	// Unigram trains on the Unigram stream.
	Shift   int
	Unigram bool
	// Fresh names a tensor replaced by a fresh draw of the family's initialiser after training.
	Fresh string
	// From names the build whose saved weights this one edits as a faulty converter would:
	// Transpose lists square matrices written transposed, Exchange pairs of tensors written to
	// each other's names. Such a build is not trained itself.
	From      string
	Transpose []string
	Exchange  [][2]string
	// Seed draws the initial weights and the batches.
	Seed int64
}

// gallerySeeds are the seeds every kind of the family gallery is built with.
var gallerySeeds = []int64{1, 2}

// conventionFault is one convention fault: trained under Value, saved (and so loaded) under the
// family's reference.
type conventionFault struct{ Convention, Value string }

// familyConventionFaults are the convention faults of each family (GPT-2 trained with half its
// heads is not one on the gallery's task: its own head count gains 0.07 nats at offset 1). They are the mechanism's
// examples, not a list the diagnosis knows: it searches the family's whole convention space
// (attention scale, soft-cap and activation included: on the gallery's task an attention scale
// run wrong costs 0.01–0.07 nats, too little to be a fault, so none is built).
var familyConventionFaults = map[string][]conventionFault{
	"gpt2": {{gomlxmodel.ConvQKVOrder, "kqv"}, {gomlxmodel.ConvEmbedScale, "sqrt_d_model"}, {gomlxmodel.ConvNormWeight, "1+w"}},
	"llama": {{gomlxmodel.ConvRopePairing, config.RopeInterleaved}, {gomlxmodel.ConvGQAMapping, config.GQATile}, {gomlxmodel.ConvRopeTheta, "1e+06"},
		{gomlxmodel.ConvEmbedScale, "sqrt_d_model"}, {gomlxmodel.ConvNormWeight, "1+w"}, {gomlxmodel.ConvRopeScaling, "4"}},
	"qwen2":    {{gomlxmodel.ConvRopePairing, config.RopeInterleaved}},
	"gpt_neox": {{gomlxmodel.ConvQKVSplit, "blocks"}, {gomlxmodel.ConvNumHeads, "2"}},
}

// freshTensor is, per family built with every kind, the tensor its tensors_untrained build
// redraws. GPT-2 and Llama carry every kind; Qwen2 and GPT-NeoX, whose kinds beyond the
// conventions are the same mechanism on the same trainer, carry a healthy control and their
// convention faults.
var freshTensor = map[string]string{"gpt2": gomlxmodel.GPT2Wte, "llama": gomlxmodel.ParamLMHead}

// misplaced are, per family built with every kind, the converter's slips its tensors_misplaced
// builds make on the healthy build's weights: the attention output projection of layer 0 (a
// square matrix) written transposed, and the attention modules of layers 0 and 1 written to
// each other's names (their MLPs matter too little on the gallery's task: exchanged they cost
// −0.01 to 0.04 nats).
var misplaced = map[string]struct {
	transpose string
	attn      func(layer int) []string
}{
	"gpt2": {"transformer.h.0.attn.c_proj.weight", func(i int) []string {
		return names(fmt.Sprintf("transformer.h.%d.attn.", i), "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias")
	}},
	"llama": {"model.layers.0.self_attn.o_proj.weight", func(i int) []string {
		return names(fmt.Sprintf("model.layers.%d.self_attn.", i), "q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight")
	}},
}

// names returns prefix+s for each s.
func names(prefix string, s ...string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = prefix + x
	}
	return out
}

// kindOfConvention is the finding kind a convention fault is named by.
func kindOfConvention(name string) string {
	switch name {
	case gomlxmodel.ConvCausal:
		return "future_leakage"
	case gomlxmodel.ConvRopePairing:
		return "rope_layout"
	case gomlxmodel.ConvGQAMapping:
		return "gqa_mapping"
	}
	return "convention_mismatch"
}

// FamilyGallery lists the family builds of the tests and of notebook 11: every kind on GPT-2
// and Llama, a healthy control and the convention faults on Qwen2 and GPT-NeoX, with each seed
// of gallerySeeds, and healthy controls of other sizes and initialisers.
func FamilyGallery() []FamilyBuild {
	families := []gomlxmodel.Family{gomlxmodel.GPT2{Config: GPT2Config()}, gomlxmodel.Llama{Config: LlamaConfig()},
		gomlxmodel.Llama{Config: Qwen2Config()}, gomlxmodel.GPTNeoX{Config: NeoXConfig()}}
	flip := func(f gomlxmodel.Family, name, value string) gomlxmodel.Family {
		f2, err := f.WithConvention(name, value)
		if err != nil {
			panic(err)
		}
		return f2
	}
	var out []FamilyBuild
	for _, seed := range gallerySeeds {
		for _, f := range families {
			a := f.Arch()
			name := func(what string) string { return fmt.Sprintf("%s %s (seed %d)", a, what, seed) }
			out = append(out, FamilyBuild{Name: name("healthy"), Arch: a, Family: f, Shift: 1, Seed: seed})
			if fresh, ok := freshTensor[a]; ok {
				out = append(out, FamilyBuild{Name: name("unshifted labels"), Arch: a, Kind: "target_offset", Fault: "trained on labels = inputs (offset 0)", Family: f, Shift: 0, Seed: seed},
					FamilyBuild{Name: name("labels shifted twice"), Arch: a, Kind: "target_offset", Fault: "labels pre-shifted, then shifted again by the model (offset 2)", Family: f, Shift: 2, Seed: seed},
					FamilyBuild{Name: name("no causal mask"), Arch: a, Kind: "future_leakage", Fault: "trained without the causal mask", Family: flip(f, gomlxmodel.ConvCausal, "false"), Saved: f,
						Convention: gomlxmodel.ConvCausal, Value: "false", Shift: 1, Seed: seed},
					FamilyBuild{Name: name("collapse to unigram"), Arch: a, Kind: "context_free", Fault: "trained on a stream with no context", Family: f, Shift: 1, Unigram: true, Seed: seed},
					FamilyBuild{Name: name("fresh " + fresh), Arch: a, Kind: "tensors_untrained", Fault: fresh + " replaced by a fresh draw of its initialiser", Family: f, Shift: 1, Fresh: fresh, Seed: seed},
				)
				m := misplaced[a]
				var pairs [][2]string
				for i, n := range m.attn(0) {
					pairs = append(pairs, [2]string{n, m.attn(1)[i]})
				}
				out = append(out,
					FamilyBuild{Name: name("transposed " + m.transpose), Arch: a, Kind: "tensors_misplaced", Fault: m.transpose + " written transposed",
						Family: f, From: name("healthy"), Transpose: []string{m.transpose}, Seed: seed},
					FamilyBuild{Name: name("attention of layers 0 and 1 exchanged"), Arch: a, Kind: "tensors_misplaced", Fault: "the attention modules of layers 0 and 1 written to each other's names",
						Family: f, From: name("healthy"), Exchange: pairs, Seed: seed})
			}
			for _, cv := range familyConventionFaults[a] {
				out = append(out, FamilyBuild{Name: name(cv.Convention + "=" + cv.Value), Arch: a, Kind: kindOfConvention(cv.Convention),
					Fault: fmt.Sprintf("trained with %s = %s, saved in Hugging Face's convention", cv.Convention, cv.Value), Family: flip(f, cv.Convention, cv.Value), Saved: f,
					Convention: cv.Convention, Value: cv.Value, Shift: 1, Seed: seed})
			}
		}
	}
	// Healthy controls of another size and another initialiser range.
	gc, lc := GPT2Config(), LlamaConfig()
	gc.DModel, gc.NLayers, gc.DInner, gc.InitializerRange = 48, 3, 96, 0.05
	lc.DModel, lc.NLayers, lc.HeadDim, lc.DFF, lc.InitializerRange = 48, 3, 12, 96, 0.05
	out = append(out,
		FamilyBuild{Name: "gpt2 healthy, width 48, 3 layers, init 0.05", Arch: "gpt2", Family: gomlxmodel.GPT2{Config: gc}, Shift: 1, Seed: 3},
		FamilyBuild{Name: "llama healthy, width 48, 3 layers, init 0.05", Arch: "llama", Family: gomlxmodel.Llama{Config: lc}, Shift: 1, Seed: 3},
	)
	return out
}

// Make trains the build (its seed, from the family's initialisers) and saves it in Hugging Face
// layout in dir (replacing what is there), under Saved's configuration.
func (b FamilyBuild) Make(dir string) error {
	ids := Contextual(30000, Config().VocabSize, uint64(b.Seed))
	if b.Unigram {
		ids = Unigram(30000, Config().VocabSize, uint64(b.Seed))
	}
	tokens := make([]int32, len(ids))
	for i, x := range ids {
		tokens[i] = int32(x)
	}
	o := FamilyOptions()
	o.TargetShift, o.Seed = b.Shift, b.Seed
	p, _, err := train.TrainFamily(b.Family, gomlxmodel.InitFamilyParams(b.Family, b.Seed), tokens, o)
	if err != nil {
		return fmt.Errorf("faults: training %q: %w", b.Name, err)
	}
	if b.Fresh != "" {
		p[b.Fresh] = gomlxmodel.InitFamilyParams(b.Family, 9)[b.Fresh]
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	saved := b.Saved
	if saved == nil {
		saved = b.Family
	}
	return hf.Save(dir, saved, p)
}

// FamilyDir returns the directory of the named family build under root, making it when it is
// not there yet (config.json, written last, marks a complete one).
func FamilyDir(root, name string) (string, error) {
	for _, b := range FamilyGallery() {
		if b.Name != name {
			continue
		}
		dir := filepath.Join(root, slug(name))
		if _, err := os.Stat(filepath.Join(dir, hf.ConfigFile)); err == nil {
			return dir, nil
		}
		if b.From != "" {
			src, err := FamilyDir(root, b.From)
			if err != nil {
				return "", err
			}
			return dir, b.edit(src, dir)
		}
		return dir, b.Make(dir)
	}
	return "", fmt.Errorf("faults: no family build named %q", name)
}

// edit writes to dir the checkpoint in src with the build's slips applied.
func (b FamilyBuild) edit(src, dir string) error {
	ck, err := hf.Load(src)
	if err != nil {
		return err
	}
	p, err := gomlxmodel.Rearranged(ck.Params, b.Transpose, b.Exchange)
	if err != nil {
		return fmt.Errorf("faults: %s from %s: %w", b.Name, b.From, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return hf.Save(dir, ck.Family, p)
}
