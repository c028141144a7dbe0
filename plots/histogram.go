package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Histogram bins values into bins equal-width bins between their minimum
// and maximum (bins == 0 picks sqrt(n), clamped to 10..100) and plots the
// counts. The legend column lists n, mean, std, min and max. Values must be
// finite.
func Histogram(name, title, xlabel string, values []float64, bins int) (Figure, error) {
	return histogram("Histogram", name, title, xlabel, values, bins, nil)
}

// Band is a range of the x axis that a claim is about, e.g. the top logits an observation
// reported; HistogramWithBands shades it and names it in the legend.
type Band struct {
	Lo, Hi float64
	Label  string
}

// bandColor is the translucent fill of a Band, drawn over the bars.
var bandColor = color.NRGBA{R: 0xe6, G: 0x55, B: 0x0d, A: 0x50}

// HistogramWithBands is Histogram with each band shaded across the full height and listed in
// the legend, with the number and share of values inside it. The x range extends to show
// every band whole.
func HistogramWithBands(name, title, xlabel string, values []float64, bins int, bands ...Band) (Figure, error) {
	return histogram("HistogramWithBands", name, title, xlabel, values, bins, bands)
}

func histogram(fn, name, title, xlabel string, values []float64, bins int, bands []Band) (Figure, error) {
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
	for i, b := range bands {
		if b.Hi < b.Lo || badNumber(b.Lo) != "" || badNumber(b.Hi) != "" {
			return Figure{}, fmt.Errorf("plots: %s: band %d (%q) is [%v, %v]", fn, i, b.Label, b.Lo, b.Hi)
		}
	}
	maxCount := 0.0
	for _, b := range hbins {
		maxCount = math.Max(maxCount, b.Weight)
	}
	p.Y.Min, p.Y.Max = niceBounds(0, maxCount*1.02)
	if len(bands) > 0 {
		xlo, xhi := blo, bhi
		for _, b := range bands {
			xlo, xhi = math.Min(xlo, b.Lo), math.Max(xhi, b.Hi)
			p.Add(&vBand{lo: b.Lo, hi: b.Hi})
		}
		pad := 0.02 * (xhi - xlo)
		p.X.Min, p.X.Max = xlo-pad, xhi+pad
	}

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
	for _, b := range bands {
		in := 0
		for _, v := range values {
			if v >= b.Lo && v <= b.Hi {
				in++
			}
		}
		leg.Add(b.Label, swatch{bandColor})
		leg.Add(fmt.Sprintf("[%s, %s]: %d (%.1f%%)", formatValue(b.Lo), formatValue(b.Hi), in, 100*float64(in)/float64(len(values))), textThumb{})
	}
	return render(name, DefaultWidth, DefaultHeight, withSideLegend(p, leg))
}

// vBand shades the x range [lo, hi] over the full height of the data area.
type vBand struct{ lo, hi float64 }

func (b *vBand) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	pts := c.ClipPolygonXY(rectPts(trX(b.lo), c.Min.Y, trX(b.hi), c.Max.Y))
	if len(pts) > 0 {
		c.FillPolygon(bandColor, pts)
	}
}
