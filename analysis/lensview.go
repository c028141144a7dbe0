package analysis

import (
	"fmt"
	"math"

	"nanoscope/gomlxmodel"
)

// TokenLens is the logit lens on one short sequence, position by position: the residual
// stream at each depth (the embedding, then stream s0 leaving each block) decoded through the
// final RMSNorm and the head, with the margin of the current token over the best other token.
// LogitLens gives the same decoding as rates over many windows; TokenLens shows the margins
// behind them for a handful of tokens (the note's input).
type TokenLens struct {
	Depths []string    // "embedding", "after block 0", ...
	Margin [][]float64 // [depth][position]: current token's logit − best other logit
	Argmax [][]int     // [depth][position]
	// OnTop counts the (depth, position) cells whose argmax is the current token, of Cells;
	// MinMargin is the smallest margin over all cells.
	OnTop, Cells int
	MinMargin    float64
	// StreamAsymmetry is max |s0 − s1| over every block's output: 0 means the lens of s0 is
	// also that of s1 and of their mean, what the head finally sees.
	StreamAsymmetry float64
}

// LogitLensTokens decodes the residual stream of s on the token ids (one sequence) at every
// depth, with the tied head (tok_embed) or the untied lm_head.
func LogitLensTokens(s *Subject, ids []int32) (TokenLens, error) {
	c := s.Config
	D, V := c.Dim, c.VocabSize
	hooks := []string{gomlxmodel.HookEmbed}
	for i := 0; i < c.NLayers; i++ {
		hooks = append(hooks, gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 0), gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 1))
	}
	r, err := s.Runner()
	if err != nil {
		return TokenLens{}, err
	}
	act, err := r.Capture([][]int32{ids}, hooks)
	if err != nil {
		return TokenLens{}, err
	}
	head := s.Params[gomlxmodel.ParamTokEmbed].Data
	if h, ok := s.Params[gomlxmodel.ParamLMHead]; ok && !c.WeightTied {
		head = h.Data
	}
	normW := s.Params[gomlxmodel.ParamNormFinal].Data
	out := TokenLens{MinMargin: math.Inf(1)}
	for i := 0; i < c.NLayers; i++ {
		s1 := act[gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 1)]
		for j, a := range act[gomlxmodel.StreamHook(i, gomlxmodel.HookResidPost, 0)] {
			out.StreamAsymmetry = max(out.StreamAsymmetry, math.Abs(float64(a-s1[j])))
		}
	}
	for k, hook := range hooks {
		if k > 0 && k%2 == 0 {
			continue // s1: identical to s0 when StreamAsymmetry is 0
		}
		name := "embedding"
		if k > 0 {
			name = fmt.Sprintf("after block %d", (k-1)/2)
		}
		h := act[hook]
		var margins []float64
		var argmax []int
		for t, cur := range ids {
			x := h[t*D : (t+1)*D]
			var ms float64
			for _, v := range x {
				ms += float64(v) * float64(v)
			}
			rs := 1 / math.Sqrt(ms/float64(D)+1e-6) // RMSNorm, eps 1e-6 as in the model
			u := make([]float64, D)
			for d := range u {
				u[d] = float64(x[d]) * rs * float64(normW[d])
			}
			best, bestVal, bestOther, self := 0, math.Inf(-1), math.Inf(-1), 0.0
			for v := 0; v < V; v++ {
				var l float64
				for d, e := range head[v*D : (v+1)*D] {
					l += u[d] * float64(e)
				}
				if l > bestVal {
					best, bestVal = v, l
				}
				if v == int(cur) {
					self = l
				} else if l > bestOther {
					bestOther = l
				}
			}
			margins, argmax = append(margins, self-bestOther), append(argmax, best)
			out.Cells++
			if best == int(cur) {
				out.OnTop++
			}
			out.MinMargin = min(out.MinMargin, self-bestOther)
		}
		out.Depths, out.Margin, out.Argmax = append(out.Depths, name), append(out.Margin, margins), append(out.Argmax, argmax)
	}
	return out, nil
}
