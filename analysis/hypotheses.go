package analysis

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/gomlxmodel/checkpoint"
)

// Verdicts.
const (
	Supported  = "supported"
	Refuted    = "refuted"
	Untestable = "untestable"
)

// Hypothesis names, REFERENCE.md §3.
var hypothesisNames = map[string]string{
	"H1": "training-loop bug: the model was trained to reproduce the current token",
	"H2": "train/inference mismatch",
	"H3": "ternary STE too aggressive: quantisation forces quasi-identity blocks",
	"H4": "tied embedding/LM-head self-similarity",
	"H5": "optimizer / degenerate minimum",
	"H6": "the weights in effect at inference are not the trained ones",
	"H7": "alpha_logit never receives gradient",
}

// Verdict is the diagnosis of one hypothesis, with the measurements behind it.
type Verdict struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Verdict  string `json:"verdict"`
	Evidence string `json:"evidence"`
}

// Metrics are the key numbers of a diagnosis. Losses are plain cross-entropy (nats) unless
// named smoothed (the label-smoothed objective meta.json's loss is in); the *_non_repeat
// rates count only positions whose next token differs from the current one.
type Metrics struct {
	CopyRate              float64 `json:"copy_rate"`
	NextTokenAccuracy     float64 `json:"next_token_accuracy"`
	CopyRateNonRepeat     float64 `json:"copy_rate_non_repeat"`
	NextAccuracyNonRepeat float64 `json:"next_token_accuracy_non_repeat"`
	RepeatRate            float64 `json:"repeat_rate"`
	LossShifted           float64 `json:"loss_shifted"`
	LossUnshifted         float64 `json:"loss_unshifted"`
	LossShiftedSmoothed   float64 `json:"loss_shifted_smoothed"`
	LossUnshiftedSmoothed float64 `json:"loss_unshifted_smoothed"`
	// ClaimedLoss is meta.json's loss (the smoothed objective at the last training step).
	ClaimedLoss    float64 `json:"claimed_loss"`
	UnigramEntropy float64 `json:"unigram_entropy"`
	InitLike       bool    `json:"init_like"`
	TensorsMoved   int     `json:"tensors_moved"`
	Tensors        int     `json:"tensors"`
	// SelfSimilarityShare is the share of positions whose top logit is within 1% of the
	// current token's self logit.
	SelfSimilarityShare float64 `json:"self_similarity_share"`
	MeanTopLogit        float64 `json:"mean_top_logit"`
	MeanSelfLogit       float64 `json:"mean_self_logit"`
	ParityMaxAbsDelta   float64 `json:"parity_max_abs_delta"`
	AlphaLogitsAllZero  bool    `json:"alpha_logits_all_zero"`
	AlphaGradsAllZero   bool    `json:"alpha_grads_all_zero"`
	DeadParams          int     `json:"dead_params"`
	LoaderHashesMatch   bool    `json:"loader_hashes_match"`
	// Observation results, present when an observation was given.
	ObservationFileReproduces  *bool `json:"observation_file_reproduces,omitempty"`
	ObservationFreshReproduces *int  `json:"observation_fresh_reproduces,omitempty"`
}

// Details are the instrument results behind a Report.
type Details struct {
	Positions   int               `json:"positions"`
	Windows     int               `json:"windows"`
	Alignment   Alignment         `json:"alignment"`
	Losses      Losses            `json:"losses"`
	Lens        Lens              `json:"lens"`
	ActNorms    ActNorms          `json:"act_norms"`
	Drift       Drift             `json:"drift"`
	GradFlow    GradFlow          `json:"grad_flow"`
	Parity      Parity            `json:"parity"`
	Effect      Effect            `json:"effect"`
	TernaryOff  *Alignment        `json:"ternary_off,omitempty"` // the same weights without quantisation
	Observation *ObservationCheck `json:"observation,omitempty"`
	Run         *RunDetails       `json:"run,omitempty"`
	// AlphaSwap: the same weights with every alpha_logit set to 5.0 (the value before the
	// note's "fix"), compared with the file's on the first windows (mHC only).
	AlphaSwap *AlphaSwap `json:"alpha_swap,omitempty"`
	// MHCSymmetric: every mHC pre/post logit and bias has equal entries for the two streams.
	MHCSymmetric bool `json:"mhc_symmetric"`
	// Catalog holds the measurements the findings are decided from.
	Catalog *Catalog `json:"catalog"`
}

