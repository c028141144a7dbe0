package analysis

import (
	"math"

	"nanoscope/gomlxmodel"
)

// SelfLogits describes the self logit a fresh tied model gives every token: with the blocks
// adding little, the final RMSNorm hands the head sqrt(D)·e/‖e‖ and the current token scores
// sqrt(D)·‖e‖. For e ~ N(0, I_D), ‖e‖ follows a chi distribution with D degrees of freedom.
type SelfLogits struct {
	D     int
	Norms []float64 // ‖e_v‖ of every embedding row v
	Self  []float64 // sqrt(D)·‖e_v‖
	// Mean and standard deviation of Norms and of Self over the vocabulary, and what the chi
	// distribution predicts for Self.
	MeanNorm, SDNorm, MeanSelf, SDSelf, TheoryMean, TheorySD float64
}

// EmbeddingSelfLogits measures the rows of tok_embed.weight of p (D columns).
func EmbeddingSelfLogits(p gomlxmodel.Params, D int) SelfLogits {
	e := p[gomlxmodel.ParamTokEmbed].Data
	s := SelfLogits{D: D, Norms: make([]float64, len(e)/D), Self: make([]float64, len(e)/D)}
	sq := math.Sqrt(float64(D))
	for v := range s.Norms {
		var ss float64
		for _, x := range e[v*D : (v+1)*D] {
			ss += float64(x) * float64(x)
		}
		s.Norms[v] = math.Sqrt(ss)
		s.Self[v] = sq * s.Norms[v]
	}
	s.MeanNorm, s.SDNorm = meanSD(s.Norms)
	s.MeanSelf, s.SDSelf = meanSD(s.Self)
	cm := ChiMean(D)
	s.TheoryMean, s.TheorySD = sq*cm, sq*math.Sqrt(float64(D)-cm*cm)
	return s
}

// Share returns the share of the vocabulary whose self logit lies in [lo, hi].
func (s SelfLogits) Share(lo, hi float64) float64 {
	n := 0
	for _, x := range s.Self {
		if x >= lo && x <= hi {
			n++
		}
	}
	return float64(n) / float64(len(s.Self))
}

// ChiMean is E‖e‖ for e ~ N(0, I_D): sqrt(2)·Γ((D+1)/2)/Γ(D/2).
func ChiMean(D int) float64 {
	a, _ := math.Lgamma(float64(D+1) / 2)
	b, _ := math.Lgamma(float64(D) / 2)
	return math.Sqrt2 * math.Exp(a-b)
}

func meanSD(xs []float64) (m, s float64) {
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / float64(len(xs)))
}
