package nbutil

// The fault gallery (notebook 11): every build of faults.Gallery made under GalleryDir and
// diagnosed on faults.Data(), with what a user would see on a short prompt, and the tables and
// figures that show them.

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"nanoscope/analysis"
	"nanoscope/faults"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
	"nanoscope/report"
)

// Paths of the gallery, relative to the repository root (both under the ignored out/).
const (
	GalleryDir    = "out/faults"                   // the builds, made once and reused
	GalleryReport = "out/diagnose/11_gallery.json" // what RunGallery measured
	// GalleryPromptLen is the length of the prompt a user would try: the first tokens of
	// faults.Data(); GalleryTopK the predictions shown at each of its positions.
	GalleryPromptLen = 8
	GalleryTopK      = 3
)

// GalleryOptions are the options the gallery is diagnosed with, as in the catalog's tests.
var GalleryOptions = analysis.Options{Positions: 1024, NoRunMetrics: true}

// GalleryEntry is one build of the gallery (faults.Build without its recipe), its diagnosis
// and its top predictions on the prompt.
type GalleryEntry struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // the kind the diagnosis should name; "" for a healthy build
	Fault string `json:"fault"`
	Fix   string `json:"fix"`
	Dir   string `json:"dir"` // relative to the repository root
	// Built: made by this run (false: reused from GalleryDir); Seconds the time to make or
	// find it (trained bases included), DiagnoseSeconds the time of analysis.Diagnose.
	Built           bool                    `json:"built"`
	Seconds         float64                 `json:"seconds"`
	DiagnoseSeconds float64                 `json:"diagnose_seconds"`
	Prompt          []int                   `json:"prompt"`
	Top             [][]analysis.Prediction `json:"top"` // by position of the prompt
	Report          analysis.Report         `json:"report"`
}

// Gallery is the list of entries, in faults.Gallery's order.
type Gallery []GalleryEntry

// GalleryPrompt returns the prompt: the first GalleryPromptLen tokens of faults.Data().
func GalleryPrompt() []int {
	var out []int
	for _, id := range faults.Data()[:GalleryPromptLen] {
		out = append(out, int(id))
	}
	return out
}

// RunGallery makes every build of faults.Gallery (those of kind "-" only as the bases of
// others) under root/GalleryDir, reusing what is there, diagnoses each on faults.Data(),
// writes the entries to root/GalleryReport and returns them. progress receives one line per
// build.
func RunGallery(root string, progress io.Writer) (Gallery, error) {
	b := faults.NewBuilder(filepath.Join(root, GalleryDir))
	data, prompt := faults.Data(), GalleryPrompt()
	before := completeBuilds(b.Root)
	var g Gallery
	for _, x := range faults.Gallery() {
		if x.Kind == "-" {
			continue
		}
		t0 := time.Now()
		dir, err := b.Dir(x.Name)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return nil, err
		}
		e := GalleryEntry{Name: x.Name, Kind: x.Kind, Fault: x.Fault, Fix: x.Fix, Dir: rel, Prompt: prompt, Built: !before[filepath.Base(dir)], Seconds: time.Since(t0).Seconds()}
		t1 := time.Now()
		ck, err := checkpoint.Load(dir)
		if err != nil {
			return nil, err
		}
		rep, err := analysis.Diagnose(ck, data, nil, &GalleryOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", x.Name, err)
		}
		rep.Checkpoint = rel
		if e.Top, err = topPredictions(ck, prompt); err != nil {
			return nil, err
		}
		e.Report, e.DiagnoseSeconds = *rep, time.Since(t1).Seconds()
		if progress != nil {
			how := "reused"
			if e.Built {
				how = "built"
			}
			fmt.Fprintf(progress, "%-24s %s in %.1f s, diagnosed in %.1f s\n", x.Name, how, e.Seconds, e.DiagnoseSeconds)
		}
		g = append(g, e)
	}
	return g, WriteJSONFile(filepath.Join(root, GalleryReport), g)
}

// completeBuilds returns the names of the directories under dir that hold a complete build
// (a meta.json).
func completeBuilds(dir string) map[string]bool {
	out := map[string]bool{}
	ds, _ := os.ReadDir(dir) // none yet: nothing was built
	for _, d := range ds {
		if _, err := os.Stat(filepath.Join(dir, d.Name(), "meta.json")); err == nil {
			out[d.Name()] = true
		}
	}
	return out
}