// AlphaSwap compares logits with alpha_logit replaced by AlphaLogit against the file's.
type AlphaSwap struct {
	AlphaLogit  float64 `json:"alpha_logit"`
	Positions   int     `json:"positions"`
	MaxAbsDelta float64 `json:"max_abs_delta"`
	MaxAbsLogit float64 `json:"max_abs_logit"`
}

// RunDetails summarise the run's metrics.jsonl (series without their values).
type RunDetails struct {
	Path     string      `json:"path"`
	Steps    int         `json:"steps"` // logged training steps
	GradFlow RunGradFlow `json:"grad_flow"`
	ActNorms RunActNorms `json:"act_norms"`
}

// Report is the differential diagnosis of a checkpoint.
type Report struct {
	Checkpoint string `json:"checkpoint"`
	// Healthy is false when any finding is a fault (not informational).
	Healthy    bool      `json:"healthy"`
	Findings   []Finding `json:"findings"`
	Metrics    Metrics   `json:"metrics"`
	Hypotheses []Verdict `json:"hypotheses"`
	Summary    string    `json:"summary"`
	Details    Details   `json:"details"`
}

// Options tune Diagnose; the zero value (or nil) gives the defaults.
type Options struct {
	// Positions to evaluate (default 1024), in windows of max_seq_len.
	Positions int
	// FreshSeeds are the seeds of the fresh initialisations the observation is checked
	// against (default 1, 2, 3).
	FreshSeeds []int64
	// MetricsPath is the run's metrics.jsonl (default: metrics.jsonl in the checkpoint
	// directory, when present); NoRunMetrics skips it.
	MetricsPath  string
	NoRunMetrics bool
}

// Thresholds of the verdicts.
const (
	copyThreshold     = 0.5  // copy rate (non-repeat positions) above which the model "copies"
	selfSimThreshold  = 0.5  // share of top ≈ self logit above which output ≈ input embedding
	farBelowNats      = 1.0  // "far below" for losses
	unigramMarginNats = 0.1  // margin below the unigram entropy that shows use of context
	parityRelTol      = 1e-3 // max |Δlogits| relative to max |logit| for "no change"
	// H2 is refuted despite small differences when almost every argmax agrees and only a few
	// positions differ by more than ParityTolerance (8-bit rounding flips; see Parity).
	parityMinAgreement = 0.995
	parityMaxShareOver = 0.05
	ternaryOffWindows  = 4 // windows evaluated with quantisation off
)

// Diagnose runs every instrument on the checkpoint's weights over tokens (ids of the
// checkpoint's vocabulary, checked) and, when observed is given, checks which simulated
// condition reproduces it; it then settles each of H1–H7 from the measured numbers.
func Diagnose(ck *checkpoint.Checkpoint, tokens []uint32, observed *Observed, opts *Options) (*Report, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Positions <= 0 {
		o.Positions = 1024
	}
	if o.FreshSeeds == nil {
		o.FreshSeeds = []int64{1, 2, 3}
	}
	s, err := FromCheckpoint(ck)
	if err != nil {
		return nil, err
	}
	c, v := s.Config, s.Variant
	if err := CheckTokens("token stream", tokens, c.VocabSize); err != nil {
		return nil, err
	}
	w, err := SampleWindows(tokens, c.MaxSeqLen, o.Positions)
	if err != nil {
		return nil, err
	}
	rep := &Report{Checkpoint: ck.Dir}
	d := &rep.Details
	d.Positions, d.Windows = w.Positions(), len(w.Inputs)
	if d.Alignment, err = LogitAlignment(s, w); err != nil {
		return nil, err
	}
	if d.Losses, err = ShiftedLoss(s, w); err != nil {
		return nil, err
	}
	if d.Lens, err = LogitLens(s, w); err != nil {
		return nil, err
	}
	if d.ActNorms, err = ActivationNorms(s, w); err != nil {
		return nil, err
	}
	d.Drift = DriftFromInit(s.Params)
	batch := w.Head(max(1, min(c.BatchSize, len(w.Inputs))))
	if d.GradFlow, err = GradientFlow(s, batch); err != nil {
		return nil, err
	}
	if d.Parity, err = TrainInferenceParity(s, w.Head(min(2, len(w.Inputs)))); err != nil {
		return nil, err
	}
	if d.Effect, err = WeightsInEffect(ck, DirectLoader); err != nil {
		return nil, err
	}
	if v.Ternary {
		v2 := v
		v2.Ternary = false
		s2, err := s.With(v2, s.Params)
		if err != nil {
			return nil, err
		}
		a, err := LogitAlignment(s2, w.Head(ternaryOffWindows))
		if err != nil {
			return nil, err
		}
		d.TernaryOff = &a
	}
	if v.MHC {
		if d.AlphaSwap, err = alphaSwap(s, w.Head(2), 5); err != nil {
			return nil, err
		}
		d.MHCSymmetric = mhcSymmetric(s)
	}
	if observed != nil {
		oc, err := CheckObservation(s, observed, o.FreshSeeds)
		if err != nil {
			return nil, err
		}
		d.Observation = &oc
	}
	if !o.NoRunMetrics {
		path := o.MetricsPath
		if path == "" {
			path = filepath.Join(ck.Dir, "metrics.jsonl")
		}
		ms, err := ReadMetrics(path)
		switch {
		case err == nil && len(trainSteps(ms)) > 0:
			gf, err := RunGradientFlow(ms)
			if err != nil {
				return nil, err
			}
			an := RunActivationNorms(ms)
			stripValues(gf.Params, an.Series, an.Ratios)
			gf.GlobalNorm.Values = nil
			steps := len(gf.Steps)
			an.Steps, gf.Steps = nil, nil
			d.Run = &RunDetails{Path: path, Steps: steps, GradFlow: gf, ActNorms: an}
		case err != nil && !(o.MetricsPath == "" && errors.Is(err, fs.ErrNotExist)):
			return nil, err
		}
	}
	if d.Catalog, err = MeasureCatalog(s, w, UnigramEntropy(tokens), d.GradFlow); err != nil {
		return nil, err
	}
	rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	if needsSwaps(d.Catalog, d.Alignment, rep.Findings, rep.Healthy) {
		if err := RunSwaps(s, w, d.Catalog); err != nil {
			return nil, err
		}
		rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	}
	rep.Metrics = metricsOf(s, tokens, d)
	rep.Metrics.InitLike = findingOf(rep.Findings, KindWeightsUntrained) != nil
	rep.Hypotheses = verdicts(s, d, &rep.Metrics, rep.Findings)
	rep.Summary = summary(s, d, &rep.Metrics, rep.Hypotheses, rep.Findings)
	return rep, nil
}

