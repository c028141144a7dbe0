package gomlxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Step is what one forward of an incremental or batched inference path reads besides the ids:
// the keys and values of the positions already processed (a KV cache), the rows' padding and
// position ids, and the inference faults switched on. Every family reads it through its
// RunConventions (Run.Step); nil is the plain full forward, whose graph it leaves untouched.
//
// The cache holds, per attention layer — keyed by the layer's pattern hook name,
// "blocks.{i}.attn.hook_pattern" — the keys and values after RoPE and the kv-head expansion,
// (B, H, Past, hd), and nanochat's smear its normalised embeddings (B, Past, D). A forward of
// T new ids at positions Past … Past+T−1 attends to the Past cached keys and its own, and
// leaves the Past+T keys and values of every layer in Next for the following forward.
type Step struct {
	// Past is the number of positions in Cache: the first new position (added to
	// RunConventions.PositionOffset).
	Past int
	// Cache are the past tensors by name (nil or empty at prefill); Next receives this
	// forward's full ones (filled by the graph).
	Cache, Next map[string]*Node
	// Pad marks, per row, the padded positions of the whole sequence (Past+T): no query
	// attends to a padded key (a padded query attends to itself only, so that it stays
	// finite). nil: no padding.
	Pad [][]bool
	// RowShift shifts row b's position ids by RowShift[b] (left padding with position ids:
	// −pad_b, so that the row's first real token is at position 0; a negative position of a
	// padded token reads position 0 of a learned table). nil: none.
	RowShift []int
	// Fault is the inference fault switched on (InferenceFault); "" none.
	Fault InferenceFault
	// Seed draws the dropout masks of FaultDropout.
	Seed uint64
}

// InferenceFault is a fault of an inference path built on purpose: the ways an engine runs
// correct weights wrongly that the reference-free checks (analysis.InferenceChecks) flag and
// the engine fingerprint names.
type InferenceFault string

// The inference faults.
const (
	// FaultKVPlus1 and FaultKVMinus1: the cache's position counter is off by one — every
	// decoded token (Past > 0) is given the position Past+1 (Past−1) instead of Past; the
	// prefill is exact.
	FaultKVPlus1  InferenceFault = "kv_position_plus1"
	FaultKVMinus1 InferenceFault = "kv_position_minus1"
	// FaultLeftPadNoPositions: a left-padded row keeps the position ids 0…T−1 of the padded
	// sequence (RowShift ignored), so its real tokens start at position pad_b.
	FaultLeftPadNoPositions InferenceFault = "left_pad_no_position_ids"
	// FaultDropout: dropout left on at inference, p = FaultDropoutP on the token embedding
	// (embd_pdrop), a fresh mask at every forward.
	FaultDropout InferenceFault = "dropout_on"
	// FaultFP16: the forward in float16 with no float32 upcast anywhere — weights,
	// activations, norms and softmax in half precision (see ReducedPrecision).
	FaultFP16 InferenceFault = "fp16_no_upcast"
	// FaultNoBOS: the engine drops the tokenizer's BOS from the prompt (the generator's
	// caller applies it: the model sees the prompt without its first id).
	FaultNoBOS InferenceFault = "missing_bos"
)

// InferenceFaults lists the faults, in the order the checks and the gallery report them.
var InferenceFaults = []InferenceFault{FaultKVPlus1, FaultKVMinus1, FaultLeftPadNoPositions, FaultDropout, FaultFP16, FaultNoBOS}

