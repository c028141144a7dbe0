package analysis

import (
	"fmt"
	"strings"
)

// conventionGain compares a re-run under another convention with the run as loaded: the drop
// of the best CE over the offsets (as loaded minus condition), with the standard error of the
// paired per-position differences. When that drop is not significant but the condition's best
// CE is within minDeltaNats of the best as loaded, the drop is measured at the offset the
// condition predicts best: a GPT-2 trained without the causal mask and run with it predicts the
// previous token about as well as it predicts the next one without the mask, so the best CEs
// tie while the offset moved.
func conventionGain(cat *Catalog, cond OffsetCE) (gain, se float64) {
	as := cat.asLoadedHead
	_, a := as.at(as.Best)
	_, b := cond.at(cond.Best)
	gain, se = pairedDelta(b, a) // mean of a − b
	if significant(gain, se) || cond.BestCE > as.BestCE+minDeltaNats {
		return gain, se
	}
	_, a = as.at(cond.Best)
	return pairedDelta(b, a)
}

// conventionHolds reports whether a re-run shows the model was trained under its convention
// (see conventionFindings), with the gain.
func conventionHolds(cat *Catalog, c OffsetCE) (gain, se float64, ok bool) {
	gain, se = conventionGain(cat, c)
	return gain, se, significant(gain, se) && c.BestCE < cat.Unigram-minDeltaNats
}

// conventionFindings names future_leakage, rope_layout and gqa_mapping: the model predicts
// significantly better (by more than max(0.1 nats, 4 standard errors)) with the causal mask
// removed, under the other RoPE layout or under the other GQA mapping than as loaded, and under
// that condition it beats the unigram CE — so it was trained that way.
func conventionFindings(cat *Catalog) []Finding {
	var out []Finding
	for _, c := range cat.Conditions {
		gain, se, ok := conventionHolds(cat, c)
		if !ok {
			continue
		}
		ev := map[string]any{"ce_as_loaded": cat.asLoadedHead.BestCE, "positions": len(c.perPos[0]), "ce_" + strings.ReplaceAll(c.Condition, " ", "_"): c.BestCE,
			"gain_nats": gain, "se": se, "offset": c.Best, "unigram_ce": cat.Unigram}
		f := Finding{Tensors: []string{}, Evidence: ev}
		switch {
		case c.Condition == "no causal mask":
			f.Kind = KindFutureLeakage
			f.Detail = fmt.Sprintf("with the causal mask removed the model predicts the token at offset %d far better (CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats): it was trained where positions could see later tokens, so its training loss was too good and causal inference is garbage",
				c.Best, c.BestCE, cat.asLoadedHead.BestCE, gain, se)
			f.Fix = "train with a causal mask (check the attention mask, is_causal, and any sliding-window or padding mask that lets a position attend forward)"
		case strings.HasPrefix(c.Condition, "rope "):
			layout := strings.TrimPrefix(c.Condition, "rope ")
			f.Kind = KindRopeLayout
			ev["trained_layout"] = layout
			f.Detail = fmt.Sprintf("under the %s RoPE pairing the model predicts far better (CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats): it was trained with %s rotary pairs and the loader applies the other pairing",
				layout, c.BestCE, cat.asLoadedHead.BestCE, gain, se, layout)
			f.Fix = fmt.Sprintf("run the model with the %s RoPE layout (--rope-layout %s), or permute the q/k projection rows to the loader's layout when converting", layout, layout)
		case strings.HasPrefix(c.Condition, "gqa "):
			mapping := strings.TrimPrefix(c.Condition, "gqa ")
			f.Kind = KindGQAMapping
			ev["trained_mapping"] = mapping
			f.Detail = fmt.Sprintf("with the %s query-head → kv-head mapping the model predicts far better (CE %.3f vs %.3f as loaded, gain %.3f ± %.3f nats): it was trained with that mapping",
				mapping, c.BestCE, cat.asLoadedHead.BestCE, gain, se)
			f.Fix = fmt.Sprintf("run the model with --gqa-map %s, or reorder the query heads (wq rows, wo columns) when converting", mapping)
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}
