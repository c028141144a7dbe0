package analysis

// How much a freshly initialised model copies its input: the self-similarity of a tied head
// measured on a model that has learned nothing (the size dependence notebook 12 shows).

import (
	"fmt"
	"math"
	"slices"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
)

// FreshCopy is the copying of a freshly initialised model on one stream of ids.
type FreshCopy struct {
	Model     string  // e.g. "GPT-2 D=768, 12 layers"
	D, Layers int     //
	CopyRate  float64 // share of positions whose argmax is the current token
	MeanTop   float64 // mean top logit
	MeanSelf  float64 // mean √D·‖e‖ of the current tokens: the tied self logit when the output ≈ the embedding
	// MeanSelfPos is the mean of √D·e·(e+p)/‖e+p‖: the self logit when the output ≈ the token
	// plus the position embedding (GPT-2; p ~ N(0, 0.02) like e, so ≈ √D·‖e‖/√2).
	MeanSelfPos float64
	SelfShare   float64 // share of positions whose top logit is within 1% of √D·‖e‖
	ResidRatio  float64 // RMS of the last residual stream over the RMS of the token embedding
}

// FreshGPT2Copying draws a tied GPT-2 of width d and the given layers with Hugging Face's
// initialisers (seed 1; heads of 64 dimensions, at least 1; vocabulary 50257, 1024 positions)
// and measures its copying on ids, one sequence of at most 1024 GPT-2 ids.
func FreshGPT2Copying(d, layers int, ids []int32) (FreshCopy, error) {
	c := gomlxmodel.GPT2Config{VocabSize: corpus.GPT2VocabSize, NPositions: 1024, DModel: d, NLayers: layers, NHeads: max(1, d/64),
		DInner: 4 * d, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: gomlxmodel.GPT2Conv1D, TiedHead: true, Causal: true}
	f := gomlxmodel.GPT2{Config: c}
	p := gomlxmodel.InitFamilyParams(f, 1)
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		return FreshCopy{}, err
	}
	last := gomlxmodel.BlockHook(layers-1, gomlxmodel.HookResidPost)
	out, err := r.Capture([][]int32{ids}, []string{gomlxmodel.HookEmbed, last})
	if err != nil {
		return FreshCopy{}, err
	}
	fc := FreshCopy{Model: fmt.Sprintf("GPT-2 D=%d, %d layers", d, layers), D: d, Layers: layers}
	V, e, pe := c.VocabSize, p[gomlxmodel.GPT2Wte].Data, p[gomlxmodel.GPT2Wpe].Data
	for t, id := range ids {
		row := out["logits"][t*V : (t+1)*V]
		top := slices.Max(row)
		var ss, dot, xs float64
		for j, x := range e[int(id)*d : int(id+1)*d] {
			xp := float64(x) + float64(pe[t*d+j])
			ss, dot, xs = ss+float64(x)*float64(x), dot+float64(x)*xp, xs+xp*xp
		}
		self := math.Sqrt(float64(d) * ss)
		fc.MeanSelfPos += math.Sqrt(float64(d)) * dot / math.Sqrt(xs)
		if row[id] == top {
			fc.CopyRate++
		}
		if math.Abs(float64(top)-self) <= 0.01*self {
			fc.SelfShare++
		}
		fc.MeanTop += float64(top)
		fc.MeanSelf += self
	}
	n := float64(len(ids))
	fc.CopyRate, fc.SelfShare, fc.MeanTop, fc.MeanSelf, fc.MeanSelfPos = fc.CopyRate/n, fc.SelfShare/n, fc.MeanTop/n, fc.MeanSelf/n, fc.MeanSelfPos/n
	fc.ResidRatio = rms(out[last]) / rms(out[gomlxmodel.HookEmbed])
	return fc, nil
}

// rms is the root mean square of x.
func rms(x []float32) float64 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	return math.Sqrt(ss / float64(len(x)))
}
