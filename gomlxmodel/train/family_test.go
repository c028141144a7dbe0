package train

import (
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

// TrainFamily learns a periodic sequence with both families, and with target shift 0 it
// learns to copy: the top prediction becomes the current token.
func TestTrainFamily(t *testing.T) {
	gpt2 := gomlxmodel.GPT2{Config: gomlxmodel.GPT2Config{VocabSize: 29, NPositions: 16, DModel: 16, NLayers: 1, NHeads: 2,
		DInner: 32, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: gomlxmodel.GPT2Conv1D,
		TiedHead: true, Causal: true}}
	llama := gomlxmodel.Llama{Config: gomlxmodel.LlamaConfig{VocabSize: 29, DModel: 16, NLayers: 1, NHeads: 4, NKVHeads: 2,
		HeadDim: 4, DFF: 32, RMSNormEps: 1e-6, RopeTheta: 10000, InitializerRange: 0.02, RopePairing: config.RopeHalves,
		GQAMapping: config.GQAInterleave, Causal: true}}
	tokens := make([]int32, 600)
	for i := range tokens {
		tokens[i] = int32((i*7 + i/5) % 29)
	}
	for _, f := range []gomlxmodel.Family{gpt2, llama} {
		for _, shift := range []int{1, 0} {
			o := FamilyOptions{Steps: 60, BatchSize: 4, SeqLen: 12, LR: 1e-2, GradClip: 1, TargetShift: shift, Seed: 1}
			p, losses, err := TrainFamily(f, gomlxmodel.InitFamilyParams(f, 2), tokens, o)
			if err != nil {
				t.Fatal(err)
			}
			first, last := losses[0], losses[len(losses)-1]
			t.Logf("%s shift %d: cross-entropy %.3f → %.3f in %d steps", f.Arch(), shift, first, last, len(losses))
			if last > first/2 {
				t.Errorf("%s shift %d: loss %.3f → %.3f", f.Arch(), shift, first, last)
			}
			if shift != 0 {
				continue
			}
			r, err := gomlxmodel.NewFamilyRunner(f, p)
			if err != nil {
				t.Fatal(err)
			}
			ids := [][]int32{tokens[100:112]}
			logits, err := r.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			V, copies := 29, 0
			for pos, id := range ids[0] {
				row := logits[pos*V : (pos+1)*V]
				best := 0
				for i, v := range row {
					if v > row[best] {
						best = i
					}
				}
				if int32(best) == id {
					copies++
				}
			}
			if copies < 10 {
				t.Errorf("%s trained to copy: top-1 is the current token at %d of 12 positions", f.Arch(), copies)
			}
		}
	}
}
