package gomlxmodel

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Family is one transformer architecture as the instruments see it: its parameters (names,
// shapes, initialisers), a forward pass with hook points, and the conventions it runs under.
// The investigated ternary model (Model), GPT2 and Llama implement it.
//
// Parameter names are the checkpoint's ("transformer.h.0.attn.c_attn.weight",
// "model.layers.0.self_attn.q_proj.weight"); each is variable ScopeAndName(name) of the
// context. Hook names follow TransformerLens (see HookNames).
type Family interface {
	// Arch names the family: "nanoscope", "gpt2", "llama" or "nanochat".
	Arch() string
	// Dims are the sizes the instruments need.
	Dims() Dims
	// Spec states the family's facts as data, for the instruments that would otherwise ask
	// which family they hold.
	Spec() FamilySpec
	// ParamSpecs lists every parameter, sorted by name.
	ParamSpecs() []ParamSpec
	// Forward maps ids (B, T) int32 to logits (B, T, V), filling hooks when non-nil.
	Forward(ctx *model.Scope, ids *Node, hooks Hooks) *Node
	// Unembed maps a residual stream (…, D) through the final norm and the head to logits
	// (…, V): the logit lens. Forward's logits are Unembed of the last residual stream.
	Unembed(ctx *model.Scope, resid *Node) *Node
	// HookNames lists the hooks Forward fills, in forward order.
	HookNames() []string
	// Conventions lists the named conventions the model runs under, with their alternatives.
	Conventions() []Convention
	// WithConvention returns the same family under another value of one convention (the
	// diagnosis flips them to test a hypothesis). The parameter set may change (tying).
	WithConvention(name, value string) (Family, error)
}

// Dims are a family's sizes.
type Dims struct {
	VocabSize int
	DModel    int
	NLayers   int
	NHeads    int
	MaxSeq    int // longest sequence the model accepts; 0 when unbounded (RoPE)
}

// FamilySpec is what the instruments know of a family, as data (as TransformerLens'
// HookedTransformerConfig): sizes, final norm, initialiser, the tensors of the embedding and
// the head, the offset of the targets, the residual streams, and for every weight matrix the
// activation it reads and its stored layout. Analysis reads it instead of asking which family
// it holds.
type FamilySpec struct {
	Dims
	NKVHeads int // key/value heads (= NHeads without GQA)
	HeadDim  int
	// MaxPositions is the longest sequence the family was built or trained for (n_positions,
	// max_position_embeddings, max_seq_len); 0 when not stated.
	MaxPositions int

	Norm    string  // the final norm: NormRMS or NormLayer (with a bias)
	NormEps float64 // its epsilon
	// InitRange is initializer_range, the std of Hugging Face's normal initialisers; 0 for a
	// family without one (the ternary model's initialisers are per tensor: InitOf).
	InitRange float64

	Embed         string // the token embedding (V, D)
	Head          string // the head's tensor (V, D): lm_head.weight, or Embed when tied
	Tied          bool   // the head is the token embedding
	NormFinal     string // the final norm's weight (D)
	NormFinalBias string // the final norm's bias (D); "" for RMSNorm

	// TargetShift is the offset of the training targets: 1 (the next token), or the ternary
	// variant's (0 trains on the current token).
	TargetShift int
	// Streams is the number of residual streams, whose hooks carry the suffix ".s{k}"
	// (WithStream): 2 with the ternary model's mHC, 1 without; 0 for a single stream whose
	// hooks have no suffix (GPT-2, Llama).
	Streams int
	// MLP names the feed-forward sub-block in hook names: SubFFN or SubMLP.
	MLP string
	// Weights lists the weight matrices that read an activation: each one's hook and stored
	// layout. The embeddings, whose input is one-hot, are not listed.
	Weights map[string]WeightSpec

	// Ternary is the ternary model's configuration and variant (what its quantisers, mHC
	// streams and trainer read); nil for the other families.
	Ternary *TernarySpec
}

// WeightSpec is one weight matrix: the hook whose activations it reads, and whether it is
// stored [in, out] (HF Conv1D) rather than [out, in] (nn.Linear).
type WeightSpec struct {
	Reads string
	InOut bool
}

// TernarySpec is the ternary model's configuration and variant.
type TernarySpec struct {
	Config  config.Config
	Variant config.Variant
}

// Final norm kinds.
const (
	NormRMS   = "rmsnorm"
	NormLayer = "layernorm"
)

// weightsReading lists the parameters of specs for which reads names a hook, each with that
// hook and stored [in, out] when inOut says so.
func weightsReading(specs []ParamSpec, reads func(name string) string, inOut func(name string) bool) map[string]WeightSpec {
	out := map[string]WeightSpec{}
	for _, p := range specs {
		if h := reads(p.Name); h != "" {
			out[p.Name] = WeightSpec{Reads: h, InOut: inOut(p.Name)}
		}
	}
	return out
}

// ParamSpec is one parameter: its checkpoint name, shape and initialiser.
type ParamSpec struct {
	Name  string
	Shape []int
	Init  InitKind
}

// Convention is one named convention of a family: its value in effect and the values it can
// take, e.g. {"rope_pairing", "halves", ["halves", "interleaved"]}.
//
// Values are the alternatives the diagnosis tries (WithConvention may accept more, e.g. any
// positive rope_theta); Key says what sets the convention in the user's config or code, for the
// fix a finding prints.
//
// Free conventions take any value WithConvention accepts (a number: rope_theta, a soft-cap);
// their Values are only the ones the search tries. Inert ones cannot change the logits of this
// model (the kv-head mapping when no kv head is shared): the search skips them.
type Convention struct {
	Name   string
	Value  string
	Values []string
	Key    string
	Free   bool
	Inert  bool
}

// Convention names shared by the families.
const (
	ConvRopePairing  = "rope_pairing"  // "halves" (HF rotate_half) | "interleaved" (pairs 2i, 2i+1)
	ConvGQAMapping   = "gqa_mapping"   // "interleave" (HF repeat_kv: head h reads kv h / n_rep) | "tile" (h mod n_kv)
	ConvCausal       = "causal"        // "true" | "false": the causal mask
	ConvTiedHead     = "tied_head"     // "true" | "false"
	ConvWeightLayout = "weight_layout" // GPT-2: "conv1d" ([in, out], HF) | "linear" ([out, in], nanoGPT)
	// ConvNumHeads is the number of attention heads (Hugging Face's num_attention_heads;
	// GPT-2's n_head) of a family whose head size is the width divided by it: every weight keeps
	// its shape under another count, so a config that says another than training used loads.
	ConvNumHeads = "num_attention_heads"
)

// headCounts are the alternatives of ConvNumHeads for n heads over a width of d: n, then n/4,
// n/2, 2n and 4n where they divide d into heads of at least minDim (even) dimensions.
func headCounts(n, d, minDim int) []string {
	out := []string{strconv.Itoa(n)}
	for _, h := range []int{n / 4, n / 2, 2 * n, 4 * n} {
		if h > 0 && h != n && d%h == 0 && d/h >= minDim && (d/h)%2 == 0 && !slices.Contains(out, strconv.Itoa(h)) {
			out = append(out, strconv.Itoa(h))
		}
	}
	return out
}

// parseHeads parses a head count for a width of d.
func parseHeads(name, value string, d int) (int, error) {
	h, err := strconv.Atoi(value)
	if err != nil || h <= 0 || d%h != 0 {
		return 0, fmt.Errorf("convention %s: %q does not divide the width %d into heads", name, value, d)
	}
	return h, nil
}

func boolString(b bool) string { return fmt.Sprint(b) }

func parseBool(name, value string) (bool, error) {
	switch value {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("convention %s: value %q is not one of [true false]", name, value)
}

func checkValue(name, value string, values ...string) error {
	if !slices.Contains(values, value) {
		return fmt.Errorf("convention %s: value %q is not one of %v", name, value, values)
	}
	return nil
}

// ParamShapes returns the shapes of f's parameters by name.
func ParamShapes(f Family) map[string][]int {
	out := map[string][]int{}
	for _, p := range f.ParamSpecs() {
		out[p.Name] = p.Shape
	}
	return out
}

// CheckFamilyParams checks that p holds exactly f's parameters with their shapes and sizes.
func CheckFamilyParams(f Family, p Params) error {
	want := ParamShapes(f)
	for _, s := range f.ParamSpecs() {
		t, ok := p[s.Name]
		if !ok {
			return fmt.Errorf("%s: missing parameter %s %v", f.Arch(), s.Name, s.Shape)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return fmt.Errorf("%s: parameter %s: expected shape %v, found %v", f.Arch(), s.Name, s.Shape, t.Shape)
		}
		if n := numElems(t.Shape); n != len(t.Data) {
			return fmt.Errorf("%s: parameter %s: shape %v needs %d values, found %d", f.Arch(), s.Name, t.Shape, n, len(t.Data))
		}
	}
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := want[n]; !ok {
			return fmt.Errorf("%s: unexpected parameter %s", f.Arch(), n)
		}
	}
	return nil
}

func numElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// InitFamilyParams draws f's parameters from their initialisers. As InitParams, each tensor
// has its own random stream derived from (seed, name).
func InitFamilyParams(f Family, seed int64) Params {
	out := Params{}
	for _, s := range f.ParamSpecs() {
		data := make([]float32, numElems(s.Shape))
		if s.Init.Normal {
			h := fnv.New64a()
			h.Write([]byte(s.Name))
			rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
			for i := range data {
				data[i] = float32(rng.NormFloat64() * s.Init.Std)
			}
		} else {
			for i := range data {
				data[i] = s.Init.Value
			}
		}
		out[s.Name] = checkpoint.Tensor{Shape: slices.Clone(s.Shape), Data: data}
	}
	return out
}

// NewFamilyScope puts f's parameters p into a fresh model.Store, after CheckFamilyParams, and
// returns its root scope.
func NewFamilyScope(f Family, p Params) (*model.Scope, error) {
	if err := CheckFamilyParams(f, p); err != nil {
		return nil, err
	}
	ctx := model.NewStore().RootScope()
	for _, s := range f.ParamSpecs() {
		t := p[s.Name]
		scope, vname := ScopeAndName(s.Name)
		ctx.Store().VariableWithValue(model.JoinPath(scope, vname), tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)) // copies the data
	}
	return ctx, nil
}

