package nbutil

import (
	"strings"
	"testing"

	"nanoscope/analysis"
	"nanoscope/gallery"
)

// galleryEntry is an entry with a catalog (CE by offset ce, unigram CE 3) and findings of kinds.
func galleryEntry(name, kind string, healthy bool, kinds ...string) GalleryEntry {
	e := GalleryEntry{Name: name, Kind: kind}
	e.Report.Healthy = healthy
	e.Report.Details.Catalog = &analysis.Catalog{Unigram: 3, AsLoaded: analysis.OffsetCE{CE: []float64{4, 4, 1, 4, 4}, Best: 1, BestCE: 1}}
	for _, k := range kinds {
		e.Report.Findings = append(e.Report.Findings, analysis.Finding{Kind: k, Detail: k + " detail", Fix: k + " fix", Evidence: map[string]any{"offset": 2.0}})
	}
	return e
}

func TestGalleryCheck(t *testing.T) {
	g := Gallery{
		galleryEntry("healthy", "", true, analysis.KindAlphaNoGradient),
		galleryEntry("shifted", analysis.KindTargetOffset, false, analysis.KindTargetOffset, analysis.KindAlphaNoGradient),
		galleryEntry("overflow", analysis.KindActivationOverflow16, true, analysis.KindActivationOverflow16),
	}
	if err := CheckGallery(g); err != nil {
		t.Fatal(err)
	}
	if got := g.OfKind(analysis.KindTargetOffset); len(got) != 1 || got[0] != "shifted" {
		t.Fatalf("OfKind = %v", got)
	}
	if g.Entry("healthy").CE(1) != 1 {
		t.Fatal("CE(1) is not the CE at offset 1")
	}
	rows := GalleryTable(g)
	if len(rows) != 3 || !strings.Contains(rows[1].Catches, "target_offset detail") || rows[1].Fix != "target_offset fix" {
		t.Fatalf("table: %+v", rows)
	}
	for _, bad := range []Gallery{
		{galleryEntry("healthy", "", false, analysis.KindContextFree)},                        // a healthy build called unhealthy
		{galleryEntry("shifted", analysis.KindTargetOffset, false, analysis.KindUnexplained)}, // the wrong kind
		{galleryEntry("overflow", analysis.KindActivationOverflow16, false, analysis.KindActivationOverflow16)},
	} {
		if err := CheckGallery(bad); err == nil {
			t.Errorf("%s (%v): no error", bad[0].Name, bad[0].Kinds())
		}
		if r := GalleryTable(bad)[0]; !strings.HasPrefix(r.Catches, "NOT AS EXPECTED") {
			t.Errorf("%s: table says %q", bad[0].Name, r.Catches)
		}
	}
}

// ShowScores' summary counts the constructed results: one faulty family build caught, a
// ternary healthy control, a clean inference path, and an inference fault left out as inert.
func TestShowScores(t *testing.T) {
	caught := &analysis.Report{Findings: []analysis.Finding{{Kind: analysis.KindTargetOffset}}}
	results := []gallery.Result{
		{Build: gallery.Build{Name: "f", Set: gallery.SetFamily, Kind: analysis.KindTargetOffset}, Counted: true, Case: analysis.Case{Name: "f", Want: analysis.KindTargetOffset, Report: caught}},
		{Build: gallery.Build{Name: "h", Set: gallery.SetTernary}, Counted: true, Case: analysis.Case{Name: "h", Report: &analysis.Report{}}},
		{Build: gallery.Build{Name: "c", Set: gallery.SetInference}, Counted: true, Case: analysis.Case{Name: "c"}, Inference: &gallery.InferenceResult{}},
		{Build: gallery.Build{Name: "p", Set: gallery.SetInference, Kind: "left_pad_no_position_ids"}, Inference: &gallery.InferenceResult{Skipped: "inert"}},
	}
	var cases []analysis.Case
	for _, r := range results {
		if r.Counted {
			cases = append(cases, r.Case)
		}
	}
	got := ShowScores(results, analysis.Score(cases))
	for _, want := range []string{"1 faulty builds: 0 called healthy (0.000), 0 given a wrong kind (0.000), 0 unexplained ()",
		"2 healthy controls (ternary 1, family 0, clean inference paths 1): 0 flagged (0.000)", "Left out: *p* (inert)."} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}
