package hf

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
)

// TestSaveRoundTrip: every fixture saved by Save loads back with the same family and weights,
// and so gives the same logits as transformers.
func TestSaveRoundTrip(t *testing.T) {
	for _, name := range fixtureNames {
		src := filepath.Join(fixtureRoot, name)
		ck, err := Load(src)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "saved")
		if err := Save(dir, ck.Family, ck.Params); err != nil {
			t.Fatal(err)
		}
		back, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := ck.Family
		if l, ok := want.(gomlxmodel.Llama); ok && l.Config.MaxPositions == 0 {
			l.Config.MaxPositions = 2048
			want = l
		}
		if !reflect.DeepEqual(back.Family, want) {
			t.Errorf("%s: family %+v, saved %+v", name, back.Family, want)
		}
		for n, p := range ck.Params {
			if q := back.Params[n]; !slices.Equal(q.Data, p.Data) || !slices.Equal(q.Shape, p.Shape) {
				t.Errorf("%s: tensor %s changed", name, n)
			}
		}
	}
	if err := Save(t.TempDir(), gomlxmodel.Model{}, nil); err == nil {
		t.Error("saved the ternary model in Hugging Face layout")
	}
}
