// Package train trains the model of package gomlxmodel with the original's recipe — Muon for
// 2-D linear weights, Lion for the embedding, lm_head and 1-D parameters, the WSD schedule and
// global gradient-norm clipping — or AdamW, logging per-step metrics as JSON lines.
package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/metrics"
	"nanoscope/gomlxmodel/tokenfile"
)

// Options configure a training run.
type Options struct {
	Config  config.Config
	Variant config.Variant
	// Train and Val are token streams (ids < Config.VocabSize, checked).
	Train, Val []uint32
	// Out is the checkpoint directory; metrics go to Out/metrics.jsonl.
	Out string
	// Init, when set, replaces the seeded initialisation (e.g. to continue from a checkpoint).
	Init gomlxmodel.Params
	// EvalEvery is the number of steps between validation passes (0: only at the end);
	// EvalWindows the number of validation windows each pass uses (0: 64).
	EvalEvery, EvalWindows int
	// Progress receives one human-readable line per LogEvery steps (nil: none).
	Progress io.Writer
	LogEvery int
	// OnStep, when set, is called after every training step (after its record is written to
	// metrics.jsonl, before any evaluation or checkpoint of that step) with the step's metrics.
	OnStep func(StepInfo)
	// MetricsEvery writes a training record to metrics.jsonl every that many steps (0 or 1:
	// every step); long GPU runs use it to keep the file small.
	MetricsEvery int
	// Extra fields stored in meta.json (e.g. corpus statistics).
	Extra map[string]any
	// SaveEvery is the number of steps between checkpoints (0: only at the end).
	SaveEvery int
	// Resume continues the run whose checkpoint and training state are in Out; Config,
	// Variant and Init are then taken from the checkpoint.
	Resume bool
	// TotalSteps, when positive, replaces the resumed checkpoint's total_steps (it must exceed
	// the checkpoint's step): the run is extended. The WSD schedule is a function of the total,
	// so the remaining steps follow the schedule of the new total (a run extended after its
	// decay returns to the stable rate until decay_start_frac of the new total).
	TotalSteps int
	// Stop, when it becomes readable (closed), ends training after the current step with a
	// checkpoint and ErrInterrupted.
	Stop <-chan struct{}
	// Files are copied into Out before the checkpoint is saved: name in Out → source path
	// (e.g. the compact vocabulary the checkpoint's ids refer to).
	Files map[string]string
	// Precision of the matrix products ("" or fp32: float32 throughout; tf32, bf16: see
	// gomlxmodel.Precision). Neither it nor Devices is part of the checkpoint's
	// configuration: a run may resume under another; meta.json records the last one.
	Precision gomlxmodel.Precision
	// Devices is the number of devices the step is data-parallel over (0 or 1: one; −1: all
	// of the backend's); see devices.go.
	Devices int
}

// Result summarises a finished run.
type Result struct {
	Steps                  int
	Loss                   float64 // last step's training loss (label-smoothed, as logged)
	ValCE, ValAcc, ValCopy float64
	TokensPerSec           float64
	Wall                   time.Duration
}

// StepMetrics is one line of metrics.jsonl; the type lives in package metrics, which readers
// import without the trainer.
type StepMetrics = metrics.Record

// StepInfo is one training step as Step returns it and Options.OnStep receives it.
type StepInfo struct {
	// Record is the step's metrics.jsonl record (Kind "train", Step 1-based, its LR and
	// TokensPerSec; ElapsedS since Run started, set by Run), whether or not MetricsEvery
	// writes it to the file.
	metrics.Record
	TotalSteps int
	Tokens     int // tokens in the batch, BatchSize·MaxSeqLen
	// Duration is the time of the compiled step's execution; First marks the first step of
	// the process, whose Duration includes building and compiling the step.
	Duration time.Duration
	First    bool
	// GraphBuild (first step only) is the part of Duration spent in Go building the step's
	// graph; the rest of a first step is the backend's compilation and one execution.
	GraphBuild time.Duration
	// AvgTokensPerSec is the run's throughput over its timed steps so far (first steps of a
	// process excluded, across resumes); 0 until one exists. Set by Run.
	AvgTokensPerSec float64
}

