package analysis

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/metrics"
)

// ParamGrad is the gradient of the label-smoothed training objective with respect to one
// parameter, on one batch.
type ParamGrad struct {
	Name       string  `json:"name"`
	Size       int     `json:"size"`
	GradNorm   float64 `json:"grad_norm"`
	GradMaxAbs float64 `json:"grad_max_abs"`
	WeightNorm float64 `json:"weight_norm"`
	// Ratio is grad_norm / weight_norm.
	Ratio float64 `json:"ratio"`
	// NonZero counts gradient entries that are not exactly 0; Dead is NonZero == 0: such a
	// parameter never moves under Lion (sign(0) = 0) nor Muon.
	NonZero int  `json:"nonzero"`
	Dead    bool `json:"dead"`
	// Optimizer is the update rule the original applies to the parameter ("muon", "lion",
	// "adamw"); NominalUpdateRatio the norm of one such update at the peak learning rate
	// divided by the weight norm: Lion and Adam's first step move every entry with a
	// non-zero gradient by lr (lr·sqrt(nonzero)); Muon's orthogonalised update has Frobenius
	// norm sqrt(min(rows, cols)) times its shape scale, times lr.
	Optimizer          string  `json:"optimizer"`
	NominalUpdateRatio float64 `json:"nominal_update_ratio"`
}

// GradFlow is the gradient flow of a checkpoint on one batch.
type GradFlow struct {
	Windows     int         `json:"windows"`
	TargetShift int         `json:"target_shift"`
	Loss        float64     `json:"loss"` // the label-smoothed objective on the batch
	Params      []ParamGrad `json:"params"`
	// Dead lists the parameters whose gradient is exactly zero.
	Dead []string `json:"dead"`
	// AlphaGrads maps each alpha_logit to its gradient (exactly as computed, float32).
	AlphaGrads map[string]float64 `json:"alpha_grads,omitempty"`
}

// optimizerOf mirrors the trainer's split: Muon for the 2-D attention and FFN weights, Lion
// for everything else (embedding, lm_head, norms, mHC), or AdamW for all.
func optimizerOf(v config.Variant, name string) string {
	if v.Optimizer == "adamw" {
		return "adamw"
	}
	if gomlxmodel.IsBitLinearWeight(name) {
		return "muon"
	}
	return "lion"
}

// GradientFlow builds the training objective — gomlxmodel.TrainingObjective, the trainer's
// own: label-smoothed cross-entropy with the variant's target shift for the ternary model;
// plain cross-entropy on the next token, with AdamW as the optimizer named, for GPT-2 and
// Llama — on the windows w as one batch, differentiates it with respect to every parameter
// and reports per-parameter gradient norms, the parameters whose gradient is exactly zero,
// and the raw alpha_logit gradients. It shares one backward pass with TrainInferenceParity
// on the same windows (see trainPass).
func GradientFlow(s *Subject, w *Windows) (GradFlow, error) {
	tp, err := s.trainPass(w)
	if err != nil {
		return GradFlow{}, err
	}
	return tp.gf, nil
}

// trainResult is what one training-graph pass over a set of windows measures: the gradient
// flow and the train/inference parity.
type trainResult struct {
	gf  GradFlow
	par Parity
}

// trainPassElems bounds the logits of the training-graph pass in the diagnosis (positions ×
// vocabulary): its backward pass holds several arrays of that size at once, so on GPT-2's
// vocabulary it takes one 256-token window instead of two (the windows are whole: at least one).
const trainPassElems = 16 << 20

