package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
)

// The verdicts on H1–H7 (REFERENCE.md §3) are a thin mapping over the findings and the
// instruments: each hypothesis has one function below that reads the same measurements the
// findings were decided from, so the summary, the findings and the verdicts never disagree.

// verdictInput holds what every hypothesis reads.
type verdictInput struct {
	s        *Subject
	d        *Details
	m        *Metrics
	fs       []Finding
	copying  bool   // the alignment shows the copying symptom
	initLike bool   // weights_untrained
	rates    string // copy rate vs next-token accuracy, for evidence lines
	off      *Finding
	part     *Finding
	ce       OffsetCE // the catalog's CE by offset, as loaded
	ce0, ce1 float64
	h1       Outcome // H1's verdict, which H3 and H5 defer to
}

func verdicts(s *Subject, d *Details, m *Metrics, fs []Finding) []Verdict {
	a := d.Alignment
	v := &verdictInput{s: s, d: d, m: m, fs: fs, copying: copies(a), initLike: findingOf(fs, KindWeightsUntrained) != nil,
		rates: fmt.Sprintf("copy rate %.3f vs next-token accuracy %.3f on the %.0f%% of positions whose next token differs from the current one",
			a.CopyRateNonRepeat, a.NextAccuracyNonRepeat, 100*(1-a.RepeatRate)),
		off: findingOf(fs, KindTargetOffset), part: findingOf(fs, KindTensorsUntrained), ce: d.Catalog.AsLoaded}
	v.ce0, _ = v.ce.at(0)
	v.ce1, _ = v.ce.at(1)
	h1 := v.h1Verdict()
	v.h1 = h1.Verdict
	vs := []Verdict{h1, v.h2(), v.h3(), v.h4(), v.h5(), v.h6(), v.h7()}
	for i := range vs {
		vs[i].Numbers = v.numbers(vs[i].ID)
	}
	return vs
}

func verdict(id string, v Outcome, evidence string) Verdict {
	return Verdict{ID: id, Name: hypothesisNames[id], Verdict: v, Evidence: evidence}
}

