package gomlxmodel

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Hook edits: the interventions of TransformerLens's run_with_hooks (ablate, patch) as one
// mechanism every family shares. Each family's Forward passes every activation through
// Hooks.set and continues from what it returns; set applies the edit the graph carries for
// that hook name (WithHookEdits, GoMLX graph state), so no family knows about edits.

// Hooks that exist only in a graph run by Hooked (HookedRunner), recorded by the attention of
// every family in TransformerLens's layout: attn.hook_q, attn.hook_k, attn.hook_v
// (B, T, H, hd), after RoPE and, for k and v, after the kv heads are shared out to the H query
// heads (repeat_kv).
const (
	HookQ = "hook_q"
	HookK = "hook_k"
	HookV = "hook_v"
)

// HookEdit replaces an activation while the graph is built: it receives the activation and
// returns what the forward continues from, of the same shape and dtype.
type HookEdit func(x *Node) *Node

// HookEdits maps hook names (as Forward sets them: HookNames, and attn.hook_q/k/v) to edits.
type HookEdits map[string]HookEdit

type hookEditsKey struct{}

// WithHookEdits makes every Forward built in g apply edits at their hooks (nil: none), and
// record attn.hook_q/k/v. Call it in the graph function before Forward.
func WithHookEdits(g *Graph, edits HookEdits) {
	if edits == nil {
		edits = HookEdits{}
	}
	g.AttachState(hookEditsKey{}, edits)
}

// graphEdits returns the edits attached to g and whether any were attached.
func graphEdits(g *Graph) (HookEdits, bool) {
	e, ok := g.State(hookEditsKey{}).(HookEdits)
	return e, ok
}

// editHook applies the graph's edit for name to x, if any.
func editHook(name string, x *Node) *Node {
	e, _ := graphEdits(x.Graph())
	if f := e[name]; f != nil {
		y := f(x)
		if !y.Shape().Equal(x.Shape()) {
			panic(fmt.Errorf("hook edit at %s: shape %s changed to %s", name, x.Shape(), y.Shape()))
		}
		return y
	}
	return x
}

// setQKV records (and edits) q, k, v (B, H, T, hd) as the hooks hook_q, hook_k, hook_v
// (B, T, H, hd) of the attention whose pattern hook is patternHook; only in a graph with hook
// edits attached (Hooked), so that no other graph carries the extra transposes.
func (h Hooks) setQKV(patternHook string, q, k, v *Node) (*Node, *Node, *Node) {
	if _, ok := graphEdits(q.Graph()); !ok {
		return q, k, v
	}
	prefix := strings.TrimSuffix(patternHook, HookPattern)
	one := func(leaf string, x *Node) *Node {
		y := h.set(prefix+leaf, TransposeAllAxes(x, 0, 2, 1, 3)) // (B, T, H, hd)
		return TransposeAllAxes(y, 0, 2, 1, 3)                   // (B, H, T, hd)
	}
	return one(HookQ, q), one(HookK, k), one(HookV, v)
}

// AllHookNames lists every hook a Hooked run of f can cache or edit: f's HookNames and, per
// block, attn.hook_q, attn.hook_k and attn.hook_v.
func AllHookNames(f Family) []string {
	out := slices.Clone(f.HookNames())
	for i := 0; i < f.Dims().NLayers; i++ {
		out = append(out, SubHook(i, SubAttn, HookQ), SubHook(i, SubAttn, HookK), SubHook(i, SubAttn, HookV))
	}
	return out
}

// Activation is one hook's value: Data row-major in Shape, e.g. [batch, pos, d_model] or
// [batch, head, q, k].
type Activation struct {
	Shape []int
	Data  []float32
}

// At returns the value at index idx (one per axis). It panics on an index out of range.
func (a Activation) At(idx ...int) float32 {
	if len(idx) != len(a.Shape) {
		panic(fmt.Sprintf("Activation.At: %d indices for shape %v", len(idx), a.Shape))
	}
	off := 0
	for i, j := range idx {
		if j < 0 || j >= a.Shape[i] {
			panic(fmt.Sprintf("Activation.At: index %v out of shape %v", idx, a.Shape))
		}
		off = off*a.Shape[i] + j
	}
	return a.Data[off]
}

// Edit kinds.
const (
	EditZero  = "zero"  // replace by 0
	EditMean  = "mean"  // replace by the mean over positions (of the same run, per batch row)
	EditPatch = "patch" // replace by Source: another run's activation at the same hook
)