// FamilyRunner evaluates a family with fixed weights: the inference path of any family. Its
// forward graphs are compiled once per set of captured hooks and input shape, and reused by
// every later call (on XLA a GPT-2-small forward compiles in 1–2 s and runs in milliseconds);
// it is safe for concurrent use.
type FamilyRunner struct {
	Family  Family
	Backend compute.Backend
	Scope   *model.Scope

	mu     sync.Mutex
	execs  map[string]*model.Exec // by the captured hooks' names, joined with ","
	shapes map[[3]any]bool        // the (hooks, batch, length) each has run on
	// base and values: a runner of WithValues runs base's graphs with values in place of the
	// variables they name.
	base   *FamilyRunner
	values map[*model.Variable]*tensors.Tensor
	// scaleExec is ScaledLoss' graph, built on first use; arrangeExecs ArrangementCosts' graphs,
	// by their requests.
	scaleExec    *model.Exec
	arrangeExecs map[string]*model.Exec
}

// WithValues returns a runner of r's family and compiled graphs on r's weights with the
// parameters of changed (names of r's family, shapes unchanged) in their place (on top of r's
// own when r is itself a runner of WithValues): a weight edit
// (a tensor transposed, two exchanged, one replaced) compiles nothing and copies only the
// tensors it changes. Its calls swap the values into r's variables, run, and swap them back,
// one at a time among the runners of r's store (the store's run lock). Its Scope is nil: what
// builds graphs of its own (a gradient) needs a runner of its own weights (NewFamilyRunner); and
// a graph built outside the runners on r's Scope (model.NewExec) takes no lock, so it must not run
// while a runner of WithValues does.
func (r *FamilyRunner) WithValues(changed Params) (*FamilyRunner, error) {
	base := r
	if r.base != nil {
		base = r.base
	}
	specs := map[string][]int{}
	for _, sp := range r.Family.ParamSpecs() {
		specs[sp.Name] = sp.Shape
	}
	out := &FamilyRunner{Family: r.Family, Backend: r.Backend, base: base, values: maps.Clone(r.values)}
	if out.values == nil {
		out.values = map[*model.Variable]*tensors.Tensor{}
	}
	for name, t := range changed {
		shape, ok := specs[name]
		if !ok {
			return nil, fmt.Errorf("%s runner: no parameter %s", r.Family.Arch(), name)
		}
		if !slices.Equal(shape, t.Shape) {
			return nil, fmt.Errorf("%s runner: %s: expected shape %v, found %v", r.Family.Arch(), name, shape, t.Shape)
		}
		scope, vname := ScopeAndName(name)
		v := base.Scope.Store().GetVariable(model.JoinPath(scope, vname))
		if v == nil {
			return nil, fmt.Errorf("%s runner: no variable for %s", r.Family.Arch(), name)
		}
		out.values[v] = tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)
	}
	return out, nil
}

