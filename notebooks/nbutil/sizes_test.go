package nbutil

import "testing"

// The GPU runs kept in the repository load as notebook 08 reads them.
func TestGPURuns(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	runs, err := GPURuns(root)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		name string
		dim  int
		step int
	}{{"d20", 256, 6300}, {"d40", 512, 6300}, {"d60", 768, 6300}, {"d20 (20k, H100)", 256, 20000}} {
		r := runs[i]
		if r.Name != want.name || r.Meta.Config.Dim != want.dim || r.Meta.Step != want.step || len(r.Eval) == 0 || len(r.Logits) != len(NoteTokens()) ||
			r.Diagnose.Details.Positions == 0 {
			t.Errorf("run %d: %s dim %d step %d, %d validation passes, %d logit positions, %d diagnosed positions",
				i, r.Name, r.Meta.Config.Dim, r.Meta.Step, len(r.Eval), len(r.Logits), r.Diagnose.Details.Positions)
		}
	}
	if p := precisionOf(runs[3].Meta); p != "fp32" {
		t.Errorf("the H100 d20's precision %q, want fp32 (not recorded)", p)
	}
	for _, r := range runs[:3] {
		if p := precisionOf(r.Meta); p != "bf16" {
			t.Errorf("%s's precision %q, want bf16", r.Name, p)
		}
	}
}
