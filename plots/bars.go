package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one bar per group, in the order of the groups.
type BarSeries struct {
	Label  string
	Values []float64
}

// swatch is a legend thumbnail: a filled rectangle.
type swatch struct{ color color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	pad := (c.Max.Y - c.Min.Y) * 0.15
	c.FillPolygon(s.color, rectPts(c.Min.X, c.Min.Y+pad, c.Max.X, c.Max.Y-pad))
}

// rectPts returns the corners of the rectangle spanned by two points.
func rectPts(x0, y0, x1, y1 vg.Length) []vg.Point {
	return []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
}

// fillRect fills and outlines a rectangle given in canvas coordinates,
// clipped to the data area.
func fillRect(c draw.Canvas, fill color.Color, x0, y0, x1, y1 vg.Length) {
	pts := c.ClipPolygonXY(rectPts(x0, y0, x1, y1))
	if len(pts) == 0 {
		return
	}
	c.FillPolygon(fill, pts)
	outline := append(pts, pts[0])
	c.StrokeLines(draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}, outline)
}

// ---------------------------------------------------------------------
// GroupedBars

// groupedBars draws len(series) bars side by side for every group; bar
// positions and widths are in data units (group g is centred at x = g).
type groupedBars struct {
	series [][]float64
}

func (b *groupedBars) barGeom(g, s int) (x0, x1 float64) {
	n := len(b.series)
	w := 0.8 / float64(n)
	left := float64(g) - 0.4 + float64(s)*w
	return left + 0.05*w, left + 0.95*w
}

func (b *groupedBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for s, vals := range b.series {
		col := Palette[s%len(Palette)]
		for g, v := range vals {
			x0, x1 := b.barGeom(g, s)
			fillRect(c, col, trX(x0), trY(0), trX(x1), trY(v))
		}
	}
	// zero line, when the axis does not start at 0
	if p.Y.Min < 0 {
		c.StrokeLine2(draw.LineStyle{Color: textColor, Width: vg.Points(0.8)}, c.Min.X, trY(0), c.Max.X, trY(0))
	}
}

