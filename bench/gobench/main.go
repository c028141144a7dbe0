// Command gobench times nanoscope's GoMLX training step (gomlxmodel/train) and prints one JSON
// line with the same fields as bench/bench_torch.py, or checks a loss.
//
// Benchmark:
//
//	gobench --preset cpu|d20 --steps N --warmup K [--data FILE.bin] [--cpuprofile FILE]
//
// trains K untimed + N timed steps through train.Run (the real training loop: batcher, compiled
// step, metrics) on random tokens or on a flat u32 token file, in a temporary directory (or
// --out DIR, which keeps the final checkpoint). The time of a step is the interval between the
// train.Options.OnStep calls Run makes after each step, so it includes everything a training
// step costs.
// startup_s is process start to the end of the first step (graph building and compilation
// included); first_step_s is the first step alone, graph_build_s the part of it spent in Go
// building the step graph (the rest: the backend's compilation and one run). peak_mem_mb is VmHWM (peak RSS).
//
// Loss check:
//
//	gobench --write-batch FILE.json [--data FILE.bin] [--preset cpu] [--batch-size B]
//	gobench --loss-check CKPT_DIR --batch FILE.json
//
// Training check (with bench_torch.py --train-check):
//
//	gobench --preset cpu --steps N --warmup 0 --data FILE.bin --dump-batches FILE.json --init-out DIR
//
// writes the initial weights and the batches and learning rates Run will use, and reports the
// loss of every step in "losses".
//
// The backend is GOMLX_BACKEND (default go:parallelism=-1); impl is "gomlx-go" or "gomlx-xla".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/fastops"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/gomlxmodel/train"
)

var startTime = processStart()

// processStart returns when this process started (Linux /proc), else now.
func processStart() time.Time {
	now := time.Now()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return now
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 20 {
		return now
	}
	ticks, err := strconv.ParseFloat(f[19], 64)
	if err != nil {
		return now
	}
	ps, err := os.ReadFile("/proc/stat")
	if err != nil {
		return now
	}
	for _, l := range strings.Split(string(ps), "\n") {
		if strings.HasPrefix(l, "btime ") {
			bt, err := strconv.ParseFloat(strings.TrimSpace(l[6:]), 64)
			if err != nil {
				return now
			}
			const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
			return time.Unix(0, int64((bt+ticks/clkTck)*1e9))
		}
	}
	return now
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
}

type flags struct {
	preset, data, out, cpuProfile        string
	steps, warmup, vocab, batchSize, seq int
	seed                                 int64
	lossCheck, batch, writeBatch         string
	dumpBatches, initOut                 string
	verbose                              bool
	part, optimizer                      string
	mmM, mmK, mmN                        int
	noTernary, noMHC                     bool
	opProfile                            bool
}

