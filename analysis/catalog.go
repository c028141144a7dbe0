package analysis

import (
	"fmt"
	"math"
	"nanoscope/gomlxmodel"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// Offsets are the target offsets the catalog scores: the token at t+k for k = −1 (the previous
// token), 0 (the current one), 1 (the next: what a language model is trained for), 2 and 3.
var Offsets = []int{-1, 0, 1, 2, 3}

// offsetIndex returns the index of offset k in Offsets.
func offsetIndex(k int) int { return slices.Index(Offsets, k) }

// OffsetCE is the cross-entropy (nats) of a model's distribution at position t against the
// token at t+k, for every k of Offsets, over the positions t ≥ 1 of the windows (where every
// offset is defined), on one run of the model: "as loaded" or a condition that changes one
// convention ("no causal mask", "rope interleaved", …).
type OffsetCE struct {
	Condition string `json:"condition"`
	Flips     []Flip `json:"flips,omitempty"` // the conventions changed from the model as loaded
	// Gain and SE compare a run of the convention search with the run it was searched from
	// (search.go), EarlyGain and EarlySE on the first quarter of each window; 0 for the others.
	Gain      float64   `json:"gain_nats,omitempty"`
	SE        float64   `json:"se,omitempty"`
	EarlyGain float64   `json:"early_gain_nats,omitempty"`
	EarlySE   float64   `json:"early_se,omitempty"`
	CE        []float64 `json:"ce"` // by Offsets
	// Best is the offset of the lowest CE; BestCE that CE.
	Best   int     `json:"best_offset"`
	BestCE float64 `json:"best_ce"`
	perPos [][]float64
	seqLen int // T of the windows: perPos holds positions 1…T−1 of each window in turn
}

// Catalog holds the measurements the fault catalog decides from (one file per kind:
// finding_*.go). Losses are plain cross-entropy in nats.
type Catalog struct {
	Positions int   `json:"positions"`
	Offsets   []int `json:"offsets"`
	// Unigram is the cross-entropy of the data's own unigram distribution on it: what a
	// context-free model achieves.
	Unigram  float64  `json:"unigram_ce"`
	AsLoaded OffsetCE `json:"as_loaded"`
	// Search is every candidate of the convention search's screen (search.go); Conditions the
	// candidates confirmed on the catalog's windows, each under its flips.
	Search     []Candidate `json:"search"`
	Conditions []OffsetCE  `json:"conditions"`
	// PositionCE is the CE as loaded at its best offset by position bin, PositionBreak its
	// largest rise with position, LensDepth the logit lens's check (earned.go).
	PositionCE    []PositionBin `json:"position_ce"`
	PositionBreak PositionBreak `json:"position_break"`
	// Residual is PositionBreak under the best run of the search that holds, re-run on all the
	// windows (nil when none holds): a convention that explains the fault earns health there.
	Residual *PositionBreak `json:"residual_position_break,omitempty"`
	// Copies are the runs of weight rows that repeat others bit for bit (copiesOf).
	Copies []Copy `json:"copies,omitempty"`
	// Zeros are the runs of adjacent all-zero rows or columns of matrices that moved (zeroRuns).
	Zeros []ZeroRun `json:"zeros,omitempty"`
	// Grids are the matrices whose values sit on a coarse grid (coarseGrids).
	Grids []Grid `json:"grids,omitempty"`
	// Sparse are the matrices with a share of exact zeros (sparseMatrices).
	Sparse []Sparse `json:"sparse,omitempty"`
	// Flattened is the best run of the search that holds, re-run with its attention scores ×0.8
	// (flattenedRun), with its gain over that run.
	Flattened *OffsetCE `json:"flattened,omitempty"`
	// Ablated is the best run of the search, when it rearranges, re-run with the rearranged
	// indices zeroed (ablatedRun), with its gain over the model as loaded.
	Ablated   *OffsetCE `json:"ablated,omitempty"`
	LensDepth LensDepth `json:"lens_depth"`
	// ScaleFit is the scale refit (scalefit.go) as loaded, run on a checkpoint nothing else
	// flags; FixedScaleFit the refit under the best run of the search that holds, run when that
	// run makes a finding.
	ScaleFit      *ScaleFit `json:"scale_fit,omitempty"`
	FixedScaleFit *ScaleFit `json:"fixed_scale_fit,omitempty"`
	// ScaleRival compares a convention the search names with the scale refit as loaded, on the
	// refit's held-out positions (scaleRival); nil unless a convention is named.
	ScaleRival *ScaleRival `json:"scale_rival,omitempty"`
	// ContextMI is the mean over positions of KL(p_t ‖ p̄), p̄ the mean predicted distribution:
	// how much the prediction depends on the context (0 for a context-free model), in nats.
	ContextMI float64 `json:"context_mi"`
	// SelfSimShare is the share of positions whose top logit is within 1% of the current
	// token's self logit (Alignment.SelfSimilarity): near 1, the output is the input embedding
	// scored by a tied head — the signature of blocks that carry no training.
	SelfSimShare float64 `json:"self_sim_share"`
	// TopShare is the share of positions whose argmax is the most frequent argmax.
	TopShare float64 `json:"top_share"`
	// MeasuredSmoothed is the label-smoothed objective at the trained offset (meta.json's
	// loss is in it); ClaimedLoss meta.json's, 0 when not recorded.
	MeasuredSmoothed float64 `json:"measured_smoothed"`
	// MeasuredCE is the plain CE at the trained offset: a claim is compared with the lower of
	// the two, since another implementation may log either.
	MeasuredCE  float64 `json:"measured_ce"`
	ClaimedLoss float64 `json:"claimed_loss"`
	// MaxAbsActivation is the largest |x| over the hooks and the logits, at MaxActivationHook.
	MaxAbsActivation  float64 `json:"max_abs_activation"`
	MaxActivationHook string  `json:"max_activation_hook"`
	// Padded is the probability the model puts on the ids past its real vocabulary when its
	// rows there are padding that stays in the softmax (Subject.PaddedVocab; nil otherwise).
	Padded *PaddedMass `json:"padded,omitempty"`
	// Traces are the per-tensor untrained tests, Swaps the confirmations by replacement.
	Traces []TensorTrace `json:"traces"`
	// Edits are the edits of the placement search the search re-ran, with their priors.
	Edits []Edit `json:"placement_edits"`
	// heldOut is AsLoaded on the windows the search confirms on (those after its screen's):
	// what Conditions are compared with.
	heldOut OffsetCE
	// confirm are the windows heldOut and Conditions ran on.
	confirm *Windows
	// InitLike are the randomly initialised tensors indistinguishable from the family's
	// initialiser (Drift) while others moved: the candidates of a partial load.
	InitLike []string          `json:"init_like_tensors"`
	initOf   map[string]string // each tensor's initialiser, as Drift names it
	Swaps    []Swap            `json:"swaps"`
	// heads are the tensors of the output head: lm_head and the token embedding a tied head
	// reads (the family's Spec).
	heads []string
}

// offsetCE scores logits (per window, (T, V) row-major) against w.Span at every offset.
func offsetCE(cond string, logits [][]float32, w *Windows, V int) (OffsetCE, error) {
	if w.Span == nil {
		return OffsetCE{}, fmt.Errorf("windows carry no span of following tokens")
	}
	o := OffsetCE{Condition: cond, CE: make([]float64, len(Offsets)), perPos: make([][]float64, len(Offsets))}
	for k, lg := range logits {
		T := len(lg) / V
		o.seqLen = T
		for t := 1; t < T; t++ {
			row := lg[t*V : (t+1)*V]
			lse := LogSumExp(row)
			for i, off := range Offsets {
				ce := lse - float64(row[w.Span[k][t+off]])
				o.perPos[i] = append(o.perPos[i], ce)
			}
		}
	}
	o.summarise()
	return o, nil
}

// summarise sets CE, Best and BestCE from the per-position values.
func (o *OffsetCE) summarise() {
	for i := range Offsets {
		o.CE[i] = stat.Mean(o.perPos[i], nil)
	}
	bi := 0
	for i, ce := range o.CE {
		if ce < o.CE[bi] {
			bi = i
		}
	}
	o.Best, o.BestCE = Offsets[bi], o.CE[bi]
}

// at returns the CE at offset k and its per-position values.
func (o OffsetCE) at(k int) (float64, []float64) {
	i := offsetIndex(k)
	return o.CE[i], o.perPos[i]
}

// pairedDelta is the mean of b − a over paired per-position values and its standard error
// (gonum's stat.MeanStdDev / √n).
func pairedDelta(a, b []float64) (mean, se float64) {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = b[i] - a[i]
	}
	m, sd := stat.MeanStdDev(d, nil)
	return m, sd / math.Sqrt(float64(len(d)))
}