// ParseInferenceFault checks a fault name ("" or "none" is no fault).
func ParseInferenceFault(s string) (InferenceFault, error) {
	if s == "" || s == "none" {
		return "", nil
	}
	for _, f := range InferenceFaults {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("inference fault %q is not one of %v", s, InferenceFaults)
}

// FaultDropoutP is the dropout probability of FaultDropout (GPT-2's embd_pdrop).
const FaultDropoutP = 0.1

// positionShift is the fault's shift of the new positions: ±1 on decoded tokens under the
// KV-cache faults, 0 otherwise.
func (s *Step) positionShift() int {
	if s == nil || s.Past == 0 {
		return 0
	}
	switch s.Fault {
	case FaultKVPlus1:
		return 1
	case FaultKVMinus1:
		return -1
	}
	return 0
}

// rowShift is the per-row position shift in effect (nil without one, or under
// FaultLeftPadNoPositions).
func (s *Step) rowShift() []int {
	if s == nil || s.Fault == FaultLeftPadNoPositions {
		return nil
	}
	return s.RowShift
}

// firstPosition is the position id of the first new token: the convention's offset, the
// cached positions and the fault's shift.
func (r RunConventions) firstPosition() int {
	if r.Step == nil {
		return r.PositionOffset
	}
	return r.PositionOffset + r.Step.Past + r.Step.positionShift()
}

// extend appends x (the new positions along axis) to the cached tensor name and records the
// result in Next; without a cached tensor (prefill) it records x itself.
func (s *Step) extend(name string, x *Node, axis int) *Node {
	if past := s.Cache[name]; past != nil {
		x = Concatenate([]*Node{ConvertDType(past, x.DType()), x}, axis)
	}
	if s.Next == nil {
		s.Next = map[string]*Node{}
	}
	s.Next[name] = x
	return x
}

// attnMask is the additive mask (1|B, 1, Tq, Tk) of queries at cache positions
// Tk−Tq … Tk−1 over keys 0 … Tk−1: −inf where key j is not visible from query i — j > i
// (causal), i − j > window (window > 0), or j padded (Step.Pad; a padded query sees itself).
// Without a Step and with Tq = Tk it is the plain mask of the full forward.
func attnMask(g *Graph, run RunConventions, tq, tk int, causal bool, window int, dtype dtypes.DType) *Node {
	s := run.Step
	if s == nil || (s.Pad == nil && tq == tk) {
		switch {
		case window > 0 && window < tk-1:
			return windowMask(g, tk, causal, window, dtype)
		case causal:
			return causalMask(g, tk, dtype)
		}
		return nil
	}
	rows := 1
	if s.Pad != nil {
		rows = len(s.Pad)
	}
	off := tk - tq
	inf := float32(math.Inf(-1))
	m := make([]float32, rows*tq*tk)
	for b := 0; b < rows; b++ {
		for i := 0; i < tq; i++ {
			qi := off + i
			for j := 0; j < tk; j++ {
				hidden := causal && j > qi || window > 0 && qi-j > window
				if s.Pad != nil {
					switch {
					case s.Pad[b][qi]:
						hidden = j != qi
					case s.Pad[b][j]:
						hidden = true
					}
				}
				if hidden {
					m[(b*tq+i)*tk+j] = inf
				}
			}
		}
	}
	return ConvertDType(ConstTensor(g, tensors.FromFlatDataAndDimensions(m, rows, 1, tq, tk)), dtype)
}

// cacheKV extends k and v (B, H, T, hd) with the layer's cached keys and values when a Step
// is in effect; key is the layer's pattern hook name.
func cacheKV(run RunConventions, key string, k, v *Node) (*Node, *Node) {
	if run.Step == nil {
		return k, v
	}
	return run.Step.extend(key+".k", k, 2), run.Step.extend(key+".v", v, 2)
}

// positionIDs are the position ids (B|1, T) int32 of the new tokens: firstPosition + t, plus
// each row's shift, clamped at 0 (a padded token's id; its output is masked).
func (r RunConventions) positionIDs(b, t int) (ids [][]int32) {
	first := r.firstPosition()
	shift := r.Step.rowShift()
	rows := 1
	if shift != nil {
		rows = b
	}
	ids = make([][]int32, rows)
	for row := range ids {
		ids[row] = make([]int32, t)
		for i := range ids[row] {
			p := first + i
			if shift != nil {
				p += shift[row]
			}
			ids[row][i] = int32(max(p, 0))
		}
	}
	return ids
}

// positionEmbed gathers the rows of a learned position table (P, D) at the position ids:
// (1, T, D), or (B, T, D) with per-row shifts. A position past the table is an error naming
// the family.
func (r RunConventions) positionEmbed(arch string, table *Node, b, t int) *Node {
	ids := r.positionIDs(b, t)
	p := table.Shape().Dimensions[0]
	flat := make([]int32, 0, len(ids)*t)
	for _, row := range ids {
		for _, x := range row {
			if int(x) >= p {
				panic(fmt.Errorf("%s: position id %d is past the %d positions of the table", arch, x, p))
			}
		}
		flat = append(flat, row...)
	}
	g := table.Graph()
	idx := ConstTensor(g, tensors.FromFlatDataAndDimensions(flat, len(flat), 1))
	return Reshape(Gather(table, idx), len(ids), t, table.Shape().Dimensions[1])
}

// dropEmbedding applies FaultDropout's mask to the token embedding x (B, T, D): each value
// kept with probability 1 − FaultDropoutP and scaled by 1/(1 − p), the mask drawn from
// Step.Seed when the graph is built (every forward builds its graph anew).
func (r RunConventions) dropEmbedding(x *Node) *Node {
	if r.Step == nil || r.Step.Fault != FaultDropout {
		return x
	}
	rng := rand.New(rand.NewPCG(r.Step.Seed, 0x9e3779b97f4a7c15))
	mask := make([]float32, x.Shape().Size())
	for i := range mask {
		if rng.Float64() >= FaultDropoutP {
			mask[i] = float32(1 / (1 - FaultDropoutP))
		}
	}
	m := ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(mask, x.Shape().Dimensions...))
	return Mul(x, ConvertDType(m, x.DType()))
}

