package plots

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Palette is the fixed colour cycle used for series, in order (the
// Tableau 10 colours). Series beyond the tenth reuse the colours with a
// different dash pattern.
var Palette = []color.Color{
	rgb(0x1f, 0x77, 0xb4), // blue
	rgb(0xff, 0x7f, 0x0e), // orange
	rgb(0x2c, 0xa0, 0x2c), // green
	rgb(0xd6, 0x27, 0x28), // red
	rgb(0x94, 0x67, 0xbd), // purple
	rgb(0x8c, 0x56, 0x4b), // brown
	rgb(0xe3, 0x77, 0xc2), // pink
	rgb(0x7f, 0x7f, 0x7f), // grey
	rgb(0xbc, 0xbd, 0x22), // olive
	rgb(0x17, 0xbe, 0xcf), // cyan
}

// Special colours.
var (
	// DeadColor marks parameters whose gradient norm is exactly zero.
	DeadColor = rgb(0xd6, 0x27, 0x28)
	// RefColor draws horizontal reference lines.
	RefColor  = rgb(0x33, 0x33, 0x33)
	gridColor = rgb(0xdd, 0xdd, 0xdd)
	textColor = rgb(0x11, 0x11, 0x11)
)

// Font sizes, in points. At DPI=128 one point is 1.78 pixels, so the tick
// labels are about 18 px high in the PNG.
const (
	titleSize  = 13
	labelSize  = 11
	tickSize   = 10
	legendSize = 10
	annotSize  = 8
)

var (
	lineWidth = vg.Points(1.6)
	gridWidth = vg.Points(0.6)
	// dash patterns used for series 11-20, 21-30, ...
	dashCycle = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}
	// dash patterns used for reference lines.
	refDashes = [][]vg.Length{{vg.Points(6), vg.Points(4)}, {vg.Points(2), vg.Points(3)}, {vg.Points(9), vg.Points(3), vg.Points(2), vg.Points(3)}}
)

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

// seriesColor returns the colour and dash pattern of the i-th series.
func seriesStyle(i int) draw.LineStyle {
	return draw.LineStyle{
		Color:  Palette[i%len(Palette)],
		Width:  lineWidth,
		Dashes: dashCycle[(i/len(Palette))%len(dashCycle)],
	}
}

func sansFont(size vg.Length, bold bool) font.Font {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return f
}

// textStyle returns a plain-text style in the figure font.
func textStyle(size vg.Length, bold bool) text.Style {
	return text.Style{
		Color:   textColor,
		Font:    sansFont(size, bold),
		XAlign:  draw.XLeft,
		YAlign:  draw.YBottom,
		Handler: plot.DefaultTextHandler,
	}
}

// newPlot returns a plot with the common style applied.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sansFont(titleSize, true)
	p.Title.TextStyle.Color = textColor
	p.Title.Padding = vg.Points(8)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = sansFont(labelSize, false)
		ax.Label.TextStyle.Color = textColor
		ax.Label.Padding = vg.Points(4)
		ax.Tick.Label.Font = sansFont(tickSize, false)
		ax.Tick.Label.Color = textColor
		ax.Tick.Length = vg.Points(4)
		ax.Tick.Marker = linearTicker{}
		ax.Padding = vg.Points(3)
	}
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	return p
}

// newLegend returns an empty legend in the common style.
func newLegend() *legend {
	l := plot.NewLegend()
	l.TextStyle = textStyle(legendSize, false)
	l.Top = true
	l.Left = true
	l.ThumbnailWidth = vg.Points(22)
	l.Padding = vg.Points(3)
	l.YPosition = draw.PosCenter
	return &legend{Legend: l}
}

// addGrid adds light grid lines behind the data. Pass false to suppress
// the lines perpendicular to one axis.
func addGrid(p *plot.Plot, vertical, horizontal bool) {
	g := plotter.NewGrid()
	sty := draw.LineStyle{Color: gridColor, Width: gridWidth}
	g.Vertical, g.Horizontal = sty, sty
	if !vertical {
		g.Vertical.Color = nil
	}
	if !horizontal {
		g.Horizontal.Color = nil
	}
	p.Add(g)
}

