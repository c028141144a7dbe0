package plots

import (
	"fmt"
	"image"
	"image/color"
	imgdraw "image/draw"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Heatmap limits.
const (
	// maxAnnotated: grids with at most this many rows and columns get the
	// value printed in every cell.
	maxAnnotated = 12
	paletteSize  = 256
)

// matrix adapts values[row][col] to plotter.GridXYZ with row 0 at the top.
type matrix struct {
	v [][]float64
}

func (m matrix) Dims() (c, r int)   { return len(m.v[0]), len(m.v) }
func (m matrix) Z(c, r int) float64 { return m.v[len(m.v)-1-r][c] }
func (m matrix) X(c int) float64    { return float64(c) }
func (m matrix) Y(r int) float64    { return float64(r) }

// sequentialMap returns a viridis-like colour map (dark purple -> yellow,
// monotonic luminance) over [min, max].
func sequentialMap(min, max float64) (palette.ColorMap, error) {
	cm, err := moreland.NewLuminance([]color.Color{
		rgb(0x44, 0x01, 0x54), rgb(0x3b, 0x52, 0x8b), rgb(0x21, 0x91, 0x8c),
		rgb(0x5e, 0xc9, 0x62), rgb(0xfd, 0xe7, 0x25),
	})
	if err != nil {
		return nil, err
	}
	cm.SetMin(min)
	cm.SetMax(max)
	return cm, nil
}

// Heatmap draws values[r][c] as a grid of coloured cells with rows[r]
// labelling the rows (row 0 at the top, like a matrix or an attention
// pattern with queries as rows) and cols[c] the columns. Data with both
// signs use a diverging blue-white-red map centred on 0; otherwise a
// sequential dark-to-yellow map spans [min, max]. A colour bar on the right
// shows the scale and the exact data range, and says when a sequential
// scale starts (or ends) far from 0. Grids of at most 12x12 cells
// have their values printed in the cells; long label lists are thinned.
func Heatmap(name, title, xlabel, ylabel string, rows, cols []string, values [][]float64) (Figure, error) {
	const fn = "Heatmap"
	if len(rows) == 0 || len(cols) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: need at least one row and one column (got %d rows, %d cols)", fn, len(rows), len(cols))
	}
	if len(values) != len(rows) {
		return Figure{}, fmt.Errorf("plots: %s: %d row labels but %d rows of values", fn, len(rows), len(values))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for r, row := range values {
		if len(row) != len(cols) {
			return Figure{}, fmt.Errorf("plots: %s: values row %d (%q) has %d values for %d columns", fn, r, rows[r], len(row), len(cols))
		}
		for c, v := range row {
			if b := badNumber(v); b != "" {
				return Figure{}, fmt.Errorf("plots: %s: values[%d][%d] (row %q, col %q) is %s", fn, r, c, rows[r], cols[c], b)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	nr, nc := len(rows), len(cols)

	// Colour scale.
	var cmap palette.ColorMap
	cmin, cmax := lo, hi
	if lo < 0 && hi > 0 {
		m := math.Max(-lo, hi)
		cmin, cmax = -m, m
		d := moreland.SmoothBlueRed()
		d.SetMin(cmin)
		d.SetMax(cmax)
		cmap = d
	} else {
		if cmin == cmax {
			pad := math.Max(math.Abs(cmin)*0.05, 0.5)
			cmin, cmax = cmin-pad, cmax+pad
		}
		var err error
		if cmap, err = sequentialMap(cmin, cmax); err != nil {
			return Figure{}, fmt.Errorf("plots: %s: colour map: %w", fn, err)
		}
	}
	pal := cmap.Palette(paletteSize)

	p := newPlot(title, xlabel, ylabel)
	p.X.Padding, p.Y.Padding = 0, 0
	if nr <= maxAnnotated && nc <= maxAnnotated {
		hm := plotter.NewHeatMap(matrix{values}, pal)
		hm.Min, hm.Max = cmin, cmax
		p.Add(hm)
	} else {
		// Large grids as one image: adjacent vector cells leave hairline
		// anti-aliasing seams, and the SVG stays small.
		p.Add(&rasterHeat{values: values, pal: pal.Colors(), min: cmin, max: cmax})
	}
	p.X.Min, p.X.Max = -0.5, float64(nc)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nr)-0.5

	// Colour bar column to the right: gap, bar, ticks and labels.
	cbar := &colorBar{cmap: cmap, min: cmin, max: cmax, lo: lo, hi: hi, tick: p.Y.Tick.Label}
	// A sequential scale spans the data, so its darkest colour need not mean 0: say so when 0
	// lies far (over a fifth of the span) outside it.
	switch span := cmax - cmin; {
	case cmin > 0.2*span:
		cbar.note = []string{"colours start", "at " + formatValue(cmin) + ",", "not at 0"}
	case cmax < -0.2*span:
		cbar.note = []string{"colours end", "at " + formatValue(cmax) + ",", "not at 0"}
	}
	cbar.tick.Font.Size = 9
	cbW := cbar.width()

	// Row and column labels, thinned when there are too many.
	approxH := DefaultHeight - vg.Points(95)
	lh := p.Y.Tick.Label.Height("0") + vg.Points(2)
	ystep := int(math.Ceil(float64(vg.Length(nr) * lh / approxH)))
	yticks := nominalTicks(rows, ystep, func(i int) float64 { return float64(nr - 1 - i) })
	p.Y.Tick.Marker = plot.ConstantTicks(yticks)

	var rowW vg.Length
	for _, t := range yticks {
		rowW = max(rowW, p.Y.Tick.Label.Width(t.Label))
	}
	approxW := DefaultWidth - cbW - rowW - vg.Points(45)
	var colW vg.Length
	for _, c := range cols {
		colW = max(colW, p.X.Tick.Label.Width(truncate(c, 24)))
	}
	xstep := 1
	if slot := approxW / vg.Length(nc); colW > 0.95*slot && nc > 24 {
		xstep = int(math.Ceil(float64((colW + vg.Points(6)) / slot)))
	}
	xticks := nominalTicks(cols, xstep, func(i int) float64 { return float64(i) })
	p.X.Tick.Marker = plot.ConstantTicks(xticks)
	fitXLabels(&p.X, xticks, approxW)

	if nr <= maxAnnotated && nc <= maxAnnotated {
		p.Add(&cellLabels{values: values, pal: pal.Colors(), min: cmin, max: cmax, format: fixedFormatter(values...)})
	}

	drawFn := func(dc draw.Canvas) {
		fillBackground(dc)
		mainC := draw.Crop(dc, 0, -cbW, 0, 0)
		cbar.draw(dc, drawPlot(p, mainC))
	}
	return render(name, DefaultWidth, DefaultHeight, drawFn)
}

// nominalTicks labels every step-th name (always the first) at pos(i),
// with unlabelled ticks in between.
func nominalTicks(names []string, step int, pos func(int) float64) []plot.Tick {
	if step < 1 {
		step = 1
	}
	var ticks []plot.Tick
	for i, n := range names {
		if i%step == 0 {
			ticks = append(ticks, plot.Tick{Value: pos(i), Label: truncate(n, 24)})
		}
	}
	return ticks
}

// cellLabels prints each value in its heat-map cell, in black or white
// depending on the cell's brightness. The font shrinks (down to 5pt) to
// fit the cell; labels that still do not fit are skipped.
type cellLabels struct {
	values   [][]float64
	pal      []color.Color
	min, max float64
	format   func(float64) string
}

func (l *cellLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	nr := len(l.values)
	cellW := trX(0.5) - trX(-0.5)
	cellH := trY(0.5) - trY(-0.5)
	sty := textStyle(9, false)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	// one font size for the whole grid, the largest that fits every cell
	var widest string
	for _, row := range l.values {
		for _, v := range row {
			if s := l.format(v); len(s) > len(widest) {
				widest = s
			}
		}
	}
	for sty.Font.Size > 5 && (sty.Width(widest) > 0.9*cellW || sty.Height(widest) > 0.9*cellH) {
		sty.Font.Size -= 0.5
	}
	if sty.Width(widest) > 0.95*cellW || sty.Height(widest) > cellH {
		return
	}
	for r, row := range l.values {
		for col, v := range row {
			idx := paletteIndex(v, l.min, l.max, len(l.pal))
			st := sty
			st.Color = color.Black
			if luminance(l.pal[idx]) < 0.45 {
				st.Color = color.White
			}
			pt := vg.Point{X: trX(float64(col)), Y: trY(float64(nr - 1 - r))}
			c.FillText(st, pt, l.format(v))
		}
	}
}

// paletteIndex maps v in [min, max] to an index of a palette of n colours,
// as plotter.HeatMap does.
func paletteIndex(v, lo, hi float64, n int) int {
	i := int((v-lo)*float64(n-1)/(hi-lo) + 0.5)
	return min(max(i, 0), n-1)
}

// rasterHeat draws a heat map as one image. Each cell is replicated into a
// block of pixels (nearest neighbour, about 1000 px per side) so that the
// image smoothing of the PNG and SVG renderers blurs only cell edges.
type rasterHeat struct {
	values   [][]float64
	pal      []color.Color
	min, max float64
}

func (h *rasterHeat) Plot(c draw.Canvas, p *plot.Plot) {
	nr, nc := len(h.values), len(h.values[0])
	kx := max(1, (1000+nc-1)/nc)
	ky := max(1, (1000+nr-1)/nr)
	img := image.NewRGBA(image.Rect(0, 0, nc*kx, nr*ky))
	for r, row := range h.values {
		for col, v := range row {
			fill := image.NewUniform(h.pal[paletteIndex(v, h.min, h.max, len(h.pal))])
			imgdraw.Draw(img, image.Rect(col*kx, r*ky, (col+1)*kx, (r+1)*ky), fill, image.Point{}, imgdraw.Src)
		}
	}
	trX, trY := p.Transforms(&c)
	rect := vg.Rectangle{
		Min: vg.Point{X: trX(-0.5), Y: trY(-0.5)},
		Max: vg.Point{X: trX(float64(nc) - 0.5), Y: trY(float64(nr) - 0.5)},
	}
	c.DrawImage(rect, img)
}

func (h *rasterHeat) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(len(h.values[0])) - 0.5, -0.5, float64(len(h.values)) - 0.5
}

// luminance returns the relative luminance (0..1) of c.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

// colorBar is the colour scale drawn right of a heat map: a vertical bar
// as tall as the data area, tick labels on its right, and the data range
// ("min …", "max …") below it.
type colorBar struct {
	cmap             palette.ColorMap
	min, max, lo, hi float64 // colour range, data range
	tick             text.Style
	note             []string // lines below the range, e.g. that the scale does not start at 0
}

var (
	cbGap   = vg.Points(10) // between heat map and bar
	cbBar   = vg.Points(12) // bar width
	cbTickL = vg.Points(3)  // tick length
)

func (b *colorBar) ticks() []plot.Tick {
	var out []plot.Tick
	for _, t := range (linearTicker{}).Ticks(b.min, b.max) {
		if t.Value >= b.min && t.Value <= b.max {
			out = append(out, t)
		}
	}
	return out
}

func (b *colorBar) rangeText() []string {
	return []string{"min " + formatValue(b.lo), "max " + formatValue(b.hi)}
}

// width returns the width of the colour-bar column.
func (b *colorBar) width() vg.Length {
	var tw vg.Length
	for _, t := range b.ticks() {
		tw = max(tw, b.tick.Width(t.Label))
	}
	w := cbGap + cbBar + cbTickL + vg.Points(2) + tw
	for _, s := range append(b.rangeText(), b.note...) {
		w = max(w, cbGap+b.tick.Width(s))
	}
	return w + vg.Points(6)
}

// draw draws the bar in dc, next to the heat map's data area.
func (b *colorBar) draw(dc, data draw.Canvas) {
	// Several pixels wide: renderers that smooth scaled images would
	// otherwise fade a 1-pixel-wide bar at its sides.
	const steps, width = 256, 8
	img := image.NewNRGBA(image.Rect(0, 0, width, steps))
	for i := range steps {
		v := b.min + (b.max-b.min)*(float64(i)+0.5)/steps
		col, err := b.cmap.At(v)
		if err != nil {
			col = color.Black
		}
		for x := range width {
			img.Set(x, steps-1-i, col)
		}
	}
	x0 := data.Max.X + cbGap
	// The note, if any, goes under the bar inside the data area's height: the bar is shortened.
	bottom := data.Min.Y
	if len(b.note) > 0 {
		bottom += vg.Length(len(b.note))*b.tick.Height("0") + vg.Points(8)
	}
	rect := vg.Rectangle{Min: vg.Point{X: x0, Y: bottom}, Max: vg.Point{X: x0 + cbBar, Y: data.Max.Y}}
	dc.DrawImage(rect, img)
	frame := draw.LineStyle{Color: textColor, Width: vg.Points(0.5)}
	dc.StrokeLines(frame, append(rectPts(rect.Min.X, rect.Min.Y, rect.Max.X, rect.Max.Y), rect.Min))

	sty := b.tick
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	h := data.Max.Y - bottom
	for _, t := range b.ticks() {
		y := bottom + h*vg.Length((t.Value-b.min)/(b.max-b.min))
		if t.Label == "" {
			dc.StrokeLine2(frame, rect.Max.X, y, rect.Max.X+cbTickL/2, y)
			continue
		}
		dc.StrokeLine2(frame, rect.Max.X, y, rect.Max.X+cbTickL, y)
		dc.FillText(sty, vg.Point{X: rect.Max.X + cbTickL + vg.Points(2), Y: y}, t.Label)
	}

	sty.YAlign = draw.YTop
	y := bottom - vg.Points(4)
	for _, s := range b.note {
		dc.FillText(sty, vg.Point{X: x0, Y: y}, s)
		y -= sty.Height(s)
	}
	y = data.Min.Y - vg.Points(6)
	for _, s := range b.rangeText() {
		dc.FillText(sty, vg.Point{X: x0, Y: y}, s)
		y -= sty.Height(s)
	}
}
