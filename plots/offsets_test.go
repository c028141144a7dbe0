package plots

import (
	"math"
	"testing"
)

func TestOffsetCurves(t *testing.T) {
	x := []float64{-1, 0, 1, 2, 3}
	f, err := OffsetCurves("offsets", "CE by offset", []Series{
		{Label: "next-token", X: x, Y: []float64{3.8, 4.5, 0.8, 4.5, 3.9}},
		{Label: "context-free", X: x, Y: []float64{3.1, 3.1, 3.1, 3.1, 3.1}},
	}, []HLine{{Label: "unigram CE", Y: 2.98}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.PNG) == 0 || len(f.SVG) == 0 {
		t.Fatal("empty figure")
	}
	if _, err := OffsetCurves("bad", "t", []Series{{X: x, Y: []float64{1, 2, math.NaN(), 4, 5}}}, nil); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := OffsetCurves("bad", "t", []Series{{X: x, Y: x}}, []HLine{{Y: math.Inf(1)}}); err == nil {
		t.Error("infinite reference accepted")
	}
}
