package plots

import (
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// drawPlot draws p on c with its title fitted to c's width (fitTitle): gonum/plot centres the
// title on the canvas it draws on, so a title wider than that canvas runs off the figure. It
// also lowers the plot by what the title's first line rises above the canvas: gonum/plot puts
// that line's baseline one font size below the top, and the font's ascent can be less than
// its size (Liberation Sans: 0.905 em), and moves it right by the y label's descent, which
// gonum/plot lets run past the canvas's left edge. It returns the data area drawn, for what is placed
// beside it (legends, colour bars).
func drawPlot(p *plot.Plot, c draw.Canvas) draw.Canvas {
	if p.Title.Text != "" {
		p.Title.Text = fitTitle(p.Title.Text, func(s string) vg.Length { return p.Title.TextStyle.Width(s) }, c.Max.X-c.Min.X)
		if over := p.Title.TextStyle.Font.Size - p.Title.TextStyle.FontExtents().Ascent; over > 0 {
			c.Max.Y -= over
		}
	}
	if p.Y.Label.Text != "" { // the rotated y label's descent box starts left of the canvas
		c.Min.X += p.Y.Label.TextStyle.FontExtents().Descent
	}
	p.Draw(c)
	return p.DataCanvas(c)
}

// fitTitle breaks each line of title at spaces into lines no wider than width, as measured by
// the title font's metrics (widthOf); a single word wider than width is cut and ends in "…".
// A title that fits is returned unchanged, so fitting twice changes nothing.
func fitTitle(title string, widthOf func(string) vg.Length, width vg.Length) string {
	var out []string
	for _, line := range strings.Split(title, "\n") {
		if widthOf(line) <= width {
			out = append(out, line)
			continue
		}
		cur := ""
		for _, w := range strings.Fields(line) {
			for widthOf(w) > width && len([]rune(w)) > 1 { // a word longer than a line
				r := []rune(w)
				w = string(r[:len(r)-2]) + "…"
			}
			switch {
			case cur == "":
				cur = w
			case widthOf(cur+" "+w) <= width:
				cur += " " + w
			default:
				out = append(out, cur)
				cur = w
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}
