package analysis

import (
	"math"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/train"
)

// GradientFlow and TrainInferenceParity differentiate the trainer's own objective: on the
// batch of a training step, with the step's weights, GradientFlow's loss and per-parameter
// gradient norms are the ones the trainer's step reports, and the parity's gradient norm is
// the step's global norm (before clipping).
func TestInstrumentsSeeTheTrainersObjective(t *testing.T) {
	for _, tc := range []struct {
		name    string
		variant func(*config.Variant)
	}{
		{"ternary, mHC", func(*config.Variant) {}},
		{"float, plain residual", func(v *config.Variant) { v.Ternary, v.MHC = false, false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			v := config.DefaultVariant()
			tc.variant(&v)
			p := gomlxmodel.InitParams(c, v, 3)
			for n := range p {
				if gomlxmodel.InitOf(n).Normal {
					scale(p, n, 0.5)
				}
			}
			s := mustSubject(t, c, v, p)
			w := mustWindows(t, randomTokens(1000, c.VocabSize, 4), c.MaxSeqLen, c.BatchSize*c.MaxSeqLen)
			if len(w.Inputs) != c.BatchSize {
				t.Fatalf("%d windows, want a batch of %d", len(w.Inputs), c.BatchSize)
			}
			tr, err := train.New(train.Options{Config: c, Variant: v, Init: p})
			if err != nil {
				t.Fatal(err)
			}
			step, err := tr.Step(0, slices.Concat(w.Inputs...), slices.Concat(w.Targets(v.TargetShift)...))
			if err != nil {
				t.Fatal(err)
			}
			gf, err := GradientFlow(s, w)
			if err != nil {
				t.Fatal(err)
			}
			par, err := TrainInferenceParity(s, w)
			if err != nil {
				t.Fatal(err)
			}
			near := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-5*max(1e-3, math.Abs(want)) {
					t.Errorf("%s: instrument %.9g, trainer %.9g", what, got, want)
				}
			}
			near("loss", gf.Loss, step.Loss)
			near("global gradient norm (parity)", par.GradNorm, step.GradNorm)
			if len(gf.Params) != len(step.GradNorms) {
				t.Fatalf("%d parameters, the trainer logs %d", len(gf.Params), len(step.GradNorms))
			}
			for _, pg := range gf.Params {
				near("gradient norm of "+pg.Name, pg.GradNorm, step.GradNorms[pg.Name])
			}
		})
	}
}
