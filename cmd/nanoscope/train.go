package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/gomlxmodel/train"
)

func init() {
	register("train", "train the model (presets cpu, d20) and write a checkpoint + metrics.jsonl", runTrain)
}

func runTrain(args []string) error {
	fs := newFlags("train", "train --preset cpu|d20 --data DIR --out DIR [--steps N] [--seed S] [ablation flags]")
	preset := fs.String("preset", "cpu", "configuration preset: cpu (minutes on 2 cores), d20 (the original), tiny_cpu")
	data := fs.String("data", "", "corpus directory written by `nanoscope corpus` (required)")
	out := fs.String("out", "", "checkpoint directory to write (required)")
	steps := fs.Int("steps", 0, "training steps (default: the preset's total_steps)")
	seed := fs.Int64("seed", 1, "seed of the initialisation and the data order")
	ids := fs.String("ids", "", "token ids to train on: compact (corpus vocab.json) or gpt2 (all 50257); default compact for cpu, gpt2 otherwise")
	optimizer := fs.String("optimizer", "muon-lion", "muon-lion (the original) or adamw")
	noTernary := fs.Bool("no-ternary", false, "ablation: float weights and activations instead of BitLinear")
	noMHC := fs.Bool("no-mhc", false, "ablation: plain pre-norm residual instead of mHC-lite")
	untied := fs.Bool("untied", false, "ablation: separate lm_head instead of the tied embedding")
	shift := fs.Int("target-shift", 1, "offset of the training target: 1 predicts the next token (the original); fault builds: 0 reproduces the current token, 2 or 3 predict further ahead (labels shifted twice)")
	noMask := fs.Bool("no-causal-mask", false, "fault build: train without the causal mask, so positions see later tokens (future leakage)")
	ropeLayout := fs.String("rope-layout", config.RopeHalves, "RoPE pairing: halves (the original, Hugging Face rotate_half) or interleaved (pairs 2i, 2i+1)")
	gqaMap := fs.String("gqa-map", config.GQATile, "query-head to kv-head mapping: tile (the original, candle's repeat) or interleave (repeat_interleave, Hugging Face repeat_kv)")
	kvHeads := fs.Int("kv-heads", 0, "override n_kv_heads (a divisor of n_heads; fewer than n_heads gives GQA)")
	lr := fs.Float64("lr", 0, "peak learning rate of Muon/AdamW (default: the preset's)")
	lr1d := fs.Float64("mhc-lr", 0, "learning rate of Lion (embedding, norms, mHC) (default: the preset's)")
	dim := fs.Int("dim", 0, "override dim")
	layers := fs.Int("layers", 0, "override n_layers")
	batch := fs.Int("batch", 0, "override batch_size")
	seq := fs.Int("seq", 0, "override max_seq_len")
	evalEvery := fs.Int("eval-every", 0, "steps between validation passes (default: total/10)")
	evalWindows := fs.Int("eval-windows", 64, "validation windows per pass")
	logEvery := fs.Int("log-every", 10, "steps between progress lines")
	metricsEvery := fs.Int("metrics-every", 1, "steps between records in metrics.jsonl")
	resume := fs.Bool("resume", false, "continue the run saved in --out (its checkpoint and train_state/) bit-identically; configuration flags are then ignored")
	saveEvery := fs.Int("save-every", 0, "steps between checkpoints, each with the optimizer state and data position for --resume (default: total/10)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("--data and --out are required")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	c, err := config.Preset(*preset)
	if err != nil {
		return err
	}
	v := config.DefaultVariant()
	v.Seed, v.Optimizer, v.Ternary, v.MHC, v.TargetShift = *seed, *optimizer, !*noTernary, !*noMHC, *shift
	v.NoCausalMask, v.RopeLayout, v.GQAMap = *noMask, *ropeLayout, *gqaMap
	if *shift < 0 || *shift > config.MaxTargetShift {
		return fmt.Errorf("--target-shift must be in [0, %d], got %d", config.MaxTargetShift, *shift)
	}
	if *ropeLayout != config.RopeHalves && *ropeLayout != config.RopeInterleaved {
		return fmt.Errorf("--rope-layout must be %s or %s, got %q", config.RopeHalves, config.RopeInterleaved, *ropeLayout)
	}
	if *gqaMap != config.GQATile && *gqaMap != config.GQAInterleave {
		return fmt.Errorf("--gqa-map must be %s or %s, got %q", config.GQATile, config.GQAInterleave, *gqaMap)
	}
	c.WeightTied = c.WeightTied && !*untied
	for _, o := range []struct {
		dst *int
		val int
	}{{&c.TotalSteps, *steps}, {&c.Dim, *dim}, {&c.NLayers, *layers}, {&c.BatchSize, *batch}, {&c.MaxSeqLen, *seq}, {&c.NKVHeads, *kvHeads}} {
		if o.val > 0 {
			*o.dst = o.val
		}
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
	if *resume {
		// The run's ids are the checkpoint's: a compact vocabulary iff it records one.
		meta, err := checkpoint.ReadMeta(*out)
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		*ids = "gpt2"
		if meta.Variant.VocabMap != "" {
			*ids = "compact"
		}
		c, v = meta.Config, meta.Variant
		if raw, ok := meta.Extra["preset"]; ok {
			_ = json.Unmarshal(raw, preset) // keep the run's own label in meta.json
		}
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
			return err
		}
		c.VocabSize = vocab.Size()
		v.VocabMap = corpus.VocabFile
	case "gpt2":
		c.VocabSize = corpus.GPT2VocabSize
	default:
		return fmt.Errorf("--ids must be compact or gpt2, got %q", *ids)
	}
	trainIDs, err := tokenfile.Read(filepath.Join(*data, trainFile))
	if err != nil {
		return err
	}
	valIDs, err := tokenfile.Read(filepath.Join(*data, valFile))
	if err != nil {
		return err
	}
	if *saveEvery == 0 {
		*saveEvery = max(1, c.TotalSteps/10)
	}
	if *evalEvery == 0 {
		*evalEvery = max(1, c.TotalSteps/10)
	}
	extra := map[string]any{"preset": *preset, "ids": *ids, "data": *data}
	if st, err := corpus.LoadStats(filepath.Join(*data, corpus.StatsFile)); err == nil {
		ent := st.GPT2.UnigramXentVal
		if *ids == "compact" {
			ent = st.Compact.UnigramXentVal
		}
		extra["unigram_xent_val"] = ent
	}
	if *resume {
		fmt.Fprintf(os.Stderr, "resuming the run in %s (its saved configuration applies)\n", *out)
	} else {
		fmt.Fprintf(os.Stderr, "training %s: dim %d, %d layers, vocab %d (%s ids), seq %d, batch %d, %d steps, optimizer %s, ternary %v, mHC %v, tied %v, target shift %d, causal mask %v, rope %s, gqa %s (%d kv heads), backend %s\n",
			*preset, c.Dim, c.NLayers, c.VocabSize, *ids, c.MaxSeqLen, c.BatchSize, c.TotalSteps, v.Optimizer, v.Ternary, v.MHC, c.WeightTied, v.TargetShift, !v.NoCausalMask, v.Rope(), v.GQA(), c.NKVHeads, gomlxmodel.BackendConfig())
	}
	// SIGINT/SIGTERM end the run after the current step, with a checkpoint to resume from.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(train.Options{Resume: *resume, SaveEvery: *saveEvery, Stop: sigCtx.Done(), Config: c, Variant: v, Train: trainIDs, Val: valIDs, Out: *out,
		EvalEvery: *evalEvery, EvalWindows: *evalWindows, Progress: os.Stderr, LogEvery: *logEvery, MetricsEvery: *metricsEvery, Extra: extra,
		Files: copyVocab(vocab, *data)})
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(130)
	}
	if err != nil {
		return err
	}
	fmt.Printf("trained %d steps in %s: loss %.4f, validation CE %.4f, next-token accuracy %.4f, copy rate %.4f, %.0f tokens/s -> %s\n",
		res.Steps, res.Wall.Round(1e9), res.Loss, res.ValCE, res.ValAcc, res.ValCopy, res.TokensPerSec, *out)
	if e, ok := extra["unigram_xent_val"].(float64); ok {
		fmt.Printf("unigram cross-entropy of the corpus (context-free baseline): %.4f nats\n", e)
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
