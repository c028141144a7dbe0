package analysis

import "fmt"

// Thresholds of context_free.

// contextFreeFinding names context_free: no better than the unigram CE at any offset but 0 and
// no worse than it by collapseAboveNats, and one token is the argmax almost everywhere
// (TopShare); the predicted distribution's dependence on the context (ContextMI) is evidence, not
// the test. A model that predicts one distribution has one argmax (the family gallery's
// collapses: at 100 % of positions); logits made flat at inference (a tied embedding saved
// divided by √d: kit 4d) also give a small ContextMI (0.012 nats) while their argmax follows
// the context (the same at 28 % of positions).
func contextFreeFinding(cat *Catalog) *Finding {
	ce1 := cat.AsLoaded.CE[offsetIndex(1)]
	best := ce1
	for i, k := range Offsets {
		if k != 0 {
			best = min(best, cat.AsLoaded.CE[i])
		}
	}
	// A model trained into collapse sits at the unigram CE (the optimum of a context-free
	// model; the gallery's: +0.06 nats); one far above it was broken at inference instead.
	if best < cat.Unigram-minDeltaNats || best > cat.Unigram+collapseAboveNats || cat.TopShare < topShareMin {
		return nil
	}
	return &Finding{Kind: KindContextFree, Tensors: []string{},
		Evidence: map[string]any{"context_mi": cat.ContextMI, "top_share": cat.TopShare, "top_share_threshold": topShareMin,
			"ce_offset_1": ce1, "best_ce_offset_not_0": best, "unigram_ce": cat.Unigram},
		Detail: fmt.Sprintf("the predictions barely depend on the context: the top token is the same at %.0f%% of positions (threshold %.0f%%), mean KL(p_t ‖ p̄) %.3f nats, and the best CE %.3f is not below the unigram CE %.3f",
			100*cat.TopShare, 100*topShareMin, cat.ContextMI, best, cat.Unigram),
		Fix: "the model collapsed to the unigram distribution: lower the learning rate or add warm-up, check that attention receives gradient and that inputs are not masked or shuffled"}
}
