package hf

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// TestExportForTransformers writes checkpoints built and saved by nanoscope (hf.Save) with
// nanoscope's logits on fixed ids (<name>.reference.safetensors beside each), for bench/hf_check_saved.py to load with transformers'
// from_pretrained on the GPU machine. Skipped unless NANOSCOPE_HF_EXPORT names a directory.
func TestExportForTransformers(t *testing.T) {
	out := os.Getenv("NANOSCOPE_HF_EXPORT")
	if out == "" {
		t.Skip("NANOSCOPE_HF_EXPORT not set")
	}
	fams := map[string]gomlxmodel.Family{
		"go_gpt2_tied": gomlxmodel.GPT2{Config: gomlxmodel.GPT2Config{VocabSize: 97, NPositions: 32, DModel: 24, NLayers: 2,
			NHeads: 3, DInner: 50, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02,
			WeightLayout: gomlxmodel.GPT2Conv1D, TiedHead: true, Causal: true}},
		"go_llama_gqa_untied": gomlxmodel.Llama{Config: gomlxmodel.LlamaConfig{VocabSize: 97, DModel: 24, NLayers: 2,
			NHeads: 6, NKVHeads: 2, HeadDim: 4, DFF: 40, RMSNormEps: 1e-5, RopeTheta: 50000, MaxPositions: 64,
			InitializerRange: 0.02, RopePairing: config.RopeHalves, GQAMapping: config.GQAInterleave, Causal: true}},
		"go_llama_tied": gomlxmodel.Llama{Config: gomlxmodel.LlamaConfig{VocabSize: 97, DModel: 32, NLayers: 1,
			NHeads: 4, NKVHeads: 4, HeadDim: 8, DFF: 64, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64,
			InitializerRange: 0.02, RopePairing: config.RopeHalves, GQAMapping: config.GQAInterleave, TiedHead: true, Causal: true}},
	}
	for name, f := range fams {
		p := gomlxmodel.InitFamilyParams(f, 11)
		rng := rand.New(rand.NewPCG(12, 13))
		for _, x := range p { // away from the initialisers' symmetry (norms 1, biases 0)
			for i := range x.Data {
				x.Data[i] += 0.05 * float32(rng.NormFloat64())
			}
		}
		dir := filepath.Join(out, name)
		if err := Save(dir, f, p); err != nil {
			t.Fatal(err)
		}
		ids := [][]int32{make([]int32, 20), make([]int32, 20)}
		flat := make([]float32, 0, 40)
		for _, row := range ids {
			for j := range row {
				row[j] = int32(rng.IntN(f.Dims().VocabSize))
				flat = append(flat, float32(row[j]))
			}
		}
		logits := runLogits(t, f, p, ids)
		ref := map[string]checkpoint.Tensor{
			"ids":    {Shape: []int{2, 20}, Data: flat},
			"logits": {Shape: []int{2, 20, f.Dims().VocabSize}, Data: logits},
		}
		if err := checkpoint.WriteSafetensors(dir+".reference.safetensors", ref); err != nil {
			t.Fatal(err)
		}
	}
}
