package analysis

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Spectrum compares the singular values of a weight matrix with those of a random matrix of
// the same shape and entry variance. Any initialiser that draws entries independently (candle's
// N(0, 0.02), PyTorch nn.Linear's uniform ±1/√in, N(0, 1) embeddings, …) gives, by the
// universality of the Marchenko–Pastur law, squared singular values s²/(m·σ²) distributed on
// [(1−√λ)², (1+√λ)²] with λ = n/m (m ≥ n the longer side) and the Marchenko–Pastur density
// (Marchenko & Pastur 1967; Bai & Silverstein, "Spectral Analysis of Large Dimensional Random
// Matrices", ch. 3). Training leaves outliers above the upper edge and a bulk of another shape,
// so KS (the Kolmogorov–Smirnov distance between the empirical distribution of s²/(m·σ²) and the
// law) and TopRatio (s_max over the law's edge σ(√m + √n)) measure how far a matrix is from an
// untrained draw. The entries are centred on their mean first (a constant shift is rank one).
type Spectrum struct {
	Rows, Cols int     `json:"-"`
	Sigma      float64 `json:"sigma"`     // entry standard deviation after centring
	TopRatio   float64 `json:"top_ratio"` // s_max / (σ(√m + √n)); ≈ 1 for a random draw
	KS         float64 `json:"ks"`        // KS distance of the squared singular values to the MP law
}

// MatrixSpectrum computes the Spectrum of a row-major rows×cols matrix. The eigenvalues come from
// the Gram matrix of the shorter side (gonum's SymRankK and EigenSym), so a 50257×256 embedding
// costs one 256×256 eigendecomposition.
func MatrixSpectrum(data []float32, rows, cols int) Spectrum {
	xs := make([]float64, len(data))
	for i, v := range data {
		xs[i] = float64(v)
	}
	mean, sd := stat.PopMeanStdDev(xs, nil)
	for i := range xs {
		xs[i] -= mean
	}
	sp := Spectrum{Rows: rows, Cols: cols, Sigma: sd}
	if sd == 0 {
		sp.TopRatio, sp.KS = 0, 1
		return sp
	}
	x := mat.NewDense(rows, cols, xs)
	m, n := rows, cols
	var gram mat.SymDense
	if rows >= cols {
		gram.SymOuterK(1, x.T()) // XᵀX (n×n)
	} else {
		gram.SymOuterK(1, x) // XXᵀ (m×m)
		m, n = cols, rows
	}
	var eig mat.EigenSym
	if !eig.Factorize(&gram, false) {
		sp.TopRatio, sp.KS = math.NaN(), 1
		return sp
	}
	vals := eig.Values(nil) // ascending
	scale := float64(m) * sd * sd
	for i := range vals {
		vals[i] = max(0, vals[i]) / scale
	}
	slices.Sort(vals)
	lambda := float64(n) / float64(m)
	edge := math.Sqrt(float64(m)) + math.Sqrt(float64(n))
	sp.TopRatio = math.Sqrt(vals[len(vals)-1]*scale) / (sd * edge)
	k := float64(len(vals))
	for i, v := range vals {
		f := mpCDF(v, lambda)
		sp.KS = max(sp.KS, math.Abs(f-float64(i)/k), math.Abs(float64(i+1)/k-f))
	}
	return sp
}

// mpCDF is the Marchenko–Pastur distribution function with ratio λ ∈ (0, 1] and unit variance
// at x: ∫ₐˣ √((b−t)(t−a)) / (2πλt) dt, a, b = (1 ∓ √λ)². gonum has no MP distribution; the
// integral is taken with gonum's Gauss–Legendre rule after t = a + (b−a)(1−cos φ)/2, which
// removes the square-root endpoint singularities (and, at λ = 1, the 1/t one).
func mpCDF(x, lambda float64) float64 {
	a, b := math.Pow(1-math.Sqrt(lambda), 2), math.Pow(1+math.Sqrt(lambda), 2)
	switch {
	case x <= a:
		return 0
	case x >= b:
		return 1
	}
	h := (b - a) / 2
	phiX := math.Acos(1 - (x-a)/h)
	f := func(phi float64) float64 {
		t := a + h*(1-math.Cos(phi))
		s := math.Sin(phi)
		if t <= 0 {
			t = math.SmallestNonzeroFloat64
		}
		return h * h * s * s / (2 * math.Pi * lambda * t)
	}
	return min(1, quad.Fixed(f, 0, phiX, 64, nil, 0))
}
