package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/train"
)

// tinyConfig is small enough for a test yet wide enough (D = 32) that a fresh tied model's
// self logit (≈ D) clearly beats every other entry (≈ N(0, D)).
func tinyConfig() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 40, 16, 16, 4
	return c
}

func randomTokens(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(rng.IntN(vocab))
	}
	return out
}

// patterned is a stream where each token determines the next (t → 3t+1 mod V), with 10% noise.
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

// setMHC sets every mHC sub-block's pre_logits, post_logits and alpha_logit.
func setMHC(p gomlxmodel.Params, pre, post [2]float32, alpha float32) {
	for n, tensor := range p {
		switch {
		case strings.HasSuffix(n, ".pre_logits"):
			copy(tensor.Data, pre[:])
		case strings.HasSuffix(n, ".post_logits"):
			copy(tensor.Data, post[:])
		case strings.HasSuffix(n, ".alpha_logit"):
			tensor.Data[0] = alpha
		}
	}
}

func scale(p gomlxmodel.Params, name string, f float32) {
	for i := range p[name].Data {
		p[name].Data[i] *= f
	}
}

func mustSubject(t *testing.T, c config.Config, v config.Variant, p gomlxmodel.Params) *Subject {
	t.Helper()
	s, err := NewSubject(c, v, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustWindows(t *testing.T, tokens []uint32, T, n int) *Windows {
	t.Helper()
	w, err := SampleWindows(tokens, T, n)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A model whose blocks output exactly 0 (wo and w_down zeroed) has final hidden state = input
// embedding; with a tied head its argmax is the current token at every position and its top
// logit is exactly the self logit norm_final(e)·e. With the FFN left active (and its weights
// enlarged) the output is no longer the embedding, and the test must see that.
func TestIdentityModelCopiesWithSelfLogits(t *testing.T) {
	noMHC := config.DefaultVariant()
	noMHC.MHC = false
	float := config.DefaultVariant()
	float.Ternary = false
	cases := []struct {
		name      string
		v         config.Variant
		zeroFFN   bool
		wantExact bool // copy rate 1 and top == self to 1e-4
	}{
		{"ternary+mHC", config.DefaultVariant(), true, true},
		{"float+mHC", float, true, true},
		{"ternary, no mHC", noMHC, true, true},
		{"FFN active", float, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			p := gomlxmodel.InitParams(c, tc.v, 1)
			for i := 0; i < c.NLayers; i++ {
				scale(p, gomlxmodel.AttnWeight(i, "wo"), 0)
				if tc.zeroFFN {
					scale(p, gomlxmodel.FFNWeight(i, "w_down"), 0)
				} else {
					for _, w := range []string{"w_down", "w_up", "w_gate"} {
						scale(p, gomlxmodel.FFNWeight(i, w), 40) // std 0.8: the FFN now rewrites the residual
					}
				}
			}
			s := mustSubject(t, c, tc.v, p)
			w := mustWindows(t, randomTokens(2000, c.VocabSize, 2), c.MaxSeqLen, 256)
			a, err := LogitAlignment(s, w)
			if err != nil {
				t.Fatal(err)
			}
			ss := a.SelfSimilarity
			t.Logf("copy %.4f next %.4f, max|top-self| %.3g, mean self %.3f, sqrt(D)|e| %.3f", a.CopyRate, a.NextTokenAccuracy, ss.MaxAbsTopMinusSelf, ss.MeanSelfLogit, ss.MeanSqrtDNorm)
			exact := a.CopyRate == 1 && ss.MaxAbsTopMinusSelf <= 1e-4 && ss.ShareWithin1Pct == 1
			if exact != tc.wantExact {
				t.Fatalf("copy rate %v, max |top − self| %v, share within 1%% %v: exact=%v, want %v",
					a.CopyRate, ss.MaxAbsTopMinusSelf, ss.ShareWithin1Pct, exact, tc.wantExact)
			}
			if tc.wantExact {
				// norm_final is 1, so the self logit is sqrt(D)·‖e‖ (up to eps = 1e-6).
				if d := math.Abs(ss.MeanSelfLogit-ss.MeanSqrtDNorm) / ss.MeanSqrtDNorm; d > 1e-5 {
					t.Fatalf("mean self logit %v vs sqrt(D)·‖e‖ %v", ss.MeanSelfLogit, ss.MeanSqrtDNorm)
				}
				lens, err := LogitLens(s, w)
				if err != nil {
					t.Fatal(err)
				}
				for _, pt := range lens.Points {
					if pt.CopyRate != 1 {
						t.Fatalf("logit lens %s %s: copy rate %v, want 1", pt.Point, pt.Stream, pt.CopyRate)
					}
				}
			}
		})
	}
}

// The host-side losses agree with the graph's label-smoothed objective, and the training
// graph's logits agree with the inference path's.
func TestLossesAndParity(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 3)
	for n := range p {
		if !gomlxmodel.InitOf(n).Normal {
			continue
		}
		scale(p, n, 0.5) // smaller logits: a loss that is not dominated by one entry
	}
	s := mustSubject(t, c, v, p)
	w := mustWindows(t, randomTokens(1000, c.VocabSize, 4), c.MaxSeqLen, 64)
	l, err := ShiftedLoss(s, w)
	if err != nil {
		t.Fatal(err)
	}
	gf, err := GradientFlow(s, w)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(l.Shifted.Smoothed-gf.Loss) / gf.Loss; d > 1e-5 {
		t.Fatalf("host smoothed shifted loss %v vs graph loss %v (rel %.2g)", l.Shifted.Smoothed, gf.Loss, d)
	}
	if !(l.Unshifted.CE < l.Shifted.CE) {
		t.Fatalf("a near-fresh tied model should copy: unshifted CE %v, shifted CE %v", l.Unshifted.CE, l.Shifted.CE)
	}
	par, err := TrainInferenceParity(s, w)
	if err != nil {
		t.Fatal(err)
	}
	if par.MaxAbsDelta > 1e-5*par.MaxAbsLogit || par.ArgmaxAgreement != 1 || par.GradNorm == 0 {
		t.Fatalf("parity: %+v", par)
	}
	// The rounding floor (the inference path at batch 1 against the batch) is measured, float32
	// summation-order small on the CPU, and agrees on every argmax.
	if n := par.Noise; n.MaxAbsDelta > 1e-5*par.MaxAbsLogit || n.ArgmaxAgreement != 1 {
		t.Fatalf("parity noise floor: %+v", n)
	}
}

// alpha_logit's gradient is Σ (r0 − r1)·(g0 − g1): the streams must differ before the mix
// (unequal post gains here or upstream) AND their gradients after it (only unequal pre
// weights downstream can make them differ: the collapse (s0 + s1)/2 is symmetric). At the
// fresh init both are symmetric, s0 ≡ s1, and the gradient is exactly 0 (H7). At alpha = 0.5
// each mix also re-merges the streams into (r0 + r1)/2.
func TestAlphaGradientZeroForSymmetricStreams(t *testing.T) {
	cases := []struct {
		name          string
		pre, post     [2]float32 // pre_logits, post_logits of every mHC sub-block
		alpha         float32    // alpha_logit of every mHC sub-block
		wantZero      bool       // every alpha_logit gradient exactly 0
		wantIdentical bool       // s0 == s1 leaving every block
	}{
		{"fresh init (symmetric)", [2]float32{0, 0}, [2]float32{0, 0}, 0, true, true},
		{"asymmetric pre only", [2]float32{0.7, -0.4}, [2]float32{0.3, 0.3}, 0, true, true},
		{"asymmetric post only, alpha 0.5", [2]float32{0, 0}, [2]float32{0.5, -0.5}, 0, true, true},
		{"asymmetric post only, alpha_logit 5", [2]float32{0, 0}, [2]float32{0.5, -0.5}, 5, true, false},
		{"asymmetric pre and post, alpha 0.5", [2]float32{0.7, -0.4}, [2]float32{0.5, -0.5}, 0, false, true},
		{"asymmetric pre and post, alpha_logit 5", [2]float32{0.7, -0.4}, [2]float32{0.5, -0.5}, 5, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			v := config.DefaultVariant()
			p := gomlxmodel.InitParams(c, v, 5)
			setMHC(p, tc.pre, tc.post, tc.alpha)
			s := mustSubject(t, c, v, p)
			w := mustWindows(t, randomTokens(1000, c.VocabSize, 6), c.MaxSeqLen, 64)
			gf, err := GradientFlow(s, w)
			if err != nil {
				t.Fatal(err)
			}
			if len(gf.AlphaGrads) != 2*c.NLayers {
				t.Fatalf("%d alpha gradients, want %d", len(gf.AlphaGrads), 2*c.NLayers)
			}
			allZero := true
			for n, g := range gf.AlphaGrads {
				t.Logf("%s: %g", n, g)
				if g != 0 {
					allZero = false
				}
			}
			if allZero != tc.wantZero {
				t.Fatalf("alpha gradients all exactly zero = %v, want %v", allZero, tc.wantZero)
			}
			deadAlpha := 0
			for _, n := range gf.Dead {
				if strings.HasSuffix(n, ".alpha_logit") {
					deadAlpha++
				}
			}
			if (deadAlpha == 2*c.NLayers) != tc.wantZero {
				t.Fatalf("dead list %v", gf.Dead)
			}
			an, err := ActivationNorms(s, w)
			if err != nil {
				t.Fatal(err)
			}
			identical := true
			for _, l := range an.Layers {
				if l.StreamAsymmetry != 0 {
					identical = false
				}
			}
			if identical != tc.wantIdentical {
				t.Fatalf("streams identical = %v, want %v", identical, tc.wantIdentical)
			}
		})
	}
}

