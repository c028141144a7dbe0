package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/metrics"
	"nanoscope/gomlxmodel/tokenfile"
)

// patterned returns a token stream where each token determines the next (t → 3t+1 mod V) with
// a little noise: a model that learns next-token prediction must beat the copy baseline.
func patterned(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]uint32, n)
	out[0] = 1
	for i := 1; i < n; i++ {
		if rng.IntN(10) == 0 {
			out[i] = uint32(rng.IntN(vocab))
		} else {
			out[i] = uint32((3*int(out[i-1]) + 1) % vocab)
		}
	}
	return out
}

func smallConfig() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 2
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 31, 16, 32, 8
	c.WarmupSteps, c.TotalSteps = 5, 60
	c.MHCLR = 1e-2
	return c
}

func TestTrainingLearnsNextToken(t *testing.T) {
	for _, opt := range []string{"muon-lion", "adamw"} {
		t.Run(opt, func(t *testing.T) {
			c := smallConfig()
			v := config.DefaultVariant()
			v.Optimizer, v.Seed = opt, 5
			if opt == "adamw" {
				c.LR = 1e-2
			}
			out := filepath.Join(t.TempDir(), "ckpt")
			res, err := Run(Options{Config: c, Variant: v, Train: patterned(20000, c.VocabSize, 1), Val: patterned(2000, c.VocabSize, 2), Out: out})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: val CE %.3f acc %.3f copy %.3f, %.0f tok/s", opt, res.ValCE, res.ValAcc, res.ValCopy, res.TokensPerSec)
			if res.ValAcc < 0.6 || res.ValCopy > 0.1 {
				t.Fatalf("model did not learn the next token: acc %.3f, copy %.3f", res.ValAcc, res.ValCopy)
			}
			if _, err := checkpoint.Load(out); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// readLosses returns the training losses and gradient norms logged in metrics.jsonl.
func readLosses(t *testing.T, dir string) []float64 {
	t.Helper()
	rs, err := metrics.Read(filepath.Join(dir, metrics.File))
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, m := range metrics.Split(rs).Train {
		out = append(out, m.Loss, m.GradNorm)
	}
	return out
}

// OnStep is called once per step, in order, with the record metrics.jsonl holds for that step
// (with MetricsEvery, for the steps written), and the progress lines are unchanged consumers
// of the same numbers.
func TestOnStepOncePerStep(t *testing.T) {
	for _, tc := range []struct {
		name         string
		steps, every int
		written      []int
	}{
		{"every step", 5, 1, []int{1, 2, 3, 4, 5}},
		{"every 2nd step", 5, 2, []int{1, 2, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smallConfig()
			c.TotalSteps = tc.steps
			out := filepath.Join(t.TempDir(), "ckpt")
			var seen []StepInfo
			var progress strings.Builder
			res, err := Run(Options{Config: c, Variant: config.DefaultVariant(), Train: patterned(5000, c.VocabSize, 1),
				Val: patterned(1000, c.VocabSize, 2), Out: out, EvalWindows: 2, MetricsEvery: tc.every,
				Progress: &progress, LogEvery: 1, OnStep: func(s StepInfo) { seen = append(seen, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != tc.steps {
				t.Fatalf("OnStep called %d times, want %d", len(seen), tc.steps)
			}
			for i, s := range seen {
				if s.Step != i+1 || s.TotalSteps != tc.steps || s.Kind != metrics.KindTrain || s.First != (i == 0) || s.Duration <= 0 || s.Tokens != c.BatchSize*c.MaxSeqLen {
					t.Fatalf("call %d: step %d/%d kind %q first %v duration %v tokens %d", i, s.Step, s.TotalSteps, s.Kind, s.First, s.Duration, s.Tokens)
				}
				if (i == 0) != (s.AvgTokensPerSec == 0) {
					t.Errorf("step %d: average tokens/s %g (0 only before a timed step)", s.Step, s.AvgTokensPerSec)
				}
			}
			if res.Loss != seen[tc.steps-1].Loss {
				t.Errorf("Result.Loss %v, last OnStep loss %v", res.Loss, seen[tc.steps-1].Loss)
			}
			rs, err := metrics.Read(filepath.Join(out, metrics.File))
			if err != nil {
				t.Fatal(err)
			}
			train := metrics.Split(rs).Train
			if len(train) != len(tc.written) {
				t.Fatalf("%d train records, want %d", len(train), len(tc.written))
			}
			for i, m := range train {
				s := seen[tc.written[i]-1]
				if m.Step != tc.written[i] || !reflect.DeepEqual(m, s.Record) {
					t.Fatalf("record of step %d differs from what OnStep got:\n%+v\n%+v", m.Step, m, s.Record)
				}
			}
			lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
			if n := len(lines); n != tc.steps+1 || !strings.HasPrefix(lines[0], "step     1/") || !strings.Contains(lines[0], fmt.Sprintf("loss %.4f", seen[0].Loss)) {
				t.Fatalf("progress: %d lines, first %q", n, lines[0])
			}
		})
	}
}

// Same seed, same run: losses, gradient norms and final weights are bit-identical; a
// different seed gives a different run. The saved checkpoint, loaded strictly, gives exactly
// the logits of the weights that were trained.
func TestSameSeedSameRunAndRoundTrip(t *testing.T) {
	c := smallConfig()
	c.TotalSteps = 8
	run := func(seed int64) (string, Result) {
		v := config.DefaultVariant()
		v.Seed = seed
		out := filepath.Join(t.TempDir(), "ckpt")
		res, err := Run(Options{Config: c, Variant: v, Train: patterned(5000, c.VocabSize, 1), Val: patterned(1000, c.VocabSize, 2), Out: out, EvalWindows: 4})
		if err != nil {
			t.Fatal(err)
		}
		return out, res
	}
	a, _ := run(3)
	b, _ := run(3)
	d, _ := run(4)
	la, lb, ld := readLosses(t, a), readLosses(t, b), readLosses(t, d)
	if !slices.Equal(la, lb) {
		t.Fatalf("same seed, different runs:\n%v\n%v", la, lb)
	}
	if slices.Equal(la, ld) {
		t.Fatalf("different seeds gave identical runs")
	}
	ca, err := checkpoint.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := checkpoint.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, ta := range ca.Tensors {
		if checkpoint.TensorHash(ta) != checkpoint.TensorHash(cb.Tensors[name]) {
			t.Fatalf("same seed: tensor %s differs", name)
		}
	}
	// Round trip: save → strict load → logits equal those of the in-memory weights, bit for bit.
	r1, err := gomlxmodel.NewRunner(ca.Meta.Config, ca.Meta.Variant, ca.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{{1, 4, 13, 9, 28, 23, 8, 25, 14, 12, 6, 19, 27, 20, 30, 29}}
	want, err := r1.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "resaved")
	if err := checkpoint.Save(dir2, ca.Tensors, ca.Meta); err != nil {
		t.Fatal(err)
	}
	c2, err := checkpoint.Load(dir2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := gomlxmodel.NewRunner(c2.Meta.Config, c2.Meta.Variant, c2.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d after save/load: %v, want %v", i, got[i], want[i])
		}
	}
}

// A run interrupted twice and resumed ends with exactly the weights and the logged losses of
// the uninterrupted run.
func TestInterruptAndResumeIsBitIdentical(t *testing.T) {
	c := smallConfig()
	c.TotalSteps = 12
	v := config.DefaultVariant()
	v.Seed = 8
	trainIDs, valIDs := patterned(5000, c.VocabSize, 1), patterned(1000, c.VocabSize, 2)
	opts := func(out string) Options {
		return Options{Config: c, Variant: v, Train: trainIDs, Val: valIDs, Out: out, EvalWindows: 4, SaveEvery: 5}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if _, err := Run(opts(whole)); err != nil {
		t.Fatal(err)
	}
	parts := filepath.Join(t.TempDir(), "parts")
	stopped := make(chan struct{})
	close(stopped)
	o := opts(parts)
	o.Stop = stopped
	res, err := Run(o) // stops after step 1
	if !errors.Is(err, ErrInterrupted) || res.Steps != 1 {
		t.Fatalf("first interrupt: steps %d, err %v", res.Steps, err)
	}
	o.Resume = true
	o.Config = config.Config{} // must come from the checkpoint
	if res, err = Run(o); !errors.Is(err, ErrInterrupted) || res.Steps != 2 {
		t.Fatalf("second interrupt: steps %d, err %v", res.Steps, err)
	}
	o.Stop = nil
	if res, err = Run(o); err != nil || res.Steps != 12 {
		t.Fatalf("resume: steps %d, err %v", res.Steps, err)
	}
	a, err := checkpoint.Load(whole)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Load(parts)
	if err != nil {
		t.Fatal(err)
	}
	for name := range a.Tensors {
		if checkpoint.TensorHash(a.Tensors[name]) != checkpoint.TensorHash(b.Tensors[name]) {
			t.Fatalf("tensor %s differs between the uninterrupted and the resumed run", name)
		}
	}
	if la, lb := readLosses(t, whole), readLosses(t, parts); !slices.Equal(la, lb) {
		t.Fatalf("logged losses differ:\n%v\n%v", la, lb)
	}
	// The training state is kept for the two most recent saves only.
	steps, err := stateSteps(filepath.Join(parts, StateDir))
	if err != nil || !slices.Equal(steps, []int{10, 12}) {
		t.Fatalf("states kept: %v (%v), want [10 12]", steps, err)
	}
}

// A non-finite loss stops training with the step and the first non-finite tensor named, and
// leaves the last good checkpoint in place.
func TestNonFiniteStopsTraining(t *testing.T) {
	c := smallConfig()
	c.TotalSteps = 6
	v := config.DefaultVariant()
	out := filepath.Join(t.TempDir(), "ckpt")
	o := Options{Config: c, Variant: v, Train: patterned(5000, c.VocabSize, 1), Val: patterned(1000, c.VocabSize, 2), Out: out, EvalWindows: 2}
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	good, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// Poison one weight with +Inf: the loss becomes non-finite at the first step.
	init := gomlxmodel.InitParams(c, v, 1)
	init["blocks.1.ffn.w_up.weight"].Data[0] = float32(math.Inf(1))
	o.Init = init
	_, err = Run(o)
	if err == nil || !strings.Contains(err.Error(), "step 1:") || !strings.Contains(err.Error(), "first non-finite activation blocks.1.ffn.hook_out") {
		t.Fatalf("want a non-finite error at step 1, got %v", err)
	}
	t.Log(err)
	after, err := checkpoint.Load(out)
	if err != nil {
		t.Fatalf("the last good checkpoint was damaged: %v", err)
	}
	for name := range good.Tensors {
		if checkpoint.TensorHash(good.Tensors[name]) != checkpoint.TensorHash(after.Tensors[name]) {
			t.Fatalf("tensor %s of the last good checkpoint changed", name)
		}
	}
}

// The logged update/weight ratios are exactly 0 for alpha_logit (zero gradient, Lion's
// sign(0) = 0: H7) and positive for every weight matrix Muon updates.
func TestUpdateRatiosLogged(t *testing.T) {
	c := smallConfig()
	c.TotalSteps = 4
	out := filepath.Join(t.TempDir(), "ckpt")
	if _, err := Run(Options{Config: c, Variant: config.DefaultVariant(), Train: patterned(5000, c.VocabSize, 1), Val: patterned(1000, c.VocabSize, 2), Out: out, EvalWindows: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	steps := 0
	for dec.More() {
		var m StepMetrics
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.Kind != "train" {
			continue
		}
		steps++
		for name, r := range m.UpdateRatios {
			switch {
			case strings.HasSuffix(name, "alpha_logit") && r != 0:
				t.Errorf("step %d: %s moved (ratio %g)", m.Step, name, r)
			case usesMuon(name) && !(r > 0):
				t.Errorf("step %d: %s did not move (ratio %g)", m.Step, name, r)
			}
		}
		if len(m.UpdateRatios) != len(c.TensorShapes(config.DefaultVariant())) {
			t.Fatalf("step %d: %d update ratios", m.Step, len(m.UpdateRatios))
		}
	}
	if steps != c.TotalSteps {
		t.Fatalf("%d train records, want %d", steps, c.TotalSteps)
	}
}

// Trainer.Loop only steps: driven by hand over the same batches it gives the parameters Run
// saves, bit for bit; its hooks run in order after each step, and a hook's error ends it after
// that step.
func TestLoopOnlySteps(t *testing.T) {
	c := smallConfig()
	c.TotalSteps = 4
	v := config.DefaultVariant()
	train, val := patterned(5000, c.VocabSize, 1), patterned(1000, c.VocabSize, 2)
	out := filepath.Join(t.TempDir(), "ckpt")
	if _, err := Run(Options{Config: c, Variant: v, Train: train, Val: val, Out: out, EvalWindows: 2}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Options{Config: c, Variant: v, Train: train, Val: val})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tokenfile.NewBatcher(train, c.MaxSeqLen, c.BatchSize, v.TargetShift, uint64(v.Seed))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	first := func(info *StepInfo) error { order = append(order, fmt.Sprintf("a%d", info.Step)); return nil }
	second := func(info *StepInfo) error { order = append(order, fmt.Sprintf("b%d", info.Step)); return nil }
	if err := tr.Loop(b, 0, c.TotalSteps, first, second); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"}; !slices.Equal(order, want) {
		t.Errorf("hooks ran %v, want %v", order, want)
	}
	p, err := tr.Params()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range ck.Tensors {
		if !slices.Equal(p[name].Data, want.Data) {
			t.Fatalf("%s: Loop's parameters differ from Run's", name)
		}
	}
	stop := errors.New("stop")
	steps := 0
	err = tr.Loop(b, 0, 10, func(info *StepInfo) error {
		steps++
		if info.Step == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || steps != 2 {
		t.Errorf("Loop after a hook's error: %v after %d steps, want stop after 2", err, steps)
	}
}
