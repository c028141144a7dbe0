package analysis

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/load"
)

// An engine fingerprint on observations nanoscope makes itself from a Llama trained by
// transformers: its own predictions are "consistent"; predictions under another RoPE pairing,
// shifted one position, the input itself, or a fresh initialisation are "explained" by that
// run; random ids are "unexplained". A greedy continuation (Observed.Generated) of its own, or
// under the other pairing, is consistent or explained in the same way.
func TestFingerprint(t *testing.T) {
	l, err := load.Open("../gomlxmodel/hf/testdata/hf/llama_trained_bf16")
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromFamily(l.Family, l.Params, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	s.BOS = l.BOS
	if s.BOS != 1 {
		t.Fatalf("BOS %d, want config.json's bos_token_id 1", s.BOS)
	}
	V := s.dims().VocabSize
	text := []byte("func (s *Subject) withFresh(seed int64) (*Subject, error) { return s.withFamily(s.Family, p) }")
	input := make([]int, 64)
	for i := range input {
		input[i] = int(text[i%len(text)])
	}
	predict := func(sub *Subject) []int { return topIDs(t, sub, input) }
	own := predict(s)
	interleaved, err := s.WithConvention("rope_pairing", "interleaved")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.withFresh(1)
	if err != nil {
		t.Fatal(err)
	}
	late := append([]int{own[0]}, own[:len(own)-1]...)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]int, len(input))
	for i := range random {
		random[i] = rng.IntN(V)
	}
	cases := []struct {
		name      string
		predicted []int
		verdict   string
		best      string
	}{
		{"own", own, "consistent", "as loaded"},
		{"rope interleaved", predict(interleaved), "explained", "rope_pairing=interleaved"},
		{"one late", late, "explained", "one position late"},
		{"input", input, "explained", "the input itself"},
		{"fresh", predict(fresh), "explained", "fresh initialisation (seed 1)"},
		{"random", random, "unexplained", ""},
	}
	// greedy continues the first 24 input ids by 16 ids, one full forward per step.
	greedy := func(sub *Subject) []int {
		saved := input
		defer func() { input = saved }()
		input = slices.Clone(saved[:24])
		for range 16 {
			input = append(input, predict(sub)[len(input)-1])
		}
		return input[24:]
	}
	generated := []struct {
		name, verdict, best string
		sub                 *Subject
	}{
		{"generated own", "consistent", "as loaded", s},
		{"generated rope interleaved", "explained", "rope_pairing=interleaved", interleaved},
	}
	for _, c := range generated {
		t.Run(c.name, func(t *testing.T) {
			fp, err := Fingerprint(s, &Observed{Input: input[:24], Generated: greedy(c.sub)})
			if err != nil {
				t.Fatal(err)
			}
			if fp.Positions != 16 || fp.Verdict != c.verdict || !strings.Contains(fp.Best, c.best) {
				t.Fatalf("%d positions, verdict %q best %q, want 16 %q %q: %s", fp.Positions, fp.Verdict, fp.Best, c.verdict, c.best, fp.Detail)
			}
			t.Log(fp.Detail)
		})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fp, err := Fingerprint(s, &Observed{Input: input, Predicted: c.predicted})
			if err != nil {
				t.Fatal(err)
			}
			if fp.Verdict != c.verdict || !strings.Contains(fp.Best, c.best) {
				t.Fatalf("verdict %q best %q, want %q %q: %s", fp.Verdict, fp.Best, c.verdict, c.best, fp.Detail)
			}
			t.Log(fp.Detail)
		})
	}
}

// The BOS candidates on a GPT-2 trained by transformers (learned absolute positions, so one
// more token in front moves a sixth of its predictions over 96 positions): predictions made with a BOS prepended, or
// without the BOS the input starts with, are explained by that run. The fixture's vocabulary is
// bytes, so the BOS is set to the newline byte here (config.json's 50256 is not one of its ids).
func TestFingerprintBOS(t *testing.T) {
	l, err := load.Open("../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded")
	if err != nil {
		t.Fatal(err)
	}
	if l.BOS != -1 {
		t.Fatalf("BOS %d for a vocabulary of %d ids, want -1", l.BOS, l.Family.Dims().VocabSize)
	}
	s, err := FromFamily(l.Family, l.Params, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	s.BOS = '\n'
	text := []byte("\tfor _, r := range fp.Runs {\n\t\tif r.Skipped == \"\" {\n\t\t\tran = append(ran, r)\n\t\t}\n\t}\n")
	input := make([]int, 96)
	for i := range input {
		input[i] = int(text[i%len(text)])
	}
	input[0] = 'x'
	predict := func(in []int) []int { return topIDs(t, s, in) }
	withBOS := predict(slices.Concat([]int{'\n'}, input))[1:]
	startsWithBOS := slices.Concat([]int{'\n'}, input[:len(input)-1])
	dropped := slices.Concat([]int{predict(startsWithBOS)[0]}, predict(startsWithBOS[1:])[:len(input)-1])
	for _, c := range []struct {
		name             string
		input, predicted []int
		best             string
	}{
		{"prepended", input, withBOS, "with a BOS 10 prepended"},
		{"dropped", startsWithBOS, dropped, "without the BOS 10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fp, err := Fingerprint(s, &Observed{Input: c.input, Predicted: c.predicted})
			if err != nil {
				t.Fatal(err)
			}
			if fp.Verdict != "explained" || !strings.Contains(fp.Best, c.best) {
				t.Fatalf("verdict %q best %q, want explained by %q: %s", fp.Verdict, fp.Best, c.best, fp.Detail)
			}
			t.Log(fp.Detail)
		})
	}
}

