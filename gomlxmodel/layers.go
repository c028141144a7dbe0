package gomlxmodel

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// RMSNorm normalises over the last axis: u / sqrt(mean(u²) + eps) · w, eps = 1e-6.
func RMSNorm(u, w *Node) *Node {
	ms := ReduceAndKeep(Square(u), ReduceMean, -1)                             // (…, 1)
	return Mul(Mul(u, Rsqrt(AddScalar(ms, 1e-6))), broadcastLast(w, u.Rank())) // (…, D)
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
// x2 = x[…, hd/2:], out = [x1·cos − x2·sin, x2·cos + x1·sin].
func ApplyRoPE(x *Node, theta float64) *Node {
	dims := x.Shape().Dimensions
	t, hd := dims[1], dims[3]
	half := hd / 2
	cosT, sinT := RopeTables(t, hd, theta)
	g := x.Graph()
	cos := ConvertDType(Reshape(Const(g, cosT), 1, t, 1, half), x.DType()) // (1, T, 1, hd/2)
	sin := ConvertDType(Reshape(Const(g, sinT), 1, t, 1, half), x.DType())
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, half))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(half, hd))
	return Concatenate([]*Node{
		Sub(Mul(x1, cos), Mul(x2, sin)),
		Add(Mul(x2, cos), Mul(x1, sin)),
	}, 3) // (B, T, H, hd)
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

// scalarAt returns element i of a vector as a (1, 1, 1) node that broadcasts over (B, T, D).
func scalarAt(v *Node, i int) *Node {
	return Reshape(Slice(v, AxisRange(i, i+1)), 1, 1, 1)
}
