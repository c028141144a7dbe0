package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"

	"nanoscope/gomlxmodel"
)

// The scale refit. Training settles the overall scale and sign of every tensor early — they are
// the easiest directions of the loss — so a checkpoint run as it was trained sits near the
// loss-optimal scale of each tensor, and refitting one scalar per tensor (W → s·W) gains it
// nothing on positions the refit did not see. A fault that rescales or negates tensors between
// training and the inference path (a value projection saved ×¼, an MLP output or a key
// projection negated, a norm read as 1 + w) leaves scales the loss would move: the refit
// recovers part of the loss where no convention of the family's space is that scale, so the
// convention search cannot name it. It runs on a checkpoint nothing else flags (Diagnose); a
// held-out gain by the margin makes it unexplained, with the tensors that moved most
// (earned.go).

// TensorScale is one tensor's fitted scale and the held-out gain of that scale alone (nats,
// paired standard error).
type TensorScale struct {
	Tensor string  `json:"tensor"`
	Scale  float64 `json:"scale"`
	Gain   float64 `json:"gain_nats"`
	SE     float64 `json:"se"`
}

// ScaleFit is the scale refit of a checkpoint: the positions it was fitted on (the first half of
// the diagnosis's windows) and scored on (the second half; widened when the gain is between
// widenZ and sigmas standard errors), the held-out CE at the trained offset as loaded and under
// every fitted scale with their paired difference, and, when better, the scaleFitMoved tensors
// whose scale moved most (sign changes first, then |log |s||), each scored alone, best first.
type ScaleFit struct {
	FitPositions int           `json:"fit_positions"`
	Positions    int           `json:"positions"`
	Steps        int           `json:"steps"`
	CE           float64       `json:"ce_as_loaded"`
	FittedCE     float64       `json:"ce_fitted"`
	Gain         float64       `json:"gain_nats"`
	SE           float64       `json:"se"`
	Moved        []TensorScale `json:"moved"`
	// Better: the fitted scales predict the held-out positions better by more than
	// max(scaleFitMinNats, sigmas·SE).
	Better bool `json:"better"`
	// held and fitted: the held-out windows and the loss of each of their positions under the
	// fitted scales (nats, as ScaledLoss orders them).
	held   *Windows
	fitted []float64
}

// ScaleRival compares a convention the search names with the scale refit as loaded on the
// refit's held-out positions: Margin is how much lower the refit's CE is than the convention's
// (nats, paired standard error SE); Beats when by more than max(minDeltaNats/2, sigmas·SE).
type ScaleRival struct {
	Convention string  `json:"convention"`
	CE         float64 `json:"ce_convention"`
	FittedCE   float64 `json:"ce_fitted"`
	Margin     float64 `json:"margin_nats"`
	SE         float64 `json:"se"`
	Beats      bool    `json:"beats"`
}

// scaleRival scores the subject under the flips of best (a convention, no edit) on the held-out
// windows of the refit f as loaded, against the refit's fitted scales. A model trained under that
// convention is run by it as training left it, and one scalar per tensor recovers no more; a
// convention that only offsets a fault in the tensors' scales (biases summed over tensor-parallel
// ranks, ×4, partly drowned by an embedding scaled ×√d) is beaten by the scales themselves.
func scaleRival(s *Subject, f *ScaleFit, best *OffsetCE) (*ScaleRival, error) {
	if f == nil || f.held == nil || best == nil {
		return nil, nil
	}
	fixed, err := underFlips(s, best.Flips)
	if err != nil {
		return nil, err
	}
	r, err := fixed.Runner()
	if err != nil {
		return nil, err
	}
	conv, _, err := scaledLoss(r, f.held, fixed.targetShift(), nil)
	if err != nil {
		return nil, err
	}
	out := &ScaleRival{Convention: best.Condition, CE: stat.Mean(conv, nil), FittedCE: stat.Mean(f.fitted, nil)}
	out.Margin, out.SE = pairedDelta(f.fitted, conv)
	out.Beats = out.Margin > max(minDeltaNats/2, sigmas*out.SE)
	return out, nil
}

// scaledLoss runs the windows u through r in batches under scales x (nil: every scale 1): the
// loss of each position against the targets of shift (nats, as ScaledLoss orders them) and the
// gradient of their mean with respect to each scale.
func scaledLoss(r *gomlxmodel.FamilyRunner, u *Windows, shift int, x []float64) (nll []float64, grad []float64, err error) {
	if x == nil {
		x = make([]float64, len(r.Family.ParamSpecs()))
		for i := range x {
			x[i] = 1
		}
	}
	T, V := len(u.Inputs[0]), r.Family.Dims().VocabSize
	bs := max(1, min(len(u.Inputs), trainPassElems/(T*V)))
	grad = make([]float64, len(x))
	tg := u.Targets(shift)
	for start := 0; start < len(u.Inputs); start += bs {
		end := min(start+bs, len(u.Inputs))
		l, g, err := r.ScaledLoss(u.Inputs[start:end], tg[start:end], x)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range l {
			nll = append(nll, float64(v))
		}
		for i := range g {
			grad[i] += g[i] * float64(end-start) / float64(len(u.Inputs))
		}
	}
	return nll, grad, nil
}

