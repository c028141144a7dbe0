package analysis

import (
	"fmt"
	"path/filepath"
	"testing"

	"nanoscope/faults"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

func diagnoseDir(t *testing.T, dir string) *Report {
	t.Helper()
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Diagnose(ck, faults.Data(), nil, &Options{Positions: 1024, NoRunMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	cat := rep.Details.Catalog
	t.Logf("healthy %v; CE by offset %s, unigram %.3f, context MI %.3f, top share %.2f", rep.Healthy, fmtCEs(cat.AsLoaded.CE), cat.Unigram, cat.ContextMI, cat.TopShare)
	for _, c := range cat.Conditions {
		t.Logf("  %s: %s", c.Condition, fmtCEs(c.CE))
	}
	for _, f := range rep.Findings {
		t.Logf("  finding %s %v: %s %v", f.Kind, f.Tensors, f.Detail, f.Evidence)
	}
	t.Logf("  summary: %s", rep.Summary)
	return rep
}

// More healthy checkpoints: ternary off without mHC, and an interleaved-RoPE, repeat_interleave
// model without GQA run under its own conventions.
func TestCatalogHealthyVariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Config, *config.Variant)
	}{
		{"float-no-mhc", func(c *config.Config, v *config.Variant) { v.Ternary, v.MHC = false, false }},
		{"interleaved-rope-mha", func(c *config.Config, v *config.Variant) {
			c.NKVHeads, v.RopeLayout, v.GQAMap, v.Seed = 4, config.RopeInterleaved, config.GQAInterleave, 7
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := faults.Train(dir, tc.edit, nil); err != nil {
				t.Fatal(err)
			}
			rep := diagnoseDir(t, dir)
			if !rep.Healthy {
				t.Fatalf("healthy checkpoint diagnosed unhealthy: %v", kinds(rep))
			}
		})
	}
}

func kinds(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}

// A tied model trained for a few steps copies through its embedding's self logit; that is no
// training objective: never target_offset, never healthy (fresh: weights_untrained).
func TestBarelyTrainedIsNotAnObjective(t *testing.T) {
	for _, steps := range []int{1, 4} {
		t.Run(fmt.Sprint(steps, " steps"), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := faults.Train(dir, func(c *config.Config, _ *config.Variant) { c.TotalSteps, c.WarmupSteps = steps, 1 }, nil); err != nil {
				t.Fatal(err)
			}
			rep := diagnoseDir(t, dir)
			if f := findingOf(rep.Findings, KindTargetOffset); f != nil || rep.Healthy {
				t.Fatalf("a model trained %d steps: healthy %v, findings %v", steps, rep.Healthy, kinds(rep))
			}
			if steps == 1 && findingOf(rep.Findings, KindWeightsUntrained) == nil {
				t.Fatalf("one step: findings %v, want weights_untrained", kinds(rep))
			}
		})
	}
}

// Random checkpoints written by the independent numpy implementation (another initialiser:
// random norm weights and mHC parameters) are untrained draws, never a training objective.
func TestIndependentRandomCheckpointsAreUntrained(t *testing.T) {
	for _, d := range []string{"tied_mhc", "tied_mhc_d20like", "untied_mhc"} {
		t.Run(d, func(t *testing.T) {
			ck, err := checkpoint.Load(filepath.Join("..", "gomlxmodel", "testdata", "reference", d))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Diagnose(ck, faults.Contextual(4000, ck.Meta.Config.VocabSize, 3), nil, &Options{NoRunMetrics: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Healthy || findingOf(rep.Findings, KindWeightsUntrained) == nil {
				t.Fatalf("healthy %v, findings %v; want weights_untrained", rep.Healthy, kinds(rep))
			}
		})
	}
}
