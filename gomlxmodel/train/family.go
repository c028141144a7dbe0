package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// FamilyOptions configure TrainFamily: plain AdamW on the cross-entropy, as a user of
// transformers would train a GPT-2 or a Llama.
type FamilyOptions struct {
	Steps     int
	BatchSize int
	SeqLen    int
	LR        float64 // peak learning rate, after a linear warmup over the first 10 % of the steps
	WD        float64 // decoupled weight decay
	GradClip  float64 // global gradient-norm clip; 0 for none
	// TargetShift is the offset of the target: 1 is next-token prediction; 0 trains copying;
	// 2 is the "labels shifted twice" mistake (labels pre-shifted by the user, then shifted
	// again inside transformers' loss).
	TargetShift int
	Seed        int64
}

// TrainFamily trains f from weights p on random windows of tokens and returns the trained
// weights and the cross-entropy of every step. It runs f under its conventions as given (a
// Llama with RopePairing interleaved trains that way), which is how the tests build the
// checkpoints of the fault catalog for the families.
func TrainFamily(f gomlxmodel.Family, p gomlxmodel.Params, tokens []int32, o FamilyOptions) (_ gomlxmodel.Params, losses []float64, err error) {
	switch {
	case o.Steps <= 0 || o.BatchSize <= 0 || o.SeqLen <= 0:
		return nil, nil, fmt.Errorf("train %s: steps, batch size and sequence length must be positive", f.Arch())
	case o.TargetShift < 0 || len(tokens) < o.SeqLen+o.TargetShift+1:
		return nil, nil, fmt.Errorf("train %s: %d tokens are too few for windows of %d with target shift %d", f.Arch(), len(tokens), o.SeqLen, o.TargetShift)
	case f.Dims().MaxSeq > 0 && o.SeqLen > f.Dims().MaxSeq:
		return nil, nil, fmt.Errorf("train %s: sequence length %d exceeds the model's %d positions", f.Arch(), o.SeqLen, f.Dims().MaxSeq)
	}
	if err := gomlxmodel.CheckIDs([][]int32{tokens}, f.Dims().VocabSize); err != nil {
		return nil, nil, fmt.Errorf("train %s: %w", f.Arch(), err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("train %s: %v", f.Arch(), r)
		}
	}()
	gomlxmodel.InstallDotGeneralGradient()
	backend, err := gomlxmodel.NewBackend()
	if err != nil {
		return nil, nil, err
	}
	ctx, err := gomlxmodel.NewFamilyScope(f, p)
	if err != nil {
		return nil, nil, err
	}
	specs := f.ParamSpecs()
	for _, s := range specs {
		n := len(p[s.Name].Data)
		for _, st := range []string{"adam_m", "adam_v"} {
			ctx.Store().VariableWithValue(model.JoinPath("/opt/"+s.Name, st), tensors.FromFlatDataAndDimensions(make([]float32, n), s.Shape...)).SetTrainable(false)
		}
	}
	exec, err := model.NewExec(backend, ctx.Store(), func(ctx *model.Scope, ids, targets, lr, stepT *Node) *Node {
		obj := gomlxmodel.Objective{Family: f}.WithGradients(ctx, ids, targets, nil) // plain cross-entropy
		names, vars, values, ce, grads := obj.Names, obj.Vars, obj.Values, obj.CE, obj.Grads
		if o.GradClip > 0 {
			sumSq := ScalarZero(ids.Graph(), ce.DType())
			for _, gr := range grads {
				sumSq = Add(sumSq, ReduceAllSum(Square(gr)))
			}
			norm := Sqrt(sumSq)
			scale := Min(OnesLike(norm), Div(Scalar(ids.Graph(), norm.DType(), o.GradClip), AddScalar(norm, 1e-6)))
			for i := range grads {
				grads[i] = Mul(grads[i], scale)
			}
		}
		for i, name := range names {
			vars[i].SetNodeValue(adamwUpdate(ctx, name, values[i], grads[i], lr, stepT, o.WD))
		}
		return ce
	})
	if err != nil {
		return nil, nil, err
	}
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	warmup := max(1, o.Steps/10)
	ids := make([]int32, o.BatchSize*o.SeqLen)
	targets := make([]int32, o.BatchSize*o.SeqLen)
	for step := 1; step <= o.Steps; step++ {
		for b := 0; b < o.BatchSize; b++ {
			start := rng.IntN(len(tokens) - o.SeqLen - o.TargetShift)
			copy(ids[b*o.SeqLen:], tokens[start:start+o.SeqLen])
			copy(targets[b*o.SeqLen:], tokens[start+o.TargetShift:start+o.TargetShift+o.SeqLen])
		}
		lr := o.LR * math.Min(1, float64(step)/float64(warmup))
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(ids, o.BatchSize, o.SeqLen),
			tensors.FromFlatDataAndDimensions(targets, o.BatchSize, o.SeqLen), float32(lr), float32(step))
		if err != nil {
			return nil, nil, err
		}
		ce := float64(tensors.ToScalar[float32](res[0]))
		if math.IsNaN(ce) || math.IsInf(ce, 0) {
			return nil, losses, fmt.Errorf("train %s: non-finite loss at step %d", f.Arch(), step)
		}
		losses = append(losses, ce)
	}
	out := gomlxmodel.Params{}
	for _, s := range specs {
		scope, vn := gomlxmodel.ScopeAndName(s.Name)
		val, err := ctx.Store().GetVariable(model.JoinPath(scope, vn)).Value()
		if err != nil {
			return nil, nil, err
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return nil, nil, err
		}
		out[s.Name] = checkpoint.Tensor{Shape: append([]int{}, s.Shape...), Data: data}
	}
	return out, losses, nil
}
