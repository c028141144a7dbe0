package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
)

// conventionGain compares a re-run under other conventions with the run as loaded: the drop
// of the best CE over the offsets (as loaded minus condition), with the standard error of the
// paired per-position differences. When that drop is not significant but the condition's best
// CE is within minDeltaNats of the best as loaded, the drop is measured at the offset the
// condition predicts best: a GPT-2 trained without the causal mask and run with it predicts the
// previous token about as well as it predicts the next one without the mask, so the best CEs
// tie while the offset moved.
func conventionGain(cat *Catalog, cond OffsetCE) (gain, se float64) {
	return gainOver(cat.heldOut, cond)
}

// conventionHolds reports whether a re-run shows the model was trained under its conventions
// (see conventionFindings), with the gain.
func conventionHolds(cat *Catalog, c OffsetCE) (gain, se float64, ok bool) {
	return holdsOver(cat.heldOut, c, cat.Unigram)
}

// bestCondition returns the confirmed run of the convention search that predicts best among
// those that hold (significantly better than as loaded, by more than max(0.1 nats, 4 standard
// errors), and below the unigram CE), and its gain; nil when none holds.
func bestCondition(cat *Catalog) (best *OffsetCE, gain, se float64) {
	for i, c := range cat.Conditions {
		if g, e, ok := conventionHolds(cat, c); ok && (best == nil || c.BestCE < best.BestCE) {
			best, gain, se = &cat.Conditions[i], g, e
		}
	}
	return best, gain, se
}

