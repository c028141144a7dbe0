package blasdot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// dotCase is one DotGeneral: operand dimensions and axes as the graph lists them.
type dotCase struct {
	name         string
	lhs          []int
	lc, lb       []int
	rhs          []int
	rc, rb       []int
	wantFallback bool // a layout left to the Go backend (the result is still compared)
}

// cases are the model's DotGenerals (cpu preset: B=16, T=64, D=64, H=4, hd=16, FFN 128,
// vocab 2048), their gradients as gomlxmodel/dotgrad.go writes them, Newton–Schulz's, and odd
// sizes, batch axes in unusual places and transposed or permuted operands. The Go backend of
// GoMLX v0.28.2 transposes operands whose layout its kernels cannot read into one they can when
// it builds the graph, so every case, including the last three (left to the backend's kernel on
// v0.26.0), reaches OpenBLAS.
var cases = []dotCase{
	{name: "linear x·Wᵀ", lhs: []int{16, 64, 64}, lc: []int{2}, rhs: []int{128, 64}, rc: []int{1}},
	{name: "head x·Eᵀ", lhs: []int{16, 64, 64}, lc: []int{2}, rhs: []int{2048, 64}, rc: []int{1}},
	{name: "grad x: g·W", lhs: []int{16, 64, 128}, lc: []int{2}, rhs: []int{128, 64}, rc: []int{0}},
	{name: "grad W: gᵀ·x (long K)", lhs: []int{16, 64, 2048}, lc: []int{0, 1}, rhs: []int{16, 64, 64}, rc: []int{0, 1}},
	{name: "attention q·kᵀ", lhs: []int{2, 4, 64, 16}, lc: []int{3}, lb: []int{0, 1}, rhs: []int{2, 4, 64, 16}, rc: []int{3}, rb: []int{0, 1}},
	{name: "attention p·v", lhs: []int{2, 4, 64, 64}, lc: []int{3}, lb: []int{0, 1}, rhs: []int{2, 4, 64, 16}, rc: []int{2}, rb: []int{0, 1}},
	{name: "attention grad p: g·vᵀ", lhs: []int{2, 4, 64, 16}, lc: []int{3}, lb: []int{0, 1}, rhs: []int{2, 4, 64, 16}, rc: []int{3}, rb: []int{0, 1}},
	{name: "attention grad v: pᵀ·g", lhs: []int{2, 4, 64, 64}, lc: []int{2}, lb: []int{0, 1}, rhs: []int{2, 4, 64, 16}, rc: []int{2}, rb: []int{0, 1}},
	{name: "rope x·R", lhs: []int{2, 64, 4, 16}, lc: []int{3}, rhs: []int{16, 16}, rc: []int{0}},
	{name: "newton-schulz X·Xᵀ", lhs: []int{64, 128}, lc: []int{1}, rhs: []int{64, 128}, rc: []int{1}},
	{name: "newton-schulz A·X", lhs: []int{64, 64}, lc: []int{1}, rhs: []int{64, 128}, rc: []int{0}},
	{name: "odd sizes", lhs: []int{3, 5, 7}, lc: []int{2}, rhs: []int{7, 11}, rc: []int{0}},
	{name: "odd sizes, both transposed", lhs: []int{7, 5}, lc: []int{0}, rhs: []int{11, 7}, rc: []int{1}},
	{name: "1×1", lhs: []int{1, 1}, lc: []int{1}, rhs: []int{1, 1}, rc: []int{0}},
	{name: "outer product (K=1)", lhs: []int{9, 1}, lc: []int{1}, rhs: []int{1, 13}, rc: []int{0}},
	{name: "vector·matrix", lhs: []int{33}, lc: []int{0}, rhs: []int{33, 17}, rc: []int{0}},
	{name: "matrix·vector", lhs: []int{17, 33}, lc: []int{1}, rhs: []int{33}, rc: []int{0}},
	{name: "batch axis in the middle", lhs: []int{5, 3, 7}, lc: []int{2}, lb: []int{1}, rhs: []int{7, 3, 2}, rc: []int{0}, rb: []int{1}},
	{name: "batch axes listed backwards", lhs: []int{2, 3, 5, 4}, lc: []int{3}, lb: []int{1, 0}, rhs: []int{3, 2, 4, 6}, rc: []int{2}, rb: []int{0, 1}},
	{name: "batch axis last", lhs: []int{5, 7, 3}, lc: []int{1}, lb: []int{2}, rhs: []int{7, 3}, rc: []int{0}, rb: []int{1}},
	{name: "two contracting axes", lhs: []int{4, 6, 5}, lc: []int{1, 2}, rhs: []int{6, 5, 3}, rc: []int{0, 1}},
	{name: "contracting axes permuted", lhs: []int{4, 6, 5}, lc: []int{2, 1}, rhs: []int{5, 6, 3}, rc: []int{0, 1}},
	{name: "cross axes split by contracting axis", lhs: []int{4, 6, 5}, lc: []int{1}, rhs: []int{6, 3}, rc: []int{0}},
}

