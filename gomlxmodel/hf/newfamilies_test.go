package hf

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

// tinyLlamaLike is a small model of each Llama-like family (2 layers, GQA, vocab 300).
func tinyLlamaLike(arch string) gomlxmodel.Llama {
	c := gomlxmodel.LlamaConfig{Arch: arch, VocabSize: 300, DModel: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, HeadDim: 8,
		DFF: 48, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, InitializerRange: 0.02,
		RopePairing: config.RopeHalves, GQAMapping: config.GQAInterleave, Causal: true}
	switch arch {
	case "qwen2":
		c.QKVBias, c.SlidingWindow, c.LayerTypes = true, 6, []string{gomlxmodel.LayerFull, gomlxmodel.LayerSliding}
	case "qwen3":
		c.QKNorm, c.QKVBias, c.OBias, c.HeadDim, c.TiedHead = true, true, true, 12, true
	case "mistral":
		c.SlidingWindow = 5
	}
	return gomlxmodel.Llama{Config: c}
}

// TestSaveLoadNewFamilies: Save writes each Llama-like family's config.json so that Load reads
// back the same configuration and weights; HF24_SAVE_DIR keeps the directories (for the CLI).
func TestSaveLoadNewFamilies(t *testing.T) {
	for _, arch := range []string{"qwen2", "qwen3", "mistral"} {
		m := tinyLlamaLike(arch)
		p := gomlxmodel.InitFamilyParams(m, 7)
		dir := filepath.Join(t.TempDir(), arch)
		if keep := os.Getenv("HF24_SAVE_DIR"); keep != "" {
			dir = filepath.Join(keep, arch)
		}
		if err := Save(dir, m, p); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		ck, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if ck.Arch != arch || !reflect.DeepEqual(ck.Family, gomlxmodel.Family(m)) {
			t.Errorf("%s: loaded %+v, saved %+v", arch, ck.Family, m)
		}
		if len(ck.KeysRead) == 0 || len(ck.KeysInert) == 0 {
			t.Errorf("%s: keys read %v, inert %v", arch, ck.KeysRead, ck.KeysInert)
		}
	}
	bad := tinyLlamaLike("qwen2")
	bad.Config.OBias = true
	if err := Save(t.TempDir(), bad, gomlxmodel.InitFamilyParams(bad, 1)); err == nil {
		t.Error("saved a qwen2 with an o_proj bias")
	}
}
