package plots

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// textBox is one string drawn on a measuring canvas: its extent on the page, from the font's
// metrics (width, ascent, descent) through the canvas transform in effect.
type textBox struct {
	text                   string
	size                   vg.Length
	minX, minY, maxX, maxY vg.Length
}

// affine is x' = a·x + b·y + e, y' = c·x + d·y + f.
type affine struct{ a, b, c, d, e, f float64 }

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.e, m.c*x + m.d*y + m.f
}

func (m affine) then(n affine) affine { // m applied after n: m·n
	return affine{m.a*n.a + m.b*n.c, m.a*n.b + m.b*n.d, m.c*n.a + m.d*n.c, m.c*n.b + m.d*n.d,
		m.a*n.e + m.b*n.f + m.e, m.c*n.e + m.d*n.f + m.f}
}

// measureCanvas is a vg.Canvas that records where text lands and draws nothing else.
type measureCanvas struct {
	w, h  vg.Length
	m     affine
	stack []affine
	texts []textBox
}

func newMeasureCanvas(w, h vg.Length) *measureCanvas {
	return &measureCanvas{w: w, h: h, m: affine{a: 1, d: 1}}
}

func (c *measureCanvas) Size() (vg.Length, vg.Length)       { return c.w, c.h }
func (c *measureCanvas) SetLineWidth(vg.Length)             {}
func (c *measureCanvas) SetLineDash([]vg.Length, vg.Length) {}
func (c *measureCanvas) SetColor(color.Color)               {}
func (c *measureCanvas) Rotate(rad float64) {
	s, co := math.Sin(rad), math.Cos(rad)
	c.m = c.m.then(affine{a: co, b: -s, c: s, d: co})
}
func (c *measureCanvas) Translate(pt vg.Point) {
	c.m = c.m.then(affine{a: 1, d: 1, e: float64(pt.X), f: float64(pt.Y)})
}
func (c *measureCanvas) Scale(x, y float64)                  { c.m = c.m.then(affine{a: x, d: y}) }
func (c *measureCanvas) Push()                               { c.stack = append(c.stack, c.m) }
func (c *measureCanvas) Pop()                                { c.m, c.stack = c.stack[len(c.stack)-1], c.stack[:len(c.stack)-1] }
func (c *measureCanvas) Stroke(vg.Path)                      {}
func (c *measureCanvas) Fill(vg.Path)                        {}
func (c *measureCanvas) DrawImage(vg.Rectangle, image.Image) {}
func (c *measureCanvas) FillString(f font.Face, pt vg.Point, text string) {
	if f.Font.Size == 0 || strings.TrimSpace(text) == "" {
		return
	}
	ext := f.Extents()
	x0, x1 := float64(pt.X), float64(pt.X+f.Width(text))
	y0, y1 := float64(pt.Y-ext.Descent), float64(pt.Y+ext.Ascent)
	b := textBox{text: text, size: f.Font.Size, minX: vg.Length(math.Inf(1)), minY: vg.Length(math.Inf(1)), maxX: vg.Length(math.Inf(-1)), maxY: vg.Length(math.Inf(-1))}
	for _, p := range [][2]float64{{x0, y0}, {x0, y1}, {x1, y0}, {x1, y1}} {
		x, y := c.m.apply(p[0], p[1])
		b.minX, b.maxX = min(b.minX, vg.Length(x)), max(b.maxX, vg.Length(x))
		b.minY, b.maxY = min(b.minY, vg.Length(y)), max(b.maxY, vg.Length(y))
	}
	c.texts = append(c.texts, b)
}

// drawnTexts renders make's figure on a measuring canvas and returns the size and the texts.
func drawnTexts(t *testing.T, make func() (Figure, error)) (vg.Length, vg.Length, []textBox) {
	t.Helper()
	var mc *measureCanvas
	drawHook = func(w, h vg.Length, drawFn func(draw.Canvas)) {
		mc = newMeasureCanvas(w, h)
		drawFn(draw.New(mc))
	}
	defer func() { drawHook = nil }()
	if _, err := make(); err != nil {
		t.Fatal(err)
	}
	if mc == nil {
		t.Fatal("the figure was not drawn")
	}
	return mc.w, mc.h, mc.texts
}