// numbers are the measurements hypothesis id's rule reads (Verdict.Numbers). A measurement
// the diagnosis did not make (no observation, no quantisation switched off, no mHC) is absent.
func (v *verdictInput) numbers(id string) map[string]float64 {
	d, a := v.d, v.d.Alignment
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	rates := map[string]float64{"copy_rate_non_repeat": a.CopyRateNonRepeat, "next_token_accuracy_non_repeat": a.NextAccuracyNonRepeat, "repeat_rate": a.RepeatRate}
	n := map[string]float64{}
	switch id {
	case "H1":
		n = rates
		n["ce_offset_0"], n["ce_offset_1"], n["best_offset"] = v.ce0, v.ce1, float64(v.ce.Best)
		n["weights_untrained"] = b(v.initLike)
		if v.part != nil {
			n["tensors_untrained"] = float64(len(v.part.Tensors))
		}
		if v.off != nil {
			if k, ok := v.off.Evidence["offset"].(float64); ok {
				n["target_offset"] = k
			}
		}
	case "H2":
		p := d.Parity
		n = map[string]float64{"max_abs_delta": p.MaxAbsDelta, "mean_abs_delta": p.MeanAbsDelta, "max_abs_logit": p.MaxAbsLogit, "argmax_agreement": p.ArgmaxAgreement,
			"positions_over_tol": p.PositionsOverTol, "noise_mean_abs_delta": p.Noise.MeanAbsDelta, "noise_argmax_agreement": p.Noise.ArgmaxAgreement, "positions": float64(p.Positions)}
	case "H3":
		n = rates
		if v.s.IsNanoscope() {
			n["ternary_zero_share"] = meanTernaryZero(v.s)
		}
		if off := d.TernaryOff; off != nil {
			n["ternary_off_copy_rate_non_repeat"], n["ternary_off_next_token_accuracy_non_repeat"] = off.CopyRateNonRepeat, off.NextAccuracyNonRepeat
		}
	case "H4":
		n = rates
		ss := a.SelfSimilarity
		n["tied"], n["share_top_within_1pct_of_self"], n["mean_abs_top_minus_self"] = b(v.s.tied()), ss.ShareWithin1Pct, ss.MeanAbsTopMinusSelf
		n["mean_self_logit"], n["mean_sqrt_d_norm"], n["mean_top_logit"] = ss.MeanSelfLogit, ss.MeanSqrtDNorm, a.MeanMaxLogit
		if len(d.Lens.Points) > 0 && d.Lens.Points[0].Stream == "embed" {
			n["embedding_copy_rate"] = d.Lens.Points[0].CopyRate
		}
	case "H5":
		n = map[string]float64{"best_ce": v.ce.BestCE, "best_offset": float64(v.ce.Best), "unigram_ce": d.Catalog.Unigram, "context_mi": d.Catalog.ContextMI,
			"ce_offset_0": v.ce0, "dead_parameters": float64(len(d.GradFlow.Dead)), "weights_untrained": b(v.initLike)}
	case "H6":
		n = map[string]float64{"hashes_matched": float64(d.Effect.Matched), "hashes_total": float64(d.Effect.Total), "tensors_moved": float64(len(d.Drift.Moved)),
			"tensors": float64(d.Drift.Total), "measured_loss": objectiveLoss(v.s, d.Losses), "weights_untrained": b(v.initLike)}
		if v.s.Meta != nil {
			n["claimed_loss"] = v.s.Meta.Loss
		}
		if oc := d.Observation; oc != nil {
			n["observation_file_reproduces"], n["observation_fresh_reproduces"], n["observation_fresh_seeds"] = b(oc.FileReproduces), float64(oc.FreshReproduces), float64(oc.FreshSeeds)
		}
	case "H7":
		if !v.s.IsNanoscope() || !v.s.Variant.MHC {
			return nil
		}
		zero := 0
		for _, g := range d.GradFlow.AlphaGrads {
			if g == 0 {
				zero++
			}
		}
		asym := 0.0
		for _, l := range d.ActNorms.Layers {
			asym = max(asym, l.StreamAsymmetry)
		}
		n = map[string]float64{"alpha_logits": float64(len(d.GradFlow.AlphaGrads)), "alpha_zero_gradient": float64(zero), "max_stream_asymmetry": asym,
			"alpha_logits_all_zero": b(v.m.AlphaLogitsAllZero), "mhc_symmetric": b(d.MHCSymmetric)}
		if sw := d.AlphaSwap; sw != nil {
			n["alpha_swap_max_abs_delta"], n["alpha_swap_max_abs_logit"] = sw.MaxAbsDelta, sw.MaxAbsLogit
		}
	}
	return n
}

// H1: what the weights minimise — the target_offset finding, read on the catalog's CE by
// offset.
func (v *verdictInput) h1Verdict() Verdict {
	s := v.s
	switch {
	case v.initLike:
		return verdict("H1", Untestable, fmt.Sprintf("the weights are an untrained draw (weights_untrained), so they carry no trace of any training objective; CE at offset 0 %.3f vs offset 1 %.3f says nothing about one", v.ce0, v.ce1))
	case v.part != nil:
		return verdict("H1", Untestable, fmt.Sprintf("%d tensors carry no training (tensors_untrained: %s), so the losses (CE at offset 0 %.3f, offset 1 %.3f) do not show the training objective", len(v.part.Tensors), shortList(v.part.Tensors), v.ce0, v.ce1))
	case v.off != nil && v.off.Evidence["offset"] == 0:
		ev := "target_offset 0: " + v.off.Detail + "; " + v.rates
		if s.IsNanoscope() && s.Variant.TargetShift == 0 {
			ev += "; meta.json records target_shift 0"
		}
		return verdict("H1", Supported, ev)
	case v.off != nil:
		return verdict("H1", Refuted, fmt.Sprintf("the model was trained on another offset than the current token (target_offset %v): %s", v.off.Evidence["offset"], v.off.Detail))
	case v.ce.Best == 1:
		return verdict("H1", Refuted, fmt.Sprintf("CE is lowest at offset 1 (%.3f, vs %.3f at offset 0; by offset −1…3: %s) and %s: the model was trained on next-token targets",
			v.ce1, v.ce0, fmtCEs(v.ce.CE), v.rates))
	default:
		return verdict("H1", Untestable, fmt.Sprintf("CE by offset −1…3 %s, %s: no offset clearly preferred", fmtCEs(v.ce.CE), v.rates))
	}
}