func run() error {
	var f flags
	flag.StringVar(&f.preset, "preset", "cpu", "configuration preset: cpu, d20, tiny_cpu")
	flag.IntVar(&f.steps, "steps", 10, "timed steps")
	flag.IntVar(&f.warmup, "warmup", 2, "untimed steps first (the first includes compilation)")
	flag.StringVar(&f.data, "data", "", "flat little-endian u32 token file (default: random tokens)")
	flag.IntVar(&f.vocab, "vocab", 0, "override vocab_size")
	flag.IntVar(&f.batchSize, "batch-size", 0, "override batch_size")
	flag.IntVar(&f.seq, "seq", 0, "override max_seq_len")
	flag.Int64Var(&f.seed, "seed", 1, "seed of the initialisation, data order and random tokens")
	flag.StringVar(&f.out, "out", "", "keep the run's directory (final checkpoint, metrics.jsonl) here instead of a temp dir")
	flag.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed steps to this file")
	flag.StringVar(&f.lossCheck, "loss-check", "", "checkpoint directory: print its loss on --batch")
	flag.StringVar(&f.batch, "batch", "", "batch JSON for --loss-check")
	flag.StringVar(&f.writeBatch, "write-batch", "", "write a deterministic batch of --data windows (or of seeded random tokens) as JSON and exit")
	flag.StringVar(&f.dumpBatches, "dump-batches", "", "write the batches and rates of the run as JSON (for bench_torch.py --train-check)")
	flag.StringVar(&f.initOut, "init-out", "", "write the initial weights of the run as a checkpoint here")
	flag.BoolVar(&f.verbose, "verbose", false, "print Run's progress lines on stderr")
	flag.StringVar(&f.part, "part", "step", "what to time: step (train.Run's full training step), forward (loss only), backward (loss and gradients, no optimizer), or matmul (one x·wᵀ DotGeneral of --m --k --n)")
	flag.IntVar(&f.mmM, "m", 1024, "--part matmul: rows of x (M, K)")
	flag.IntVar(&f.mmK, "k", 64, "--part matmul: contracted width K")
	flag.IntVar(&f.mmN, "n", 2048, "--part matmul: rows of w (N, K); the product is x·wᵀ (M, N), as the head's")
	flag.StringVar(&f.optimizer, "optimizer", "muon-lion", "muon-lion (the original) or adamw: with --part step, the cost of Muon's Newton–Schulz shows as the difference")
	flag.BoolVar(&f.noTernary, "no-ternary", false, "ablation: float linears (no BitLinear quantisation), to time its cost")
	flag.BoolVar(&f.opProfile, "op-profile", false, "print the time per Go-backend op type and output shape over the timed steps on stderr")
	flag.BoolVar(&f.noMHC, "no-mhc", false, "ablation: plain residual instead of mHC-lite, to time its cost")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", flag.Args())
	}
	switch {
	case f.lossCheck != "":
		return lossCheck(f)
	case f.writeBatch != "":
		return writeBatch(f)
	case f.part == "forward" || f.part == "backward":
		return benchPart(f)
	case f.part == "matmul":
		return benchMatmul(f)
	case f.part == "ns":
		return benchNS(f)
	case f.part != "step":
		return fmt.Errorf("--part %q: want step, forward, backward or matmul", f.part)
	}
	return bench(f)
}

func variant(f flags) config.Variant {
	v := config.DefaultVariant()
	v.Seed, v.Optimizer, v.Ternary, v.MHC = f.seed, f.optimizer, !f.noTernary, !f.noMHC
	return v
}

// addVariant records the ablation switches that are not the original's.
func addVariant(o map[string]any, f flags) {
	if f.noTernary {
		o["ternary"] = false
	}
	if f.noMHC {
		o["mhc"] = false
	}
	if f.optimizer != "muon-lion" {
		o["optimizer"] = f.optimizer
	}
}

