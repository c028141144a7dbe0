package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Heatmap limits.
const (
	// maxAnnotated: grids with at most this many rows and columns get the
	// value printed in every cell.
	maxAnnotated = 12
	// rasterCells: larger grids are drawn as one image (smaller SVG).
	rasterCells = 4096
	paletteSize = 256
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
// shows the scale and the exact data range. Grids of at most 12x12 cells
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
	hm := plotter.NewHeatMap(matrix{values}, pal)
	hm.Min, hm.Max = cmin, cmax
	hm.Rasterized = nr*nc > rasterCells
	p.Add(hm)
	p.X.Min, p.X.Max = -0.5, float64(nc)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nr)-0.5

	// Colour bar, drawn as a separate plot to the right.
	cb := newPlot("", "", "")
	cb.HideX()
	cb.X.Padding, cb.Y.Padding = 0, 0
	cb.Y.Tick.Label.Font.Size = 9
	cb.X.Label.Text = "min " + formatValue(lo) + "\nmax " + formatValue(hi)
	cb.X.Label.TextStyle.Font.Size = 9
	cb.X.Label.Padding = vg.Points(2)
	cb.Add(&plotter.ColorBar{ColorMap: cmap, Vertical: true, Colors: paletteSize})
	cbW := vg.Points(14) + tickWidth(cb.Y.Tick.Label, cmin, cmax) + vg.Points(16)
	if w := cb.X.Label.TextStyle.Width(cb.X.Label.Text) + vg.Points(8); w > cbW {
		cbW = w
	}

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
	fitXLabels(&p.X, xticks, approxW*vg.Length(len(xticks))/vg.Length(nc))

	if nr <= maxAnnotated && nc <= maxAnnotated {
		p.Add(&cellLabels{values: values, pal: pal.Colors(), min: cmin, max: cmax})
	}

	drawFn := func(dc draw.Canvas) {
		fillBackground(dc)
		mainC := draw.Crop(dc, 0, -cbW, 0, 0)
		p.Draw(mainC)
		data := p.DataCanvas(mainC)

		cbC := dc
		cbC.Min.X = dc.Max.X - cbW
		// Align the colour bar's data area with the heat map's.
		probe := cb.DataCanvas(cbC)
		cbC.Min.Y += data.Min.Y - probe.Min.Y
		cbC.Max.Y += data.Max.Y - probe.Max.Y
		// Bar 14pt wide, at the left of the column after its tick labels.
		probe = cb.DataCanvas(cbC)
		cbC.Max.X -= (probe.Max.X - probe.Min.X) - vg.Points(14)
		cb.Draw(cbC)
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

// tickWidth estimates the width of the widest tick label of an axis
// spanning [min, max].
func tickWidth(sty interface{ Width(string) vg.Length }, min, max float64) vg.Length {
	var w vg.Length
	for _, t := range (linearTicker{}).Ticks(min, max) {
		w = vg.Length(math.Max(float64(w), float64(sty.Width(t.Label))))
	}
	return w
}

// cellLabels prints each value in its heat-map cell, in black or white
// depending on the cell's brightness. The font shrinks (down to 5pt) to
// fit the cell; labels that still do not fit are skipped.
type cellLabels struct {
	values   [][]float64
	pal      []color.Color
	min, max float64
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
			if s := formatValue(v); len(s) > len(widest) {
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
	ps := float64(len(l.pal)-1) / (l.max - l.min)
	for r, row := range l.values {
		for col, v := range row {
			idx := int((v-l.min)*ps + 0.5)
			idx = min(max(idx, 0), len(l.pal)-1)
			st := sty
			st.Color = color.Black
			if luminance(l.pal[idx]) < 0.45 {
				st.Color = color.White
			}
			pt := vg.Point{X: trX(float64(col)), Y: trY(float64(nr - 1 - r))}
			c.FillText(st, pt, formatValue(v))
		}
	}
}

// luminance returns the relative luminance (0..1) of c.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}
