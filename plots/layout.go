package plots

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// maxLegendRunes is the longest legend entry shown; longer labels are
// truncated with an ellipsis.
const maxLegendRunes = 30

// legend is a plot.Legend drawn in a column to the right of the plot, so it
// never hides data.
type legend struct {
	plot.Legend
	texts []string
}

// Add adds an entry (the label is truncated to maxLegendRunes).
func (l *legend) Add(label string, thumbs ...plot.Thumbnailer) {
	label = truncate(label, maxLegendRunes)
	l.texts = append(l.texts, label)
	l.Legend.Add(label, thumbs...)
}

// width returns the width needed by the legend column.
func (l *legend) width() vg.Length {
	var w vg.Length
	for _, t := range l.texts {
		if tw := l.TextStyle.Width(" " + t); tw > w {
			w = tw
		}
	}
	return l.ThumbnailWidth + w + vg.Points(12)
}

// textThumb is an empty thumbnail, for legend lines that are plain text.
type textThumb struct{}

func (textThumb) Thumbnail(*draw.Canvas) {}

// withSideLegend returns a function drawing p with the legend l (may be
// nil or empty) in a column on its right, top-aligned with the data area.
func withSideLegend(p *plot.Plot, l *legend) func(dc draw.Canvas) {
	return func(dc draw.Canvas) {
		fillBackground(dc)
		if l == nil || len(l.texts) == 0 {
			drawPlot(p, dc)
			return
		}
		lw := l.width()
		if maxW := (dc.Max.X - dc.Min.X) * 0.4; lw > maxW {
			lw = maxW
		}
		plotC := draw.Crop(dc, 0, -lw, 0, 0)
		data := drawPlot(p, plotC)
		legC := dc
		legC.Min.X = dc.Max.X - lw + vg.Points(8)
		legC.Max.Y = data.Max.Y
		legC.Min.Y = data.Min.Y
		l.Draw(legC)
	}
}

func fillBackground(dc draw.Canvas) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
}
