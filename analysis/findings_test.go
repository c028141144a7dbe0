package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/train"
)

// contextual is a stream where attention matters: with probability 0.9 a token is f of the
// one two places back, f(a) = (7a + 3) mod V, else it is drawn from a skewed unigram
// distribution. Predicting the next token needs the previous position (relative attention
// through RoPE); the token two ahead is mostly f of the current one.
func contextual(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 5))
	out := make([]uint32, n)
	for i := range out {
		if i >= 2 && rng.IntN(10) != 0 {
			out[i] = uint32((7*int(out[i-2]) + 3) % vocab)
		} else {
			out[i] = skewed(rng, vocab)
		}
	}
	return out
}

// skewed draws from a Zipf-like distribution over [0, vocab).
func skewed(rng *rand.Rand, vocab int) uint32 {
	return uint32(min(vocab-1, int(math.Floor(float64(vocab)*math.Pow(rng.Float64(), 2)))))
}

// unigramStream is i.i.d. draws of skewed: no context to learn.
func unigramStream(n, vocab int, seed uint64) []uint32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]uint32, n)
	for i := range out {
		out[i] = skewed(rng, vocab)
	}
	return out
}

// faultConfig is the model of the catalog tests: GQA (4 heads on 2 kv heads), two layers.
func faultConfig() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 2
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 24, 32, 32, 16
	c.WarmupSteps, c.TotalSteps = 10, 150
	c.MHCLR = 1e-2
	return c
}

var trainedCache sync.Map // name → checkpoint dir, shared by the tests of one run

// trainFault trains (once per test binary run) the catalog model with the variant changes of
// edit, on contextual data or data.
func trainFault(t *testing.T, name string, edit func(*config.Config, *config.Variant), data []uint32) string {
	t.Helper()
	if d, ok := trainedCache.Load(name); ok {
		return d.(string)
	}
	c, v := faultConfig(), config.DefaultVariant()
	v.Seed = 3
	if edit != nil {
		edit(&c, &v)
	}
	if data == nil {
		data = contextual(30000, c.VocabSize, 1)
	}
	dir := filepath.Join(catalogDir(t), name)
	if _, err := train.Run(train.Options{Config: c, Variant: v, Train: data, Val: contextual(3000, c.VocabSize, 2), Out: dir, EvalWindows: 4}); err != nil {
		t.Fatal(err)
	}
	trainedCache.Store(name, dir)
	return dir
}

var catalogOnce struct {
	sync.Once
	dir string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if catalogOnce.dir != "" {
		os.RemoveAll(catalogOnce.dir)
	}
	os.Exit(code)
}

// catalogDir is a directory that lives for the whole test binary run.
func catalogDir(t *testing.T) string {
	catalogOnce.Do(func() {
		d, err := os.MkdirTemp("", "nanoscope-catalog-")
		if err != nil {
			t.Fatal(err)
		}
		catalogOnce.dir = d
	})
	return catalogOnce.dir
}

// edited writes a copy of the checkpoint in src with its tensors and meta changed.
func edited(t *testing.T, src string, edit func(gomlxmodel.Params, *checkpoint.Meta)) string {
	t.Helper()
	ck, err := checkpoint.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	p := gomlxmodel.Params{}
	for n, x := range ck.Tensors {
		p[n] = checkpoint.Tensor{Shape: slices.Clone(x.Shape), Data: slices.Clone(x.Data)}
	}
	meta := ck.Meta
	edit(p, &meta)
	dir := filepath.Join(t.TempDir(), "edited")
	if err := checkpoint.Save(dir, p, meta); err != nil {
		t.Fatal(err)
	}
	return dir
}