// H2: training graph vs inference path.
func (v *verdictInput) h2() Verdict {
	d := v.d
	p := d.Parity
	switch {
	case p.MaxAbsDelta <= ParityTolerance && p.ArgmaxAgreement == 1:
		ev := fmt.Sprintf("the training graph (forward + gradient of the loss) and the inference path give the same logits: max |Δ| %.3g over %d positions (max |logit| %.3g), argmax agreement 100%% — in nanoscope's implementation",
			p.MaxAbsDelta, p.Positions, p.MaxAbsLogit)
		if oc := d.Observation; oc != nil && oc.FreshReproduces > 0 {
			ev += "; the observation is reproduced on this same inference path by fresh weights, so no mismatch is needed to explain it"
		}
		return verdict("H2", Refuted, ev)
	case p.ArgmaxAgreement >= parityMinAgreement && p.PositionsOverTol <= parityMaxShareOver:
		return verdict("H2", Refuted, fmt.Sprintf("the training graph and the inference path agree up to rounding: argmax agreement %.3f, %.1f%% of positions differ by more than %.0e (max |Δ| %.3g, mean |Δ| %.2g, max |logit| %.3g) — the signature of 8-bit activation rounding landing on the other side of a boundary where the two compiled graphs sum in a different order, not of a different model",
			p.ArgmaxAgreement, 100*p.PositionsOverTol, ParityTolerance, p.MaxAbsDelta, p.MeanAbsDelta, p.MaxAbsLogit))
	case p.Noise.MeanAbsDelta > 0 && p.MeanAbsDelta <= parityNoiseFactor*p.Noise.MeanAbsDelta &&
		p.ArgmaxAgreement >= p.Noise.ArgmaxAgreement-parityArgmaxSlack:
		return verdict("H2", Refuted, fmt.Sprintf("the training graph and the inference path differ no more than the inference path differs from itself when compiled for another batch shape: mean |Δ| %.2g vs %.2g (≤ %g×), argmax agreement %.3f vs %.3f (max |Δ| %.3g vs %.3g) — the backend's rounding (on a GPU XLA computes float32 products as TF32), not a different model",
			p.MeanAbsDelta, p.Noise.MeanAbsDelta, parityNoiseFactor, p.ArgmaxAgreement, p.Noise.ArgmaxAgreement, p.MaxAbsDelta, p.Noise.MaxAbsDelta))
	default:
		return verdict("H2", Supported, fmt.Sprintf("training graph and inference path differ: argmax agreement %.3f, %.1f%% of positions differ by more than %.0e (max |Δ| %.3g, mean |Δ| %.2g; the inference path against itself at another batch shape: mean |Δ| %.2g, argmax agreement %.3f)",
			p.ArgmaxAgreement, 100*p.PositionsOverTol, ParityTolerance, p.MaxAbsDelta, p.MeanAbsDelta, p.Noise.MeanAbsDelta, p.Noise.ArgmaxAgreement))
	}
}

