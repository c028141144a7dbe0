// Package plots renders the figures used by the nanoscope notebooks and
// reports with gonum.org/v1/plot.
//
// Every figure function takes plain Go data (slices and the small structs
// defined here), validates it, and returns a [Figure] holding the same
// drawing encoded as PNG (for notebooks and HTML exports) and SVG (for
// papers and zooming). All figures share one style: Liberation Sans text
// sized to stay readable when the PNG is shown about 800 px wide, a fixed
// colour palette ([Palette]), light grid lines, and a legend column to the
// right of the data so that it never covers a curve.
//
// Invalid input (no data, mismatched lengths, NaN or infinite values, values
// a log axis cannot show) is reported as an error that names the offending
// series and index; the functions never panic on bad input.
package plots

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure is a rendered plot.
type Figure struct {
	// Name is the stable, descriptive file stem of the figure, such as
	// "loss_curves". It is used by [Figure.Save] and by notebook helpers.
	Name string
	// PNG is the figure as a PNG image, [DPI] dots per inch.
	PNG []byte
	// SVG is the same figure as an SVG document (sizes in points).
	SVG []byte
}

// Default figure geometry. At DPI dots per inch a DefaultWidth x
// DefaultHeight figure is 806 x 504 pixels, which a notebook shows at
// (almost) its natural size.
const (
	DefaultWidth  = 16 * vg.Centimeter
	DefaultHeight = 10 * vg.Centimeter
	DPI           = 128
)

// PixelSize returns the pixel dimensions of the PNG rendering of a figure
// of the given physical size, rounded the way vgimg rounds them.
func PixelSize(w, h vg.Length) (int, int) {
	return int(w/vg.Inch*DPI + 0.5), int(h/vg.Inch*DPI + 0.5)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkName verifies that name can be used as a file stem.
func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid figure name %q: want a file stem of letters, digits, '.', '_' or '-' (e.g. \"loss_curves\")", name)
	}
	return nil
}

// drawHook, when set (by the tests), receives every figure's size and drawing function, to draw
// it on a canvas that measures the text.
var drawHook func(w, h vg.Length, drawFn func(dc draw.Canvas))

// render draws the figure twice, once onto a PNG canvas and once onto an
// SVG canvas. Panics inside gonum/plot are turned into errors.
func render(name string, w, h vg.Length, drawFn func(dc draw.Canvas)) (fig Figure, err error) {
	defer func() {
		if r := recover(); r != nil {
			fig = Figure{}
			err = fmt.Errorf("plots: rendering %q: %v", name, r)
		}
	}()
	if err := checkName(name); err != nil {
		return Figure{}, fmt.Errorf("plots: %w", err)
	}
	if drawHook != nil {
		drawHook(w, h, drawFn)
	}

	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	drawFn(draw.New(img))
	var pngBuf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pngBuf); err != nil {
		return Figure{}, fmt.Errorf("plots: encoding %q as PNG: %w", name, err)
	}

	svg := vgsvg.NewWith(vgsvg.UseWH(w, h))
	drawFn(draw.New(svg))
	var svgBuf bytes.Buffer
	if _, err := svg.WriteTo(&svgBuf); err != nil {
		return Figure{}, fmt.Errorf("plots: encoding %q as SVG: %w", name, err)
	}
	return Figure{Name: name, PNG: pngBuf.Bytes(), SVG: fixSVG(svgBuf.Bytes())}, nil
}

// fixSVG works around three problems of vgsvg output:
//   - raster images (colour bars, large heat maps) are PNG data labelled
//     "data:image/jpg"; browsers sniff the bytes, but stricter renderers
//     (librsvg, converters) draw nothing;
//   - <image> elements lack preserveAspectRatio="none", so an image whose
//     aspect ratio differs from its box is letterboxed (a heat map shrinks
//     to the middle of its axes);
//   - the font family has no fallback; Arial/Helvetica are metrically
//     compatible with Liberation Sans, so text keeps its layout where
//     Liberation is not installed.
func fixSVG(svg []byte) []byte {
	svg = bytes.ReplaceAll(svg, []byte("data:image/jpg;base64,iVBOR"), []byte("data:image/png;base64,iVBOR"))
	svg = bytes.ReplaceAll(svg, []byte("<image "), []byte(`<image preserveAspectRatio="none" `))
	svg = bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	return svg
}

// Save writes dir/Name.png and dir/Name.svg, creating dir if needed. Each
// file is written to a temporary file in dir and renamed into place, so a
// reader never sees a partially written image (the two files are replaced
// one after the other, not as a pair).
func (f Figure) Save(dir string) error {
	if err := checkName(f.Name); err != nil {
		return fmt.Errorf("plots: save: %w", err)
	}
	if len(f.PNG) == 0 || len(f.SVG) == 0 {
		return fmt.Errorf("plots: save %q: figure has no PNG or SVG data", f.Name)
	}
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plots: save %q: %w", f.Name, err)
	}
	if err := writeAtomic(filepath.Join(dir, f.Name+".png"), f.PNG); err != nil {
		return fmt.Errorf("plots: save %q: %w", f.Name, err)
	}
	if err := writeAtomic(filepath.Join(dir, f.Name+".svg"), f.SVG); err != nil {
		return fmt.Errorf("plots: save %q: %w", f.Name, err)
	}
	return nil
}

// writeAtomic writes data to a temporary file next to path and renames it
// over path.
func writeAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
