// Package gallery diagnoses the fault builds of package faults blind and scores the diagnosis
// in the classification literature's form (analysis.Score): the table test of the gallery and
// notebook 11 both run it. It sits above analysis and faults because analysis's own tests build
// faults.
package gallery

import (
	"fmt"
	"strings"
	"time"

	"nanoscope/analysis"
	"nanoscope/faults"
	"nanoscope/gomlxmodel/load"
)

// Result is one build of the family gallery diagnosed: its case, whether it counts (a
// convention fault whose own convention does not predict better at offset 1 is no fault and
// is left out of the scores, with the gain that decided it), and the seconds spent.
type Result struct {
	Case      analysis.Case
	Counted   bool
	Gain, SE  float64 // the convention fault's own gain at offset 1 (0 for other builds)
	Built     time.Duration
	Diagnosed time.Duration
}

// Family builds (under root, reusing what is there) and diagnoses every build of
// faults.FamilyGallery whose name contains only ("" for all), on faults.Data, and returns the
// results and the scores of those that count.
func Family(root, only string) ([]Result, analysis.Scores, error) {
	data := faults.Data()
	var out []Result
	var cases []analysis.Case
	for _, b := range faults.FamilyGallery() {
		if only != "" && !strings.Contains(b.Name, only) {
			continue
		}
		start := time.Now()
		dir, err := faults.FamilyDir(root, b.Name)
		if err != nil {
			return nil, analysis.Scores{}, err
		}
		r := Result{Built: time.Since(start), Counted: true}
		l, err := load.Open(dir)
		if err != nil {
			return nil, analysis.Scores{}, err
		}
		s, err := analysis.FromFamily(l.Family, l.Params, dir)
		if err != nil {
			return nil, analysis.Scores{}, err
		}
		rep, err := analysis.DiagnoseSubject(s, data, nil, &analysis.Options{Positions: 1024})
		if err != nil {
			return nil, analysis.Scores{}, fmt.Errorf("gallery: %s: %w", b.Name, err)
		}
		if b.Convention != "" {
			w, err := analysis.SampleWindows(data, s.SeqLen, 512)
			if err != nil {
				return nil, analysis.Scores{}, err
			}
			if r.Gain, r.SE, err = analysis.ConventionGain(s, w, b.Convention, b.Value, 1); err != nil {
				return nil, analysis.Scores{}, err
			}
			r.Counted = analysis.Significant(r.Gain, r.SE)
		}
		r.Diagnosed = time.Since(start) - r.Built
		r.Case = analysis.Case{Name: b.Name, Want: b.Kind, Convention: b.Convention, Report: rep}
		if r.Counted {
			cases = append(cases, r.Case)
		}
		out = append(out, r)
	}
	return out, analysis.Score(cases), nil
}
