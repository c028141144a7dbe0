package analysis

import (
	"math"
	"slices"
)

// Losses compares what the model minimises: the loss against shifted targets (the next
// token, the original's objective) and against unshifted ones (the current token, i.e.
// reconstruction), each as plain cross-entropy and as the label-smoothed objective the
// original optimises and logs (0.9·CE + 0.1·(−mean_v log p_v), REFERENCE.md §2). A model
// whose unshifted loss is lower was trained to reproduce its input (the note's next step 4).
type Losses struct {
	Positions int      `json:"positions"`
	Shifted   LossPair `json:"shifted"`
	Unshifted LossPair `json:"unshifted"`
}

// LossPair is the mean plain cross-entropy and the mean label-smoothed objective, in nats;
// CESE is the standard error of CE over the windows (ratioSE; 0 for one window).
type LossPair struct {
	CE       float64 `json:"ce"`
	Smoothed float64 `json:"smoothed"`
	CESE     float64 `json:"ce_se"`
}

// ShiftedLoss computes Losses over the windows w on the subject's inference path, in float64
// from the float32 logits.
func ShiftedLoss(s *Subject, w *Windows) (Losses, error) {
	pr, err := s.probe(w)
	if err != nil {
		return Losses{}, err
	}
	V := pr.V
	var ceS, ceU, uni float64
	W := len(w.Inputs)
	perS, perU, perPos := make([]float64, W), make([]float64, W), make([]float64, W) // per-window sums
	for k, row := range w.Inputs {
		perPos[k] = float64(len(row))
		for t, cur := range row {
			lg := pr.logits[k][t*V : (t+1)*V]
			mx := math.Inf(-1)
			var mean float64
			for _, x := range lg {
				mx = max(mx, float64(x))
				mean += float64(x)
			}
			mean /= float64(V)
			var z float64
			for _, x := range lg {
				z += math.Exp(float64(x) - mx)
			}
			lse := mx + math.Log(z)
			cs, cu := lse-float64(lg[w.Next[k][t]]), lse-float64(lg[cur])
			ceS, ceU = ceS+cs, ceU+cu
			perS[k], perU[k] = perS[k]+cs, perU[k]+cu
			uni += lse - mean // −mean_v log p_v
		}
	}
	n := float64(w.Positions())
	ceS, ceU, uni = ceS/n, ceU/n, uni/n
	return Losses{
		Positions: w.Positions(),
		Shifted:   LossPair{CE: ceS, Smoothed: 0.9*ceS + 0.1*uni, CESE: ratioSE(perS, perPos)},
		Unshifted: LossPair{CE: ceU, Smoothed: 0.9*ceU + 0.1*uni, CESE: ratioSE(perU, perPos)},
	}, nil
}

// UnigramEntropy is the entropy, in nats, of the token frequencies of a stream: the
// cross-entropy of the best context-free predictor fitted to that stream. A next-token loss at
// or above it means the model uses no context.
func UnigramEntropy(tokens []uint32) float64 {
	if len(tokens) == 0 {
		return 0
	}
	counts := make([]float64, slices.Max(tokens)+1)
	for _, t := range tokens {
		counts[t]++
	}
	n := float64(len(tokens))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := c / n
			h -= p * math.Log(p)
		}
	}
	return h
}