// contextDependence returns mean_t KL(p_t ‖ p̄) and the share of positions whose argmax is the
// most frequent one.
func contextDependence(logits [][]float32, V int) (mi, topShare float64) {
	mean := make([]float64, V)
	var probs [][]float64
	argmax := map[int]int{}
	for _, lg := range logits {
		for t := 0; t < len(lg)/V; t++ {
			row := lg[t*V : (t+1)*V]
			lse := LogSumExp(row)
			p := make([]float64, V)
			best := 0
			for v, x := range row {
				p[v] = math.Exp(float64(x) - lse)
				mean[v] += p[v]
				if x > row[best] {
					best = v
				}
			}
			argmax[best]++
			probs = append(probs, p)
		}
	}
	n := float64(len(probs))
	for v := range mean {
		mean[v] /= n
	}
	for _, p := range probs {
		mi += stat.KullbackLeibler(p, mean)
	}
	top := 0
	for _, c := range argmax {
		top = max(top, c)
	}
	return mi / n, float64(top) / n
}

// MeasureCatalog takes the catalog's measurements of s on the windows w (made by
// SampleWindows), with the data's unigram CE and the gradient flow gf; the per-tensor tests use
// the first windows, head, and the convention search (search.go) screens on its first windows
// and confirms on the rest.
func MeasureCatalog(s *Subject, w, head *Windows, unigram float64, gf GradFlow) (*Catalog, error) {
	pr, err := s.probe(w)
	if err != nil {
		return nil, err
	}
	V := s.dims().VocabSize
	cat := &Catalog{Offsets: Offsets, Unigram: unigram, heads: []string{gomlxmodel.ParamLMHead, s.spec().Head, s.spec().Embed}}
	if cat.AsLoaded, err = offsetCE("as loaded", pr.logits, w, V); err != nil {
		return nil, err
	}
	cat.Positions = len(cat.AsLoaded.perPos[0])
	cat.PositionCE = positionBins(cat.AsLoaded, cat.AsLoaded.Best, len(w.Inputs[0]))
	cat.PositionBreak = positionBreak(cat.PositionCE)
	cat.ContextMI, cat.TopShare = contextDependence(pr.logits, V)
	if s.PaddedVocab > 0 && s.PaddedVocab < V {
		cat.Padded = paddedMass(pr.logits, s.PaddedVocab, V)
	}
	for h, x := range pr.actMax {
		if x > cat.MaxAbsActivation || (x == cat.MaxAbsActivation && h < cat.MaxActivationHook) {
			cat.MaxAbsActivation, cat.MaxActivationHook = x, h
		}
	}
	cat.Copies = copiesOf(s.Params, cat.heads)
	cat.Zeros = zeroRuns(s.Params, cat.heads, unitInputs(s.spec()))
	cat.Sparse = sparseMatrices(s.Params, cat.heads)
	if !s.IsNanoscope() { // BitLinear quantizes in its forward: latent weights on a grid are no fault
		cat.Grids = coarseGrids(s.Params, nil)
	}
	var dirs map[string]directions
	if cat.Traces, dirs, err = tensorTraces(s, head, gf); err != nil {
		return nil, err
	}
	// An untrained draw has no convention to recover: the search is skipped (weights_untrained).
	if all, _ := allUntrained(cat); !all {
		cat.Edits = placementEdits(s, cat.Traces, dirs)
		arranged, err := arrangementEdits(s, arrangementWindows(w))
		if err != nil {
			return nil, err
		}
		cat.Edits = append(cat.Edits, arranged...)
		if cat.Search, cat.Conditions, cat.heldOut, cat.confirm, err = searchConventions(s, w, cat.AsLoaded, unigram, cat.Edits); err != nil {
			return nil, err
		}
		if cat.Residual, err = residualBreak(s, cat, w); err != nil {
			return nil, err
		}
		if cat.Flattened, err = flattenedRun(s, cat); err != nil {
			return nil, err
		}
		if cat.Ablated, err = ablatedRun(s, cat); err != nil {
			return nil, err
		}
	}
	// The label-smoothed objective at the offset the model was trained for (meta.json's).
	if s.Meta != nil {
		cat.ClaimedLoss = s.Meta.Loss
	}
	cat.MeasuredSmoothed = smoothedAt(pr.logits, w, V, s.targetShift())
	cat.MeasuredCE, _ = cat.AsLoaded.at(s.targetShift())
	return cat, nil
}

