package analysis

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"time"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Outcome is what the measurements say of a hypothesis. It is one of the constants below
// (JSON: the string).
type Outcome string

// Outcomes.
const (
	Supported  Outcome = "supported"
	Refuted    Outcome = "refuted"
	Untestable Outcome = "untestable" // the measurements cannot tell (e.g. on untrained weights)
	// NotApplicable is the verdict of a hypothesis about the ternary/mHC model on another
	// family (GPT-2, Llama).
	NotApplicable Outcome = "not applicable"
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

// Verdict is the diagnosis of one hypothesis: its outcome, the evidence in words, and the
// numbers its rule read (Numbers, named in snake case after the measurement, the same names
// whatever the outcome; rates are shares in [0, 1], losses in nats), which the evidence
// quotes and a notebook can quote without deriving them again.
type Verdict struct {
	ID       string             `json:"id"`
	Name     string             `json:"name"`
	Verdict  Outcome            `json:"verdict"`
	Evidence string             `json:"evidence"`
	Numbers  map[string]float64 `json:"numbers,omitempty"`
}

// Hypothesis returns the report's verdict on hypothesis id ("H1" … "H7"); it fails when the
// report holds no verdict of that id.
func (r *Report) Hypothesis(id string) (Verdict, error) {
	for _, v := range r.Hypotheses {
		if v.ID == id {
			return v, nil
		}
	}
	return Verdict{}, fmt.Errorf("report %s: no verdict on %q (it has %d hypotheses)", r.Checkpoint, id, len(r.Hypotheses))
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
	// Windows is the number of windows the positions come from; the *SE fields are standard
	// errors over those windows (see ratioSE; 0 for one window).
	Windows                 int     `json:"windows"`
	CopyRateSE              float64 `json:"copy_rate_se"`
	NextTokenAccuracySE     float64 `json:"next_token_accuracy_se"`
	CopyRateNonRepeatSE     float64 `json:"copy_rate_non_repeat_se"`
	NextAccuracyNonRepeatSE float64 `json:"next_token_accuracy_non_repeat_se"`
	LossShiftedSE           float64 `json:"loss_shifted_se"`
	LossUnshiftedSE         float64 `json:"loss_unshifted_se"`
	LossShifted             float64 `json:"loss_shifted"`
	LossUnshifted           float64 `json:"loss_unshifted"`
	LossShiftedSmoothed     float64 `json:"loss_shifted_smoothed"`
	LossUnshiftedSmoothed   float64 `json:"loss_unshifted_smoothed"`
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
	// Engine is the fingerprint of the user's inference engine from an observation (families
	// other than the ternary model).
	Engine *EngineFingerprint `json:"engine,omitempty"`
	// Inference are the reference-free checks of nanoscope's inference path on the first
	// evaluation ids (CheckInference; filled by the command line's diagnose).
	Inference *InferencePath `json:"inference,omitempty"`
	Run       *RunDetails    `json:"run,omitempty"`
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
	// SeqLen overrides the length of the evaluation windows (default: the subject's SeqLen).
	SeqLen int
	// Progress receives one human-readable line as each stage starts, with the seconds since
	// the diagnosis began (nil: none).
	Progress io.Writer
}

// progress returns the function that announces a stage on o.Progress.
func (o *Options) progress() func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "diagnose: %6.1f s  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
}

// Thresholds of the verdicts.
const (
	// Position budgets of the instruments that run more than one forward pass (the windows
	// are whole: at least one).
	ternaryOffPositions = 256 // quantisation off
	gradFlowPositions   = 512 // the gradient flow's batch (and the parity's), at most trainPassElems logits
	conditionPositions  = 512 // the catalog's re-runs and per-tensor tests
)

// Diagnose runs every instrument on the checkpoint's weights over tokens (ids of the
// checkpoint's vocabulary, checked) and, when observed is given, checks which simulated
// condition reproduces it; it then settles each of H1–H7 from the measured numbers.
func Diagnose(ck *checkpoint.Checkpoint, tokens []uint32, observed *Observed, opts *Options) (*Report, error) {
	s, err := FromCheckpoint(ck)
	if err != nil {
		return nil, err
	}
	return DiagnoseSubject(s, tokens, observed, opts)
}

