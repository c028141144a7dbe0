package analysis

import "fmt"

// Thresholds of context_free.

// contextFreeFinding names context_free: no better than the unigram CE at any offset but 0 and
// no worse than it by collapseAboveNats, and the predicted distribution hardly depends on the context (ContextMI) or one token is the
// argmax almost everywhere (TopShare).
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
	if best < cat.Unigram-minDeltaNats || best > cat.Unigram+collapseAboveNats || (cat.ContextMI >= contextMIMax && cat.TopShare < topShareMin) {
		return nil
	}
	return &Finding{Kind: KindContextFree, Tensors: []string{},
		Evidence: map[string]any{"context_mi": cat.ContextMI, "context_mi_threshold": contextMIMax, "top_share": cat.TopShare,
			"ce_offset_1": ce1, "best_ce_offset_not_0": best, "unigram_ce": cat.Unigram},
		Detail: fmt.Sprintf("the predictions barely depend on the context: mean KL(p_t ‖ p̄) %.3f nats (threshold %.2f), the top token is the same at %.0f%% of positions, and the best CE %.3f is not below the unigram CE %.3f",
			cat.ContextMI, contextMIMax, 100*cat.TopShare, best, cat.Unigram),
		Fix: "the model collapsed to the unigram distribution: lower the learning rate or add warm-up, check that attention receives gradient and that inputs are not masked or shuffled"}
}
