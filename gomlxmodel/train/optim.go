package train

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The optimizers are written as graph functions that read a parameter, its (clipped)
// gradient and its state variables, and set their new values. State lives in the context
// under "/opt/<parameter scope>/<parameter name>" so it never mixes with the model's tensors.

// optState returns the graph value of a state variable created by initOptState.
func optState(ctx *context.Context, tensor, name string, like *Node) *Node {
	v := ctx.GetVariableByScopeAndName("/opt/"+tensor, name)
	if v == nil {
		panic("train: optimizer state " + tensor + "/" + name + " was not created")
	}
	return v.ValueGraph(like.Graph())
}

func setOptState(ctx *context.Context, tensor, name string, value *Node) {
	ctx.GetVariableByScopeAndName("/opt/"+tensor, name).SetValueGraph(value)
}

// muonUpdate applies Muon to a 2-D weight (REFERENCE.md §2): momentum buffer m ← μ·m + g,
// Nesterov direction g + μ·m, orthogonalised by nsSteps Newton–Schulz iterations, scaled by
// sqrt(max(1, rows/cols)), then w ← w − lr·(update + wd·w).
func muonUpdate(ctx *context.Context, tensor string, w, grad, lr *Node, momentum, wd float64, nsSteps int) *Node {
	m := optState(ctx, tensor, "momentum", w)
	m = Add(MulScalar(m, momentum), grad)
	setOptState(ctx, tensor, "momentum", m)
	dir := Add(grad, MulScalar(m, momentum))
	o := NewtonSchulz(dir, nsSteps)
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
// iteration of Muon (coefficients 3.4445, −4.7750, 2.0315), on the wide orientation.
func NewtonSchulz(g *Node, steps int) *Node {
	const a, b, c = 3.4445, -4.7750, 2.0315
	x := Div(g, AddScalar(Sqrt(ReduceAllSum(Square(g))), 1e-7))
	transposed := x.Shape().Dimensions[0] > x.Shape().Dimensions[1]
	if transposed {
		x = Transpose(x, 0, 1)
	}
	for i := 0; i < steps; i++ {
		aa := DotGeneral(x, []int{1}, nil, x, []int{1}, nil)                                        // X·Xᵀ
		bb := Add(MulScalar(aa, b), MulScalar(DotGeneral(aa, []int{1}, nil, aa, []int{0}, nil), c)) // b·A + c·A·A
		x = Add(MulScalar(x, a), DotGeneral(bb, []int{1}, nil, x, []int{0}, nil))
	}
	if transposed {
		x = Transpose(x, 0, 1)
	}
	return x
}

// lionUpdate applies Lion: c = β1·m + (1−β1)·g; w ← w − lr·(sign(c) + wd·w); m ← β2·m + (1−β2)·g.
// sign(0) = 0, so a parameter whose gradient is exactly zero never moves.
func lionUpdate(ctx *context.Context, tensor string, w, grad, lr *Node, beta1, beta2, wd float64) *Node {
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
func adamwUpdate(ctx *context.Context, tensor string, w, grad, lr, t *Node, wd float64) *Node {
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