// runLocks guards the creation of a store's run lock (runLock).
var runLocks sync.Mutex

// runLock returns the lock of the store's variable values, kept in the store itself (so every
// runner on the store, however made, shares it): held for reading by a call on the store's own
// values, for writing by a call of a runner of WithValues, which swaps values in around it.
func runLock(s *model.Store) *sync.RWMutex {
	const key = "/nanoscope_run_lock"
	runLocks.Lock()
	defer runLocks.Unlock()
	if l, ok := s.GetParam(key); ok {
		return l.(*sync.RWMutex)
	}
	l := &sync.RWMutex{}
	s.SetParam(key, l)
	return l
}

// swapped runs f with the runner's values in its base's variables (for a runner of
// WithValues), or on its own weights.
func (r *FamilyRunner) swapped(f func() error) error {
	if r.base == nil {
		l := runLock(r.Scope.Store())
		l.RLock()
		defer l.RUnlock()
		return f()
	}
	l := runLock(r.base.Scope.Store())
	l.Lock()
	defer l.Unlock()
	old := map[*model.Variable]*tensors.Tensor{}
	defer func() {
		for v, t := range old {
			if err := v.SetValuePreservingOld(t); err != nil {
				panic(err) // the variable existed a moment ago
			}
		}
	}()
	for v, t := range r.values {
		cur, err := v.Value()
		if err != nil {
			return err
		}
		if err := v.SetValuePreservingOld(t); err != nil {
			return err
		}
		old[v] = cur
	}
	return f()
}

