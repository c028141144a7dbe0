package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"nanoscope/analysis"
)

// testReport is a report with one finding, one verdict, a lens of two points and, when
// catalog, the CE at every target offset.
func testReport(catalog bool) *analysis.Report {
	r := &analysis.Report{
		Checkpoint: "ck",
		Findings: []analysis.Finding{{Kind: analysis.KindTargetOffset, Detail: "best at t+0 | not t+1", Fix: "shift the targets",
			Evidence: map[string]any{"best_offset": 0.0, "ce": 1.23456}, Tensors: []string{"a", "b"}}},
		Hypotheses: []analysis.Verdict{{ID: "H1", Name: "no target shift", Verdict: "supported", Evidence: "CE t+0 1.2"}},
		Summary:    "copies",
	}
	r.Metrics.CopyRate, r.Metrics.CopyRateSE, r.Metrics.Windows = 0.5, 0.01, 2
	r.Details.Lens.Points = []analysis.LensPoint{{Point: "embed", Stream: "embed", CopyRate: 1}, {Point: "block 0", Stream: "s0", CopyRate: 0.5, NextTokenAccuracy: 0.25}}
	if catalog {
		r.Details.Catalog = &analysis.Catalog{Offsets: []int{-1, 0, 1}, AsLoaded: analysis.OffsetCE{Condition: "as loaded", CE: []float64{3, 1, 2}}, Unigram: 2.5}
	}
	return r
}

func TestTables(t *testing.T) {
	r := testReport(true)
	f := Findings(r)
	if want := []string{analysis.KindTargetOffset, "best at t+0 | not t+1", "best_offset=0 ce=1.235", "shift the targets", "a, b"}; !slices.Equal(f.Rows[0], want) {
		t.Errorf("Findings row %q, want %q", f.Rows[0], want)
	}
	if h := Hypotheses(r); !slices.Equal(h.Rows[0], []string{"H1", "supported", "no target shift", "CE t+0 1.2"}) {
		t.Errorf("Hypotheses row %q", h.Rows[0])
	}
	for _, tc := range []struct {
		windows  int
		ternary  bool
		rows     int
		copyRate string
	}{
		{2, true, 16, "0.5000 ± 0.0100"},
		{1, true, 16, "0.5000"},
		{2, false, 14, "0.5000 ± 0.0100"}, // no claimed loss, no alpha_logit row
	} {
		r.Metrics.Windows = tc.windows
		m := Measurements(r, tc.ternary)
		if len(m.Rows) != tc.rows || m.Rows[0][0] != "copy rate" || m.Rows[0][1] != tc.copyRate {
			t.Errorf("windows %d ternary %v: %d rows, first %q; want %d rows, copy rate %q", tc.windows, tc.ternary, len(m.Rows), m.Rows[0], tc.rows, tc.copyRate)
		}
		hasClaimed := slices.ContainsFunc(m.Rows, func(row []string) bool { return row[0] == "claimed loss (meta.json)" })
		if hasClaimed != tc.ternary {
			t.Errorf("ternary %v: claimed-loss row present %v", tc.ternary, hasClaimed)
		}
	}
}

func TestFigures(t *testing.T) {
	for _, tc := range []struct {
		catalog bool
		titles  []string
	}{
		{true, []string{"Logit lens", "Cross-entropy by target offset"}},
		{false, []string{"Logit lens", "Losses"}},
	} {
		var titles []string
		for _, f := range Figures(testReport(tc.catalog)) {
			if len(f.PNG) == 0 {
				t.Errorf("%s: no PNG", f.Title)
			}
			titles = append(titles, f.Title)
		}
		if !slices.Equal(titles, tc.titles) {
			t.Errorf("catalog %v: figures %q, want %q", tc.catalog, titles, tc.titles)
		}
	}
	empty := &analysis.Report{Checkpoint: "none"}
	if _, err := LensFigure("x", empty); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("LensFigure without points: %v", err)
	}
	if _, err := OffsetFigure("x", empty); err == nil {
		t.Error("OffsetFigure without a catalog: no error")
	}
	if _, err := SwapFigure("x", "none", testReport(true)); err == nil || !strings.Contains(err.Error(), "no replacement tests") {
		t.Errorf("SwapFigure without swaps: %v", err)
	}
	r := testReport(true)
	r.Details.Catalog.Swaps = []analysis.Swap{{Tensor: "blocks.0.attn.wq.weight", DeltaCE: 0.4, Informative: true}, {Tensor: "tok_embed.weight", DeltaCE: 0.01}}
	if fig, err := SwapFigure("x", "b", r); err != nil || len(fig.PNG) == 0 {
		t.Errorf("SwapFigure: %v", err)
	}
}