// conventionFindings names the conventions of the best run of the search that holds: the
// model predicts significantly better with them changed than as loaded, and beats the unigram
// CE there — so it was trained that way. Each changed convention is one finding:
// future_leakage (the causal mask), rope_layout (the RoPE pairing), gqa_mapping (the kv-head
// mapping) for the kinds the catalog always named, convention_mismatch for any other. The
// evidence holds both cross-entropies, the gain and its margin in standard errors, and the
// runner-up: the best confirmed run under other conventions.
func conventionFindings(cat *Catalog) []Finding {
	best, gain, se := bestCondition(cat)
	if best == nil {
		return nil
	}
	// The CE as loaded breaks with position and still does under the convention: it helps but
	// does not explain the break (a model run past its trained window). A rise that only appears
	// under the convention is the model's own, not evidence against it.
	if r := cat.Residual; r != nil && r.Break && cat.PositionBreak.Break {
		asLoaded := comparable(cat.heldOut)
		return []Finding{{Kind: KindUnexplained, Tensors: []string{}, Evidence: map[string]any{
			"partial_convention": best.Condition, "ce_as_loaded": asLoaded.BestCE, "ce_partial_convention": best.BestCE,
			"gain_nats": gain, "se": se, "residual_rise_nats": r.Excess, "residual_rise_se": r.SE,
			"positions_early": fmt.Sprintf("%d-%d", r.Early.From, r.Early.To-1), "positions_late": fmt.Sprintf("%d-%d", r.Late.From, r.Late.To-1)},
			Detail: fmt.Sprintf("under %s the model predicts better (CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats) but its CE still rises with position (%.3f at positions %d–%d vs %.3f at %d–%d, +%.3f ± %.3f nats): no convention of the family's space explains the fault",
				best.Condition, best.BestCE, asLoaded.BestCE, gain, se, r.Late.CE, r.Late.From, r.Late.To-1, r.Early.CE, r.Early.From, r.Early.To-1, r.Excess, r.SE),
			Fix: "compare how the model was trained and how it is run at the positions named (attention window, position handling, context length)"}}
	}
	runnerUp, runnerCE := "", 0.0
	for _, c := range cat.Conditions {
		if c.Condition != best.Condition && !strings.HasPrefix(best.Condition, c.Condition+" + ") && (runnerUp == "" || c.BestCE < runnerCE) {
			runnerUp, runnerCE = c.Condition, c.BestCE
		}
	}
	asLoaded := comparable(cat.heldOut)
	rival, margin, marginSE := rivalCondition(cat, best)
	if f := ambiguousFinding(cat, best, asLoaded, gain, se, rival, margin, marginSE); f != nil {
		return []Finding{*f}
	}
	var out []Finding
	for _, fl := range best.Flips {
		ev := map[string]any{"ce_as_loaded": asLoaded.BestCE, "positions": len(best.perPos[0]), "ce_trained_convention": best.BestCE,
			"gain_nats": gain, "se": se, "gain_z": gain / max(se, 1e-12), "offset": best.Best, "unigram_ce": cat.Unigram,
			"convention": fl.Convention, "loaded_value": fl.Loaded, "trained_value": fl.Value}
		if fl.Edit == nil { // a convention's short name (an edit's is a sentence: ce_trained_convention)
			ev["ce_"+strings.ReplaceAll(best.Condition, " ", "_")] = best.BestCE
		}
		if runnerUp != "" {
			ev["runner_up"], ev["ce_runner_up"] = runnerUp, runnerCE
		}
		if len(best.Flips) > 1 {
			ev["with"] = best.Condition
		}
		rivalEvidence(ev, rival, margin, marginSE)
		f := Finding{Tensors: []string{}, Evidence: ev}
		nums := fmt.Sprintf("CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats", best.BestCE, asLoaded.BestCE, gain, se)
		var same []string // runs that compute the same function: another place to make the fix
		for _, c := range cat.Conditions {
			if c.Condition != best.Condition && sameFunction(*best, c) {
				same = append(same, c.Condition)
			}
		}
		if len(same) > 0 {
			ev["same_function"] = same
			nums += "; the same function as " + strings.Join(same, ", as ") + ", which fix the other side"
		}
		switch {
		case fl.Edit != nil:
			f = misplacedFinding(fl, ev, nums)
		case fl.Convention == gomlxmodel.ConvSlidingWindow && fl.Loaded == "0":
			// A window the config does not declare: trained with one, or on windows of text that
			// short, or a position fault a short window partly hides (a rotary base: the family
			// gallery's llama rope_theta) — the search cannot tell which, so it names none.
			f.Kind = KindUnexplained
			f.Detail = fmt.Sprintf("restricted to the last %s tokens the model predicts better (%s), though its config declares no sliding window: it was trained with a window or on text that short, or its positions are handled otherwise than in training",
				fl.Value, nums)
			f.Fix = fmt.Sprintf("compare the attention window and context length of training with inference's; confirm with --convention %s=%s", fl.Convention, fl.Value)
		case fl.Convention == gomlxmodel.ConvCausal:
			f.Kind = KindFutureLeakage
			f.Detail = fmt.Sprintf("with the causal mask removed the model predicts the token at offset %d far better (%s): it was trained where positions could see later tokens, so its training loss was too good and causal inference is garbage",
				best.Best, nums)
			f.Fix = "train with a causal mask (check the attention mask, is_causal, and any sliding-window or padding mask that lets a position attend forward)"
		case fl.Convention == gomlxmodel.ConvRopePairing:
			f.Kind = KindRopeLayout
			ev["trained_layout"] = fl.Value
			f.Detail = fmt.Sprintf("under the %s RoPE pairing the model predicts far better (%s): it was trained with %s rotary pairs and the loader applies the other pairing",
				fl.Value, nums, fl.Value)
			f.Fix = fmt.Sprintf("run the model with the %s RoPE layout (--rope-layout %s), or permute the q/k projection rows to the loader's layout when converting", fl.Value, fl.Value)
		case fl.Convention == gomlxmodel.ConvGQAMapping:
			f.Kind = KindGQAMapping
			ev["trained_mapping"] = fl.Value
			f.Detail = fmt.Sprintf("with the %s query-head → kv-head mapping the model predicts far better (%s): it was trained with that mapping",
				fl.Value, nums)
			f.Fix = fmt.Sprintf("run the model with --gqa-map %s, or reorder the query heads (wq rows, wo columns) when converting", fl.Value)
		default:
			f.Kind = KindConventionMismatch
			f.Detail = fmt.Sprintf("with %s = %s instead of %s as loaded the model predicts far better (%s): it was trained under that convention and the inference path applies another",
				fl.Convention, fl.Value, fl.Loaded, nums)
			f.Fix = fmt.Sprintf("set %s to %s (%s): confirm with --convention %s=%s", fl.Convention, fl.Value, fl.Key, fl.Convention, fl.Value)
		}
		out = append(out, f)
	}
	return out
}

// rivalCondition returns the confirmed run of one flip that predicts best among those that rival
// every flip of best (see rivals): another explanation of the same evidence (nil when none
// gains), and best's margin over it (gainMargin).
func rivalCondition(cat *Catalog, best *OffsetCE) (rival *OffsetCE, margin, se float64) {
	for i, c := range cat.Conditions {
		if len(c.Flips) != 1 || !(c.Gain > 0) || (rival != nil && c.Gain <= rival.Gain) || sameFunction(*best, c) {
			continue
		}
		if !slices.ContainsFunc(best.Flips, func(f Flip) bool { return !rivals(f, c.Flips[0]) }) {
			rival = &cat.Conditions[i]
		}
	}
	if rival != nil {
		margin, se = gainMargin(cat.heldOut, *best, *rival)
	}
	return rival, margin, se
}

