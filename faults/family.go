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

// The fault builds of the GPT-2 and Llama families: small models trained with AdamW
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
	Arch   string // "gpt2" or "llama"
	Kind   string
	Fault  string
	Family gomlxmodel.Family // what it is trained as (conventions included)
	// Shift is the target offset of training (1, or 0 and 2 for the label mistakes);
	// Unigram trains on the Unigram stream.
	Shift   int
	Unigram bool
	// Fresh names a tensor replaced by a fresh draw of the family's initialiser after training.
	Fresh string
}

// FamilyGallery lists the family builds of the tests and of notebook 12.
func FamilyGallery() []FamilyBuild {
	g, l := gomlxmodel.GPT2{Config: GPT2Config()}, gomlxmodel.Llama{Config: LlamaConfig()}
	flip := func(f gomlxmodel.Family, name, value string) gomlxmodel.Family {
		f2, err := f.WithConvention(name, value)
		if err != nil {
			panic(err)
		}
		return f2
	}
	var out []FamilyBuild
	for _, f := range []gomlxmodel.Family{g, l} {
		a := f.Arch()
		embed := map[string]string{"gpt2": gomlxmodel.GPT2Wte, "llama": gomlxmodel.LlamaEmbed}[a]
		out = append(out,
			FamilyBuild{Name: a + " healthy", Arch: a, Family: f, Shift: 1},
			FamilyBuild{Name: a + " unshifted labels", Arch: a, Kind: "target_offset", Fault: "trained on labels = inputs (offset 0)", Family: f, Shift: 0},
			FamilyBuild{Name: a + " labels shifted twice", Arch: a, Kind: "target_offset", Fault: "labels pre-shifted, then shifted again by the model (offset 2)", Family: f, Shift: 2},
			FamilyBuild{Name: a + " no causal mask", Arch: a, Kind: "future_leakage", Fault: "trained without the causal mask", Family: flip(f, gomlxmodel.ConvCausal, "false"), Shift: 1},
			FamilyBuild{Name: a + " collapse to unigram", Arch: a, Kind: "context_free", Fault: "trained on a stream with no context", Family: f, Shift: 1, Unigram: true},
		)
		if a == "gpt2" {
			out = append(out, FamilyBuild{Name: a + " fresh wte", Arch: a, Kind: "tensors_untrained", Fault: "the tied embedding replaced by a fresh N(0, 0.02) draw", Family: f, Shift: 1, Fresh: embed})
		} else {
			out = append(out,
				FamilyBuild{Name: a + " rope interleaved", Arch: a, Kind: "rope_layout", Fault: "trained with interleaved RoPE pairs, loaded with rotate_half", Family: flip(f, gomlxmodel.ConvRopePairing, config.RopeInterleaved), Shift: 1},
				FamilyBuild{Name: a + " gqa tile", Arch: a, Kind: "gqa_mapping", Fault: "trained with kv heads tiled (h mod n_kv), loaded with repeat_kv", Family: flip(f, gomlxmodel.ConvGQAMapping, config.GQATile), Shift: 1},
				FamilyBuild{Name: a + " head at init", Arch: a, Kind: "tensors_untrained", Fault: "the untied lm_head left at its initialisation", Family: f, Shift: 1, Fresh: gomlxmodel.ParamLMHead},
			)
		}
	}
	return out
}

// Make trains the build (seed 1 from the family's initialisers) and saves it in Hugging Face
// layout in dir (replacing what is there).
func (b FamilyBuild) Make(dir string) error {
	ids := Contextual(30000, Config().VocabSize, 1)
	if b.Unigram {
		ids = Unigram(30000, Config().VocabSize, 1)
	}
	tokens := make([]int32, len(ids))
	for i, x := range ids {
		tokens[i] = int32(x)
	}
	o := FamilyOptions()
	o.TargetShift = b.Shift
	p, _, err := train.TrainFamily(b.Family, gomlxmodel.InitFamilyParams(b.Family, 1), tokens, o)
	if err != nil {
		return fmt.Errorf("faults: training %q: %w", b.Name, err)
	}
	if b.Fresh != "" {
		p[b.Fresh] = gomlxmodel.InitFamilyParams(b.Family, 9)[b.Fresh]
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return hf.Save(dir, b.Family, p)
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
		return dir, b.Make(dir)
	}
	return "", fmt.Errorf("faults: no family build named %q", name)
}