// benchPart times a part of the step with an executable of its own, on random tokens:
// forward (the loss) or backward (the loss and the gradients of every parameter, reduced to
// their squared norms so that none is pruned). No optimizer, no metrics.
func benchPart(f flags) error {
	c, err := presetConfig(f)
	if err != nil {
		return err
	}
	v := variant(f)
	gomlxmodel.InstallDotGeneralGradient()
	backend, err := gomlxmodel.NewBackend()
	if err != nil {
		return err
	}
	ctx, err := gomlxmodel.NewScope(c, v, gomlxmodel.InitParams(c, v, v.Seed))
	if err != nil {
		return err
	}
	objective := gomlxmodel.TrainingObjective(gomlxmodel.Model{Config: c, Variant: v})
	exec, err := model.NewExec(backend, ctx.Store(), func(ctx *model.Scope, ids, targets *Node) []*Node {
		if f.part == "forward" {
			return []*Node{objective.Build(ctx, ids, targets, nil).Loss}
		}
		obj := objective.WithGradients(ctx, ids, targets, nil)
		sq := make([]*Node, len(obj.Grads))
		for i, gr := range obj.Grads {
			sq[i] = ReduceAllSum(Square(gr))
		}
		return []*Node{obj.Loss, Stack(sq, 0)}
	})
	if err != nil {
		return err
	}
	n := c.BatchSize * c.MaxSeqLen
	total := f.warmup + f.steps
	toks := randomTokens(n*total+1, c.VocabSize, f.seed)
	var times []float64
	var cpuParts time.Duration
	var first time.Time
	var loss0 float64
	for s := 0; s < total; s++ {
		if s == f.warmup && f.cpuProfile != "" {
			pf, err := os.Create(f.cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(pf); err != nil {
				return err
			}
			defer pf.Close()
			defer pprof.StopCPUProfile()
		}
		in := make([]int32, n)
		tg := make([]int32, n)
		for i := range n {
			in[i], tg[i] = int32(toks[s*n+i]), int32(toks[s*n+i+1])
		}
		t0, cpuStart := time.Now(), cpuTime()
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(in, c.BatchSize, c.MaxSeqLen),
			tensors.FromFlatDataAndDimensions(tg, c.BatchSize, c.MaxSeqLen))
		if err != nil {
			return err
		}
		l := float64(tensors.ToScalar[float32](res[0]))
		if len(res) > 1 {
			_ = tensors.MustCopyFlatData[float32](res[1])
		}
		dt := time.Since(t0).Seconds()
		if s == 0 {
			first, loss0 = time.Now(), l
		}
		if s >= f.warmup {
			times = append(times, dt)
			cpuParts += cpuTime() - cpuStart
		}
	}
	mean, mn := 0.0, math.Inf(1)
	for _, t := range times {
		mean += t
		mn = min(mn, t)
	}
	mean /= float64(max(1, len(times)))
	o := map[string]any{"impl": gomlxImpl(), "device": deviceName(), "preset": f.preset, "part": f.part,
		"ms_per_step": round(mean*1e3, 3), "ms_per_step_min": round(mn*1e3, 3), "ms_per_step_median": round(median(times)*1e3, 3), "tokens_per_s": round(float64(n)/mean, 1),
		"startup_s": round(first.Sub(startTime).Seconds(), 3), "peak_mem_mb": round(vmHWM()/1024, 1),
		"backend": gomlxmodel.BackendConfig(), "matmul": gomlxmodel.MatMulInEffect(), "fastops": fastops.InEffect(), "threads": runtime.GOMAXPROCS(0), "steps": f.steps, "warmup": f.warmup,
		"batch": c.BatchSize, "seq": c.MaxSeqLen, "vocab": c.VocabSize, "loss_first": round(loss0, 5),
		"cpu_ms_per_step": round(float64(cpuParts)/1e6/float64(max(1, len(times))), 3)}
	addVariant(o, f)
	return printJSON(o)
}

