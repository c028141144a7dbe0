package analysis

import (
	"math"
	"slices"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/load"
)

// Engines with faults the fingerprint has no candidate for get the verdict "unexplained", never
// a named candidate: the blind judgement runs engines with faults outside its list. Each
// observation is one forward's top-1 ids and top logits of a GPT-2 and a Llama trained by
// transformers, printed by an engine that
//   - divides the logits by a temperature of 0.7 before printing them (the same top-1 ids);
//   - prints log-softmax values instead of the logits (the same top-1 ids);
//   - skips the last layer's MLP (its output projection, and bias, at zero).
//
// (A position offset of +2 on every token is no unseen fault: on GPT-2 it is the candidate
// "left padding by 2 ids without position ids", on a rotary model it changes nothing.)
func TestFingerprintUnseenFaults(t *testing.T) {
	for _, fx := range []struct {
		name, dir string
		n         int
		lastMLP   []string // the last layer's MLP output tensors
	}{
		{"gpt2", "../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded", 120, []string{"transformer.h.1.mlp.c_proj.weight", "transformer.h.1.mlp.c_proj.bias"}},
		{"llama", "../gomlxmodel/hf/testdata/hf/llama_trained_bf16", 64, []string{"model.layers.1.mlp.down_proj.weight"}},
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
		V := l.Family.Dims().VocabSize
		ids := inferenceIDs(fx.n, V)
		// forward prints, per position, the top-1 id and top value of print(logits row) under
		// weights p.
		forward := func(p gomlxmodel.Params, print func(row []float32) []float64) *Observed {
			r, err := gomlxmodel.NewFamilyRunner(l.Family, p)
			if err != nil {
				t.Fatal(err)
			}
			logits, err := r.Logits([][]int32{ids})
			if err != nil {
				t.Fatal(err)
			}
			obs := &Observed{}
			for i := range ids {
				row := print(logits[i*V : (i+1)*V])
				a := 0
				for j, x := range row {
					if x > row[a] {
						a = j
					}
				}
				obs.Input = append(obs.Input, int(ids[i]))
				obs.Predicted = append(obs.Predicted, a)
				obs.Logits = append(obs.Logits, row[a])
			}
			return obs
		}
		float := func(row []float32) []float64 {
			out := make([]float64, len(row))
			for j, x := range row {
				out[j] = float64(x)
			}
			return out
		}
		skipped := gomlxmodel.Params{}
		for n, x := range l.Params {
			if slices.Contains(fx.lastMLP, n) {
				x.Data = make([]float32, len(x.Data)) // x is a copy: the loaded tensor keeps its data
			}
			skipped[n] = x
		}
		for _, n := range fx.lastMLP {
			if _, ok := l.Params[n]; !ok {
				t.Fatalf("%s: no tensor %s", fx.name, n)
			}
		}
		for _, c := range []struct {
			name string
			obs  *Observed
		}{
			{"temperature 0.7", forward(l.Params, func(row []float32) []float64 {
				out := float(row)
				for j := range out {
					out[j] /= 0.7
				}
				return out
			})},
			{"log-softmax", forward(l.Params, func(row []float32) []float64 {
				out := float(row)
				m := slices.Max(out)
				sum := 0.0
				for _, x := range out {
					sum += math.Exp(x - m)
				}
				for j := range out {
					out[j] -= m + math.Log(sum)
				}
				return out
			})},
			{"last MLP skipped", forward(skipped, float)},
		} {
			t.Run(fx.name+"/"+c.name, func(t *testing.T) {
				fp, err := Fingerprint(s, c.obs)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range fp.Runs[:3] {
					t.Logf("  %s: %.3f ± %.3f, logit MAE %.3g %s", r.Name, r.Agreement, r.SE, r.LogitMAE, r.Skipped)
				}
				t.Log(fp.Detail)
				if fp.Verdict != "unexplained" {
					t.Fatalf("verdict %q (best %q), want unexplained", fp.Verdict, fp.Best)
				}
			})
		}
	}
}
