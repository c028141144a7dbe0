package analysis

import "math"

// Error bars of the headline rates and losses. Positions of one window share a context and a
// stretch of text, so they are not independent draws: the sampling unit is the window. A rate
// or mean loss over the windows is a ratio estimator r = Σ_w y_w / Σ_w x_w (y_w the window's
// count or summed loss, x_w its number of positions counted), and its standard error is the
// usual one for a ratio estimator over W sampled clusters (Cochran, Sampling Techniques,
// 3rd ed., 1977, ch. 6, without the finite-population correction):
//
//	SE(r) = sqrt( W/(W−1) · Σ_w (y_w − r·x_w)² ) / Σ_w x_w
//
// With equal x_w it is the standard deviation of the window means over sqrt(W). It needs two
// windows or more: ratioSE returns 0 below that, and so do the rates whose x_w are all 0.

// ratioSE is the standard error of Σy/Σx over the clusters (y[w], x[w]); 0 for fewer than two
// clusters or Σx = 0. y and x have the same length.
func ratioSE(y, x []float64) float64 {
	W := len(y)
	var sy, sx float64
	for i := range y {
		sy += y[i]
		sx += x[i]
	}
	if W < 2 || sx == 0 {
		return 0
	}
	r := sy / sx
	var ss float64
	for i := range y {
		d := y[i] - r*x[i]
		ss += d * d
	}
	return math.Sqrt(float64(W)/float64(W-1)*ss) / sx
}
