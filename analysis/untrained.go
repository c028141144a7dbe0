package analysis

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// TensorTrace says whether one tensor carries training, by a test that holds for any
// initialiser that draws entries independently of the data:
//
//   - "input alignment" for a matrix W (m×n, [out, in]; GPT-2's Conv1D weights, stored
//     [in, out], are transposed first) that reads an activation x: with
//     x̂ = x/‖x‖ and C = mean_t x̂_t x̂_tᵀ over the evaluated positions, the ratio
//     r = n·tr(W C Wᵀ)/‖W‖²_F is 1 in expectation for any W drawn independently of x, with
//     standard deviation √(2·tr(C²)/m) for Gaussian rows (the variance of a quadratic form,
//     e.g. Mathai & Provost 1992). Training moves the rows of W into (or out of) the subspace the
//     activations occupy — every gradient of W is δ·xᵀ — so AlignZ = (r − 1)/sd is far from 0.
//   - "spectrum" for the token embedding (its input is one-hot, and a tied head reads a hidden
//     state that carries the embedding itself): the distance of its singular values to the
//     Marchenko–Pastur law of a random matrix (Spectrum).
//   - "constant" for vectors (norm weights, biases, mHC logits): every entry within constTol of a
//     constant (RMSNorm's 1, a bias's 0, the family's init constant) while the tensor receives
//     gradient.
type TensorTrace struct {
	Name  string `json:"name"`
	Test  string `json:"test"`
	Input string `json:"input,omitempty"` // the hook whose activations W reads
	// Input alignment.
	AlignRatio float64 `json:"align_ratio,omitempty"`
	AlignZ     float64 `json:"align_z,omitempty"`
	// Spectrum.
	Spectrum *Spectrum `json:"spectrum,omitempty"`
	// Constant.
	Constant bool    `json:"constant,omitempty"`
	Value    float64 `json:"value,omitempty"`
	GradNorm float64 `json:"grad_norm"`
	// Untrained: the test finds no trace of training.
	Untrained bool `json:"untrained"`
}

// Thresholds of the untrained tests.

// readHook names the activation weight name reads on s's family ("" for none).
func (s *Subject) readHook(name string) string { return s.spec().Weights[name].Reads }

// outIn returns a weight matrix as [out, in] (rows m, columns n), what the input-alignment
// test reads: a matrix stored [in, out] (GPT-2's Conv1D) is transposed.
func (s *Subject) outIn(name string) (data []float32, m, n int) {
	t := s.Params[name]
	if !s.spec().Weights[name].InOut {
		return t.Data, t.Shape[0], t.Shape[1]
	}
	rows, cols := t.Shape[0], t.Shape[1]
	out := make([]float32, len(t.Data))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = t.Data[i*cols+j]
		}
	}
	return out, cols, rows
}

// TensorTraces runs the untrained tests on every tensor of s, with activations from the windows
// w and the gradient norms of gf (tensors without gradient are never called untrained: nothing
// could have trained them).
func TensorTraces(s *Subject, w *Windows, gf GradFlow) ([]TensorTrace, error) {
	out, _, err := tensorTraces(s, w, gf)
	return out, err
}

// tensorTraces is TensorTraces, with the directions of the activations the matrices read, by
// hook (what placementEdits ranks the placement search's edits by).
func tensorTraces(s *Subject, w *Windows, gf GradFlow) ([]TensorTrace, map[string]directions, error) {
	names := make([]string, 0, len(s.Params))
	for n := range s.Params {
		names = append(names, n)
	}
	slices.Sort(names)
	hookSet := map[string]bool{}
	for _, n := range names {
		if h := s.readHook(n); h != "" && len(s.Params[n].Shape) == 2 {
			hookSet[h] = true
		}
	}
	hooks := make([]string, 0, len(hookSet))
	for h := range hookSet {
		hooks = append(hooks, h)
	}
	slices.Sort(hooks)
	r, err := s.engine()
	if err != nil {
		return nil, nil, err
	}
	acts, err := r.capture(w.Inputs, hooks)
	if err != nil {
		return nil, nil, err
	}
	hd := make([]directions, len(hooks))
	parallelDo(len(hooks), runtime.NumCPU(), func(i int) { hd[i] = directionsOf(acts[hooks[i]], w.Positions()) })
	dirs := map[string]directions{}
	for i, h := range hooks {
		dirs[h] = hd[i]
	}
	grads := map[string]float64{}
	maxGrad := 0.0
	for _, g := range gf.Params {
		grads[g.Name] = g.GradNorm
		maxGrad = max(maxGrad, g.GradNorm)
	}
	out := make([]TensorTrace, len(names))
	parallelDo(len(names), runtime.NumCPU(), func(i int) {
		n := names[i]
		t := s.Params[n]
		tr := TensorTrace{Name: n, GradNorm: grads[n]}
		hasGrad := grads[n] > gradFloor*maxGrad
		h := s.readHook(n)
		switch {
		case len(t.Shape) == 2 && h != "":
			tr.Test, tr.Input = "input alignment", h
			data, rows, cols := s.outIn(n)
			tr.AlignRatio, tr.AlignZ = inputAlignment(data, rows, cols, dirs[h])
			tr.Untrained = math.Abs(tr.AlignZ) < alignZMax
		case len(t.Shape) == 2:
			sp := MatrixSpectrum(spectrumRows(t.Data, t.Shape[0], t.Shape[1]))
			tr.Test, tr.Spectrum = "spectrum", &sp
			tr.Untrained = sp.KS < spectrumKSMax
		default:
			tr.Test = "constant"
			lo, hi := float64(slices.Min(t.Data)), float64(slices.Max(t.Data))
			tr.Value = (lo + hi) / 2
			tr.Constant = hi-lo <= 2*constTol*max(1, abs(tr.Value))
			tr.Untrained = tr.Constant && hasGrad
		}
		out[i] = tr
	})
	return out, dirs, nil
}

