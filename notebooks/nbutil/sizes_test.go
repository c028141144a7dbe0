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
	}{{"d20", 256}, {"d40", 512}, {"d60", 768}} {
		r := runs[i]
		if r.Name != want.name || r.Meta.Config.Dim != want.dim || r.Meta.Step == 0 || len(r.Eval) == 0 || len(r.Logits) != len(NoteTokens()) ||
			r.Diagnose.Details.Positions == 0 {
			t.Errorf("run %d: %s dim %d step %d, %d validation passes, %d logit positions, %d diagnosed positions",
				i, r.Name, r.Meta.Config.Dim, r.Meta.Step, len(r.Eval), len(r.Logits), r.Diagnose.Details.Positions)
		}
	}
	if p := precisionOf(runs[0].Meta); p != "fp32" {
		t.Errorf("d20's precision %q, want fp32 (not recorded)", p)
	}
	if p := precisionOf(runs[2].Meta); p != "bf16" {
		t.Errorf("d60's precision %q, want bf16", p)
	}
}