// ReadGallery reads what RunGallery wrote.
func ReadGallery(root string) (Gallery, error) {
	var g Gallery
	if err := ReadJSONFile(filepath.Join(root, GalleryReport), &g); err != nil {
		return nil, fmt.Errorf("%w (run experiment 1 first)", err)
	}
	return g, nil
}

// topPredictions runs the prompt through the checkpoint as loaded and returns the top
// GalleryTopK predictions at every position.
func topPredictions(ck *checkpoint.Checkpoint, prompt []int) ([][]analysis.Prediction, error) {
	s, err := analysis.FromCheckpoint(ck)
	if err != nil {
		return nil, err
	}
	return analysis.TopPredictions(s, Int32s(prompt), GalleryTopK)
}

// Entry returns the entry named name; it panics when there is none, as a notebook cell should.
func (g Gallery) Entry(name string) GalleryEntry {
	for _, e := range g {
		if e.Name == name {
			return e
		}
	}
	panic("no gallery build " + strconv.Quote(name))
}

// Entries returns the entries named names, in that order.
func (g Gallery) Entries(names ...string) []GalleryEntry {
	var out []GalleryEntry
	for _, n := range names {
		out = append(out, g.Entry(n))
	}
	return out
}

// OfKind returns the names of the builds whose expected kind is kind, in gallery order.
func (g Gallery) OfKind(kind string) []string {
	var out []string
	for _, e := range g {
		if e.Kind == kind {
			out = append(out, e.Name)
		}
	}
	return out
}

// Finding returns the entry's finding of the given kind, or nil.
func (e GalleryEntry) Finding(kind string) *analysis.Finding {
	for i, f := range e.Report.Findings {
		if f.Kind == kind {
			return &e.Report.Findings[i]
		}
	}
	return nil
}

// Catalog returns the catalog measurements of the entry's diagnosis.
func (e GalleryEntry) Catalog() *analysis.Catalog { return e.Report.Details.Catalog }

// CE returns the as-loaded cross-entropy against the token at offset k.
func (e GalleryEntry) CE(k int) float64 {
	return e.Catalog().AsLoaded.CE[slices.Index(analysis.Offsets, k)]
}

// Condition returns the run of the convention search whose condition name starts with prefix
// ("no causal mask", "rope", "gqa"): the confirmed run on the catalog's windows, else the
// screen's (best offset and CE only); ok is false when the search tried none.
func (e GalleryEntry) Condition(prefix string) (analysis.OffsetCE, bool) {
	for _, c := range e.Catalog().Conditions {
		if strings.HasPrefix(c.Condition, prefix) {
			return c, true
		}
	}
	for _, c := range e.Catalog().Search {
		if name := analysis.ConditionName([]analysis.Flip{c.Flip}); c.Round == 1 && c.Skipped == "" && strings.HasPrefix(name, prefix) {
			return analysis.OffsetCE{Condition: name, Best: c.Offset, BestCE: c.CE}, true
		}
	}
	return analysis.OffsetCE{}, false
}

// Kinds returns the kinds of the entry's findings, in the report's order.
func (e GalleryEntry) Kinds() []string {
	var out []string
	for _, f := range e.Report.Findings {
		out = append(out, f.Kind)
	}
	return out
}

// Caught reports whether the diagnosis is what the build calls for: healthy builds healthy
// (no fault finding), the others with a finding of their kind, and healthy exactly when that
// kind is informational.
func (e GalleryEntry) Caught() bool {
	if e.Kind == "" {
		return e.Report.Healthy
	}
	return e.Finding(e.Kind) != nil && e.Report.Healthy == analysis.Informational(e.Kind)
}

// ShowGalleryLanguage shows the fault builds' model and the evaluation stream: its size, the
// share of positions that follow the rule token = f(token two back), and its unigram entropy.
func ShowGalleryLanguage() {
	c, data := faults.Config(), faults.Data()
	follows := 0
	for i := 2; i < len(data); i++ {
		if int(data[i]) == (7*int(data[i-2])+3)%c.VocabSize {
			follows++
		}
	}
	nbdisplay.ShowTable([]string{"model and data", "value"}, [][]string{
		{"width, layers", fmt.Sprintf("%d, %d", c.Dim, c.NLayers)},
		{"query heads, kv heads", fmt.Sprintf("%d, %d", c.NHeads, c.NKVHeads)},
		{"vocabulary, window", fmt.Sprintf("%d tokens, %d positions", c.VocabSize, c.MaxSeqLen)},
		{"training", fmt.Sprintf("%d steps of batch %d", c.TotalSteps, c.BatchSize)},
		{"evaluation stream (faults.Data)", fmt.Sprintf("%d tokens", len(data))},
		{"tokens that follow the rule", Pct(float64(follows) / float64(len(data)-2))},
		{"unigram entropy (nats)", F3(analysis.UnigramEntropy(data))},
		{"prompt (its first tokens)", fmt.Sprint(GalleryPrompt())},
	})
}

