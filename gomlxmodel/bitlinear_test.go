package gomlxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestRoundHalfAwayFromZero(t *testing.T) {
	in := []float32{0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, 2.4999998, -0.49999997, 3.7, -3.2, 0, 126.5}
	want := []float64{1, -1, 2, 3, -3, 0, 2, 0, 4, -3, 0, 127}
	got := run1(t, roundHalfAway, tensors.FromFlatDataAndDimensions(in, len(in)))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("round(%v) = %v, want %v", in[i], got[i], want[i])
		}
	}
}

func TestTernaryWeightsHandComputed(t *testing.T) {
	// Group size 4 over the row-major flattening of a 2×3 matrix, zero-padded to 8:
	// group 0 = [0.5, −1, 0.1, 2]: s = 3.6/4 = 0.9, round(w/s) = [1, −1, 0, 2] → clamp → [1, −1, 0, 1];
	// group 1 = [−0.2, 0.05, 0, 0]: s = 0.25/4 = 0.0625, round(w/s) = [−3, 1, 0, 0] → clamp → [−1, 1].
	w := [][]float32{{0.5, -1, 0.1}, {2, -0.2, 0.05}}
	want := []float64{0.9, -0.9, 0, 0.9, -0.0625, 0.0625}
	got := run1(t, func(x *graph.Node) *graph.Node { return TernaryWeights(x, 4) }, tensors.FromValue(w))
	assertClose(t, "ternary weights", got, want, 1e-7)
	scales := run1(t, func(x *graph.Node) *graph.Node { return GroupScales(x, 4) }, tensors.FromValue(w))
	assertClose(t, "group scales", scales, []float64{0.9, 0.0625}, 1e-7)
}

func TestInt8ActivationsHandComputed(t *testing.T) {
	// max|x| = 127 so x·127/a = x: ties round away from zero (2.5 → 3, not 2), and the two
	// tokens (rows) are scaled independently.
	x := [][]float32{{2.5, -2.5, 0.5, 127, -1.5}, {0.5, 0.25, 0, 0, 0}}
	// row 1: a = 0.5, x·127/a = [127, 63.5, 0, 0, 0] → [127, 64, 0, 0, 0] · 0.5/127.
	want := []float64{3, -3, 1, 127, -2, 0.5, 64 * 0.5 / 127, 0, 0, 0}
	got := run1(t, Int8Activations, tensors.FromValue(x))
	assertClose(t, "int8 activations", got, want, 1e-6)
}

// The STE forward uses the quantised values; the backward pass treats both quantisers as the
// identity: with y = Q_a(x)·Q_w(w)ᵀ and loss = Σ y⊙R, ∂w = Rᵀ·Q_a(x) and ∂x = R·Q_w(w).
func TestBitLinearStraightThrough(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, in, out, gs = 3, 10, 4, 8
	x, w, r := randMat(rng, n, in, 1), randMat(rng, out, in, 0.3), randMat(rng, n, out, 1)
	b, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	InstallDotGeneralGradient()
	e, err := graph.NewExec(b, func(x, w, r *graph.Node) []*graph.Node {
		y := BitLinear(x, w, gs, true)
		loss := graph.ReduceAllSum(graph.Mul(y, r))
		grads := graph.Gradient(loss, x, w)
		return []*graph.Node{y, grads[0], grads[1], Int8Activations(x), TernaryWeights(w, gs)}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Exec(tensors.FromValue(x), tensors.FromValue(w), tensors.FromValue(r))
	if err != nil {
		t.Fatal(err)
	}
	flat := func(i int) []float64 {
		d := tensors.MustCopyFlatData[float64](res[i])
		return d
	}
	qa, qw := flat(3), flat(4)
	// Forward: y = qa · qwᵀ.
	wantY := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			for k := 0; k < in; k++ {
				wantY[i*out+o] += qa[i*in+k] * qw[o*in+k]
			}
		}
	}
	assertClose(t, "forward", flat(0), wantY, 1e-12)
	// Backward.
	wantDX, wantDW := make([]float64, n*in), make([]float64, out*in)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			for k := 0; k < in; k++ {
				wantDX[i*in+k] += r[i][o] * qw[o*in+k]
				wantDW[o*in+k] += r[i][o] * qa[i*in+k]
			}
		}
	}
	assertClose(t, "∂x", flat(1), wantDX, 1e-12)
	assertClose(t, "∂w", flat(2), wantDW, 1e-12)
	// The quantised weights really are ternary per group (the test can fail).
	distinct := map[float64]bool{}
	for _, v := range qw[:gs] {
		distinct[math.Abs(v)] = true
	}
	if len(distinct) > 2 {
		t.Fatalf("group 0 of Q_w has magnitudes %v, want {0, s}", distinct)
	}
}

func randMat(rng *rand.Rand, r, c int, std float64) [][]float64 {
	m := make([][]float64, r)
	for i := range m {
		m[i] = make([]float64, c)
		for j := range m[i] {
			m[i][j] = rng.NormFloat64() * std
		}
	}
	return m
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.9g, want %.9g (all: %v)", what, i, got[i], want[i], got)
		}
	}
}