// runConfigurable is a family whose run conventions can be replaced (every family).
type runConfigurable interface {
	withRun(func(*RunConventions)) Family
}

func (m GPT2) withRun(f func(*RunConventions)) Family     { f(&m.Config.Run); return m }
func (m Llama) withRun(f func(*RunConventions)) Family    { f(&m.Config.Run); return m }
func (m Nanochat) withRun(f func(*RunConventions)) Family { f(&m.Config.Run); return m }
func (m GPTNeoX) withRun(f func(*RunConventions)) Family  { f(&m.Config.Run); return m }
func (m Model) withRun(f func(*RunConventions)) Family    { f(&m.Run); return m }

// WithStep returns f running one forward of an incremental or batched inference path (nil:
// the plain forward).
func WithStep(f Family, s *Step) (Family, error) {
	rc, ok := f.(runConfigurable)
	if !ok {
		return nil, fmt.Errorf("%s: no inference step", f.Arch())
	}
	return rc.withRun(func(r *RunConventions) { r.Step = s }), nil
}

// KVCache is the state of a generation between forwards: the per-layer keys and values (and
// nanochat's smeared embeddings) of the Past positions, as tensors.
type KVCache struct {
	Past    int
	names   []string
	tensors []*tensors.Tensor
}

// Len is the number of cached positions.
func (c *KVCache) Len() int {
	if c == nil {
		return 0
	}
	return c.Past
}

// StepOptions are the per-forward settings of StepForward besides the cache.
type StepOptions struct {
	Pad      [][]bool // see Step.Pad (over Past+T positions)
	RowShift []int    // see Step.RowShift
	Fault    InferenceFault
	Seed     uint64
	// DType runs the whole forward in this float dtype (Float16, BFloat16): weights converted
	// from float32, every activation in it; the logits are returned as float32. InvalidDType
	// (the zero value) is float32.
	DType dtypes.DType
}