// H3: ternary quantisation.
func (v *verdictInput) h3() Verdict {
	s, d := v.s, v.d
	zeroShare := meanTernaryZero(s)
	switch {
	case !s.IsNanoscope():
		return verdict("H3", NotApplicable, fmt.Sprintf("a %s model has no ternary quantisation", s.Family.Arch()))
	case !s.Variant.Ternary:
		return verdict("H3", Untestable, "the variant has no ternary quantisation")
	case !v.copying:
		return verdict("H3", Refuted, fmt.Sprintf("with ternary weights (%.0f%% of them quantise to 0) the model does not copy: %s", 100*zeroShare, v.rates))
	case v.h1 == Supported:
		// Weights trained through the quantisers behave differently without them, whatever
		// the objective was: that says nothing about the STE causing the copying here.
		ev := "the model copies because it was trained to (H1); the STE cannot be told apart from the objective on these weights"
		if d.TernaryOff != nil {
			ev += fmt.Sprintf(" (switching quantisation off moves the copy rate to %.3f only because the weights were trained through the quantisers)", d.TernaryOff.CopyRateNonRepeat)
		}
		return verdict("H3", Untestable, ev)
	case d.TernaryOff != nil && copies(*d.TernaryOff):
		ev := fmt.Sprintf("the model copies (%s), and still copies with quantisation switched off on the same weights (copy rate %.3f vs next-token accuracy %.3f): the copying does not come from the ternary STE",
			v.rates, d.TernaryOff.CopyRateNonRepeat, d.TernaryOff.NextAccuracyNonRepeat)
		if oc := d.Observation; oc != nil {
			if c := oc.condition("ternary off"); c != nil && c.Reproduces {
				ev += "; a fresh model without quantisation reproduces the observation too"
			}
		}
		return verdict("H3", Refuted, ev)
	default:
		ev := fmt.Sprintf("the model copies (%s)", v.rates)
		if d.TernaryOff != nil {
			ev += fmt.Sprintf(" but not with quantisation switched off on the same weights (copy rate %.3f, next-token accuracy %.3f)",
				d.TernaryOff.CopyRateNonRepeat, d.TernaryOff.NextAccuracyNonRepeat)
		}
		return verdict("H3", Supported, ev)
	}
}

// H4: tied self-similarity.
func (v *verdictInput) h4() Verdict {
	s, d := v.s, v.d
	a := d.Alignment
	ss := a.SelfSimilarity
	embedCopy := 0.0
	if len(d.Lens.Points) > 0 && d.Lens.Points[0].Stream == "embed" {
		embedCopy = d.Lens.Points[0].CopyRate
	}
	switch {
	case !s.tied():
		return verdict("H4", Refuted, fmt.Sprintf("the head is untied (lm_head), so there is no embedding/head self-similarity; %s", v.rates))
	case v.copying && ss.ShareWithin1Pct >= selfSimThreshold:
		ev := fmt.Sprintf("as the mechanism of the copying: the top logit is within 1%% of the self logit norm_final(e)·e of the current token at %.0f%% of positions (mean |top − self| %.3g; mean self logit %.1f, sqrt(D)·‖e‖ %.1f): the output is ≈ the input embedding and the tied head scores it against itself; the embedding alone, decoded, copies at %.0f%%",
			100*ss.ShareWithin1Pct, ss.MeanAbsTopMinusSelf, ss.MeanSelfLogit, ss.MeanSqrtDNorm, 100*embedCopy)
		if oc := d.Observation; oc != nil {
			if c := oc.condition("untied head"); c != nil && !c.Reproduces {
				ev += fmt.Sprintf("; a fresh model with an untied head does not reproduce the observation (top logits %.2g–%.2g)", slices.Min(c.TopLogits), slices.Max(c.TopLogits))
			}
		}
		return verdict("H4", Supported, ev)
	case v.copying && v.initLike && embedCopy >= copyThreshold:
		return verdict("H4", Supported, fmt.Sprintf("as the mechanism of an untrained model's copying: the weights are an untrained draw (weights_untrained), so the output is mostly the input embedding, which the tied head scores against itself — the embedding alone, decoded, copies at %.0f%% (%s); the top logit is within 1%% of the self logit norm_final(e)·e at only %.0f%% of positions (mean top %.3g vs self %.3g): the blocks and, in GPT-2, the position embedding add to the embedding before the head",
			100*embedCopy, v.rates, 100*ss.ShareWithin1Pct, a.MeanMaxLogit, ss.MeanSelfLogit))
	case v.copying:
		return verdict("H4", Refuted, fmt.Sprintf("the model copies (%s) but its top logits are not the self logits (within 1%% at only %.0f%% of positions, mean |top − self| %.3g): the copying is learned, not self-similarity",
			v.rates, 100*ss.ShareWithin1Pct, ss.MeanAbsTopMinusSelf))
	default:
		return verdict("H4", Refuted, fmt.Sprintf("no copying (%s); the top logit is within 1%% of the self logit at only %.0f%% of positions (mean top %.2f vs mean self %.2f)",
			v.rates, 100*ss.ShareWithin1Pct, a.MeanMaxLogit, ss.MeanSelfLogit))
	}
}

