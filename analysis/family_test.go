package analysis

import (
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel/hf"
)

// goBytes returns the bytes of this package's Go sources: text of the distribution the trained
// Hugging Face fixtures learned (bytes of nanoscope's Go sources, bench/hf_fixtures.py).
func goBytes(t testing.TB, n int) []uint32 {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			out = append(out, uint32(c))
		}
		if len(out) >= n {
			break
		}
	}
	return out[:min(n, len(out))]
}

// TestDiagnoseHFFixtures: the trained fixtures of transformers are healthy, the random ones
// are weights_untrained under Hugging Face's initialisers.
func TestDiagnoseHFFixtures(t *testing.T) {
	want := map[string]string{
		"gpt2_random": KindWeightsUntrained, "llama_random_gqa": KindWeightsUntrained, "llama_mqa_f16": KindWeightsUntrained,
		"gpt2_trained_sharded": "", "gpt2_untied_bf16": "", "llama_trained_bf16": "", "llama_trained_tied_sharded": "", "gpt2_inner_f16": "",
	}
	data := goBytes(t, 60000)
	for name, kind := range want {
		t.Run(name, func(t *testing.T) {
			ck, err := hf.Load(filepath.Join("..", "gomlxmodel", "hf", "testdata", "hf", name))
			if err != nil {
				t.Fatal(err)
			}
			s, err := FromFamily(ck.Family, ck.Params, ck.Dir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := DiagnoseSubject(s, data, nil, &Options{Positions: 512, SeqLen: 40})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: healthy %v %v ce1 %.3f unigram %.3f copy %.3f", name, rep.Healthy, kinds(rep), rep.Details.Catalog.AsLoaded.CE[2], rep.Details.Catalog.Unigram, rep.Metrics.CopyRate)
			for _, h := range rep.Hypotheses {
				t.Logf("  %s %s: %.200s", h.ID, h.Verdict, h.Evidence)
			}
			if kind == "" && !rep.Healthy {
				t.Errorf("%s: not healthy: %v", name, rep.Findings)
			}
			if kind != "" && findingOf(rep.Findings, kind) == nil {
				t.Errorf("%s: want %s, found %v", name, kind, kinds(rep))
			}
		})
	}
}