// benchMatmul times one DotGeneral x (M, K) · w (N, K)ᵀ, the layout of the head and of every
// BitLinear, and reports GFLOP/s.
func benchMatmul(f flags) error {
	backend, err := gomlxmodel.NewBackend()
	if err != nil {
		return err
	}
	exec, err := NewExec(backend, func(x, w *Node) *Node {
		return DotGeneral(x, []int{1}, nil, w, []int{1}, nil)
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(f.seed), 1))
	fill := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	x := tensors.FromFlatDataAndDimensions(fill(f.mmM*f.mmK), f.mmM, f.mmK)
	w := tensors.FromFlatDataAndDimensions(fill(f.mmN*f.mmK), f.mmN, f.mmK)
	var times []float64
	for s := 0; s < f.warmup+f.steps; s++ {
		t0 := time.Now()
		res, err := exec.Exec(x, w)
		if err != nil {
			return err
		}
		_ = tensors.MustCopyFlatData[float32](res[0])
		if s >= f.warmup {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	md, best := median(times), slices.Min(times)
	return printJSON(map[string]any{"impl": gomlxImpl(), "part": "matmul", "m": f.mmM, "k": f.mmK, "n": f.mmN,
		"ms_median": round(md*1e3, 3), "gflops": round(2*float64(f.mmM*f.mmK*f.mmN)/md/1e9, 2),
		"ms_min": round(best*1e3, 3), "gflops_best": round(2*float64(f.mmM*f.mmK*f.mmN)/best/1e9, 2),
		"backend": gomlxmodel.BackendConfig(), "matmul": gomlxmodel.MatMulInEffect()})
}

// benchNS times the Newton–Schulz orthogonalisation of every Muon matrix of the preset, one
// matrix at a time against batched by wide shape (train.NewtonSchulzAll, as train does), and
// reports their largest difference.
func benchNS(f flags) error {
	c, err := presetConfig(f)
	if err != nil {
		return err
	}
	backend, err := gomlxmodel.NewBackend()
	if err != nil {
		return err
	}
	shapesByName := c.TensorShapes(variant(f))
	var names []string
	for _, n := range config.SortedNames(shapesByName) {
		if gomlxmodel.IsBitLinearWeight(n) {
			names = append(names, n)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(f.seed), 2))
	inputs := make([]any, len(names))
	for i, n := range names {
		sh := shapesByName[n]
		data := make([]float32, sh[0]*sh[1])
		for j := range data {
			data[j] = float32(rng.NormFloat64() * 0.01)
		}
		inputs[i] = tensors.FromFlatDataAndDimensions(data, sh...)
	}
	loop, err := NewExec(backend, func(gs []*Node) []*Node {
		out := make([]*Node, len(gs))
		for i, g := range gs {
			out[i] = train.NewtonSchulz(g, c.NSSteps)
		}
		return out
	})
	if err != nil {
		return err
	}
	batched, err := NewExec(backend, func(gs []*Node) []*Node { return train.NewtonSchulzAll(gs, c.NSSteps) })
	if err != nil {
		return err
	}
	timeIt := func(e *Exec) ([]*tensors.Tensor, float64, error) {
		var times []float64
		var res []*tensors.Tensor
		for s := 0; s < f.warmup+f.steps; s++ {
			t0 := time.Now()
			r, err := e.Exec(inputs...)
			if err != nil {
				return nil, 0, err
			}
			for _, t := range r {
				_ = tensors.MustCopyFlatData[float32](t)
			}
			if s >= f.warmup {
				times = append(times, time.Since(t0).Seconds())
			}
			res = r
		}
		return res, median(times), nil
	}
	rl, tl, err := timeIt(loop)
	if err != nil {
		return err
	}
	rb, tb, err := timeIt(batched)
	if err != nil {
		return err
	}
	maxDiff, identical := 0.0, true
	for i := range rl {
		a, b := tensors.MustCopyFlatData[float32](rl[i]), tensors.MustCopyFlatData[float32](rb[i])
		for j := range a {
			if a[j] != b[j] {
				identical = false
				maxDiff = max(maxDiff, math.Abs(float64(a[j]-b[j])))
			}
		}
	}
	return printJSON(map[string]any{"impl": gomlxImpl(), "part": "ns", "preset": f.preset, "matrices": len(names),
		"loop_ms": round(tl*1e3, 3), "batched_ms": round(tb*1e3, 3), "bitwise_identical": identical,
		"max_abs_diff": maxDiff, "backend": gomlxmodel.BackendConfig()})
}

func presetConfig(f flags) (config.Config, error) {
	c, err := config.Preset(f.preset)
	if err != nil {
		return c, err
	}
	for _, o := range []struct {
		dst *int
		val int
	}{{&c.VocabSize, f.vocab}, {&c.BatchSize, f.batchSize}, {&c.MaxSeqLen, f.seq}} {
		if o.val > 0 {
			*o.dst = o.val
		}
	}
	return c, nil
}

func randomTokens(n, vocab int, seed int64) []uint32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e616e6f))
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(rng.IntN(vocab))
	}
	return out
}