func newBackend(t *testing.T) compute.Backend {
	t.Helper()
	if err := Install(); err != nil {
		t.Fatalf("Install: %v", err)
	}
	b, err := gobackend.New("parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomTensor(rng *rand.Rand, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// TestMatchesSimplego runs every case with OpenBLAS and with the Go backend's kernel and compares:
// max |blas − the Go backend| ≤ 1e-5 · max |the Go backend|. It also checks that the model's layouts do go
// to OpenBLAS and that two OpenBLAS runs are bit-identical.
func TestMatchesSimplego(t *testing.T) {
	backend := newBackend(t)
	if !enabledBuild {
		t.Skip("built without OpenBLAS: " + InEffect())
	}
	t.Log(InEffect())
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compareCase(t, backend, rng, c, false)
			compareCase(t, backend, rng, c, true)
		})
	}
}

// compareCase runs one case, with large products split over two goroutines when split is set.
func compareCase(t *testing.T, backend compute.Backend, rng *rand.Rand, c dotCase, split bool) {
	setSplit(split)
	defer setSplit(false)
	exec := MustNewExec(backend, func(l, r *Node) *Node {
		return DotGeneral(l, c.lc, c.lb, r, c.rc, c.rb)
	})
	l, r := randomTensor(rng, c.lhs), randomTensor(rng, c.rhs)
	run := func(blas bool) ([]float32, []int) {
		SetEnabled(blas)
		defer SetEnabled(true)
		out := exec.MustExec(l, r)[0]
		return slices.Clone(tensors.MustCopyFlatData[float32](out)), out.Shape().Dimensions
	}
	before := Stats.BLAS.Load()
	got, dims := run(true)
	usedBLAS := Stats.BLAS.Load() > before
	if usedBLAS == c.wantFallback {
		t.Errorf("OpenBLAS used: %v, want %v", usedBLAS, !c.wantFallback)
	}
	again, _ := run(true)
	want, wantDims := run(false)
	if !slices.Equal(dims, wantDims) {
		t.Fatalf("shape %v, the Go backend %v", dims, wantDims)
	}
	if !slices.Equal(got, again) {
		t.Errorf("two OpenBLAS runs differ")
	}
	var maxDiff, maxAbs float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
	}
	rel := maxDiff / maxAbs
	t.Logf("%v · %v -> %v: max rel. diff %.2g", c.lhs, c.rhs, dims, rel)
	if rel > 1e-5 || math.IsNaN(rel) {
		t.Errorf("max |blas − the Go backend| / max |the Go backend| = %.3g > 1e-5", rel)
	}
}

// TestOtherDTypes checks that a float64 DotGeneral is left to the Go backend and still right.
func TestOtherDTypes(t *testing.T) {
	backend := newBackend(t)
	before := Stats.BLAS.Load()
	out := MustExecOnce(backend, func(l, r *Node) *Node { return DotGeneral(l, []int{1}, nil, r, []int{0}, nil) },
		[][]float64{{1, 2}, {3, 4}}, [][]float64{{5, 6}, {7, 8}})
	if got := fmt.Sprint(out.Value()); got != "[[19 22] [43 50]]" {
		t.Errorf("float64 product = %s", got)
	}
	if Stats.BLAS.Load() != before {
		t.Errorf("float64 went to OpenBLAS")
	}
}

func TestMeasureProduct(t *testing.T) {
	backend := newBackend(t)
	r, err := MeasureProduct(backend, 64, 32, 48, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.MaxRelDiff > 1e-5 || r.OpenBLASApplied != enabledBuild {
		t.Errorf("%+v", r)
	}
}
