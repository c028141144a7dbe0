package nbutil

// What notebook 11's prose counts over the whole gallery.

import "nanoscope/analysis"

// GalleryTotals counts the builds of a gallery: how many were made now (the rest reused),
// the seconds spent making and diagnosing them, how many got the expected diagnosis, the
// healthy builds and the distinct kinds of the faulty ones.
type GalleryTotals struct {
	Built, Caught, Healthy   int
	Seconds, DiagnoseSeconds float64
	Kinds                    int
}

// Totals counts g's builds.
func (g Gallery) Totals() GalleryTotals {
	var t GalleryTotals
	kinds := map[string]bool{}
	for _, e := range g {
		t.Seconds += e.Seconds
		t.DiagnoseSeconds += e.DiagnoseSeconds
		if e.Built {
			t.Built++
		}
		if e.Caught() {
			t.Caught++
		}
		if e.Kind == "" {
			t.Healthy++
		} else {
			kinds[e.Kind] = true
		}
	}
	t.Kinds = len(kinds)
	return t
}

// Ev returns the number under key in a finding's evidence (JSON numbers read back as float64).
func Ev(f *analysis.Finding, key string) float64 { return f.Evidence[key].(float64) }