func bench(f flags) error {
	c, err := presetConfig(f)
	if err != nil {
		return err
	}
	total := f.warmup + f.steps
	if total < 1 {
		return fmt.Errorf("--warmup + --steps must be at least 1")
	}
	c.TotalSteps = total
	v := variant(f)
	tokensPerStep := c.BatchSize * c.MaxSeqLen
	var trainIDs, valIDs []uint32
	if f.data != "" {
		if trainIDs, err = tokenfile.Read(f.data); err != nil {
			return err
		}
		if err := tokenfile.CheckRange(f.data, trainIDs, c.VocabSize); err != nil {
			return fmt.Errorf("%w (use --vocab)", err)
		}
		valIDs = trainIDs[:min(len(trainIDs), c.MaxSeqLen+1)]
	} else {
		trainIDs = randomTokens(tokensPerStep*(total+1)+1, c.VocabSize, f.seed)
		valIDs = randomTokens(c.MaxSeqLen+1, c.VocabSize, f.seed+1)
	}
	if f.dumpBatches != "" || f.initOut != "" {
		if err := dumpRun(f, c, v, trainIDs, total); err != nil {
			return err
		}
	}
	out := f.out
	if out == "" {
		if out, err = os.MkdirTemp("", "gobench-"); err != nil {
			return err
		}
		defer os.RemoveAll(out)
	}
	var prof *os.File
	var profOnce sync.Once
	stopProf := func() {
		profOnce.Do(func() {
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
			}
		})
	}
	defer stopProf()
	// Run calls onStep after every step (n steps done); the first call is before any step.
	var ts []time.Time          // when each step was reported
	var losses, execS []float64 // each step's loss and the execution time of its compiled step
	var cpu0, cpu1 time.Duration
	onStep := func(n int) {
		if n == f.warmup {
			cpu0 = cpuTime()
		}
		if n == total {
			cpu1 = cpuTime()
		}
		if f.opProfile && n == f.warmup && f.steps > 0 {
			startOpProfile()
		}
		if f.cpuProfile != "" && n == f.warmup && f.steps > 0 {
			var err error
			if prof, err = os.Create(f.cpuProfile); err == nil {
				err = pprof.StartCPUProfile(prof)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "gobench: cpuprofile:", err)
				prof = nil
			}
		}
		if n == total {
			stopProf()
		}
	}
	if f.cpuProfile != "" && f.warmup == 0 {
		onStep(0)
	}
	graphBuild := 0.0 // seconds spent in Go building the step graph (part of the first step)
	opts := train.Options{Config: c, Variant: v, Train: trainIDs, Val: valIDs, Out: out, EvalWindows: 1,
		OnStep: func(s train.StepInfo) {
			ts = append(ts, time.Now())
			if s.First {
				graphBuild = s.GraphBuild.Seconds()
			}
			losses, execS = append(losses, s.Loss), append(execS, s.Duration.Seconds())
			onStep(len(ts))
		}}
	if f.verbose {
		opts.Progress, opts.LogEvery = os.Stderr, 1
	}
	runStart := time.Now()
	res, err := train.Run(opts)
	if err != nil {
		return err
	}
	stopProf()
	if f.opProfile {
		writeOpProfile(os.Stderr, f.steps)
	}
	if len(ts) != total {
		return fmt.Errorf("train.Run reported %d steps, want %d", len(ts), total)
	}
	var timed []float64
	for i := f.warmup; i < total; i++ {
		prev := runStart
		if i > 0 {
			prev = ts[i-1]
		}
		timed = append(timed, ts[i].Sub(prev).Seconds())
	}
	impl := "gomlx-go"
	if strings.HasPrefix(gomlxmodel.BackendConfig(), "xla") {
		impl = "gomlx-xla"
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	o := map[string]any{
		"impl": impl, "device": deviceName(), "preset": f.preset,
		"startup_s": round(ts[0].Sub(startTime).Seconds(), 3), "first_step_s": round(ts[0].Sub(runStart).Seconds(), 3),
		"graph_build_s": round(graphBuild, 3),
		"peak_mem_mb":   round(vmHWM()/1024, 1), "go_sys_mb": round(float64(ms.Sys)/(1<<20), 1),
		"backend": gomlxmodel.BackendConfig(), "matmul": gomlxmodel.MatMulInEffect(), "fastops": fastops.InEffect(), "go": runtime.Version(), "threads": runtime.GOMAXPROCS(0),
		"steps": f.steps, "warmup": f.warmup, "batch": c.BatchSize, "seq": c.MaxSeqLen, "vocab": c.VocabSize,
		"dim": c.Dim, "layers": c.NLayers, "data": orRandom(f.data),
		"loss_first": round(losses[0], 5), "loss_last": round(losses[len(losses)-1], 5),
		"final_loss": round(res.Loss, 5), "part": "step",
	}
	if f.warmup > 0 && f.steps > 0 {
		o["cpu_ms_per_step"] = round(float64(cpu1-cpu0)/1e6/float64(f.steps), 3)
	}
	addVariant(o, f)
	if len(timed) > 0 {
		mean, mn := 0.0, timed[0]
		for _, t := range timed {
			mean += t
			mn = min(mn, t)
		}
		mean /= float64(len(timed))
		o["ms_per_step"] = round(mean*1e3, 3)
		o["ms_per_step_min"] = round(mn*1e3, 3)
		o["ms_per_step_median"] = round(median(timed)*1e3, 3)
		o["tokens_per_s"] = round(float64(tokensPerStep)/mean, 1)
		exec := 0.0
		for _, e := range execS[f.warmup:] {
			exec += e
		}
		o["exec_ms_per_step"] = round(exec/float64(len(timed))*1e3, 3)
	} else {
		o["ms_per_step"], o["tokens_per_s"] = nil, nil
	}
	if f.dumpBatches != "" {
		o["losses"] = losses
	}
	for _, k := range []string{"GOMAXPROCS", "GOMLX_BACKEND", "GOGC"} {
		if val := os.Getenv(k); val != "" {
			o["env_"+k] = val
		}
	}
	return printJSON(o)
}