// Trainer holds the model, its optimizer state and the compiled step.
type Trainer struct {
	opts    Options
	model   gomlxmodel.Model
	backend compute.Backend
	ctx     *model.Scope
	names   []string // parameter names, sorted
	step    *model.Exec
	ran     bool // a step has run in this process (the first one compiles)
	// graphBuild is the time spent in stepGraph (Go building the step's graph).
	graphBuild time.Duration
	eval       *model.Exec
	plan       *devicePlan // nil on one device
	actKeys    []string    // activation-norm names, in output order
	alphaKs    []string
}

// usesMuon reports whether the original trains this tensor with Muon: the 2-D weights of the
// attention and FFN BitLinears. The embedding, lm_head and 1-D parameters use Lion.
func usesMuon(name string) bool {
	return gomlxmodel.IsBitLinearWeight(name)
}

// New builds a trainer: parameters (seeded init unless opts.Init), zeroed optimizer state and
// the compiled training step.
func New(opts Options) (*Trainer, error) {
	c, v := opts.Config, opts.Variant
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.GradAccumSteps > 1 {
		return nil, fmt.Errorf("grad_accum_steps=%d: gradient accumulation is not implemented; use a larger batch_size", c.GradAccumSteps)
	}
	if v.Optimizer != "muon-lion" && v.Optimizer != "adamw" {
		return nil, fmt.Errorf("unknown optimizer %q (want muon-lion or adamw)", v.Optimizer)
	}
	gomlxmodel.InstallDotGeneralGradient()
	prec, err := gomlxmodel.ParsePrecision(string(opts.Precision))
	if err != nil {
		return nil, err
	}
	if err := gomlxmodel.CheckPrecision(prec); err != nil {
		return nil, err
	}
	opts.Precision = prec
	b, err := gomlxmodel.NewBackendWith(prec.BackendOptions()...)
	if err != nil {
		return nil, err
	}
	nDev, err := resolveDevices(b, opts.Devices, c.BatchSize)
	if err != nil {
		return nil, err
	}
	opts.Devices = nDev
	params := opts.Init
	if params == nil {
		params = gomlxmodel.InitParams(c, v, v.Seed)
	}
	ctx, err := gomlxmodel.NewScope(c, v, params)
	if err != nil {
		return nil, err
	}
	t := &Trainer{opts: opts, model: gomlxmodel.Model{Config: c, Variant: v, Precision: prec}, backend: b, ctx: ctx,
		names: config.SortedNames(c.TensorShapes(v))}
	t.initOptState(params)
	for i := 0; i < c.NLayers; i++ {
		t.actKeys = append(t.actKeys, gomlxmodel.SubHook(i, gomlxmodel.SubAttn, gomlxmodel.HookOut),
			gomlxmodel.SubHook(i, gomlxmodel.SubFFN, gomlxmodel.HookOut), gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 0))
		if v.MHC {
			t.actKeys = append(t.actKeys, gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 1))
			t.alphaKs = append(t.alphaKs, gomlxmodel.MHCParam(i, gomlxmodel.SubAttn, gomlxmodel.MHCAlphaLogit),
				gomlxmodel.MHCParam(i, gomlxmodel.SubFFN, gomlxmodel.MHCAlphaLogit))
		}
	}
	t.step, err = model.NewExec(b, ctx.Store(), t.stepGraph)
	if err != nil {
		return nil, err
	}
	if nDev > 1 {
		if t.plan, err = newDevicePlan(nDev); err != nil {
			return nil, err
		}
		t.step = t.plan.distribute(t.step)
	}
	t.eval, err = model.NewExec(b, ctx.Store(), func(ctx *model.Scope, ids, targets *Node) []*Node {
		ce, next, cp := t.model.EvalSums(ctx, ids, targets)
		return []*Node{ce, next, cp}
	})
	return t, err
}

