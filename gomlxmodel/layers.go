package gomlxmodel

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// RMSNorm normalises over the last axis: u / sqrt(mean(u²) + eps) · w, eps = 1e-6.
func RMSNorm(u, w *Node) *Node {
	ms := ReduceAndKeep(Square(u), ReduceMean, -1)                            // (…, 1)
	return Mul(Div(u, Sqrt(AddScalar(ms, 1e-6))), broadcastLast(w, u.Rank())) // (…, D)
}

// broadcastLast reshapes a vector (D) to rank r as (1, …, 1, D) so it broadcasts on the last axis.
func broadcastLast(w *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[rank-1] = w.Shape().Dimensions[0]
	return Reshape(w, dims...)
}

// RopeTables returns cos and sin of the rotary angles, each (T, hd/2), for positions 0..T-1:
// angle[t][i] = t · theta^(−2i/hd), computed in float32 as the original does.
func RopeTables(seqLen, headDim int, theta float64) (cos, sin [][]float32) {
	half := headDim / 2
	cos, sin = make([][]float32, seqLen), make([][]float32, seqLen)
	for t := 0; t < seqLen; t++ {
		cos[t], sin[t] = make([]float32, half), make([]float32, half)
		for i := 0; i < half; i++ {
			invFreq := float32(1.0 / math.Pow(theta, float64(2*i)/float64(headDim)))
			angle := float32(t) * invFreq
			cos[t][i] = float32(math.Cos(float64(angle)))
			sin[t][i] = float32(math.Sin(float64(angle)))
		}
	}
	return cos, sin
}

// ApplyRoPE rotates x (B, T, H, hd) in the "halves" layout: with x1 = x[…, :hd/2] and
// x2 = x[…, hd/2:], out = [x1·cos − x2·sin, x2·cos + x1·sin] = x·cos2 + rotateHalf(x)·sin2,
// where cos2, sin2 repeat the tables over both halves and rotateHalf(x) = [−x2, x1].
// rotateHalf is a product with a constant ±1 permutation matrix rather than slices, because
// the gradient of Slice needs Pad, which GoMLX v0.26.0's Go backend does not implement.
func ApplyRoPE(x *Node, theta float64) *Node {
	dims := x.Shape().Dimensions
	t, hd := dims[1], dims[3]
	half := hd / 2
	cosT, sinT := RopeTables(t, hd, theta)
	cos2, sin2 := make([][]float32, t), make([][]float32, t)
	for i := range cosT {
		cos2[i] = append(append([]float32{}, cosT[i]...), cosT[i]...)
		sin2[i] = append(append([]float32{}, sinT[i]...), sinT[i]...)
	}
	rot := make([][]float32, hd) // rot[j][k]: coefficient of x[j] in rotateHalf(x)[k]
	for j := range rot {
		rot[j] = make([]float32, hd)
	}
	for k := 0; k < half; k++ {
		rot[half+k][k] = -1 // out[k] = −x2[k]
		rot[k][half+k] = 1  // out[half+k] = x1[k]
	}
	g := x.Graph()
	cos := ConvertDType(Reshape(Const(g, cos2), 1, t, 1, hd), x.DType()) // (1, T, 1, hd)
	sin := ConvertDType(Reshape(Const(g, sin2), 1, t, 1, hd), x.DType())
	rotated := DotGeneral(x, []int{3}, nil, ConvertDType(Const(g, rot), x.DType()), []int{0}, nil) // (B, T, H, hd)
	return Add(Mul(x, cos), Mul(rotated, sin))
}

// causalMask is (1, 1, T, T): 0 on and below the diagonal, −inf above it, so position i attends
// to positions 0..i only.
func causalMask(g *Graph, t int, dtype dtypes.DType) *Node {
	m := make([][]float32, t)
	for i := range m {
		m[i] = make([]float32, t)
		for j := i + 1; j < t; j++ {
			m[i][j] = float32(math.Inf(-1))
		}
	}
	return ConvertDType(Reshape(Const(g, m), 1, 1, t, t), dtype)
}

// repeatKV tiles the kv heads (B, Hkv, T, hd) to (B, H, T, hd) the way candle's repeat does:
// query head h reads kv head h mod Hkv (tiling, not repeat_interleave).
func repeatKV(x *Node, nRep int) *Node {
	if nRep == 1 {
		return x
	}
	parts := make([]*Node, nRep)
	for i := range parts {
		parts[i] = x
	}
	return Concatenate(parts, 1)
}

// silu(x) = x · sigmoid(x).
func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// scalarAt returns element i of a 2-vector as a (1, 1, 1) node that broadcasts over (B, T, D).
// It is a masked sum rather than a Slice, whose gradient the Go backend cannot compute.
func scalarAt(v *Node, i int) *Node {
	mask := make([]float32, v.Shape().Dimensions[0])
	mask[i] = 1
	return Reshape(ReduceAllSum(Mul(v, ConvertDType(Const(v.Graph(), mask), v.DType()))), 1, 1, 1)
}