// dumpRun writes what bench_torch.py --train-check needs to replay this run: the initial
// weights (train.New's seeded initialisation) and, per step, the batch the Batcher hands out
// and the two learning rates, exactly as train.Run computes them.
func dumpRun(f flags, c config.Config, v config.Variant, trainIDs []uint32, total int) error {
	if f.initOut != "" {
		params := gomlxmodel.InitParams(c, v, v.Seed)
		if err := checkpoint.Save(f.initOut, params, checkpoint.Meta{Config: c, Variant: v, HasVariant: true}); err != nil {
			return err
		}
	}
	if f.dumpBatches == "" {
		return nil
	}
	b, err := tokenfile.NewBatcher(trainIDs, c.MaxSeqLen, c.BatchSize, v.TargetShift, uint64(v.Seed))
	if err != nil {
		return err
	}
	type step struct {
		IDs     [][]int32 `json:"ids"`
		Targets [][]int32 `json:"targets"`
		LR      float32   `json:"lr"`
		LR1D    float32   `json:"lr1d"`
	}
	var steps []step
	for s := 0; s < total; s++ {
		in, tg, _ := b.Next()
		mult := train.WSD(s, c.WarmupSteps, c.TotalSteps, c.DecayStartFrac)
		steps = append(steps, step{rows(in, c.MaxSeqLen), rows(tg, c.MaxSeqLen), float32(c.LR * mult), float32(c.MHCLR * mult)})
	}
	return writeJSON(f.dumpBatches, map[string]any{"steps": steps})
}

func rows(flat []int32, t int) [][]int32 {
	var out [][]int32
	for i := 0; i < len(flat); i += t {
		out = append(out, flat[i:i+t])
	}
	return out
}

type batchFile struct {
	Source  string    `json:"source,omitempty"`
	Windows []int     `json:"windows,omitempty"`
	IDs     [][]int32 `json:"ids"`
	Targets [][]int32 `json:"targets"`
}

// writeBatch writes batch_size windows spread evenly over --data: window i·n/B for i < B.
func writeBatch(f flags) error {
	c, err := presetConfig(f)
	if err != nil {
		return err
	}
	var ids []uint32
	if f.data == "" { // random tokens of the preset's vocabulary, seeded
		ids = randomTokens(c.BatchSize*c.MaxSeqLen*4+1, c.VocabSize, f.seed+2)
	} else if ids, err = tokenfile.Read(f.data); err != nil {
		return err
	}
	t := c.MaxSeqLen
	n := tokenfile.NumWindows(len(ids), t)
	if n < c.BatchSize {
		return fmt.Errorf("%s: %d windows of %d tokens, need %d", f.data, n, t, c.BatchSize)
	}
	bf := batchFile{Source: orRandom(f.data)}
	for i := 0; i < c.BatchSize; i++ {
		k := i * n / c.BatchSize
		in, tg := tokenfile.Window(ids, k, t, 1)
		bf.Windows = append(bf.Windows, k)
		bf.IDs = append(bf.IDs, toInt32(in))
		bf.Targets = append(bf.Targets, toInt32(tg))
	}
	return writeJSON(f.writeBatch, bf)
}