// NewFamilyRunner builds f with weights p on the backend of BackendConfig.
func NewFamilyRunner(f Family, p Params) (*FamilyRunner, error) {
	InstallDotGeneralGradient()
	b, err := NewBackend()
	if err != nil {
		return nil, err
	}
	ctx, err := NewFamilyScope(f, p)
	if err != nil {
		return nil, err
	}
	return &FamilyRunner{Family: f, Backend: b, Scope: ctx}, nil
}

// Logits returns the logits (B, T, V) for ids (B, T), flattened row-major.
func (r *FamilyRunner) Logits(ids [][]int32) ([]float32, error) {
	out, err := r.Capture(ids, nil)
	if err != nil {
		return nil, err
	}
	return out["logits"], nil
}

// Capture runs the forward pass and returns the logits under "logits" and the named hooks,
// each flattened row-major, converted to float32.
func (r *FamilyRunner) Capture(ids [][]int32, hookNames []string) (_ map[string][]float32, err error) {
	d := r.Family.Dims()
	if err := CheckIDs(ids, d.VocabSize); err != nil {
		return nil, err
	}
	if d.MaxSeq > 0 && len(ids) > 0 && len(ids[0]) > d.MaxSeq {
		return nil, fmt.Errorf("%d tokens exceed the %s model's %d positions", len(ids[0]), r.Family.Arch(), d.MaxSeq)
	}
	in, err := idsTensor(ids)
	if err != nil {
		return nil, err
	}
	for _, n := range hookNames {
		if !slices.Contains(r.Family.HookNames(), n) {
			return nil, fmt.Errorf("unknown hook %q for %s", n, r.Family.Arch())
		}
	}
	defer func() { // graph construction panics on a malformed model; report it as an error
		if p := recover(); p != nil {
			err = fmt.Errorf("%s forward: %v", r.Family.Arch(), p)
		}
	}()
	names := slices.Clone(hookNames)
	graphs := r
	if r.base != nil {
		graphs = r.base
	}
	exec, seen, err := graphs.forwardExec(names, len(ids), len(ids[0]))
	if err != nil {
		return nil, err
	}
	defer TraceGraph("forward %s %dx%d, %d hooks%s", r.Family.Arch(), len(ids), len(ids[0]), len(names), map[bool]string{false: ", compiled", true: ""}[seen])()
	var res []*tensors.Tensor
	if err := r.swapped(func() (err error) { res, err = exec.Exec(in); return err }); err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for i, t := range res {
		data, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out["logits"] = data
		} else {
			out[names[i-1]] = data
		}
	}
	return out, nil
}

