package train

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
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