// Edit is one intervention at a hook of a Hooked run: at the selected positions (the query
// position for hook_pattern) and, on hooks with a head axis (attn.hook_q/k/v/z, hook_pattern),
// the selected heads, the activation is replaced as Kind says.
type Edit struct {
	Hook      string // a name of AllHookNames or a TransformerLens alias (ResolveHook)
	Kind      string // EditZero, EditMean or EditPatch
	Positions []int  // nil: every position
	Heads     []int  // nil: every head; only on hooks with a head axis
	// Source is, for EditPatch, another Run's result holding the hook (every stream of an
	// mHC residual alias): the values patched in.
	Source map[string]Activation
}

// ResolveHook maps a hook name to the hooks f's Forward sets: a name of AllHookNames is
// itself; TransformerLens's names for what the families call otherwise are translated —
// blocks.{i}.hook_attn_out → blocks.{i}.attn.hook_out, blocks.{i}.hook_mlp_out →
// blocks.{i}.{mlp,ffn}.hook_out, blocks.{i}.mlp.hook_{in,post} → the ternary model's ffn,
// ln_final.hook_normalized → the final norm's output, and blocks.{i}.hook_resid_{pre,mid,post}
// → its streams (".s0", and ".s1" with mHC: the alias's value is their mean, what the head
// reads after the collapse).
func ResolveHook(f Family, name string) ([]string, error) {
	all := AllHookNames(f)
	if slices.Contains(all, name) {
		return []string{name}, nil
	}
	spec := f.Spec()
	var out []string
	n, err := ParseName(name)
	switch {
	case name == "ln_final.hook_normalized":
		out = []string{HookLnFinal}
		if spec.Streams > 0 {
			out = []string{HookNormFinal}
		}
	case err != nil || n.Root != RootBlocks:
	case n.Sub == "" && n.Leaf == "hook_attn_out":
		out = []string{SubHook(n.Block, SubAttn, HookOut)}
	case n.Sub == "" && n.Leaf == "hook_mlp_out":
		out = []string{SubHook(n.Block, spec.MLP, HookOut)}
	case n.Sub == SubMLP && n.Stream < 0:
		out = []string{SubHook(n.Block, spec.MLP, n.Leaf)}
	case n.Sub == "" && n.Stream < 0 && spec.Streams > 0:
		for k := 0; k < spec.Streams; k++ {
			out = append(out, StreamHook(n.Block, n.Leaf, k))
		}
	}
	for _, c := range out {
		if !slices.Contains(all, c) {
			out = nil
		}
	}
	if out == nil {
		return nil, fmt.Errorf("unknown hook %q for %s", name, f.Arch())
	}
	return out, nil
}

// hookAxes returns the position and head axes of hook name in a rank-rank activation (head −1
// when it has none): (B, H, Tq, Tk) for hook_pattern, (B, T, H, hd) for q, k, v and z, else
// (B, T, …). The ternary model's hook_z is (B, T, H·hd): edits reshape it to (B, T, H, hd).
func hookAxes(name string) (pos, head int) {
	switch {
	case strings.HasSuffix(name, "."+HookPattern):
		return 2, 1
	case strings.HasSuffix(name, "."+HookQ), strings.HasSuffix(name, "."+HookK),
		strings.HasSuffix(name, "."+HookV), strings.HasSuffix(name, "."+HookZ):
		return 1, 2
	}
	return 1, -1
}

// HookedRunner runs a family with hooks cached and edited (TransformerLens's run_with_cache and
// run_with_hooks). Its compiled graphs are kept per set of cached hooks and edit kinds, so a
// sweep over positions or sources of one edit compiles once per input shape.
type HookedRunner struct {
	*FamilyRunner
	execs map[string]*model.Exec
}

// NewHookedRunner wraps r.
func NewHookedRunner(r *FamilyRunner) *HookedRunner {
	return &HookedRunner{FamilyRunner: r, execs: map[string]*model.Exec{}}
}

// Close releases the compiled graphs.
func (h *HookedRunner) Close() {
	for _, e := range h.execs {
		e.Finalize()
	}
	h.execs = map[string]*model.Exec{}
}