func TestDocuments(t *testing.T) {
	r := testReport(true)
	d := Document{Title: "diagnosis of ck", Setup: []string{"data d"}, Report: r, Measurements: Measurements(r, true)}
	var md, page bytes.Buffer
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# diagnosis of ck\n\n**Healthy: no**", "| `target_offset` | best at t+0 \\| not t+1 | best_offset=0 ce=1.235 | shift the targets | a, b |",
		"| H1 | supported | no target shift | CE t+0 1.2 |", "- data d\n", "| copy rate | 0.5000 ± 0.0100 |", "## Logit lens", "data:image/png;base64,"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	for _, want := range []string{"<title>diagnosis of ck</title>", "<td><code>target_offset</code></td><td>best at t+0 | not t+1</td>", "<li>data d</li>", "<img alt=\"Logit lens\""} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Index(md.String(), "Findings") > strings.Index(md.String(), "Hypotheses") {
		t.Error("findings do not come first")
	}
}

// ShortName, the label of a parameter in figures: the block's parameters without "blocks." and
// ".weight"; a name of another vocabulary unchanged.
func TestShortName(t *testing.T) {
	for name, want := range map[string]string{
		"blocks.0.attn.wq.weight":            "0.attn.wq",
		"blocks.10.ffn.w_down.weight":        "10.ffn.w_down",
		"tok_embed.weight":                   "tok_embed",
		"blocks.2.mhc_ffn.alpha_logit":       "2.mhc_ffn.alpha_logit",
		"transformer.h.1.attn.c_attn.weight": "transformer.h.1.attn.c_attn",
	} {
		if got := ShortName(name); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", name, got, want)
		}
	}
}

// The inference path's checks and the engine fingerprint appear in both documents, as tables
// with their numbers; neither section appears without them.
func TestDocumentsInferenceSections(t *testing.T) {
	r := testReport(true)
	write := func() (string, string) {
		d := Document{Title: "t", Report: r, Measurements: Measurements(r, true)}
		var md, page bytes.Buffer
		if err := d.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteHTML(&page); err != nil {
			t.Fatal(err)
		}
		return md.String(), page.String()
	}
	if md, page := write(); strings.Contains(md, "Inference path") || strings.Contains(page, "Engine fingerprint") {
		t.Fatal("sections without checks or observation")
	}
	r.Details.Inference = &analysis.InferencePath{Passed: false, Failed: []string{"kv_cache"}, Checks: []analysis.InferenceCheck{
		{Name: "kv_cache", Compared: "cache vs full", MaxAbsDelta: 2.5, Floor: 1e-6, Margin: 2.5e6, Limit: 100, ArgmaxAgreement: 0.5},
		{Name: "repeat", Compared: "two forwards", MaxAbsDelta: 0, Floor: 1e-6, Margin: 0, Limit: 100, ArgmaxAgreement: 1, Passed: true},
	}}
	r.Details.Engine = &analysis.EngineFingerprint{Verdict: "explained", Detail: "kv +1 reproduces 100%", Runs: []analysis.EngineRun{
		{Name: "kv +1", Kind: "kv_position_plus1", Agreement: 1, SE: 0.01},
		{Name: "as loaded", Kind: analysis.RunAsLoaded, Agreement: 0.5, SE: 0.05, LogitMAE: 0.25},
	}}
	md, page := write()
	for _, want := range []string{"## Inference path\n\nFailed: kv_cache.", "| kv_cache | cache vs full | 2.5 | 1e-06 | 2.5e+06 / 100 | 0.500 | FAIL |",
		"| repeat | two forwards | 0 | 1e-06 | 0 / 100 | 1.000 | pass |", "## Engine fingerprint\n\nexplained: kv +1 reproduces 100%",
		"| as loaded | as_loaded | 0.500 ± 0.050 | 0.25 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	for _, want := range []string{"<h2>Inference path</h2>", "<td>kv_cache</td><td>cache vs full</td><td>2.5</td>", "<h2>Engine fingerprint</h2>", "<td>kv_position_plus1</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}
