package plots

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// ---- sample data, shaped like the project's ----

func lossSeries() []Series {
	var train, val Series
	train.Label, val.Label = "train", "validation"
	for s := 0; s <= 20000; s += 100 {
		x := float64(s)
		train.X = append(train.X, x)
		train.Y = append(train.Y, 2.1+5.5*math.Exp(-x/1500)+0.08*math.Sin(x/37))
		if s%1000 == 0 {
			val.X = append(val.X, x)
			val.Y = append(val.Y, 2.25+5.4*math.Exp(-x/1500))
		}
	}
	return []Series{train, val}
}

func normSeries(layers int) []Series {
	var out []Series
	for l := 0; l < layers; l++ {
		s := Series{Label: fmt.Sprintf("layer %d residual", l)}
		for st := 0; st <= 10000; st += 250 {
			s.X = append(s.X, float64(st))
			s.Y = append(s.Y, math.Pow(3, float64(l))*(1+float64(st)/2000))
		}
		out = append(out, s)
	}
	return out
}

func gradParams() ([]string, []float64) {
	names := []string{"embed.weight", "blocks.0.attn.wqkv", "blocks.0.attn.wo", "blocks.0.mlp.w1", "blocks.0.mlp.w2",
		"blocks.0.norm.alpha", "blocks.1.attn.wqkv", "blocks.1.attn.wo", "blocks.1.mlp.w1", "blocks.1.mlp.w2", "final_norm.alpha", "unembed.weight"}
	norms := []float64{3.2e-2, 4.1e-4, 0, 2.2e-3, 1.5e-3, 0, 7.7e-5, 3.3e-4, 1.1e-2, 9.0e-3, 2.5e-1, 1.3}
	return names, norms
}

func lensGrid(nr, nc int, signed bool) ([]string, []string, [][]float64) {
	rows := make([]string, nr)
	cols := make([]string, nc)
	vals := make([][]float64, nr)
	for r := range rows {
		rows[r] = fmt.Sprintf("layer %d", r)
		vals[r] = make([]float64, nc)
		for c := range cols {
			v := math.Exp(-math.Abs(float64(r-c)) / 2)
			if signed {
				v = math.Sin(float64(r)*0.7+float64(c)*0.4) * 3
			}
			vals[r][c] = v
		}
	}
	for c := range cols {
		cols[c] = fmt.Sprintf("pos %d", c)
	}
	return rows, cols, vals
}

func ternaryWeights(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		switch i % 7 {
		case 0, 1:
			out[i] = -0.031
		case 2, 3, 4:
			out[i] = 0
		default:
			out[i] = 0.031
		}
	}
	return out
}

// ---- figure cases ----

type figCase struct {
	name    string
	make    func() (Figure, error)
	w, h    float64 // expected size in points, 0 = default
	texts   []string
	partial bool
}

