// Command hfrandom writes a randomly initialised GPT-2-small-size model (124M parameters:
// 12 layers, 768 wide, 12 heads, 1024 positions, GPT-2's 50257-id vocabulary, tied head) in
// Hugging Face layout with hf.Save, and a token file of uniformly drawn ids to evaluate it on:
// the model issue 20's memory and time budget of `diagnose` is stated for (bench/diagnose.sh).
//
//	go run ./bench/hfrandom --out DIR --tokens FILE
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/hf"
)

func main() {
	out := flag.String("out", "", "checkpoint `DIR` to write (required)")
	tokensPath := flag.String("tokens", "", "token `FILE` to write: little-endian uint32 ids (required)")
	n := flag.Int("n", 200_000, "`N` tokens")
	seed := flag.Int64("seed", 1, "`SEED` of the weights and the tokens")
	flag.Parse()
	if *out == "" || *tokensPath == "" {
		fmt.Fprintln(os.Stderr, "hfrandom: --out and --tokens are required")
		os.Exit(2)
	}
	f := gomlxmodel.GPT2{Config: gomlxmodel.GPT2Config{VocabSize: 50257, NPositions: 1024, DModel: 768, NLayers: 12, NHeads: 12,
		DInner: 3072, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: gomlxmodel.GPT2Conv1D,
		TiedHead: true, Causal: true}}
	if err := hf.Save(*out, f, gomlxmodel.InitFamilyParams(f, *seed)); err != nil {
		fmt.Fprintln(os.Stderr, "hfrandom:", err)
		os.Exit(1)
	}
	r := rand.New(rand.NewPCG(uint64(*seed), 2))
	buf := make([]byte, 4**n)
	for i := range *n {
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(r.IntN(f.Config.VocabSize)))
	}
	if err := os.WriteFile(*tokensPath, buf, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "hfrandom:", err)
		os.Exit(1)
	}
}