// alphaSwap runs w with every alpha_logit set to value and compares the logits with the
// subject's.
func alphaSwap(s *Subject, w *Windows, value float32) (*AlphaSwap, error) {
	p := make(map[string]checkpoint.Tensor, len(s.Params))
	for n, t := range s.Params {
		if strings.HasSuffix(n, ".alpha_logit") {
			data := slices.Clone(t.Data)
			for i := range data {
				data[i] = value
			}
			t = checkpoint.Tensor{Shape: t.Shape, Data: data}
		}
		p[n] = t
	}
	s2, err := s.With(s.Variant, p)
	if err != nil {
		return nil, err
	}
	r1, err := s.Runner()
	if err != nil {
		return nil, err
	}
	r2, err := s2.Runner()
	if err != nil {
		return nil, err
	}
	a, err := r1.Logits(w.Inputs)
	if err != nil {
		return nil, err
	}
	b, err := r2.Logits(w.Inputs)
	if err != nil {
		return nil, err
	}
	out := &AlphaSwap{AlphaLogit: float64(value), Positions: w.Positions()}
	for i := range a {
		out.MaxAbsDelta = max(out.MaxAbsDelta, math.Abs(float64(a[i])-float64(b[i])))
		out.MaxAbsLogit = max(out.MaxAbsLogit, math.Abs(float64(a[i])))
	}
	return out, nil
}

// mhcSymmetric reports whether every mHC pre/post parameter has equal entries for both
// streams: then s0 ≡ s1 throughout, and alpha has no effect and no gradient.
func mhcSymmetric(s *Subject) bool {
	for n, t := range s.Params {
		if strings.Contains(n, ".mhc_") && !strings.HasSuffix(n, ".alpha_logit") && len(t.Data) == 2 && t.Data[0] != t.Data[1] {
			return false
		}
	}
	return true
}

// stripValues drops the per-step values from run series (the report keeps the summaries).
func stripValues(gs []GradSeries, ss ...[]Series) {
	for i := range gs {
		gs[i].Values = nil
	}
	for _, s := range ss {
		for i := range s {
			s[i].Values = nil
		}
	}
}

