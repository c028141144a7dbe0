package analysis

import (
	"strings"
	"testing"

	"nanoscope/gomlxmodel"

	"nanoscope/gomlxmodel/load"
)

// inferenceFixtures are one checkpoint of every family (see gomlxmodel's generate tests) and
// the BOS each check uses: config.json's where it has one, else a byte id of the fixture's
// vocabulary (the ternary reference fixture has no tokenizer; GPT-2's 50256 is not an id of the
// byte-vocabulary GPT-2 fixture).
var inferenceFixtures = []struct {
	name, dir string
	bos       int
}{
	{"nanoscope", "../gomlxmodel/testdata/reference/tied_mhc", 1},
	{"gpt2", "../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded", '\n'},
	{"llama", "../gomlxmodel/hf/testdata/hf/llama_trained_bf16", -1},
	{"nanochat", "../gomlxmodel/load/testdata/nanochat/trained", 0},
}

func inferenceIDs(n, vocab int) []int32 {
	text := []byte("func (s *Subject) withFresh(seed int64) (*Subject, error) { return s }")
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(int(text[i%len(text)]) % vocab)
	}
	return ids
}

// nanoscope's own inference path passes every check on every family, and the fixtures'
// weights survive fp16 and bf16.
func TestInferenceChecksPass(t *testing.T) {
	for _, f := range inferenceFixtures {
		t.Run(f.name, func(t *testing.T) {
			l, err := load.Open(f.dir)
			if err != nil {
				t.Fatal(err)
			}
			bos := f.bos
			if bos < 0 {
				bos = l.BOS
			}
			p, err := CheckInference(l.Family, l.Params, inferenceIDs(24, l.Family.Dims().VocabSize), bos, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Checks {
				t.Logf("%-14s max|Δ| %.3g  floor %.3g  margin %.3g (limit %g)  argmax %.2f  non-finite %d  passed %v %s", c.Name, c.MaxAbsDelta, c.Floor, c.Margin, c.Limit, c.ArgmaxAgreement, c.NonFinite, c.Passed, c.Skipped)
			}
			if !p.Passed || len(p.HalfFailed) > 0 {
				t.Fatalf("nanoscope's own path fails %v, half precision %v", p.Failed, p.HalfFailed)
			}
		})
	}
}

// Each inference fault switched on in nanoscope's path is flagged by the check that isolates
// it, on every family — except left padding without position ids on the rotary families
// (nanoscope's, Llama, nanochat), where it is inert: rotary attention sees only the distance
// between positions, and the check confirms it (within the floor). The margins are logged.
func TestInferenceChecksFlagFaults(t *testing.T) {
	flags := map[gomlxmodel.InferenceFault]string{
		gomlxmodel.FaultKVPlus1:            "kv_cache",
		gomlxmodel.FaultKVMinus1:           "kv_cache",
		gomlxmodel.FaultLeftPadNoPositions: "padding_left",
		gomlxmodel.FaultDropout:            "repeat",
		gomlxmodel.FaultFP16:               "reference",
		gomlxmodel.FaultNoBOS:              "bos",
	}
	for _, f := range inferenceFixtures {
		l, err := load.Open(f.dir)
		if err != nil {
			t.Fatal(err)
		}
		bos := f.bos
		if bos < 0 {
			bos = l.BOS
		}
		rotary := l.Family.Arch() != "gpt2"
		for _, fault := range gomlxmodel.InferenceFaults {
			t.Run(f.name+"/"+string(fault), func(t *testing.T) {
				p, err := CheckInference(l.Family, l.Params, inferenceIDs(24, l.Family.Dims().VocabSize), bos, fault)
				if err != nil {
					t.Fatal(err)
				}
				want := flags[fault]
				var c InferenceCheck
				for _, x := range p.Checks {
					if x.Name == want {
						c = x
					}
				}
				t.Logf("%s: max|Δ| %.3g, %.3g× the floor %.3g (limit %g), argmax %.2f, non-finite %d; failed %v", want, c.MaxAbsDelta, c.Margin, c.Floor, c.Limit, c.ArgmaxAgreement, c.NonFinite, p.Failed)
				if fault == gomlxmodel.FaultLeftPadNoPositions && rotary {
					if !c.Passed {
						t.Fatalf("left padding without position ids flagged on a rotary family: %+v", c)
					}
					return
				}
				if c.Passed {
					t.Fatalf("fault %s not flagged by %s: %+v", fault, want, c)
				}
			})
		}
	}
}

// fp16 overflow built on purpose: a Llama trained by transformers with its residual stream
// scaled by 1000 (gomlxmodel.ScaleResidual: the same logits in float32, within the norms'
// epsilon) keeps passing every check of the path, while its fp16 forward overflows (the fp16
// check fails: its argmax no longer agrees), and an engine running it in fp16 without upcast — one id repeated at every position
// — is named by the engine fingerprint.
func TestFP16OverflowMassiveActivations(t *testing.T) {
	l, err := load.Open("../gomlxmodel/hf/testdata/hf/llama_trained_bf16")
	if err != nil {
		t.Fatal(err)
	}
	big, err := gomlxmodel.ScaleResidual(l.Family, l.Params, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ids := inferenceIDs(32, l.Family.Dims().VocabSize)
	r0, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := gomlxmodel.NewFamilyRunner(l.Family, big)
	if err != nil {
		t.Fatal(err)
	}
	a, err := r0.Logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r1.Logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	V := l.Family.Dims().VocabSize
	d := diffLogits(b, a, V)
	t.Logf("float32 logits, stream ×1000 vs as trained: max |Δ| %.3g, argmax agreement %.3f", d.maxAbs, d.agreement)
	if d.maxAbs > 1e-2 || d.agreement < 1 {
		t.Fatalf("scaling the stream changed the float32 logits: %+v", d)
	}
	p, err := CheckInference(l.Family, big, ids, l.BOS, "")
	if err != nil {
		t.Fatal(err)
	}
	var fp16 InferenceCheck
	for _, c := range p.Checks {
		if c.Name == "fp16" {
			fp16 = c
		}
	}
	t.Logf("fp16 check: max |Δ| %.3g (%.3g× its floor), argmax agreement %.3f, %d non-finite logits; path failed %v, half precision failed %v",
		fp16.MaxAbsDelta, fp16.Margin, fp16.ArgmaxAgreement, fp16.NonFinite, p.Failed, p.HalfFailed)
	// x² overflows to +inf in the first norm, which then divides its input to 0: the logits stay
	// finite but no longer depend on the input.
	if !p.Passed || fp16.Passed || fp16.ArgmaxAgreement > 0.5 {
		t.Fatalf("want the path passing and fp16 overflowing: failed %v, fp16 %+v", p.Failed, fp16)
	}
	logits, _, err := gomlxmodel.StepForward(r1, [][]int32{ids}, nil, gomlxmodel.StepOptions{Fault: gomlxmodel.FaultFP16})
	if err != nil {
		t.Fatal(err)
	}
	obs := &Observed{}
	for p, id := range ids {
		obs.Input = append(obs.Input, int(id))
		obs.Predicted = append(obs.Predicted, gomlxmodel.Argmax(logits[p*V:(p+1)*V]))
	}
	t.Logf("the fp16 engine predicts %v", obs.Predicted)
	s, err := FromFamily(l.Family, big, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(s, obs)
	if err != nil {
		t.Fatal(err)
	}
	if fp.Verdict != "explained" || !strings.Contains(fp.Best, "float16") {
		t.Fatalf("verdict %q best %q: %s", fp.Verdict, fp.Best, fp.Detail)
	}
	t.Log(fp.Detail)
}