// directions are the unit directions x̂_t = x_t/‖x_t‖ of n positions of an activation, as an
// (n, d) matrix, and tr(C²) of their covariance C = mean_t x̂_t x̂_tᵀ. The covariance itself is
// never formed: tr(W C Wᵀ) = mean_t ‖W x̂_t‖² and tr(C²) = ‖X̂ᵀX̂‖²_F/n² = ‖X̂X̂ᵀ‖²_F/n², from
// whichever Gram matrix is smaller, as gonum's parallel Dgemm (d×d covariances through its
// single-threaded Dsyrk took 41 % of a GPT-2-small diagnose on two cores).
type directions struct {
	x    *mat.Dense // (n, d)
	trC2 float64
}

// directionsOf returns the directions of a row-major (n, d) activation.
func directionsOf(x []float32, n int) directions {
	d := len(x) / n
	rows := make([]float64, 0, len(x))
	for t := 0; t < n; t++ {
		row := x[t*d : (t+1)*d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := 0.0
		if ss > 0 {
			inv = 1 / math.Sqrt(ss)
		}
		for _, v := range row {
			rows = append(rows, float64(v)*inv)
		}
	}
	x64 := mat.NewDense(n, d, rows)
	var g mat.Dense
	if n <= d {
		g.Mul(x64, x64.T()) // X̂X̂ᵀ (n×n)
	} else {
		g.Mul(x64.T(), x64) // X̂ᵀX̂ (d×d)
	}
	return directions{x: x64, trC2: sumSquares(g.RawMatrix().Data) / float64(n*n)}
}

func sumSquares(xs []float64) float64 {
	var s float64
	for _, v := range xs {
		s += v * v
	}
	return s
}

// inputAlignment returns r = n·tr(W C Wᵀ)/‖W‖²_F for W (m×n) reading the directions dir, and its
// z-score against a W drawn independently of the activations, whose r is 1 ± √(2·tr(C²)/m)
// (see TensorTrace).
func inputAlignment(w []float32, m, n int, dir directions) (ratio, z float64) {
	if _, d := dir.x.Dims(); d != n {
		panic(fmt.Sprintf("analysis: input alignment of a %d×%d matrix reading %d-dimensional activations", m, n, d))
	}
	wd := make([]float64, len(w))
	for i, v := range w {
		wd[i] = float64(v)
	}
	fro := sumSquares(wd)
	if fro == 0 {
		return 0, 0
	}
	var y mat.Dense
	y.Mul(dir.x, mat.NewDense(m, n, wd).T()) // W x̂_t for every t: (positions, m)
	positions, _ := dir.x.Dims()
	tr := sumSquares(y.RawMatrix().Data) / float64(positions)
	ratio = float64(n) * tr / fro
	sd := math.Sqrt(2 * dir.trC2 / float64(m))
	return ratio, (ratio - 1) / sd
}

// spectrumRowsMax bounds the rows of the spectrum test: rows of an untrained draw are
// independent, so every subset of them follows the Marchenko–Pastur law of its own shape, and
// 8192 rows of a 50257-token embedding decide as well as all of them at a sixth of the cost.
const spectrumRowsMax = 8192

// spectrumRows returns at most spectrumRowsMax evenly strided rows of a row-major matrix.
func spectrumRows(data []float32, rows, cols int) ([]float32, int, int) {
	if rows <= spectrumRowsMax {
		return data, rows, cols
	}
	out := make([]float32, 0, spectrumRowsMax*cols)
	for i := 0; i < spectrumRowsMax; i++ {
		r := i * rows / spectrumRowsMax
		out = append(out, data[r*cols:(r+1)*cols]...)
	}
	return out, spectrumRowsMax, cols
}