// H5: optimizer / degenerate minimum — the context_free finding.
func (v *verdictInput) h5() Verdict {
	d, fs := v.d, v.fs
	deadWeights := 0
	for _, n := range d.GradFlow.Dead {
		if !gomlxmodel.IsAlphaLogit(n) {
			deadWeights++
		}
	}
	cf := findingOf(fs, KindContextFree)
	switch {
	case v.initLike:
		return verdict("H5", Untestable, "the weights carry no trace of optimisation (weights_untrained): the optimizer's behaviour cannot be read from them")
	case cf != nil:
		return verdict("H5", Supported, "context_free: "+cf.Detail)
	case v.h1 == Supported:
		return verdict("H5", Refuted, fmt.Sprintf("the optimizer reached a low value of the objective it was given (CE at offset 0 %.3f); the degenerate behaviour is the objective's (H1), not a failure to optimise", v.ce0))
	case v.ce.BestCE < d.Catalog.Unigram-minDeltaNats && d.Catalog.ContextMI >= contextMIMax && deadWeights == 0:
		return verdict("H5", Refuted, fmt.Sprintf("the best CE %.3f (offset %d) is below the data's unigram CE %.3f and the prediction depends on the context (mean KL(p_t ‖ p̄) %.3f nats); every parameter%s receives gradient",
			v.ce.BestCE, v.ce.Best, d.Catalog.Unigram, d.Catalog.ContextMI, map[bool]string{true: " but alpha_logit"}[v.s.IsNanoscope()]))
	default:
		return verdict("H5", Untestable, fmt.Sprintf("best CE %.3f vs unigram CE %.3f, context dependence %.3f nats, %d dead parameters besides alpha_logit, %s", v.ce.BestCE, d.Catalog.Unigram, d.Catalog.ContextMI, deadWeights, v.rates))
	}
}

// H6: weights in effect.
func (v *verdictInput) h6() Verdict {
	s, d, fs := v.s, v.d, v.fs
	l := d.Losses
	loader := fmt.Sprintf("nanoscope's loader uses the file's weights (%d/%d tensor hashes match)", d.Effect.Matched, d.Effect.Total)
	measured := objectiveLoss(s, l)
	claim := "no meta.json loss to compare"
	if s.Meta != nil {
		claim = fmt.Sprintf("meta.json claims loss %.3g at step %d, measured %.3g", s.Meta.Loss, s.Meta.Step, measured)
	}
	oc := d.Observation
	switch {
	case v.initLike:
		return verdict("H6", Supported, fmt.Sprintf("weights_untrained: %s; %s: whatever loads this file runs an untrained model, and a fresh tied model copies its input",
			findingOf(fs, KindWeightsUntrained).Detail, claim))
	case v.part != nil:
		return verdict("H6", Supported, fmt.Sprintf("tensors_untrained: %s; %s", v.part.Detail, loader))
	case oc != nil && oc.FreshReproduces > 0 && !oc.FileReproduces:
		file := oc.Conditions[0]
		why := "argmax differs"
		if file.IDsMatch {
			why = "ids match but logits are out of range"
		}
		return verdict("H6", Supported, fmt.Sprintf("the observation is reproduced by freshly initialised weights of this configuration (%d/%d seeds; predicted ids match, top logits %.1f–%.1f within the band [%.1f, %.1f]) but not by the file's weights (%s: predicted %v, top logits %.1f–%.1f): the weights in effect when it was made were not the file's; %s",
			oc.FreshReproduces, oc.FreshSeeds, freshMin(oc), freshMax(oc), oc.Band[0], oc.Band[1], why, file.Predicted,
			slices.Min(file.TopLogits), slices.Max(file.TopLogits), loader))
	case oc != nil && oc.FileReproduces:
		return verdict("H6", Refuted, fmt.Sprintf("the file's own weights reproduce the observation (predicted %v, top logits %.1f–%.1f); %s",
			oc.Conditions[0].Predicted, slices.Min(oc.Conditions[0].TopLogits), slices.Max(oc.Conditions[0].TopLogits), loader))
	case oc != nil:
		return verdict("H6", Untestable, fmt.Sprintf("neither the file's weights nor fresh weights (%d seeds) reproduce the observation; %s", oc.FreshSeeds, loader))
	default:
		return verdict("H6", Untestable, fmt.Sprintf("no observation given; the file's weights are trained (%d/%d tensors moved from init; %s) and %s", len(d.Drift.Moved), d.Drift.Total, claim, loader))
	}
}

