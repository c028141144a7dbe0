package nbutil

// The two mHC residual streams (notebook 04): how far apart they are.

import "nanoscope/analysis"

// MaxStreamAsymmetry returns the largest max|s0 − s1| over the blocks of an activation-norm
// measurement.
func MaxStreamAsymmetry(an analysis.ActNorms) float64 {
	m := 0.0
	for _, l := range an.Layers {
		m = max(m, l.StreamAsymmetry)
	}
	return m
}
