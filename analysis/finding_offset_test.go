package analysis

import "testing"

// TestCopyNeedsTraining: offset 0 is a training objective only when the copy is learned —
// a CE below copyTrainedShare of the unigram's (the gallery's unshifted builds: 1e-4 to 0.1
// nats) — not when a model broken at inference merely predicts the current token better than
// the next (blind kit 4c: 3.0 and 1.15 nats against a unigram of 3.2).
func TestCopyNeedsTraining(t *testing.T) {
	for _, c := range []struct {
		name     string
		ce0, ce1 float64
		want     bool
	}{
		{"unshifted labels", 0.1, 5.3, true},
		{"head replaced by the embedding", 3.0, 4.03, false},
		{"embedding saved pre-scaled", 1.15, 8.9, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := OffsetCE{CE: make([]float64, len(Offsets)), perPos: make([][]float64, len(Offsets))}
			for i, k := range Offsets {
				ce := c.ce1 + 0.5
				switch k {
				case 0:
					ce = c.ce0
				case 1:
					ce = c.ce1
				}
				for p := range 200 {
					run.perPos[i] = append(run.perPos[i], ce+0.2*float64(p%5-2))
				}
			}
			run.summarise()
			cat := &Catalog{Unigram: 3.2}
			if got := offsetFinding(cat, run) != nil; got != c.want {
				t.Errorf("target_offset %v, want %v (CE(0) %.2f, CE(1) %.2f)", got, c.want, c.ce0, c.ce1)
			}
		})
	}
}

// TestOffsetRival: health is not earned while another offset is predicted significantly better
// than the next token (blind kit 4c's two models broken at inference, 2.38 and 2.01 nats at
// offset 0 vs 2.73 and 2.64 at offset 1), and is while offset 1 is best or within the margin.
func TestOffsetRival(t *testing.T) {
	for _, c := range []struct {
		name string
		ce   map[int]float64
		want int
	}{
		{"k_proj and v_proj exchanged", map[int]float64{-1: 3.1, 0: 2.38, 1: 2.73, 2: 3.3, 3: 3.4}, 0},
		{"down_proj halved", map[int]float64{-1: 3.0, 0: 2.01, 1: 2.64, 2: 3.2, 3: 3.3}, 0},
		{"healthy", map[int]float64{-1: 3.0, 0: 3.2, 1: 2.5, 2: 3.1, 3: 3.3}, 1},
		{"the previous token within the margin", map[int]float64{-1: 2.45, 0: 3.2, 1: 2.5, 2: 3.1, 3: 3.3}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := OffsetCE{CE: make([]float64, len(Offsets)), perPos: make([][]float64, len(Offsets))}
			for i, k := range Offsets {
				for p := range 300 {
					o.perPos[i] = append(o.perPos[i], c.ce[k]+0.3*float64(p%7-3)+0.05*float64(p%3))
				}
			}
			o.summarise()
			if k, gain, se := offsetRival(o); k != c.want {
				t.Errorf("offset %d (gain %.3f ± %.3f), want %d", k, gain, se, c.want)
			}
		})
	}
}
