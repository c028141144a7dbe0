package gomlxmodel

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"nanoscope/gomlxmodel/config"
)

// softmax over the last axis: exp(x − max x) / Σ exp(x − max x), spelled out in the graph ops
// GoMLX v0.26.0's Softmax used. GoMLX v0.28.2's Softmax hands the whole op to a backend that
// has a fused softmax, as its Go backend does, which sums in another order: the cpu preset's
// 20 steps then drift from v0.26.0's by 1e-4 in the loss and a borderline build of the family
// gallery changes finding. With these ops results are bit-identical to v0.26.0's; XLA fuses
// them on its own.
func softmax(x *Node) *Node {
	m := StopGradient(ReduceAndKeep(x, ReduceMax, -1))
	e := Exp(Sub(x, m))
	return Div(e, ReduceAndKeep(e, ReduceSum, -1))
}

// RMSNormEps is the ternary model's RMSNorm epsilon.
const RMSNormEps = 1e-6

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
	return Rope{Theta: theta}.tables(seqLen, headDim)
}

// Rope is a rotary position embedding: its base, pairing (config.RopeHalves or
// config.RopeInterleaved), the id of the first position and a linear position scale (Hugging
// Face's rope_scaling "linear": positions divided by the factor; 0 or 1 is none), and its
// sign: Negative rotates every pair by −angle (nanochat's apply_rotary_emb: y1 = x1·cos + x2·sin,
// y2 = −x1·sin + x2·cos, the transpose of the textbook rotation; q·k then depends on −(m − n)).
type Rope struct {
	Theta    float64
	Layout   string
	Offset   int
	Scale    float64
	Negative bool
	// Rows, when non-nil, shifts row b's positions by Rows[b] (left padding with position
	// ids): the tables are then per row, (B, T, 1, hd).
	Rows []int
	// Scaling is Hugging Face's rope_parameters beyond the default (dynamic, llama3, yarn, linear):
	// it sets the inverse frequencies and the factor cos and sin are multiplied by. Zero: none.
	Scaling RopeScaling
	// Last: a partial RoPE (ApplyPartial) rotates the last dimensions of each head, not the first.
	Last bool
}

// ApplyPartial rotates the first rotaryDim dimensions of each head of x (B, T, H, hd) — the last
// ones when Last — as Apply does (frequencies over rotaryDim) and passes the rest through
// (partial_rotary_factor, GPT-NeoX's rotary_pct); rotaryDim 0 or hd is Apply.
func (r Rope) ApplyPartial(x *Node, rotaryDim int) *Node {
	hd := x.Shape().Dimensions[3]
	if rotaryDim == 0 || rotaryDim == hd {
		return r.Apply(x)
	}
	if r.Last {
		rot := r.Apply(SliceAxis(x, 3, AxisRange(hd-rotaryDim, hd)))
		return Concatenate([]*Node{SliceAxis(x, 3, AxisRange(0, hd-rotaryDim)), rot}, 3)
	}
	rot := r.Apply(SliceAxis(x, 3, AxisRange(0, rotaryDim)))
	return Concatenate([]*Node{rot, SliceAxis(x, 3, AxisRange(rotaryDim, hd))}, 3)
}

// tables are cos and sin of angle[t][i] = ((t + Offset)/Scale) · Theta^(−2i/hd), (T, hd/2), in
// float32 as the original computes them.
func (r Rope) tables(seqLen, headDim int) (cos, sin [][]float32) {
	half := headDim / 2
	invFreq, attnFactor := r.Scaling.invFreq(r.Theta, headDim, seqLen+r.Offset)
	cos, sin = make([][]float32, seqLen), make([][]float32, seqLen)
	for t := 0; t < seqLen; t++ {
		cos[t], sin[t] = make([]float32, half), make([]float32, half)
		pos := float32(t + r.Offset)
		if r.Scale > 0 && r.Scale != 1 {
			pos /= float32(r.Scale)
		}
		for i := 0; i < half; i++ {
			angle := pos * invFreq[i]
			cos[t][i] = float32(math.Cos(float64(angle)))
			sin[t][i] = float32(math.Sin(float64(angle)))
			if attnFactor != 1 {
				cos[t][i] *= attnFactor
				sin[t][i] *= attnFactor
			}
		}
	}
	return cos, sin
}

// ApplyRoPE rotates x (B, T, H, hd) in the "halves" layout: with x1 = x[…, :hd/2] and
// x2 = x[…, hd/2:], out = [x1·cos − x2·sin, x2·cos + x1·sin] = x·cos2 + rotateHalf(x)·sin2,
// where cos2, sin2 repeat the tables over both halves and rotateHalf(x) = [−x2, x1].
// rotateHalf is a product with a constant ±1 permutation matrix rather than slices, because
// the gradient of Slice needs Pad, which GoMLX v0.26.0's Go backend does not implement.
func ApplyRoPE(x *Node, theta float64) *Node { return ApplyRoPELayout(x, theta, config.RopeHalves) }

