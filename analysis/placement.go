package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// The placement search: a converter that writes trained tensors into the wrong slots — a square
// matrix stored in the other layout ([in, out] for [out, in], the classic Conv1D/Linear slip that
// no shape check catches), or one layer's module mapped to another layer's name — leaves a model
// that loads, runs, and predicts worse than its weights can. Such a model has no convention to
// flip; its weights must be rearranged. The search's space therefore holds, beside the family's
// conventions, edits of the loaded tensors, each undoing one such slip:
//
//   - transpose one square matrix, or a role's in every layer;
//   - exchange a module (the tensors under "<prefix>.<layer>.<module>.") between two adjacent
//     layers, or exchange two whole adjacent layers;
//   - exchange two sub-modules of the same shapes with each other in every layer (roleExchanges);
//   - exchange two tensors of the same shape outside the layers (outerExchanges).
//
// Every edit is a permutation of trained weights, so a model trained as loaded cannot gain from
// one (permutingDeltaNats applies, see cannotHelp). Their number grows with depth, so they are
// ranked by a cheap prior, the input alignment of TensorTrace, and only the best are re-run; an
// edit runs the compiled graphs of the model as loaded with the changed tensors swapped in
// (gomlxmodel.FamilyRunner.WithValues), so it compiles nothing. A trained matrix W
// reads the activations its layer feeds it (every gradient of W is δ·xᵀ), so its alignment z
// with its own input is high; stored transposed, it aligns with that input as little as a
// random draw, and aligns again once transposed: a transpose is re-run only where it raises z
// (blind kit 4b's Qwen2 o_proj saved transposed: +11; it gained 0.09 nats). Adjacent layers
// read nearly the same residual stream, so alignment barely tells a module from its neighbour's
// (on kit 4b's Mistral with exchanged MLPs the exchange lowers the summed z by 22, on four
// healthy models by 35–68): exchanges are re-run all, up to maxExchanges (every one on models of
// up to 6 layers), and ranked by it only beyond. The priors are computed only when the search
// runs (an untrained draw has nothing to rearrange).

// Edit is a rearrangement of the loaded tensors: Transpose lists square matrices to transpose,
// Exchange pairs of tensors of the same shape to exchange. PriorZ is the gain of input-alignment
// z that ranked it (see the package comment of placement.go), or for Permute the first-order
// loss gain (nats) that did (arrangement.go).
type Edit struct {
	Transpose []string    `json:"transpose,omitempty"`
	Exchange  [][2]string `json:"exchange,omitempty"`
	// Permute rearranges axes of matrices (the arrangement search's, arrangement.go).
	Permute []Permutation `json:"permute,omitempty"`
	// What names the edit: "<tensor> transposed", "<module> of layers i and j exchanged".
	What   string  `json:"what"`
	PriorZ float64 `json:"prior_z"`
}

// Conventions of the edits: how the saved tensors are mapped to the model's parameters.
const (
	convTensorLayout  = "tensor_layout"  // a matrix transposed
	convTensorMapping = "tensor_mapping" // tensors written under each other's names
)

// maxTransposes, maxExchanges (between adjacent layers) and maxRoleExchanges (within every
// layer) are how many edits of each sort a round of the search re-runs.
const (
	maxTransposes    = 8
	maxExchanges     = 15
	maxRoleExchanges = 10
)

// tensors returns the tensors an edit touches, in order.
func (e Edit) tensors() []string {
	out := slices.Clone(e.Transpose)
	for _, p := range e.Exchange {
		out = append(out, p[0], p[1])
	}
	for _, p := range e.Permute {
		out = append(out, p.Tensor)
	}
	return out
}

// Flip returns the edit as a flip of the search (undoing it: transposing a matrix and exchanging
// two tensors are their own inverses).
func (e Edit) Flip() Flip {
	f := Flip{Value: "as saved", Loaded: "as saved", Edit: &e}
	switch {
	case len(e.Permute) > 0:
		f.Convention, f.Value = convTensorLayout, "rearranged"
		f.Key = "the order the converter writes a matrix's rows or columns in (a permutation meant for another tensor, a head's dimensions reversed or rolled)"
	case len(e.Transpose) > 0:
		f.Convention, f.Value = convTensorLayout, "transposed"
		f.Key = "the layout the converter writes these matrices in ([out, in] for nn.Linear, [in, out] for Conv1D)"
	default:
		f.Convention, f.Value = convTensorMapping, "exchanged"
		f.Key = "the parameter name each saved tensor is mapped to by the converter"
	}
	return f
}