func diagnoseDir(t *testing.T, dir string) *Report {
	t.Helper()
	ck, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Diagnose(ck, contextual(6000, ck.Meta.Config.VocabSize, 4), nil, &Options{Positions: 1024, NoRunMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	cat := rep.Details.Catalog
	t.Logf("healthy %v; CE by offset %s, unigram %.3f, context MI %.3f, top share %.2f", rep.Healthy, fmtCEs(cat.AsLoaded.CE), cat.Unigram, cat.ContextMI, cat.TopShare)
	for _, c := range cat.Conditions {
		t.Logf("  %s: %s", c.Condition, fmtCEs(c.CE))
	}
	for _, f := range rep.Findings {
		t.Logf("  finding %s %v: %s %v", f.Kind, f.Tensors, f.Detail, f.Evidence)
	}
	t.Logf("  summary: %s", rep.Summary)
	return rep
}

// torchUniform re-draws every matrix as PyTorch's nn.Linear default, U(±1/√in), and the
// embedding as N(0, 0.02) (GPT-2's): another family's initialisers.
func torchUniform(p gomlxmodel.Params, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	for _, n := range config.SortedNames(shapesOf(p)) {
		x := p[n]
		if len(x.Shape) != 2 {
			continue
		}
		b := 1 / math.Sqrt(float64(x.Shape[1]))
		for i := range x.Data {
			if n == "tok_embed.weight" || n == "lm_head.weight" {
				x.Data[i] = float32(0.02 * rng.NormFloat64())
			} else {
				x.Data[i] = float32((2*rng.Float64() - 1) * b)
			}
		}
	}
}

func shapesOf(p gomlxmodel.Params) map[string][]int {
	m := map[string][]int{}
	for k, v := range p {
		m[k] = v.Shape
	}
	return m
}

// Healthy checkpoints (seeds, tied and untied, ternary on and off, GQA and not) get
// healthy: true and no fault finding.
func TestCatalogHealthy(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Config, *config.Variant)
	}{
		{"seed3", nil},
		{"seed4-untied", func(c *config.Config, v *config.Variant) { v.Seed, c.WeightTied = 4, false }},
		{"float-no-mhc", func(c *config.Config, v *config.Variant) { v.Ternary, v.MHC = false, false }},
		{"interleaved-rope-mha", func(c *config.Config, v *config.Variant) {
			c.NKVHeads, v.RopeLayout, v.GQAMap = 4, config.RopeInterleaved, config.GQAInterleave
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := diagnoseDir(t, trainFault(t, tc.name, tc.edit, nil))
			if !rep.Healthy {
				t.Fatalf("healthy checkpoint diagnosed unhealthy: %v", kinds(rep))
			}
			for _, f := range rep.Findings {
				if !informational(f.Kind) {
					t.Fatalf("fault finding %s on a healthy checkpoint: %s", f.Kind, f.Detail)
				}
			}
		})
	}
}