// ---- tick markers ----

// linearTicker is plot.DefaultTicks with compact labels for large numbers
// (20000 -> "20k", 1500000 -> "1.5M").
type linearTicker struct{}

func (linearTicker) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	big := math.Max(math.Abs(min), math.Abs(max)) >= 1e4
	for i := range ticks {
		if ticks[i].Label == "" {
			continue
		}
		if big {
			ticks[i].Label = compactNumber(ticks[i].Value)
		}
	}
	return ticks
}

// compactNumber formats large round numbers with k/M/G suffixes.
func compactNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9, 2) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6, 2) + "M"
	case a >= 1e3:
		return trimFloat(v/1e3, 2) + "k"
	}
	return trimFloat(v, 2)
}

// trimFloat formats v with at most prec decimals, dropping trailing zeros.
func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// logTicker labels a log axis: 1-2-5 steps when the axis spans at most two
// decades, powers of ten otherwise (every k-th decade when there are many),
// with unlabelled minor ticks.
type logTicker struct{}

func (logTicker) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) || math.IsInf(max, 0) {
		return nil
	}
	lo := int(math.Floor(math.Log10(min) + 1e-9))
	hi := int(math.Ceil(math.Log10(max) - 1e-9))
	span := hi - lo
	mults := []float64{1}
	if span <= 2 {
		mults = []float64{1, 2, 5}
	}
	every := 1
	if span > 8 {
		every = (span + 7) / 8
	}
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		base := math.Pow(10, float64(e))
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			for _, lm := range mults {
				if float64(m) == lm && (m != 1 || ((e-lo)%every == 0)) {
					t.Label = formatLog(float64(m), e)
				}
			}
			if t.Label == "" && span > 10 {
				continue // too many minor ticks
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// formatLog formats m*10^e compactly: plain decimals for 1e-3..1e4, otherwise
// "2e-5".
func formatLog(m float64, e int) string {
	if e >= -3 && e <= 4 {
		prec := 0
		if e < 0 {
			prec = -e
		}
		return strconv.FormatFloat(m*math.Pow(10, float64(e)), 'f', prec, 64)
	}
	return strconv.FormatFloat(m, 'f', -1, 64) + "e" + strconv.Itoa(e)
}

// niceLogFloor returns the largest m*10^k <= x with m in mults.
func niceLogFloor(x float64, mults []float64) float64 {
	e := math.Floor(math.Log10(x) + 1e-9)
	base := math.Pow(10, e)
	best := base / 10 * mults[len(mults)-1]
	for _, m := range mults {
		if m*base <= x*(1+1e-9) {
			best = m * base
		}
	}
	return best
}

// niceLogCeil returns the smallest m*10^k >= x with m in mults.
func niceLogCeil(x float64, mults []float64) float64 {
	e := math.Floor(math.Log10(x) + 1e-9)
	base := math.Pow(10, e)
	for _, m := range mults {
		if m*base >= x*(1-1e-9) {
			return m * base
		}
	}
	return 10 * base
}

// logRange widens [min, max] (both > 0) to tick-aligned bounds.
func logRange(min, max float64) (float64, float64) {
	if max <= min {
		min, max = min/2, max*2
	}
	mults := []float64{1}
	if math.Log10(max)-math.Log10(min) <= 2 {
		mults = []float64{1, 2, 5}
	}
	lo, hi := niceLogFloor(min, mults), niceLogCeil(max, mults)
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// setLogAxis switches ax to a log scale spanning [min, max] (both > 0).
func setLogAxis(ax *plot.Axis, min, max float64) {
	ax.Scale = plot.LogScale{}
	ax.Tick.Marker = logTicker{}
	ax.Min, ax.Max = logRange(min, max)
}

// formatValue formats a value for annotations with about three significant
// digits.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e4 || a < 1e-3:
		return strconv.FormatFloat(v, 'e', 1, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
