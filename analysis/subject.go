// Package analysis measures what a checkpoint of the investigated model (REFERENCE.md §2)
// actually does, and says which of the hypotheses H1–H7 of REFERENCE.md §3 the measurements
// support.
//
// Each instrument lives in its own file and returns a plain result struct with JSON tags:
// logit alignment and the self-similarity test (alignment.go), shifted versus unshifted loss
// (loss.go), the logit lens (lens.go), gradient flow (gradflow.go), activation norms
// (actnorms.go), drift from initialisation (drift.go), weights in effect (effect.go),
// train/inference parity (parity.go), checkpoint inspection (inspect.go), the measurements of
// the fault catalog (catalog.go: CE by target offset −1…3 as loaded; search.go: the search of
// the family's convention space; earned.go: CE by position and the lens's depth, which healthy
// must pass; untrained.go and spectrum.go: per-tensor tests of training), the diagnosis that
// combines them (hypotheses.go: Diagnose), and the scores of a diagnosis over checkpoints whose
// fault is known (scores.go). Each finding kind is decided in its own file
// (finding_*.go) from those measurements; the H1–H7 verdicts (verdicts.go) are a thin mapping
// over the findings. Nothing here prints; errors are returned.
//
// Parameter and activation names are those of the checkpoint and of gomlxmodel's names.go
// ("blocks.1.attn.wq.weight", "blocks.1.hook_resid_post.s0"), so results line up with
// metrics.jsonl, plots and notebooks.
package analysis

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

// Subject is a model under analysis: its family (the investigated ternary model, GPT-2 or
// Llama), its weights, and, when it came from a checkpoint directory, the directory and (for
// nanoscope's own checkpoints) meta.json. Config and Variant are the ternary model's and hold
// their zero values for the other families. The instruments build the inference path once and
// cache the last forward pass, so Params must not be modified after the first instrument ran
// (use With or WithConvention for other weights or conventions).
type Subject struct {
	Family  gomlxmodel.Family
	Config  config.Config
	Variant config.Variant
	Params  gomlxmodel.Params
	Dir     string           // "" when not from a checkpoint
	Meta    *checkpoint.Meta // nil when not from a nanoscope checkpoint
	// SeqLen is the length of the evaluation windows: max_seq_len for the ternary model; for
	// the other families the positions they accept (n_positions, max_position_embeddings),
	// at most DefaultFamilySeqLen, unless set.
	SeqLen int
	// PaddedVocab is the size of the real vocabulary when the ids past it are padding rows
	// that stay in the softmax (load.Loaded.PaddedVocab); 0 otherwise.
	PaddedVocab int
	// BOS is the begin-of-sequence id of the model's tokenizer (load.Loaded.BOS), −1 when not
	// known: the engine fingerprint then has no BOS candidates.
	BOS int
	// AdapterBase are the base weights of the tensors a PEFT adapter changed
	// (load.Loaded.AdapterBase; Params hold them merged), nil without an adapter: the engine
	// fingerprint then tries the base model as an engine that never applied the adapter.
	AdapterBase gomlxmodel.Params

	frun  *gomlxmodel.FamilyRunner
	cache struct {
		w *Windows
		r *probeResult
		// the training-graph pass of the windows tw
		tw *Windows
		tr *trainResult
	}
}

// DefaultFamilySeqLen bounds the evaluation windows of a GPT-2 or Llama checkpoint (a long
// context costs a T×V logits matrix per window on the CPU).
const DefaultFamilySeqLen = 256

// NewSubject checks that p holds exactly the tensors of (c, v) and returns the subject.
func NewSubject(c config.Config, v config.Variant, p gomlxmodel.Params) (*Subject, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := gomlxmodel.CheckParams(c, v, p); err != nil {
		return nil, err
	}
	return &Subject{Family: gomlxmodel.Model{Config: c, Variant: v}, Config: c, Variant: v, Params: p, SeqLen: c.MaxSeqLen, BOS: -1}, nil
}