// ApplyRoPELayout rotates x (B, T, H, hd) with the pairing of layout: config.RopeHalves pairs
// dimension i with i + hd/2 (see ApplyRoPE); config.RopeInterleaved pairs 2i with 2i+1 (Meta's
// Llama apply_rotary_emb on complex pairs): out[2i] = x[2i]·cos_i − x[2i+1]·sin_i,
// out[2i+1] = x[2i+1]·cos_i + x[2i]·sin_i. Pair i turns at frequency theta^(−2i/hd) in both.
func ApplyRoPELayout(x *Node, theta float64, layout string) *Node {
	return Rope{Theta: theta, Layout: layout}.Apply(x)
}

// Apply rotates x (B, T, H, hd) as ApplyRoPELayout does, at positions (t + Offset)/Scale.
func (r Rope) Apply(x *Node) *Node {
	dims := x.Shape().Dimensions
	t, hd := dims[1], dims[3]
	half := hd / 2
	// pair(i) = the two dimensions of pair i; rot[j][k] = coefficient of x[j] in rotated(x)[k].
	pair := func(i int) (a, b int) {
		if r.Layout == config.RopeInterleaved {
			return 2 * i, 2*i + 1
		}
		return i, half + i
	}
	rows, shifts := 1, []int{0}
	if r.Rows != nil {
		rows, shifts = len(r.Rows), r.Rows
	}
	// Flat tables: a Const of [][]float32 walks every row by reflection, which costs more than
	// the rotation itself on long sequences.
	cos2, sin2 := make([]float32, rows*t*hd), make([]float32, rows*t*hd) // (rows, T, hd)
	for row, shift := range shifts {
		rr := r
		rr.Offset += shift
		cosT, sinT := rr.tables(t, hd)
		for p := range cosT {
			base := (row*t + p) * hd
			for i := 0; i < half; i++ {
				a, b := pair(i)
				s := sinT[p][i]
				if r.Negative {
					s = -s
				}
				cos2[base+a], cos2[base+b] = cosT[p][i], cosT[p][i]
				sin2[base+a], sin2[base+b] = s, s
			}
		}
	}
	rot := make([]float32, hd*hd) // (hd, hd) row-major
	for i := 0; i < half; i++ {
		a, b := pair(i)
		rot[b*hd+a] = -1 // out[a] = −x[b]
		rot[a*hd+b] = 1  // out[b] = x[a]
	}
	g := x.Graph()
	cos := ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(cos2, rows, t, 1, hd)), x.DType()) // (1|B, T, 1, hd)
	sin := ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(sin2, rows, t, 1, hd)), x.DType())
	rotM := ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(rot, hd, hd)), x.DType())
	rotated := DotGeneral(x, []int{3}, nil, rotM, []int{0}, nil) // (B, T, H, hd)
	return Add(Mul(x, cos), Mul(rotated, sin))
}

// causalMask is (1, 1, T, T): 0 on and below the diagonal, −inf above it, so position i attends
// to positions 0..i only.
func causalMask(g *Graph, t int, dtype dtypes.DType) *Node {
	m := make([]float32, t*t)
	for i := 0; i < t; i++ {
		for j := i + 1; j < t; j++ {
			m[i*t+j] = float32(math.Inf(-1))
		}
	}
	return ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(m, 1, 1, t, t)), dtype)
}

// windowMask is (1, 1, T, T): 0 where key j is visible from query i — j ≤ i (when causal) and
// i − j ≤ window (when window > 0: a sliding window of window keys to the left, FlashAttention's
// window_size (window, 0)) — and −inf elsewhere.
func windowMask(g *Graph, t int, causal bool, window int, dtype dtypes.DType) *Node {
	m := make([]float32, t*t)
	for i := 0; i < t; i++ {
		for j := 0; j < t; j++ {
			if causal && j > i || window > 0 && i-j > window {
				m[i*t+j] = float32(math.Inf(-1))
			}
		}
	}
	return ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(m, 1, 1, t, t)), dtype)
}

// repeatKV expands the kv heads (B, Hkv, T, hd) to (B, H, T, hd), H = nRep·Hkv, with the
// mapping of gqa: config.GQATile (candle's repeat, the original) lets query head h read kv head
// h mod Hkv; config.GQAInterleave (PyTorch's repeat_interleave, Hugging Face's repeat_kv) lets
// it read kv head h / nRep.
func repeatKV(x *Node, nRep int, gqa string) *Node {
	if nRep == 1 {
		return x
	}
	parts := make([]*Node, nRep)
	if gqa == config.GQAInterleave {
		d := x.Shape().Dimensions
		x5 := InsertAxes(x, 2) // (B, Hkv, 1, T, hd)
		for i := range parts {
			parts[i] = x5
		}
		return Reshape(Concatenate(parts, 2), d[0], d[1]*nRep, d[2], d[3]) // (B, Hkv·nRep, T, hd)
	}
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