// Apply returns p with the edit applied (gomlxmodel.Rearranged; its errors begin with the
// edit's name when it has one).
func (e Edit) Apply(p gomlxmodel.Params) (gomlxmodel.Params, error) {
	out, err := gomlxmodel.Rearranged(p, e.Transpose, e.Exchange)
	for _, pm := range e.Permute {
		if err == nil {
			err = pm.applyTo(out)
		}
	}
	if err != nil && e.What != "" {
		err = fmt.Errorf("edit %s: %w", e.What, err)
	}
	return out, err
}

// layerName splits a parameter name at its layer index: "model.layers.3.mlp.up_proj.weight"
// gives prefix "model.layers.", layer 3 and rest "mlp.up_proj.weight"; ok is false for names
// without a layer index.
var layerNameRE = regexp.MustCompile(`^(.*?\.)([0-9]+)\.(.*)$`)

func layerName(name string) (prefix string, layer int, rest string, ok bool) {
	m := layerNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", 0, "", false
	}
	layer, _ = strconv.Atoi(m[2])
	return m[1], layer, m[3], true
}

// placementEdits returns the edits of the placement space the search re-runs, each sort best
// first: the transposes that raise the alignment z (at most maxTransposes) and the exchanges
// between adjacent layers (all of them up to maxExchanges, else the best by their prior), the
// exchanges within every layer and outside the layers. traces are the tensors' tests, dirs the
// directions of the activations their matrices read.
func placementEdits(s *Subject, traces []TensorTrace, dirs map[string]directions) []Edit {
	z := map[string]float64{} // each reading matrix's alignment z with its own input
	for _, t := range traces {
		if t.Test == "input alignment" {
			z[t.Name] = t.AlignZ
		}
	}
	// cross is the z of matrix a reading b's input (memoised: a whole layer's exchange sums its
	// modules'); zT the z of a matrix transposed.
	memo := map[[2]string]float64{}
	cross := func(a, b string) float64 {
		if v, ok := memo[[2]string{a, b}]; ok {
			return v
		}
		data, rows, cols := s.outIn(a)
		_, v := inputAlignment(data, rows, cols, dirs[s.readHook(b)])
		memo[[2]string{a, b}] = v
		return v
	}
	zT := func(n string) float64 {
		data, rows, cols := s.outIn(n)
		t := checkpoint.Tensor{Shape: []int{rows, cols}, Data: data}.Transposed()
		_, v := inputAlignment(t.Data, cols, rows, dirs[s.readHook(n)])
		return v
	}
	var edits, exchanges []Edit
	// Square matrices transposed: each alone, and every layer's matrix of a role at once (a
	// converter that forgets the transpose forgets it in every layer).
	roles := map[string][]string{}
	gains := map[string]float64{}
	for _, n := range slices.Sorted(maps.Keys(z)) {
		if t := s.Params[n]; t.Shape[0] == t.Shape[1] {
			g := zT(n) - z[n]
			if g > 0 {
				edits = append(edits, Edit{Transpose: []string{n}, What: n + " transposed", PriorZ: g})
			}
			if prefix, _, rest, ok := layerName(n); ok {
				role := prefix + "N." + rest
				roles[role] = append(roles[role], n)
				gains[role] += g
			}
		}
	}
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		if g := gains[role]; g > 0 && len(roles[role]) > 1 {
			edits = append(edits, Edit{Transpose: roles[role], What: role + " transposed in every layer", PriorZ: g})
		}
	}
	// Modules, and whole layers, exchanged between adjacent layers (those holding a matrix that
	// reads an activation).
	type key struct {
		prefix string
		layer  int
	}
	byLayer := map[key][]string{}
	for n := range s.Params {
		if p, l, _, ok := layerName(n); ok {
			byLayer[key{p, l}] = append(byLayer[key{p, l}], n)
		}
	}
	reads := func(pairs [][2]string) bool {
		return slices.ContainsFunc(pairs, func(p [2]string) bool { _, ok := z[p[0]]; return ok })
	}
	for _, k := range slices.SortedFunc(maps.Keys(byLayer), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.prefix, b.prefix), cmp.Compare(a.layer, b.layer))
	}) {
		next := key{k.prefix, k.layer + 1}
		if _, ok := byLayer[next]; !ok {
			continue
		}
		modules := map[string][][2]string{}
		whole := true
		for _, a := range byLayer[k] {
			_, _, rest, _ := layerName(a)
			mod, _, _ := strings.Cut(rest, ".")
			b := k.prefix + strconv.Itoa(next.layer) + strings.TrimPrefix(a, k.prefix+strconv.Itoa(k.layer))
			if tb, ok := s.Params[b]; ok && slices.Equal(tb.Shape, s.Params[a].Shape) {
				modules[mod] = append(modules[mod], [2]string{a, b})
			} else {
				whole = false
			}
		}
		var all [][2]string
		for _, mod := range slices.Sorted(maps.Keys(modules)) {
			pairs := modules[mod]
			slices.SortFunc(pairs, func(x, y [2]string) int { return cmp.Compare(x[0], y[0]) })
			all = append(all, pairs...)
			if reads(pairs) && len(modules) > 1 {
				exchanges = append(exchanges, Edit{Exchange: pairs, What: fmt.Sprintf("%sN.%s of layers %d and %d exchanged", k.prefix, mod, k.layer, next.layer)})
			}
		}
		if reads(all) && whole {
			exchanges = append(exchanges, Edit{Exchange: all, What: fmt.Sprintf("layers %d and %d of %sN exchanged", k.layer, next.layer, k.prefix)})
		}
	}
	if len(exchanges) > maxExchanges { // rank them: the alignment the exchange would gain
		for i, e := range exchanges {
			for _, p := range e.Exchange {
				if _, ok := z[p[0]]; ok {
					exchanges[i].PriorZ += cross(p[0], p[1]) + cross(p[1], p[0]) - z[p[0]] - z[p[1]]
				}
			}
		}
	}
	best := func(es []Edit, n int) []Edit {
		slices.SortStableFunc(es, func(a, b Edit) int { return cmp.Compare(b.PriorZ, a.PriorZ) })
		return es[:min(n, len(es))]
	}
	out := append(best(edits, maxTransposes), best(exchanges, maxExchanges)...)
	return append(append(out, roleExchanges(s)...), outerExchanges(s)...)
}