// No figure's title runs off its canvas, however long: every line of it, and every other text
// (axis labels, ticks, legends, cell values), measured with its font's metrics (width, ascent,
// descent) through the canvas transforms, lies inside the page. The long title is
// 12_logit_lens.png's, which was clipped, and one longer still.
func TestTitlesFitTheCanvas(t *testing.T) {
	rows, cols, vals := lensGrid(4, 6, true)
	long := "Logit lens: each residual stream decoded through the head"
	longer := long + ", with the margin of the current token over the best other token at every position"
	series := []BarSeries{{Label: "copy rate", Values: []float64{0.1, 0.5, 0.9, 0.2}}, {Label: "next-token accuracy", Values: []float64{0.3, 0.2, 0.1, 0.4}}}
	for _, title := range []string{long, longer, "Supercalifragilisticexpialidocious-and-then-some-more-characters-without-any-space-to-break-at-all"} {
		figs := map[string]func() (Figure, error){
			"GroupedBars": func() (Figure, error) {
				return GroupedBars("t", title, "share", []string{"embed", "block 0", "block 1", "block 2"}, series)
			},
			"Heatmap":   func() (Figure, error) { return Heatmap("t", title, "x", "y", rows, cols, vals) },
			"Histogram": func() (Figure, error) { return Histogram("t", title, "x", []float64{1, 2, 2, 3, 3, 3}, 3) },
			"LinesOverSteps": func() (Figure, error) {
				return LinesOverSteps("t", title, "y", lossSeries(), false)
			},
			"CategoricalHeatmap": func() (Figure, error) {
				return CategoricalHeatmap("t", title, "checkpoint", "hypothesis", []string{"H1", "H2"}, []string{"a", "b"},
					[][]string{{"refuted", "supported"}, {"untestable", "refuted"}}, VerdictCategories)
			},
			"OffsetCurves": func() (Figure, error) {
				x := []float64{-1, 0, 1, 2}
				return OffsetCurves("t", title, []Series{{Label: "next-token", X: x, Y: []float64{3.8, 4.5, 0.8, 4.5}}}, []HLine{{Label: "unigram CE", Y: 2.98}})
			},
			"GradientFlow": func() (Figure, error) {
				names, norms := gradParams()
				return GradientFlow("t", names, norms)
			},
			"AttentionPattern": func() (Figure, error) {
				return AttentionPattern("t", title, []string{"a", "b"}, [][]float64{{1, 0}, {0.25, 0.75}})
			},
		}
		for name, make := range figs {
			w, h, texts := drawnTexts(t, make)
			var titleLines int
			for _, b := range texts {
				if b.size == titleSize {
					titleLines++
				}
				if b.minX < 0 || b.maxX > w || b.minY < 0 || b.maxY > h {
					t.Errorf("%s: text %q spans x [%.1f, %.1f], y [%.1f, %.1f] on a %.1f × %.1f pt canvas",
						name, b.text, float64(b.minX), float64(b.maxX), float64(b.minY), float64(b.maxY), float64(w), float64(h))
				}
			}
			if titleLines == 0 {
				t.Errorf("%s: no title line drawn", name)
			}
		}
	}
}

// fitTitle leaves a title that fits alone and breaks one that does not at spaces, each line
// within the width; fitting twice is fitting once.
func TestFitTitle(t *testing.T) {
	w := func(s string) vg.Length { return vg.Length(len([]rune(s))) } // one point per rune
	for _, c := range []struct {
		title string
		width vg.Length
		want  string
	}{
		{"short title", 20, "short title"},
		{"one two three four", 9, "one two\nthree\nfour"},
		{"abcdefghij xy", 6, "abcde…\nxy"},
		{"kept\nlines", 5, "kept\nlines"},
	} {
		got := fitTitle(c.title, w, c.width)
		if got != c.want {
			t.Errorf("fitTitle(%q, %v) = %q, want %q", c.title, c.width, got, c.want)
		}
		if again := fitTitle(got, w, c.width); again != got {
			t.Errorf("fitTitle is not idempotent on %q: %q", got, again)
		}
	}
}
