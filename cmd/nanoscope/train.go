package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/gomlxmodel/train"
)

func init() {
	register("train", "train the model (presets cpu, tiny_cpu, d20, d40, d60) and write a checkpoint + metrics.jsonl", runTrain)
}

// presetNames are the presets config.Preset knows, in the order the help lists them.
var presetNames = []string{"cpu", "tiny_cpu", "d20", "d40", "d60"}

// resumeFlags may be given with --resume: they do not change the run's configuration.
var resumeFlags = map[string]bool{"data": true, "out": true, "resume": true, "steps": true, "eval-every": true, "eval-windows": true,
	"log-every": true, "metrics-every": true, "save-every": true, "cpuprofile": true, "precision": true, "devices": true}

func runTrain(args []string) error {
	fs := newFlags("train", "train --preset "+strings.Join(presetNames, "|")+" --data DIR --out DIR [--steps N] [--seed S] [ablation flags]\n       nanoscope train --data DIR --out DIR --resume [--steps N]")
	preset := fs.String("preset", "cpu", "configuration `NAME`: cpu (minutes on 2 cores), tiny_cpu (the original's small preset), d20 (the original), d40 and d60 (d20 widened to dim 512 and 768, head_dim kept at 64)")
	data := fs.String("data", "", "corpus `DIR` written by nanoscope corpus, or a file in it (required)")
	out := fs.String("out", "", "checkpoint `DIR` to write (required); one that holds a checkpoint needs --resume or --force")
	steps := fs.Int("steps", 0, "total training steps `N` of the run (default: the preset's total_steps); with --resume a larger N extends a run: the WSD schedule is recomputed for the new total, so a run extended after its decay trains at the peak rate again until decay_start_frac of N")
	seed := fs.Int64("seed", 1, "`SEED` of the initialisation and the data order")
	ids := fs.String("ids", "", "token `IDS` to train on: compact (the corpus's vocab.json) or gpt2 (all 50257) (default: compact for cpu, gpt2 otherwise)")
	optimizer := fs.String("optimizer", "muon-lion", "`NAME`: muon-lion (the original) or adamw")
	noTernary := fs.Bool("no-ternary", false, "ablation: float weights and activations instead of BitLinear")
	noMHC := fs.Bool("no-mhc", false, "ablation: plain pre-norm residual instead of mHC-lite")
	untied := fs.Bool("untied", false, "ablation: separate lm_head instead of the tied embedding")
	force := fs.Bool("force", false, "replace the checkpoint already in --out (its metrics and training state are lost)")
	shift := fs.Int("target-shift", 1, "offset `K` of the training target, in [0, 3]: 1 predicts the next token (the original); fault builds: 0 reproduces the current token, 2 or 3 predict further ahead (labels shifted twice)")
	noMask := fs.Bool("no-causal-mask", false, "fault build: train without the causal mask, so positions see later tokens (future leakage)")
	ropeLayout := fs.String("rope-layout", config.RopeHalves, "RoPE pairing `LAYOUT`: halves (the original, Hugging Face rotate_half) or interleaved (pairs 2i, 2i+1)")
	gqaMap := fs.String("gqa-map", config.GQATile, "query-head to kv-head `MAP`: tile (the original, candle's repeat) or interleave (repeat_interleave, Hugging Face repeat_kv)")
	kvHeads := fs.Int("kv-heads", 0, "override n_kv_heads with `N`, a divisor of n_heads (fewer than n_heads gives GQA)")
	lr := fs.Float64("lr", 0, "peak learning rate `LR` of Muon/AdamW (default: the preset's; 3e-3 for adamw)")
	lr1d := fs.Float64("mhc-lr", 0, "learning rate `LR` of Lion (embedding, norms, mHC) (default: the preset's)")
	dim := fs.Int("dim", 0, "override dim with `N` (a multiple of n_heads)")
	layers := fs.Int("layers", 0, "override n_layers with `N`")
	batch := fs.Int("batch", 0, "override batch_size with `N`")
	seq := fs.Int("seq", 0, "override max_seq_len with `N` (at least 2)")
	evalEvery := fs.Int("eval-every", 0, "`N` steps between validation passes (default: total/10)")
	evalWindows := fs.Int("eval-windows", 64, "validation windows `N` per pass")
	logEvery := fs.Int("log-every", 10, "`N` steps between progress lines")
	metricsEvery := fs.Int("metrics-every", 1, "`N` steps between records in metrics.jsonl")
	resume := fs.Bool("resume", false, "continue the run saved in --out (its checkpoint and train_state/) bit-identically, on the corpus it started with; its configuration flags cannot be changed")
	saveEvery := fs.Int("save-every", 0, "`N` steps between checkpoints, each with the optimizer state and data position for --resume (default: total/10)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to `FILE`")
	precision := fs.String("precision", "fp32", "matrix products in `P`: fp32 (float32 throughout), tf32 (TensorFloat-32 products) or bf16 (bfloat16 products of the blocks, float32 master weights, optimizer state, head, logits and loss); tf32 and bf16 need the xla backend on an NVIDIA GPU")
	devices := fs.String("devices", "1", "data-parallel over `N` devices of the backend (or all): the batch is split across them, the parameters replicated, XLA's SPMD partitioner all-reduces the gradients; batch_size must be a multiple of N")
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("data", "out")
	fs.oneOf("preset", *preset, presetNames...)
	fs.intAtLeast("steps", *steps, 1)
	fs.intIn("target-shift", *shift, 0, config.MaxTargetShift)
	fs.oneOf("rope-layout", *ropeLayout, config.RopeHalves, config.RopeInterleaved)
	fs.oneOf("gqa-map", *gqaMap, config.GQATile, config.GQAInterleave)
	fs.oneOf("optimizer", *optimizer, "muon-lion", "adamw")
	fs.oneOf("precision", *precision, gomlxmodel.Precisions...)
	nDevices := parseDevices(fs, *devices)
	if fs.given("ids") {
		fs.oneOf("ids", *ids, "compact", "gpt2")
	}
	for name, v := range map[string]*int{"kv-heads": kvHeads, "dim": dim, "layers": layers, "batch": batch, "eval-every": evalEvery,
		"eval-windows": evalWindows, "log-every": logEvery, "metrics-every": metricsEvery, "save-every": saveEvery} {
		fs.intAtLeast(name, *v, 1)
	}
	fs.intAtLeast("seq", *seq, 2)
	fs.positive("lr", *lr)
	fs.positive("mhc-lr", *lr1d)
	fs.exclusive("resume", "force")
	if *resume {
		var fixed []string
		fs.Visit(func(f *flag.Flag) {
			if !resumeFlags[f.Name] {
				fixed = append(fixed, "--"+f.Name)
			}
		})
		if len(fixed) > 0 {
			fs.fail("%s cannot change a resumed run (its configuration is in %s); only --steps and the logging, eval and save intervals can", strings.Join(fixed, ", "), filepath.Join(*out, checkpoint.MetaFile))
		}
	}
	if err := fs.check(); err != nil {
		return err
	}
	prec := gomlxmodel.Precision(*precision)
	if err := gomlxmodel.CheckPrecision(prec); err != nil {
		return err
	}
	if nDevices > 1 { // before any output: a device count the backend lacks is a usage error
		b, err := gomlxmodel.NewBackendWith(prec.BackendOptions()...)
		if err != nil {
			return err
		}
		if have := b.NumDevices(); nDevices > have {
			return usagef("--devices %d: the backend (%s) has %d device(s)", nDevices, gomlxmodel.BackendConfig(), have)
		}
	}
	dataDir, err := corpusDir(*data)
	if err != nil {
		return err
	}
	*data = dataDir
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	c, err := config.Preset(*preset)
	if err != nil {
		return err
	}
	v := config.DefaultVariant()
	v.Seed, v.Optimizer, v.Ternary, v.MHC, v.TargetShift = *seed, *optimizer, !*noTernary, !*noMHC, *shift
	v.NoCausalMask, v.RopeLayout, v.GQAMap = *noMask, *ropeLayout, *gqaMap
	c.WeightTied = c.WeightTied && !*untied
	for _, o := range []struct {
		dst *int
		val int
	}{{&c.TotalSteps, *steps}, {&c.Dim, *dim}, {&c.NLayers, *layers}, {&c.BatchSize, *batch}, {&c.MaxSeqLen, *seq}, {&c.NKVHeads, *kvHeads}} {
		if o.val > 0 {
			*o.dst = o.val
		}
	}
	switch {
	case c.Dim%c.NHeads != 0:
		return usagef("--dim %d is not a multiple of n_heads %d", c.Dim, c.NHeads)
	case c.HeadDim()%2 != 0:
		return usagef("--dim %d gives head_dim %d (dim / n_heads %d), which RoPE needs even", c.Dim, c.HeadDim(), c.NHeads)
	case c.NHeads%c.NKVHeads != 0:
		return usagef("--kv-heads %d does not divide n_heads %d", c.NKVHeads, c.NHeads)
	}
	if *optimizer == "adamw" && *lr == 0 {
		c.LR = 3e-3 // the preset's 0.02 is a Muon rate, far too high for Adam
	}
	if *lr > 0 {
		c.LR = *lr
	}
	if *lr1d > 0 {
		c.MHCLR = *lr1d
	}
	startStep := 0
	var runVocab string // the run's own vocab.json, on --resume
	var meta checkpoint.Meta
	if *resume {
		// The run's ids are the checkpoint's: a compact vocabulary iff it records one.
		if meta, err = checkpoint.ReadMeta(*out); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		*ids = "gpt2"
		if usesCompact(meta) {
			*ids = "compact"
			runVocab = filepath.Join(*out, meta.Variant.VocabMap)
		}
		c, v = meta.Config, meta.Variant
		if raw, ok := meta.Extra["preset"]; ok {
			_ = json.Unmarshal(raw, preset) // keep the run's own label in meta.json
		}
		startStep = meta.Step
		switch {
		case *steps > 0 && *steps <= meta.Step:
			return usagef("--steps %d is the run's total and must exceed its step %d", *steps, meta.Step)
		case *steps > 0:
			c.TotalSteps = *steps
		case meta.Step >= c.TotalSteps:
			return fmt.Errorf("the run in %s is complete (step %d of %d): pass --steps N (N > %d, the new total) to extend it", *out, meta.Step, c.TotalSteps, meta.Step)
		}
	} else if !*force {
		if err := refuseOverwrite(*out); err != nil {
			return err
		}
	}
	if isCorpusDir(*out) {
		return fmt.Errorf("--out %s is a corpus directory: write the checkpoint elsewhere", *out)
	}
	if *ids == "" {
		*ids = "gpt2"
		if *preset == "cpu" {
			*ids = "compact"
		}
	}
	trainFile, valFile := corpus.TrainFile, corpus.ValFile
	var vocab *corpus.Vocab
	switch *ids {
	case "compact":
		trainFile, valFile = corpus.TrainCompactFile, corpus.ValCompactFile
		if vocab, err = corpus.LoadVocab(filepath.Join(*data, corpus.VocabFile)); err != nil {
			return fmt.Errorf("--data: %w", err)
		}
		if runVocab != "" {
			if err := sameVocab(filepath.Join(*data, corpus.VocabFile), runVocab, "--data "+*data); err != nil {
				return fmt.Errorf("%w; resume with the corpus the run started on (%s)", err, orUnknown(recordedData(meta)))
			}
		}
		c.VocabSize = vocab.Size()
		v.VocabMap = corpus.VocabFile
	case "gpt2":
		c.VocabSize = corpus.GPT2VocabSize
	}
	trainPath := filepath.Join(*data, trainFile)
	trainHash, err := fileSHA256(trainPath)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if *resume {
		var rec string
		if raw, ok := meta.Extra["train_sha256"]; ok {
			_ = json.Unmarshal(raw, &rec)
		}
		if rec != "" && rec != trainHash {
			return fmt.Errorf("--data %s is not the corpus this run was trained on: its %s differs from the one recorded in %s (the run started on %s)",
				*data, trainFile, filepath.Join(*out, checkpoint.MetaFile), orUnknown(recordedData(meta)))
		}
	}
	trainIDs, err := tokenfile.Read(trainPath)
	if err != nil {
		return err
	}
	valIDs, err := tokenfile.Read(filepath.Join(*data, valFile))
	if err != nil {
		return err
	}
	for _, split := range []struct {
		name string
		n    int
	}{{trainFile, len(trainIDs)}, {valFile, len(valIDs)}} {
		if need := c.MaxSeqLen + v.TargetShift; split.n < need {
			return fmt.Errorf("--data: %s has %d tokens, fewer than one window of max_seq_len %d needs (%d); use a smaller --seq or a larger corpus",
				filepath.Join(*data, split.name), split.n, c.MaxSeqLen, need)
		}
	}
	if *saveEvery == 0 {
		*saveEvery = max(1, c.TotalSteps/10)
	}
	if *evalEvery == 0 {
		*evalEvery = max(1, c.TotalSteps/10)
	}
	extra := map[string]any{"preset": *preset, "ids": *ids, "data": *data, "train_sha256": trainHash}
	unigram := math.NaN()
	if st, err := corpus.LoadStats(filepath.Join(*data, corpus.StatsFile)); err == nil {
		unigram = st.GPT2.UnigramXentVal
		if *ids == "compact" {
			unigram = st.Compact.UnigramXentVal
		}
		extra["unigram_xent_val"] = unigram
	}
	if *resume {
		fmt.Fprintf(os.Stderr, "resuming the run in %s at step %d of %d (its saved configuration applies)\n", *out, startStep, c.TotalSteps)
	} else {
		fmt.Fprintf(os.Stderr, "training %s: dim %d, %d layers, vocab %d (%s ids), seq %d, batch %d, %s, optimizer %s, ternary %v, mHC %v, tied %v, target shift %d, causal mask %v, rope %s, gqa %s (%d kv heads), backend %s\n",
			*preset, c.Dim, c.NLayers, c.VocabSize, *ids, c.MaxSeqLen, c.BatchSize, plural(c.TotalSteps, "step"), v.Optimizer, v.Ternary, v.MHC, c.WeightTied, v.TargetShift, !v.NoCausalMask, v.Rope(), v.GQA(), c.NKVHeads, gomlxmodel.BackendConfig())
	}
	ref := fmt.Sprintf("ln V = %.3f (uniform guess over %d ids)", math.Log(float64(c.VocabSize)), c.VocabSize)
	if !math.IsNaN(unigram) {
		ref += fmt.Sprintf(", unigram %.3f (context-free, from the corpus's stats.json)", unigram)
	}
	fmt.Fprintf(os.Stderr, "progress: loss is the label-smoothed cross-entropy being minimised (0.9 CE + 0.1 mean -log p), ce the plain cross-entropy of the targets, both in nats; references: %s\n", ref)
	// SIGINT/SIGTERM end the run after the current step, with a checkpoint to resume from.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var total int
	if *resume {
		total = c.TotalSteps
	}
	res, err := train.Run(train.Options{Resume: *resume, TotalSteps: total, SaveEvery: *saveEvery, Stop: sigCtx.Done(), Config: c, Variant: v, Train: trainIDs, Val: valIDs, Out: *out,
		EvalEvery: *evalEvery, EvalWindows: *evalWindows, Progress: os.Stderr, LogEvery: *logEvery, MetricsEvery: *metricsEvery, Extra: extra,
		Files: copyVocab(vocab, *data), Precision: prec, Devices: nDevices})
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(os.Stderr, "nanoscope train: %s (%d steps run in this process)\n", err, res.Steps-startStep)
		os.Exit(130)
	}
	if err != nil {
		return err
	}
	from := ""
	if startStep > 0 {
		from = fmt.Sprintf(" (steps %d-%d of %d)", startStep+1, res.Steps, c.TotalSteps)
	}
	speed := "no timed step (the first includes compilation)"
	if res.TokensPerSec > 0 {
		speed = fmt.Sprintf("%.0f tokens/s", res.TokensPerSec)
	}
	fmt.Printf("trained %s%s in %s: loss %.4f, validation CE %.4f, next-token accuracy %.4f, copy rate %.4f, %s -> %s\n",
		plural(res.Steps-startStep, "step"), from, res.Wall.Round(1e9), res.Loss, res.ValCE, res.ValAcc, res.ValCopy, speed, *out)
	fmt.Printf("references: %s\n", ref)
	return nil
}