// DiagnoseSubject is Diagnose on any subject: the ternary model, or a GPT-2 or Llama (FromFamily,
// e.g. of hf.Load), for which observed must be nil (the note's observation is in the ternary
// model's terms), the hypotheses about ternary weights and mHC (H3, H7) are not applicable,
// and the run's metrics are read only when opts.MetricsPath names them.
func DiagnoseSubject(s *Subject, tokens []uint32, observed *Observed, opts *Options) (*Report, error) {
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
	nano := s.IsNanoscope()
	v := s.Variant
	if err := CheckTokens("token stream", tokens, s.dims().VocabSize); err != nil {
		return nil, err
	}
	seq := s.SeqLen
	if o.SeqLen > 0 {
		seq = o.SeqLen
	}
	w, err := SampleWindows(tokens, seq, o.Positions)
	if err != nil {
		return nil, err
	}
	rep := &Report{Checkpoint: s.Dir}
	d := &rep.Details
	d.Positions, d.Windows = w.Positions(), len(w.Inputs)
	stage := o.progress()
	stage("inference pass over %d positions (%d windows): alignment, loss, logit lens, activation norms", d.Positions, d.Windows)
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
	d.Drift = s.drift()
	stage("training-graph pass (gradient flow, train/inference parity)")
	batch := w.HeadPositions(min(gradFlowPositions, trainPassElems/s.dims().VocabSize))
	if d.GradFlow, err = GradientFlow(s, batch); err != nil {
		return nil, err
	}
	if d.Parity, err = TrainInferenceParity(s, batch); err != nil {
		return nil, err
	}
	if d.Effect, err = s.weightsInEffect(); err != nil {
		return nil, err
	}
	if !nano {
		v = config.Variant{}
	}
	if v.Ternary {
		v2 := v
		v2.Ternary = false
		s2, err := s.With(v2, s.Params)
		if err != nil {
			return nil, err
		}
		a, err := LogitAlignment(s2, w.HeadPositions(ternaryOffPositions))
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
	if observed != nil && !nano {
		stage("engine fingerprint: which run reproduces the observation")
		if d.Engine, err = Fingerprint(s, observed); err != nil {
			return nil, err
		}
	}
	if observed != nil && nano {
		oc, err := CheckObservation(s, observed, o.FreshSeeds)
		if err != nil {
			return nil, err
		}
		d.Observation = &oc
	}
	if !o.NoRunMetrics && (nano || o.MetricsPath != "") {
		path := o.MetricsPath
		if path == "" {
			path = filepath.Join(s.Dir, "metrics.jsonl")
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
	stage("fault catalog: offsets, conditions, convention search")
	if d.Catalog, err = MeasureCatalog(s, w, w.HeadPositions(conditionPositions), UnigramEntropy(tokens), d.GradFlow); err != nil {
		return nil, err
	}
	d.Catalog.SelfSimShare = d.Alignment.SelfSimilarity.ShareWithin1Pct
	d.Catalog.LensDepth = lensDepth(d.Lens, s.dims().NLayers)
	d.Catalog.initOf = map[string]string{}
	for _, t := range d.Drift.Tensors {
		d.Catalog.initOf[t.Name] = t.Init
		if t.InitLike && !d.Drift.InitLike {
			d.Catalog.InitLike = append(d.Catalog.InitLike, t.Name)
		}
	}
	rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	if needsSwaps(d.Catalog, d.Alignment, rep.Findings, rep.Healthy) {
		stage("replacement tests: each tensor swapped for a fresh draw")
		if err := RunSwaps(s, w, d.Catalog); err != nil {
			return nil, err
		}
		rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	}
	// Training leaves every tensor near its best scale, under the conventions it ran with: a
	// refit of the scales that gains under the fix a finding names makes that fix a partial
	// undoing of another fault (ambiguousFinding); one that gains as loaded leaves health
	// unearned.
	named := slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Kind != KindUnexplained && f.Evidence["convention"] != nil })
	if best, _, _ := bestCondition(d.Catalog); best != nil && named {
		stage("scale refit under the search's best run")
		fixed, err := underFlips(s, best.Flips)
		if err != nil {
			return nil, err
		}
		if d.Catalog.FixedScaleFit, err = RunScaleFit(fixed, w); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(best.Flips, func(f Flip) bool { return f.Edit != nil }) {
			stage("scale refit as loaded, against the convention")
			if d.Catalog.ScaleFit, err = RunScaleFit(s, w); err != nil {
				return nil, err
			}
			if d.Catalog.ScaleRival, err = scaleRival(s, d.Catalog.ScaleFit, best); err != nil {
				return nil, err
			}
		}
		rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	}
	if rep.Healthy && d.Catalog.ScaleFit == nil {
		stage("scale refit: one scale per tensor fitted on half the windows")
		if d.Catalog.ScaleFit, err = RunScaleFit(s, w); err != nil {
			return nil, err
		}
		rep.Findings, rep.Healthy = Findings(d.Catalog, d.GradFlow, d.Alignment)
	}
	stage("done")
	rep.Metrics = metricsOf(s, tokens, d)
	rep.Metrics.InitLike = findingOf(rep.Findings, KindWeightsUntrained) != nil
	rep.Hypotheses = verdicts(s, d, &rep.Metrics, rep.Findings)
	rep.Summary = summary(s, d, &rep.Metrics, rep.Hypotheses, rep.Findings)
	return rep, nil
}

// alphaSwap runs w with every alpha_logit set to value and compares the logits with the
// subject's.
func alphaSwap(s *Subject, w *Windows, value float32) (*AlphaSwap, error) {
	a, b, err := AlphaSwapLogits(s, w.Inputs, value)
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
		if pn, err := gomlxmodel.ParseName(n); err == nil && pn.IsMHC() && pn.Leaf != gomlxmodel.MHCAlphaLogit && len(t.Data) == 2 && t.Data[0] != t.Data[1] {
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
		Windows: a.Windows, CopyRateSE: a.CopyRateSE, NextTokenAccuracySE: a.NextTokenAccuracySE,
		CopyRateNonRepeatSE: a.CopyRateNonRepeatSE, NextAccuracyNonRepeatSE: a.NextAccuracyNonRepeatSE,
		LossShiftedSE: l.Shifted.CESE, LossUnshiftedSE: l.Unshifted.CESE,
		LossShifted: l.Shifted.CE, LossUnshifted: l.Unshifted.CE, LossShiftedSmoothed: l.Shifted.Smoothed,
		LossUnshiftedSmoothed: l.Unshifted.Smoothed, UnigramEntropy: UnigramEntropy(tokens),
		InitLike: d.Drift.InitLike, TensorsMoved: len(d.Drift.Moved), Tensors: d.Drift.Total,
		SelfSimilarityShare: a.SelfSimilarity.ShareWithin1Pct, MeanTopLogit: a.MeanMaxLogit,
		MeanSelfLogit: a.SelfSimilarity.MeanSelfLogit, ParityMaxAbsDelta: d.Parity.MaxAbsDelta,
		DeadParams: len(d.GradFlow.Dead), LoaderHashesMatch: d.Effect.AllMatch}
	if s.Meta != nil {
		m.ClaimedLoss = s.Meta.Loss
	}
	if s.mhc() {
		m.AlphaLogitsAllZero, m.AlphaGradsAllZero = true, true
		for n, t := range s.Params {
			if gomlxmodel.IsAlphaLogit(n) && slices.ContainsFunc(t.Data, func(x float32) bool { return x != 0 }) {
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
	if s.targetShift() == 0 {
		return l.Unshifted.Smoothed
	}
	return l.Shifted.Smoothed
}
