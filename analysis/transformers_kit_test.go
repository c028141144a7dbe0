package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

// TestTransformersKit: checkpoints written by transformers itself (bench/blind_kit.py on the GPU
// machine: trained by transformers, some under another convention than their config says, some
// with a tensor left at its initialiser, two with faults no kind names) are diagnosed with the
// kind kit.json records: healthy ones healthy, convention faults named with their convention,
// the unnamed kinds unexplained — never a wrong kind.
func TestTransformersKit(t *testing.T) {
	dir := filepath.Join("testdata", "transformers_kit")
	var kit []struct{ Name, Kind, Convention string }
	b, err := os.ReadFile(filepath.Join(dir, "kit.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &kit); err != nil {
		t.Fatal(err)
	}
	tokens, err := tokenfile.Read(filepath.Join(dir, "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kit {
		t.Run(c.Name, func(t *testing.T) {
			l, err := load.Open(filepath.Join(dir, c.Name))
			if err != nil {
				t.Fatal(err)
			}
			s, err := FromFamily(l.Family, l.Params, l.Dir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := DiagnoseSubject(s, tokens, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := faultKinds(rep)
			t.Logf("healthy %v, kinds %v", rep.Healthy, got)
			switch {
			case c.Kind == "" && !rep.Healthy:
				t.Errorf("healthy checkpoint flagged: %+v", rep.Findings)
			case c.Kind != "" && (len(got) != 1 || !namesConvention(rep, c.Kind, c.Convention)):
				t.Errorf("want only %s %s, got %+v", c.Kind, c.Convention, rep.Findings)
			}
		})
	}
}
