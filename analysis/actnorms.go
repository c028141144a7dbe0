package analysis

import (
	"math"
	"slices"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/metrics"
)

// ActLayer holds the RMS of one block's sub-block outputs and of the residual streams around
// them (both mHC streams pooled; FFNOut is the MLP's output for GPT-2 and Llama), and the ratios that say how much each sub-block changes the
// residual. Ratios near 0 mean the block is close to the identity (the note's next step 1).
type ActLayer struct {
	Layer     int     `json:"layer"`
	ResidPre  float64 `json:"resid_pre"`
	AttnOut   float64 `json:"attn_out"`
	ResidMid  float64 `json:"resid_mid"`
	FFNOut    float64 `json:"ffn_out"`
	ResidPost float64 `json:"resid_post"`
	AttnRatio float64 `json:"attn_ratio"` // attn_out / resid_pre
	FFNRatio  float64 `json:"ffn_ratio"`  // ffn_out / resid_mid
	// StreamAsymmetry is max|s0 − s1| over the positions leaving the block: exactly 0 while
	// the two mHC streams are identical (then alpha has no effect, H7). −1 without mHC.
	StreamAsymmetry float64 `json:"stream_asymmetry"`
}

// ActNorms are the activation norms of a checkpoint over a set of windows.
type ActNorms struct {
	Positions int        `json:"positions"`
	Embed     float64    `json:"embed"` // RMS of the token embeddings
	Layers    []ActLayer `json:"layers"`
}

// ActivationNorms measures per layer the RMS of attention and FFN outputs versus the
// residual streams, on the subject's inference path.
func ActivationNorms(s *Subject, w *Windows) (ActNorms, error) {
	pr, err := s.probe(w)
	if err != nil {
		return ActNorms{}, err
	}
	elems := float64(w.Positions() * s.dims().DModel)
	rms := func(names ...string) float64 {
		var ss float64
		for _, n := range names {
			for _, x := range pr.actSS[n] {
				ss += x
			}
		}
		return math.Sqrt(ss / (elems * float64(len(names))))
	}
	streams := s.streams
	out := ActNorms{Positions: w.Positions(), Embed: rms(gomlxmodel.HookEmbed)}
	for i := 0; i < s.dims().NLayers; i++ {
		resid := func(hook string) []string { return streams(gomlxmodel.BlockHook(i, hook)) }
		l := ActLayer{Layer: i, ResidPre: rms(resid(gomlxmodel.HookResidPre)...),
			AttnOut:  rms(gomlxmodel.SubHook(i, gomlxmodel.SubAttn, gomlxmodel.HookOut)),
			ResidMid: rms(resid(gomlxmodel.HookResidMid)...), FFNOut: rms(s.mlpOut(i)),
			ResidPost: rms(resid(gomlxmodel.HookResidPost)...), StreamAsymmetry: -1}
		l.AttnRatio, l.FFNRatio = ratio(l.AttnOut, l.ResidPre), ratio(l.FFNOut, l.ResidMid)
		if pr.asym != nil {
			l.StreamAsymmetry = slices.Max(pr.asym[i])
		}
		out.Layers = append(out.Layers, l)
	}
	return out, nil
}

// ratio is a/b, or 0 when b is 0 (results stay JSON-encodable).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// RunActNorms are the activation norms logged during training (metrics.jsonl act_norms), as
// series over steps, plus per layer the ratio of attention and FFN output RMS to the RMS of
// stream s0 leaving the block.
type RunActNorms struct {
	Steps  []int    `json:"steps"`
	Series []Series `json:"series"`
	Ratios []Series `json:"ratios"`
}

// RatioName names the series of RunActNorms.Ratios of sub-block sub (gomlxmodel.SubAttn or
// SubFFN) of block i, its output RMS over that of stream s0 leaving the block:
// RatioName(1, "ffn") = "blocks.1.ffn.hook_out/hook_resid_post.s0".
func RatioName(i int, sub string) string {
	return gomlxmodel.SubHook(i, sub, gomlxmodel.HookOut) + "/" + gomlxmodel.WithStream(gomlxmodel.HookResidPost, 0)
}

// RunActivationNorms extracts the activation-norm series of a training run.
func RunActivationNorms(ms []metrics.Record) RunActNorms {
	steps := trainSteps(ms)
	out := RunActNorms{}
	keys := map[string]bool{}
	for _, m := range steps {
		out.Steps = append(out.Steps, m.Step)
		for k := range m.ActNorms {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	get := func(name string) []float64 {
		v := make([]float64, len(steps))
		for i, m := range steps {
			v[i] = m.ActNorms[name]
		}
		return v
	}
	for _, n := range names {
		out.Series = append(out.Series, newSeries(n, get(n)))
	}
	for i := 0; ; i++ {
		s0 := gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 0)
		if !keys[s0] {
			break
		}
		res := get(s0)
		for _, sub := range []string{gomlxmodel.SubAttn, gomlxmodel.SubFFN} {
			name := gomlxmodel.SubHook(i, sub, gomlxmodel.HookOut)
			if !keys[name] {
				continue
			}
			y := get(name)
			r := make([]float64, len(y))
			for j := range y {
				r[j] = ratio(y[j], res[j])
			}
			out.Ratios = append(out.Ratios, newSeries(RatioName(i, sub), r))
		}
	}
	return out
}
