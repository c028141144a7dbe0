package analysis

import (
	"fmt"

	"nanoscope/gomlxmodel"
)

// Patching is an activation-patching sweep (TransformerLens's patching.get_act_patch_*): a
// clean and a corrupted prompt of the same length, and for every block and position the
// corrupted run with one hook's activation at that position patched in from the clean run.
// The metric is the logit difference logit[A] − logit[B] at the last position, normalised so
// that 0 is the corrupted run and 1 the clean one.
type Patching struct {
	Hook             string      // the hook's leaf in TransformerLens's names: "hook_resid_pre", "hook_attn_out", "hook_mlp_out"
	A, B             int         // the answer and the wrong answer
	Clean, Corrupted float64     // the metric's two ends: the unpatched runs' logit differences
	Diff             [][]float64 // [block][pos]: the patched run's logit difference
	Restored         [][]float64 // [block][pos]: (Diff − Corrupted)/(Clean − Corrupted)
}

// PatchByLayerPosition runs the sweep on clean and corrupted (same length) at hook leaf
// (blocks.{i}.{leaf} for every block i). Errors: prompts of different lengths, an unknown
// hook, tokens out of range, clean and corrupted runs with the same logit difference (nothing
// to restore).
func PatchByLayerPosition(h *gomlxmodel.HookedRunner, clean, corrupted []int32, leaf string, a, b int) (Patching, error) {
	if len(clean) != len(corrupted) {
		return Patching{}, fmt.Errorf("activation patching: the clean prompt has %d tokens, the corrupted %d: they must align", len(clean), len(corrupted))
	}
	spec := h.Family.Spec()
	if a < 0 || a >= spec.VocabSize || b < 0 || b >= spec.VocabSize {
		return Patching{}, fmt.Errorf("activation patching: tokens %d, %d outside [0, vocab_size=%d)", a, b, spec.VocabSize)
	}
	T := len(clean)
	var hooks []string
	for i := 0; i < spec.NLayers; i++ {
		hooks = append(hooks, gomlxmodel.BlockHook(i, leaf))
	}
	var canon []string // every stream of every hook: what a patch needs from the source
	for _, n := range hooks {
		c, err := gomlxmodel.ResolveHook(h.Family, n)
		if err != nil {
			return Patching{}, fmt.Errorf("activation patching: %w", err)
		}
		canon = append(canon, c...)
	}
	src, err := h.Run([][]int32{clean}, canon)
	if err != nil {
		return Patching{}, err
	}
	base, err := h.Run([][]int32{corrupted}, nil)
	if err != nil {
		return Patching{}, err
	}
	diff := func(l gomlxmodel.Activation) float64 {
		V := l.Shape[2]
		row := l.Data[(T-1)*V:]
		return float64(row[a]) - float64(row[b])
	}
	out := Patching{Hook: leaf, A: a, B: b, Clean: diff(src["logits"]), Corrupted: diff(base["logits"])}
	if out.Clean == out.Corrupted {
		return Patching{}, fmt.Errorf("activation patching: the clean and corrupted runs have the same logit difference %g: nothing to restore", out.Clean)
	}
	for _, n := range hooks {
		row, rest := make([]float64, T), make([]float64, T)
		for p := 0; p < T; p++ {
			res, err := h.Run([][]int32{corrupted}, nil, gomlxmodel.Edit{Hook: n, Kind: gomlxmodel.EditPatch, Positions: []int{p}, Source: src})
			if err != nil {
				return Patching{}, err
			}
			row[p] = diff(res["logits"])
			rest[p] = (row[p] - out.Corrupted) / (out.Clean - out.Corrupted)
		}
		out.Diff, out.Restored = append(out.Diff, row), append(out.Restored, rest)
	}
	return out, nil
}
