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

// seriesStyle returns the colour and dash pattern of the i-th series.
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

// linearTicker places about five labelled ticks at "nice" values (steps of
// 1, 2, 2.5 or 5 times a power of ten) with unlabelled minor ticks between
// them; labels of large numbers are compact (20000 -> "20k").
type linearTicker struct{}

func (linearTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	step, minorDiv := niceStep(lo, hi)
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if r := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); math.Abs(r-2.5) < 1e-9 {
		dec++
	}
	big := math.Max(math.Abs(lo), math.Abs(hi)) >= 1e4
	minor := step / float64(minorDiv)
	var ticks []plot.Tick
	first := math.Ceil(lo/minor - 1e-9)
	for k := first; k*minor <= hi+minor*1e-9; k++ {
		v := k * minor
		if math.Abs(v) < minor*1e-9 {
			v = 0
		}
		t := plot.Tick{Value: v}
		if math.Mod(math.Abs(k), float64(minorDiv)) == 0 {
			if big {
				t.Label = compactNumber(v)
			} else {
				t.Label = strconv.FormatFloat(v, 'f', dec, 64)
			}
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// niceStep returns the labelled-tick step for about five labels over
// [lo, hi] and the number of minor intervals per step.
func niceStep(lo, hi float64) (step float64, minorDiv int) {
	const target = 5
	raw := (hi - lo) / target
	base := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []struct {
		mant float64
		div  int
	}{{1, 5}, {2, 4}, {2.5, 5}, {5, 5}} {
		if m.mant*base >= raw*0.85 {
			return m.mant * base, m.div
		}
	}
	return 10 * base, 5
}

// niceBounds widens [lo, hi] to the enclosing minor ticks of linearTicker.
func niceBounds(lo, hi float64) (float64, float64) {
	if !(hi > lo) {
		return lo, hi
	}
	step, div := niceStep(lo, hi)
	minor := step / float64(div)
	return math.Floor(lo/minor+1e-9) * minor, math.Ceil(hi/minor-1e-9) * minor
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

// logTicker labels a log axis: every integer multiple of a power of ten
// when the axis spans at most one decade, 1-2-5 steps up to 2.5 decades,
// powers of ten beyond (every k-th decade when there are many), with
// unlabelled minor ticks.
type logTicker struct{}

// logMults returns the labelled mantissas for an axis spanning decades.
func logMults(decades float64) []float64 {
	switch {
	case decades <= 1:
		return []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	case decades <= 2.5:
		return []float64{1, 2, 5}
	}
	return []float64{1}
}

func (logTicker) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) || math.IsInf(max, 0) {
		return nil
	}
	lo := int(math.Floor(math.Log10(min) + 1e-9))
	hi := int(math.Ceil(math.Log10(max) - 1e-9))
	span := hi - lo
	mults := logMults(math.Log10(max / min))
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
	mults := logMults(math.Log10(max / min))
	lo, hi := niceLogFloor(min, mults), niceLogCeil(max, mults)
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// log10Ticker is logTicker for an axis whose data are already log10
// values (see setLogAxis).
type log10Ticker struct{}

func (log10Ticker) Ticks(min, max float64) []plot.Tick {
	ticks := logTicker{}.Ticks(math.Pow(10, min), math.Pow(10, max))
	for i := range ticks {
		ticks[i].Value = math.Log10(ticks[i].Value)
	}
	return ticks
}

// setLogAxis makes ax a logarithmic axis spanning at least [min, max]
// (both > 0). The axis works in log10 space: plotters must be given
// log10(value). This sidesteps two problems of plot.LogScale: it panics on
// values <= 0 (bars start at 0), and gonum places the axis-label glyph box
// at the arithmetic midpoint of the range, which on a log axis shrinks the
// data area by a large, spurious margin.
func setLogAxis(ax *plot.Axis, min, max float64) {
	lo, hi := logRange(min, max)
	ax.Tick.Marker = log10Ticker{}
	ax.Min, ax.Max = math.Log10(lo), math.Log10(hi)
}

// formatSig formats v with sig significant digits (at least), using plain
// decimals for 0.01 <= |v| < 10000 and short scientific notation ("2.2e-3")
// otherwise.
func formatSig(v float64, sig int) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e4 || a < 1e-2:
		return shortExp(strconv.FormatFloat(v, 'e', sig-1, 64))
	}
	dec := max(0, sig-1-int(math.Floor(math.Log10(a))))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// shortExp turns "2.2e-03" into "2.2e-3" and "1.5e+04" into "1.5e4".
func shortExp(s string) string {
	i := strings.IndexByte(s, 'e')
	if i < 0 {
		return s
	}
	mant, exp := s[:i], s[i+1:]
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	if exp == "" {
		exp = "0"
	}
	return mant + "e" + sign + exp
}

// formatValue formats a single value (legend entries, statistics) with
// three significant digits, without trailing zeros.
func formatValue(v float64) string {
	s := formatSig(v, 3)
	if strings.Contains(s, ".") && !strings.Contains(s, "e") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fixedFormatter returns a formatter that prints every value of a set with
// the same number of decimals: two for magnitudes in [0.1, 10) (three
// below, fewer above), scientific notation when the largest magnitude is
// tiny or huge.
func fixedFormatter(values ...[]float64) func(float64) string {
	m := 0.0
	for _, vs := range values {
		for _, v := range vs {
			m = math.Max(m, math.Abs(v))
		}
	}
	if m == 0 || m >= 1e5 || m < 1e-3 {
		return func(v float64) string { return formatSig(v, 2) }
	}
	e := int(math.Floor(math.Log10(m)))
	dec := max(0, 2-e)
	if e < 0 {
		dec = 1 - e
	}
	return func(v float64) string {
		s := strconv.FormatFloat(v, 'f', dec, 64)
		if strings.Trim(s, "-0.") == "" {
			return "0"
		}
		return s
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
