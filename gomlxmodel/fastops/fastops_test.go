package fastops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func newBackend(t *testing.T) compute.Backend {
	t.Helper()
	if err := Install(); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !InEffect() {
		t.Skip("fastops disabled by " + DisableEnv)
	}
	b, err := gobackend.New("parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomTensor has normal values, with a few ±Inf and NaN when special is set.
func randomTensor(rng *rand.Rand, special bool, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		if special && rng.IntN(50) == 0 {
			v[i] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1))}[rng.IntN(5)]
		}
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// sameBits runs the graph with the fast executors and with the Go backend's and requires the same
// shape and the same bits, NaNs aside: x86 gives a NaN's sign from the operand order the
// compiler chose, so any NaN equals any NaN.
func sameBits(t *testing.T, backend compute.Backend, f func(x, y *Node) *Node, x, y *tensors.Tensor) {
	t.Helper()
	exec := MustNewExec(backend, f)
	run := func(fast bool) ([]uint32, []int) {
		SetEnabled(fast)
		defer SetEnabled(true)
		out := exec.MustExec(x, y)[0]
		v := tensors.MustCopyFlatData[float32](out)
		bits := make([]uint32, len(v))
		for i, f := range v {
			bits[i] = math.Float32bits(f)
		}
		return bits, out.Shape().Dimensions
	}
	got, dims := run(true)
	want, wantDims := run(false)
	if !slices.Equal(dims, wantDims) {
		t.Fatalf("shape %v, the Go backend %v", dims, wantDims)
	}
	for i := range want {
		nan := math.IsNaN(float64(math.Float32frombits(got[i]))) && math.IsNaN(float64(math.Float32frombits(want[i])))
		if got[i] != want[i] && !nan {
			t.Fatalf("element %d: %g (%#x), the Go backend %g (%#x)", i, math.Float32frombits(got[i]), got[i],
				math.Float32frombits(want[i]), want[i])
		}
	}
}

func TestReductions(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		dims []int
		axes []int
	}{
		{[]int{4, 64, 2048}, []int{2}},   // log-softmax over the vocabulary
		{[]int{16, 64, 64}, []int{0, 1}}, // gradient of a broadcast weight
		{[]int{16, 64, 64}, []int{0, 1, 2}},
		{[]int{4, 5, 6}, []int{1}},
		{[]int{4, 5, 6}, []int{0, 2}},
		{[]int{4, 1, 6}, []int{1}},
		{[]int{4, 1, 6}, []int{0}},
		{[]int{1, 1}, []int{0, 1}},
		{[]int{7}, []int{0}},
		{[]int{3, 4, 5, 6}, []int{3, 1}},
	} {
		for _, special := range []bool{false, true} {
			x := randomTensor(rng, special, c.dims...)
			sameBits(t, backend, func(x, _ *Node) *Node { return ReduceSum(x, c.axes...) }, x, x)
			sameBits(t, backend, func(x, _ *Node) *Node { return ReduceMax(x, c.axes...) }, x, x)
		}
	}
}

func TestBroadcasts(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		dims, newDims, expanded []int
	}{
		{[]int{4, 64, 1}, []int{4, 64, 2048}, nil},
		{[]int{64}, []int{16, 64, 64}, []int{0, 1}},
		{[]int{16, 64}, []int{16, 4, 64, 64}, []int{1, 3}},
		{[]int{3, 1, 5}, []int{3, 4, 5}, nil},
		{[]int{1, 5}, []int{3, 5}, nil},
		{[]int{5}, []int{5, 3}, []int{1}},
	} {
		x := randomTensor(rng, false, c.dims...)
		sameBits(t, backend, func(x, _ *Node) *Node {
			if c.expanded == nil {
				return BroadcastToDims(x, c.newDims...)
			}
			return ExpandAndBroadcast(x, c.newDims, c.expanded)
		}, x, x)
	}
}

func TestBinaryBroadcasting(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	ops := map[string]func(x, y *Node) *Node{"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div}
	for _, c := range []struct{ x, y []int }{
		{[]int{4, 64, 2048}, []int{4, 64, 1}},
		{[]int{16, 64, 64}, []int{1, 1, 64}},
		{[]int{16, 4, 64, 64}, []int{16, 1, 64, 64}},
		{[]int{1, 64, 1}, []int{16, 1, 64}}, // both broadcast
		{[]int{3, 5}, []int{3, 5}},          // same shape: the Go backend's loop
		{[]int{3, 5}, []int{}},              // scalar: the Go backend's loop
		{[]int{2, 3, 1, 5}, []int{2, 1, 4, 5}},
	} {
		for name, op := range ops {
			x, y := randomTensor(rng, true, c.x...), randomTensor(rng, true, c.y...)
			t.Run(name, func(t *testing.T) {
				sameBits(t, backend, op, x, y)
				sameBits(t, backend, op, y, x)
				// The operand of the output's shape is an owned intermediate: reused in place.
				sameBits(t, backend, func(x, y *Node) *Node { return op(Neg(x), y) }, x, y)
				sameBits(t, backend, func(x, y *Node) *Node { return op(y, Neg(x)) }, x, y)
			})
		}
	}
}

func TestTransposeAbsSign(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct{ dims, perm []int }{
		{[]int{16, 64, 4, 16}, []int{0, 2, 1, 3}}, // attention heads
		{[]int{16, 4, 64, 16}, []int{0, 2, 1, 3}},
		{[]int{16, 64, 64}, []int{2, 0, 1}},
		{[]int{3, 1, 5}, []int{2, 1, 0}},
		{[]int{7, 9}, []int{1, 0}},
	} {
		x := randomTensor(rng, true, c.dims...)
		sameBits(t, backend, func(x, _ *Node) *Node { return TransposeAllDims(x, c.perm...) }, x, x)
		sameBits(t, backend, func(x, _ *Node) *Node { return Abs(x) }, x, x)
		sameBits(t, backend, func(x, _ *Node) *Node { return Sign(x) }, x, x)
		sameBits(t, backend, func(x, _ *Node) *Node { return Abs(Neg(x)) }, x, x) // owned input
		sameBits(t, backend, func(x, _ *Node) *Node { return Sign(Neg(x)) }, x, x)
		sameBits(t, backend, func(x, _ *Node) *Node { return Exp(x) }, x, x)
	}
	x := randomTensor(rng, true, 4, 64, 2048) // Exp in two halves
	sameBits(t, backend, func(x, _ *Node) *Node { return Exp(x) }, x, x)
	sameBits(t, backend, func(x, _ *Node) *Node { return Exp(Neg(x)) }, x, x)
	// Maxima of zeros of both signs: +0 wins, as with Go's max.
	zs := tensors.FromValue([][]float32{{float32(math.Copysign(0, -1)), 0, -1}, {0, float32(math.Copysign(0, -1)), -3},
		{float32(math.Copysign(0, -1)), -2, float32(math.Copysign(0, -1))}, {-5, float32(math.NaN()), 7}})
	sameBits(t, backend, func(x, _ *Node) *Node { return ReduceMax(x, 1) }, zs, zs)
	// −0 and NaN: Abs keeps them, Sign gives +0.
	z := tensors.FromValue([]float32{float32(math.Copysign(0, -1)), float32(math.NaN()), -2, 3, 0})
	sameBits(t, backend, func(x, _ *Node) *Node { return Abs(x) }, z, z)
	sameBits(t, backend, func(x, _ *Node) *Node { return Sign(x) }, z, z)
}
