package gomlxmodel

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"nanoscope/gomlxmodel/config"
)

func tinyGPT2() GPT2 {
	return GPT2{GPT2Config{VocabSize: 37, NPositions: 16, DModel: 12, NLayers: 2, NHeads: 3, DInner: 20,
		LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: GPT2Conv1D, TiedHead: true, Causal: true}}
}

func tinyLlama() Llama {
	return Llama{LlamaConfig{VocabSize: 37, DModel: 16, NLayers: 2, NHeads: 4, NKVHeads: 2, HeadDim: 4, DFF: 24,
		RMSNormEps: 1e-6, RopeTheta: 10000, InitializerRange: 0.02, RopePairing: config.RopeHalves,
		GQAMapping: config.GQAInterleave, Causal: true}}
}

// The investigated model through the Family interface computes what Runner computes.
func TestModelAsFamily(t *testing.T) {
	c, v := tinyConfig(), config.DefaultVariant()
	p := InitParams(c, v, 1)
	perturb(p, 2, 0.05)
	ids := randomIDs(rand.New(rand.NewPCG(1, 2)), 2, c.MaxSeqLen, c.VocabSize)
	want, err := newTestRunner(t, c, v, p).Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := NewFamilyRunner(Model{Config: c, Variant: v}, p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fr.Capture(ids, Model{Config: c, Variant: v}.HookNames())
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if out["logits"][i] != want[i] {
			t.Fatalf("logit %d: family %v, runner %v", i, out["logits"][i], want[i])
		}
	}
}

// Every family differentiates on the Go backend (gradient flow needs it): the gradient of the
// cross-entropy reaches every parameter, finite.
func TestFamilyGradients(t *testing.T) {
	for _, f := range []Family{tinyGPT2(), tinyLlama(), Model{Config: tinyConfig(), Variant: config.DefaultVariant()}} {
		t.Run(f.Arch(), func(t *testing.T) {
			p := InitFamilyParams(f, 3)
			perturb(p, 4, 0.05)
			ctx, err := NewFamilyContext(f, p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewBackend()
			if err != nil {
				t.Fatal(err)
			}
			InstallDotGeneralGradient()
			rng := rand.New(rand.NewPCG(5, 6))
			ids := randomIDs(rng, 2, 8, f.Dims().VocabSize)
			tg := randomIDs(rng, 2, 8, f.Dims().VocabSize)
			var names []string
			exec, err := context.NewExec(b, ctx, func(ctx *context.Context, ids, targets *Node) []*Node {
				var values []*Node
				names, _, values = FamilyParameters(f, ctx, ids.Graph())
				_, ce := Loss(f.Forward(ctx, ids, nil), targets)
				return append([]*Node{ce}, Gradient(ce, values...)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			in := func(x [][]int32) *tensors.Tensor {
				flat := append(append([]int32{}, x[0]...), x[1]...)
				return tensors.FromFlatDataAndDimensions(flat, 2, 8)
			}
			res, err := exec.Exec(in(ids), in(tg))
			if err != nil {
				t.Fatal(err)
			}
			zero := 0
			for i, r := range res[1:] {
				g, err := tensors.CopyFlatData[float32](r)
				if err != nil {
					t.Fatal(err)
				}
				sum := 0.0
				for _, v := range g {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s: non-finite gradient", names[i])
					}
					sum += math.Abs(float64(v))
				}
				if sum == 0 && !strings.HasSuffix(names[i], "alpha_logit") { // H7: alpha has no effect at init
					zero++
				}
			}
			if zero > 0 || len(res) != len(f.ParamSpecs())+1 {
				t.Errorf("%d of %d parameters have a zero gradient", zero, len(res)-1)
			}
		})
	}
}