func metricsOf(s *Subject, tokens []uint32, d *Details) Metrics {
	a, l := d.Alignment, d.Losses
	m := Metrics{CopyRate: a.CopyRate, NextTokenAccuracy: a.NextTokenAccuracy, CopyRateNonRepeat: a.CopyRateNonRepeat,
		NextAccuracyNonRepeat: a.NextAccuracyNonRepeat, RepeatRate: a.RepeatRate,
		LossShifted: l.Shifted.CE, LossUnshifted: l.Unshifted.CE, LossShiftedSmoothed: l.Shifted.Smoothed,
		LossUnshiftedSmoothed: l.Unshifted.Smoothed, UnigramEntropy: UnigramEntropy(tokens),
		InitLike: d.Drift.InitLike, TensorsMoved: len(d.Drift.Moved), Tensors: d.Drift.Total,
		SelfSimilarityShare: a.SelfSimilarity.ShareWithin1Pct, MeanTopLogit: a.MeanMaxLogit,
		MeanSelfLogit: a.SelfSimilarity.MeanSelfLogit, ParityMaxAbsDelta: d.Parity.MaxAbsDelta,
		DeadParams: len(d.GradFlow.Dead), LoaderHashesMatch: d.Effect.AllMatch}
	if s.Meta != nil {
		m.ClaimedLoss = s.Meta.Loss
	}
	if s.Variant.MHC {
		m.AlphaLogitsAllZero, m.AlphaGradsAllZero = true, true
		for n, t := range s.Params {
			if strings.HasSuffix(n, ".alpha_logit") && slices.ContainsFunc(t.Data, func(x float32) bool { return x != 0 }) {
				m.AlphaLogitsAllZero = false
			}
		}
		for _, g := range d.GradFlow.AlphaGrads {
			if g != 0 {
				m.AlphaGradsAllZero = false
			}
		}
	}
	if oc := d.Observation; oc != nil {
		fr, n := oc.FileReproduces, oc.FreshReproduces
		m.ObservationFileReproduces, m.ObservationFreshReproduces = &fr, &n
	}
	return m
}

// copies reports whether an alignment shows the copying symptom: on positions where the
// current and the next token differ, the argmax is mostly the current token.
func copies(a Alignment) bool {
	return a.CopyRateNonRepeat >= copyThreshold && a.CopyRateNonRepeat > a.NextAccuracyNonRepeat
}

// objectiveLoss is the measured smoothed loss of the objective the variant trains with.
func objectiveLoss(s *Subject, l Losses) float64 {
	if s.Variant.TargetShift == 0 {
		return l.Unshifted.Smoothed
	}
	return l.Shifted.Smoothed
}

