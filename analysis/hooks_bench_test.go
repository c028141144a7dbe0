package analysis

import (
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// cpuCheckpoint is the cpu-preset model of `make train-cpu`, when this checkout has one.
func cpuCheckpoint(b *testing.B) *checkpoint.Checkpoint {
	b.Helper()
	dir := filepath.Join("..", "out", "cpu")
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err != nil {
		b.Skip("no out/cpu: run make train-cpu")
	}
	ck, err := checkpoint.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	return ck
}

// The logit lens of 64 tokens of out/cpu at every depth: ResidLens (one Unembed graph for all
// depths, the logits read back) against LogitLensTokens (Prompt.Lens: margins and argmaxes
// computed in the graph, 3 numbers per depth and position read back).
func BenchmarkLensCPU(b *testing.B) {
	ck := cpuCheckpoint(b)
	ids := promptIDs(ck.Meta.Config.VocabSize, ck.Meta.Config.MaxSeqLen, 3)
	b.Run("ResidLens", func(b *testing.B) {
		r, err := gomlxmodel.NewFamilyRunner(gomlxmodel.Model{Config: ck.Meta.Config, Variant: ck.Meta.Variant}, ck.Tensors)
		if err != nil {
			b.Fatal(err)
		}
		h := gomlxmodel.NewHookedRunner(r)
		defer h.Close()
		for b.Loop() {
			if _, err := ResidLens(h, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LogitLensTokens", func(b *testing.B) {
		s, err := FromCheckpoint(ck)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := LogitLensTokens(s, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// One patching sweep of out/cpu over 16 positions at hook_resid_pre: 2 blocks × 16 runs, one
// compiled graph per block.
func BenchmarkPatchByLayerPositionCPU(b *testing.B) {
	ck := cpuCheckpoint(b)
	clean := promptIDs(ck.Meta.Config.VocabSize, 16, 4)
	corrupted := append([]int32(nil), clean...)
	corrupted[5] = (clean[5] + 1) % int32(ck.Meta.Config.VocabSize)
	r, err := gomlxmodel.NewFamilyRunner(gomlxmodel.Model{Config: ck.Meta.Config, Variant: ck.Meta.Variant}, ck.Tensors)
	if err != nil {
		b.Fatal(err)
	}
	h := gomlxmodel.NewHookedRunner(r)
	defer h.Close()
	for b.Loop() {
		if _, err := PatchByLayerPosition(h, clean, corrupted, gomlxmodel.HookResidPre, 3, 7); err != nil {
			b.Fatal(err)
		}
	}
}

// The same on a fresh d20 (the note's model: GPT-2's 50257 ids, d_model 256, 6 blocks) on 64
// tokens: GPT-2's vocabulary, where reading every depth's logits back costs the most.
func BenchmarkLensD20Fresh(b *testing.B) {
	c := config.D20()
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 1)
	ids := promptIDs(c.VocabSize, 64, 3)
	b.Run("ResidLens", func(b *testing.B) {
		r, err := gomlxmodel.NewFamilyRunner(gomlxmodel.Model{Config: c, Variant: v}, p)
		if err != nil {
			b.Fatal(err)
		}
		h := gomlxmodel.NewHookedRunner(r)
		defer h.Close()
		for b.Loop() {
			if _, err := ResidLens(h, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LogitLensTokens", func(b *testing.B) {
		s, err := NewSubject(c, v, p)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := LogitLensTokens(s, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
}
