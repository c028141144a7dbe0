package analysis

import (
	"slices"
	"testing"
)

// Score on a constructed gallery whose counts are worked out by hand: a true positive, a faulty
// case called healthy, a convention fault named with the wrong convention (a wrong kind), one
// called only unexplained, an informational kind caught by its finding, a healthy case with only
// an informational finding (not flagged) and one named a fault (flagged) — as Reports and as
// Named kinds.
func TestScore(t *testing.T) {
	rep := func(kinds ...string) *Report {
		r := &Report{}
		for _, k := range kinds {
			f := Finding{Kind: k, Evidence: map[string]any{}}
			if k == KindConventionMismatch {
				f.Evidence["convention"] = "embed_scale"
			}
			r.Findings = append(r.Findings, f)
		}
		return r
	}
	sc := Score([]Case{
		{Name: "healthy A", Report: rep(KindAlphaNoGradient)},
		{Name: "healthy B", Named: []string{KindTargetOffset}},
		{Name: "t1", Want: KindTargetOffset, Report: rep(KindTargetOffset, KindAlphaNoGradient)},
		{Name: "t2", Want: KindTargetOffset, Named: nil},
		{Name: "c1", Want: KindConventionMismatch, Convention: "qkv_order", Report: rep(KindConventionMismatch)},
		{Name: "u", Want: KindRopeLayout, Named: []string{KindUnexplained}},
		{Name: "a", Want: KindAlphaNoGradient, Report: rep(KindAlphaNoGradient)},
	})
	if sc.Faulty != 5 || sc.Healthy != 2 || !slices.Equal(sc.FalseHealthy, []string{"t2"}) || !slices.Equal(sc.WrongKind, []string{"c1"}) ||
		!slices.Equal(sc.Unexplained, []string{"u"}) || !slices.Equal(sc.HealthyFlagged, []string{"healthy B"}) {
		t.Fatalf("scores %+v", sc)
	}
	want := []KindScore{
		{Kind: KindAlphaNoGradient, TP: 1, Recall: 1, Precision: 1},
		{Kind: KindConventionMismatch, FN: 1, FP: 1},
		{Kind: KindRopeLayout, FN: 1},
		{Kind: KindTargetOffset, TP: 1, FN: 1, FP: 1, Recall: 0.5, Precision: 0.5},
	}
	if !slices.Equal(sc.Kinds, want) {
		t.Fatalf("kinds\n%+v\nwant\n%+v", sc.Kinds, want)
	}
	if sc.FalseHealthyRate() != 0.2 || sc.WrongKindRate() != 0.2 || sc.HealthyFlaggedRate() != 0.5 {
		t.Fatalf("rates %g %g %g", sc.FalseHealthyRate(), sc.WrongKindRate(), sc.HealthyFlaggedRate())
	}
}