// FromFamily returns the subject of a GPT-2 or Llama model (e.g. hf.Load's Family and Params)
// with weights p, checked against the family's parameters; dir is where it came from ("" for
// none). The ternary model goes through NewSubject instead.
func FromFamily(f gomlxmodel.Family, p gomlxmodel.Params, dir string) (*Subject, error) {
	spec := f.Spec()
	if t := spec.Ternary; t != nil {
		s, err := NewSubject(t.Config, t.Variant, p)
		if s != nil {
			s.Dir = dir
		}
		return s, err
	}
	if err := gomlxmodel.CheckFamilyParams(f, p); err != nil {
		return nil, err
	}
	seq := DefaultFamilySeqLen
	if spec.MaxPositions > 0 {
		seq = min(seq, spec.MaxPositions)
	}
	return &Subject{Family: f, Params: p, Dir: dir, SeqLen: seq, BOS: -1}, nil
}

// IsNanoscope reports whether the subject is the investigated ternary model: its family's
// Spec carries a ternary configuration (quantisers, mHC streams, the trainer's recipe).
func (s *Subject) IsNanoscope() bool { return s.spec().Ternary != nil }

// spec is the family's facts.
func (s *Subject) spec() gomlxmodel.FamilySpec { return s.Family.Spec() }

// dims are the family's sizes.
func (s *Subject) dims() gomlxmodel.Dims { return s.Family.Dims() }