// StepForward runs r's model on ids (B, T) after the positions of cache (nil: none) under the
// options o, and returns the logits (B, T, V) flattened row-major and the cache extended by the
// T new positions. Each call builds and compiles its graph (the cache length is in its shapes).
// Errors: ids outside the vocabulary, a ragged batch, a padding mask or row shifts of the wrong
// size, a position past a learned position table.
func StepForward(r *FamilyRunner, ids [][]int32, cache *KVCache, o StepOptions) (_ []float32, _ *KVCache, err error) {
	d := r.Family.Dims()
	if err := CheckIDs(ids, d.VocabSize); err != nil {
		return nil, nil, err
	}
	in, err := idsTensor(ids)
	if err != nil {
		return nil, nil, err
	}
	b, t := len(ids), len(ids[0])
	if o.Pad != nil && (len(o.Pad) != b || len(o.Pad[0]) != cache.Len()+t) {
		return nil, nil, fmt.Errorf("padding mask %d×%d, want %d×%d (rows × cached+new positions)", len(o.Pad), len(o.Pad[0]), b, cache.Len()+t)
	}
	if o.RowShift != nil && len(o.RowShift) != b {
		return nil, nil, fmt.Errorf("row shifts for %d rows, want %d", len(o.RowShift), b)
	}
	if o.Fault == FaultFP16 {
		o.DType = dtypes.Float16
	}
	step := &Step{Past: cache.Len(), Pad: o.Pad, RowShift: o.RowShift, Fault: o.Fault, Seed: o.Seed}
	var names []string
	inputs := []any{in}
	if cache != nil {
		names = cache.names
		for _, x := range cache.tensors {
			inputs = append(inputs, x)
		}
	}
	fam, err := WithStep(r.Family, step)
	if err != nil {
		return nil, nil, err
	}
	store := r.Scope.Store()
	if o.DType != dtypes.InvalidDType && o.DType != dtypes.Float32 {
		if store, err = convertStore(fam, r.Scope, o.DType); err != nil {
			return nil, nil, err
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s forward: %v", r.Family.Arch(), p)
		}
	}()
	var outNames []string
	exec, err := model.NewExec(r.Backend, store, func(ctx *model.Scope, nodes []*Node) []*Node {
		defer PanicWithError()
		step.Cache = map[string]*Node{}
		for i, n := range names {
			step.Cache[n] = nodes[1+i]
		}
		step.Next = nil
		logits := fam.Forward(ctx, nodes[0], nil)
		outs := []*Node{ConvertDType(logits, dtypes.Float32)}
		outNames = sortedKeys(step.Next)
		for _, n := range outNames {
			outs = append(outs, step.Next[n])
		}
		return outs
	})
	if err != nil {
		return nil, nil, err
	}
	defer exec.Finalize()
	res, err := exec.Exec(inputs...)
	if err != nil {
		return nil, nil, err
	}
	logits, err := tensors.CopyFlatData[float32](res[0])
	if err != nil {
		return nil, nil, err
	}
	next := &KVCache{Past: cache.Len() + t, names: outNames, tensors: res[1:]}
	return logits, next, nil
}

// convertStore is a new store holding f's parameters of scope converted to dtype.
func convertStore(f Family, scope *model.Scope, dtype dtypes.DType) (*model.Store, error) {
	out := model.NewStore()
	b, err := NewBackend()
	if err != nil {
		return nil, err
	}
	for _, s := range f.ParamSpecs() {
		sc, vn := ScopeAndName(s.Name)
		v := scope.Store().GetVariable(model.JoinPath(sc, vn))
		if v == nil {
			return nil, fmt.Errorf("%s: parameter %s not in the store", f.Arch(), s.Name)
		}
		conv, err := ExecOnce(b, func(x *Node) *Node { return ConvertDType(x, dtype) }, v.MustValue())
		if err != nil {
			return nil, fmt.Errorf("%s: converting %s to %s: %w", f.Arch(), s.Name, dtype, err)
		}
		out.VariableWithValue(model.JoinPath(sc, vn), conv)
	}
	return out, nil
}

func sortedKeys(m map[string]*Node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
