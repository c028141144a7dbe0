package gomlxmodel_test

import (
	"math"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/load"
)

// inferenceFixtures are one checkpoint of every family: the ternary model (nanoscope's layout),
// GPT-2 and Llama with grouped kv heads (Hugging Face's, trained or drawn by transformers),
// nanochat (its sliding windows, value embeddings and smear gate), and GPT-2 read from nanoGPT's
// ckpt.pt (nn.Linear layout) and from llm.c's .bin.
var inferenceFixtures = []struct{ name, dir string }{
	{"nanoscope", "testdata/reference/tied_mhc"},
	{"gpt2", "hf/testdata/hf/gpt2_trained_sharded"},
	{"llama", "hf/testdata/hf/llama_random_gqa"},
	{"nanochat", "load/testdata/nanochat/trained"},
	{"nanogpt", "load/testdata/formats/nanogpt_trained.pt"},
	{"llmc", "load/testdata/formats/llmc_bf16.bin"},
}

func openRunner(t *testing.T, dir string) (*load.Loaded, *gomlxmodel.FamilyRunner) {
	t.Helper()
	l, err := load.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		t.Fatal(err)
	}
	return l, r
}

// testPrompt is n ids spread over the vocabulary.
func testPrompt(n, vocab int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32((i*37 + 11) % vocab)
	}
	return p
}

// Cached decoding gives, at every step, the logits of the full uncached forward (FamilyRunner,
// the reference path, no Step) of the whole sequence so far, to float32 tolerance; and greedy
// decoding picks the argmax of those logits.
//
// nanochat runs twice: on a prompt of 7 ids, and of 136 ids, past the 128 keys of its short
// sliding window, so that the cached mask's window is exercised too.
func TestGenerateCacheMatchesFullForward(t *testing.T) {
	fixtures := append(slices.Clone(inferenceFixtures), struct{ name, dir string }{"nanochat window", "load/testdata/nanochat/trained"})
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			l, r := openRunner(t, f.dir)
			V := l.Family.Dims().VocabSize
			prompt := testPrompt(7, V)
			if f.name == "nanochat window" {
				if w := l.Family.(gomlxmodel.Nanochat).Config.Windows()[0]; w != 128 {
					t.Fatalf("short window %d, want 128", w)
				}
				prompt = testPrompt(136, V)
			}
			gen, err := gomlxmodel.Generate(r, prompt, gomlxmodel.GenerateOptions{MaxNew: 12, KeepLogits: true, TopK: 3, BOS: -1})
			if err != nil {
				t.Fatal(err)
			}
			if len(gen.Generated) != 12 || gen.Stopped != "max_new" {
				t.Fatalf("%d ids, stopped %q; want 12, max_new", len(gen.Generated), gen.Stopped)
			}
			seq := slices.Clone(prompt)
			worst, scale := 0.0, 0.0
			for step, id := range gen.Generated {
				full, err := r.Logits([][]int32{seq})
				if err != nil {
					t.Fatal(err)
				}
				want := full[len(full)-V:]
				for j, x := range want {
					worst = max(worst, math.Abs(float64(x-gen.Logits[step][j])))
					scale = max(scale, math.Abs(float64(x)))
				}
				if a := gomlxmodel.Argmax(want); a != id {
					t.Fatalf("step %d: greedy id %d, argmax of the full forward %d", step, id, a)
				}
				if gen.Steps[step].Top[0].ID != id {
					t.Fatalf("step %d: top-1 reported %d, generated %d", step, gen.Steps[step].Top[0].ID, id)
				}
				seq = append(seq, int32(id))
			}
			tol := 1e-5 * max(1, scale)
			t.Logf("max |Δ| cached vs full over 12 steps: %.3g (logits up to %.3g, tolerance %.3g)", worst, scale, tol)
			if worst > tol {
				t.Fatalf("cached logits differ from the full forward by %.3g > %.3g", worst, tol)
			}
		})
	}
}

