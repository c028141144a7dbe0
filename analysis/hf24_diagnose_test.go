package analysis

import (
	"path/filepath"
	"testing"
)

// TestHF24FixturesDiagnosed: the checkpoints transformers 5.17 wrote for issue 24's families
// (gomlxmodel/hf/testdata/hf, bench/hf24_fixtures.py) are diagnosed blind on the kind of text
// they were trained on: each briefly trained one healthy, each random one weights_untrained.
func TestHF24FixturesDiagnosed(t *testing.T) {
	if testing.Short() {
		t.Skip("diagnoses 15 checkpoints")
	}
	tokens, err := foldedGoSource()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "gomlxmodel", "hf", "testdata", "hf")
	for _, c := range []struct {
		name, want string
	}{
		{"qwen2_trained_swa", ""}, {"qwen3_trained_tied", ""}, {"mistral_trained_swa", ""},
		{"gemma_trained", ""}, {"gemma2_trained", ""}, {"phi3_trained", ""}, {"gpt_neox_trained", ""},
		{"qwen2_random_gqa", "weights_untrained"}, {"qwen3_random_hd", "weights_untrained"},
		{"mistral_random_swa", "weights_untrained"}, {"gemma_random_mqa", "weights_untrained"},
		{"gemma2_random_caps", "weights_untrained"}, {"phi3_random", "weights_untrained"},
		{"gpt_neox_random_parallel", "weights_untrained"}, {"llama_random_options", "weights_untrained"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, rep := diagnoseKit(t, filepath.Join(root, c.name), tokens)
			got := faultKinds(rep)
			t.Logf("healthy %v, kinds %v, CE %.3f ± %.3f, unigram entropy %.3f", rep.Healthy, got, rep.Details.Losses.Shifted.CE, rep.Details.Losses.Shifted.CESE, UnigramEntropy(tokens))
			switch {
			case c.want == "" && !rep.Healthy:
				t.Errorf("trained checkpoint flagged: %+v", rep.Findings)
			case c.want != "" && (len(got) != 1 || got[0] != c.want):
				t.Errorf("want only %s, got %+v", c.want, rep.Findings)
			}
		})
	}
}