// outerExchanges returns the exchanges of two tensors outside the layers with the same shape
// and the same last name component — an untied input embedding and output head written to each
// other's names (GPT-NeoX's embed_in and embed_out, Llama's embed_tokens and lm_head).
func outerExchanges(s *Subject) []Edit {
	var outer []string
	for _, n := range slices.Sorted(maps.Keys(s.Params)) {
		if _, _, _, ok := layerName(n); !ok {
			outer = append(outer, n)
		}
	}
	last := func(n string) string { return n[strings.LastIndex(n, ".")+1:] }
	var out []Edit
	for i, a := range outer {
		for _, b := range outer[i+1:] {
			if last(a) == last(b) && slices.Equal(s.Params[a].Shape, s.Params[b].Shape) {
				out = append(out, Edit{Exchange: [][2]string{{a, b}}, What: a + " and " + b + " exchanged"})
			}
		}
	}
	return out
}

// roleExchanges returns the exchanges of two sub-modules of every layer with each other — a
// converter's name map that mixes two roles (Meta's w1 and w3 for gate_proj and up_proj, q_proj
// and k_proj, the two norms) — for every pair of sub-modules ("self_attn.q_proj": a layer's
// tensors by name up to their last component) with the same tensors of the same shapes in every
// layer; at most maxRoleExchanges, in name order. Their number does not grow with depth, and no
// alignment tells two readers of one input apart, so they carry no prior.
func roleExchanges(s *Subject) []Edit {
	type sub struct{ prefix, module string }
	shapes := map[sub]map[string][]int{} // a sub-module's tensors (last component) and shapes
	layers := map[string]map[int]bool{}
	consistent := map[sub]bool{}
	for _, n := range slices.Sorted(maps.Keys(s.Params)) {
		prefix, l, rest, ok := layerName(n)
		i := strings.LastIndex(rest, ".")
		if !ok || i < 0 {
			continue
		}
		k, last := sub{prefix, rest[:i]}, rest[i+1:]
		if layers[prefix] == nil {
			layers[prefix] = map[int]bool{}
		}
		layers[prefix][l] = true
		if shapes[k] == nil {
			shapes[k], consistent[k] = map[string][]int{}, true
		}
		if sh, seen := shapes[k][last]; seen && !slices.Equal(sh, s.Params[n].Shape) {
			consistent[k] = false
		}
		shapes[k][last] = s.Params[n].Shape
	}
	same := func(a, b sub) bool {
		if a.prefix != b.prefix || !consistent[a] || !consistent[b] || len(shapes[a]) != len(shapes[b]) {
			return false
		}
		for last, sh := range shapes[a] {
			if !slices.Equal(sh, shapes[b][last]) {
				return false
			}
		}
		for l := range layers[a.prefix] {
			for last := range shapes[a] {
				for _, m := range []string{a.module, b.module} {
					if _, ok := s.Params[fmt.Sprintf("%s%d.%s.%s", a.prefix, l, m, last)]; !ok {
						return false
					}
				}
			}
		}
		return true
	}
	subs := slices.SortedFunc(maps.Keys(shapes), func(a, b sub) int {
		return cmp.Or(cmp.Compare(a.prefix, b.prefix), cmp.Compare(a.module, b.module))
	})
	var out []Edit
	for i, a := range subs {
		for _, b := range subs[i+1:] {
			if len(out) == maxRoleExchanges || !same(a, b) {
				continue
			}
			var pairs [][2]string
			for _, l := range slices.Sorted(maps.Keys(layers[a.prefix])) {
				for _, last := range slices.Sorted(maps.Keys(shapes[a])) {
					pairs = append(pairs, [2]string{fmt.Sprintf("%s%d.%s.%s", a.prefix, l, a.module, last), fmt.Sprintf("%s%d.%s.%s", a.prefix, l, b.module, last)})
				}
			}
			out = append(out, Edit{Exchange: pairs, What: fmt.Sprintf("%s and %s exchanged in every layer of %sN", a.module, b.module, a.prefix)})
		}
	}
	return out
}

