package gomlxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

// context64 builds a float64 context from params, for finite differences without float32 noise.
func context64(t *testing.T, c config.Config, v config.Variant, p Params) *model.Scope {
	t.Helper()
	if err := CheckParams(c, v, p); err != nil {
		t.Fatal(err)
	}
	ctx := model.NewStore().RootScope()
	for _, name := range config.SortedNames(c.TensorShapes(v)) {
		scope, vn := ScopeAndName(name)
		data := make([]float64, len(p[name].Data))
		for i, x := range p[name].Data {
			data[i] = float64(x)
		}
		ctx.Store().VariableWithValue(model.JoinPath(scope, vn), tensors.FromFlatDataAndDimensions(data, p[name].Shape...))
	}
	return ctx
}

// Every parameter's gradient (autodiff through our DotGeneral gradient, the masked softmax,
// RoPE, RMSNorm, mHC and the label-smoothed loss) against central finite differences, in
// float64, on a float model (the STE gradient is by design not the derivative of the
// quantised forward; it has its own test).
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tied, mhc bool
		other     bool // interleaved RoPE, repeat_interleave GQA, no causal mask
	}{{"tied+mhc", true, true, false}, {"untied+mhc", false, true, false}, {"tied, no mhc", true, false, false},
		{"interleaved rope, interleave gqa, no mask", true, true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			c.WeightTied = tc.tied
			v := config.DefaultVariant()
			v.Ternary, v.MHC = false, tc.mhc
			if tc.other {
				v.RopeLayout, v.GQAMap, v.NoCausalMask = config.RopeInterleaved, config.GQAInterleave, true
			}
			p := InitParams(c, v, 11)
			perturb(p, 12, 0.3) // asymmetric mHC, non-trivial norms, larger linears
			ctx := context64(t, c, v, p)
			m := Model{Config: c, Variant: v}
			rng := rand.New(rand.NewPCG(5, 6))
			ids := randomIDs(rng, 2, 6, c.VocabSize)
			targets := randomIDs(rng, 2, 6, c.VocabSize)
			names := config.SortedNames(c.TensorShapes(v))
			b, err := NewBackend()
			if err != nil {
				t.Fatal(err)
			}
			InstallDotGeneralGradient()
			gradExec, err := model.NewExec(b, ctx.Store(), func(ctx *model.Scope, ids, tg *Node) []*Node {
				loss, _ := Loss(m.Forward(ctx, ids, nil), tg)
				vals := make([]*Node, len(names))
				for i, n := range names {
					s, vn := ScopeAndName(n)
					vals[i] = ctx.Store().GetVariable(model.JoinPath(s, vn)).NodeValue(ids.Graph())
				}
				return append([]*Node{loss}, Gradient(loss, vals...)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			lossExec, err := model.NewExec(b, ctx.Store(), func(ctx *model.Scope, ids, tg *Node) *Node {
				loss, _ := Loss(m.Forward(ctx, ids, nil), tg)
				return loss
			})
			if err != nil {
				t.Fatal(err)
			}
			idT, tgT := toTensor(ids), toTensor(targets)
			res, err := gradExec.Exec(idT, tgT)
			if err != nil {
				t.Fatal(err)
			}
			lossAt := func() float64 {
				out, err := lossExec.Exec(idT, tgT)
				if err != nil {
					t.Fatal(err)
				}
				return tensors.ToScalar[float64](out[0])
			}
			const eps = 1e-5
			checked := 0
			for i, name := range names {
				grad := tensors.MustCopyFlatData[float64](res[i+1])
				s, vn := ScopeAndName(name)
				vr := ctx.Store().GetVariable(model.JoinPath(s, vn))
				orig := tensors.MustCopyFlatData[float64](vr.MustValue())
				// Check the largest-gradient entry and two random ones of every tensor.
				idx := []int{argmaxAbs(grad), rng.IntN(len(grad)), rng.IntN(len(grad))}
				for _, k := range idx {
					set := func(x float64) {
						d := append([]float64(nil), orig...)
						d[k] = x
						vr.MustSetValue(tensors.FromFlatDataAndDimensions(d, vr.Shape().Dimensions...))
					}
					set(orig[k] + eps)
					up := lossAt()
					set(orig[k] - eps)
					down := lossAt()
					set(orig[k])
					fd := (up - down) / (2 * eps)
					if math.Abs(fd-grad[k]) > 1e-6+1e-4*math.Abs(fd) {
						t.Errorf("%s[%d]: autodiff %.9g, finite difference %.9g", name, k, grad[k], fd)
					}
					checked++
				}
				// With asymmetric streams alpha matters, except in the last sub-block: the collapse
				// (s0' + s1')/2 = (r0 + r1)/2 does not depend on alpha there.
				if tc.mhc && vn == MHCAlphaLogit {
					last := name == MHCParam(c.NLayers-1, SubFFN, MHCAlphaLogit)
					if last != (grad[0] == 0) {
						t.Errorf("%s: gradient %v (last sub-block: %v)", name, grad[0], last)
					}
				}
			}
			t.Logf("%d entries of %d tensors checked", checked, len(names))
		})
	}
}

func argmaxAbs(x []float64) int {
	best := 0
	for i := range x {
		if math.Abs(x[i]) > math.Abs(x[best]) {
			best = i
		}
	}
	return best
}

func toTensor(ids [][]int32) *tensors.Tensor {
	t, err := idsTensor(ids)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return t
}