// topIDs is the subject's top-1 id at each position of input.
func topIDs(t *testing.T, s *Subject, input []int) []int {
	t.Helper()
	r, err := s.engine()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, len(input))
	for i, x := range input {
		ids[i] = int32(x)
	}
	logits, err := r.logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	V := s.dims().VocabSize
	out := make([]int, len(input))
	for p := range out {
		row := logits[p*V : (p+1)*V]
		for j, x := range row {
			if x > row[out[p]] {
				out[p] = j
			}
		}
	}
	return out
}

// TestFingerprintAdapterNotApplied: on checkpoints with a PEFT LoRA adapter beside the weights
// (a Llama with a module list, a GPT-2 with Conv1D weights), an engine that served the base
// model is named by the adapter candidate, and one that served the merged model is consistent.
func TestFingerprintAdapterNotApplied(t *testing.T) {
	for _, fixture := range []string{"t_lora_llama", "t_lora_gpt2_fan_in_fan_out"} {
		t.Run(fixture, func(t *testing.T) {
			l, err := load.Open("../gomlxmodel/hf/testdata/hf/transcribed/" + fixture)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.AdapterBase) == 0 {
				t.Fatal("no adapter base weights kept")
			}
			s, err := FromFamily(l.Family, l.Params, l.Dir)
			if err != nil {
				t.Fatal(err)
			}
			s.AdapterBase = l.AdapterBase
			base := maps.Clone(l.Params)
			maps.Copy(base, l.AdapterBase)
			ids := make([]int32, 40)
			for i := range ids {
				ids[i] = int32((7*i + 3) % l.Family.Dims().VocabSize)
			}
			for _, c := range []struct {
				name    string
				params  gomlxmodel.Params
				verdict string
				kind    string
			}{
				{"base model served", base, "explained", RunAdapterMissing},
				{"adapter applied", l.Params, "consistent", RunAsLoaded},
			} {
				obs, err := ObserveForward(l.Family, c.params, ids, 0, gomlxmodel.StepOptions{})
				if err != nil {
					t.Fatal(err)
				}
				fp, err := Fingerprint(s, obs)
				if err != nil {
					t.Fatal(err)
				}
				if fp.Verdict != c.verdict || fp.BestKind != c.kind {
					t.Fatalf("%s: verdict %q best %q (%s), want %s by %s: %s", c.name, fp.Verdict, fp.Best, fp.BestKind, c.verdict, c.kind, fp.Detail)
				}
				t.Logf("%s: %s", c.name, fp.Detail)
			}
		})
	}
}

// TestFingerprintPartialLoad: an engine that left every input_layernorm (Llama) or every ln_1
// (GPT-2) at its initialisation — ones and zeros, which any engine's initialiser gives — is
// named by the partial-load candidate of that role.
func TestFingerprintPartialLoad(t *testing.T) {
	for _, c := range []struct{ fixture, role string }{
		{"llama_trained_bf16", "model.layers.*.input_layernorm.weight"},
		{"gpt2_trained_sharded", "transformer.h.*.ln_1.weight"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			l, err := load.Open("../gomlxmodel/hf/testdata/hf/" + c.fixture)
			if err != nil {
				t.Fatal(err)
			}
			s, err := FromFamily(l.Family, l.Params, l.Dir)
			if err != nil {
				t.Fatal(err)
			}
			init := gomlxmodel.InitFamilyParams(l.Family, 7) // another seed than the candidate's: norms start at 1 whatever the seed
			partial := maps.Clone(l.Params)
			n := 0
			for name := range l.Params {
				if layerIndex.ReplaceAllString(name, ".*.") == c.role {
					partial[name] = init[name]
					n++
				}
			}
			if n == 0 {
				t.Fatalf("no tensor of role %s", c.role)
			}
			text := []byte("\tfor _, g := range partialLoadGroups(s) {\n\t\tp := maps.Clone(s.Params)\n")
			ids := make([]int32, 64)
			for i := range ids {
				ids[i] = int32(int(text[i%len(text)]) % l.Family.Dims().VocabSize)
			}
			obs, err := ObserveForward(l.Family, partial, ids, 0, gomlxmodel.StepOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fp, err := Fingerprint(s, obs)
			if err != nil {
				t.Fatal(err)
			}
			if fp.Verdict != "explained" || fp.BestKind != RunPartialLoad || !strings.Contains(fp.Best, c.role) {
				t.Fatalf("verdict %q best %q (%s), want explained by the partial load of %s: %s", fp.Verdict, fp.Best, fp.BestKind, c.role, fp.Detail)
			}
			t.Log(fp.Detail)
		})
	}
}
