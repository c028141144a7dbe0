package train

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"nanoscope/gomlxmodel"
)

// nsReference is Muon's quintic Newton–Schulz iteration written out in float64 on one row-major
// r×c matrix (Jordan et al., 2024): X = G/‖G‖_F, on the wide orientation
// X ← a·X + (b·A + c·A·A)·X with A = X·Xᵀ.
func nsReference(g []float64, r, c, steps int) []float64 {
	const a, b, cc = 3.4445, -4.7750, 2.0315
	at := func(x []float64, cols, i, j int) float64 { return x[i*cols+j] }
	x := make([]float64, len(g))
	norm := 0.0
	for _, v := range g {
		norm += v * v
	}
	norm = math.Sqrt(norm) + 1e-7
	tall := r > c
	R, C := r, c
	if tall {
		R, C = c, r
	}
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			if tall {
				x[i*C+j] = g[j*c+i] / norm
			} else {
				x[i*C+j] = g[i*c+j] / norm
			}
		}
	}
	mul := func(p []float64, pr, pc int, q []float64, qc int, transQ bool) []float64 {
		out := make([]float64, pr*qc)
		for i := 0; i < pr; i++ {
			for j := 0; j < qc; j++ {
				s := 0.0
				for k := 0; k < pc; k++ {
					if transQ {
						s += at(p, pc, i, k) * at(q, pc, j, k)
					} else {
						s += at(p, pc, i, k) * at(q, qc, k, j)
					}
				}
				out[i*qc+j] = s
			}
		}
		return out
	}
	for s := 0; s < steps; s++ {
		A := mul(x, R, C, x, R, true)
		AA := mul(A, R, R, A, R, false)
		B := make([]float64, R*R)
		for i := range B {
			B[i] = b*A[i] + cc*AA[i]
		}
		BX := mul(B, R, R, x, C, false)
		for i := range x {
			x[i] = a*x[i] + BX[i]
		}
	}
	if !tall {
		return x
	}
	out := make([]float64, len(x))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[i*c+j] = x[j*C+i]
		}
	}
	return out
}

// NewtonSchulzAll (grouped by wide shape, as the trainer runs it) and NewtonSchulz one matrix at
// a time must both equal the float64 iteration, on wide, tall and square matrices mixed so that
// tall and wide ones of transposed shapes share a group.
func TestNewtonSchulzAllMatchesPerMatrix(t *testing.T) {
	shapes := [][2]int{{8, 8}, {12, 4}, {4, 12}, {8, 8}, {4, 12}, {12, 4}, {6, 10}, {3, 3}}
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := make([]any, len(shapes))
	want := make([][]float64, len(shapes))
	for i, s := range shapes {
		data := make([]float32, s[0]*s[1])
		g := make([]float64, len(data))
		for j := range data {
			data[j] = float32(rng.NormFloat64() * 0.02)
			g[j] = float64(data[j])
		}
		inputs[i] = tensors.FromFlatDataAndDimensions(data, s[0], s[1])
		want[i] = nsReference(g, s[0], s[1], 5)
	}
	b, err := gomlxmodel.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fn   func(gs []*Node) []*Node
	}{
		{"grouped", func(gs []*Node) []*Node { return NewtonSchulzAll(gs, 5) }},
		{"per-matrix", func(gs []*Node) []*Node {
			out := make([]*Node, len(gs))
			for i, g := range gs {
				out[i] = NewtonSchulz(g, 5)
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewExec(b, tc.fn)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := e.Exec(inputs...)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range outs {
				if d := o.Shape().Dimensions; d[0] != shapes[i][0] || d[1] != shapes[i][1] {
					t.Fatalf("matrix %d: shape %v, want %v", i, d, shapes[i])
				}
				got := tensors.MustCopyFlatData[float32](o)
				for j := range got {
					if diff := math.Abs(float64(got[j]) - want[i][j]); diff > 1e-5 {
						t.Fatalf("matrix %d %v, element %d: %g, float64 reference %g (|diff| %.2g > 1e-5)", i, shapes[i], j, got[j], want[i][j], diff)
					}
				}
			}
		})
	}
}
