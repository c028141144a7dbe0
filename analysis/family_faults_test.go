package analysis

import (
	"os"
	"strings"
	"testing"
	"time"

	"nanoscope/faults"
	"nanoscope/gomlxmodel/hf"
)

// TestFamilyFaults: the fault builds of GPT-2 and Llama (trained with AdamW, saved and loaded in
// Hugging Face layout) are diagnosed with their kind; the healthy ones are healthy.
func TestFamilyFaults(t *testing.T) {
	root := t.TempDir()
	data := faults.Data()
	for _, b := range faults.FamilyGallery() {
		if only := os.Getenv("FAMILY_FAULT"); only != "" && !strings.Contains(b.Name, only) {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			start := time.Now()
			dir, err := faults.FamilyDir(root, b.Name)
			if err != nil {
				t.Fatal(err)
			}
			built := time.Since(start)
			ck, err := hf.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			s, err := FromFamily(ck.Family, ck.Params, dir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := DiagnoseSubject(s, data, nil, &Options{Positions: 1024})
			if err != nil {
				t.Fatal(err)
			}
			c := rep.Details.Catalog
			t.Logf("%s: healthy %v %v (CE by offset %s, unigram %.3f; built %.1fs, diagnosed %.1fs)", b.Name, rep.Healthy, kinds(rep),
				fmtCEs(c.AsLoaded.CE), c.Unigram, built.Seconds(), (time.Since(start) - built).Seconds())
			for _, cond := range c.Conditions {
				t.Logf("  %s: CE by offset %s", cond.Condition, fmtCEs(cond.CE))
			}
			switch {
			case b.Kind == "" && !rep.Healthy:
				t.Errorf("%s: not healthy: %v", b.Name, rep.Findings)
			case b.Kind != "" && findingOf(rep.Findings, b.Kind) == nil:
				t.Errorf("%s: want %s, found %v", b.Name, b.Kind, kinds(rep))
			}
		})
	}
}
