package analysis

// LensPoint is one stream decoded through norm_final and the head (the logit lens): the
// embedding itself (Point "embed"), or stream s0, s1 or their mean leaving block i
// (Point "blocks.{i}"). The mean after the last block is exactly what the model outputs.
type LensPoint struct {
	Point             string  `json:"point"`
	Layer             int     `json:"layer"` // −1 for the embedding
	Stream            string  `json:"stream"`
	CopyRate          float64 `json:"copy_rate"`
	NextTokenAccuracy float64 `json:"next_token_accuracy"`
}

// Lens is the logit lens over a set of windows, in layer order.
type Lens struct {
	Positions int         `json:"positions"`
	Points    []LensPoint `json:"points"`
}

// LogitLens decodes every stream after every block (and the embedding) through the final
// RMSNorm and the head, and measures copy rate and next-token accuracy of each. Where the
// copying appears — already at the embedding, or only after some block — tells whether it is
// the tied head's self-similarity or something the blocks learned. On a large vocabulary only
// the first windows are decoded (Positions says how many positions).
func LogitLens(s *Subject, w *Windows) (Lens, error) {
	pr, err := s.probe(w)
	if err != nil {
		return Lens{}, err
	}
	nl := len(pr.lens[0]) // the probe decodes the first windows only (lensElems)
	out := Lens{Positions: w.Head(nl).Positions()}
	n := float64(out.Positions)
	for i, sp := range pr.specs {
		var copies, hits int
		for k, row := range w.Inputs[:nl] {
			for t, cur := range row {
				a := pr.lens[i][k][t]
				if a == cur {
					copies++
				}
				if a == w.Next[k][t] {
					hits++
				}
			}
		}
		out.Points = append(out.Points, LensPoint{Point: sp.Point, Layer: sp.Layer, Stream: sp.Stream,
			CopyRate: float64(copies) / n, NextTokenAccuracy: float64(hits) / n})
	}
	return out, nil
}