// convention returns the value of a named convention of the family ("" when it has none).
func (s *Subject) convention(name string) string {
	for _, c := range s.Family.Conventions() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// tied reports whether the head is the token embedding.
func (s *Subject) tied() bool { return s.convention(gomlxmodel.ConvTiedHead) == "true" }

// mhc reports whether the subject has the ternary model's two mHC streams.
func (s *Subject) mhc() bool { return s.spec().Streams == 2 }

// targetShift is the offset of the training targets: the variant's for the ternary model, 1
// for the other families (transformers shifts labels = input_ids inside the model).
func (s *Subject) targetShift() int { return s.spec().TargetShift }

// WithConvention returns the subject with the same weights under another value of one of its
// family's conventions (for the catalog's re-runs). Dir and Meta are not carried over.
//
// A convention changes the graph, not the weights: the new subject shares the weights already
// on the backend (a d20 embedding is 51 MB).
func (s *Subject) WithConvention(name, value string) (*Subject, error) {
	f, err := s.Family.WithConvention(name, value)
	if err != nil {
		return nil, err
	}
	var s2 *Subject
	if t := f.Spec().Ternary; t != nil {
		s2, err = NewSubject(t.Config, t.Variant, s.Params)
	} else {
		s2, err = s.withFamily(f, s.Params)
	}
	if err != nil {
		return nil, err
	}
	s2.Family = f // with its run conventions
	// The graphs run on the same variables (a runner of WithValues has no scope to share).
	if e, err := s.engine(); err == nil && e.ctx != nil {
		s2.frun = &gomlxmodel.FamilyRunner{Family: f, Backend: e.backend, Scope: e.ctx}
	}
	return s2, nil
}

// withParams returns the subject with other weights under the same family and conventions.
// When the subject's runner is built, the new subject's runs the same compiled graphs with the
// tensors p changes swapped in (gomlxmodel.FamilyRunner.WithValues): the search's weight edits
// and the replacement tests compile nothing and copy only what they change. Such a subject
// computes logits and hooks only (its engine has no scope to build other graphs in).
func (s *Subject) withParams(p gomlxmodel.Params) (*Subject, error) {
	var s2 *Subject
	var err error
	if s.IsNanoscope() {
		s2, err = s.With(s.Variant, p)
	} else {
		s2, err = s.withFamily(s.Family, p)
	}
	if err != nil || s.frun == nil {
		return s2, err
	}
	changed := gomlxmodel.Params{}
	for n, t := range p {
		if old, ok := s.Params[n]; !ok || len(old.Data) != len(t.Data) || (len(t.Data) > 0 && &old.Data[0] != &t.Data[0]) {
			changed[n] = t
		}
	}
	if s2.frun, err = s.frun.WithValues(changed); err != nil {
		return nil, err
	}
	return s2, nil
}

func (s *Subject) withFamily(f gomlxmodel.Family, p gomlxmodel.Params) (*Subject, error) {
	s2, err := FromFamily(f, p, "")
	if err != nil {
		return nil, err
	}
	s2.SeqLen, s2.PaddedVocab, s2.BOS = s.SeqLen, s.PaddedVocab, s.BOS
	return s2, nil
}

// FromLoaded returns the subject of weights read by load.Open: FromCheckpoint for nanoscope's
// own (with meta.json), else FromFamily with the facts the reader found beside the weights (the
// padded vocabulary, the tokenizer's BOS, a PEFT adapter's base weights).
func FromLoaded(l *load.Loaded) (*Subject, error) {
	if ck := l.Checkpoint(); ck != nil {
		return FromCheckpoint(ck)
	}
	s, err := FromFamily(l.Family, l.Params, l.Dir)
	if err != nil {
		return nil, err
	}
	s.PaddedVocab, s.BOS, s.AdapterBase = l.PaddedVocab, l.BOS, l.AdapterBase
	return s, nil
}

// FromCheckpoint returns the subject of a loaded checkpoint: the weights of the file, exactly.
func FromCheckpoint(ck *checkpoint.Checkpoint) (*Subject, error) {
	s, err := NewSubject(ck.Meta.Config, ck.Meta.Variant, ck.Tensors)
	if err != nil {
		return nil, err
	}
	s.Dir = ck.Dir
	meta := ck.Meta
	s.Meta = &meta
	return s, nil
}

// With returns a subject with the same configuration and other weights or variant (for the
// simulated conditions of the diagnosis). Dir and Meta are not carried over.
func (s *Subject) With(v config.Variant, p gomlxmodel.Params) (*Subject, error) {
	return NewSubject(s.Config, v, p)
}

// engine is the inference path of any family: the family, its backend and its context of
// weights, with the forward pass evaluated by Logits and Capture.
type engine struct {
	family  gomlxmodel.Family
	backend compute.Backend
	ctx     *model.Scope
	logits  func(ids [][]int32) ([]float32, error)
	capture func(ids [][]int32, hooks []string) (map[string][]float32, error)
}

// engine returns the subject's inference path (built once): a FamilyRunner of its family.
func (s *Subject) engine() (*engine, error) {
	if s.frun == nil {
		r, err := gomlxmodel.NewFamilyRunner(s.Family, s.Params)
		if err != nil {
			return nil, err
		}
		s.frun = r
	}
	r := s.frun
	return &engine{family: r.Family, backend: r.Backend, ctx: r.Scope, logits: r.Logits, capture: r.Capture}, nil
}

// Runner returns the inference path for the subject's weights (built once, shared with the
// instruments), for every family.
func (s *Subject) Runner() (*gomlxmodel.FamilyRunner, error) {
	if _, err := s.engine(); err != nil {
		return nil, err
	}
	return s.frun, nil
}

// Windows are the evaluation positions: training windows of the model's max_seq_len taken
// from a token stream, with the token that follows each input position.
type Windows struct {
	Index  []int     `json:"index"` // window k covers tokens[k·T : k·T+T]
	Inputs [][]int32 `json:"-"`     // (W, T) input ids
	Next   [][]int32 `json:"-"`     // (W, T) the next token of each position (shift 1 targets)
	// Span holds tokens[k·T : k·T+T+MaxShift] of each window: the targets of every offset
	// up to tokenfile.MaxShift (nil for windows not made by SampleWindows).
	Span [][]int32 `json:"-"`
	// src is the token stream SampleWindows drew the windows from (nil otherwise).
	src []uint32
}

// SampleWindows takes ceil(positions/seqLen) windows of seqLen tokens spread evenly over
// tokens (all of them when fewer exist), each followed by tokenfile.MaxShift more tokens (the
// targets at larger offsets). It fails when tokens hold no such window.
func SampleWindows(tokens []uint32, seqLen, positions int) (*Windows, error) {
	total := tokenfile.NumWindowsShift(len(tokens), seqLen, tokenfile.MaxShift)
	if total == 0 {
		return nil, fmt.Errorf("token stream of %d ids is too short for one window of %d+%d tokens", len(tokens), seqLen, tokenfile.MaxShift)
	}
	if positions <= 0 {
		return nil, fmt.Errorf("positions must be positive (got %d)", positions)
	}
	n := min(total, (positions+seqLen-1)/seqLen)
	w := &Windows{src: tokens}
	for i := 0; i < n; i++ {
		k := i * total / n
		in, next := tokenfile.Window(tokens, k, seqLen, 1)
		w.Index = append(w.Index, k)
		w.Inputs = append(w.Inputs, toInt32(in))
		w.Next = append(w.Next, toInt32(next))
		w.Span = append(w.Span, toInt32(tokens[k*seqLen:k*seqLen+seqLen+tokenfile.MaxShift]))
	}
	return w, nil
}

// wider returns about factor times w's positions drawn from the token stream of w like
// SampleWindows, without the windows of exclude (nil when w was not drawn by SampleWindows).
func (w *Windows) wider(factor int, exclude *Windows) *Windows {
	if w.src == nil || len(w.Inputs) == 0 {
		return nil
	}
	all, err := SampleWindows(w.src, len(w.Inputs[0]), factor*w.Positions())
	if err != nil {
		return nil
	}
	out := &Windows{}
	for i, k := range all.Index {
		if !slices.Contains(exclude.Index, k) {
			out.Index = append(out.Index, k)
			out.Inputs, out.Next, out.Span = append(out.Inputs, all.Inputs[i]), append(out.Next, all.Next[i]), append(out.Span, all.Span[i])
		}
	}
	return out
}

// Positions is the number of evaluated positions.
func (w *Windows) Positions() int {
	if len(w.Inputs) == 0 {
		return 0
	}
	return len(w.Inputs) * len(w.Inputs[0])
}

// Targets returns the training targets for a target shift: Next for 1, Inputs for 0.
func (w *Windows) Targets(shift int) [][]int32 {
	if shift == 0 {
		return w.Inputs
	}
	return w.Next
}

// HeadPositions returns the first windows holding about n positions (at least one window).
func (w *Windows) HeadPositions(n int) *Windows {
	if len(w.Inputs) == 0 {
		return w
	}
	return w.Head(max(1, n/len(w.Inputs[0])))
}

// tail returns the windows from the k-th on.
func (w *Windows) tail(k int) *Windows {
	t := &Windows{Index: w.Index[k:], Inputs: w.Inputs[k:], Next: w.Next[k:]}
	if w.Span != nil {
		t.Span = w.Span[k:]
	}
	return t
}

// Head returns the first n windows (all when n ≥ their number).
func (w *Windows) Head(n int) *Windows {
	n = min(n, len(w.Inputs))
	h := &Windows{Index: w.Index[:n], Inputs: w.Inputs[:n], Next: w.Next[:n]}
	if w.Span != nil {
		h.Span = w.Span[:n]
	}
	return h
}

// CheckTokens rejects ids outside [0, vocab_size), naming the first bad position.
func CheckTokens(name string, tokens []uint32, vocab int) error {
	return tokenfile.CheckRange(name, tokens, vocab)
}

// idsTensor stacks equal-length rows of ids into a (B, T) tensor.
func idsTensor(x [][]int32) *tensors.Tensor {
	out := make([]int32, 0, len(x)*len(x[0]))
	for _, row := range x {
		out = append(out, row...)
	}
	return tensors.FromFlatDataAndDimensions(out, len(x), len(x[0]))
}

func toInt32(x []uint32) []int32 {
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(v)
	}
	return out
}

// catch turns a panic raised while building or running a GoMLX graph into an error.
func catch(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("analysis: graph failure: %v", r)
	}
}
