package gomlxmodel

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
)

// tableFamily's logits are its one parameter, "table.weight" (T, V), at every batch row: the
// objective's arithmetic can then be checked by hand. Methods the objective does not use are
// the embedded nil Family's (they panic).
type tableFamily struct {
	Family
	arch string
	t, v int
}

func (f tableFamily) Arch() string { return f.arch }
func (f tableFamily) ParamSpecs() []ParamSpec {
	return []ParamSpec{{Name: "table.weight", Shape: []int{f.t, f.v}}}
}
func (f tableFamily) Forward(ctx *model.Scope, ids *Node, _ Hooks) *Node {
	w := ctx.Store().GetVariable(model.JoinPath("/table", "weight")).NodeValue(ids.Graph()) // (T, V)
	b := ids.Shape().Dimensions[0]
	return BroadcastToDims(InsertAxes(w, 0), b, f.t, f.v) // (B, T, V)
}

// The objective's loss is the hand-computed (1−ε)·CE + ε·(−mean_v log p_v) with ε = 0.1 when
// label-smoothed, the plain CE otherwise, and its gradient with respect to the logits is
// ((1−ε)(p − onehot) + ε(p − 1/V)) / N, summed over the batch rows that share the table.
func TestObjectiveHandComputed(t *testing.T) {
	const B, T, V = 2, 2, 3
	table := []float32{0.5, -1, 2, 0, 0.25, -0.5} // (T, V)
	ids := []int32{0, 1, 2, 0}                    // (B, T): unused by the table
	targets := []int32{2, 0, 1, 1}                // (B, T)
	for _, tc := range []struct {
		name string
		obj  Objective
		eps  float64
	}{
		{"label-smoothed (nanoscope)", TrainingObjective(tableFamily{arch: "nanoscope", t: T, v: V}), 0.1},
		{"plain cross-entropy (gpt2)", TrainingObjective(tableFamily{arch: "gpt2", t: T, v: V}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// By hand, in float64.
			logp := make([]float64, T*V)
			for r := 0; r < T; r++ {
				lse := 0.0
				for j := 0; j < V; j++ {
					lse += math.Exp(float64(table[r*V+j]))
				}
				for j := 0; j < V; j++ {
					logp[r*V+j] = float64(table[r*V+j]) - math.Log(lse)
				}
			}
			n := float64(B * T)
			var ce, uniform float64
			grad := make([]float64, T*V)
			for i, tg := range targets {
				r := i % T
				ce -= logp[r*V+int(tg)] / n
				for j := 0; j < V; j++ {
					uniform -= logp[r*V+j] / (n * V)
					p, onehot := math.Exp(logp[r*V+j]), 0.0
					if j == int(tg) {
						onehot = 1
					}
					grad[r*V+j] += ((1-tc.eps)*(p-onehot) + tc.eps*(p-1.0/V)) / n
				}
			}
			wantLoss := (1-tc.eps)*ce + tc.eps*uniform

			backend, err := NewBackend()
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := NewFamilyScope(tc.obj.Family, Params{"table.weight": checkpoint.Tensor{Shape: []int{T, V}, Data: table}})
			if err != nil {
				t.Fatal(err)
			}
			exec, err := model.NewExec(backend, ctx.Store(), func(ctx *model.Scope, ids, tg *Node) []*Node {
				o := tc.obj.WithGradients(ctx, ids, tg, nil)
				if len(o.Names) != 1 || o.Names[0] != "table.weight" || len(o.Grads) != 1 {
					t.Errorf("parameters %v, %d gradients", o.Names, len(o.Grads))
				}
				return []*Node{o.Loss, o.CE, o.Grads[0], o.Logits}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(ids, B, T), tensors.FromFlatDataAndDimensions(targets, B, T))
			if err != nil {
				t.Fatal(err)
			}
			near := func(what string, got float32, want float64) {
				if math.Abs(float64(got)-want) > 1e-6*max(1, math.Abs(want)) {
					t.Errorf("%s = %.8g, want %.8g", what, got, want)
				}
			}
			near("loss", tensors.ToScalar[float32](out[0]), wantLoss)
			near("ce", tensors.ToScalar[float32](out[1]), ce)
			for i, g := range tensors.MustCopyFlatData[float32](out[2]) {
				near("∂loss/∂table", g, grad[i])
			}
			if got := out[3].Shape().Dimensions; len(got) != 3 || got[0] != B || got[1] != T || got[2] != V {
				t.Errorf("logits shape %v", got)
			}
		})
	}
}

// The families' training objectives are the recipes they are trained with.
func TestTrainingObjectiveOfFamilies(t *testing.T) {
	c := tinyConfig()
	if !TrainingObjective(Model{Config: c}).LabelSmoothed {
		t.Error("the ternary model's objective is not label-smoothed")
	}
	if TrainingObjective(GPT2{}).LabelSmoothed || TrainingObjective(Llama{}).LabelSmoothed {
		t.Error("GPT-2 or Llama trained with label smoothing")
	}
}

// Loss picks each target's log-probability by its (row, target) pair: with int16 targets and
// N·V = 2·128·300 = 76,800 > 2¹⁵ a flat row·V + target index in the targets' dtype would wrap
// (the same fault as int32 at N·V ≥ 2³¹, seen on 2 GPUs at d20 batch 192). The CE must equal
// the hand-computed one for rows whose flat index exceeds the dtype's range.
func TestLossIndexBeyondTargetsDType(t *testing.T) {
	const B, T, V = 2, 128, 300
	logits := make([]float32, B*T*V)
	targets := make([]int16, B*T)
	for i := range targets {
		targets[i] = int16((i*37 + 11) % V)
		for j := 0; j < V; j++ {
			logits[i*V+j] = float32(math.Sin(float64(i*V+j) * 0.37))
		}
	}
	var ce float64
	for i, tg := range targets {
		lse := 0.0
		for j := 0; j < V; j++ {
			lse += math.Exp(float64(logits[i*V+j]))
		}
		ce -= (float64(logits[i*V+int(tg)]) - math.Log(lse)) / (B * T)
	}
	backend, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ExecOnce(backend, func(lg, tg *Node) *Node {
		_, c := Loss(lg, tg)
		return c
	}, tensors.FromFlatDataAndDimensions(logits, B, T, V), tensors.FromFlatDataAndDimensions(targets, B, T))
	if err != nil {
		t.Fatal(err)
	}
	if g := tensors.ToScalar[float32](got); math.Abs(float64(g)-ce) > 1e-5*ce {
		t.Errorf("CE = %.7g, want %.7g (hand-computed)", g, ce)
	}
}