// ShowGalleryRuns tabulates every build: its expected kind, how it was made, the kinds the
// diagnosis named and whether that is the expected answer.
func ShowGalleryRuns(g Gallery) {
	var rows [][]string
	for _, e := range g {
		how := "reused"
		if e.Built {
			how = "built"
		}
		rows = append(rows, []string{e.Name, kindOrHealthy(e.Kind), e.Fault, fmt.Sprintf("%s, %.1f s", how, e.Seconds),
			fmt.Sprintf("%.1f s", e.DiagnoseSeconds), fmt.Sprint(e.Report.Healthy), strings.Join(e.Kinds(), ", "), yes(e.Caught())})
	}
	nbdisplay.ShowTable([]string{"build", "expected", "what was done", "made", "diagnosed in", "healthy", "findings", "as expected"}, rows)
}

func kindOrHealthy(k string) string {
	if k == "" {
		return "healthy"
	}
	return k
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// ShowUserView shows what a user of each named build would see: the top predictions at every
// position of the prompt (with the token that follows in the stream), then copy rate,
// next-token accuracy and next-token CE over the evaluated positions.
func ShowUserView(g Gallery, names ...string) {
	es := g.Entries(names...)
	head := []string{"pos", "input", "next in stream"}
	for _, e := range es {
		head = append(head, e.Name+": top 3 (p)")
	}
	prompt, data := es[0].Prompt, faults.Data()
	var rows [][]string
	for t, id := range prompt {
		row := []string{strconv.Itoa(t), strconv.Itoa(id), strconv.Itoa(int(data[t+1]))}
		for _, e := range es {
			var parts []string
			for _, x := range e.Top[t] {
				parts = append(parts, fmt.Sprintf("%d (%.2f)", x.ID, x.P))
			}
			mark := ""
			switch e.Top[t][0].ID {
			case int(data[t+1]):
				mark = " ✓"
			case id:
				mark = " = input"
			}
			row = append(row, strings.Join(parts, " ")+mark)
		}
		rows = append(rows, row)
	}
	nbdisplay.ShowTable(head, rows)
	rows = nil
	for _, e := range es {
		m := e.Report.Metrics
		rows = append(rows, []string{e.Name, Pct(m.CopyRate), Pct(m.NextTokenAccuracy), F3(e.CE(1)), F3(e.Catalog().Unigram), fmt.Sprint(e.Report.Healthy)})
	}
	nbdisplay.ShowTable([]string{"build", "copy rate", "next-token accuracy", "next-token CE (nats)", "unigram CE", "healthy"}, rows)
}

// ShowGalleryFindings shows the findings of the named builds as `nanoscope diagnose` reports
// them — kind, detail, evidence (the first 12 pairs), tensors and fix — for the build's own
// kind (for a healthy build, any fault finding; there should be none), with the kinds of its
// other findings in the last column.
func ShowGalleryFindings(g Gallery, names ...string) {
	var rows [][]string
	for _, e := range g.Entries(names...) {
		var main []analysis.Finding
		var other []string
		for _, f := range e.Report.Findings {
			if f.Kind == e.Kind || (e.Kind == "" && !analysis.Informational(f.Kind)) {
				main = append(main, f)
			} else {
				other = append(other, f.Kind)
			}
		}
		also := strings.Join(other, ", ")
		if len(main) == 0 {
			rows = append(rows, []string{e.Name, "(no " + kindOrFault(e.Kind) + " finding)", e.Report.Summary, "", "", "", also})
		}
		for _, f := range main {
			rows = append(rows, []string{e.Name, f.Kind, f.Detail, analysis.EvidenceText(f.Evidence, 12), shortNames(f.Tensors), f.Fix, also})
		}
	}
	nbdisplay.ShowTable([]string{"build", "kind", "detail", "evidence", "tensors", "fix", "other findings"}, rows)
}

func kindOrFault(k string) string {
	if k == "" {
		return "fault"
	}
	return k
}

func shortNames(ns []string) string {
	if len(ns) <= 4 {
		return strings.Join(ns, ", ")
	}
	return strings.Join(ns[:4], ", ") + fmt.Sprintf(" and %d more", len(ns)-4)
}

// OffsetFigure draws the as-loaded CE against the token at each target offset for the named
// builds, with the unigram CE (what a context-free model reaches) as a reference line.
func OffsetFigure(name string, g Gallery, names ...string) (plots.Figure, error) {
	var series []plots.Series
	var x []float64
	for _, k := range analysis.Offsets {
		x = append(x, float64(k))
	}
	es := g.Entries(names...)
	for _, e := range es {
		series = append(series, plots.Series{Label: e.Name, X: x, Y: e.Catalog().AsLoaded.CE})
	}
	return plots.OffsetCurves(name, "Cross-entropy against the token at t+k", series, []plots.HLine{{Label: "unigram CE", Y: es[0].Catalog().Unigram}})
}

// Conventions are the catalog's re-runs under another convention, by the prefix of their
// condition name, and their labels in figures.
var Conventions = []struct{ Prefix, Label string }{
	{"no causal mask", "causal mask removed"},
	{"rope", "other RoPE layout"},
	{"gqa", "other GQA mapping"},
}

// ConventionFigure draws, for each named build, the best CE over the offsets as loaded and
// under each other convention (what future_leakage, rope_layout and gqa_mapping compare).
func ConventionFigure(name string, g Gallery, names ...string) (plots.Figure, error) {
	series := []plots.BarSeries{{Label: "as loaded"}}
	for _, c := range Conventions {
		series = append(series, plots.BarSeries{Label: c.Label})
	}
	for _, e := range g.Entries(names...) {
		series[0].Values = append(series[0].Values, e.Catalog().AsLoaded.BestCE)
		for i, c := range Conventions {
			o, ok := e.Condition(c.Prefix)
			if !ok {
				return plots.Figure{}, fmt.Errorf("%s: no %q re-run", e.Name, c.Prefix)
			}
			series[i+1].Values = append(series[i+1].Values, o.BestCE)
		}
	}
	return plots.GroupedBars(name, "Best CE: as loaded vs. another convention", "cross-entropy (nats/token)", names, series)
}

// ShowConventions tabulates, for each named build, the best offset and CE as loaded and under
// each other convention, and the unigram CE.
func ShowConventions(g Gallery, names ...string) {
	head := []string{"build", "as loaded"}
	for _, c := range Conventions {
		head = append(head, c.Label)
	}
	head = append(head, "unigram CE")
	var rows [][]string
	for _, e := range g.Entries(names...) {
		a := e.Catalog().AsLoaded
		row := []string{e.Name, fmt.Sprintf("%.3f (k=%d)", a.BestCE, a.Best)}
		for _, c := range Conventions {
			o, _ := e.Condition(c.Prefix)
			row = append(row, fmt.Sprintf("%.3f (k=%d)", o.BestCE, o.Best))
		}
		rows = append(rows, append(row, F3(e.Catalog().Unigram)))
	}
	nbdisplay.ShowTable(head, rows)
}

// AlignZFigure draws the input-alignment z of every weight matrix of the blocks (the untrained
// test of analysis.TensorTraces; |z| below threshold is what a draw independent of the data
// gives) for the named builds.
func AlignZFigure(name string, g Gallery, threshold float64, names ...string) (plots.Figure, error) {
	es := g.Entries(names...)
	var tensors, rows []string
	for _, t := range es[0].Catalog().Traces {
		if n, err := gomlxmodel.ParseName(t.Name); err == nil && t.Test == "input alignment" && n.Root == gomlxmodel.RootBlocks {
			tensors = append(tensors, t.Name)
			rows = append(rows, report.ShortName(t.Name))
		}
	}
	vals := make([][]float64, len(tensors))
	for r, n := range tensors {
		for _, e := range es {
			i := slices.IndexFunc(e.Catalog().Traces, func(t analysis.TensorTrace) bool { return t.Name == n })
			if i < 0 {
				return plots.Figure{}, fmt.Errorf("%s: no input-alignment test of %s", e.Name, n)
			}
			vals[r] = append(vals[r], e.Catalog().Traces[i].AlignZ)
		}
	}
	title := fmt.Sprintf("Input alignment z per matrix (untrained: |z| < %g)", threshold)
	return plots.Heatmap(name, title, "build", "block.matrix", rows, names, vals)
}

// ShowTraceCounts tabulates, for each named build, how many tensors each untrained test finds
// untrained, the largest |align z| and the embedding's spectrum KS distance.
func ShowTraceCounts(g Gallery, names ...string) {
	var rows [][]string
	for _, e := range g.Entries(names...) {
		n, un, ks := 0, 0, math.NaN()
		for _, t := range e.Catalog().Traces {
			n++
			if t.Untrained {
				un++
			}
			if t.Spectrum != nil {
				ks = t.Spectrum.KS
			}
		}
		rows = append(rows, []string{e.Name, fmt.Sprintf("%d/%d", un, n), F3(MaxAlignZ(e)), F3(ks), fmt.Sprint(len(e.Catalog().Swaps))})
	}
	nbdisplay.ShowTable([]string{"build", "tensors untrained by their statistics", "max |align z|", "embedding spectrum KS", "replacement tests run"}, rows)
}

// SwapFigure draws the replacement tests of one build (report.SwapFigure).
func SwapFigure(name string, g Gallery, build string) (plots.Figure, error) {
	e := g.Entry(build)
	return report.SwapFigure(name, build, &e.Report)
}

// Measurements name, for each kind, the measurement that decides it (the closing table's
// "what catches it").
var Measurements = map[string]string{
	analysis.KindWeightsUntrained:     "every tensor's untrained test (input alignment, embedding spectrum, initial constants) and no skill",
	analysis.KindTensorsUntrained:     "untrained tests per tensor, confirmed by replacing the tensor with a fresh draw",
	analysis.KindTargetOffset:         "CE against the token at t+k, k = −1…3",
	analysis.KindFutureLeakage:        "the forward pass re-run without the causal mask",
	analysis.KindRopeLayout:           "the forward pass re-run with the other RoPE pairing",
	analysis.KindGQAMapping:           "the forward pass re-run with the other kv-head mapping",
	analysis.KindContextFree:          "dependence of the prediction on the context, next to the unigram CE",
	analysis.KindUnexplained:          "claimed vs measured loss, next-token CE vs the unigram CE",
	analysis.KindAlphaNoGradient:      "the gradient of alpha_logit on a batch",
	analysis.KindActivationOverflow16: "the largest activation against float16's range",
}

// GalleryRow is one line of the closing table: fault → what you see → what catches it → fix.
type GalleryRow struct{ Build, Kind, Fault, Sees, Catches, Fix string }

// GalleryTable builds the closing table from the reports: what a user sees is copy rate,
// next-token accuracy and next-token CE against the unigram CE; what catches it the finding's
// detail (its first clause) with its deciding numbers; the fix the finding's.
func GalleryTable(g Gallery) []GalleryRow {
	var out []GalleryRow
	for _, e := range g {
		m := e.Report.Metrics
		r := GalleryRow{Build: e.Name, Kind: kindOrHealthy(e.Kind), Fault: e.Fault,
			Sees: fmt.Sprintf("copies %s, next token %s, CE %.2f (unigram %.2f)", Pct(m.CopyRate), Pct(m.NextTokenAccuracy), e.CE(1), e.Catalog().Unigram)}
		switch f := e.Finding(e.Kind); {
		case !e.Caught():
			r.Catches, r.Fix = fmt.Sprintf("NOT AS EXPECTED: healthy %v, findings %v", e.Report.Healthy, e.Kinds()), "—"
		case e.Kind == "":
			r.Catches, r.Fix = "every measurement in range — "+e.Report.Summary, "—"
		default:
			r.Catches, r.Fix = Measurements[f.Kind]+" — "+f.Detail, f.Fix
		}
		out = append(out, r)
	}
	return out
}

// ShowGalleryTable shows the closing table.
func ShowGalleryTable(rows []GalleryRow) {
	var cells [][]string
	for _, r := range rows {
		cells = append(cells, []string{r.Kind, r.Build + ": " + r.Fault, r.Sees, r.Catches, r.Fix})
	}
	nbdisplay.ShowTable([]string{"finding", "fault (build: what was done)", "what you see", "what catches it (diagnose's detail)", "fix"}, cells)
}

// CheckGallery returns an error naming every build whose diagnosis is not the expected one.
func CheckGallery(g Gallery) error {
	var bad []string
	for _, e := range g {
		if !e.Caught() {
			bad = append(bad, fmt.Sprintf("%s: expected %s, got healthy=%v %v", e.Name, kindOrHealthy(e.Kind), e.Report.Healthy, e.Kinds()))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("fault gallery: %d of %d builds misdiagnosed: %s", len(bad), len(g), strings.Join(bad, "; "))
	}
	return nil
}

// MaxAlignZ returns the largest |input-alignment z| over the entry's matrices.
func MaxAlignZ(e GalleryEntry) float64 {
	z := 0.0
	for _, t := range e.Catalog().Traces {
		z = max(z, math.Abs(t.AlignZ))
	}
	return z
}
