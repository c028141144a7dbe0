package plots

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Category is one value of a categorical heat map: the word printed in its cells and their
// fill colour.
type Category struct {
	Name  string
	Color color.Color
}

// VerdictCategories are the three verdicts of a hypothesis, as CategoricalHeatmap colours them:
// refuted blue, untestable grey, supported orange (no red: "supported" is not an alarm).
var VerdictCategories = []Category{
	{"refuted", rgb(0x9e, 0xca, 0xe1)},
	{"untestable", rgb(0xdd, 0xdd, 0xdd)},
	{"supported", rgb(0xfd, 0xae, 0x6b)},
}

// CategoricalHeatmap draws a grid whose cell [r][c] holds the word cells[r][c], one of the
// categories' names, printed in the cell on that category's colour; rows label the rows (row 0
// at the top) and cols the columns. A legend on the right lists the categories. There is no
// colour scale: the categories have no order or distance.
func CategoricalHeatmap(name, title, xlabel, ylabel string, rows, cols []string, cells [][]string, categories []Category) (Figure, error) {
	const fn = "CategoricalHeatmap"
	if len(rows) == 0 || len(cols) == 0 {
		return Figure{}, fmt.Errorf("plots: %s: need at least one row and one column (got %d rows, %d cols)", fn, len(rows), len(cols))
	}
	if len(cells) != len(rows) {
		return Figure{}, fmt.Errorf("plots: %s: %d row labels but %d rows of cells", fn, len(rows), len(cells))
	}
	fill := map[string]color.Color{}
	for _, c := range categories {
		fill[c.Name] = c.Color
	}
	for r, row := range cells {
		if len(row) != len(cols) {
			return Figure{}, fmt.Errorf("plots: %s: cells row %d (%q) has %d cells for %d columns", fn, r, rows[r], len(row), len(cols))
		}
		for c, v := range row {
			if _, ok := fill[v]; !ok {
				return Figure{}, fmt.Errorf("plots: %s: cells[%d][%d] (row %q, col %q) is %q, not a category", fn, r, c, rows[r], cols[c], v)
			}
		}
	}
	nr, nc := len(rows), len(cols)
	p := newPlot(title, xlabel, ylabel)
	p.X.Padding, p.Y.Padding = 0, 0
	p.Add(&wordCells{cells: cells, fill: fill})
	p.X.Min, p.X.Max = -0.5, float64(nc)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nr)-0.5
	p.Y.Tick.Marker = plot.ConstantTicks(nominalTicks(rows, 1, func(i int) float64 { return float64(nr - 1 - i) }))
	xticks := nominalTicks(cols, 1, func(i int) float64 { return float64(i) })
	p.X.Tick.Marker = plot.ConstantTicks(xticks)
	fitXLabels(&p.X, xticks, DefaultWidth-vg.Points(250))

	leg := newLegend()
	for _, c := range categories {
		leg.Add(c.Name, swatch{c.Color})
	}
	return render(name, DefaultWidth, DefaultHeight, withSideLegend(p, leg))
}

// wordCells fills each cell with its category's colour and prints the category's name in it.
type wordCells struct {
	cells [][]string
	fill  map[string]color.Color
}

func (w *wordCells) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	nr := len(w.cells)
	sty := textStyle(9, false)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	cellW := trX(0.5) - trX(-0.5)
	var widest string
	for _, row := range w.cells {
		for _, v := range row {
			if sty.Width(v) > sty.Width(widest) {
				widest = v
			}
		}
	}
	for sty.Font.Size > 5 && sty.Width(widest) > 0.9*cellW {
		sty.Font.Size -= 0.5
	}
	for r, row := range w.cells {
		y := float64(nr - 1 - r)
		for col, v := range row {
			x := float64(col)
			x0, x1, y0, y1 := trX(x-0.5), trX(x+0.5), trY(y-0.5), trY(y+0.5)
			fillRect(c, w.fill[v], x0, y0, x1, y1)
			st := sty
			st.Color = color.Black
			c.FillText(st, vg.Point{X: trX(x), Y: trY(y)}, v)
		}
	}
}