func (t *Trainer) initOptState(params gomlxmodel.Params) {
	states := []string{"adam_m", "adam_v"}
	for _, name := range t.names {
		if t.opts.Variant.Optimizer == "muon-lion" {
			states = []string{"lion_m"}
			if usesMuon(name) {
				states = []string{"momentum"}
			}
		}
		p := params[name]
		for _, s := range states {
			zeros := make([]float32, len(p.Data))
			t.ctx.Store().VariableWithValue(model.JoinPath("/opt/"+name, s), tensors.FromFlatDataAndDimensions(zeros, p.Shape...)).SetTrainable(false)
		}
	}
}

// Objective is the objective the trainer differentiates: the model's training objective
// (gomlxmodel.TrainingObjective, label-smoothed), under the run's precision.
func (t *Trainer) Objective() gomlxmodel.Objective { return gomlxmodel.TrainingObjective(t.model) }

// stepGraph: inputs ids, targets (B, T) int32, lr and lr1d scalars, step t (1-based, f32).
// Outputs: loss, ce, global grad norm (before clipping), per-parameter grad norms (P),
// activation RMS norms (A), per-parameter update/weight ratios (P), sigmoid(alpha_logit) (L).
func (t *Trainer) stepGraph(ctx *model.Scope, in []*Node) []*Node {
	defer func(t0 time.Time) { t.graphBuild += time.Since(t0) }(time.Now())
	ids, targets, lr, lr1d, stepT := in[0], in[1], in[2], in[3], in[4]
	c, v := t.model.Config, t.model.Variant
	g := ids.Graph()
	hooks := gomlxmodel.Hooks{}
	obj := t.Objective().WithGradients(ctx, ids, targets, hooks)
	loss, ce, vars, values, grads := obj.Loss, obj.CE, obj.Vars, obj.Values, obj.Grads

	norms := make([]*Node, len(grads))
	sumSq := ScalarZero(g, loss.DType())
	for i, gr := range grads {
		sq := ReduceAllSum(Square(gr))
		sumSq = Add(sumSq, sq)
		norms[i] = Sqrt(sq)
	}
	gradNorm := Sqrt(sumSq)
	if c.GradClip > 0 {
		scale := Min(OnesLike(gradNorm), Div(Scalar(g, gradNorm.DType(), c.GradClip), AddScalar(gradNorm, 1e-6)))
		for i := range grads {
			grads[i] = Mul(grads[i], scale)
		}
	}
	// Muon's directions first, orthogonalised together (one batched chain per shape).
	var muonIdx []int
	var dirs []*Node
	for i, name := range t.names {
		if v.Optimizer != "adamw" && usesMuon(name) {
			muonIdx = append(muonIdx, i)
			dirs = append(dirs, muonDirection(ctx, name, grads[i], c.MuonMomentum))
		}
	}
	orth := make([]*Node, len(t.names))
	for j, o := range NewtonSchulzAll(dirs, c.NSSteps) {
		orth[muonIdx[j]] = o
	}
	ratios := make([]*Node, len(t.names))
	for i, name := range t.names {
		w, gr := values[i], grads[i]
		var nw *Node
		switch {
		case v.Optimizer == "adamw":
			nw = adamwUpdate(ctx, name, w, gr, lr, stepT, c.WeightDecay)
		case orth[i] != nil:
			nw = muonApply(w, orth[i], lr, c.WeightDecay)
		default:
			nw = lionUpdate(ctx, name, w, gr, lr1d, c.LionBetas[0], c.LionBetas[1], 0)
		}
		vars[i].SetNodeValue(nw)
		ratios[i] = Div(Sqrt(ReduceAllSum(Square(Sub(nw, w)))), AddScalar(Sqrt(ReduceAllSum(Square(w))), 1e-12))
	}

	acts := make([]*Node, len(t.actKeys))
	for i, k := range t.actKeys {
		acts[i] = Sqrt(ReduceAllMean(Square(hooks[k])))
	}
	outs := []*Node{loss, ce, gradNorm, Stack(norms, 0), Stack(acts, 0), Stack(ratios, 0)}
	if len(t.alphaKs) > 0 {
		alphas := make([]*Node, len(t.alphaKs))
		for i, k := range t.alphaKs {
			scope, vn := gomlxmodel.ScopeAndName(k)
			alphas[i] = Reshape(Sigmoid(ctx.Store().GetVariable(model.JoinPath(scope, vn)).NodeValue(g)))
		}
		outs = append(outs, Stack(alphas, 0))
	}
	return outs
}