func figureCases() []figCase {
	params, norms := gradParams()
	manyParams := make([]string, 40)
	manyNorms := make([]float64, 40)
	for i := range manyParams {
		manyParams[i] = fmt.Sprintf("blocks.%d.w", i)
		manyNorms[i] = math.Pow(10, -float64(i%7)) * 1.7
	}
	rows, cols, vals := lensGrid(6, 8, false)
	srows, scols, svals := lensGrid(10, 10, true)
	brows, bcols, bvals := lensGrid(8, 64, false)
	bigR, bigC, bigV := lensGrid(80, 80, false)
	return []figCase{
		{
			name: "loss_curves",
			make: func() (Figure, error) {
				return LossCurves("loss_curves", lossSeries(), []HLine{{Label: "unigram entropy", Y: 4.12}, {Label: "uniform", Y: 8.3}})
			},
			texts: []string{"Loss vs. training step", StepLabel, LossLabel, "train", "validation", "unigram entropy = 4.12"},
		},
		{
			name: "activation_norms",
			make: func() (Figure, error) {
				return LinesOverSteps("activation_norms", "Residual-stream RMS per layer", "RMS norm (activation units)", normSeries(4), true)
			},
			texts: []string{"Residual-stream RMS per layer", "RMS norm (activation units)", StepLabel, "layer 3 residual"},
		},
		{
			name: "alpha_trajectory",
			make: func() (Figure, error) {
				s := []Series{{Label: "alpha", X: []float64{0, 1000, 2000}, Y: []float64{1, 0.7, 0.55}}, {Label: "single", X: []float64{500}, Y: []float64{0.2}}}
				return LinesOverSteps("alpha_trajectory", "Skip gate alpha", "alpha (unitless)", s, false)
			},
			texts: []string{"Skip gate alpha", "alpha (unitless)"},
		},
		{
			name: "gradient_flow",
			make: func() (Figure, error) { return GradientFlow("gradient_flow", params, norms) },
			texts: []string{"2 of 12 dead", "gradient L2 norm (log scale)", "dead (0)", "blocks.0.norm.alpha",
				"unembed.weight"},
		},
		{
			name: "gradient_flow_many",
			make: func() (Figure, error) { return GradientFlow("gradient_flow_many", manyParams, manyNorms) },
			w:    453.54, h: 40*14 + 100,
			texts: []string{"Gradient norm per parameter", "blocks.39.w"},
		},
		{
			name: "logit_lens",
			make: func() (Figure, error) {
				return Heatmap("logit_lens", "Logit lens: P(copy token)", "position", "layer", rows, cols, vals)
			},
			texts: []string{"Logit lens: P(copy token)", "position", "layer", "pos 7", "layer 5", "1.00", "min 0.030"},
		},
		{
			name: "attention_signed",
			make: func() (Figure, error) {
				return Heatmap("attention_signed", "Attention logits, head 0", "key position", "query position", srows, scols, svals)
			},
			texts: []string{"Attention logits, head 0", "key position", "query position"},
		},
		{
			name: "lens_wide",
			make: func() (Figure, error) {
				return Heatmap("lens_wide", "Logit lens, 64 positions", "position", "layer", brows, bcols, bvals)
			},
			texts: []string{"Logit lens, 64 positions", "pos 0"},
		},
		{
			name: "attention_big",
			make: func() (Figure, error) {
				return Heatmap("attention_big", "Attention 80x80", "key", "query", bigR, bigC, bigV)
			},
			texts: []string{"Attention 80x80"},
		},
		{
			name: "copy_vs_next",
			make: func() (Figure, error) {
				return GroupedBars("copy_vs_next", "Copy rate vs next-token accuracy", "fraction of positions",
					[]string{"ternary d=64", "ternary d=128", "fp32 d=64", "fp32 d=128 (long run)"},
					[]BarSeries{{Label: "copy rate", Values: []float64{0.91, 0.84, 0.12, 0.05}}, {Label: "next-token acc.", Values: []float64{0.07, 0.11, 0.41, 0.47}}})
			},
			texts: []string{"Copy rate vs next-token accuracy", "fraction of positions", "copy rate", "ternary d=128", "0.91"},
		},
		{
			name: "delta_bars",
			make: func() (Figure, error) {
				return GroupedBars("delta_bars", "Change after ablation", "delta log-prob (nats)", []string{"a", "b", "c"},
					[]BarSeries{{Label: "head 0", Values: []float64{-0.5, 0.2, 1.3}}})
			},
			texts: []string{"Change after ablation", "delta log-prob (nats)", "-0.5"},
		},
		{
			name: "ternary_weights",
			make: func() (Figure, error) {
				return Histogram("ternary_weights", "Ternary weight values, blocks.0.mlp.w1", "weight value (scaled)", ternaryWeights(4096), 41)
			},
			texts: []string{"Ternary weight values", "weight value (scaled)", "count", "n = 4096"},
		},
		{
			name: "embedding_norms",
			make: func() (Figure, error) {
				v := make([]float64, 1000)
				for i := range v {
					v[i] = 1 + 0.3*math.Sin(float64(i)*1.3) + 0.1*math.Cos(float64(i)*0.37)
				}
				return Histogram("embedding_norms", "Embedding L2 norms", "L2 norm", v, 0)
			},
			texts: []string{"Embedding L2 norms", "L2 norm", "count"},
		},
	}
}

// distinctColors counts the distinct colours of img, stopping at limit.
func distinctColors(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// svgText returns the concatenated character data of all <text> elements,
// failing the test if the document is not well-formed XML.
func svgText(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	inText := false
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inText = el.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(el))
			}
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element is %q, want svg", root)
	}
	return texts
}

