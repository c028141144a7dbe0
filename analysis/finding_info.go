package analysis

import (
	"fmt"
	"slices"
	"strings"
)

// alphaFinding names alpha_no_gradient: mHC alpha_logit tensors whose gradient on a batch is
// exactly 0, whatever their value (informational: it explains frozen alphas, not copying).
func alphaFinding(gf GradFlow) *Finding {
	var zero []string
	for n, g := range gf.AlphaGrads {
		if g == 0 {
			zero = append(zero, n)
		}
	}
	if len(zero) == 0 {
		return nil
	}
	slices.Sort(zero)
	return &Finding{Kind: KindAlphaNoGradient, Tensors: zero,
		Evidence: map[string]any{"zero_gradient": len(zero), "alpha_logits": len(gf.AlphaGrads)},
		Detail: fmt.Sprintf("%d of %d mHC alpha_logit receive exactly zero gradient (the two streams are identical where they mix), so no optimizer can move them: %s",
			len(zero), len(gf.AlphaGrads), shortList(zero)),
		Fix: "informational: break the symmetry of the two mHC streams (distinct initial pre/post logits) if alpha is meant to learn"}
}

// overflowFinding names activation_overflow_fp16: some activation or logit exceeds the float16
// range (informational: it matters when the model runs in half precision).
func overflowFinding(cat *Catalog) *Finding {
	if cat.MaxAbsActivation <= fp16Max {
		return nil
	}
	return &Finding{Kind: KindActivationOverflow16, Tensors: []string{},
		Evidence: map[string]any{"max_abs_activation": cat.MaxAbsActivation, "fp16_max": fp16Max},
		Detail:   fmt.Sprintf("the largest activation |x| = %.4g at %s exceeds float16's %d", cat.MaxAbsActivation, cat.MaxActivationHook, fp16Max),
		Fix:      "informational: run in float32 or bfloat16, or rescale the offending layer"}
}

// paddedFinding names padded_vocab_mass: the padded ids hold more than paddedMassLimit of the
// probability on average, or are the argmax somewhere.
func paddedFinding(cat *Catalog) *Finding {
	p := cat.Padded
	if p == nil || (p.Mean <= paddedMassLimit && p.ArgmaxShare == 0) {
		return nil
	}
	return &Finding{Kind: KindPaddedVocabMass, Tensors: []string{},
		Evidence: map[string]any{"mean_mass": p.Mean, "max_mass": p.Max, "argmax_share": p.ArgmaxShare, "limit": paddedMassLimit,
			"padded_ids": p.Padded, "uniform_share": p.UniformShare},
		Detail: fmt.Sprintf("the %d padded ids past the real vocabulary of %d take %.3g of the probability on average (max %.3g; argmax at %.3g of positions; a uniform distribution would give them %.3g)",
			p.Padded, p.Real, p.Mean, p.Max, p.ArgmaxShare, p.UniformShare),
		Fix: fmt.Sprintf("crop the logits to the first %d ids before the softmax and sampling (as nanochat does), or train longer so the padded rows fall", p.Real)}
}

// underperformance lists why a checkpoint is not healthy by its own numbers: its next-token
// CE is not below the unigram CE, its measured objective is far above the loss meta.json
// claims (a claimed 0 counts as not recorded; the claim is compared with the lower of the
// measured label-smoothed objective and plain CE, with a margin of max(0.5, 25%) for the
// difference between a training batch and held-out data), or it copies its input. ev receives the numbers.
func underperformance(cat *Catalog, a Alignment, ev map[string]any) []string {
	ce1 := cat.AsLoaded.CE[offsetIndex(1)]
	var why []string
	ev["ce_offset_1"], ev["unigram_ce"] = ce1, cat.Unigram
	if ce1 >= cat.Unigram-minDeltaNats {
		why = append(why, fmt.Sprintf("next-token CE %.3f is not below the unigram CE %.3f", ce1, cat.Unigram))
	}
	if c := cat.ClaimedLoss; c > 0 {
		measured := min(cat.MeasuredSmoothed, cat.MeasuredCE)
		ev["claimed_loss"], ev["measured_smoothed"], ev["measured_ce"] = c, cat.MeasuredSmoothed, cat.MeasuredCE
		if measured > c+max(0.5, 0.25*c) {
			why = append(why, fmt.Sprintf("the measured loss %.3f (label-smoothed %.3f, plain CE %.3f) is far above the %.3f meta.json claims", measured, cat.MeasuredSmoothed, cat.MeasuredCE, c))
		}
	}
	if copies(a) {
		ev["copy_rate_non_repeat"], ev["next_token_accuracy_non_repeat"] = a.CopyRateNonRepeat, a.NextAccuracyNonRepeat
		why = append(why, fmt.Sprintf("it copies its input (copy rate %.3f vs next-token accuracy %.3f where they differ)", a.CopyRateNonRepeat, a.NextAccuracyNonRepeat))
	}
	return why
}