func TestDriftFromInit(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	cases := []struct {
		name      string
		edit      func(p gomlxmodel.Params)
		wantInit  bool
		wantMoved string
	}{
		{"fresh", func(gomlxmodel.Params) {}, true, ""},
		{"one norm weight off by 1e-3", func(p gomlxmodel.Params) { p["blocks.1.norm_ffn.weight"].Data[3] += 1e-3 }, false, "blocks.1.norm_ffn.weight"},
		{"embedding std ×1.1", func(p gomlxmodel.Params) { scale(p, "tok_embed.weight", 1.1) }, false, "tok_embed.weight"},
		{"wq shifted by +0.01", func(p gomlxmodel.Params) {
			for i := range p["blocks.0.attn.wq.weight"].Data {
				p["blocks.0.attn.wq.weight"].Data[i] += 0.01
			}
		}, false, "blocks.0.attn.wq.weight"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := gomlxmodel.InitParams(c, v, 11)
			tc.edit(p)
			d := DriftFromInit(p)
			if d.InitLike != tc.wantInit {
				t.Fatalf("init_like %v, want %v (moved %v)", d.InitLike, tc.wantInit, d.Moved)
			}
			if tc.wantMoved != "" && (len(d.Moved) != 1 || d.Moved[0] != tc.wantMoved) {
				t.Fatalf("moved %v, want [%s]", d.Moved, tc.wantMoved)
			}
		})
	}
}