func verdicts(s *Subject, d *Details, m *Metrics, fs []Finding) []Verdict {
	a, l := d.Alignment, d.Losses
	copying := copies(a)
	initLike := findingOf(fs, KindWeightsUntrained) != nil
	out := make([]Verdict, 0, 7)
	add := func(id, verdict, evidence string) {
		out = append(out, Verdict{ID: id, Name: hypothesisNames[id], Verdict: verdict, Evidence: evidence})
	}
	rates := fmt.Sprintf("copy rate %.3f vs next-token accuracy %.3f on the %.0f%% of positions whose next token differs from the current one",
		a.CopyRateNonRepeat, a.NextAccuracyNonRepeat, 100*(1-a.RepeatRate))

	// H1: what the weights minimise — the target_offset finding, read on the catalog's CE by
	// offset.
	h1 := Untestable
	off := findingOf(fs, KindTargetOffset)
	part := findingOf(fs, KindTensorsUntrained)
	ce := d.Catalog.AsLoaded
	ce0, _ := ce.at(0)
	ce1, _ := ce.at(1)
	switch {
	case initLike:
		add("H1", Untestable, fmt.Sprintf("the weights are an untrained draw (weights_untrained), so they carry no trace of any training objective; CE at offset 0 %.3f vs offset 1 %.3f says nothing about one", ce0, ce1))
	case part != nil:
		add("H1", Untestable, fmt.Sprintf("%d tensors carry no training (tensors_untrained: %s), so the losses (CE at offset 0 %.3f, offset 1 %.3f) do not show the training objective", len(part.Tensors), shortList(part.Tensors), ce0, ce1))
	case off != nil && off.Evidence["offset"] == 0:
		h1 = Supported
		ev := "target_offset 0: " + off.Detail + "; " + rates
		if s.Variant.TargetShift == 0 {
			ev += "; meta.json records target_shift 0"
		}
		add("H1", Supported, ev)
	case off != nil:
		h1 = Refuted
		add("H1", Refuted, fmt.Sprintf("the model was trained on another offset than the current token (target_offset %v): %s", off.Evidence["offset"], off.Detail))
	case ce.Best == 1:
		h1 = Refuted
		add("H1", Refuted, fmt.Sprintf("CE is lowest at offset 1 (%.3f, vs %.3f at offset 0; by offset −1…3: %s) and %s: the model was trained on next-token targets",
			ce1, ce0, fmtCEs(ce.CE), rates))
	default:
		add("H1", Untestable, fmt.Sprintf("CE by offset −1…3 %s, %s: no offset clearly preferred", fmtCEs(ce.CE), rates))
	}

	// H2: training graph vs inference path.
	p := d.Parity
	switch {
	case p.MaxAbsDelta <= ParityTolerance && p.ArgmaxAgreement == 1:
		ev := fmt.Sprintf("the training graph (forward + gradient of the loss) and the inference path give the same logits: max |Δ| %.3g over %d positions (max |logit| %.3g), argmax agreement 100%% — in nanoscope's implementation",
			p.MaxAbsDelta, p.Positions, p.MaxAbsLogit)
		if oc := d.Observation; oc != nil && oc.FreshReproduces > 0 {
			ev += "; the observation is reproduced on this same inference path by fresh weights, so no mismatch is needed to explain it"
		}
		add("H2", Refuted, ev)
	case p.ArgmaxAgreement >= parityMinAgreement && p.PositionsOverTol <= parityMaxShareOver:
		add("H2", Refuted, fmt.Sprintf("the training graph and the inference path agree up to rounding: argmax agreement %.3f, %.1f%% of positions differ by more than %.0e (max |Δ| %.3g, mean |Δ| %.2g, max |logit| %.3g) — the signature of 8-bit activation rounding landing on the other side of a boundary where the two compiled graphs sum in a different order, not of a different model",
			p.ArgmaxAgreement, 100*p.PositionsOverTol, ParityTolerance, p.MaxAbsDelta, p.MeanAbsDelta, p.MaxAbsLogit))
	default:
		add("H2", Supported, fmt.Sprintf("training graph and inference path differ: argmax agreement %.3f, %.1f%% of positions differ by more than %.0e (max |Δ| %.3g, mean |Δ| %.2g)",
			p.ArgmaxAgreement, 100*p.PositionsOverTol, ParityTolerance, p.MaxAbsDelta, p.MeanAbsDelta))
	}

	// H3: ternary quantisation.
	zeroShare := meanTernaryZero(s)
	switch {
	case !s.Variant.Ternary:
		add("H3", Untestable, "the variant has no ternary quantisation")
	case !copying:
		add("H3", Refuted, fmt.Sprintf("with ternary weights (%.0f%% of them quantise to 0) the model does not copy: %s", 100*zeroShare, rates))
	case h1 == Supported:
		// Weights trained through the quantisers behave differently without them, whatever
		// the objective was: that says nothing about the STE causing the copying here.
		ev := "the model copies because it was trained to (H1); the STE cannot be told apart from the objective on these weights"
		if d.TernaryOff != nil {
			ev += fmt.Sprintf(" (switching quantisation off moves the copy rate to %.3f only because the weights were trained through the quantisers)", d.TernaryOff.CopyRateNonRepeat)
		}
		add("H3", Untestable, ev)
	case d.TernaryOff != nil && copies(*d.TernaryOff):
		ev := fmt.Sprintf("the model copies (%s), and still copies with quantisation switched off on the same weights (copy rate %.3f vs next-token accuracy %.3f): the copying does not come from the ternary STE",
			rates, d.TernaryOff.CopyRateNonRepeat, d.TernaryOff.NextAccuracyNonRepeat)
		if oc := d.Observation; oc != nil {
			if c := oc.condition("ternary off"); c != nil && c.Reproduces {
				ev += "; a fresh model without quantisation reproduces the observation too"
			}
		}
		add("H3", Refuted, ev)
	default:
		ev := fmt.Sprintf("the model copies (%s)", rates)
		if d.TernaryOff != nil {
			ev += fmt.Sprintf(" but not with quantisation switched off on the same weights (copy rate %.3f, next-token accuracy %.3f)",
				d.TernaryOff.CopyRateNonRepeat, d.TernaryOff.NextAccuracyNonRepeat)
		}
		add("H3", Supported, ev)
	}

	// H4: tied self-similarity.
	ss := a.SelfSimilarity
	embedCopy := 0.0
	if len(d.Lens.Points) > 0 && d.Lens.Points[0].Stream == "embed" {
		embedCopy = d.Lens.Points[0].CopyRate
	}
	switch {
	case !s.Config.WeightTied:
		add("H4", Refuted, fmt.Sprintf("the head is untied (lm_head), so there is no embedding/head self-similarity; %s", rates))
	case copying && ss.ShareWithin1Pct >= selfSimThreshold:
		ev := fmt.Sprintf("as the mechanism of the copying: the top logit is within 1%% of the self logit norm_final(e)·e of the current token at %.0f%% of positions (mean |top − self| %.3g; mean self logit %.1f, sqrt(D)·‖e‖ %.1f): the output is ≈ the input embedding and the tied head scores it against itself; the embedding alone, decoded, copies at %.0f%%",
			100*ss.ShareWithin1Pct, ss.MeanAbsTopMinusSelf, ss.MeanSelfLogit, ss.MeanSqrtDNorm, 100*embedCopy)
		if oc := d.Observation; oc != nil {
			if c := oc.condition("untied head"); c != nil && !c.Reproduces {
				ev += fmt.Sprintf("; a fresh model with an untied head does not reproduce the observation (top logits %.2g–%.2g)", slices.Min(c.TopLogits), slices.Max(c.TopLogits))
			}
		}
		add("H4", Supported, ev)
	case copying:
		add("H4", Refuted, fmt.Sprintf("the model copies (%s) but its top logits are not the self logits (within 1%% at only %.0f%% of positions, mean |top − self| %.3g): the copying is learned, not self-similarity",
			rates, 100*ss.ShareWithin1Pct, ss.MeanAbsTopMinusSelf))
	default:
		add("H4", Refuted, fmt.Sprintf("no copying (%s); the top logit is within 1%% of the self logit at only %.0f%% of positions (mean top %.2f vs mean self %.2f)",
			rates, 100*ss.ShareWithin1Pct, a.MeanMaxLogit, ss.MeanSelfLogit))
	}

	// H5: optimizer / degenerate minimum — the context_free finding.
	deadWeights := 0
	for _, n := range d.GradFlow.Dead {
		if !strings.HasSuffix(n, ".alpha_logit") {
			deadWeights++
		}
	}
	cf := findingOf(fs, KindContextFree)
	switch {
	case initLike:
		add("H5", Untestable, "the weights carry no trace of optimisation (weights_untrained): the optimizer's behaviour cannot be read from them")
	case cf != nil:
		add("H5", Supported, "context_free: "+cf.Detail)
	case h1 == Supported:
		add("H5", Refuted, fmt.Sprintf("the optimizer reached a low value of the objective it was given (CE at offset 0 %.3f); the degenerate behaviour is the objective's (H1), not a failure to optimise", ce0))
	case ce.BestCE < d.Catalog.Unigram-minDeltaNats && d.Catalog.ContextMI >= contextMIMax && deadWeights == 0:
		add("H5", Refuted, fmt.Sprintf("the best CE %.3f (offset %d) is below the data's unigram CE %.3f and the prediction depends on the context (mean KL(p_t ‖ p̄) %.3f nats); every parameter but alpha_logit receives gradient",
			ce.BestCE, ce.Best, d.Catalog.Unigram, d.Catalog.ContextMI))
	default:
		add("H5", Untestable, fmt.Sprintf("best CE %.3f vs unigram CE %.3f, context dependence %.3f nats, %d dead parameters besides alpha_logit, %s", ce.BestCE, d.Catalog.Unigram, d.Catalog.ContextMI, deadWeights, rates))
	}

	// H6: weights in effect.
	loader := fmt.Sprintf("nanoscope's loader uses the file's weights (%d/%d tensor hashes match)", d.Effect.Matched, d.Effect.Total)
	measured := objectiveLoss(s, l)
	claim := ""
	if s.Meta != nil {
		claim = fmt.Sprintf("meta.json claims loss %.3g at step %d, measured %.3g", s.Meta.Loss, s.Meta.Step, measured)
	}
	oc := d.Observation
	switch {
	case initLike:
		add("H6", Supported, fmt.Sprintf("weights_untrained: %s; %s: whatever loads this file runs an untrained model, and a fresh tied model copies its input",
			findingOf(fs, KindWeightsUntrained).Detail, claim))
	case part != nil:
		add("H6", Supported, fmt.Sprintf("tensors_untrained: %s; %s", part.Detail, loader))
	case oc != nil && oc.FreshReproduces > 0 && !oc.FileReproduces:
		file := oc.Conditions[0]
		why := "argmax differs"
		if file.IDsMatch {
			why = "ids match but logits are out of range"
		}
		add("H6", Supported, fmt.Sprintf("the observation is reproduced by freshly initialised weights of this configuration (%d/%d seeds; predicted ids match, top logits %.1f–%.1f within the band [%.1f, %.1f]) but not by the file's weights (%s: predicted %v, top logits %.1f–%.1f): the weights in effect when it was made were not the file's; %s",
			oc.FreshReproduces, oc.FreshSeeds, freshMin(oc), freshMax(oc), oc.Band[0], oc.Band[1], why, file.Predicted,
			slices.Min(file.TopLogits), slices.Max(file.TopLogits), loader))
	case oc != nil && oc.FileReproduces:
		add("H6", Refuted, fmt.Sprintf("the file's own weights reproduce the observation (predicted %v, top logits %.1f–%.1f); %s",
			oc.Conditions[0].Predicted, slices.Min(oc.Conditions[0].TopLogits), slices.Max(oc.Conditions[0].TopLogits), loader))
	case oc != nil:
		add("H6", Untestable, fmt.Sprintf("neither the file's weights nor fresh weights (%d seeds) reproduce the observation; %s", oc.FreshSeeds, loader))
	default:
		add("H6", Untestable, fmt.Sprintf("no observation given; the file's weights are trained (%d/%d tensors moved from init; %s) and %s", len(d.Drift.Moved), d.Drift.Total, claim, loader))
	}

	// H7: alpha_logit gradient.
	if !s.Variant.MHC {
		add("H7", Untestable, "the variant has no mHC streams")
	} else {
		nAlpha := len(d.GradFlow.AlphaGrads)
		asym := 0.0
		for _, l := range d.ActNorms.Layers {
			asym = max(asym, l.StreamAsymmetry)
		}
		run := ""
		if d.Run != nil {
			zero, total := 0, 0
			for _, g := range d.Run.GradFlow.Params {
				if strings.HasSuffix(g.Name, ".alpha_logit") {
					total++
					if g.ZeroSteps == d.Run.Steps {
						zero++
					}
				}
			}
			run = fmt.Sprintf("; in the run's metrics %d/%d alpha_logit gradients are exactly 0 at all %d logged steps", zero, total, d.Run.Steps)
		}
		if af := findingOf(fs, KindAlphaNoGradient); af != nil && len(af.Tensors) == nAlpha {
			ev := fmt.Sprintf("alpha_no_gradient: all %d alpha_logit (values all 0.0: %v) receive exactly 0 gradient on a batch; every mHC pre/post parameter is symmetric in the two streams: %v, streams s0, s1 identical (max|s0 − s1| = %g)%s: Lion's sign(0) = 0 never moves alpha",
				nAlpha, m.AlphaLogitsAllZero, d.MHCSymmetric, asym, run)
			if sw := d.AlphaSwap; sw != nil {
				ev += fmt.Sprintf("; setting every alpha_logit to %.1f changes the logits by max |Δ| %.3g (max |logit| %.3g)", sw.AlphaLogit, sw.MaxAbsDelta, sw.MaxAbsLogit)
				if sw.MaxAbsDelta <= parityRelTol*max(1, sw.MaxAbsLogit) {
					ev += ", so the note's 5.0 → 0.0 change was a no-op"
				}
			}
			add("H7", Supported, ev+"; this explains frozen alphas in the checkpoint, not the copying")
		} else {
			var nz []string
			for n, g := range d.GradFlow.AlphaGrads {
				if g != 0 {
					nz = append(nz, fmt.Sprintf("%s %.3g", n, g))
				}
			}
			slices.Sort(nz)
			add("H7", Refuted, fmt.Sprintf("alpha_logit all zero: %v; non-zero alpha gradients: %d/%d %v (max|s0 − s1| = %.3g)%s",
				m.AlphaLogitsAllZero, len(nz), nAlpha, nz, asym, run))
		}
	}
	return out
}

