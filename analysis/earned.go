package analysis

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// "Healthy" is earned, not assumed from a loss below the unigram: besides the convention search
// finding nothing better, the cross-entropy must not break with position (a model that reads
// more context predicts at least as well: a rise at later positions is a position fault — a
// RoPE base or scaling, a position table or a window the inference path gets wrong — whether or
// not the search can name it) and the logit lens must improve with depth (no earlier block
// predicts the next token better than the model's output). Either abnormality, unexplained by
// any kind, makes the diagnosis unexplained with its numbers; so do weights that repeat others
// bit for bit or blocks of exact zeros (copies.go) and tensors whose scale a refit moves
// (scalefit.go).

// PositionBin is the cross-entropy at the model's best offset over positions [From, To) of the
// windows: mean, standard error over the positions, and their number.
type PositionBin struct {
	From int     `json:"from"`
	To   int     `json:"to"`
	CE   float64 `json:"ce"`
	SE   float64 `json:"se"`
	N    int     `json:"n"`
}

// PositionBreak is the largest rise of the CE from an earlier position bin to a later one, in
// nats, with its standard error; Break when it exceeds max(posBreakNats, sigmas·SE).
type PositionBreak struct {
	Early  PositionBin `json:"early"`
	Late   PositionBin `json:"late"`
	Excess float64     `json:"excess_nats"`
	SE     float64     `json:"se"`
	Break  bool        `json:"break"`
}

// LensDepth compares the best logit-lens point before the last block with the model's output:
// next-token accuracy of each on the lens positions, the difference and its standard error;
// Abnormal when the earlier point is better by more than max(lensMarginAcc, sigmas·SE).
type LensDepth struct {
	Point     string  `json:"point"`
	Accuracy  float64 `json:"accuracy"`
	Final     float64 `json:"final_accuracy"`
	Positions int     `json:"positions"`
	Excess    float64 `json:"excess"`
	SE        float64 `json:"se"`
	Abnormal  bool    `json:"abnormal"`
}

// Margins of the earned-health checks.

// positionBins groups the per-position CE of o at offset k (positions t ≥ 1 of windows of T,
// in offsetCE's order) into bins [1, 2), [2, 4), [4, 8), … up to T.
func positionBins(o OffsetCE, k, T int) []PositionBin {
	_, per := o.at(k)
	var bins []PositionBin
	for from := 1; from < T; from *= 2 {
		to := min(2*from, T)
		var xs []float64
		for i, x := range per {
			if t := i%(T-1) + 1; t >= from && t < to {
				xs = append(xs, x)
			}
		}
		b := PositionBin{From: from, To: to, N: len(xs)}
		if len(xs) > 0 {
			var sd float64
			b.CE, sd = stat.MeanStdDev(xs, nil)
			if len(xs) > 1 {
				b.SE = sd / math.Sqrt(float64(len(xs)))
			}
		}
		bins = append(bins, b)
	}
	return bins
}

// positionBreak finds the largest rise of the CE from an earlier bin to a later one among bins
// of at least posBinMin positions from posBreakFrom on.
func positionBreak(bins []PositionBin) PositionBreak {
	var out PositionBreak
	for j, late := range bins {
		if late.N < posBinMin || late.From < posBreakFrom {
			continue
		}
		for _, early := range bins[:j] {
			if early.N < posBinMin || early.From < posBreakFrom {
				continue
			}
			ex := late.CE - early.CE
			if ex > out.Excess || out.Late.N == 0 {
				out = PositionBreak{Early: early, Late: late, Excess: ex, SE: math.Hypot(early.SE, late.SE)}
			}
		}
	}
	out.Break = out.Excess > max(posBreakNats, sigmas*out.SE)
	return out
}

// lensDepth compares the lens points of blocks before the last with the last point (the
// model's output).
func lensDepth(l Lens, nLayers int) LensDepth {
	out := LensDepth{Positions: l.Positions}
	if len(l.Points) == 0 || nLayers < lensMinLayers || l.Positions == 0 {
		return out
	}
	out.Final = l.Points[len(l.Points)-1].NextTokenAccuracy
	out.Point, out.Accuracy = "", math.Inf(-1)
	for _, p := range l.Points {
		if p.Layer < nLayers-1 && p.NextTokenAccuracy > out.Accuracy {
			out.Point, out.Accuracy = p.Point+"."+p.Stream, p.NextTokenAccuracy
		}
	}
	n := float64(l.Positions)
	out.Excess = out.Accuracy - out.Final
	out.SE = math.Sqrt(out.Accuracy*(1-out.Accuracy)/n + out.Final*(1-out.Final)/n)
	out.Abnormal = out.Final > lensNeedsFinal && out.Excess > max(lensMarginAcc, sigmas*out.SE)
	return out
}