// trainPass runs (or returns the cached) training-graph pass of w: one forward and backward
// pass of the training objective whose outputs are the loss, the logits (compared with the
// inference path's at once and not kept) and four scalars per parameter gradient, so its
// memory is the weights, their gradients and one batch's activations.
func (s *Subject) trainPass(w *Windows) (tr *trainResult, err error) {
	if s.cache.tw == w && s.cache.tr != nil {
		return s.cache.tr, nil
	}
	defer catch(&err)
	gomlxmodel.InstallDotGeneralGradient()
	r, err := s.engine()
	if err != nil {
		return nil, err
	}
	c, v := s.Config, s.Variant
	nano := s.IsNanoscope()
	if !nano {
		v = config.Variant{Optimizer: "adamw"}
	}
	var names []string
	targets := w.Targets(s.targetShift())
	objective := gomlxmodel.TrainingObjective(r.family)
	exec, err := model.NewExec(r.backend, r.ctx.Store(), func(ctx *model.Scope, ids, tg *Node) []*Node {
		obj := objective.WithGradients(ctx, ids, tg, nil)
		names = obj.Names
		outs := []*Node{ConvertDType(obj.Loss, dtypes.Float32), ConvertDType(obj.Logits, dtypes.Float32)}
		for _, g := range obj.Grads {
			g = ConvertDType(g, dtypes.Float32)
			nz := ReduceAllSum(ConvertDType(NotEqual(g, ScalarZero(g.Graph(), g.DType())), dtypes.Float32))
			outs = append(outs, ReduceAllSum(Square(g)), ReduceAllMax(Abs(g)), nz, Reshape(ReduceAllSum(g)))
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	done := gomlxmodel.TraceGraph("training graph %dx%d", len(w.Inputs), len(w.Inputs[0]))
	outs, err := exec.Exec(idsTensor(w.Inputs), idsTensor(targets))
	done()
	if err != nil {
		return nil, err
	}
	trainLogits, err := tensors.CopyFlatData[float32](outs[1])
	if err != nil {
		return nil, err
	}
	outs[1].FinalizeAll()
	infer, err := r.logits(w.Inputs) // after the backward pass, so the two never share memory
	if err != nil {
		return nil, err
	}
	tr = &trainResult{}
	if tr.par, err = parity(r, w, trainLogits, infer, s.dims().VocabSize); err != nil {
		return nil, err
	}
	trainLogits, infer = nil, nil
	f := func(t *tensors.Tensor) float64 { return float64(tensors.ToScalar[float32](t)) }
	gf := GradFlow{Windows: len(w.Inputs), TargetShift: s.targetShift(), Loss: f(outs[0]), Dead: []string{}}
	var sumSq float64
	for i, n := range names {
		o := outs[2+4*i:]
		sumSq += f(o[0])
		p := s.Params[n]
		var wss float64
		for _, x := range p.Data {
			wss += float64(x) * float64(x)
		}
		pg := ParamGrad{Name: n, Size: len(p.Data), GradNorm: math.Sqrt(f(o[0])), GradMaxAbs: f(o[1]),
			WeightNorm: math.Sqrt(wss), NonZero: int(f(o[2])), Optimizer: optimizerOf(v, n)}
		pg.Dead = pg.NonZero == 0
		pg.Ratio = ratio(pg.GradNorm, pg.WeightNorm)
		switch {
		case !nano: // the learning rate of another family's run is not known
		case pg.Optimizer == "muon":
			rows, cols := p.Shape[0], p.Shape[1]
			scale := 1.0
			if rows > cols {
				scale = math.Sqrt(float64(rows) / float64(cols))
			}
			if pg.NonZero > 0 {
				pg.NominalUpdateRatio = ratio(c.LR*scale*math.Sqrt(float64(min(rows, cols))), pg.WeightNorm)
			}
		case pg.Optimizer == "lion":
			pg.NominalUpdateRatio = ratio(c.MHCLR*math.Sqrt(float64(pg.NonZero)), pg.WeightNorm)
		default:
			pg.NominalUpdateRatio = ratio(c.LR*math.Sqrt(float64(pg.NonZero)), pg.WeightNorm)
		}
		if pg.Dead {
			gf.Dead = append(gf.Dead, n)
		}
		if gomlxmodel.IsAlphaLogit(n) {
			if gf.AlphaGrads == nil {
				gf.AlphaGrads = map[string]float64{}
			}
			gf.AlphaGrads[n] = f(o[3])
		}
		gf.Params = append(gf.Params, pg)
	}
	tr.gf = gf
	tr.par.GradNorm = math.Sqrt(sumSq)
	s.cache.tw, s.cache.tr = w, tr
	return tr, nil
}

// RunGradFlow is the gradient flow of a training run from its metrics.jsonl.
type RunGradFlow struct {
	Steps []int `json:"steps"`
	// Params holds each parameter's gradient-norm series (before clipping) and, in
	// ZeroSteps, at how many logged steps it was exactly 0.
	Params []GradSeries `json:"params"`
	// DeadThroughout lists the parameters whose gradient norm was exactly 0 at every step.
	DeadThroughout []string `json:"dead_throughout"`
	// GlobalNorm is the global gradient norm before clipping.
	GlobalNorm Series `json:"global_norm"`
	// UpdateRatios holds each parameter's ‖Δw‖/‖w‖ per logged step (empty for runs logged
	// before the trainer recorded it).
	UpdateRatios []Series `json:"update_ratios"`
}

// GradSeries is one parameter's gradient norm over the run.
type GradSeries struct {
	Series
	ZeroSteps int `json:"zero_steps"`
}

// RunGradientFlow extracts per-parameter gradient-norm series from a run's metrics.
func RunGradientFlow(ms []metrics.Record) (RunGradFlow, error) {
	steps := trainSteps(ms)
	if len(steps) == 0 {
		return RunGradFlow{}, fmt.Errorf("metrics hold no training steps")
	}
	out := RunGradFlow{DeadThroughout: []string{}, UpdateRatios: []Series{}}
	var names []string
	for n := range steps[0].GradNorms {
		names = append(names, n)
	}
	names = config.SortedNames(toShapeKeys(names))
	global := make([]float64, len(steps))
	for i, m := range steps {
		out.Steps = append(out.Steps, m.Step)
		global[i] = m.GradNorm
	}
	out.GlobalNorm = newSeries("grad_norm", global)
	for _, n := range names {
		v := make([]float64, len(steps))
		zeros := 0
		for i, m := range steps {
			x, ok := m.GradNorms[n]
			if !ok {
				return RunGradFlow{}, fmt.Errorf("step %d has no grad_norms entry for %s", m.Step, n)
			}
			v[i] = x
			if x == 0 {
				zeros++
			}
		}
		out.Params = append(out.Params, GradSeries{Series: newSeries(n, v), ZeroSteps: zeros})
		if _, ok := steps[0].UpdateRatios[n]; ok {
			u := make([]float64, len(steps))
			for i, m := range steps {
				u[i] = m.UpdateRatios[n]
			}
			out.UpdateRatios = append(out.UpdateRatios, newSeries(n, u))
		}
		if zeros == len(steps) {
			out.DeadThroughout = append(out.DeadThroughout, n)
		}
	}
	return out, nil
}

func toShapeKeys(names []string) map[string][]int {
	m := make(map[string][]int, len(names))
	for _, n := range names {
		m[n] = nil
	}
	return m
}
