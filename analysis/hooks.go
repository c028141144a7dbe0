package analysis

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
)

// The verbs of TransformerLens on any family that gomlxmodel/load opens: the logit lens as one
// matrix product, direct logit attribution, attention patterns and activation patching
// (patching.go). They run on a gomlxmodel.HookedRunner, whose Run is run_with_cache and
// run_with_hooks.

// ResidHooks are the residual stream hooks, in TransformerLens's names, whose lens and
// decomposition the instruments read: blocks.0.hook_resid_pre (the embedding as the blocks
// see it), then blocks.{i}.hook_resid_post for every block. With mHC each is the mean of the
// two streams.
func ResidHooks(nLayers int) []string {
	out := []string{gomlxmodel.BlockHook(0, gomlxmodel.HookResidPre)}
	for i := 0; i < nLayers; i++ {
		out = append(out, gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost))
	}
	return out
}

// LensLogits is the logit lens of one sequence: the residual stream at every depth decoded
// through the family's final norm and head.
type LensLogits struct {
	Depths []string // "embedding", "block 0", …: the stream entering block 0, then leaving each block
	Hooks  []string // the hook read at each depth (ResidHooks)
	// Logits are (depth, pos, vocab): depth 0 is blocks.0.hook_resid_pre, depth i+1 block i's
	// resid_post. The last depth is the model's logits, except for nanochat, whose head reads
	// resid_post minus backout_lambda times block n_layer/2's stream.
	Logits gomlxmodel.Activation
	Argmax [][]int // [depth][pos]: the top token, computed in the graph
}

// ResidLens decodes the residual stream of ids (one sequence) at every depth with the family's
// Unembed: one Run for the streams and one graph for all depths at once, (depth·pos, D) ×
// head (D, V) — no per-logit Go loop.
func ResidLens(h *gomlxmodel.HookedRunner, ids []int32) (LensLogits, error) {
	hooks := ResidHooks(h.Family.Dims().NLayers)
	res, err := h.Run([][]int32{ids}, hooks)
	if err != nil {
		return LensLogits{}, err
	}
	T, D := len(ids), h.Family.Dims().DModel
	stack := make([]float32, 0, len(hooks)*T*D)
	out := LensLogits{Hooks: hooks}
	for i, n := range hooks {
		stack = append(stack, res[n].Data...)
		if i == 0 {
			out.Depths = append(out.Depths, "embedding")
		} else {
			out.Depths = append(out.Depths, fmt.Sprintf("block %d", i-1))
		}
	}
	logits, argmax, err := h.Unembed(gomlxmodel.Activation{Shape: []int{len(hooks), T, D}, Data: stack})
	if err != nil {
		return LensLogits{}, err
	}
	out.Logits = logits
	for d := range hooks {
		out.Argmax = append(out.Argmax, argmax[d*T:(d+1)*T])
	}
	return out, nil
}

// LogitDiff returns the lens's logit of token a minus token b at every depth and position,
// [depth][pos].
func (l LensLogits) LogitDiff(a, b int) ([][]float64, error) {
	nd, T, V := l.Logits.Shape[0], l.Logits.Shape[1], l.Logits.Shape[2]
	if a < 0 || a >= V || b < 0 || b >= V {
		return nil, fmt.Errorf("lens logit difference: tokens %d, %d outside [0, vocab_size=%d)", a, b, V)
	}
	out := make([][]float64, nd)
	for d := range out {
		out[d] = make([]float64, T)
		for t := range out[d] {
			row := l.Logits.Data[(d*T+t)*V:]
			out[d][t] = float64(row[a]) - float64(row[b])
		}
	}
	return out, nil
}

// DLA is a direct logit attribution: the logit difference of two tokens at one position
// decomposed over the residual stream's components, with the final norm's scale frozen at its
// value on the full stream (TransformerLens's apply_ln_to_stack): each component c contributes
// (W_U[a] − W_U[b]) · (w ⊙ P(c) / σ), P the norm's centring (LayerNorm) or the identity
// (RMSNorm), σ its scale on the whole stream, w its weight; a LayerNorm's bias contributes
// (W_U[a] − W_U[b]) · bias. Contributions sum to LogitDiff.
type DLA struct {
	Position  int
	A, B      int       // the tokens: logit[A] − logit[B]
	LogitDiff float64   // the model's logit difference at Position
	Labels    []string  // "embed", "L0 attn", "L0 mlp", … or per head "L0H3", "L0 attn bias"; "ln_final bias"
	Values    []float64 // each label's contribution, in logits
	Scale     float64   // σ, the final norm's frozen scale at Position
}

// Sum is the total of the contributions, which equals LogitDiff to float precision.
func (d DLA) Sum() float64 {
	s := 0.0
	for _, v := range d.Values {
		s += v
	}
	return s
}