// unexplainedFinding names a checkpoint that underperforms (see underperformance) when no
// fault kind explains it.
func unexplainedFinding(cat *Catalog, a Alignment) *Finding {
	ev := map[string]any{}
	why := underperformance(cat, a, ev)
	if len(why) == 0 {
		return nil
	}
	return &Finding{Kind: KindUnexplained, Tensors: []string{}, Evidence: ev,
		Detail: "not healthy and no catalogued fault explains it: " + strings.Join(why, "; "),
		Fix:    "check that the evaluation data is the training distribution and tokenizer, then look at the run's metrics (loss curve, gradient flow) for where training went wrong"}
}

// Findings decides every kind from the measurements, in an order where each kind is read only
// on measurements it can trust: an untrained draw (weights_untrained), vectors at their initial
// constant (tensors_untrained), the best run of the convention search (future_leakage,
// rope_layout, gqa_mapping, convention_mismatch, tensors_misplaced; unexplained when it leaves
// the position break it should explain), the target offset on the run the model was trained
// for, collapse (context_free), then, when cat.Swaps holds the replacement tests, tensors whose
// replacement costs no loss (tensors_untrained), and unexplained for a model that underperforms or has not earned health
// (earned.go) with nothing to explain it; alpha_no_gradient and activation_overflow_fp16 are
// informational. healthy is false when any other kind is found.
func Findings(cat *Catalog, gf GradFlow, a Alignment) (fs []Finding, healthy bool) {
	under := len(underperformance(cat, a, map[string]any{})) > 0
	if all, _ := allUntrained(cat); all {
		fs = untrainedFindings(cat, true)
	} else {
		// Vectors exactly at their initial constant although they receive gradient come first:
		// a convention can partly compensate a missing norm (a larger attention scale stands
		// in for norm weights above 1), the constant cannot arise from training.
		strong := *cat
		strong.Swaps = nil
		fs = untrainedFindings(&strong, under)
	}
	if len(fs) == 0 {
		fs = explanatory(cat)
	}
	if len(cat.Swaps) > 0 {
		switch tu := untrainedFindings(cat, under); {
		case len(fs) == 0:
			fs = tu
		case onlyKind(fs, KindContextFree) && len(tu) > 0 && headIn(cat.heads, tu[0].Tensors):
			fs = tu // an output head at init makes the predictions context-free
		}
	}
	if len(fs) == 0 {
		f := unexplainedFinding(cat, a)
		if f == nil {
			f = unearnedFinding(cat)
		}
		if f != nil {
			fs = append(fs, *f)
		}
	}
	if f := paddedFinding(cat); f != nil {
		fs = append(fs, *f)
	}
	faults := len(fs)
	if f := alphaFinding(gf); f != nil {
		fs = append(fs, *f)
	}
	if f := overflowFinding(cat); f != nil {
		fs = append(fs, *f)
	}
	return fs, faults == 0
}

// explanatory decides the conventions, the target offset (on the convention the model was
// trained with, when a convention finding names one) and, when neither, collapse.
func explanatory(cat *Catalog) []Finding {
	fs := conventionFindings(cat)
	run := cat.AsLoaded
	if best, _, _ := bestCondition(cat); best != nil { // the run under the found conventions
		run = *best
	}
	if f := offsetFinding(cat, run); f != nil {
		fs = append(fs, *f)
	}
	if len(fs) == 0 {
		if f := contextFreeFinding(cat); f != nil {
			fs = append(fs, *f)
		}
	}
	return fs
}

func onlyKind(fs []Finding, kind string) bool { return len(fs) == 1 && fs[0].Kind == kind }

// headIn reports whether a tensor of the output head (heads: lm_head, or the token embedding
// that a tied head reads) is among names.
func headIn(heads, names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return slices.Contains(heads, n) })
}

// needsSwaps says whether Diagnose should run the replacement tests: the model has no skill
// (next-token CE not below the unigram CE, or it copies) and nothing but unexplained was
// found. A model with skill whose loss is only above its claim does not get them: small models
// leave trained tensors unused, and those cost no loss when replaced either.
func needsSwaps(cat *Catalog, a Alignment, fs []Finding, healthy bool) bool {
	for _, f := range fs {
		if !Informational(f.Kind) && f.Kind != KindUnexplained && f.Kind != KindContextFree {
			return false
		}
	}
	if initLikeCandidate(cat) { // a matrix still at its initialiser's draw: test it whatever the skill
		return true
	}
	return !healthy && (cat.AsLoaded.CE[offsetIndex(1)] >= cat.Unigram-minDeltaNats || copies(a))
}