// unearnedFinding names a model that underperforms nothing else explains by the earned-health
// checks: unexplained, with the numbers of the check that failed. nil when both pass.
func unearnedFinding(cat *Catalog) *Finding {
	ev := map[string]any{}
	var why []string
	if b := cat.PositionBreak; b.Break {
		ev["ce_positions_early"], ev["ce_positions_late"] = b.Early.CE, b.Late.CE
		ev["positions_early"], ev["positions_late"] = fmt.Sprintf("%d-%d", b.Early.From, b.Early.To-1), fmt.Sprintf("%d-%d", b.Late.From, b.Late.To-1)
		ev["position_excess_nats"], ev["position_excess_se"] = b.Excess, b.SE
		why = append(why, fmt.Sprintf("the CE rises with position: %.3f at positions %d–%d vs %.3f at %d–%d (+%.3f ± %.3f nats), where more context should predict better",
			b.Late.CE, b.Late.From, b.Late.To-1, b.Early.CE, b.Early.From, b.Early.To-1, b.Excess, b.SE))
	}
	if l := cat.LensDepth; l.Abnormal {
		ev["lens_best_point"], ev["lens_best_accuracy"], ev["lens_final_accuracy"], ev["lens_excess_se"] = l.Point, l.Accuracy, l.Final, l.SE
		why = append(why, fmt.Sprintf("the logit lens does not improve with depth: %s predicts the next token with accuracy %.3f, the output %.3f (+%.3f ± %.3f)",
			l.Point, l.Accuracy, l.Final, l.Excess, l.SE))
	}
	untrainable := untrainableFinding(cat, ev)
	why = append(why, untrainable...)
	if f := cat.ScaleFit; f != nil && f.Better {
		ev["scale_fit_ce_as_loaded"], ev["scale_fit_ce"], ev["scale_fit_gain_nats"], ev["scale_fit_se"] = f.CE, f.FittedCE, f.Gain, f.SE
		ev["scale_fit_positions"], ev["scale_fit_moved"] = f.Positions, f.Moved
		why = append(why, fmt.Sprintf("one scale per tensor, refitted on other positions, predicts %d held-out positions better: CE %.3f vs %.3f as loaded (%.3f ± %.3f nats), where training leaves every tensor near its best scale (unless stopped long before its loss settled) — the largest moves: %s",
			f.Positions, f.FittedCE, f.CE, f.Gain, f.SE, movedSummary(f.Moved)))
	}
	if k, gain, se := offsetRival(cat.AsLoaded); k != 1 {
		ev["best_offset"], ev["offset_gain_nats"], ev["offset_gain_se"] = k, gain, se
		why = append(why, fmt.Sprintf("the model predicts the token at offset %d better than the next one (CE %.3f vs %.3f, by %.3f ± %.3f nats), which a next-token predictor run as trained never does",
			k, cat.AsLoaded.CE[offsetIndex(k)], cat.AsLoaded.CE[offsetIndex(1)], gain, se))
	}
	if len(why) == 0 {
		return nil
	}
	fix := "compare how the model was trained and how it is run at the positions, depth or tensors named (position handling, context length, the last blocks and the final norm, a factor or sign folded into a tensor, a norm read as w or 1 + w); try --convention with other values"
	if len(untrainable) > 0 {
		fix = "find the step after training that rewrote the tensors named — a quantizer's round trip, pruning, a converter's copy or a slice it did not load — and evaluate the weights from before it; no convention of the run undoes it"
	}
	return &Finding{Kind: KindUnexplained, Tensors: []string{}, Evidence: ev,
		Detail: "abnormal and no convention of the family's space or catalogued fault explains it: " + strings.Join(why, "; "),
		Fix:    fix}
}

// offsetRival returns the offset k ≠ 1 whose CE is below the CE at offset 1 by the most, when by
// more than max(minDeltaNats, sigmas standard errors of the paired difference), with that gain;
// else 1. A next-token predictor run as it was trained predicts the next token best: the current
// token (which it sees) or the previous one predicted better is a fault even when the next token
// is still predicted below the unigram CE (blind kit 4c: a Gemma with k_proj and v_proj of layer
// 0 exchanged, CE 2.38 at offset 0 vs 2.73 at offset 1; a Qwen3 with down_proj halved, 2.01 vs
// 2.64).
func offsetRival(o OffsetCE) (k int, gain, se float64) {
	k = 1
	_, p1 := o.at(1)
	for _, off := range Offsets {
		if off == 1 {
			continue
		}
		_, pk := o.at(off)
		if g, e := pairedDelta(pk, p1); significant(g, e) && g > gain {
			k, gain, se = off, g, e
		}
	}
	return k, gain, se
}