// H6: a loader that builds a fresh model and "loads" the file into an empty variable map
// (candle's VarMap::load on an empty VarMap) raises no error, yet every tensor in effect
// differs from the file; the weights-in-effect check catches it, and passes the direct loader.
func TestWeightsInEffectCatchesFreshInitLoader(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 1)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tensor := range p { // a "trained" file: every tensor moved
		for i := range tensor.Data {
			tensor.Data[i] += 0.05 * float32(rng.NormFloat64())
		}
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := checkpoint.Save(dir, p, checkpoint.Meta{Config: c, Step: 100, Loss: 3.29, Variant: v, HasVariant: true}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		load        Loader
		wantMatched int
	}{
		{"direct loader", DirectLoader, len(p)},
		{"fresh-init loader (seed 1, the file's own init seed)", FreshInitLoader(1), 0},
		{"fresh-init loader (seed 2)", FreshInitLoader(2), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := WeightsInEffect(ck, tc.load)
			if err != nil {
				t.Fatalf("the loader must fail silently, got error %v", err)
			}
			if e.Matched != tc.wantMatched || e.Total != len(p) || e.AllMatch != (tc.wantMatched == len(p)) {
				t.Fatalf("matched %d/%d (all %v), want %d; differ %v", e.Matched, e.Total, e.AllMatch, tc.wantMatched, e.Differ)
			}
		})
	}
}