// batchedLogits runs logits over the windows in batches bounded like the probe's.
func batchedLogits(run func([][]int32) ([]float32, error), w *Windows, V int) ([][]float32, error) {
	T := len(w.Inputs[0])
	bs := max(1, min(len(w.Inputs), probeBatchElems/(T*V)))
	var out [][]float32
	for start := 0; start < len(w.Inputs); start += bs {
		end := min(start+bs, len(w.Inputs))
		lg, err := run(w.Inputs[start:end])
		if err != nil {
			return nil, err
		}
		for k := 0; k < end-start; k++ {
			out = append(out, lg[k*T*V:(k+1)*T*V])
		}
	}
	return out, nil
}

// smoothedAt is the label-smoothed objective 0.9·CE + 0.1·(−mean_v log p_v) against the targets
// at offset k, over every position of the windows.
func smoothedAt(logits [][]float32, w *Windows, V, k int) float64 {
	var sum float64
	n := 0
	for i, lg := range logits {
		T := len(lg) / V
		for t := 0; t < T; t++ {
			row := lg[t*V : (t+1)*V]
			lse := LogSumExp(row)
			var mean float64
			for _, x := range row {
				mean += float64(x)
			}
			mean /= float64(V)
			sum += 0.9*(lse-float64(row[w.Span[i][t+k]])) + 0.1*(lse-mean)
			n++
		}
	}
	return sum / float64(n)
}

