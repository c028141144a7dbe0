package analysis

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
)

// Parity compares the logits of the same input through the training graph (the trainer's
// objective, gomlxmodel.TrainingObjective, differentiated with respect to every parameter as a
// training step does) and through the inference Runner (H2).
type Parity struct {
	Windows   int `json:"windows"`
	Positions int `json:"positions"`
	// MaxAbsDelta is max |logits_train − logits_infer|; MaxAbsLogit the largest |logit| (for
	// scale); ArgmaxAgreement the share of positions whose argmax agrees.
	MaxAbsDelta     float64 `json:"max_abs_delta"`
	MaxAbsLogit     float64 `json:"max_abs_logit"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
	// MeanAbsDelta is the mean |Δ| over all logits; PositionsOverTol the share of positions
	// with some |Δ| above ParityTolerance: an 8-bit activation rounding that lands on the other
	// side of a boundary because the two graphs sum in a different order moves the logits of a
	// few positions by up to a few tenths (REFERENCE.md §2), a real mismatch moves most of them.
	MeanAbsDelta     float64 `json:"mean_abs_delta"`
	PositionsOverTol float64 `json:"positions_over_tol"`
	// GradNorm is the global gradient norm the training graph computed (proof that the
	// backward pass was built).
	GradNorm float64 `json:"grad_norm"`
	// Noise is the same comparison between two runs of the inference path itself: the windows
	// as one batch against one window at a time — the same function compiled for another
	// shape, so only the arithmetic's rounding differs (summation order, fusion, and on a GPU
	// the TF32 products XLA uses for float32 by default). It is the floor under which a
	// train/inference difference is rounding, whatever the backend and precision.
	Noise ParityNoise `json:"noise"`
}

// ParityNoise is the rounding floor of Parity: max and mean |Δlogit| and argmax agreement
// between the inference path on a batch and on its windows one at a time.
type ParityNoise struct {
	MaxAbsDelta     float64 `json:"max_abs_delta"`
	MeanAbsDelta    float64 `json:"mean_abs_delta"`
	ArgmaxAgreement float64 `json:"argmax_agreement"`
}

// ParityTolerance is the largest |Δlogit| at a position that counts as "the same" between the
// training graph and the inference path: float summation order alone moves logits far less.
const ParityTolerance = 1e-3

// TrainInferenceParity runs the windows w through both paths and compares their logits.
func TrainInferenceParity(s *Subject, w *Windows) (p Parity, err error) {
	defer catch(&err)
	gomlxmodel.InstallDotGeneralGradient()
	r, err := s.engine()
	if err != nil {
		return Parity{}, err
	}
	infer, err := r.logits(w.Inputs)
	if err != nil {
		return Parity{}, err
	}
	targets := w.Targets(s.targetShift())
	objective := gomlxmodel.TrainingObjective(r.family)
	exec, err := model.NewExec(r.backend, r.ctx.Store(), func(ctx *model.Scope, ids, tg *Node) []*Node {
		obj := objective.WithGradients(ctx, ids, tg, nil)
		sumSq := ScalarZero(ids.Graph(), obj.Loss.DType())
		for _, g := range obj.Grads {
			sumSq = Add(sumSq, ReduceAllSum(Square(g)))
		}
		return []*Node{ConvertDType(obj.Logits, dtypes.Float32), ConvertDType(Sqrt(sumSq), dtypes.Float32)}
	})
	if err != nil {
		return Parity{}, err
	}
	defer exec.Finalize()
	outs, err := exec.Exec(idsTensor(w.Inputs), idsTensor(targets))
	if err != nil {
		return Parity{}, err
	}
	trainLogits, err := tensors.CopyFlatData[float32](outs[0])
	if err != nil {
		return Parity{}, err
	}
	p = Parity{Windows: len(w.Inputs), Positions: w.Positions(), GradNorm: float64(tensors.ToScalar[float32](outs[1]))}
	V := s.dims().VocabSize
	d := compareLogits(trainLogits, infer, V)
	p.MaxAbsDelta, p.MeanAbsDelta, p.ArgmaxAgreement, p.PositionsOverTol, p.MaxAbsLogit =
		d.maxAbs, d.meanAbs, d.agreement, d.shareOverTol, d.maxAbsB

	single := make([]float32, 0, len(infer))
	for _, win := range w.Inputs {
		l, err := r.logits([][]int32{win})
		if err != nil {
			return Parity{}, err
		}
		single = append(single, l...)
	}
	d = compareLogits(single, infer, V)
	p.Noise = ParityNoise{MaxAbsDelta: d.maxAbs, MeanAbsDelta: d.meanAbs, ArgmaxAgreement: d.agreement}
	return p, nil
}

// logitDiff compares two (positions × V) logit arrays a and b.
type logitDiff struct {
	maxAbs, meanAbs float64 // max and mean |a − b| over all logits
	agreement       float64 // share of positions whose argmax agrees
	shareOverTol    float64 // share of positions with some |a − b| > ParityTolerance
	maxAbsB         float64 // max |b|, for scale
}

func compareLogits(a, b []float32, V int) (d logitDiff) {
	agree, over := 0, 0
	for pos := 0; pos < len(a)/V; pos++ {
		ra, rb := a[pos*V:(pos+1)*V], b[pos*V:(pos+1)*V]
		ia, ib := 0, 0
		posMax := 0.0
		for j := range ra {
			x := math.Abs(float64(ra[j]) - float64(rb[j]))
			posMax = max(posMax, x)
			d.meanAbs += x
			d.maxAbsB = max(d.maxAbsB, math.Abs(float64(rb[j])))
			if ra[j] > ra[ia] {
				ia = j
			}
			if rb[j] > rb[ib] {
				ib = j
			}
		}
		d.maxAbs = max(d.maxAbs, posMax)
		if ia == ib {
			agree++
		}
		if posMax > ParityTolerance {
			over++
		}
	}
	n := float64(len(a) / V)
	d.meanAbs /= float64(len(a))
	d.agreement, d.shareOverTol = float64(agree)/n, float64(over)/n
	return d
}