// plural is "1 step", "2 steps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orUnknown(s string) string {
	if s == "" {
		return "not recorded"
	}
	return s
}

// refuseOverwrite fails when dir holds a checkpoint (or what an interrupted save left of one).
func refuseOverwrite(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--out %s is a file, not a directory", dir)
	}
	for _, f := range []string{checkpoint.MetaFile, checkpoint.ModelFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			what := "a checkpoint"
			if m, err := checkpoint.ReadMeta(dir); err == nil {
				what = fmt.Sprintf("a checkpoint at step %d of %d", m.Step, m.Config.TotalSteps)
			}
			return fmt.Errorf("--out %s holds %s: pass --resume to continue it or --force to replace it", dir, what)
		}
	}
	return nil
}

// copyVocab lists the corpus files a checkpoint needs beside it (the compact vocabulary).
func copyVocab(v *corpus.Vocab, data string) map[string]string {
	if v == nil {
		return nil
	}
	return map[string]string{corpus.VocabFile: filepath.Join(data, corpus.VocabFile)}
}

// parseDevices reads --devices: a count of at least 1, or all (−1).
func parseDevices(fs *flags, v string) int {
	if v == "all" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		fs.fail("--devices %q: want a device count of at least 1, or all", v)
		return 1
	}
	return n
}
