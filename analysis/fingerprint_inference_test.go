package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/load"
)

// Observation files written by nanoscope's own inference path with each inference fault switched
// on — a greedy continuation with its top logits from the generator, or one forward's top-1
// ids and top logits — are named first by the engine fingerprint, on a Llama and a GPT-2
// trained by transformers. Left padding without position ids only on GPT-2: on a rotary model
// it is inert (TestInferenceChecksFlagFaults).
func TestFingerprintInferenceFaults(t *testing.T) {
	for _, fx := range []struct {
		name, dir string
		bos       int
		n         int // input ids of a one-forward observation
	}{
		{"llama", "../gomlxmodel/hf/testdata/hf/llama_trained_bf16", -1, 64},
		{"gpt2", "../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded", '\n', 120},
	} {
		l, err := load.Open(fx.dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := FromFamily(l.Family, l.Params, l.Dir)
		if err != nil {
			t.Fatal(err)
		}
		s.BOS = l.BOS
		if fx.bos >= 0 {
			s.BOS = fx.bos
		}
		r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
		if err != nil {
			t.Fatal(err)
		}
		V := l.Family.Dims().VocabSize
		ids := inferenceIDs(fx.n, V)
		ints := func(x []int32) []int {
			out := make([]int, len(x))
			for i, v := range x {
				out[i] = int(v)
			}
			return out
		}
		// generated: the greedy continuation of a 16-id prompt (starting with the BOS) under
		// the fault, with the top logit of each step.
		generated := func(fault gomlxmodel.InferenceFault) *Observed {
			prompt := slices.Concat([]int32{int32(s.BOS)}, ids[:15])
			g, err := gomlxmodel.Generate(r, prompt, gomlxmodel.GenerateOptions{MaxNew: 40, TopK: 1, Fault: fault, BOS: s.BOS})
			if err != nil {
				t.Fatal(err)
			}
			obs := &Observed{Input: ints(prompt), Generated: g.Generated}
			for _, st := range g.Steps {
				obs.Logits = append(obs.Logits, st.Top[0].Logit)
			}
			return obs
		}
		// forward: one forward of ids under the options: top-1 ids and top logits.
		forward := func(o gomlxmodel.StepOptions, pads int) *Observed {
			row := append(make([]int32, pads), ids...)
			logits, _, err := gomlxmodel.StepForward(r, [][]int32{row}, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			obs := &Observed{Input: ints(ids)}
			for p := pads; p < len(row); p++ {
				rw := logits[p*V : (p+1)*V]
				a := gomlxmodel.Argmax(rw)
				obs.Predicted = append(obs.Predicted, a)
				obs.Logits = append(obs.Logits, float64(rw[a]))
			}
			return obs
		}
		pad := make([]bool, len(ids)+3)
		pad[0], pad[1], pad[2] = true, true, true
		cases := []struct {
			name string
			obs  *Observed
			best string
		}{
			{"kv +1", generated(gomlxmodel.FaultKVPlus1), "KV cache positions off by +1"},
			{"kv -1", generated(gomlxmodel.FaultKVMinus1), "KV cache positions off by −1"},
			{"missing bos", generated(gomlxmodel.FaultNoBOS), "without the BOS"},
			{"fp16", forward(gomlxmodel.StepOptions{Fault: gomlxmodel.FaultFP16}, 0), "float16 inference"},
			{"dropout", forward(gomlxmodel.StepOptions{Fault: gomlxmodel.FaultDropout, Seed: 1 << 40}, 0), "dropout left on"},
		}
		if fx.name == "gpt2" {
			cases = append(cases, struct {
				name string
				obs  *Observed
				best string
			}{"left pad", forward(gomlxmodel.StepOptions{Fault: gomlxmodel.FaultLeftPadNoPositions, Pad: [][]bool{pad}, RowShift: []int{-3}}, 3), "left padding by 3"})
		}
		for _, c := range cases {
			t.Run(fx.name+"/"+c.name, func(t *testing.T) {
				// The observation goes through its file, as a user's would.
				path := filepath.Join(t.TempDir(), "observed.json")
				b, err := json.Marshal(c.obs)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				obs, err := ReadObserved(path)
				if err != nil {
					t.Fatal(err)
				}
				fp, err := Fingerprint(s, obs)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range fp.Runs[:3] {
					t.Logf("  %s: %.3f ± %.3f, logit MAE %.3g", r.Name, r.Agreement, r.SE, r.LogitMAE)
				}
				if fp.Verdict != "explained" || !strings.Contains(fp.Best, c.best) {
					t.Fatalf("verdict %q best %q, want explained by %q: %s", fp.Verdict, fp.Best, c.best, fp.Detail)
				}
				t.Log(fp.Detail)
			})
		}
	}
}
