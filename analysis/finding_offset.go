package analysis

import "fmt"

// offsetFinding names target_offset: on the run the model was trained for (as loaded, or the
// convention a finding established), the best offset k is not 1, its CE is below CE(1) by more
// than max(0.1 nats, 4 standard errors), and below the unigram CE (the model did learn it); and
// either the model has no skill at offset 1 (CE(1) not below the unigram CE) or offset k wins by
// more than farBelowNats. A model trained at offset 1 that learned it only partly can predict a
// neighbouring token slightly better (the previous token is in its input); a model trained at
// another offset has no skill at offset 1, or far less than at its own.
//
// Offset 0 through a tied head's self-similarity (the top logit is the current token's self
// logit at ≥ selfSimThreshold of positions) is not an objective: a fresh or barely trained tied
// model copies that way, while a model trained on unshifted labels learns calibrated logits.
// Nor is a copy that leaves more than copyTrainedShare of the unigram CE: copying the input is
// learned almost perfectly (the family gallery's unshifted builds: CE(0) of 1e-4 to 0.1 nats
// against a unigram of 3), while a model broken at inference can predict the current token
// better than the next without having been trained to (blind kit 4c: a Mistral whose trained
// head was replaced by its embedding, CE(0) 3.0 against a unigram of 3.2; a Gemma 2 whose
// embedding was saved pre-scaled, CE(0) 1.15).
func offsetFinding(cat *Catalog, run OffsetCE) *Finding {
	k := run.Best
	if k == 1 || (k == 0 && (cat.SelfSimShare >= selfSimThreshold || run.CE[offsetIndex(0)] > copyTrainedShare*cat.Unigram)) {
		return nil
	}
	ce1, p1 := run.at(1)
	ck, pk := run.at(k)
	gain, se := pairedDelta(pk, p1) // mean of CE(1) − CE(k)
	if !significant(gain, se) || ck >= cat.Unigram-minDeltaNats || (ce1 < cat.Unigram-minDeltaNats && gain < farBelowNats) {
		return nil
	}
	ev := map[string]any{"offset": k, "unigram_ce": cat.Unigram, "gain_nats": gain, "se": se}
	for i, off := range Offsets {
		ev[fmt.Sprintf("ce_offset_%d", off)] = run.CE[i]
	}
	what := map[int]string{-1: "the previous token", 0: "the current token (unshifted labels)", 2: "the token two ahead (labels shifted twice)", 3: "the token three ahead"}[k]
	return &Finding{Kind: KindTargetOffset, Tensors: []string{}, Evidence: ev,
		Detail: fmt.Sprintf("the model predicts %s: CE at offset %d is %.3f vs %.3f at offset 1 (gain %.3f ± %.3f nats; unigram %.3f)",
			what, k, ck, ce1, gain, se, cat.Unigram),
		Fix: fmt.Sprintf("shift the labels exactly once (targets = inputs[1:]); with Hugging Face models pass labels = input_ids and let the model shift them, never both (offset %d found)", k)}
}