// Run runs ids (B, T) with edits applied in forward order and returns the logits under
// "logits" (B, T, V) and every hook of cache (names of AllHookNames), shaped, as the forward
// saw it after any edit at that hook. Errors: ids outside the vocabulary or ragged, an unknown
// hook, an unknown kind, a position or head out of range, heads on a hook without a head
// axis, a patch source whose shape is not the hook's.
func (h *HookedRunner) Run(ids [][]int32, cache []string, edits ...Edit) (_ map[string]Activation, err error) {
	f := h.Family
	d := f.Dims()
	if err := CheckIDs(ids, d.VocabSize); err != nil {
		return nil, err
	}
	if d.MaxSeq > 0 && len(ids) > 0 && len(ids[0]) > d.MaxSeq {
		return nil, fmt.Errorf("%d tokens exceed the %s model's %d positions", len(ids[0]), f.Arch(), d.MaxSeq)
	}
	in, err := idsTensor(ids)
	if err != nil {
		return nil, err
	}
	var canon []string // the hooks fetched from the graph
	alias := map[string][]string{}
	for _, n := range cache {
		c, err := ResolveHook(f, n)
		if err != nil {
			return nil, err
		}
		alias[n] = c
		for _, x := range c {
			if !slices.Contains(canon, x) {
				canon = append(canon, x)
			}
		}
	}
	var flat []Edit // edits on the hooks Forward sets
	for _, e := range edits {
		c, err := ResolveHook(f, e.Hook)
		if err != nil {
			return nil, fmt.Errorf("edit: %w", err)
		}
		for _, x := range c {
			e := e
			e.Hook = x
			flat = append(flat, e)
		}
	}
	edits = flat
	T := len(ids[0])
	args := []any{in}
	key := strings.Join(canon, ",") + "|"
	spec := f.Spec()
	for _, e := range edits {
		if e.Kind != EditZero && e.Kind != EditMean && e.Kind != EditPatch {
			return nil, fmt.Errorf("edit at %s: kind %q is not %s, %s or %s", e.Hook, e.Kind, EditZero, EditMean, EditPatch)
		}
		_, headAxis := hookAxes(e.Hook)
		if headAxis < 0 && e.Heads != nil {
			return nil, fmt.Errorf("edit at %s: the hook has no head axis, found heads %v", e.Hook, e.Heads)
		}
		posMask, err := selectMask(T, e.Positions, "position", e.Hook)
		if err != nil {
			return nil, err
		}
		nh := 1
		if headAxis >= 0 {
			nh = spec.NHeads
		}
		headMask, err := selectMask(nh, e.Heads, "head", e.Hook)
		if err != nil {
			return nil, err
		}
		args = append(args, tensors.FromFlatDataAndDimensions(posMask, T), tensors.FromFlatDataAndDimensions(headMask, nh))
		if e.Kind == EditPatch {
			src, ok := e.Source[e.Hook]
			if !ok {
				return nil, fmt.Errorf("edit at %s: the patch source does not hold this hook (run the source with it cached)", e.Hook)
			}
			if numElems(src.Shape) != len(src.Data) || len(src.Shape) == 0 {
				return nil, fmt.Errorf("edit at %s: source shape %v does not hold its %d values", e.Hook, src.Shape, len(src.Data))
			}
			args = append(args, tensors.FromFlatDataAndDimensions(slices.Clone(src.Data), src.Shape...))
		}
		key += e.Hook + ":" + e.Kind + ";"
	}
	defer func() { // graph construction panics on a malformed model or edit; report it as an error
		if p := recover(); p != nil {
			err = fmt.Errorf("%s forward: %v", f.Arch(), p)
		}
	}()
	exec := h.execs[key]
	if exec == nil {
		names, eds := slices.Clone(canon), slices.Clone(edits)
		exec, err = model.NewExec(h.Backend, h.Scope.Store(), func(ctx *model.Scope, inputs []*Node) []*Node {
			defer PanicWithError()
			ids := inputs[0]
			edits := HookEdits{}
			k := 1
			for _, e := range eds {
				posMask, headMask := inputs[k], inputs[k+1]
				k += 2
				var src *Node
				if e.Kind == EditPatch {
					src = inputs[k]
					k++
				}
				edits[e.Hook] = chainEdit(edits[e.Hook], maskedEdit(e.Hook, e.Kind, posMask, headMask, src, spec.NHeads))
			}
			WithHookEdits(ids.Graph(), edits)
			return forwardOutputs(f, ctx, ids, names)
		})
		if err != nil {
			return nil, err
		}
		h.execs[key] = exec
	}
	res, err := exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	out := map[string]Activation{}
	for i, t := range res {
		data, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		a := Activation{Shape: slices.Clone(t.Shape().Dimensions), Data: data}
		if i == 0 {
			out["logits"] = a
		} else {
			out[canon[i-1]] = a
		}
	}
	for n, c := range alias { // an alias of several streams is their mean
		if len(c) > 1 {
			m := Activation{Shape: out[c[0]].Shape, Data: make([]float32, len(out[c[0]].Data))}
			for _, x := range c {
				for j, v := range out[x].Data {
					m.Data[j] += v / float32(len(c))
				}
			}
			out[n] = m
		} else {
			out[n] = out[c[0]]
		}
	}
	return out, nil
}

