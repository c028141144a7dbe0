package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one line: Y[i] at X[i] (for the step plots X is the training
// step). X and Y must have the same, non-zero length.
type Series struct {
	Label string
	X, Y  []float64
}

// HLine is a labelled horizontal reference line, e.g. the unigram entropy.
type HLine struct {
	Label string
	Y     float64
}

// Axis labels used by the step plots.
const (
	StepLabel = "training step"
	LossLabel = "cross-entropy loss (nats/token)"
)

// markerThreshold: series with at most this many points also get point
// markers, so that short or single-point series stay visible.
const markerThreshold = 25

// LossCurves plots train/validation loss against the training step, with
// optional dashed horizontal reference lines (e.g. the unigram entropy, in
// the same unit as the loss). The legend lists each reference with its
// value.
func LossCurves(name string, series []Series, ref []HLine) (Figure, error) {
	const fn = "LossCurves"
	if err := checkSeries(fn, series, false); err != nil {
		return Figure{}, err
	}
	for i, r := range ref {
		if b := badNumber(r.Y); b != "" {
			return Figure{}, fmt.Errorf("plots: %s: %s Y is %s", fn, describe("reference line", i, r.Label), b)
		}
	}
	return linesFigure(name, "Loss vs. training step", StepLabel, LossLabel, series, ref, false)
}

// LinesOverSteps plots one line per series against the training step
// (activation norms per layer, alpha trajectories, ...). With logY the y
// axis is logarithmic and every Y value must be > 0.
func LinesOverSteps(name, title, ylabel string, series []Series, logY bool) (Figure, error) {
	if err := checkSeries("LinesOverSteps", series, logY); err != nil {
		return Figure{}, err
	}
	return linesFigure(name, title, StepLabel, ylabel, series, nil, logY)
}

func linesFigure(name, title, xlabel, ylabel string, series []Series, ref []HLine, logY bool) (Figure, error) {
	p := newPlot(title, xlabel, ylabel)
	addGrid(p, true, true)
	leg := newLegend()

	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	ty := func(y float64) float64 { return y }
	if logY {
		ty = math.Log10 // see setLogAxis
	}
	for i, s := range series {
		xys := make(plotter.XYs, len(s.X))
		for j := range s.X {
			xys[j] = plotter.XY{X: s.X[j], Y: ty(s.Y[j])}
			xmin, xmax = math.Min(xmin, s.X[j]), math.Max(xmax, s.X[j])
			ymin, ymax = math.Min(ymin, s.Y[j]), math.Max(ymax, s.Y[j])
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return Figure{}, fmt.Errorf("plots: %s: %w", describe("series", i, s.Label), err)
		}
		line.LineStyle = seriesStyle(i)
		p.Add(line)
		label := s.Label
		if label == "" {
			label = fmt.Sprintf("series %d", i)
		}
		if len(xys) <= markerThreshold {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return Figure{}, fmt.Errorf("plots: %s: %w", describe("series", i, s.Label), err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: line.LineStyle.Color, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			p.Add(sc)
			leg.Add(label, line, sc)
		} else {
			leg.Add(label, line)
		}
	}
	if xmin == xmax {
		xmin, xmax = xmin-0.5, xmax+0.5
	}
	for i, r := range ref {
		line, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: ty(r.Y)}, {X: xmax, Y: ty(r.Y)}})
		if err != nil {
			return Figure{}, fmt.Errorf("plots: %s: %w", describe("reference line", i, r.Label), err)
		}
		line.LineStyle = draw.LineStyle{Color: RefColor, Width: vg.Points(1.2), Dashes: refDashes[i%len(refDashes)]}
		p.Add(line)
		label := r.Label
		if label == "" {
			label = "reference"
		}
		leg.Add(fmt.Sprintf("%s = %s", label, formatValue(r.Y)), line)
		ymin, ymax = math.Min(ymin, r.Y), math.Max(ymax, r.Y)
	}
	if logY {
		setLogAxis(&p.Y, ymin, ymax)
	} else {
		p.Y.Min, p.Y.Max = niceBounds(ymin, ymax)
	}
	return render(name, DefaultWidth, DefaultHeight, withSideLegend(p, leg))
}
