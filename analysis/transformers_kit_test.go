package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel"
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
			_, rep := diagnoseKit(t, filepath.Join(dir, c.Name), tokens)
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

// The concurrent search and inference checks (the XLA path: alternatives, confirmations and
// checks run at once; dropout's masks drawn per check) give the same report as the sequential
// ones, on the Go backend with 4 workers: a
// GPT-2 whose fused QKV blocks were saved in another order, a Llama saved with another rope
// base.
func TestConcurrentSearchSameReport(t *testing.T) {
	dir := filepath.Join("testdata", "transformers_kit")
	tokens, err := tokenfile.Read(filepath.Join(dir, "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gpt2_qkv_swapped", "llama_theta1e5_saved1e4"} {
		t.Run(name, func(t *testing.T) {
			diagnose := func(workers int) []byte {
				workersOverride = workers
				defer func() { workersOverride = 0 }()
				l, rep := diagnoseKit(t, filepath.Join(dir, name), tokens)
				if len(rep.Details.Catalog.Search) < 2 {
					t.Fatalf("%d alternatives searched", len(rep.Details.Catalog.Search))
				}
				ids := make([]int32, 32)
				for i := range ids {
					ids[i] = int32(tokens[i])
				}
				clean, err := CheckInference(l.Family, l.Params, ids, l.BOS, "")
				if err != nil {
					t.Fatal(err)
				}
				dropout, err := CheckInference(l.Family, l.Params, ids, l.BOS, gomlxmodel.FaultDropout)
				if err != nil {
					t.Fatal(err)
				}
				b, err := json.Marshal(struct {
					Findings       []Finding
					Search         []Candidate
					Clean, Dropout *InferencePath
				}{rep.Findings, rep.Details.Catalog.Search, clean, dropout})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			one, four := diagnose(1), diagnose(4)
			if string(one) != string(four) {
				t.Fatalf("4 workers differ from 1:\n%s\n%s", one, four)
			}
		})
	}
}

// diagnoseKit opens the checkpoint in dir and diagnoses it on tokens with the default options.
func diagnoseKit(t *testing.T, dir string, tokens []uint32) (*load.Loaded, *Report) {
	t.Helper()
	l, err := load.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromLoaded(l)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := DiagnoseSubject(s, tokens, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, rep
}
