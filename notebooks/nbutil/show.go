package nbutil

// Showing results in a notebook: figures saved under PlotsDir and displayed, and the number
// formats the notebooks' prose uses.

import (
	"fmt"
	"path/filepath"
	"strconv"

	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// Save writes the figure to PlotsDir (as NAME.png and NAME.svg) and displays it; it panics on
// an error from the figure's construction or from writing it, as a notebook cell should:
// nbutil.Save(plots.Histogram(...)).
func Save(f plots.Figure, err error) {
	if err != nil {
		panic(err)
	}
	root, err := Root()
	if err != nil {
		panic(err)
	}
	if err := nbdisplay.SaveAndShow(f, filepath.Join(root, PlotsDir)); err != nil {
		panic(err)
	}
}

// Pct formats a share as a percentage with one decimal: 0.1234 → "12.3%".
func Pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// G3 formats x with three significant digits.
func G3(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }

// F3 formats x with three decimals.
func F3(x float64) string { return fmt.Sprintf("%.3f", x) }
