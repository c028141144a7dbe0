package analysis

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

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
	KindConventionMismatch = "convention_mismatch"
	// KindTensorsMisplaced: trained tensors the converter wrote into the wrong slots (a matrix
	// transposed, modules exchanged between layers), found by the placement search (placement.go).
	KindTensorsMisplaced     = "tensors_misplaced"
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

// Informational reports whether a kind explains something without being a fault: a checkpoint
// with only informational findings is healthy.
func Informational(kind string) bool {
	return kind == KindAlphaNoGradient || kind == KindActivationOverflow16
}

// EvidenceText renders a finding's evidence (or a verdict's numbers) as `nanoscope diagnose`
// prints it: k=v pairs in key order, numbers with four significant digits; with max > 0 at
// most max pairs, then "… and N more".
func EvidenceText[V any](ev map[string]V, max int) string {
	keys := slices.Sorted(maps.Keys(ev))
	var parts []string
	for i, k := range keys {
		if max > 0 && i == max {
			parts = append(parts, fmt.Sprintf("… and %d more", len(keys)-max))
			break
		}
		var v string
		switch x := any(ev[k]).(type) {
		case float64:
			v = strconv.FormatFloat(x, 'g', 4, 64)
		case float32:
			v = strconv.FormatFloat(float64(x), 'g', 4, 32)
		default:
			v = fmt.Sprint(x)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}