// RunScaleFit fits and scores the scale refit of s on the windows w: full-batch Adam (β = 0.9,
// 0.99) on the scales, at most scaleFitSteps steps of scaleFitLR from 1, on the plain next-token
// cross-entropy of the first half of the windows, stopping once scaleFitStallSteps steps gained
// less than scaleFitStallNats there; a scale that would come within scaleFitMinAbs of 0 steps
// over it to the other sign. nil when w holds one window.
func RunScaleFit(s *Subject, w *Windows) (*ScaleFit, error) {
	if len(w.Inputs) < 2 {
		return nil, nil
	}
	r, err := s.Runner()
	if err != nil {
		return nil, err
	}
	fit, held := w.Head(len(w.Inputs)/2), w.tail(len(w.Inputs)/2)
	shift := s.targetShift()
	specs := s.Family.ParamSpecs()
	ones := make([]float64, len(specs))
	for i := range ones {
		ones[i] = 1
	}
	loss := func(u *Windows, x []float64) ([]float64, []float64, error) { return scaledLoss(r, u, shift, x) }
	x := slices.Clone(ones)
	m, v := make([]float64, len(x)), make([]float64, len(x))
	const b1, b2 = 0.9, 0.99
	var fitCE []float64 // the fit windows' CE before each step
	steps := 0
	for step := 1; step <= scaleFitSteps; step++ {
		l, g, err := loss(fit, x)
		if err != nil {
			return nil, err
		}
		if fitCE = append(fitCE, stat.Mean(l, nil)); step > scaleFitStallSteps && fitCE[step-1-scaleFitStallSteps]-fitCE[step-1] < scaleFitStallNats {
			break // stalled: the scales sit at the fit windows' optimum
		}
		steps = step
		for i := range x {
			m[i] = b1*m[i] + (1-b1)*g[i]
			v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
			mh, vh := m[i]/(1-math.Pow(b1, float64(step))), v[i]/(1-math.Pow(b2, float64(step)))
			next := x[i] - scaleFitLR*mh/(math.Sqrt(vh)+1e-12)
			if math.Abs(next) < scaleFitMinAbs {
				next = math.Copysign(scaleFitMinAbs, next-x[i])
			}
			x[i] = next
		}
	}
	// gain scores scales y against the checkpoint as loaded on u, with the per-position losses
	// under y.
	bases := map[*Windows][]float64{}
	gain := func(u *Windows, y []float64) (g, se, ce float64, got []float64, err error) {
		base, ok := bases[u]
		if !ok {
			if base, _, err = loss(u, ones); err != nil {
				return 0, 0, 0, nil, err
			}
			bases[u] = base
		}
		if got, _, err = loss(u, y); err != nil {
			return 0, 0, 0, nil, err
		}
		g, se = pairedDelta(got, base)
		return g, se, stat.Mean(base, nil), got, nil
	}
	out := ScaleFit{FitPositions: fit.Positions(), Steps: steps, held: held}
	if out.Gain, out.SE, out.CE, out.fitted, err = gain(held, x); err != nil {
		return nil, err
	}
	if z := out.Gain / out.SE; z >= widenZ && z < sigmas {
		if more := w.wider(widenFactor, w); more != nil && len(more.Inputs) > len(held.Inputs) {
			held, out.held = more, more
			if out.Gain, out.SE, out.CE, out.fitted, err = gain(held, x); err != nil {
				return nil, err
			}
		}
	}
	out.Positions, out.FittedCE = held.Positions(), out.CE-out.Gain
	out.Better = out.Gain > max(scaleFitMinNats, sigmas*out.SE)
	if out.Better {
		order := make([]int, len(x))
		for i := range order {
			order[i] = i
		}
		far := func(s float64) float64 { return math.Abs(math.Log(math.Abs(s))) + map[bool]float64{true: 100}[s < 0] }
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(far(x[b]), far(x[a])) })
		for _, i := range order[:min(scaleFitMoved, len(order))] {
			alone := slices.Clone(ones)
			alone[i] = x[i]
			t := TensorScale{Tensor: specs[i].Name, Scale: x[i]}
			if t.Gain, t.SE, _, _, err = gain(held, alone); err != nil {
				return nil, err
			}
			out.Moved = append(out.Moved, t)
		}
		slices.SortStableFunc(out.Moved, func(a, b TensorScale) int { return cmp.Compare(b.Gain, a.Gain) })
	}
	return &out, nil
}

// movedSummary names the first three tensors of moved with their fitted scales and gains alone.
func movedSummary(moved []TensorScale) string {
	var out []string
	for _, t := range moved[:min(3, len(moved))] {
		out = append(out, fmt.Sprintf("%s ×%.2f (alone %+.3f ± %.3f)", t.Tensor, t.Scale, t.Gain, t.SE))
	}
	return strings.Join(out, ", ")
}