// The sampling distribution against hand computation on logits (2, 1, 0, −1): softmax at
// temperature 1 is e^(2−j)/Σ; top-k 3 renormalises the first three; top-p 0.8 then keeps the
// two ids whose mass first reaches 0.8 (0.665 + 0.245), renormalised to e/(1+e) and 1/(1+e);
// temperature 2 halves the logits; greedy is one-hot on the argmax.
func TestSamplingDistribution(t *testing.T) {
	logits := []float32{2, 1, 0, -1}
	e := math.E
	z4 := e*e + e + 1 + 1/e
	z3 := e*e + e + 1
	sqe := math.Sqrt(e)
	z2t := e + sqe + 1 + 1/sqe
	cases := []struct {
		name string
		s    gomlxmodel.Sampling
		want []float64
	}{
		{"greedy", gomlxmodel.Sampling{}, []float64{1, 0, 0, 0}},
		{"t=1", gomlxmodel.Sampling{Temperature: 1}, []float64{e * e / z4, e / z4, 1 / z4, 1 / e / z4}},
		{"top-k 3", gomlxmodel.Sampling{Temperature: 1, TopK: 3}, []float64{e * e / z3, e / z3, 1 / z3, 0}},
		{"top-k 3, top-p 0.8", gomlxmodel.Sampling{Temperature: 1, TopK: 3, TopP: 0.8}, []float64{e / (1 + e), 1 / (1 + e), 0, 0}},
		{"top-p 0.5", gomlxmodel.Sampling{Temperature: 1, TopP: 0.5}, []float64{1, 0, 0, 0}},
		{"t=2", gomlxmodel.Sampling{Temperature: 2}, []float64{e / z2t, sqe / z2t, 1 / z2t, 1 / sqe / z2t}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.s.Distribution(logits)
			for j := range got {
				if math.Abs(got[j]-c.want[j]) > 1e-12 {
					t.Fatalf("p = %v, want %v", got, c.want)
				}
			}
		})
	}
}

// A seeded top-k/top-p sampler emits only ids of the nucleus, at their hand-computed rates
// (e/(1+e) = 0.731 for id 0, within 4 binomial SE over 4000 draws), the same ids for the same
// seed and other ids for another seed.
func TestSamplerSeededNucleus(t *testing.T) {
	logits := []float32{2, 1, 0, -1}
	s := gomlxmodel.Sampling{Temperature: 1, TopK: 3, TopP: 0.8, Seed: 7}
	draw := func(s gomlxmodel.Sampling) []int {
		sm := gomlxmodel.NewSampler(s)
		out := make([]int, 4000)
		for i := range out {
			out[i] = sm.Next(logits)
		}
		return out
	}
	a := draw(s)
	n0 := 0
	for i, id := range a {
		if id != 0 && id != 1 {
			t.Fatalf("draw %d: id %d outside the nucleus {0, 1}", i, id)
		}
		if id == 0 {
			n0++
		}
	}
	p := math.E / (1 + math.E)
	se := math.Sqrt(p * (1 - p) / float64(len(a)))
	if got := float64(n0) / float64(len(a)); math.Abs(got-p) > 4*se {
		t.Fatalf("id 0 drawn at %.4f, want %.4f ± %.4f", got, p, 4*se)
	}
	if !slices.Equal(a, draw(s)) {
		t.Fatal("the same seed drew other ids")
	}
	s.Seed = 8
	if slices.Equal(a, draw(s)) {
		t.Fatal("another seed drew the same 4000 ids")
	}
}

// A seeded generation with temperature, top-k and top-p on each family is reproducible, and
// every id it draws lies in the top-k/top-p support of the logits of its step.
func TestGenerateSeededReproducible(t *testing.T) {
	for _, f := range inferenceFixtures {
		t.Run(f.name, func(t *testing.T) {
			l, r := openRunner(t, f.dir)
			V := l.Family.Dims().VocabSize
			o := gomlxmodel.GenerateOptions{MaxNew: 8, Sampling: gomlxmodel.Sampling{Temperature: 1.5, TopK: 5, TopP: 0.9, Seed: 3}, KeepLogits: true, BOS: -1}
			a, err := gomlxmodel.Generate(r, testPrompt(5, V), o)
			if err != nil {
				t.Fatal(err)
			}
			b, err := gomlxmodel.Generate(r, testPrompt(5, V), o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Generated, b.Generated) {
				t.Fatalf("same seed: %v then %v", a.Generated, b.Generated)
			}
			for step, id := range a.Generated {
				support := 0
				p := o.Sampling.Distribution(a.Logits[step])
				for _, q := range p {
					if q > 0 {
						support++
					}
				}
				if p[id] == 0 || support > 5 {
					t.Fatalf("step %d: id %d has probability %v in a support of %d ids (top-k 5)", step, id, p[id], support)
				}
			}
			t.Logf("generated %v", a.Generated)
		})
	}
}

// Generation stops at a stop id (end-of-text), which it includes.
func TestGenerateStopsAtStopID(t *testing.T) {
	l, r := openRunner(t, "hf/testdata/hf/llama_random_gqa")
	prompt := testPrompt(5, l.Family.Dims().VocabSize)
	free, err := gomlxmodel.Generate(r, prompt, gomlxmodel.GenerateOptions{MaxNew: 6, BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	stop := free.Generated[2]
	first := slices.Index(free.Generated, stop)
	got, err := gomlxmodel.Generate(r, prompt, gomlxmodel.GenerateOptions{MaxNew: 6, Stop: []int{stop}, BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got.Stopped != "stop_id" || !slices.Equal(got.Generated, free.Generated[:first+1]) {
		t.Fatalf("with stop id %d: %v (%s), want %v", stop, got.Generated, got.Stopped, free.Generated[:first+1])
	}
}