// sameFunction reports whether two runs predict every position alike (to sameFunctionNats at
// their best offset): two rearrangements of which one is the other's equivalent (v's rows, or the
// output projection's columns that read them, put back in order) are one explanation, not rivals.
func sameFunction(a, b OffsetCE) bool {
	if a.Best != b.Best {
		return false
	}
	_, x := a.at(a.Best)
	_, y := b.at(b.Best)
	if len(x) != len(y) || len(x) == 0 {
		return false
	}
	for i := range x {
		if math.Abs(x[i]-y[i]) > sameFunctionNats {
			return false
		}
	}
	return true
}

// rivalEvidence adds the rival's run and the margin over it to a finding's evidence (none when
// rival is nil).
func rivalEvidence(ev map[string]any, rival *OffsetCE, margin, se float64) {
	if rival != nil {
		ev["rival"], ev["ce_rival"], ev["rival_gain_nats"], ev["rival_se"] = rival.Condition, rival.BestCE, rival.Gain, rival.SE
		ev["margin_over_rival_nats"], ev["margin_over_rival_se"] = margin, se
	}
}

// ambiguousFinding returns the search's best run as unexplained when its evidence does not single
// it out (nil when it does): a kind must beat the alternatives that explain the same evidence.
//   - Its gain exceeds a rival's (rivalCondition: another mechanism, or an edit of other tensors)
//     by no more than sigmas standard errors of the paired differences (gainMargin). Where a
//     fault none of the space holds damages the model, several unrelated alternatives each undo a
//     part of the damage: measured on transformers-trained checkpoints, v_proj written ×4
//     recovers 0.198 nats by exchanging q_proj and o_proj and 0.114 by the attention scale
//     1/head_dim (margin 2.9 SE); layer_norm_eps 1e-5 saved as 0.1, before the epsilon joined the
//     space, 0.297 by norm weights 1+w and 0.267 by the embedding scale √d. The mismatches the
//     space holds beat their rival by 5 SE or more (kits 4, 4b, 4c; the family gallery). A
//     rival's share of the gain does not tell: a Llama run without its embedding scale recovers
//     1.934 nats under it and 1.668 with layers 0 and 1 exchanged (margin 7.8 SE).
//   - Flattening its attention further (Catalog.Flattened) lowers its CE by sigmas standard
//     errors and flattenedShareMin of its gain: training leaves the attention scale at or below
//     the loss's optimum, while an alternative that undoes part of another fault by flattening
//     attention sits on a slope that continues.
//   - The causal mask removed, where the model predicts its target above leakReadsTargetShare of
//     the unigram CE: a model trained seeing its target reads it.
//   - Weights no training leaves (untrainableFinding: copies, blocks of zeros, a coarse grid,
//     scattered zeros): what a run's convention or a rearrangement recovers is then a part of
//     another fault (blind kit 4g: GPTQ weights with their zero point off by one step, each
//     group shifted by a constant, gain 0.159 of 0.22 nats under norm_type=layernorm, whose mean
//     subtraction removes most of the shift).
//   - A rearrangement (arrangement.go) that beats zeroing the indices it moves
//     (Catalog.Ablated) by no more than max(minDeltaNats, sigmas standard errors,
//     ablatedShareMin of its gain): restoring what training wrote beats removing it by most of
//     its gain (blind kit 4f's Phi-3 with v's rows interleaved: 66 %; TestArrangementSearch's
//     three: 77–102 %), while scrambling a harmful part is no better than removing it (a Qwen2
//     with o_proj negated: −12 %; a GPT-2 with its attention output negated: 7 %).
//   - A transposition whose matrices' input alignment does not rise by sigmas when transposed
//     (the prior of placement.go): a trained matrix stored transposed aligns with its input only
//     when turned back (the transpositions of the kits rise by 11 to 103), so a gain without that
//     rise is another fault's partial undoing (o_proj with its head blocks reordered: 3.0).
func ambiguousFinding(cat *Catalog, best *OffsetCE, asLoaded OffsetCE, gain, se float64, rival *OffsetCE, margin, marginSE float64) *Finding {
	ev := map[string]any{"partial_convention": best.Condition, "ce_as_loaded": asLoaded.BestCE, "ce_partial_convention": best.BestCE,
		"gain_nats": gain, "se": se, "unigram_ce": cat.Unigram}
	nums := fmt.Sprintf("under %s the model predicts better (CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats)", best.Condition, best.BestCE, asLoaded.BestCE, gain, se)
	var why string
	if rival != nil && !(margin > sigmas*marginSE) {
		rivalEvidence(ev, rival, margin, marginSE)
		why = fmt.Sprintf("but under %s, another explanation, nearly as well (CE %.3f, gain %.3f ± %.3f; the best beats it by %.3f ± %.3f nats)",
			rival.Condition, rival.BestCE, rival.Gain, rival.SE, margin, marginSE)
	}
	if t := cat.Flattened; why == "" && t != nil && t.Gain > sigmas*t.SE && t.Gain > flattenedShareMin*gain {
		ev["flattened"], ev["ce_flattened"], ev["flattened_gain_nats"], ev["flattened_se"] = t.Condition, t.BestCE, t.Gain, t.SE
		why = fmt.Sprintf("but not where training leaves the attention scale: with the attention scores ×%s on top it predicts better still (CE %.3f, %.3f ± %.3f nats lower)",
			flattenFactor, t.BestCE, t.Gain, t.SE)
	}
	if why == "" {
		if u := untrainableFinding(cat, ev); len(u) > 0 {
			why = "but the weights are not as training leaves them, which no convention of the run undoes: " + strings.Join(u, "; ")
		}
	}
	if a := cat.Ablated; why == "" && a != nil {
		if m, mse := gainMargin(cat.heldOut, *best, *a); !(m > max(minDeltaNats, sigmas*mse, ablatedShareMin*gain)) {
			ev["ablated"], ev["ce_ablated"], ev["ablated_gain_nats"], ev["margin_over_ablated_nats"], ev["margin_over_ablated_se"] = a.Condition, a.BestCE, a.Gain, m, mse
			why = fmt.Sprintf("but zeroing what it rearranges does nearly as well (CE %.3f, gain %.3f; the rearrangement beats it by %.3f ± %.3f nats): it removes a harmful part rather than restoring what training wrote",
				a.BestCE, a.Gain, m, mse)
		}
	}
	if r := cat.ScaleRival; why == "" && r != nil && r.Beats {
		ev["scale_rival_ce_fitted"], ev["scale_rival_ce_convention"], ev["scale_rival_margin_nats"], ev["scale_rival_se"] = r.FittedCE, r.CE, r.Margin, r.SE
		why = fmt.Sprintf("but one scale per tensor, refitted as loaded on other positions, predicts better still (CE %.3f vs %.3f under it, %.3f ± %.3f nats lower): the convention offsets part of a fault in the tensors' scales",
			r.FittedCE, r.CE, r.Margin, r.SE)
	}
	if f := cat.FixedScaleFit; why == "" && f != nil && f.Better && f.Gain > flattenedShareMin*gain {
		ev["fixed_scale_fit_ce"], ev["fixed_scale_fit_gain_nats"], ev["fixed_scale_fit_se"], ev["fixed_scale_fit_moved"] = f.FittedCE, f.Gain, f.SE, f.Moved
		why = fmt.Sprintf("but the weights under it are not where training leaves them: one scale per tensor, refitted on other positions, predicts better still (CE %.3f vs %.3f, %.3f ± %.3f nats lower; largest moves: %s)",
			f.FittedCE, f.CE, f.Gain, f.SE, movedSummary(f.Moved))
	}
	for _, fl := range best.Flips {
		if why == "" && fl.Convention == gomlxmodel.ConvCausal && fl.Value == "false" && best.BestCE >= leakReadsTargetShare*cat.Unigram {
			why = fmt.Sprintf("but not as a model trained seeing its target predicts it (CE %.3f, above %.2f of the unigram CE %.3f)", best.BestCE, leakReadsTargetShare, cat.Unigram)
		}
		if why == "" && fl.Edit != nil && len(fl.Edit.Transpose) > 0 && fl.Edit.PriorZ < sigmas {
			ev["prior_alignment_z"] = fl.Edit.PriorZ
			why = fmt.Sprintf("but transposed, the matrices barely align better with their input (z gain %.1f, below %.0f): the transposition undoes part of another fault", fl.Edit.PriorZ, sigmas)
		}
	}
	if why == "" {
		return nil
	}
	return &Finding{Kind: KindUnexplained, Tensors: []string{}, Evidence: ev,
		Detail: nums + " " + why + ": no alternative of the search explains the fault",
		Fix:    "compare how the weights were converted and how the model is run with how it was trained, starting from the alternatives named: each undoes part of the fault"}
}

// gainMargin is the gain of best minus the gain of rival, both over base as the search measured
// them (each at its own offsets, gainOver), with the standard error of the per-position
// differences (nats).
func gainMargin(base, best, rival OffsetCE) (margin, se float64) {
	a1, b1 := pairedAt(base, best)
	a2, b2 := pairedAt(base, rival)
	n := min(len(a1), len(a2))
	x, y := make([]float64, n), make([]float64, n)
	for i := range n {
		x[i], y[i] = a1[i]-b1[i], a2[i]-b2[i]
	}
	return pairedDelta(y, x) // mean of x − y
}