// withFlip returns the subject under one flip of the search: a convention of the family, or an
// edit of the tensors.
func (s *Subject) withFlip(f Flip) (*Subject, error) {
	if f.Edit == nil {
		return s.WithConvention(f.Convention, f.Value)
	}
	p, err := f.Edit.Apply(s.Params)
	if err != nil {
		return nil, err
	}
	s2, err := s.withParams(p)
	if err != nil {
		return nil, err
	}
	s2.Family = s.Family // the conventions of earlier flips
	return s2, nil
}

// misplacedFinding is the finding of an edit that holds: the trained tensors are in the wrong
// slots, and the edit puts them back.
func misplacedFinding(fl Flip, ev map[string]any, nums string) Finding {
	e := fl.Edit
	ev["edit"], ev["prior_alignment_z"], ev["confirm"] = e.What, e.PriorZ, e.flags()
	f := Finding{Kind: KindTensorsMisplaced, Tensors: e.tensors(), Evidence: ev}
	if len(e.Permute) > 0 {
		delete(ev, "prior_alignment_z")
		ev["predicted_gain_nats"] = e.PriorZ
		f.Detail = fmt.Sprintf("with %s the model predicts far better (%s): the converter wrote them in another order than the matrices that read them expect (a permutation meant for another tensor, or none where one was due)",
			e.What, nums)
		f.Fix = "write the rows or columns in the order the model reads them (check which tensors a permutation of the converter applies to); confirm with " + shortFlags(e.flags())
		return f
	}
	if len(e.Transpose) > 0 {
		f.Detail = fmt.Sprintf("with %s the model predicts far better (%s): trained in the other layout, written transposed by the converter (a square matrix: no shape check catches it)",
			e.What, nums)
		f.Fix = "transpose when converting (nn.Linear stores [out, in], Conv1D and some exporters [in, out]); confirm with " + shortFlags(e.flags())
		return f
	}
	f.Detail = fmt.Sprintf("with %s the model predicts far better (%s): the converter wrote them under each other's names", e.What, nums)
	f.Fix = "map each saved tensor to its own name when converting (check the layer index and the role in the name mapping); confirm with " + shortFlags(e.flags())
	return f
}

// flags returns the command-line flags that run a checkpoint with the edit applied:
// "--transpose T" per matrix, "--exchange A,B" per pair, "--permute T:AXIS=…" per permutation.
func (e Edit) flags() string {
	var parts []string
	for _, n := range e.Transpose {
		parts = append(parts, "--transpose "+n)
	}
	for _, p := range e.Exchange {
		parts = append(parts, "--exchange "+p[0]+","+p[1])
	}
	for _, p := range e.Permute {
		parts = append(parts, p.flag())
	}
	return strings.Join(parts, " ")
}

// shortFlags returns flags whole when they are few, else the first two and where the rest is.
func shortFlags(flags string) string {
	parts := strings.SplitAfterN(flags, " --", 4)
	if len(parts) < 4 {
		return flags
	}
	return strings.TrimSuffix(parts[0]+parts[1], " --") + " … (all of them: evidence.confirm)"
}
