package nbutil

import (
	"path/filepath"
	"slices"
	"testing"

	"nanoscope/gomlxmodel/tokenfile"
)

func TestRunningMean(t *testing.T) {
	got := RunningMean([]float64{1, 2, 3, 4, 5}, 2)
	want := []float64{1.5, 2, 3, 4, 4.5}
	if !slices.Equal(got, want) {
		t.Fatalf("RunningMean = %v, want %v", got, want)
	}
}

func TestShiftCheckAndRepeats(t *testing.T) {
	ids := make([]uint32, 1000)
	for i := range ids {
		ids[i] = uint32(i % 7)
	}
	T := 16
	if r := ShiftCheck(ids, T, 20, 1); r.NextMatches != r.Positions || r.Windows != 20 || r.Positions != 20*T {
		t.Fatalf("shift 1: %+v", r)
	}
	if r := ShiftCheck(ids, T, 20, 0); r.NextMatches != 0 {
		t.Fatalf("shift 0 on a sequence that never repeats: %d matches", r.NextMatches)
	}
	ok, pos, err := BatchCheck(ids, T, 4, 3)
	if err != nil || ok != pos || pos != 3*4*T {
		t.Fatalf("BatchCheck = %d of %d, %v", ok, pos, err)
	}
	if n := tokenfile.NumWindows(len(ids), T); n == 0 {
		t.Fatal("no windows")
	}
	rep := []uint32{1, 1, 2, 5, 5, 5}
	if n, unk, total := Repeats(rep, 5); n != 3 || unk != 2 || total != 5 {
		t.Fatalf("Repeats = %d, %d, %d", n, unk, total)
	}
}

func TestCopyingOf(t *testing.T) {
	ids := []int{10, 20, 30}
	preds := [][]Prediction{{{ID: 10, Logit: 5}, {ID: 1, Logit: 1}}, {{ID: 30, Logit: 2}, {ID: 2, Logit: 1.5}}, {{ID: 7, Logit: -1}, {ID: 3, Logit: -2}}}
	c := CopyingOf(ids, preds)
	if c.Copies != 1 || c.Next != 1 || c.Lo != -1 || c.Hi != 5 || c.RunnerUp != 1.5 || c.Positions != 3 {
		t.Fatalf("CopyingOf = %+v", c)
	}
	sp := SelfPredictions{{Input: 1, Argmax: 1, Top: 3, SqrtDNorm: 2.5}, {Input: 2, Argmax: 3, Top: 1, SqrtDNorm: 1}, {Input: 3, Argmax: 3, Top: 2, SqrtDNorm: 2}}
	if sp.Copies() != 2 || sp.NextHits() != 1 || sp.MaxGap() != 0.5 {
		t.Fatalf("SelfPredictions: copies %d, next %d, gap %g", sp.Copies(), sp.NextHits(), sp.MaxGap())
	}
	if lo, hi := sp.TopRange(); lo != 1 || hi != 3 {
		t.Fatalf("TopRange = %g, %g", lo, hi)
	}
}

func TestUpdateJSONFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "r.json")
	type rec struct{ A, B int }
	for i, f := range []func(*rec){func(r *rec) { r.A = 1 }, func(r *rec) { r.B = 2 }} {
		if err := UpdateJSONFile(path, f); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	var r rec
	if err := ReadJSONFile(path, &r); err != nil || r != (rec{1, 2}) {
		t.Fatalf("after two updates: %+v, %v", r, err)
	}
}