// DirectLogitAttribution decomposes logit[a] − logit[b] at position pos of ids (one
// sequence) over the embedding (blocks.0.hook_resid_pre) and each block's attention and MLP
// — per head when perHead is set: head h of block i contributes z_h · W_O[h] (W_O the weight
// that reads attn.hook_z) and the output bias its own term. Errors: a family whose head does
// not read the last resid_post (nanochat's backout), a soft-capped head (not linear), per-head
// attribution through a BitLinear output projection (its activation quantisation is not linear
// in z), a position or token out of range.
func DirectLogitAttribution(h *gomlxmodel.HookedRunner, ids []int32, pos, a, b int, perHead bool) (DLA, error) {
	f := h.Family
	spec := f.Spec()
	if f.Arch() == "nanochat" {
		return DLA{}, fmt.Errorf("direct logit attribution: nanochat's head reads resid_post minus backout_lambda times block %d's stream, and its resid lambdas rescale the stream: not a sum of block outputs", spec.NLayers/2)
	}
	for _, c := range f.Conventions() {
		if c.Name == gomlxmodel.ConvLogitSoftCap && c.Value != "none" {
			return DLA{}, fmt.Errorf("direct logit attribution: the head's logit soft-cap %s is not linear", c.Value)
		}
	}
	if perHead && spec.Ternary != nil {
		return DLA{}, fmt.Errorf("direct logit attribution per head: %s's output projection is a BitLinear, whose per-token activation quantisation is not linear in the heads' outputs", f.Arch())
	}
	T, D, L := len(ids), spec.DModel, spec.NLayers
	if pos < 0 || pos >= T {
		return DLA{}, fmt.Errorf("direct logit attribution: position %d outside [0, %d)", pos, T)
	}
	if a < 0 || a >= spec.VocabSize || b < 0 || b >= spec.VocabSize {
		return DLA{}, fmt.Errorf("direct logit attribution: tokens %d, %d outside [0, vocab_size=%d)", a, b, spec.VocabSize)
	}
	var hooks []string
	for i := 0; i < L; i++ {
		hooks = append(hooks, gomlxmodel.BlockHook(i, gomlxmodel.HookResidPre), gomlxmodel.BlockHook(i, gomlxmodel.HookResidMid), gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost))
		if perHead {
			hooks = append(hooks, gomlxmodel.SubHook(i, gomlxmodel.SubAttn, gomlxmodel.HookZ))
		}
	}
	res, err := h.Run([][]int32{ids}, hooks)
	if err != nil {
		return DLA{}, err
	}
	at := func(hook string) []float64 { // the hook's (D) vector at pos
		out := make([]float64, D)
		for j, v := range res[hook].Data[pos*D : (pos+1)*D] {
			out[j] = float64(v)
		}
		return out
	}
	head, err := paramData(h, spec.Head)
	if err != nil {
		return DLA{}, err
	}
	u := make([]float64, D) // W_U[a] − W_U[b]
	for j := range u {
		u[j] = float64(head[a*D+j]) - float64(head[b*D+j])
	}
	w := make([]float64, D)
	offset := 0.0
	for _, c := range f.Conventions() {
		if c.Name == gomlxmodel.ConvNormWeight && c.Value == "1+w" {
			offset = 1
		}
	}
	if spec.NormFinal == "" {
		for j := range w {
			w[j] = 1
		}
	} else {
		nw, err := paramData(h, spec.NormFinal)
		if err != nil {
			return DLA{}, err
		}
		for j := range w {
			w[j] = offset + float64(nw[j])
		}
	}
	final := at(gomlxmodel.BlockHook(L-1, gomlxmodel.HookResidPost))
	layer := spec.Norm == gomlxmodel.NormLayer
	centre := func(c []float64) []float64 {
		if !layer {
			return c
		}
		m := 0.0
		for _, v := range c {
			m += v
		}
		m /= float64(len(c))
		out := make([]float64, len(c))
		for j, v := range c {
			out[j] = v - m
		}
		return out
	}
	ss := 0.0
	for _, v := range centre(final) {
		ss += v * v
	}
	sigma := math.Sqrt(ss/float64(D) + spec.NormEps)
	contrib := func(c []float64) float64 {
		s := 0.0
		for j, v := range centre(c) {
			s += u[j] * w[j] * v
		}
		return s / sigma
	}
	sub := func(x, y []float64) []float64 {
		out := make([]float64, len(x))
		for j := range x {
			out[j] = x[j] - y[j]
		}
		return out
	}
	out := DLA{Position: pos, A: a, B: b, Scale: sigma}
	add := func(label string, v float64) {
		out.Labels, out.Values = append(out.Labels, label), append(out.Values, v)
	}
	add("embed", contrib(at(gomlxmodel.BlockHook(0, gomlxmodel.HookResidPre))))
	for i := 0; i < L; i++ {
		pre, mid, post := at(gomlxmodel.BlockHook(i, gomlxmodel.HookResidPre)), at(gomlxmodel.BlockHook(i, gomlxmodel.HookResidMid)), at(gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost))
		if i > 0 {
			prev := at(gomlxmodel.BlockHook(i-1, gomlxmodel.HookResidPost))
			if d := maxAbs(sub(pre, prev)); d != 0 {
				return DLA{}, fmt.Errorf("direct logit attribution: blocks.%d.hook_resid_pre differs from block %d's resid_post by %g: the stream is not a sum of block outputs", i, i-1, d)
			}
		}
		attn := sub(mid, pre)
		if perHead {
			heads, bias, err := headOutputs(h, res, i, pos)
			if err != nil {
				return DLA{}, err
			}
			for k, o := range heads {
				add(fmt.Sprintf("L%dH%d", i, k), contrib(o))
			}
			if bias != nil {
				add(fmt.Sprintf("L%d attn bias", i), contrib(bias))
			}
		} else {
			add(fmt.Sprintf("L%d attn", i), contrib(attn))
		}
		add(fmt.Sprintf("L%d mlp", i), contrib(sub(post, mid)))
	}
	if layer && spec.NormFinalBias != "" {
		nb, err := paramData(h, spec.NormFinalBias)
		if err != nil {
			return DLA{}, err
		}
		s := 0.0
		for j := range u {
			s += u[j] * float64(nb[j])
		}
		add("ln_final bias", s)
	}
	logits := res["logits"]
	V := logits.Shape[2]
	out.LogitDiff = float64(logits.Data[pos*V+a]) - float64(logits.Data[pos*V+b])
	return out, nil
}