// Every fault kind, built with our own training or an edited checkpoint, is named with the
// evidence that decides it.
func TestCatalogFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dir      func(t *testing.T) string
		kind     string
		evidence map[string]any
		tensors  []string // must be among the finding's tensors
	}{
		{"unshifted labels", func(t *testing.T) string {
			return trainFault(t, "shift0", func(_ *config.Config, v *config.Variant) { v.TargetShift = 0 }, nil)
		}, KindTargetOffset, map[string]any{"offset": 0}, nil},
		{"labels shifted twice", func(t *testing.T) string {
			return trainFault(t, "shift2", func(_ *config.Config, v *config.Variant) { v.TargetShift = 2 }, nil)
		}, KindTargetOffset, map[string]any{"offset": 2}, nil},
		{"no causal mask in training, run causally", func(t *testing.T) string {
			d := trainFault(t, "nomask", func(_ *config.Config, v *config.Variant) { v.NoCausalMask = true }, nil)
			return edited(t, d, func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.NoCausalMask = false })
		}, KindFutureLeakage, nil, nil},
		{"trained interleaved, loaded as halves", func(t *testing.T) string {
			d := trainFault(t, "rope-interleaved", func(_ *config.Config, v *config.Variant) { v.RopeLayout = config.RopeInterleaved }, nil)
			return edited(t, d, func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.RopeLayout = "" })
		}, KindRopeLayout, map[string]any{"trained_layout": config.RopeInterleaved}, nil},
		{"trained repeat_interleave, loaded as tile", func(t *testing.T) string {
			d := trainFault(t, "gqa-interleave", func(_ *config.Config, v *config.Variant) { v.GQAMap = config.GQAInterleave }, nil)
			return edited(t, d, func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Variant.GQAMap = "" })
		}, KindGQAMapping, map[string]any{"trained_mapping": config.GQAInterleave}, nil},
		{"candle fresh init", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(p gomlxmodel.Params, m *checkpoint.Meta) {
				for n, x := range gomlxmodel.InitParams(m.Config, m.Variant, 9) {
					p[n] = x
				}
			})
		}, KindWeightsUntrained, nil, nil},
		{"pytorch uniform fresh init, untied", func(t *testing.T) string {
			d := trainFault(t, "seed4-untied", func(c *config.Config, v *config.Variant) { v.Seed, c.WeightTied = 4, false }, nil)
			return edited(t, d, func(p gomlxmodel.Params, m *checkpoint.Meta) {
				for n, x := range gomlxmodel.InitParams(m.Config, m.Variant, 9) {
					p[n] = x
				}
				torchUniform(p, 5)
			})
		}, KindWeightsUntrained, nil, nil},
		{"fresh tok_embed in a trained model", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(p gomlxmodel.Params, m *checkpoint.Meta) {
				p["tok_embed.weight"] = gomlxmodel.InitParams(m.Config, m.Variant, 9)["tok_embed.weight"]
			})
		}, KindTensorsUntrained, nil, []string{"tok_embed.weight"}},
		{"output head left at init", func(t *testing.T) string {
			d := trainFault(t, "seed4-untied", func(c *config.Config, v *config.Variant) { v.Seed, c.WeightTied = 4, false }, nil)
			return edited(t, d, func(p gomlxmodel.Params, m *checkpoint.Meta) {
				p["lm_head.weight"] = gomlxmodel.InitParams(m.Config, m.Variant, 9)["lm_head.weight"]
			})
		}, KindTensorsUntrained, nil, []string{"lm_head.weight"}},
		{"norms not loaded", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(p gomlxmodel.Params, m *checkpoint.Meta) {
				for n, x := range p {
					if strings.Contains(n, "norm") {
						for i := range x.Data {
							x.Data[i] = 1
						}
					}
				}
			})
		}, KindTensorsUntrained, nil, []string{"norm_final.weight", "blocks.0.norm_attn.weight"}},
		{"collapse to unigram", func(t *testing.T) string {
			return trainFault(t, "unigram", nil, unigramStream(30000, faultConfig().VocabSize, 1))
		}, KindContextFree, nil, nil},
		{"claimed loss far below measured", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(_ gomlxmodel.Params, m *checkpoint.Meta) { m.Loss = 0.05 })
		}, KindUnexplained, nil, nil},
		{"alpha_logit 5.0 without gradient", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(p gomlxmodel.Params, _ *checkpoint.Meta) {
				for n, x := range p {
					if strings.HasSuffix(n, "alpha_logit") {
						x.Data[0] = 5
					}
				}
			})
		}, KindAlphaNoGradient, map[string]any{"zero_gradient": 4}, nil},
		{"fp16 overflow", func(t *testing.T) string {
			return edited(t, trainFault(t, "seed3", nil, nil), func(p gomlxmodel.Params, _ *checkpoint.Meta) {
				for i := range p["norm_final.weight"].Data {
					p["norm_final.weight"].Data[i] *= 1e5
				}
			})
		}, KindActivationOverflow16, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := diagnoseDir(t, tc.dir(t))
			f := findingOf(rep.Findings, tc.kind)
			if f == nil {
				t.Fatalf("no %s finding; got %v", tc.kind, kinds(rep))
			}
			for k, want := range tc.evidence {
				if got := fmt.Sprint(f.Evidence[k]); got != fmt.Sprint(want) {
					t.Errorf("evidence %s = %s, want %v", k, got, want)
				}
			}
			for _, n := range tc.tensors {
				if !slices.Contains(f.Tensors, n) {
					t.Errorf("tensor %s not in %v", n, f.Tensors)
				}
			}
			if !informational(tc.kind) && rep.Healthy {
				t.Errorf("fault %s but healthy: true", tc.kind)
			}
		})
	}
}

func kinds(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}
