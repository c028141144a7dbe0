package analysis

import (
	"fmt"
	"math"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
)

// Prompt answers questions about one short sequence of ids on a subject of any family — the
// top-k next tokens at every position and the logit lens — with its graphs compiled once and
// kept: GoMLX's Exec compiles one graph per input shape and reuses it, so a second prompt of a
// length already seen compiles nothing (Compiles counts the graphs built). A long-lived
// process (package warm's server) keeps one Prompt per loaded checkpoint; a notebook cell or
// a test builds one and drops it.
//
// Prompt is safe for concurrent use; its methods serialise on one lock.
type Prompt struct {
	s *Subject

	mu       sync.Mutex
	logits   *model.Exec // ids (1, T) → logits (1, T, V)
	lens     *model.Exec // ids (1, T) → per lens depth: argmax, self logit, best other logit (1, T); then asymmetry
	depths   []lensSpec  // the depths lens decodes
	compiles int
}

// NewPrompt returns the prompt evaluator of s; the graphs are built on first use.
func NewPrompt(s *Subject) *Prompt { return &Prompt{s: s} }

// Subject is the subject the prompt runs on.
func (p *Prompt) Subject() *Subject { return p.s }

// Compiles is the number of graphs built so far: one per (question, prompt length).
func (p *Prompt) Compiles() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.compiles
}

// Close releases the compiled graphs.
func (p *Prompt) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range []*model.Exec{p.logits, p.lens} {
		if e != nil {
			e.Finalize()
		}
	}
	p.logits, p.lens = nil, nil
}

// TokenPrediction is one entry of a top-k list: a model id and its logit.
type TokenPrediction struct {
	ID    int     `json:"id"`
	Logit float64 `json:"logit"`
}

// Logits returns the logits of ids (one sequence of T model ids) as T rows of V values. It
// fails when an id is outside [0, vocab_size) or the sequence is longer than the family's
// positions.
func (p *Prompt) Logits(ids []int32) (_ [][]float32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer catch(&err)
	if err := p.check(ids); err != nil {
		return nil, err
	}
	if p.logits == nil {
		e, err := p.s.engine()
		if err != nil {
			return nil, err
		}
		fam := e.family
		p.logits, err = model.NewExec(e.backend, e.ctx.Store(), func(ctx *model.Scope, ids *Node) *Node {
			defer gomlxmodel.PanicWithError()
			p.compiles++
			return ConvertDType(fam.Forward(ctx, ids, nil), dtypes.Float32) // (1, T, V)
		})
		if err != nil {
			return nil, err
		}
	}
	out, err := p.logits.Exec(tensors.FromFlatDataAndDimensions(ids, 1, len(ids)))
	if err != nil {
		return nil, err
	}
	flat, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return nil, err
	}
	V := p.s.dims().VocabSize
	rows := make([][]float32, len(ids))
	for t := range rows {
		rows[t] = flat[t*V : (t+1)*V]
	}
	return rows, nil
}

// TopK returns the k largest logits at every position of ids (largest first, ties by the
// smaller id): [position][rank]. k must be in [1, vocab_size].
func (p *Prompt) TopK(ids []int32, k int) ([][]TokenPrediction, error) {
	if V := p.s.dims().VocabSize; k < 1 || k > V {
		return nil, fmt.Errorf("top-k: k = %d is outside [1, %d] (the vocabulary)", k, V)
	}
	rows, err := p.Logits(ids)
	if err != nil {
		return nil, err
	}
	out := make([][]TokenPrediction, len(rows))
	for t, row := range rows {
		for _, j := range TopIndices(row, k) {
			out[t] = append(out[t], TokenPrediction{ID: j, Logit: float64(row[j])})
		}
	}
	return out, nil
}

