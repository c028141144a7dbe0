package analysis

// Finding kinds: the ways a trained language model fails at inference that the diagnosis names
// (issue "fault catalog"). Each kind has its own file (finding_*.go) with the function that
// decides it from measurements.
const (
	KindWeightsUntrained = "weights_untrained"
	KindTensorsUntrained = "tensors_untrained"
	KindTargetOffset     = "target_offset"
	KindFutureLeakage    = "future_leakage"
	KindRopeLayout       = "rope_layout"
	KindGQAMapping       = "gqa_mapping"
	// KindConventionMismatch is any other convention of the family's space (search.go) under
	// which the model predicts significantly better than as loaded.
	KindConventionMismatch   = "convention_mismatch"
	KindContextFree          = "context_free"
	KindAlphaNoGradient      = "alpha_no_gradient"
	KindActivationOverflow16 = "activation_overflow_fp16"
	// KindPaddedVocabMass: the padded ids past the real vocabulary (nanoGPT's 50304 for
	// GPT-2's 50257) take probability at inference, so sampling can emit ids no tokenizer has.
	KindPaddedVocabMass = "padded_vocab_mass"
	KindUnexplained     = "unexplained"
)

// Finding is one fault (or informational fact) the measurements establish: its kind, the
// tensors concerned (empty when it concerns the whole model), the numbers that decided it, a
// one-line explanation and a one-line fix. Evidence values are numbers, except the layout and
// mapping names of rope_layout and gqa_mapping.
type Finding struct {
	Kind     string         `json:"kind"`
	Tensors  []string       `json:"tensors"`
	Evidence map[string]any `json:"evidence"`
	Detail   string         `json:"detail"`
	Fix      string         `json:"fix"`
}

// informational reports whether a kind explains something without being a fault: a checkpoint
// with only informational findings is healthy.
func informational(kind string) bool {
	return kind == KindAlphaNoGradient || kind == KindActivationOverflow16
}
