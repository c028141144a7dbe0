package analysis

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
)

// A probe is one forward pass of the inference path over a set of windows that keeps what
// the alignment, loss, logit-lens and activation-norm instruments need: the logits, the
// argmax of every stream decoded through norm_final and the head, and per-window sums of
// squares of the sub-block outputs and residual streams. The subject caches the probe of the
// last window set it saw, so running several instruments costs one pass.

// lensSpec names one decoded stream: Point "embed" or "blocks.{i}", Stream "embed", "s0",
// "s1" or "mean" ((s0+s1)/2, what the real head sees after the last block) for the ternary
// model, "resid" (the residual stream) for the single-stream families.
type lensSpec struct {
	Point  string
	Layer  int // −1 for the embedding
	Stream string
}

func (s *Subject) lensSpecs() []lensSpec {
	out := []lensSpec{{"embed", -1, "embed"}}
	for i := 0; i < s.dims().NLayers; i++ {
		p := gomlxmodel.Block(i)
		switch s.spec().Streams {
		case 2:
			out = append(out, lensSpec{p, i, "s0"}, lensSpec{p, i, "s1"}, lensSpec{p, i, "mean"})
		case 1:
			out = append(out, lensSpec{p, i, "s0"})
		default:
			out = append(out, lensSpec{p, i, "resid"})
		}
	}
	return out
}

// streams returns the hook names of a residual-stream hook base ("blocks.0.hook_resid_pre"):
// one per mHC stream for the ternary model (".s0", ".s1"), the base itself for the others.
func (s *Subject) streams(base string) []string {
	n := s.spec().Streams
	if n == 0 {
		return []string{base}
	}
	out := make([]string, n)
	for k := range out {
		out[k] = gomlxmodel.WithStream(base, k)
	}
	return out
}

// mlpOut is the hook of block i's feed-forward output: "ffn.hook_out" for the ternary model,
// "mlp.hook_out" (TransformerLens) for the others.
func (s *Subject) mlpOut(i int) string {
	return gomlxmodel.SubHook(i, s.spec().MLP, gomlxmodel.HookOut)
}

// actHooks lists the activations whose RMS the probe measures.
func (s *Subject) actHooks() []string {
	out := []string{gomlxmodel.HookEmbed}
	for i := 0; i < s.dims().NLayers; i++ {
		out = append(out, s.streams(gomlxmodel.BlockHook(i, gomlxmodel.HookResidPre))...)
		out = append(out, gomlxmodel.SubHook(i, gomlxmodel.SubAttn, gomlxmodel.HookOut))
		out = append(out, s.streams(gomlxmodel.BlockHook(i, gomlxmodel.HookResidMid))...)
		out = append(out, s.mlpOut(i))
		out = append(out, s.streams(gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost))...)
	}
	return out
}

type probeResult struct {
	T, V   int
	logits [][]float32          // per window, (T, V) row-major
	lens   [][][]int32          // per lensSpec, per window, (T) argmax
	actSS  map[string][]float64 // hook → per-window sum of squares
	actMax map[string]float64   // hook (and "logits") → max |x| over all windows
	asym   [][]float64          // per layer, per window max|s0 − s1| leaving the block (mHC only)
	specs  []lensSpec           // the lens points, in lens order
	hooks  []string             // the activation hooks measured
}

// probeBatchElems bounds the logits of one batch (B·T·V values); lensElems the logits decoded
// by the logit lens per stream (all of a small vocabulary's 1024 positions, one 256-token
// window of GPT-2's).
const (
	probeBatchElems = 16 << 20
	lensElems       = 16 << 20
)