// A freshly initialised checkpoint whose meta.json claims the note's loss 3.29 is diagnosed
// init-like, with H6 supported and the copying explained by the self logit sqrt(D)·‖e‖.
func TestDiagnoseFreshCheckpoint(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	dir := filepath.Join(t.TempDir(), "fresh")
	if err := checkpoint.Save(dir, gomlxmodel.InitParams(c, v, 42), checkpoint.Meta{Config: c, Step: 20000, Loss: 3.29, Variant: v, HasVariant: true}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs := &Observed{Input: []int{5, 17, 3, 22}, Predicted: []int{5, 17, 3, 22}, Logits: []float64{248, 261}, Dim: 256}
	rep, err := Diagnose(ck, randomTokens(3000, c.VocabSize, 8), obs, &Options{Positions: 256})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Metrics
	t.Logf("summary: %s", rep.Summary)
	if !m.InitLike {
		t.Fatalf("fresh checkpoint not init-like: moved %v", rep.Details.Drift.Moved)
	}
	if m.CopyRate < 0.95 || m.SelfSimilarityShare < 0.95 {
		t.Fatalf("fresh tied model: copy rate %v, self-similarity share %v", m.CopyRate, m.SelfSimilarityShare)
	}
	ss := rep.Details.Alignment.SelfSimilarity
	if d := math.Abs(ss.MeanSelfLogit-ss.MeanSqrtDNorm) / ss.MeanSqrtDNorm; d > 1e-5 {
		t.Fatalf("self logit %v is not sqrt(D)·‖e‖ %v", ss.MeanSelfLogit, ss.MeanSqrtDNorm)
	}
	if d := math.Abs(ss.MeanSqrtDNorm-float64(c.Dim)) / float64(c.Dim); d > 0.1 {
		t.Fatalf("sqrt(D)·‖e‖ = %v, want ≈ D = %d", ss.MeanSqrtDNorm, c.Dim)
	}
	if m.LossShiftedSmoothed < 2*3.29 {
		t.Fatalf("measured objective %v is not far above the claimed 3.29", m.LossShiftedSmoothed)
	}
	want := map[string]Outcome{"H1": Untestable, "H2": Refuted, "H3": Refuted, "H4": Supported, "H5": Untestable, "H6": Supported, "H7": Supported}
	checkVerdicts(t, rep, want)
	if oc := rep.Details.Observation; oc == nil || !oc.FileReproduces || oc.FreshReproduces != 3 {
		t.Fatalf("observation check: %+v", oc)
	}
	if !strings.HasPrefix(rep.Summary, "Root cause H6") || !strings.Contains(rep.Summary, "fresh initialisation") {
		t.Fatalf("summary %q", rep.Summary)
	}
}

// Models trained (train.Run, 150 steps) on unshifted targets are diagnosed as trained to
// reproduce the current token (H1); the same recipe with shifted targets is not. (Stopped at 60
// steps, 0.3 nats above its 150-step CE, the shifted model's scales have not settled: the scale
// refit gains 0.199 ± 0.045 nats and calls it unexplained; at 150 steps 0.039 ± 0.022.)
func TestDiagnoseTrainedModels(t *testing.T) {
	cases := []struct {
		shift       int
		wantH1      Outcome
		wantSummary string
	}{
		{0, Supported, "trained to reproduce the current token"},
		{1, Refuted, "No copying"},
	}
	for _, tc := range cases {
		t.Run("target_shift="+string(rune('0'+tc.shift)), func(t *testing.T) {
			c := config.D20()
			c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 2
			c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 31, 16, 32, 8
			c.WarmupSteps, c.TotalSteps = 5, 150
			c.MHCLR = 1e-2
			v := config.DefaultVariant()
			v.TargetShift, v.Seed = tc.shift, 5
			dir := filepath.Join(t.TempDir(), "ckpt")
			if _, err := train.Run(train.Options{Config: c, Variant: v, Train: patterned(20000, c.VocabSize, 1),
				Val: patterned(2000, c.VocabSize, 2), Out: dir, EvalWindows: 8}); err != nil {
				t.Fatal(err)
			}
			ck, err := checkpoint.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Diagnose(ck, patterned(3000, c.VocabSize, 3), nil, &Options{Positions: 512})
			if err != nil {
				t.Fatal(err)
			}
			m := rep.Metrics
			t.Logf("copy %.3f next %.3f, CE shifted %.3f unshifted %.3f; summary: %s", m.CopyRate, m.NextTokenAccuracy, m.LossShifted, m.LossUnshifted, rep.Summary)
			if m.InitLike {
				t.Fatal("a trained model was diagnosed init-like")
			}
			checkVerdicts(t, rep, map[string]Outcome{"H1": tc.wantH1, "H6": Untestable, "H7": Supported})
			if !strings.Contains(rep.Summary, tc.wantSummary) {
				t.Fatalf("summary %q does not contain %q", rep.Summary, tc.wantSummary)
			}
			// The run's metrics: alpha_logit's gradient was exactly 0 at every step.
			if rep.Details.Run == nil || rep.Details.Run.Steps != c.TotalSteps {
				t.Fatalf("run metrics not read: %+v", rep.Details.Run)
			}
			if got := len(rep.Details.Run.GradFlow.DeadThroughout); got != 2*c.NLayers {
				t.Fatalf("dead throughout %v, want the %d alpha_logit", rep.Details.Run.GradFlow.DeadThroughout, 2*c.NLayers)
			}
		})
	}
}

func checkVerdicts(t *testing.T, rep *Report, want map[string]Outcome) {
	t.Helper()
	if len(rep.Hypotheses) != 7 {
		t.Fatalf("%d verdicts, want 7", len(rep.Hypotheses))
	}
	for _, h := range rep.Hypotheses {
		t.Logf("%s %s: %s", h.ID, h.Verdict, h.Evidence)
		if w, ok := want[h.ID]; ok && h.Verdict != w {
			t.Errorf("%s: verdict %s, want %s (evidence: %s)", h.ID, h.Verdict, w, h.Evidence)
		}
	}
	checkNumbers(t, rep)
}

// checkNumbers: the numbers each verdict carries are the report's own measurements, and
// Report.Hypothesis finds each verdict by id (and fails on an unknown one).
func checkNumbers(t *testing.T, rep *Report) {
	t.Helper()
	cat, p, a := rep.Details.Catalog, rep.Details.Parity, rep.Details.Alignment
	for _, tc := range []struct {
		id, number string
		want       float64
	}{
		{"H1", "ce_offset_0", cat.AsLoaded.CE[slices.Index(Offsets, 0)]},
		{"H1", "ce_offset_1", cat.AsLoaded.CE[slices.Index(Offsets, 1)]},
		{"H1", "best_offset", float64(cat.AsLoaded.Best)},
		{"H2", "argmax_agreement", p.ArgmaxAgreement},
		{"H2", "max_abs_delta", p.MaxAbsDelta},
		{"H4", "share_top_within_1pct_of_self", a.SelfSimilarity.ShareWithin1Pct},
		{"H5", "unigram_ce", cat.Unigram},
		{"H6", "tensors", float64(rep.Details.Drift.Total)},
	} {
		v, err := rep.Hypothesis(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := v.Numbers[tc.number]; !ok || got != tc.want {
			t.Errorf("%s numbers[%s] = %g (present %v), want %g", tc.id, tc.number, got, ok, tc.want)
		}
	}
	if _, err := rep.Hypothesis("H8"); err == nil {
		t.Error("Hypothesis(H8): no error")
	}
}

func TestInspectTernaryAndTie(t *testing.T) {
	c := tinyConfig()
	c.WeightTied = false
	v := config.DefaultVariant()
	p := gomlxmodel.InitParams(c, v, 1)
	copy(p["lm_head.weight"].Data, p["tok_embed.weight"].Data)
	// First group of wq (group size 16): s = mean|w| = (1+1+0.1+0)/16; w/s = ±7.6, 0.76, 0.
	wq := p["blocks.0.attn.wq.weight"].Data
	copy(wq[:16], []float32{1, -1, 0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	p["blocks.0.mhc_ffn.alpha_logit"].Data[0] = 5
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := checkpoint.Save(dir, p, checkpoint.Meta{Config: c, Step: 1, Loss: 1, Variant: v, HasVariant: true}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := Inspect(ck)
	if in.Tie.LMHeadEqualsEmbed == nil || !*in.Tie.LMHeadEqualsEmbed || in.Tie.WeightTied {
		t.Fatalf("tie: %+v", in.Tie)
	}
	g := ternaryStats("x", wq[:16], 16)
	if g.NegShare != 1.0/16 || g.PosShare != 2.0/16 || g.ZeroShare != 13.0/16 || math.Abs(g.ScaleMean-2.1/16) > 1e-7 {
		t.Fatalf("ternary stats of the constructed group: %+v", g)
	}
	found := false
	for _, a := range in.Alphas {
		if a.Name == "blocks.0.mhc_ffn.alpha_logit" {
			found = true
			if math.Abs(a.Alpha-1/(1+math.Exp(-5))) > 1e-12 {
				t.Fatalf("alpha %v", a)
			}
		}
	}
	if !found || len(in.Alphas) != 2*c.NLayers || len(in.Ternary) != 7*c.NLayers {
		t.Fatalf("alphas %d (found %v), ternary %d", len(in.Alphas), found, len(in.Ternary))
	}
}

// The note's observation, in GPT-2 ids, is translated through a checkpoint's compact vocabulary
// and reproduced by the fresh weights in the file; the same file read with ReadObserved agrees
// with NoteObservation.
func TestObservationThroughCompactVocab(t *testing.T) {
	c := tinyConfig()
	v := config.DefaultVariant()
	v.VocabMap = "vocab.json"
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := checkpoint.Save(dir, gomlxmodel.InitParams(c, v, 3), checkpoint.Meta{Config: c, Step: 1, Loss: 3.29, Variant: v, HasVariant: true}); err != nil {
		t.Fatal(err)
	}
	ids := []int{22184, 1388, 3419, 1391} // compact ids 0..3
	for i := 0; len(ids) < c.VocabSize-1; i++ {
		ids = append(ids, 100+i)
	}
	vocab, _ := json.Marshal(map[string]any{"tokenizer": "r50k_base", "gpt2_ids": append(ids, -1), "unk": c.VocabSize - 1})
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), vocab, 0o644); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadObserved(filepath.Join("testdata", "note_observation.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, obs := range []*Observed{NoteObservation(), fromFile} {
		oc, err := CheckObservation(s, obs, []int64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(oc.Input, []int{0, 1, 2, 3}) || !oc.FileReproduces || oc.FreshReproduces != 2 {
			t.Fatalf("observation check: %+v", oc)
		}
		if u := oc.condition("untied head"); u == nil || u.Reproduces {
			t.Fatalf("untied fresh model should not reproduce: %+v", u)
		}
	}
	bad := &Observed{Input: []int{1, 2}, Predicted: []int{1}, Logits: []float64{1}}
	if _, err := CheckObservation(s, bad, nil); err == nil {
		t.Fatal("ragged observation accepted")
	}
}
