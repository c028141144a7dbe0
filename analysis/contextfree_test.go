package analysis

import "testing"

// TestContextFreeFinding: context_free needs one argmax almost everywhere and a CE at the
// unigram's; a small ContextMI with an argmax that follows the context (flat logits) is not a
// collapse.
func TestContextFreeFinding(t *testing.T) {
	const unigram = 3.2
	at := func(ce float64) OffsetCE {
		o := OffsetCE{CE: make([]float64, len(Offsets))}
		for i := range o.CE {
			o.CE[i] = ce
		}
		return o
	}
	for _, c := range []struct {
		name          string
		ce, mi, share float64
		want          bool
	}{
		{"collapsed: one distribution", 3.27, 0, 1, true},
		{"one argmax, distributions that vary", 3.3, 0.5, 0.95, true},
		{"flat logits that follow the context (kit 4d)", 3.61, 0.012, 0.275, false},
		{"one argmax, far above the unigram", unigram + collapseAboveNats + 0.1, 0, 1, false},
		{"one argmax, below the unigram", unigram - 0.5, 0, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := contextFreeFinding(&Catalog{AsLoaded: at(c.ce), Unigram: unigram, ContextMI: c.mi, TopShare: c.share})
			if (f != nil) != c.want {
				t.Errorf("context_free %v, want %v (%+v)", f != nil, c.want, f)
			}
		})
	}
}