// H7: alpha_logit gradient.
func (v *verdictInput) h7() Verdict {
	s, d, m, fs := v.s, v.d, v.m, v.fs
	if !s.IsNanoscope() {
		return verdict("H7", NotApplicable, fmt.Sprintf("a %s model has no mHC streams nor alpha_logit", s.Family.Arch()))
	}
	if !s.Variant.MHC {
		return verdict("H7", Untestable, "the variant has no mHC streams")
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
				if gomlxmodel.IsAlphaLogit(g.Name) {
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
			return verdict("H7", Supported, ev+"; this explains frozen alphas in the checkpoint, not the copying")
		} else {
			var nz []string
			for n, g := range d.GradFlow.AlphaGrads {
				if g != 0 {
					nz = append(nz, fmt.Sprintf("%s %.3g", n, g))
				}
			}
			slices.Sort(nz)
			return verdict("H7", Refuted, fmt.Sprintf("alpha_logit all zero: %v; non-zero alpha gradients: %d/%d %v (max|s0 − s1| = %.3g)%s",
				m.AlphaLogitsAllZero, len(nz), nAlpha, nz, asym, run))
		}
	}
}

// summary names, in one sentence, the root cause the evidence supports.
func summary(s *Subject, d *Details, m *Metrics, vs []Verdict, fs []Finding) string {
	a, l := d.Alignment, d.Losses
	var faults []Finding
	for _, f := range fs {
		if !Informational(f.Kind) && f.Kind != KindWeightsUntrained && f.Kind != KindTensorsUntrained && !(f.Kind == KindTargetOffset && verdictOf(vs, "H1") == Supported) {
			faults = append(faults, f)
		}
	}
	part := findingOf(fs, KindTensorsUntrained)
	switch {
	case m.InitLike && !(s.tied() && a.SelfSimilarity.ShareWithin1Pct >= selfSimThreshold) && !s.IsNanoscope():
		return fmt.Sprintf("Root cause H6: the checkpoint's weights are a fresh initialisation (weights_untrained: all %d tensors untrained draws): whatever loads this file runs an untrained model (copy rate %.3f, next-token accuracy %.3f; top logit within 1%% of the self logit at %.0f%% of positions).",
			m.Tensors, a.CopyRate, a.NextTokenAccuracy, 100*a.SelfSimilarity.ShareWithin1Pct)
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

func verdictOf(vs []Verdict, id string) Outcome {
	for _, v := range vs {
		if v.ID == id {
			return v.Verdict
		}
	}
	return ""
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
		if pn, err := gomlxmodel.ParseName(name); err == nil && pn.IsBitLinear() {
			sum += ternaryStats(name, t.Data, s.Config.GroupSize).ZeroShare
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
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