// exec runs the compiled step on ids and targets (B, T) with rates lr, lr1d and the 1-based
// step number, on one device or data-parallel over the plan's; the outputs are stepGraph's.
func (t *Trainer) exec(ids, targets *tensors.Tensor, lr, lr1d, stepT float32) ([]*tensors.Tensor, error) {
	if t.plan != nil {
		return t.plan.exec(t.step, ids, targets, lr, lr1d, stepT)
	}
	return t.step.Exec(ids, targets, lr, lr1d, stepT)
}

// Step runs one optimisation step, step (0-based) of the run, on the batch ids and targets
// (BatchSize·MaxSeqLen int32 each, row-major (B, T)) at the WSD schedule's rates, and returns
// its metrics. A non-finite loss or gradient is an error naming the step and the first
// non-finite activation and gradient; the weights have then already been updated.
func (t *Trainer) Step(step int, ids, targets []int32) (StepInfo, error) {
	c := t.model.Config
	mult := WSD(step, c.WarmupSteps, c.TotalSteps, c.DecayStartFrac)
	lr, lr1d := c.LR*mult, c.MHCLR*mult
	t0 := time.Now()
	outs, err := t.exec(
		tensors.FromFlatDataAndDimensions(ids, c.BatchSize, c.MaxSeqLen),
		tensors.FromFlatDataAndDimensions(targets, c.BatchSize, c.MaxSeqLen),
		float32(lr), float32(lr1d), float32(step+1))
	if err != nil {
		return StepInfo{}, fmt.Errorf("step %d: %w", step+1, err)
	}
	info := StepInfo{TotalSteps: c.TotalSteps, Tokens: c.BatchSize * c.MaxSeqLen, Duration: time.Since(t0), First: !t.ran}
	if info.First {
		info.GraphBuild = t.graphBuild
	}
	t.ran = true
	info.Record = t.metrics(step, outs)
	info.LR = lr
	info.TokensPerSec = float64(info.Tokens) / info.Duration.Seconds()
	return info, checkFinite(info.Record, t.actKeys)
}

// Devices is the number of devices the step runs on.
func (t *Trainer) Devices() int { return max(1, t.opts.Devices) }

// Params returns the current model weights.
func (t *Trainer) Params() (gomlxmodel.Params, error) {
	return gomlxmodel.ScopeParams(t.ctx, t.model.Config, t.model.Variant)
}

// Evaluate returns mean plain cross-entropy, next-token accuracy and copy rate over n windows
// of ids with the variant's target shift, spread evenly over the split (window ⌊k·W/n⌋ of its
// W windows, k = 0…n−1): the start of a split is not a fair sample (the Rust corpus's first
// 64 windows repeat tokens at 32 % of positions against 26 % over the whole split).
func (t *Trainer) Evaluate(ids []uint32, n int) (ce, acc, copyRate float64, err error) {
	c := t.model.Config
	T, B := c.MaxSeqLen, c.BatchSize
	shift := t.model.Variant.TargetShift
	total := tokenfile.NumWindowsShift(len(ids), T, shift)
	nw := min(n, total)
	if nw == 0 {
		return 0, 0, 0, fmt.Errorf("validation data too short for one window of %d tokens", T+max(shift, 1))
	}
	var sumCE, hits, copies, count float64
	for start := 0; start < nw; start += B {
		bs := min(B, nw-start)
		in := make([]int32, 0, bs*T)
		tg := make([]int32, 0, bs*T)
		for k := start; k < start+bs; k++ {
			x, y := tokenfile.Window(ids, k*total/nw, T, shift)
			in = append(in, toInt32(x)...)
			tg = append(tg, toInt32(y)...)
		}
		res, e := t.eval.Exec(tensors.FromFlatDataAndDimensions(in, bs, T), tensors.FromFlatDataAndDimensions(tg, bs, T))
		if e != nil {
			return 0, 0, 0, e
		}
		sumCE += float64(tensors.ToScalar[float32](res[0]))
		hits += float64(tensors.ToScalar[float32](res[1]))
		copies += float64(tensors.ToScalar[float32](res[2]))
		count += float64(bs * T)
	}
	return sumCE / count, hits / count, copies / count, nil
}