func (b *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = 0, 0
	for _, vals := range b.series {
		for _, v := range vals {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	return -0.5, float64(len(b.series[0])) - 0.5, ymin, ymax
}

// maxBarLabels: bars are annotated with their values when there are at
// most this many bars.
const maxBarLabels = 32

// GroupedBars draws one cluster of bars per group (model, condition, ...)
// with one bar per series in each cluster, e.g. copy rate next to
// next-token accuracy. Each series must have one finite value per group.
// Bars are annotated with their values when there are at most 32 bars;
// group labels are slanted when they do not fit horizontally.
func GroupedBars(name, title, ylabel string, groups []string, series []BarSeries) (Figure, error) {
	const fn = "GroupedBars"
	if len(groups) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: no groups", fn)
	}
	if len(series) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: no series", fn)
	}
	vals := make([][]float64, len(series))
	for i, s := range series {
		what := describe("series", i, s.Label)
		if len(s.Values) != len(groups) {
			return Figure{}, fmt.Errorf("plots: %s: %s has %d values for %d groups", fn, what, len(s.Values), len(groups))
		}
		if err := checkValues(fn, what+" Values", s.Values); err != nil {
			return Figure{}, err
		}
		vals[i] = s.Values
	}

	p := newPlot(title, "", ylabel)
	addGrid(p, false, true)
	p.Y.Padding = 0
	bars := &groupedBars{series: vals}
	p.Add(bars)
	leg := newLegend()
	for i, s := range series {
		label := s.Label
		if label == "" {
			label = fmt.Sprintf("series %d", i)
		}
		leg.Add(label, swatch{Palette[i%len(Palette)]})
	}

	// Axis ranges: always include 0, leave headroom for value labels.
	_, _, ymin, ymax := bars.DataRange()
	if ymin == ymax {
		ymax = 1
	}
	pad := 0.1 * (ymax - ymin)
	p.Y.Min, p.Y.Max = ymin, ymax
	if ymax > 0 {
		p.Y.Max += pad
	}
	if ymin < 0 {
		p.Y.Min -= pad
	}
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5

	// Group labels.
	ticks := make([]plot.Tick, len(groups))
	for g, name := range groups {
		ticks[g] = plot.Tick{Value: float64(g), Label: truncate(name, 40)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Tick.Length = 0
	approxDataW := DefaultWidth - leg.width() - vg.Points(70)
	fitXLabels(&p.X, ticks, approxDataW)

	if len(groups)*len(series) <= maxBarLabels {
		format := fixedFormatter(vals...)
		sty := textStyle(annotSize, false)
		sty.XAlign = draw.XCenter
		var xys plotter.XYs
		var labels []string
		var styles []text.Style
		for s, vs := range vals {
			for g, v := range vs {
				x0, x1 := bars.barGeom(g, s)
				xys = append(xys, plotter.XY{X: (x0 + x1) / 2, Y: v})
				labels = append(labels, format(v))
				st := sty
				if v < 0 {
					st.YAlign = draw.YTop
				}
				styles = append(styles, st)
			}
		}
		p.Add(&valueLabels{xys: xys, labels: labels, styles: styles, dy: vg.Points(2)})
	}
	return render(name, DefaultWidth, DefaultHeight, withSideLegend(p, leg))
}

// fitXLabels slants the tick labels of a nominal x axis when the widest
// label does not fit in its slot.
func fitXLabels(ax *plot.Axis, ticks []plot.Tick, dataW vg.Length) {
	if len(ticks) == 0 {
		return
	}
	var maxW vg.Length
	for _, t := range ticks {
		if w := ax.Tick.Label.Width(t.Label); w > maxW {
			maxW = w
		}
	}
	slot := dataW / vg.Length(len(ticks))
	if maxW > 0.95*slot {
		ax.Tick.Label.Rotation = math.Pi / 6
		ax.Tick.Label.XAlign = draw.XRight
		ax.Tick.Label.YAlign = draw.YCenter
	}
}

// valueLabels draws text at data points, offset vertically by dy (away
// from zero), without affecting the axis ranges.
type valueLabels struct {
	xys    plotter.XYs
	labels []string
	styles []text.Style
	dx, dy vg.Length
}

func (l *valueLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, xy := range l.xys {
		dy := l.dy
		if l.styles[i].YAlign == draw.YTop {
			dy = -dy
		}
		pt := vg.Point{X: trX(xy.X) + l.dx, Y: trY(xy.Y) + dy}
		c.FillText(l.styles[i], pt, l.labels[i])
	}
}

// ---------------------------------------------------------------------
// GradientFlow

// hbars draws horizontal bars from base to x[i] at y[i] (data units);
// entries with x = -Inf (log10 of 0) are skipped.
type hbars struct {
	x, y []float64
	base float64
	half float64
	fill color.Color
}

func (b *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, x := range b.x {
		if math.IsInf(x, -1) {
			continue
		}
		fillRect(c, b.fill, trX(b.base), trY(b.y[i]-b.half), trX(x), trY(b.y[i]+b.half))
	}
}

// GradientFlow plots one horizontal bar per parameter with its gradient
// norm on a log axis; the first parameter is at the top. Parameters whose
// norm is exactly 0 cannot be drawn on a log axis: they get a red cross at
// the left edge and the text "dead (0)", and the title counts them. Norms
// must be finite and >= 0. The figure grows taller with many parameters
// (see [GradientFlowSize]).
func GradientFlow(name string, params []string, norms []float64) (Figure, error) {
	const fn = "GradientFlow"
	if len(params) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: no parameters", fn)
	}
	if len(params) != len(norms) {
		return Figure{}, fmt.Errorf("plots: %s: %d parameter names but %d norms", fn, len(params), len(norms))
	}
	if err := checkValues(fn, "norms", norms); err != nil {
		return Figure{}, err
	}
	n := len(params)
	minPos, maxPos := math.Inf(1), math.Inf(-1)
	dead := 0
	for i, v := range norms {
		switch {
		case v < 0:
			return Figure{}, fmt.Errorf("plots: %s: norms[%d] (%q) = %g is negative", fn, i, params[i], v)
		case v == 0:
			dead++
		default:
			minPos, maxPos = math.Min(minPos, v), math.Max(maxPos, v)
		}
	}

	title := "Gradient norm per parameter"
	if dead > 0 {
		title = fmt.Sprintf("Gradient norm per parameter (%d of %d dead)", dead, n)
	}
	p := newPlot(title, "gradient L2 norm (log scale)", "")
	addGrid(p, true, false)

	// Log x axis, in log10 space (see setLogAxis). Leave at least ~0.3
	// decade left of the smallest bar so that it stays visible.
	if dead == n {
		minPos, maxPos = 1e-3, 1 // nothing to scale by
	}
	setLogAxis(&p.X, minPos/2, maxPos)
	lo, hi := p.X.Min, p.X.Max

	// Parameter names on the y axis, first parameter at the top.
	if n > 20 {
		p.Y.Tick.Label.Font.Size = 9
	}
	ticks := make([]plot.Tick, n)
	ys := make([]float64, n)
	var nameW vg.Length
	for i, name := range params {
		if name == "" {
			name = fmt.Sprintf("param %d", i)
		}
		ys[i] = float64(n - 1 - i)
		ticks[i] = plot.Tick{Value: ys[i], Label: truncate(name, 40)}
		nameW = max(nameW, p.Y.Tick.Label.Width(ticks[i].Label))
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Tick.Length = 0
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Padding = 0

	leg := newLegend()
	leg.Add("gradient norm", swatch{Palette[0]})
	if dead > 0 {
		leg.Add("dead (norm = 0)", deadThumb{})
	}
	w, h := GradientFlowSize(n)

	// Value labels right of the bars; widen the axis so they fit.
	annot := textStyle(annotSize, false)
	annot.YAlign = draw.YCenter
	vl := &valueLabels{dx: vg.Points(3)}
	var labelW vg.Length
	for i, v := range norms {
		if v > 0 {
			s := formatSig(v, 2)
			vl.xys = append(vl.xys, plotter.XY{X: math.Log10(v), Y: ys[i]})
			vl.labels = append(vl.labels, s)
			vl.styles = append(vl.styles, annot)
			labelW = max(labelW, annot.Width(s))
		}
	}
	dataW := w - nameW - leg.width() - vg.Points(30)
	if frac := float64((labelW + vg.Points(6)) / dataW); frac > 0 && frac < 0.5 {
		// span such that the longest bar ends at (1-frac) of the axis
		if need := (math.Log10(maxPos) - lo) / (1 - frac); need > hi-lo {
			p.X.Max = lo + need
		}
	}

	logNorms := make([]float64, n)
	for i, v := range norms {
		logNorms[i] = math.Inf(-1)
		if v > 0 {
			logNorms[i] = math.Log10(v)
		}
	}
	p.Add(&hbars{x: logNorms, y: ys, base: lo, half: 0.36, fill: Palette[0]})
	p.Add(vl)

	if dead > 0 {
		deadSty := textStyle(annotSize+1, true)
		deadSty.Color = DeadColor
		deadSty.YAlign = draw.YCenter
		dl := &valueLabels{dx: 2*deadGlyph.Radius + vg.Points(5)}
		for i, v := range norms {
			if v == 0 {
				dl.xys = append(dl.xys, plotter.XY{X: lo, Y: ys[i]})
				dl.labels = append(dl.labels, "dead (0)")
				dl.styles = append(dl.styles, deadSty)
			}
		}
		p.Add(&deadMarkers{xys: dl.xys}, dl)
	}
	return render(name, w, h, withSideLegend(p, leg))
}

// deadGlyph is the marker of a parameter with zero gradient.
var deadGlyph = draw.GlyphStyle{Color: DeadColor, Radius: vg.Points(4), Shape: draw.CrossGlyph{}}

// deadMarkers draws deadGlyph at the given points, unclipped, so that a
// marker on the axis edge is drawn whole.
type deadMarkers struct{ xys plotter.XYs }

func (d *deadMarkers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, xy := range d.xys {
		pt := vg.Point{X: trX(xy.X) + deadGlyph.Radius + vg.Points(1), Y: trY(xy.Y)}
		c.DrawGlyphNoClip(deadGlyph, pt)
	}
}

type deadThumb struct{}

func (deadThumb) Thumbnail(c *draw.Canvas) { c.DrawGlyphNoClip(deadGlyph, c.Center()) }

// GradientFlowSize returns the size of a GradientFlow figure with n
// parameters: the default size, or taller (about 14 pt per parameter) when
// n is large.
func GradientFlowSize(n int) (w, h vg.Length) {
	h = vg.Length(n)*vg.Points(14) + vg.Points(100)
	if h < DefaultHeight {
		h = DefaultHeight
	}
	return DefaultWidth, h
}