// chainEdit applies first, then second (either may be nil).
func chainEdit(first, second HookEdit) HookEdit {
	if first == nil {
		return second
	}
	return func(x *Node) *Node { return second(first(x)) }
}

// selectMask is a 0/1 mask of n entries, 1 at sel (every entry when sel is nil).
func selectMask(n int, sel []int, what, hook string) ([]float32, error) {
	m := make([]float32, n)
	if sel == nil {
		for i := range m {
			m[i] = 1
		}
		return m, nil
	}
	for _, i := range sel {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("edit at %s: %s %d is outside [0, %d)", hook, what, i, n)
		}
		m[i] = 1
	}
	return m, nil
}

// maskedEdit is the edit of kind at hook: where posMask (T) and headMask (H, or (1) without a
// head axis) select, x becomes 0, its mean over positions, or src; elsewhere it is x, exactly.
func maskedEdit(hook, kind string, posMask, headMask, src *Node, nHeads int) HookEdit {
	return func(x *Node) *Node {
		orig := x.Shape().Dimensions
		posAxis, headAxis := hookAxes(hook)
		if headAxis >= 0 && x.Rank() == 3 { // the ternary model's hook_z (B, T, H·hd)
			x = Reshape(x, orig[0], orig[1], nHeads, orig[2]/nHeads)
		}
		dims := x.Shape().Dimensions
		axisShape := func(axis int) []int {
			s := make([]int, len(dims))
			for i := range s {
				s[i] = 1
			}
			s[axis] = dims[axis]
			return s
		}
		m := Reshape(posMask, axisShape(posAxis)...)
		if headAxis >= 0 {
			m = Mul(m, Reshape(headMask, axisShape(headAxis)...))
		}
		cond := GreaterThan(BroadcastToDims(m, dims...), ScalarZero(x.Graph(), m.DType()))
		var repl *Node
		switch kind {
		case EditZero:
			repl = ZerosLike(x)
		case EditMean:
			repl = BroadcastToDims(ReduceAndKeep(x, ReduceMean, posAxis), dims...)
		case EditPatch:
			if !slices.Equal(src.Shape().Dimensions, orig) {
				panic(fmt.Errorf("edit at %s: source shape %v, the hook's is %v", hook, src.Shape().Dimensions, orig))
			}
			repl = Reshape(ConvertDType(src, x.DType()), dims...)
		}
		return Reshape(Where(cond, repl, x), orig...)
	}
}

// SortedHooks returns the hook names of a Run's result other than "logits", sorted.
func SortedHooks(res map[string]Activation) []string {
	var out []string
	for n := range res {
		if n != "logits" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Unembed applies the family's Unembed (final norm and head) to resid (…, D) and returns the
// logits (…, V) and their argmax over the vocabulary, computed in the graph: the logit lens of
// any stack of residual streams in one matrix product. The graph is compiled once per shape.
func (h *HookedRunner) Unembed(resid Activation) (_ Activation, argmax []int, err error) {
	D := h.Family.Dims().DModel
	if len(resid.Shape) == 0 || resid.Shape[len(resid.Shape)-1] != D || numElems(resid.Shape) != len(resid.Data) {
		return Activation{}, nil, fmt.Errorf("unembed: residual shape %v with %d values, want (…, d_model=%d)", resid.Shape, len(resid.Data), D)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s unembed: %v", h.Family.Arch(), p)
		}
	}()
	const key = "\x00unembed"
	exec := h.execs[key]
	if exec == nil {
		f := h.Family
		exec, err = model.NewExec(h.Backend, h.Scope.Store(), func(ctx *model.Scope, x *Node) []*Node {
			defer PanicWithError()
			l := ConvertDType(f.Unembed(ctx, x), dtypes.Float32)
			return []*Node{l, ConvertDType(ArgMax(l, -1), dtypes.Int32)}
		})
		if err != nil {
			return Activation{}, nil, err
		}
		h.execs[key] = exec
	}
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(resid.Data, resid.Shape...))
	if err != nil {
		return Activation{}, nil, err
	}
	l, err := tensors.CopyFlatData[float32](res[0])
	if err != nil {
		return Activation{}, nil, err
	}
	am, err := tensors.CopyFlatData[int32](res[1])
	if err != nil {
		return Activation{}, nil, err
	}
	argmax = make([]int, len(am))
	for i, v := range am {
		argmax[i] = int(v)
	}
	return Activation{Shape: slices.Clone(res[0].Shape().Dimensions), Data: l}, argmax, nil
}
