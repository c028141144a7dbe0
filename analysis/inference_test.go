package analysis

import (
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