// ScaledLoss runs the forward pass of ids (B, T) with every parameter W_p run as s_p·W_p,
// scales holding s in Family.ParamSpecs order, and returns the next-token loss of each position
// against targets (B, T) — −log p(target), nats, flattened row-major — and the derivative of
// their mean with respect to each scale, from one backward pass. The scales are an input of one
// graph, built on first use and reused for every call and value (the variables are multiplied
// in the graph and never written back); a runner of WithValues runs its base's.
func (r *FamilyRunner) ScaledLoss(ids, targets [][]int32, scales []float64) (nll []float32, grads []float64, err error) {
	graphs := r
	if r.base != nil {
		graphs = r.base
	}
	specs := r.Family.ParamSpecs()
	if len(scales) != len(specs) {
		return nil, nil, fmt.Errorf("%s runner: %d scales for %d parameters", r.Family.Arch(), len(scales), len(specs))
	}
	in, tg, err := r.lossInputs(ids, targets)
	if err != nil {
		return nil, nil, err
	}
	graphs.mu.Lock()
	if graphs.scaleExec == nil {
		graphs.scaleExec, err = model.NewExec(r.Backend, graphs.Scope.Store(), func(ctx *model.Scope, ids, tg, sc *Node) []*Node {
			defer PanicWithError()
			_, vars, values := FamilyParameters(r.Family, ctx, ids.Graph())
			for i, v := range vars {
				s := ConvertDType(Slice(sc, AxisElem(i)), values[i].DType())
				v.SetNodeValue(Mul(values[i], Reshape(s)))
			}
			nll := nextTokenLoss(r.Family, ctx, ids, tg)
			grad := Gradient(ReduceAllMean(nll), sc)[0]
			for i, v := range vars {
				v.SetNodeValue(values[i]) // as loaded: nothing is written back
			}
			return []*Node{nll, grad}
		})
	}
	exec := graphs.scaleExec
	graphs.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	sc := make([]float32, len(scales))
	for i, x := range scales {
		sc[i] = float32(x)
	}
	var res []*tensors.Tensor
	err = r.swapped(func() (err error) {
		defer TraceGraph("scaled loss %s %dx%d", r.Family.Arch(), len(ids), len(ids[0]))()
		res, err = exec.Exec(in, tg, tensors.FromFlatDataAndDimensions(sc, len(sc)))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if nll, err = tensors.CopyFlatData[float32](res[0]); err != nil {
		return nil, nil, err
	}
	g, err := tensors.CopyFlatData[float32](res[1])
	if err != nil {
		return nil, nil, err
	}
	grads = make([]float64, len(g))
	for i, x := range g {
		grads[i] = float64(x)
	}
	return nll, grads, nil
}

// Arrangement asks for the first-order cost of rearranging one axis of a weight matrix within
// blocks of Block consecutive indices (Block divides the axis's length): Axis 0 permutes the
// stored rows, 1 the stored columns. Bias names a vector that moves with the axis (the bias of
// the same linear, as long as the axis), or is "".
type Arrangement struct {
	Param, Bias string
	Axis, Block int
}

func (a Arrangement) String() string {
	return fmt.Sprintf("%s|%s|%d|%d", a.Param, a.Bias, a.Axis, a.Block)
}

// ArrangementCosts runs the forward and backward pass of ids (B, T) against targets (B, T) and
// returns, for each request, C of shape (n/Block, Block, Block) flattened row-major, n the axis's
// length: C[k][i][j] = Σ_m G[kb+i, m]·W[kb+j, m] (+ g_b[kb+i]·b[kb+j] with the bias), where W is
// the matrix with the axis first, G the derivative of the mean next-token loss (nats) with
// respect to it, b = Block. Writing index kb+j into slot kb+i for every i of a block (a
// permutation π) changes the loss, to first order, by Σ_i C[k][i][π(i)] − Σ_i C[k][i][i]: the
// cheapest permutation is an assignment problem per block. The graph is built once per set of
// requests; a runner of WithValues runs its base's on its own values.
func (r *FamilyRunner) ArrangementCosts(ids, targets [][]int32, reqs []Arrangement) ([][]float32, error) {
	graphs := r
	if r.base != nil {
		graphs = r.base
	}
	in, tg, err := r.lossInputs(ids, targets)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprint(reqs)
	graphs.mu.Lock()
	exec := graphs.arrangeExecs[key]
	if exec == nil {
		exec, err = model.NewExec(r.Backend, graphs.Scope.Store(), func(ctx *model.Scope, ids, tg *Node) []*Node {
			defer PanicWithError()
			names, _, values := FamilyParameters(r.Family, ctx, ids.Graph())
			grads := Gradient(ReduceAllMean(nextTokenLoss(r.Family, ctx, ids, tg)), values...)
			at := func(name string) (w, g *Node) {
				i := slices.Index(names, name)
				if i < 0 {
					panic(fmt.Errorf("arrangement: no parameter %s", name))
				}
				return ConvertDType(values[i], dtypes.Float32), ConvertDType(grads[i], dtypes.Float32)
			}
			var outs []*Node
			for _, q := range reqs {
				w, g := at(q.Param)
				if q.Axis == 1 {
					w, g = TransposeAllAxes(w, 1, 0), TransposeAllAxes(g, 1, 0)
				}
				n, m := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
				if q.Block <= 0 || n%q.Block != 0 {
					panic(fmt.Errorf("arrangement: block %d does not divide axis %d of %s (%d)", q.Block, q.Axis, q.Param, n))
				}
				k := n / q.Block
				c := Einsum("kim,kjm->kij", Reshape(g, k, q.Block, m), Reshape(w, k, q.Block, m))
				if q.Bias != "" {
					b, gb := at(q.Bias)
					c = Add(c, Einsum("kim,kjm->kij", Reshape(gb, k, q.Block, 1), Reshape(b, k, q.Block, 1)))
				}
				outs = append(outs, c)
			}
			return outs
		})
		if err == nil {
			if graphs.arrangeExecs == nil {
				graphs.arrangeExecs = map[string]*model.Exec{}
			}
			graphs.arrangeExecs[key] = exec
		}
	}
	graphs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var res []*tensors.Tensor
	err = r.swapped(func() (err error) {
		defer TraceGraph("arrangement costs %s %dx%d", r.Family.Arch(), len(ids), len(ids[0]))()
		res, err = exec.Exec(in, tg)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(res))
	for i, t := range res {
		if out[i], err = tensors.CopyFlatData[float32](t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lossInputs checks ids and targets (B, T) against the vocabulary and returns them as tensors.
func (r *FamilyRunner) lossInputs(ids, targets [][]int32) (in, tg *tensors.Tensor, err error) {
	V := r.Family.Dims().VocabSize
	if err := CheckIDs(ids, V); err != nil {
		return nil, nil, err
	}
	if err := CheckIDs(targets, V); err != nil {
		return nil, nil, err
	}
	if in, err = idsTensor(ids); err != nil {
		return nil, nil, err
	}
	tg, err = idsTensor(targets)
	return in, tg, err
}

// nextTokenLoss is the forward of f on ids (B, T) and −log p(target) of each position against
// tg (B, T), in float32, flattened row-major (B·T).
func nextTokenLoss(f Family, ctx *model.Scope, ids, tg *Node) *Node {
	logits := f.Forward(ctx, ids, nil) // (B, T, V)
	dims := logits.Shape().Dimensions
	n := dims[0] * dims[1]
	logp := Reshape(LogSoftmax(ConvertDType(logits, dtypes.Float32), -1), n, dims[2])
	row := IotaFull(ids.Graph(), shapes.Make(tg.DType(), n, 1))
	return Neg(Gather(logp, Concatenate([]*Node{row, Reshape(tg, n, 1)}, -1))) // (N)
}

// forwardOutputs builds f's forward on ids and returns the logits and the hooks names, in
// float32. A hook the forward did not compute panics (graph building turns it into an error).
func forwardOutputs(f Family, ctx *model.Scope, ids *Node, names []string) []*Node {
	hooks := Hooks{}
	logits := f.Forward(ctx, ids, hooks)
	outs := []*Node{ConvertDType(logits, dtypes.Float32)}
	for _, n := range names {
		if hooks[n] == nil {
			panic(fmt.Sprintf("hook %s is not computed (NANOSCOPE_ATTENTION=fused computes no attention pattern)", n))
		}
		outs = append(outs, ConvertDType(hooks[n], dtypes.Float32))
	}
	return outs
}

// forwardExec returns the runner's forward graph returning the logits and the hooks names, built
// on first use, and whether it has run on ids of b×t before (else this call compiles it).
func (r *FamilyRunner) forwardExec(names []string, b, t int) (_ *model.Exec, seen bool, _ error) {
	key := strings.Join(names, ",")
	r.mu.Lock()
	defer r.mu.Unlock()
	shape := [3]any{key, b, t}
	if r.shapes == nil {
		r.shapes = map[[3]any]bool{}
	}
	seen, r.shapes[shape] = r.shapes[shape], true
	if e := r.execs[key]; e != nil {
		return e, seen, nil
	}
	exec, err := model.NewExec(r.Backend, r.Scope.Store(), func(ctx *model.Scope, ids *Node) []*Node {
		defer PanicWithError()
		return forwardOutputs(r.Family, ctx, ids, names)
	})
	if err != nil {
		return nil, false, err
	}
	if r.execs == nil {
		r.execs = map[string]*model.Exec{}
	}
	r.execs[key] = exec
	return exec, seen, nil
}

// linearIO applies a weight w stored [in, out] (HF Conv1D) or [out, in] (nn.Linear) to x
// (…, in), giving (…, out). A nil bias is skipped.
func linearIO(x, w, bias *Node, inOut bool) *Node {
	wAxis := 1 // nn.Linear: contract x's last axis with w's axis 1
	if inOut {
		wAxis = 0
	}
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{wAxis}, nil)
	if bias != nil {
		y = Add(y, broadcastLast(bias, y.Rank()))
	}
	return y
}

// pick returns x[…, i, …] along axis, dropping the axis: a product with a constant one-hot
// vector rather than a Slice, whose gradient the Go backend cannot compute.
func pick(x *Node, axis, i int) *Node {
	oneHot := make([]float32, x.Shape().Dimensions[axis])
	oneHot[i] = 1
	sel := ConvertDType(Const(x.Graph(), oneHot), x.DType())
	return DotGeneral(x, []int{axis}, nil, sel, []int{0}, nil)
}

// attend is scaled dot-product attention softmax(scale·q·kᵀ)·v on q (B, H, T, hd), k and v
// (B, H, T, hd), causal when asked, with the scale of run (1/√hd by default); it records the
// pattern (B, H, T, T) under hookName and returns z (B, H, T, hd).
func attend(q, k, v *Node, causal bool, run RunConventions, hooks Hooks, hookName string) *Node {
	return attendWindow(q, k, v, causal, 0, run, hooks, hookName)
}

// attendWindow is attend with a sliding window: query i sees keys i − window … i when window > 0
// and window < T − 1 (a wider window is the plain mask).
func attendWindow(q, k, v *Node, causal bool, window int, run RunConventions, hooks Hooks, hookName string) *Node {
	return attendOpts(q, k, v, attnOptions{causal: causal, window: window}, run, hooks, hookName)
}

// attnOptions are how a family's attention departs from softmax(q·kᵀ/√hd)·v: the causal mask, a
// sliding window of window keys to the left (0: none), a scale replacing 1/√hd under the
// reference run convention (0: 1/√hd; Gemma 2's query_pre_attn_scalar^−½) and a soft-cap
// c·tanh(s/c) of the scaled scores before the mask (0: none; Gemma 2's attn_logit_softcapping).
type attnOptions struct {
	causal         bool
	window         int
	scale, softCap float64
}

// attendOpts is scaled dot-product attention under opts (see attnOptions and attendWindow),
// with the hook edits of q, k, v and, under run.Step, the KV cache.
func attendOpts(q, k, v *Node, opts attnOptions, run RunConventions, hooks Hooks, hookName string) *Node {
	q, k, v = hooks.setQKV(hookName, q, k, v)
	k, v = cacheKV(run, hookName, k, v) // with a KV cache: (B, H, Past+T, hd)
	hd := q.Shape().Dimensions[3]
	tq, tk := q.Shape().Dimensions[2], k.Shape().Dimensions[2]
	scores := DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}) // (B, H, Tq, Tk)
	switch {
	case run.AttnScale == "" && opts.scale > 0:
		scores = MulScalar(scores, opts.scale)
	case run.AttnScale == "":
		scores = DivScalar(scores, sqrtF(hd))
	default:
		scores = MulScalar(scores, run.attnScale(hd))
	}
	scores = temper(scores, run.AttnTemperature)
	if opts.softCap > 0 {
		scores = MulScalar(Tanh(DivScalar(scores, opts.softCap)), opts.softCap)
	}
	if mask := attnMask(q.Graph(), run, tq, tk, opts.causal, opts.window, scores.DType()); mask != nil {
		scores = Add(scores, mask)
	}
	probs := softmax(scores) // (B, H, Tq, Tk)
	probs = hooks.set(hookName, probs)
	return DotGeneral(probs, []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1}) // (B, H, T, hd)
}

func sqrtF(n int) float64 { return math.Sqrt(float64(n)) }

func sortSpecs(s []ParamSpec) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}

// blockHookNames lists the hooks of a single-stream pre-norm family: the embedding hooks
// given, then per block resid_pre, attn.{hook_in, hook_pattern, hook_z, hook_out}, resid_mid,
// mlp.{hook_in, hook_post, hook_out}, resid_post, and finally ln_final.hook_out.
func blockHookNames(embed []string, nLayers int) []string {
	out := append([]string{}, embed...)
	for i := 0; i < nLayers; i++ {
		out = append(out, BlockHook(i, HookResidPre), SubHook(i, SubAttn, HookIn), SubHook(i, SubAttn, HookPattern),
			SubHook(i, SubAttn, HookZ), SubHook(i, SubAttn, HookOut), BlockHook(i, HookResidMid), SubHook(i, SubMLP, HookIn),
			SubHook(i, SubMLP, HookPost), SubHook(i, SubMLP, HookOut), BlockHook(i, HookResidPost))
	}
	return append(out, HookLnFinal)
}

// FamilyParameters returns the names (in ParamSpecs order), variables and graph values of f's
// parameters in ctx's store, for code that differentiates with respect to all of them.
func FamilyParameters(f Family, ctx *model.Scope, g *Graph) (names []string, vars []*model.Variable, values []*Node) {
	for _, s := range f.ParamSpecs() {
		scope, vn := ScopeAndName(s.Name)
		v := ctx.Store().GetVariable(model.JoinPath(scope, vn))
		if v == nil {
			panic(fmt.Errorf("gomlxmodel: %s parameter %s not in the store", f.Arch(), s.Name))
		}
		names, vars, values = append(names, s.Name), append(vars, v), append(values, v.NodeValue(g))
	}
	return names, vars, values
}

// PanicWithError, deferred first in a graph function, re-panics a panic whose value is not an
// error as an error. GoMLX v0.28.2's Exec turns a graph function's error panic into an error
// returned by Exec, but re-panics any other value and leaves the compilation pending, so that
// Exec.Finalize then waits for it forever.
func PanicWithError() {
	if p := recover(); p != nil {
		if err, ok := p.(error); ok {
			panic(err)
		}
		panic(fmt.Errorf("%v", p))
	}
}