func freshMin(oc *ObservationCheck) float64 {
	v := math.Inf(1)
	for _, c := range oc.Conditions {
		if strings.HasPrefix(c.Name, "fresh") && !strings.Contains(c.Name, ",") {
			v = min(v, slices.Min(c.TopLogits))
		}
	}
	return v
}

func freshMax(oc *ObservationCheck) float64 {
	v := math.Inf(-1)
	for _, c := range oc.Conditions {
		if strings.HasPrefix(c.Name, "fresh") && !strings.Contains(c.Name, ",") {
			v = max(v, slices.Max(c.TopLogits))
		}
	}
	return v
}

// meanTernaryZero is the mean share of BitLinear weights that quantise to 0.
func meanTernaryZero(s *Subject) float64 {
	var sum float64
	n := 0
	for name, t := range s.Params {
		if strings.Contains(name, ".attn.w") || strings.Contains(name, ".ffn.w_") {
			sum += ternaryStats(name, t.Data, s.Config.GroupSize).ZeroShare
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func verdictOf(vs []Verdict, id string) string {
	for _, v := range vs {
		if v.ID == id {
			return v.Verdict
		}
	}
	return ""
}

// summary names, in one sentence, the root cause the evidence supports.
func summary(s *Subject, d *Details, m *Metrics, vs []Verdict, fs []Finding) string {
	a, l := d.Alignment, d.Losses
	var faults []Finding
	for _, f := range fs {
		if !informational(f.Kind) && f.Kind != KindWeightsUntrained && f.Kind != KindTensorsUntrained && !(f.Kind == KindTargetOffset && verdictOf(vs, "H1") == Supported) {
			faults = append(faults, f)
		}
	}
	part := findingOf(fs, KindTensorsUntrained)
	switch {
	case m.InitLike:
		claim := ""
		if s.Meta != nil {
			claim = fmt.Sprintf(" although meta.json claims loss %.3g (measured %.3g)", s.Meta.Loss, objectiveLoss(s, l))
		}
		return fmt.Sprintf("Root cause H6: the checkpoint's weights are a fresh initialisation (weights_untrained: all %d tensors untrained draws)%s, and a fresh tied model copies its input because its top logit is the current token's self logit sqrt(D)·‖e‖ ≈ %.0f (copy rate %.3f, top within 1%% of the self logit at %.0f%% of positions).",
			m.Tensors, claim, a.SelfSimilarity.MeanSelfLogit, a.CopyRate, 100*a.SelfSimilarity.ShareWithin1Pct)
	case part != nil:
		return fmt.Sprintf("Root cause H6: %d of %d tensors carry no training while the rest does (%s): a partial or misnamed load left them at their initialisation.",
			len(part.Tensors), m.Tensors, shortList(part.Tensors))
	case len(faults) > 0:
		parts := make([]string, len(faults))
		for i, f := range faults {
			parts[i] = f.Kind + ": " + f.Detail
		}
		return "Fault " + strings.Join(parts, "; ") + "."
	case verdictOf(vs, "H1") == Supported:
		also := ""
		if oc := d.Observation; oc != nil && verdictOf(vs, "H6") == Supported {
			also = fmt.Sprintf("; the observation's logit magnitudes, however, match fresh weights (%d/%d seeds), not this file (H6)", oc.FreshReproduces, oc.FreshSeeds)
		}
		ce0, _ := d.Catalog.AsLoaded.at(0)
		ce1, _ := d.Catalog.AsLoaded.at(1)
		return fmt.Sprintf("Root cause H1: the model was trained to reproduce the current token (target_offset 0: CE at offset 0 %.3f < offset 1 %.3f; copy rate %.3f, next-token accuracy %.3f)%s.",
			ce0, ce1, a.CopyRate, a.NextTokenAccuracy, also)
	case verdictOf(vs, "H6") == Supported:
		oc := d.Observation
		return fmt.Sprintf("Root cause H6: the checkpoint is a trained next-token predictor (next-token accuracy %.3f vs copy rate %.3f where they differ, shifted CE %.3f), but the observed copying with top logits in [%.1f, %.1f] (rescaled to this width) is reproduced by freshly initialised weights (%d/%d seeds) and not by the file's, so the weights in effect at inference were not the trained ones.",
			a.NextAccuracyNonRepeat, a.CopyRateNonRepeat, l.Shifted.CE, oc.Band[0], oc.Band[1], oc.FreshReproduces, oc.FreshSeeds)
	case copies(a):
		sup := "none of H1–H6"
		var ids []string
		for _, v := range vs {
			if v.Verdict == Supported && v.ID != "H7" {
				ids = append(ids, v.ID)
			}
		}
		if len(ids) > 0 {
			sup = strings.Join(ids, ", ")
		}
		return fmt.Sprintf("The model copies its input (copy rate %.3f vs next-token accuracy %.3f where they differ) and the evidence supports %s as its cause.",
			a.CopyRateNonRepeat, a.NextAccuracyNonRepeat, sup)
	default:
		return fmt.Sprintf("No copying: healthy — the checkpoint is a trained next-token predictor (next-token accuracy %.3f vs copy rate %.3f where they differ, shifted CE %.3f below unshifted %.3f); none of H1–H6 is needed, and H7 is %s.",
			a.NextAccuracyNonRepeat, a.CopyRateNonRepeat, l.Shifted.CE, l.Unshifted.CE, verdictOf(vs, "H7"))
	}
}

// findingOf returns the finding of a kind, or nil.
func findingOf(fs []Finding, kind string) *Finding {
	for i := range fs {
		if fs[i].Kind == kind {
			return &fs[i]
		}
	}
	return nil
}

func fmtCEs(ce []float64) string {
	parts := make([]string, len(ce))
	for i, x := range ce {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
