package analysis

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
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
	al, err := newAligner(r.backend)
	if err != nil {
		return nil, nil, err
	}
	dirs := map[string]directions{}
	for _, h := range hooks {
		if dirs[h], err = al.directionsOf(acts[h], w.Positions()); err != nil {
			return nil, nil, err
		}
		delete(acts, h)
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
// (n, d) float32 tensor, and tr(C²) of their covariance C = mean_t x̂_t x̂_tᵀ. The covariance
// itself is never formed: tr(W C Wᵀ) = mean_t ‖W x̂_t‖² and tr(C²) = ‖X̂ᵀX̂‖²_F/n² = ‖X̂X̂ᵀ‖²_F/n²,
// from whichever Gram matrix is smaller. The products run in float32 on the subject's backend
// (aligner): on the host in float64 through gonum they took 69 CPU-seconds of a GPT-2-small
// diagnose on the GPU machine (bench/results/diagnose-gpt2small-gpu-20261207c.trace.txt), and
// float32 sums move a z-score far less than its threshold's margin.
type directions struct {
	x    *tensors.Tensor // (n, d)
	n, d int
	trC2 float64
	al   *aligner
}

// aligner holds the graphs of the alignment products on one backend (each compiled once per
// shape and reused).
type aligner struct {
	unit, align *graph.Exec
}

func newAligner(b compute.Backend) (*aligner, error) {
	unit, err := graph.NewExec(b, func(x *graph.Node) (*graph.Node, *graph.Node) {
		n, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
		norm := graph.Sqrt(graph.ReduceAndKeep(graph.Square(x), graph.ReduceSum, -1)) // (n, 1)
		safe := graph.Where(graph.GreaterThan(norm, graph.ScalarZero(x.Graph(), x.DType())), norm, graph.OnesLike(norm))
		u := graph.Div(x, safe)
		var gram *graph.Node
		if n <= d {
			gram = graph.DotGeneral(u, []int{1}, nil, u, []int{1}, nil) // X̂X̂ᵀ (n, n)
		} else {
			gram = graph.DotGeneral(u, []int{0}, nil, u, []int{0}, nil) // X̂ᵀX̂ (d, d)
		}
		return u, graph.ReduceAllSum(graph.Square(gram))
	})
	if err != nil {
		return nil, err
	}
	align, err := graph.NewExec(b, func(u, w *graph.Node) (*graph.Node, *graph.Node) {
		y := graph.DotGeneral(u, []int{1}, nil, w, []int{1}, nil) // W x̂_t for every t: (n, m)
		return graph.ReduceAllSum(graph.Square(y)), graph.ReduceAllSum(graph.Square(w))
	})
	if err != nil {
		return nil, err
	}
	// One graph per shape of activation and of matrix: a model has a handful, the placement
	// search's transposes a few more.
	return &aligner{unit: unit.SetMaxCache(256), align: align.SetMaxCache(256)}, nil
}

// directionsOf returns the directions of a row-major (n, d) activation.
func (al *aligner) directionsOf(x []float32, n int) (directions, error) {
	d := len(x) / n
	out, err := al.unit.Exec(tensors.FromFlatDataAndDimensions(x, n, d))
	if err != nil {
		return directions{}, err
	}
	return directions{x: out[0], n: n, d: d, trC2: float64(tensors.ToScalar[float32](out[1])) / float64(n*n), al: al}, nil
}

// inputAlignment returns r = n·tr(W C Wᵀ)/‖W‖²_F for W (m×n) reading the directions dir, and its
// z-score against a W drawn independently of the activations, whose r is 1 ± √(2·tr(C²)/m)
// (see TensorTrace).
func inputAlignment(w []float32, m, n int, dir directions) (ratio, z float64) {
	if dir.d != n {
		panic(fmt.Sprintf("analysis: input alignment of a %d×%d matrix reading %d-dimensional activations", m, n, dir.d))
	}
	out, err := dir.al.align.Exec(dir.x, tensors.FromFlatDataAndDimensions(w, m, n))
	if err != nil {
		panic(err) // the graph compiled for these shapes; only the backend can fail here
	}
	f := func(t *tensors.Tensor) float64 { return float64(tensors.ToScalar[float32](t)) }
	fro := f(out[1])
	if fro == 0 {
		return 0, 0
	}
	ratio = float64(n) * f(out[0]) / float64(dir.n) / fro
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
