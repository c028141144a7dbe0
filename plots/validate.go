package plots

import (
	"fmt"
	"math"
)

// describe names a series in error messages.
func describe(kind string, i int, label string) string {
	if label == "" {
		return fmt.Sprintf("%s %d", kind, i)
	}
	return fmt.Sprintf("%s %d (%q)", kind, i, label)
}

// badNumber reports why v is unusable, or "" if it is finite.
func badNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		return "infinite"
	}
	return ""
}

// checkValues reports the first NaN or infinite entry of vs.
func checkValues(fn, what string, vs []float64) error {
	for j, v := range vs {
		if b := badNumber(v); b != "" {
			return fmt.Errorf("plots: %s: %s[%d] is %s", fn, what, j, b)
		}
	}
	return nil
}

// checkSeries validates line series: at least one series, each non-empty
// with len(X) == len(Y) and finite values; with logY all Y must be > 0.
func checkSeries(fn string, series []Series, logY bool) error {
	if len(series) == 0 {
		return fmt.Errorf("plots: %s: no series", fn)
	}
	for i, s := range series {
		name := describe("series", i, s.Label)
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plots: %s: %s has %d X values but %d Y values", fn, name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			return fmt.Errorf("plots: %s: %s is empty", fn, name)
		}
		if err := checkValues(fn, name+" X", s.X); err != nil {
			return err
		}
		if err := checkValues(fn, name+" Y", s.Y); err != nil {
			return err
		}
		if logY {
			for j, y := range s.Y {
				if y <= 0 {
					return fmt.Errorf("plots: %s: %s Y[%d] = %g cannot be shown on a log scale (must be > 0)", fn, name, j, y)
				}
			}
		}
	}
	return nil
}