// PaddedMass is the softmax probability on the padded ids [Real, V) over the evaluated
// positions: its mean and maximum, and the share of positions whose argmax is a padded id.
type PaddedMass struct {
	Real         int     `json:"real_vocab"`
	Padded       int     `json:"padded_ids"`
	Mean         float64 `json:"mean"`
	Max          float64 `json:"max"`
	ArgmaxShare  float64 `json:"argmax_share"`
	UniformShare float64 `json:"uniform_share"` // (V − Real)/V: the mass of a uniform distribution
}

func paddedMass(logits [][]float32, real, V int) *PaddedMass {
	p := &PaddedMass{Real: real, Padded: V - real, UniformShare: float64(V-real) / float64(V)}
	n := 0
	for _, win := range logits {
		for t := 0; t+V <= len(win); t += V {
			row := win[t : t+V]
			lse := LogSumExp(row)
			var mass float64
			arg := 0
			for j, x := range row {
				if x > row[arg] {
					arg = j
				}
				if j >= real {
					mass += math.Exp(float64(x) - lse)
				}
			}
			p.Mean += mass
			p.Max = max(p.Max, mass)
			if arg >= real {
				p.ArgmaxShare++
			}
			n++
		}
	}
	if n > 0 {
		p.Mean /= float64(n)
		p.ArgmaxShare /= float64(n)
	}
	return p
}
