// Package gallery is the fault gallery as one table: every build of package faults — the
// ternary nanoscope model's (faults.Gallery) and GPT-2's, Llama's, Qwen2's and GPT-NeoX's in
// Hugging Face layout (faults.FamilyGallery) — made under a known fault, and every inference fault of nanoscope's
// own inference path (gomlxmodel.InferenceFaults) on a checkpoint of every family, diagnosed
// blind and scored together in the classification literature's form (analysis.Score). The table test of the gallery and
// notebook 11 both run it. It sits above analysis and faults because analysis's own tests build
// faults.
package gallery

import (
	"fmt"
	"strings"
	"time"

	"nanoscope/analysis"
	"nanoscope/faults"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/load"
)

// The sets of the gallery: where a build comes from.
const (
	SetTernary = "ternary" // faults.Gallery: the investigated ternary model, nanoscope's format
	SetFamily  = "family"  // faults.FamilyGallery: GPT-2, Llama, Qwen2 and GPT-NeoX in Hugging Face layout
)

// Build is one row of the gallery: its name, set, the kind the diagnosis should name ("" for
// a healthy control) and, for a convention fault, the convention and the value it was trained
// under.
type Build struct {
	Name, Set, Kind   string
	Convention, Value string
	// edit is the slip a tensors_misplaced build made (its Convention the edit's).
	edit *analysis.Edit
	// An inference row's model, fault, how its observation is printed and its pads.
	model, observe string
	fault          gomlxmodel.InferenceFault
	pads           int
}

// Builds lists the gallery in order: faults.Gallery's builds (but the bases others are made
// from, kind "-"), faults.FamilyGallery's, then the inference rows (the clean path of each
// model observed two ways, a healthy control, and each inference fault, of the fault's kind).
func Builds() []Build {
	var out []Build
	for _, b := range faults.Gallery() {
		if b.Kind != "-" {
			out = append(out, Build{Name: b.Name, Set: SetTernary, Kind: b.Kind})
		}
	}
	for _, b := range faults.FamilyGallery() {
		g := Build{Name: b.Name, Set: SetFamily, Kind: b.Kind, Convention: b.Convention, Value: b.Value}
		if b.From != "" {
			g.edit = &analysis.Edit{Transpose: b.Transpose, Exchange: b.Exchange}
			g.Convention = g.edit.Flip().Convention
		}
		out = append(out, g)
	}
	return append(out, inferenceBuilds()...)
}

// Dirs are the directories the builds are made under and reused from: Ternary for
// faults.Gallery (a meta.json marks a complete build), Family for faults.FamilyGallery (a
// config.json does); Repo is the repository root, whose testdata holds the fixtures of the
// inference rows.
type Dirs struct{ Ternary, Family, Repo string }

// Result is one build diagnosed: its row, its case (what Score reads), whether it counts (a
// convention fault whose own convention does not predict better at offset 1 is no fault and
// is left out of the scores, with the gain and its standard error, in nats, that decided it),
// and the time spent making and diagnosing it. An inference row's diagnosis is in Inference
// (Case.Report nil, Case.Named what it named); one whose fault is inert on its model is not
// counted (Inference.Skipped says why).
type Result struct {
	Build     Build
	Case      analysis.Case
	Inference *InferenceResult
	Counted   bool
	Gain, SE  float64 // the convention fault's own gain at offset 1 (0 for other builds)
	Built     time.Duration
	Diagnosed time.Duration
}

// Run makes (reusing what is under d) and diagnoses every build of Builds whose name contains
// only ("" for all) on 1024 positions of faults.Data (the ternary builds without run metrics:
// their training keeps none), and returns the results in order and the scores of those
// that count. Errors name the build.
func Run(d Dirs, only string) ([]Result, analysis.Scores, error) {
	data := faults.Data()
	ternary := faults.NewBuilder(d.Ternary)
	var out []Result
	var cases []analysis.Case
	for _, b := range Builds() {
		if only != "" && !strings.Contains(b.Name, only) {
			continue
		}
		start := time.Now()
		r := Result{Build: b, Counted: true}
		var rep *analysis.Report
		switch b.Set {
		case SetTernary:
			dir, err := ternary.Dir(b.Name)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			r.Built = time.Since(start)
			ck, err := checkpoint.Load(dir)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			if rep, err = analysis.Diagnose(ck, data, nil, &analysis.Options{Positions: 1024, NoRunMetrics: true}); err != nil {
				return nil, analysis.Scores{}, fmt.Errorf("gallery: %s: %w", b.Name, err)
			}
		case SetFamily:
			dir, err := faults.FamilyDir(d.Family, b.Name)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			r.Built = time.Since(start)
			l, err := load.Open(dir)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			s, err := analysis.FromFamily(l.Family, l.Params, dir)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			if rep, err = analysis.DiagnoseSubject(s, data, nil, &analysis.Options{Positions: 1024}); err != nil {
				return nil, analysis.Scores{}, fmt.Errorf("gallery: %s: %w", b.Name, err)
			}
			if b.Convention != "" {
				w, err := analysis.SampleWindows(data, s.SeqLen, 512)
				if err != nil {
					return nil, analysis.Scores{}, err
				}
				f := analysis.Flip{Convention: b.Convention, Value: b.Value}
				if b.edit != nil {
					f = b.edit.Flip() // undone by the same edit
				}
				if r.Gain, r.SE, err = analysis.FlipGain(s, w, f, 1); err != nil {
					return nil, analysis.Scores{}, err
				}
				r.Counted = analysis.Significant(r.Gain, r.SE)
			}
		case SetInference:
			var err error
			if r.Inference, r.Case.Named, err = runInference(d, b); err != nil {
				return nil, analysis.Scores{}, err
			}
			r.Counted = r.Inference.Skipped == ""
		default:
			return nil, analysis.Scores{}, fmt.Errorf("gallery: %s: set %q is not one of %s, %s, %s", b.Name, b.Set, SetTernary, SetFamily, SetInference)
		}
		r.Diagnosed = time.Since(start) - r.Built
		r.Case = analysis.Case{Name: b.Name, Want: b.Kind, Convention: b.Convention, Report: rep, Named: r.Case.Named}
		if r.Counted {
			cases = append(cases, r.Case)
		}
		out = append(out, r)
	}
	return out, analysis.Score(cases), nil
}
