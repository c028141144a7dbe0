package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Histogram bins values into bins equal-width bins between their minimum
// and maximum (bins == 0 picks sqrt(n), clamped to 10..100) and plots the
// counts. The legend column lists n, mean, std, min and max. Values must be
// finite.
func Histogram(name, title, xlabel string, values []float64, bins int) (Figure, error) {
	const fn = "Histogram"
	if len(values) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: no values", fn)
	}
	if bins < 0 {
		return Figure{}, fmt.Errorf("plots: %s: bins = %d, want > 0 (or 0 for automatic)", fn, bins)
	}
	if err := checkValues(fn, "values", values); err != nil {
		return Figure{}, err
	}
	if bins == 0 {
		bins = min(max(int(math.Ceil(math.Sqrt(float64(len(values))))), 10), 100)
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	var sum float64
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		sum += v
	}
	mean := sum / float64(len(values))
	var ss float64
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(len(values)))

	// Bin edges; a constant input gets one bin of width 1 around it.
	blo, bhi := lo, hi
	if blo == bhi {
		blo, bhi, bins = lo-0.5, hi+0.5, 1
	}
	width := (bhi - blo) / float64(bins)
	hbins := make([]plotter.HistogramBin, bins)
	for i := range hbins {
		hbins[i].Min = blo + float64(i)*width
		hbins[i].Max = blo + float64(i+1)*width
	}
	for _, v := range values {
		i := int((v - blo) / width)
		i = min(max(i, 0), bins-1)
		hbins[i].Weight++
	}

	p := newPlot(title, xlabel, "count")
	addGrid(p, false, true)
	h := &plotter.Histogram{
		Bins:      hbins,
		Width:     width,
		FillColor: Palette[0],
		LineStyle: draw.LineStyle{Color: rgb(0xff, 0xff, 0xff), Width: vg.Points(0.4)},
	}
	if bins > 60 {
		h.LineStyle.Width = 0 // outlines would hide thin bars
	}
	p.Add(h)
	maxCount := 0.0
	for _, b := range hbins {
		maxCount = math.Max(maxCount, b.Weight)
	}
	p.Y.Min, p.Y.Max = niceBounds(0, maxCount*1.02)

	leg := newLegend()
	leg.Add(fmt.Sprintf("%d bins", bins), swatch{Palette[0]})
	for _, s := range []string{
		fmt.Sprintf("n = %d", len(values)),
		"mean = " + formatValue(mean),
		"std = " + formatValue(std),
		"min = " + formatValue(lo),
		"max = " + formatValue(hi),
	} {
		leg.Add(s, textThumb{})
	}
	return render(name, DefaultWidth, DefaultHeight, withSideLegend(p, leg))
}
