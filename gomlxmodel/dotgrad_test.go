package gomlxmodel

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The replacement gradient must equal GoMLX's own on every axis layout the model uses
// (linear layers, attention scores and values, Newton–Schulz products, the head) and on a
// layout with batch and contracting axes out of order. GoMLX v0.28.2's own gradient fails
// (an AccumulatedVJP of the wrong shape) when the rhs lists its contracting axes out of
// ascending order; for that case (refRHSPerm) the reference is GoMLX's gradient of the same
// product with rhs transposed first, so that its contracting axes come in order.
func TestDotGeneralGradientMatchesGoMLX(t *testing.T) {
	for _, tc := range []struct {
		name             string
		lhsDims, rhsDims []int
		lc, lb, rc, rb   []int
		refRHSPerm       []int // reference: rhs transposed by this, contracting axes then 0, 1, …
	}{
		{"linear (B,T,in)·(out,in)", []int{2, 3, 5}, []int{4, 5}, []int{2}, nil, []int{1}, nil, nil},
		{"scores (B,H,T,d)·(B,H,T,d)", []int{2, 3, 4, 5}, []int{2, 3, 4, 5}, []int{3}, []int{0, 1}, []int{3}, []int{0, 1}, nil},
		{"values (B,H,T,T)·(B,H,T,d)", []int{2, 3, 4, 4}, []int{2, 3, 4, 5}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}, nil},
		{"X·Xᵀ (m,n)·(m,n)", []int{3, 6}, []int{3, 6}, []int{1}, nil, []int{1}, nil, nil},
		{"A·X (m,m)·(m,n)", []int{3, 3}, []int{3, 6}, []int{1}, nil, []int{0}, nil, nil},
		{"rope (B,T,H,hd)·(hd,hd)", []int{2, 3, 2, 4}, []int{4, 4}, []int{3}, nil, []int{0}, nil, nil},
		{"out of order", []int{3, 4, 5}, []int{6, 4, 3}, []int{0}, []int{1}, []int{2}, []int{1}, nil},
		{"two contracting axes", []int{2, 3, 4}, []int{4, 5, 3}, []int{1, 2}, nil, []int{2, 0}, nil, []int{2, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			lhs, rhs := randTensor(rng, tc.lhsDims), randTensor(rng, tc.rhsDims)
			grads := func(vjp graph.VJP, rhsPerm []int) [][]float64 {
				saved := graph.VJPRegistration[graph.NodeTypeDotGeneral]
				graph.VJPRegistration[graph.NodeTypeDotGeneral] = vjp
				defer func() { graph.VJPRegistration[graph.NodeTypeDotGeneral] = saved }()
				b, err := NewBackend()
				if err != nil {
					t.Fatal(err)
				}
				e, err := graph.NewExec(b, func(l, r *graph.Node) []*graph.Node {
					var out *graph.Node
					if rhsPerm == nil {
						out = graph.DotGeneral(l, tc.lc, tc.lb, r, tc.rc, tc.rb)
					} else {
						rc := make([]int, len(tc.rc))
						for i := range rc {
							rc[i] = i
						}
						out = graph.DotGeneral(l, tc.lc, tc.lb, graph.TransposeAllAxes(r, rhsPerm...), rc, nil)
					}
					// A non-uniform weighting of the output so every output element matters.
					w := graph.Sin(graph.Add(graph.IotaFull(l.Graph(), out.Shape()), graph.OnesLike(out)))
					return graph.Gradient(graph.ReduceAllSum(graph.Mul(out, w)), l, r)
				})
				if err != nil {
					t.Fatal(err)
				}
				res, err := e.Exec(lhs, rhs)
				if err != nil {
					t.Fatal(err)
				}
				return [][]float64{tensors.MustCopyFlatData[float64](res[0]), tensors.MustCopyFlatData[float64](res[1])}
			}
			want := grads(OriginalDotGeneralVJP(), tc.refRHSPerm)
			got := grads(dotGeneralGrad, nil)
			assertClose(t, "∂lhs", got[0], want[0], 1e-12)
			assertClose(t, "∂rhs", got[1], want[1], 1e-12)
		})
	}
}

func randTensor(rng *rand.Rand, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}
