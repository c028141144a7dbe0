package gomlxmodel

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// BitLinear (REFERENCE.md §2): y = Q_a(x) · Q_w(W)ᵀ, with W stored [out, in] and no bias.
// Both quantisers are straight-through: the forward pass sees the quantised value, the
// backward pass the identity, written as x + stop_grad(q(x) − x).

// roundHalfAway rounds to the nearest integer with ties away from zero, as Rust's f32::round
// does. GoMLX's Round is half-to-even on XLA and half-away on the Go backend, so the model
// builds its own: |x| = f + r with f = floor(|x|) and 0 ≤ r < 1 both exact, then ±(f + [r ≥ ½]).
func roundHalfAway(x *Node) *Node {
	a := Abs(x)
	f := Floor(a)
	up := ConvertDType(GreaterOrEqual(Sub(a, f), Scalar(x.Graph(), x.DType(), 0.5)), x.DType())
	return Mul(Sign(x), Add(f, up))
}

// straightThrough returns x in the backward pass and q in the forward pass.
func straightThrough(x, q *Node) *Node {
	return Add(x, StopGradient(Sub(q, x)))
}

// TernaryWeights quantises w [out, in] per group of groupSize consecutive values of the
// row-major flattening, zero-padded to a multiple of groupSize (padding counts in the mean, as
// in the original): s = max(mean|w|, 1e-8), q = clamp(round(w/s), −1, 1)·s.
func TernaryWeights(w *Node, groupSize int) *Node {
	g, out, in := weightGroups(w, groupSize)                             // (G, gs)
	s := MaxScalar(ReduceAndKeep(Abs(g), ReduceMean, -1), 1e-8)          // (G, 1)
	q := Mul(ClipScalar(roundHalfAway(Div(g, s)), -1, 1), s)             // (G, gs)
	return Reshape(Slice(Reshape(q, -1), AxisRange(0, out*in)), out, in) // (out, in)
}

// GroupScales returns the per-group scales s of TernaryWeights, shape (G).
func GroupScales(w *Node, groupSize int) *Node {
	g, _, _ := weightGroups(w, groupSize)
	return MaxScalar(ReduceMean(Abs(g), -1), 1e-8)
}

// weightGroups flattens w [out, in] row-major, zero-pads it to a multiple of groupSize and
// returns it as (G, groupSize).
func weightGroups(w *Node, groupSize int) (groups *Node, out, in int) {
	out, in = w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	n := out * in
	nGroups := (n + groupSize - 1) / groupSize
	flat := Reshape(w, n)
	if pad := nGroups*groupSize - n; pad > 0 {
		flat = Concatenate([]*Node{flat, Zeros(w.Graph(), shapes.Make(w.DType(), pad))}, 0)
	}
	return Reshape(flat, nGroups, groupSize), out, in
}

// Int8Activations quantises x per token (over the last axis): a = max(max|x|, 1e-8),
// q = clamp(round(x·127/a), −127, 127)·a/127. The final division by 127 is a multiplication by
// the f32 reciprocal, as candle does it.
func Int8Activations(x *Node) *Node {
	a := MaxScalar(ReduceAndKeep(Abs(x), ReduceMax, -1), 1e-8)
	q := ClipScalar(roundHalfAway(Div(MulScalar(x, 127), a)), -127, 127)
	return Mul(q, MulScalar(a, float32(1.0)/float32(127)))
}

// QuantizedInput is x through the straight-through 8-bit activation quantiser, built once per
// graph node: q, k and v read the same normalised input, as do the FFN's gate and up, and the
// quantiser (a reduction and about twenty element-wise ops on the whole activation) would
// otherwise run once per projection. The result is recorded under an alias named after x's node
// id, and a second call for the same x in the same graph returns it.
func QuantizedInput(x *Node) *Node {
	alias := fmt.Sprintf("/nanoscope/int8_ste/%d", x.Id())
	if q := x.Graph().GetNodeByAlias(alias); q != nil {
		return q
	}
	return straightThrough(x, Int8Activations(x)).WithAlias(alias)
}

// BitLinear applies the linear layer: x (…, in) · wᵀ → (…, out). With ternary off it is a
// plain float linear layer (the ablation of H3).
func BitLinear(x, w *Node, groupSize int, ternary bool) *Node {
	if ternary {
		x = QuantizedInput(x)
		w = straightThrough(w, TernaryWeights(w, groupSize))
	}
	return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
}
