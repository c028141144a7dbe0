package train

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// The optimizers are written as graph functions that read a parameter, its (clipped)
// gradient and its state variables, and set their new values. State lives in the model.Store
// under "/opt/<parameter scope>/<parameter name>" so it never mixes with the model's tensors.

// optState returns the graph value of a state variable created by initOptState.
func optState(ctx *model.Scope, tensor, name string, like *Node) *Node {
	v := ctx.Store().GetVariable(model.JoinPath("/opt/"+tensor, name))
	if v == nil {
		panic(fmt.Errorf("train: optimizer state %s/%s was not created", tensor, name))
	}
	return v.NodeValue(like.Graph())
}

func setOptState(ctx *model.Scope, tensor, name string, value *Node) {
	ctx.Store().GetVariable(model.JoinPath("/opt/"+tensor, name)).SetNodeValue(value)
}

// Muon (REFERENCE.md §2) on a 2-D weight w with gradient g: momentum buffer m ← μ·m + g,
// Nesterov direction g + μ·m, orthogonalised by nsSteps Newton–Schulz iterations, scaled by
// sqrt(max(1, rows/cols)), then w ← w − lr·(update + wd·w). It is split in two so that the
// orthogonalisation of all Muon weights of a step runs batched (newtonSchulzAll) between them.

// muonDirection updates the momentum buffer of tensor and returns the Nesterov direction.
func muonDirection(ctx *model.Scope, tensor string, grad *Node, momentum float64) *Node {
	m := optState(ctx, tensor, "momentum", grad)
	m = Add(MulScalar(m, momentum), grad)
	setOptState(ctx, tensor, "momentum", m)
	return Add(grad, MulScalar(m, momentum))
}

// muonApply returns w − lr·(s·o + wd·w) for the orthogonalised direction o, s = sqrt(max(1, rows/cols)).
func muonApply(w, o, lr *Node, wd float64) *Node {
	rows, cols := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	scale := 1.0
	if rows > cols {
		scale = math.Sqrt(float64(rows) / float64(cols))
	}
	upd := MulScalar(o, scale)
	if wd != 0 {
		upd = Add(upd, MulScalar(w, wd))
	}
	return Sub(w, Mul(lr, upd))
}

// NewtonSchulz approximates the orthogonal factor U·Vᵀ of g = U·S·Vᵀ with the quintic
// iteration of Muon (coefficients 3.4445, −4.7750, 2.0315; Jordan et al., "Muon", 2024), on
// the wide orientation. g is one matrix (r, c) or a stack (n, r, c) of matrices orthogonalised
// independently (the stack is a DotGeneral batch axis); the result has g's shape.
func NewtonSchulz(g *Node, steps int) *Node {
	const a, b, c = 3.4445, -4.7750, 2.0315
	stacked := g.Rank() == 3
	if !stacked {
		g = InsertAxes(g, 0)
	}
	norm := Sqrt(ReduceAndKeep(Square(g), ReduceSum, 1, 2)) // (n, 1, 1): each matrix's Frobenius norm
	x := Div(g, AddScalar(norm, 1e-7))
	transposed := x.Shape().Dimensions[1] > x.Shape().Dimensions[2]
	if transposed {
		x = TransposeAllAxes(x, 0, 2, 1)
	}
	batch := []int{0}
	for i := 0; i < steps; i++ {
		aa := DotGeneral(x, []int{2}, batch, x, []int{2}, batch)                                        // X·Xᵀ
		bb := Add(MulScalar(aa, b), MulScalar(DotGeneral(aa, []int{2}, batch, aa, []int{1}, batch), c)) // b·A + c·A·A
		x = Add(MulScalar(x, a), DotGeneral(bb, []int{2}, batch, x, []int{1}, batch))
	}
	if transposed {
		x = TransposeAllAxes(x, 0, 2, 1)
	}
	if !stacked {
		x = Reshape(x, x.Shape().Dimensions[1:]...)
	}
	return x
}