func toInt32(x []uint32) []int32 {
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(v)
	}
	return out
}

func lossCheck(f flags) error {
	if f.batch == "" {
		return fmt.Errorf("--loss-check needs --batch FILE.json")
	}
	ck, err := checkpoint.Load(f.lossCheck)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(f.batch)
	if err != nil {
		return err
	}
	var bf batchFile
	if err := json.Unmarshal(raw, &bf); err != nil {
		return fmt.Errorf("%s: %w", f.batch, err)
	}
	c := ck.Meta.Config
	if err := gomlxmodel.CheckIDs(bf.IDs, c.VocabSize); err != nil {
		return err
	}
	if err := gomlxmodel.CheckIDs(bf.Targets, c.VocabSize); err != nil {
		return err
	}
	r, err := gomlxmodel.NewRunner(c, ck.Meta.Variant, ck.Tensors)
	if err != nil {
		return err
	}
	objective := gomlxmodel.TrainingObjective(r.Model)
	exec, err := model.NewExec(r.Backend, r.Scope.Store(), func(ctx *model.Scope, ids, targets *Node) []*Node {
		obj := objective.Build(ctx, ids, targets, nil)
		return []*Node{obj.Loss, obj.CE}
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	flat := func(x [][]int32) (*tensors.Tensor, error) {
		if len(x) == 0 || len(x[0]) == 0 {
			return nil, fmt.Errorf("%s: empty batch", f.batch)
		}
		var out []int32
		for _, row := range x {
			if len(row) != len(x[0]) {
				return nil, fmt.Errorf("%s: ragged batch", f.batch)
			}
			out = append(out, row...)
		}
		return tensors.FromFlatDataAndDimensions(out, len(x), len(x[0])), nil
	}
	in, err := flat(bf.IDs)
	if err != nil {
		return err
	}
	tg, err := flat(bf.Targets)
	if err != nil {
		return err
	}
	res, err := exec.Exec(in, tg)
	if err != nil {
		return err
	}
	return printJSON(map[string]any{"impl": gomlxImpl(), "checkpoint": f.lossCheck, "batch": f.batch,
		"shape": []int{len(bf.IDs), len(bf.IDs[0])},
		"loss":  float64(tensors.ToScalar[float32](res[0])), "ce": float64(tensors.ToScalar[float32](res[1]))})
}

func gomlxImpl() string {
	if strings.HasPrefix(gomlxmodel.BackendConfig(), "xla") {
		return "gomlx-xla"
	}
	return "gomlx-go"
}

// deviceName is the CPU model (lscpu's "Model name"), or "gpu" for an XLA CUDA plugin.
func deviceName() string {
	if cfg := gomlxmodel.BackendConfig(); strings.HasPrefix(cfg, "xla") && strings.Contains(strings.ToLower(cfg), "cuda") {
		return "cuda"
	}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					return "cpu: " + strings.TrimSpace(v)
				}
			}
		}
	}
	return "cpu"
}

// vmHWM is the peak resident set size in KiB (/proc/self/status), 0 when unknown.
func vmHWM() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fs := strings.Fields(l[6:])
			if len(fs) > 0 {
				v, _ := strconv.ParseFloat(fs[0], 64)
				return v
			}
		}
	}
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func orRandom(s string) string {
	if s == "" {
		return "random"
	}
	return s
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x >= 0 {
		return float64(int64(x*p+0.5)) / p
	}
	return -float64(int64(-x*p+0.5)) / p
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(b))
	return err
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// cpuTime is the user + system CPU time of this process so far (all threads, OpenBLAS's
// included): per step, a measure that load from other processes inflates much less than wall
// time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