// topIndicesSmall is TopIndices for a handful of k: one pass keeping a sorted list of k (a
// full sort of a 50257-id row costs milliseconds per position).
func topIndicesSmall(row []float32, k int) []int {
	top := make([]int, 0, k+1)
	better := func(a, b int) bool { return row[a] > row[b] || row[a] == row[b] && a < b }
	for i := range row {
		if len(top) == k && !better(i, top[k-1]) {
			continue
		}
		j := len(top)
		top = append(top, i)
		for j > 0 && better(i, top[j-1]) {
			top[j] = top[j-1]
			j--
		}
		top[j] = i
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// TokenLens is the logit lens on one sequence: the residual stream at each depth (the embedding,
// then the stream leaving each block — s0 for the ternary model's mHC, whose s1 equals it when
// StreamAsymmetry is 0) decoded through the family's final norm and head (Family.Unembed), in
// the graph: per depth and position, the argmax and the margin of the current token's logit
// over the best other token's. The plot is the heatmap of Margin (rows Depths, columns the
// positions). LogitLens gives the same decoding as rates over many windows.
type TokenLens struct {
	Depths []string    `json:"depths"` // "embedding", "after block 0", ...
	Margin [][]float64 `json:"margin"` // [depth][position]: current token's logit − best other logit
	Argmax [][]int     `json:"argmax"` // [depth][position]: model ids
	// OnTop counts the (depth, position) cells whose argmax is the current token, of Cells;
	// MinMargin is the smallest margin over all cells.
	OnTop     int     `json:"on_top"`
	Cells     int     `json:"cells"`
	MinMargin float64 `json:"min_margin"`
	// StreamAsymmetry is max |s0 − s1| over every block's output (mHC only; 0 otherwise): 0
	// means the lens of s0 is also that of s1 and of their mean, what the head finally sees.
	StreamAsymmetry float64 `json:"stream_asymmetry"`
}

// lensDepths are the streams TokenLens decodes: the embedding, then per block s0 (two mHC
// streams), s0 (one) or the residual stream.
func (s *Subject) lensDepths() []lensSpec {
	var out []lensSpec
	for _, sp := range s.lensSpecs() {
		if sp.Stream != "s1" && sp.Stream != "mean" {
			out = append(out, sp)
		}
	}
	return out
}

// lensStream returns the stream of sp among the hooks of one forward pass.
func lensStream(hk gomlxmodel.Hooks, sp lensSpec) *Node {
	post := gomlxmodel.BlockHook(sp.Layer, gomlxmodel.HookResidPost)
	switch sp.Stream {
	case "embed":
		return hk[gomlxmodel.HookEmbed]
	case "resid":
		return hk[post]
	case "s1":
		return hk[gomlxmodel.WithStream(post, 1)]
	case "mean":
		return DivScalar(Add(hk[gomlxmodel.WithStream(post, 0)], hk[gomlxmodel.WithStream(post, 1)]), 2)
	}
	return hk[gomlxmodel.WithStream(post, 0)]
}

// Lens decodes the residual stream of ids (one sequence of model ids) at every depth; see
// TokenLens. Everything per logit happens in the graph; Go reads back 3 numbers per depth and
// position.
func (p *Prompt) Lens(ids []int32) (_ TokenLens, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer catch(&err)
	if err := p.check(ids); err != nil {
		return TokenLens{}, err
	}
	mhc := p.s.mhc()
	if p.lens == nil {
		e, err := p.s.engine()
		if err != nil {
			return TokenLens{}, err
		}
		fam, nLayers := e.family, p.s.dims().NLayers
		p.depths = p.s.lensDepths()
		depths := p.depths
		p.lens, err = model.NewExec(e.backend, e.ctx.Store(), func(ctx *model.Scope, ids *Node) []*Node {
			defer gomlxmodel.PanicWithError()
			p.compiles++
			hk := gomlxmodel.Hooks{}
			fam.Forward(ctx, ids, hk)
			var outs []*Node
			for _, sp := range depths {
				logits := ConvertDType(fam.Unembed(ctx, lensStream(hk, sp)), dtypes.Float32) // (1, T, V)
				V := logits.Shape().Dimensions[2]
				cur := Equal(Iota(ids.Graph(), shapes.Make(dtypes.Int32, logits.Shape().Dimensions...), 2), BroadcastToDims(ExpandAxes(ids, -1), logits.Shape().Dimensions...)) // (1, T, V): v is the input at t
				ninf := Infinity(ids.Graph(), dtypes.Float32, -1)
				self := ReduceMax(Where(cur, logits, ninf), -1)  // (1, T)
				other := ReduceMax(Where(cur, ninf, logits), -1) // (1, T)
				if V == 1 {
					other = ZerosLike(self)
				}
				outs = append(outs, ArgMax(logits, -1, dtypes.Int32), self, other)
			}
			if mhc {
				asym := Scalar(ids.Graph(), dtypes.Float32, 0)
				for i := 0; i < nLayers; i++ {
					post := gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost)
					d := ConvertDType(Abs(Sub(hk[gomlxmodel.WithStream(post, 0)], hk[gomlxmodel.WithStream(post, 1)])), dtypes.Float32)
					asym = Max(asym, ReduceAllMax(d))
				}
				outs = append(outs, asym)
			}
			return outs
		})
		if err != nil {
			return TokenLens{}, err
		}
	}
	res, err := p.lens.Exec(tensors.FromFlatDataAndDimensions(ids, 1, len(ids)))
	if err != nil {
		return TokenLens{}, err
	}
	out := TokenLens{MinMargin: math.Inf(1)}
	for k, sp := range p.depths {
		am, err := tensors.CopyFlatData[int32](res[3*k])
		if err != nil {
			return TokenLens{}, err
		}
		self, err := tensors.CopyFlatData[float32](res[3*k+1])
		if err != nil {
			return TokenLens{}, err
		}
		other, err := tensors.CopyFlatData[float32](res[3*k+2])
		if err != nil {
			return TokenLens{}, err
		}
		name := "embedding"
		if sp.Layer >= 0 {
			name = fmt.Sprintf("after block %d", sp.Layer)
		}
		margins, argmax := make([]float64, len(ids)), make([]int, len(ids))
		for t, cur := range ids {
			margins[t], argmax[t] = float64(self[t])-float64(other[t]), int(am[t])
			out.Cells++
			if am[t] == cur {
				out.OnTop++
			}
			out.MinMargin = min(out.MinMargin, margins[t])
		}
		out.Depths, out.Margin, out.Argmax = append(out.Depths, name), append(out.Margin, margins), append(out.Argmax, argmax)
	}
	if mhc {
		a, err := tensors.CopyFlatData[float32](res[3*len(p.depths)])
		if err != nil {
			return TokenLens{}, err
		}
		out.StreamAsymmetry = float64(a[0])
	}
	return out, nil
}

// check rejects an empty sequence, ids outside the vocabulary and sequences longer than the
// family's positions.
func (p *Prompt) check(ids []int32) error {
	d := p.s.dims()
	if len(ids) == 0 {
		return fmt.Errorf("prompt: no tokens")
	}
	if err := gomlxmodel.CheckIDs([][]int32{ids}, d.VocabSize); err != nil {
		return err
	}
	if d.MaxSeq > 0 && len(ids) > d.MaxSeq {
		return fmt.Errorf("prompt: %d tokens exceed the %s model's %d positions", len(ids), p.s.Family.Arch(), d.MaxSeq)
	}
	return nil
}