func toInt32(x []uint32) []int32 {
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(v)
	}
	return out
}

// Hook is attached to Loop: it sees every step's StepInfo (and may complete it, as Run's clock
// sets ElapsedS and AvgTokensPerSec for the hooks after it); an error ends the loop and is
// Loop's error.
type Hook func(info *StepInfo) error

// Loop runs steps [from, to) on the batches of b — each batch through Step, then every hook in
// order — and does nothing else: Run attaches resume, metrics, progress, evaluation and
// checkpoints as hooks.
func (t *Trainer) Loop(b *tokenfile.Batcher, from, to int, hooks ...Hook) error {
	for step := from; step < to; step++ {
		in, tg, _ := b.Next()
		info, err := t.Step(step, in, tg)
		if err != nil {
			return err
		}
		for _, h := range hooks {
			if err := h(&info); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrInterrupted is returned by Run when opts.Stop fired: the checkpoint and training state of
// the last completed step were saved, and Run with Resume continues from there.
var ErrInterrupted = errors.New("training interrupted")

// Run trains for Config.TotalSteps steps, writing metrics.jsonl, periodic checkpoints (every
// SaveEvery steps) with their training state, and the final checkpoint to Out. With Resume it
// continues the run saved in Out bit-identically. A non-finite loss or gradient stops the run
// with an error naming the step and the first non-finite tensor, leaving the last good
// checkpoint in place.
func Run(opts Options) (Result, error) {
	var res Result
	startStep, prevTrain := 0, 0.0
	var ck *checkpoint.Checkpoint
	if opts.Resume {
		var err error
		if ck, err = checkpoint.Load(opts.Out); err != nil {
			return res, fmt.Errorf("--resume: %w", err)
		}
		opts.Config, opts.Variant, opts.Init = ck.Meta.Config, ck.Meta.Variant, ck.Tensors
		if opts.TotalSteps > 0 {
			if opts.TotalSteps <= ck.Meta.Step {
				return res, fmt.Errorf("total steps %d: the run in %s is already at step %d", opts.TotalSteps, opts.Out, ck.Meta.Step)
			}
			opts.Config.TotalSteps = opts.TotalSteps
		}
	}
	c, v := opts.Config, opts.Variant
	for name, ids := range map[string][]uint32{"train": opts.Train, "validation": opts.Val} {
		if err := tokenfile.CheckRange(name+" tokens", ids, c.VocabSize); err != nil {
			return res, err
		}
	}
	t, err := New(opts)
	if err != nil {
		return res, err
	}
	batcher, err := tokenfile.NewBatcher(opts.Train, c.MaxSeqLen, c.BatchSize, v.TargetShift, uint64(v.Seed))
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return res, err
	}
	metricsPath := filepath.Join(opts.Out, metrics.File)
	if opts.Resume {
		st, err := t.loadState(opts.Out, ck.Meta.Step)
		if err != nil {
			return res, err
		}
		if err := batcher.SetPosition(st.Position); err != nil {
			return res, err
		}
		startStep, prevTrain = st.Step, st.TrainTimeS
		res.Steps, res.Loss = st.Step, ck.Meta.Loss
		if err := metrics.Truncate(metricsPath, st.Step); err != nil {
			return res, err
		}
	} else {
		if err := os.Remove(metricsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
		os.RemoveAll(filepath.Join(opts.Out, StateDir))
	}
	for name, src := range opts.Files {
		b, err := os.ReadFile(src)
		if err != nil {
			return res, err
		}
		if err := writeFileAtomic(filepath.Join(opts.Out, name), b); err != nil {
			return res, err
		}
	}
	mw, err := metrics.Append(metricsPath)
	if err != nil {
		return res, err
	}
	defer mw.Close()
	evalWindows := opts.EvalWindows
	if evalWindows <= 0 {
		evalWindows = 64
	}
	logEvery := max(1, opts.LogEvery)

	start := time.Now()
	tokensPerStep := float64(c.BatchSize * c.MaxSeqLen)
	trainTime := time.Duration(prevTrain * float64(time.Second))
	timedSteps := max(0, startStep-1) // the first step of a process includes compilation
	evalNow := func(step int) error {
		ce, acc, cp, err := t.Evaluate(opts.Val, evalWindows)
		if err != nil {
			return err
		}
		res.ValCE, res.ValAcc, res.ValCopy = ce, acc, cp
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "eval step %d: val CE %.4f  next-token accuracy %.3f  copy rate %.3f\n", step, ce, acc, cp)
		}
		return mw.Write(metrics.Record{Kind: metrics.KindEval, Step: step, ElapsedS: time.Since(start).Seconds(), ValCE: &ce, ValAcc: &acc, ValCopy: &cp})
	}
	save := func(step int, loss float64) error {
		params, err := t.Params()
		if err != nil {
			return err
		}
		st := State{Step: step, Position: batcher.Position(), Seed: v.Seed, TrainTimeS: trainTime.Seconds()}
		if err := t.saveState(opts.Out, st); err != nil {
			return err
		}
		meta, err := t.meta(step, loss, res)
		if err != nil {
			return err
		}
		return checkpoint.Save(opts.Out, params, meta)
	}
	// The hooks, in the order they see each step: the clock, metrics.jsonl, progress, the
	// caller's OnStep, evaluation, checkpoints (and Stop).
	clock := func(info *StepInfo) error {
		if !info.First {
			trainTime += info.Duration
			timedSteps++
		}
		info.ElapsedS = time.Since(start).Seconds()
		if timedSteps > 0 {
			res.TokensPerSec = float64(timedSteps) * tokensPerStep / trainTime.Seconds()
		}
		info.AvgTokensPerSec = res.TokensPerSec
		return nil
	}
	record := func(info *StepInfo) error {
		step := info.Step - 1
		if opts.MetricsEvery <= 1 || (step+1)%opts.MetricsEvery == 0 || step == startStep || step+1 == c.TotalSteps {
			if err := mw.Write(info.Record); err != nil {
				return err
			}
		}
		res.Steps, res.Loss = info.Step, info.Loss
		return nil
	}
	progress := func(info *StepInfo) error {
		if step := info.Step - 1; opts.Progress != nil && (step%logEvery == 0 || step == c.TotalSteps-1) {
			printProgress(opts.Progress, *info)
		}
		return nil
	}
	onStep := func(info *StepInfo) error {
		if opts.OnStep != nil {
			opts.OnStep(*info)
		}
		return nil
	}
	evaluate := func(info *StepInfo) error {
		if opts.EvalEvery > 0 && info.Step%opts.EvalEvery == 0 && info.Step < c.TotalSteps {
			return evalNow(info.Step)
		}
		return nil
	}
	checkpoints := func(info *StepInfo) error {
		stopping := false
		select {
		case <-opts.Stop:
			stopping = true
		default:
		}
		if stopping || (opts.SaveEvery > 0 && info.Step%opts.SaveEvery == 0 && info.Step < c.TotalSteps) {
			if err := save(info.Step, info.Loss); err != nil {
				return err
			}
		}
		if stopping {
			res.Wall = time.Since(start)
			return fmt.Errorf("%w at step %d: checkpoint and training state saved in %s; continue with --resume", ErrInterrupted, info.Step, opts.Out)
		}
		return nil
	}
	if err := t.Loop(batcher, startStep, c.TotalSteps, clock, record, progress, onStep, evaluate, checkpoints); err != nil {
		return res, err
	}
	if err := evalNow(c.TotalSteps); err != nil {
		return res, err
	}
	if err := save(c.TotalSteps, res.Loss); err != nil {
		return res, err
	}
	res.Wall = time.Since(start)
	return res, nil
}

// meta builds the checkpoint's meta.json for a step.
func (t *Trainer) meta(step int, loss float64, res Result) (checkpoint.Meta, error) {
	extra := map[string]json.RawMessage{}
	for k, val := range t.opts.Extra {
		raw, err := json.Marshal(val)
		if err != nil {
			return checkpoint.Meta{}, err
		}
		extra[k] = raw
	}
	if res.ValCE > 0 {
		for k, val := range map[string]float64{"val_ce": res.ValCE, "val_acc": res.ValAcc, "val_copy": res.ValCopy} {
			extra[k], _ = json.Marshal(val)
		}
	}
	if res.TokensPerSec > 0 {
		extra["tokens_per_s"], _ = json.Marshal(res.TokensPerSec)
	}
	extra["precision"], _ = json.Marshal(t.model.Precision)
	extra["devices"], _ = json.Marshal(t.Devices())
	return checkpoint.Meta{Config: t.model.Config, Step: step, Loss: loss, Variant: t.model.Variant, HasVariant: true, Extra: extra}, nil
}

// printProgress writes the progress line of a step.
func printProgress(w io.Writer, info StepInfo) {
	// The first step of a process includes compilation: no speed or ETA until a timed step
	// exists.
	speed := ""
	if info.First {
		speed = fmt.Sprintf("  (first step %.1f s: graph built in %.2f s, then compiled and run)", info.Duration.Seconds(), info.GraphBuild.Seconds())
	}
	if info.AvgTokensPerSec > 0 {
		eta := time.Duration(float64((info.TotalSteps-info.Step)*info.Tokens) / info.AvgTokensPerSec * float64(time.Second))
		speed = fmt.Sprintf("  %6.0f tok/s  ETA %s", info.AvgTokensPerSec, eta.Round(time.Second))
	}
	fmt.Fprintf(w, "step %5d/%d  loss %.4f  ce %.4f  lr %.2e  |g| %.3f%s\n",
		info.Step, info.TotalSteps, info.Loss, info.CE, info.LR, info.GradNorm, speed)
}

// metrics decodes the step outputs.
func (t *Trainer) metrics(step int, outs []*tensors.Tensor) metrics.Record {
	f := func(x *tensors.Tensor) float64 { return float64(tensors.ToScalar[float32](x)) }
	vec := func(x *tensors.Tensor, keys []string) map[string]float64 {
		data := tensors.MustCopyFlatData[float32](x)
		m := make(map[string]float64, len(keys))
		for i, k := range keys {
			m[k] = float64(data[i])
		}
		return m
	}
	m := metrics.Record{Kind: metrics.KindTrain, Step: step + 1, Loss: f(outs[0]), CE: f(outs[1]), GradNorm: f(outs[2]),
		GradNorms: vec(outs[3], t.names), ActNorms: vec(outs[4], t.actKeys), UpdateRatios: vec(outs[5], t.names)}
	if len(outs) > 6 {
		m.Alphas = vec(outs[6], t.alphaKs)
	}
	return m
}

// checkFinite stops training on a non-finite loss or gradient. The report names the first
// activation (in forward order) that went non-finite, which locates the fault, and the first
// parameter gradient (by name) that did.
func checkFinite(m metrics.Record, actOrder []string) error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	if !bad(m.Loss) && !bad(m.GradNorm) {
		return nil
	}
	where := ""
	for _, k := range actOrder {
		if bad(m.ActNorms[k]) {
			where = fmt.Sprintf("; first non-finite activation %s", k)
			break
		}
	}
	names := make([]string, 0, len(m.GradNorms))
	for k := range m.GradNorms {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if bad(m.GradNorms[k]) {
			where += fmt.Sprintf("; first non-finite gradient %s", k)
			break
		}
	}
	return fmt.Errorf("step %d: non-finite loss %v or gradient norm %v%s; training stopped, the last good checkpoint is kept", m.Step, m.Loss, m.GradNorm, where)
}
