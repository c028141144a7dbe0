package analysis

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"nanoscope/faults"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

var gallery struct {
	sync.Once
	b   *faults.Builder
	dir string
}

// galleryDir returns the directory of a build of faults.Gallery, made once per test binary run.
func galleryDir(t *testing.T, name string) string {
	t.Helper()
	gallery.Do(func() {
		d, err := os.MkdirTemp("", "nanoscope-gallery-")
		if err != nil {
			t.Fatal(err)
		}
		gallery.dir, gallery.b = d, faults.NewBuilder(d)
	})
	dir, err := gallery.b.Dir(name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gallery.dir != "" {
		os.RemoveAll(gallery.dir)
	}
	os.Exit(code)
}

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

// Every build of the fault gallery is diagnosed with its kind — healthy builds with
// healthy: true and no fault finding — and the evidence that decides it.
func TestFaultGallery(t *testing.T) {
	evidence := map[string]map[string]any{
		"unshifted labels":      {"offset": 0},
		"labels shifted twice":  {"offset": 2},
		"rope interleaved":      {"trained_layout": config.RopeInterleaved},
		"gqa repeat_interleave": {"trained_mapping": config.GQAInterleave},
		"alpha_logit 5.0":       {"zero_gradient": 4},
	}
	tensors := map[string][]string{
		"fresh tok_embed":  {"tok_embed.weight"},
		"head at init":     {"lm_head.weight"},
		"norms not loaded": {"norm_final.weight", "blocks.0.norm_attn.weight", "blocks.1.norm_ffn.weight"},
	}
	for _, b := range faults.Gallery() {
		if b.Kind == "-" {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			rep := diagnoseDir(t, galleryDir(t, b.Name))
			if b.Kind == "" {
				if !rep.Healthy {
					t.Fatalf("healthy checkpoint diagnosed unhealthy: %v", kinds(rep))
				}
				for _, f := range rep.Findings {
					if !Informational(f.Kind) {
						t.Fatalf("fault finding %s on a healthy checkpoint: %s", f.Kind, f.Detail)
					}
				}
				return
			}
			f := findingOf(rep.Findings, b.Kind)
			if f == nil {
				t.Fatalf("no %s finding; got %v", b.Kind, kinds(rep))
			}
			for k, want := range evidence[b.Name] {
				if got := fmt.Sprint(f.Evidence[k]); got != fmt.Sprint(want) {
					t.Errorf("evidence %s = %s, want %v", k, got, want)
				}
			}
			for _, n := range tensors[b.Name] {
				if !slices.Contains(f.Tensors, n) {
					t.Errorf("tensor %s not in %v", n, f.Tensors)
				}
			}
			if Informational(b.Kind) != rep.Healthy {
				t.Errorf("%s: healthy %v", b.Kind, rep.Healthy)
			}
			// The verdicts follow the findings: alpha_logit without gradient supports H7 whatever
			// its value; an untrained draw supports H6 and leaves H1 untestable.
			switch b.Kind {
			case KindAlphaNoGradient:
				checkVerdicts(t, rep, map[string]Outcome{"H7": Supported})
			case KindWeightsUntrained, KindTensorsUntrained:
				checkVerdicts(t, rep, map[string]Outcome{"H1": Untestable, "H6": Supported})
			case KindTargetOffset:
				want := Refuted
				if f.Evidence["offset"] == 0 {
					want = Supported
				}
				checkVerdicts(t, rep, map[string]Outcome{"H1": want})
			case KindContextFree:
				checkVerdicts(t, rep, map[string]Outcome{"H5": Supported})
			}
		})
	}
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