// headOutputs returns block i's per-head attention outputs z_h · W_O[h] (D each) at pos, and
// the output projection's bias (nil without one), from a result holding attn.hook_z.
func headOutputs(h *gomlxmodel.HookedRunner, res map[string]gomlxmodel.Activation, i, pos int) ([][]float64, []float64, error) {
	spec := h.Family.Spec()
	zHook := gomlxmodel.SubHook(i, gomlxmodel.SubAttn, gomlxmodel.HookZ)
	var wName string
	var inOut bool
	for n, ws := range spec.Weights {
		if ws.Reads == zHook {
			wName, inOut = n, ws.InOut
		}
	}
	if wName == "" {
		return nil, nil, fmt.Errorf("direct logit attribution per head: no weight of %s reads %s", h.Family.Arch(), zHook)
	}
	wo, err := paramData(h, wName)
	if err != nil {
		return nil, nil, err
	}
	D, H, hd := spec.DModel, spec.NHeads, spec.HeadDim
	in := H * hd
	z := res[zHook].Data[pos*in : (pos+1)*in] // (H·hd) at pos: head-major
	heads := make([][]float64, H)
	for k := range heads {
		o := make([]float64, D)
		for d := 0; d < D; d++ {
			s := 0.0
			for j := 0; j < hd; j++ {
				c := k*hd + j
				wv := wo[d*in+c] // [out, in]
				if inOut {
					wv = wo[c*D+d] // [in, out]
				}
				s += float64(z[c]) * float64(wv)
			}
			o[d] = s
		}
		heads[k] = o
	}
	bName := wName[:len(wName)-len("weight")] + "bias"
	var bias []float64
	if _, ok := gomlxmodel.ParamShapes(h.Family)[bName]; ok {
		bd, err := paramData(h, bName)
		if err != nil {
			return nil, nil, err
		}
		bias = make([]float64, D)
		for d := range bias {
			bias[d] = float64(bd[d])
		}
	}
	return heads, bias, nil
}

// paramData returns the values of the runner's parameter name (its checkpoint name).
func paramData(h *gomlxmodel.HookedRunner, name string) ([]float32, error) {
	scope, vn := gomlxmodel.ScopeAndName(name)
	v := h.Scope.Store().GetVariable(model.JoinPath(scope, vn))
	if v == nil {
		return nil, fmt.Errorf("parameter %s is not in the %s model", name, h.Family.Arch())
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("parameter %s: %w", name, err)
	}
	return tensors.CopyFlatData[float32](t)
}

// Pattern returns the attention pattern of head hd of block layer on ids (one sequence),
// [query][key], from blocks.{layer}.attn.hook_pattern.
func Pattern(h *gomlxmodel.HookedRunner, ids []int32, layer, head int) ([][]float64, error) {
	hook := gomlxmodel.SubHook(layer, gomlxmodel.SubAttn, gomlxmodel.HookPattern)
	res, err := h.Run([][]int32{ids}, []string{hook})
	if err != nil {
		return nil, err
	}
	p := res[hook]
	if head < 0 || head >= p.Shape[1] {
		return nil, fmt.Errorf("attention pattern: head %d outside [0, %d)", head, p.Shape[1])
	}
	T := len(ids)
	out := make([][]float64, T)
	for q := range out {
		out[q] = make([]float64, T)
		for k := range out[q] {
			out[q][k] = float64(p.At(0, head, q, k))
		}
	}
	return out, nil
}