// probe runs (or returns the cached) probe of w.
func (s *Subject) probe(w *Windows) (res *probeResult, err error) {
	if s.cache.w == w && s.cache.r != nil {
		return s.cache.r, nil
	}
	defer catch(&err)
	if len(w.Inputs) == 0 {
		return nil, fmt.Errorf("no windows to evaluate")
	}
	r, err := s.engine()
	if err != nil {
		return nil, err
	}
	d := s.dims()
	for i, row := range w.Inputs {
		if err := gomlxmodel.CheckIDs([][]int32{row}, d.VocabSize); err != nil {
			return nil, fmt.Errorf("window %d: %w", w.Index[i], err)
		}
	}
	mhc, nLayers := s.mhc(), d.NLayers
	T, V := len(w.Inputs[0]), d.VocabSize
	specs, hooks := s.lensSpecs(), s.actHooks()
	fam := r.family
	build := func(lens []lensSpec) (*model.Exec, error) {
		return model.NewExec(r.backend, r.ctx.Store(), func(ctx *model.Scope, ids *Node) []*Node {
			hk := gomlxmodel.Hooks{}
			logits := fam.Forward(ctx, ids, hk)
			outs := []*Node{ConvertDType(logits, dtypes.Float32)}
			for _, sp := range lens {
				var h *Node
				post := gomlxmodel.BlockHook(sp.Layer, gomlxmodel.HookResidPost)
				switch sp.Stream {
				case "embed":
					h = hk[gomlxmodel.HookEmbed]
				case "mean":
					h = DivScalar(Add(hk[gomlxmodel.WithStream(post, 0)], hk[gomlxmodel.WithStream(post, 1)]), 2)
				case "resid":
					h = hk[post]
				case "s0":
					h = hk[gomlxmodel.WithStream(post, 0)]
				case "s1":
					h = hk[gomlxmodel.WithStream(post, 1)]
				}
				outs = append(outs, ArgMax(fam.Unembed(ctx, h), -1, dtypes.Int32)) // (B, T)
			}
			for _, name := range hooks {
				x := ConvertDType(hk[name], dtypes.Float32)
				outs = append(outs, ReduceSum(Square(x), 1, 2), ReduceMax(Abs(x), 1, 2)) // (B), (B)
			}
			if mhc {
				for i := 0; i < nLayers; i++ {
					post := gomlxmodel.BlockHook(i, gomlxmodel.HookResidPost)
					d := ConvertDType(Abs(Sub(hk[gomlxmodel.WithStream(post, 0)], hk[gomlxmodel.WithStream(post, 1)])), dtypes.Float32)
					outs = append(outs, ReduceMax(d, 1, 2)) // (B)
				}
			}
			return outs
		})
	}
	// The logit lens decodes every stream through the head: on a large vocabulary that is most
	// of the probe's cost, so only the first windows (lensElems logits) are decoded.
	execLens, err := build(specs)
	if err != nil {
		return nil, err
	}
	defer execLens.Finalize()
	execPlain, err := build(nil)
	if err != nil {
		return nil, err
	}
	defer execPlain.Finalize()

	nw := len(w.Inputs)
	bs := max(1, min(nw, probeBatchElems/(T*V)))
	nl := min(nw, max(1, lensElems/(T*V))) // windows with the lens
	res = &probeResult{T: T, V: V, specs: specs, hooks: hooks, actSS: map[string][]float64{}, actMax: map[string]float64{}}
	res.lens = make([][][]int32, len(specs))
	if mhc {
		res.asym = make([][]float64, nLayers)
	}
	for start := 0; start < nw; {
		end, exec := min(start+bs, nw), execPlain
		if start < nl {
			end, exec = min(end, nl), execLens
		}
		n := end - start
		flat := make([]int32, 0, bs*T)
		for k := 0; k < bs; k++ {
			src := start + k
			if k >= n {
				src = start // pad the last batch; padded rows are dropped below
			}
			flat = append(flat, w.Inputs[src]...)
		}
		done := gomlxmodel.TraceGraph("probe %dx%d, lens %v", bs, T, exec == execLens)
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(flat, bs, T))
		done()
		if err != nil {
			return nil, err
		}
		logits, err := tensors.CopyFlatData[float32](outs[0])
		if err != nil {
			return nil, err
		}
		for k := 0; k < n; k++ {
			res.logits = append(res.logits, logits[k*T*V:(k+1)*T*V])
			for _, x := range logits[k*T*V : (k+1)*T*V] {
				res.actMax["logits"] = max(res.actMax["logits"], math.Abs(float64(x)))
			}
		}
		o := 1
		for i := range specs {
			if exec != execLens {
				break
			}
			am, err := tensors.CopyFlatData[int32](outs[o])
			if err != nil {
				return nil, err
			}
			for k := 0; k < n; k++ {
				res.lens[i] = append(res.lens[i], am[k*T:(k+1)*T])
			}
			o++
		}
		for _, name := range hooks {
			ss, err := tensors.CopyFlatData[float32](outs[o])
			if err != nil {
				return nil, err
			}
			mx, err := tensors.CopyFlatData[float32](outs[o+1])
			if err != nil {
				return nil, err
			}
			for k := 0; k < n; k++ {
				res.actSS[name] = append(res.actSS[name], float64(ss[k]))
				res.actMax[name] = max(res.actMax[name], float64(mx[k]))
			}
			o += 2
		}
		for i := range res.asym {
			mx, err := tensors.CopyFlatData[float32](outs[o])
			if err != nil {
				return nil, err
			}
			for k := 0; k < n; k++ {
				res.asym[i] = append(res.asym[i], float64(mx[k]))
			}
			o++
		}
		start = end
	}
	s.cache.w, s.cache.r = w, res
	return res, nil
}