// NewtonSchulzAll orthogonalises every matrix of gs (each (r, c)) as NewtonSchulz does, in one
// batched chain per wide shape: tall matrices are transposed to wide, the matrices of equal
// wide shape stacked, orthogonalised together and split back. A d20 step then runs 2 chains
// instead of 42 (each 5 iterations × 3 products): a smaller graph for XLA to compile and fewer,
// larger kernels per step. Same arithmetic per matrix as NewtonSchulz (a test compares them).
func NewtonSchulzAll(gs []*Node, steps int) []*Node {
	type group struct{ idx []int }
	groups := map[[2]int]*group{}
	var order [][2]int
	wide := make([]*Node, len(gs))
	for i, g := range gs {
		r, c := g.Shape().Dimensions[0], g.Shape().Dimensions[1]
		wide[i] = g
		if r > c {
			wide[i], r, c = Transpose(g, 0, 1), c, r
		}
		k := [2]int{r, c}
		if groups[k] == nil {
			groups[k] = &group{}
			order = append(order, k)
		}
		groups[k].idx = append(groups[k].idx, i)
	}
	out := make([]*Node, len(gs))
	for _, k := range order {
		idx := groups[k].idx
		parts := make([]*Node, len(idx))
		for j, i := range idx {
			parts[j] = InsertAxes(wide[i], 0)
		}
		o := NewtonSchulz(Concatenate(parts, 0), steps)
		for j, i := range idx {
			out[i] = Reshape(Slice(o, AxisRange(j, j+1)), k[0], k[1])
			if gs[i].Shape().Dimensions[0] > k[0] {
				out[i] = Transpose(out[i], 0, 1)
			}
		}
	}
	return out
}

// lionUpdate applies Lion: c = β1·m + (1−β1)·g; w ← w − lr·(sign(c) + wd·w); m ← β2·m + (1−β2)·g.
// sign(0) = 0, so a parameter whose gradient is exactly zero never moves.
func lionUpdate(ctx *model.Scope, tensor string, w, grad, lr *Node, beta1, beta2, wd float64) *Node {
	m := optState(ctx, tensor, "lion_m", w)
	c := Add(MulScalar(m, beta1), MulScalar(grad, 1-beta1))
	setOptState(ctx, tensor, "lion_m", Add(MulScalar(m, beta2), MulScalar(grad, 1-beta2)))
	upd := Sign(c)
	if wd != 0 {
		upd = Add(upd, MulScalar(w, wd))
	}
	return Sub(w, Mul(lr, upd))
}

// AdamW hyper-parameters (not part of the original's config).
const (
	adamBeta1, adamBeta2, adamEps = 0.9, 0.95, 1e-8
)

// adamwUpdate applies AdamW with bias correction; t is the 1-based step as a scalar.
func adamwUpdate(ctx *model.Scope, tensor string, w, grad, lr, t *Node, wd float64) *Node {
	m := optState(ctx, tensor, "adam_m", w)
	v := optState(ctx, tensor, "adam_v", w)
	m = Add(MulScalar(m, adamBeta1), MulScalar(grad, 1-adamBeta1))
	v = Add(MulScalar(v, adamBeta2), MulScalar(Square(grad), 1-adamBeta2))
	setOptState(ctx, tensor, "adam_m", m)
	setOptState(ctx, tensor, "adam_v", v)
	one := OnesLike(t)
	mHat := Div(m, Sub(one, Pow(Scalar(t.Graph(), t.DType(), adamBeta1), t)))
	vHat := Div(v, Sub(one, Pow(Scalar(t.Graph(), t.DType(), adamBeta2), t)))
	upd := Div(mHat, AddScalar(Sqrt(vHat), adamEps))
	if wd != 0 {
		upd = Add(upd, MulScalar(w, wd))
	}
	return Sub(w, Mul(lr, upd))
}