func TestFigures(t *testing.T) {
	preview := os.Getenv("PLOTS_PREVIEW")
	for _, tc := range figureCases() {
		t.Run(tc.name, func(t *testing.T) {
			fig, err := tc.make()
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if fig.Name != tc.name {
				t.Errorf("Name = %q, want %q", fig.Name, tc.name)
			}
			img, err := png.Decode(bytes.NewReader(fig.PNG))
			if err != nil {
				t.Fatalf("PNG does not decode: %v", err)
			}
			wantW, wantH := PixelSize(DefaultWidth, DefaultHeight)
			if tc.h != 0 {
				wantW, wantH = PixelSize(pt(tc.w), pt(tc.h))
			}
			if got := img.Bounds().Size(); got.X != wantW || got.Y != wantH {
				t.Errorf("PNG size = %dx%d, want %dx%d", got.X, got.Y, wantW, wantH)
			}
			if n := distinctColors(img, 50); n < 50 {
				t.Errorf("PNG has only %d distinct colours, want >= 50", n)
			}
			all := strings.Join(svgText(t, fig.SVG), "\n")
			for _, want := range tc.texts {
				if !strings.Contains(all, want) {
					t.Errorf("SVG text does not contain %q", want)
				}
			}
			if preview != "" {
				if err := os.MkdirAll(preview, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(preview, fig.Name+".png"), fig.PNG, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestDefaultPixelSize(t *testing.T) {
	w, h := PixelSize(DefaultWidth, DefaultHeight)
	if w != 806 || h != 504 {
		t.Errorf("default PNG size = %dx%d, want 806x504", w, h)
	}
}

func TestGradientFlowDeadMarker(t *testing.T) {
	tests := []struct {
		name     string
		norms    []float64
		wantDead int
	}{
		{"none dead", []float64{1e-3, 2e-2, 0.5}, 0},
		{"one dead", []float64{1e-3, 0, 0.5}, 1},
		{"all dead", []float64{0, 0, 0}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fig, err := GradientFlow("gf", []string{"a", "b", "c"}, tc.norms)
			if err != nil {
				t.Fatal(err)
			}
			texts := svgText(t, fig.SVG)
			got := 0
			for _, s := range texts {
				if s == "dead (0)" {
					got++
				}
			}
			if got != tc.wantDead {
				t.Errorf("found %d \"dead (0)\" markers, want %d", got, tc.wantDead)
			}
			legend := strings.Contains(strings.Join(texts, "\n"), "dead (norm = 0)")
			if legend != (tc.wantDead > 0) {
				t.Errorf("dead legend entry present = %v, want %v", legend, tc.wantDead > 0)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	nan := math.NaN()
	inf := math.Inf(1)
	ok := []Series{{Label: "train", X: []float64{0, 1}, Y: []float64{2, 1}}}
	tests := []struct {
		name string
		call func() (Figure, error)
		want string // substring of the error
	}{
		{"loss no series", func() (Figure, error) { return LossCurves("x", nil, nil) }, "no series"},
		{"loss empty series", func() (Figure, error) {
			return LossCurves("x", []Series{{Label: "train"}}, nil)
		}, `series 0 ("train") is empty`},
		{"loss mismatched", func() (Figure, error) {
			return LossCurves("x", []Series{{Label: "val", X: []float64{1, 2}, Y: []float64{1}}}, nil)
		}, `series 0 ("val") has 2 X values but 1 Y values`},
		{"loss NaN", func() (Figure, error) {
			return LossCurves("x", append(ok, Series{Label: "val", X: []float64{0, 1, 2}, Y: []float64{1, nan, 3}}), nil)
		}, `series 1 ("val") Y[1] is NaN`},
		{"loss Inf X", func() (Figure, error) {
			return LossCurves("x", []Series{{X: []float64{inf}, Y: []float64{1}}}, nil)
		}, "series 0 X[0] is infinite"},
		{"loss NaN ref", func() (Figure, error) { return LossCurves("x", ok, []HLine{{Label: "unigram", Y: nan}}) }, `reference line 0 ("unigram") Y is NaN`},
		{"bad name", func() (Figure, error) { return LossCurves("../evil", ok, nil) }, "invalid figure name"},
		{"empty name", func() (Figure, error) { return LossCurves("", ok, nil) }, "invalid figure name"},
		{"lines logY non-positive", func() (Figure, error) {
			return LinesOverSteps("x", "t", "y", []Series{{Label: "l0", X: []float64{0, 1}, Y: []float64{1, 0}}}, true)
		}, `series 0 ("l0") Y[1] = 0 cannot be shown on a log scale`},
		{"lines NaN", func() (Figure, error) {
			return LinesOverSteps("x", "t", "y", []Series{{Label: "l0", X: []float64{0, nan}, Y: []float64{1, 1}}}, false)
		}, `series 0 ("l0") X[1] is NaN`},
		{"grad empty", func() (Figure, error) { return GradientFlow("x", nil, nil) }, "no parameters"},
		{"grad mismatched", func() (Figure, error) { return GradientFlow("x", []string{"a"}, []float64{1, 2}) }, "1 parameter names but 2 norms"},
		{"grad NaN", func() (Figure, error) { return GradientFlow("x", []string{"a", "b"}, []float64{1, nan}) }, "norms[1] is NaN"},
		{"grad negative", func() (Figure, error) { return GradientFlow("x", []string{"a", "b"}, []float64{1, -2}) }, `norms[1] ("b") = -2 is negative`},
		{"heatmap empty", func() (Figure, error) { return Heatmap("x", "t", "x", "y", nil, nil, nil) }, "need at least one row"},
		{"heatmap rows mismatch", func() (Figure, error) {
			return Heatmap("x", "t", "x", "y", []string{"a", "b"}, []string{"c"}, [][]float64{{1}})
		}, "2 row labels but 1 rows"},
		{"heatmap ragged", func() (Figure, error) {
			return Heatmap("x", "t", "x", "y", []string{"a", "b"}, []string{"c", "d"}, [][]float64{{1, 2}, {3}})
		}, `values row 1 ("b") has 1 values for 2 columns`},
		{"heatmap NaN", func() (Figure, error) {
			return Heatmap("x", "t", "x", "y", []string{"a"}, []string{"c", "d"}, [][]float64{{1, nan}})
		}, `values[0][1] (row "a", col "d") is NaN`},
		{"bars no groups", func() (Figure, error) { return GroupedBars("x", "t", "y", nil, []BarSeries{{Label: "s"}}) }, "no groups"},
		{"bars no series", func() (Figure, error) { return GroupedBars("x", "t", "y", []string{"g"}, nil) }, "no series"},
		{"bars mismatched", func() (Figure, error) {
			return GroupedBars("x", "t", "y", []string{"g1", "g2"}, []BarSeries{{Label: "copy", Values: []float64{1}}})
		}, `series 0 ("copy") has 1 values for 2 groups`},
		{"bars NaN", func() (Figure, error) {
			return GroupedBars("x", "t", "y", []string{"g1", "g2"}, []BarSeries{{Label: "copy", Values: []float64{1, nan}}})
		}, `series 0 ("copy") Values[1] is NaN`},
		{"hist empty", func() (Figure, error) { return Histogram("x", "t", "v", nil, 10) }, "no values"},
		{"hist NaN", func() (Figure, error) { return Histogram("x", "t", "v", []float64{1, 2, nan}, 10) }, "values[2] is NaN"},
		{"hist bins", func() (Figure, error) { return Histogram("x", "t", "v", []float64{1}, -1) }, "bins = -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fig, err := tc.call()
			if err == nil {
				t.Fatalf("expected an error containing %q, got nil", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if fig.PNG != nil || fig.SVG != nil {
				t.Errorf("figure data returned along with an error")
			}
		})
	}
}

func TestEdgeCasesRender(t *testing.T) {
	tests := []struct {
		name string
		call func() (Figure, error)
	}{
		{"constant heatmap", func() (Figure, error) {
			return Heatmap("c", "t", "x", "y", []string{"a"}, []string{"b"}, [][]float64{{0}})
		}},
		{"constant histogram", func() (Figure, error) { return Histogram("c", "t", "v", []float64{3, 3, 3}, 10) }},
		{"single point line", func() (Figure, error) {
			return LinesOverSteps("c", "t", "y", []Series{{X: []float64{5}, Y: []float64{2}}}, true)
		}},
		{"all-zero bars", func() (Figure, error) {
			return GroupedBars("c", "t", "y", []string{"g"}, []BarSeries{{Values: []float64{0}}})
		}},
		{"single gradient", func() (Figure, error) { return GradientFlow("c", []string{"w"}, []float64{1}) }},
		{"all dead", func() (Figure, error) { return GradientFlow("c", []string{"w1", "w2"}, []float64{0, 0}) }},
		{"tiny log range", func() (Figure, error) {
			return LinesOverSteps("c", "t", "y", []Series{{X: []float64{0, 1}, Y: []float64{2.001, 2.002}}}, true)
		}},
		{"huge log range", func() (Figure, error) {
			return LinesOverSteps("c", "t", "y", []Series{{X: []float64{0, 1}, Y: []float64{1e-30, 1e30}}}, true)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fig, err := tc.call()
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if _, err := png.Decode(bytes.NewReader(fig.PNG)); err != nil {
				t.Errorf("PNG does not decode: %v", err)
			}
			svgText(t, fig.SVG)
			if dir := os.Getenv("PLOTS_PREVIEW"); dir != "" {
				fig.Name = "edge_" + strings.ReplaceAll(tc.name, " ", "_")
				if err := fig.Save(dir); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSave(t *testing.T) {
	fig, err := Histogram("hist", "t", "v", []float64{1, 2, 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out", "plots")
	if err := fig.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for ext, want := range map[string][]byte{".png": fig.PNG, ".svg": fig.SVG} {
		got, err := os.ReadFile(filepath.Join(dir, "hist"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("hist%s content differs from the figure", ext)
		}
	}
	// Overwrite in place, and leave no temporary files behind.
	if err := fig.Save(dir); err != nil {
		t.Fatalf("second Save: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dir has %v, want only hist.png and hist.svg", names)
	}

	for _, bad := range []Figure{{Name: "", PNG: []byte{1}, SVG: []byte{1}}, {Name: "a/b", PNG: []byte{1}, SVG: []byte{1}}, {Name: "empty"}} {
		if err := bad.Save(dir); err == nil {
			t.Errorf("Save(%q) with bad figure succeeded", bad.Name)
		}
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		min, max  float64
		wantLabel []string
	}{
		{1e-5, 1, []string{"1e-5", "1e-4", "0.001", "0.01", "0.1", "1"}},
		{2, 50, []string{"2", "5", "10", "20", "50"}},
		{0.1, 1000, []string{"0.1", "1", "10", "100", "1000"}},
		{2, 3, []string{"2", "3"}},
		{0.3, 2, []string{"0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1", "2"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (logTicker{}).Ticks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.wantLabel, ",") {
			t.Errorf("logTicker(%g, %g) labels = %v, want %v", tc.min, tc.max, got, tc.wantLabel)
		}
	}
}

func pt(v float64) vg.Length { return vg.Points(v) }

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		min, max float64
		want     []string
	}{
		{0, 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{-0.55, 1.43, []string{"-0.5", "0.0", "0.5", "1.0"}},
		{0, 20000, []string{"0", "5k", "10k", "15k", "20k"}},
		{2.05, 8.3, []string{"4", "6", "8"}},
		{0, 0.25, []string{"0.00", "0.05", "0.10", "0.15", "0.20", "0.25"}},
		{0, 1000, []string{"0", "200", "400", "600", "800", "1000"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (linearTicker{}).Ticks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("linearTicker(%g, %g) labels = %v, want %v", tc.min, tc.max, got, tc.want)
		}
	}
}

// Raster images inside the SVG must be labelled as PNG, or strict SVG
// renderers skip them (vgsvg writes "data:image/jpg" for PNG data).
func TestSVGEmbeddedImagesArePNG(t *testing.T) {
	rows, cols, vals := lensGrid(20, 40, false)
	fig, err := Heatmap("big", "t", "x", "y", rows, cols, vals)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(fig.SVG, []byte("data:image/png;base64,")); n != 2 {
		t.Errorf("SVG has %d PNG images, want 2 (heat map and colour bar)", n)
	}
	if bytes.Contains(fig.SVG, []byte("data:image/jpg")) {
		t.Error("SVG still contains mislabelled data:image/jpg images")
	}
	if n := bytes.Count(fig.SVG, []byte(`<image preserveAspectRatio="none" `)); n != 2 {
		t.Errorf("SVG has %d images with preserveAspectRatio=none, want 2", n)
	}
	if !bytes.Contains(fig.SVG, []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")) {
		t.Error("SVG font family has no fallback")
	}
}

func TestCategoricalHeatmapAndBands(t *testing.T) {
	cells := [][]string{{"refuted", "supported"}, {"untestable", "refuted"}}
	f, err := CategoricalHeatmap("verdicts", "Verdicts", "checkpoint", "hypothesis", []string{"H1", "H2"}, []string{"a", "b"}, cells, VerdictCategories)
	if err != nil || len(f.PNG) == 0 {
		t.Fatalf("CategoricalHeatmap: %v", err)
	}
	cells[1][1] = "maybe"
	if _, err := CategoricalHeatmap("verdicts", "Verdicts", "x", "y", []string{"H1", "H2"}, []string{"a", "b"}, cells, VerdictCategories); err == nil {
		t.Fatal("CategoricalHeatmap with a word that is no category: want an error")
	}
	values := []float64{250, 251, 255, 262, 270, 240}
	f, err = HistogramWithBands("band", "Self logits", "x", values, 5, Band{Lo: 248, Hi: 261, Label: "note"})
	if err != nil || len(f.PNG) == 0 {
		t.Fatalf("HistogramWithBands: %v", err)
	}
	if _, err := HistogramWithBands("band", "t", "x", values, 5, Band{Lo: 2, Hi: 1}); err == nil {
		t.Fatal("HistogramWithBands with an inverted band: want an error")
	}
}
