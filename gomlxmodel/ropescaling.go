package gomlxmodel

import (
	"fmt"
	"math"
)

// RopeScaling is Hugging Face's rope_parameters (rope_scaling in transformers 4) beyond the
// default RoPE, as transformers 5.17's modeling_rope_utils computes it for Llama-likes:
//
//	linear:  inv_freq / factor
//	dynamic: (NTK) the base grows to θ·(factor·L/Lmax − (factor − 1))^(dim/(dim−2)) once the
//	         sequence length L (the largest position + 1) exceeds Lmax = max_position_embeddings
//	llama3:  wavelengths above original_max_position_embeddings/low_freq_factor divided by factor,
//	         below original/high_freq_factor kept, smoothed between
//	yarn:    interpolation (inv_freq/factor) and extrapolation (inv_freq) blended by a linear ramp
//	         over the dimensions between the correction range of beta_fast and beta_slow rotations
//	         in original_max_position_embeddings; cos and sin multiplied by attention_factor
//	         (0.1·ln(factor) + 1 when absent)
//
// The zero value (Type "" or "default") is the plain RoPE.
type RopeScaling struct {
	Type                 string  // rope_type: "", "default", "linear", "dynamic", "llama3", "yarn"
	Factor               float64 // factor
	MaxPositions         int     // dynamic: max_position_embeddings (Lmax)
	OriginalMaxPositions int     // llama3, yarn: original_max_position_embeddings
	LowFreqFactor        float64 // llama3: low_freq_factor
	HighFreqFactor       float64 // llama3: high_freq_factor
	BetaFast, BetaSlow   float64 // yarn: beta_fast (32), beta_slow (1)
	AttentionFactor      float64 // yarn: attention_factor; 0 is 0.1·ln(factor) + 1 (factor > 1)
	Mscale, MscaleAllDim float64 // yarn: mscale, mscale_all_dim (0: absent)
	NoTruncate           bool    // yarn: truncate false (the correction range is not rounded)
}

// RopeTypes are the rope_type values RopeScaling computes.
var RopeTypes = []string{"default", "linear", "dynamic", "llama3", "yarn"}

// Validate checks the parameters each type needs, naming the first missing or out of range.
func (s RopeScaling) Validate() error {
	switch s.Type {
	case "", "default":
		return nil
	case "linear", "dynamic", "llama3", "yarn":
	default:
		return fmt.Errorf("rope_type %q is not one of %v", s.Type, RopeTypes)
	}
	if !(s.Factor >= 1) || math.IsInf(s.Factor, 0) {
		return fmt.Errorf("rope_type %s: factor %v must be a number ≥ 1", s.Type, s.Factor)
	}
	switch s.Type {
	case "dynamic":
		if s.MaxPositions <= 0 {
			return fmt.Errorf("rope_type dynamic: max_position_embeddings %d must be positive", s.MaxPositions)
		}
	case "llama3":
		if s.OriginalMaxPositions <= 0 || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) {
			return fmt.Errorf("rope_type llama3: needs original_max_position_embeddings > 0 (%d) and high_freq_factor (%v) > low_freq_factor (%v) > 0",
				s.OriginalMaxPositions, s.HighFreqFactor, s.LowFreqFactor)
		}
	case "yarn":
		if s.OriginalMaxPositions <= 0 || !(s.BetaFast > 0) || !(s.BetaSlow > 0) || s.AttentionFactor < 0 {
			return fmt.Errorf("rope_type yarn: needs original_max_position_embeddings > 0 (%d), beta_fast (%v) and beta_slow (%v) > 0, attention_factor (%v) ≥ 0",
				s.OriginalMaxPositions, s.BetaFast, s.BetaSlow, s.AttentionFactor)
		}
	}
	return nil
}

// invFreq returns the dim/2 inverse frequencies of a RoPE of base theta over dim dimensions for
// sequences of seqLen positions, in float32 as transformers computes them, and the factor cos
// and sin are multiplied by.
func (s RopeScaling) invFreq(theta float64, dim, seqLen int) ([]float32, float32) {
	half := dim / 2
	base := func(b float64) []float64 {
		out := make([]float64, half)
		for i := range out {
			out[i] = 1 / float64(float32(math.Pow(b, float64(2*i)/float64(dim))))
		}
		return out
	}
	inv := base(theta)
	attn := 1.0
	switch s.Type {
	case "linear":
		for i := range inv {
			inv[i] /= s.Factor
		}
	case "dynamic":
		if seqLen > s.MaxPositions {
			b := theta * math.Pow(s.Factor*float64(seqLen)/float64(s.MaxPositions)-(s.Factor-1), float64(dim)/float64(dim-2))
			inv = base(b)
		}
	case "llama3":
		old := float64(s.OriginalMaxPositions)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	case "yarn":
		attn = s.AttentionFactor
		if attn == 0 {
			mscale := func(scale, m float64) float64 {
				if scale <= 1 {
					return 1
				}
				return 0.1*m*math.Log(scale) + 1
			}
			attn = mscale(s.Factor, 1)
			if s.Mscale != 0 && s.MscaleAllDim != 0 {
				attn = mscale(s.Factor, s.Mscale) / mscale(s.Factor, s.MscaleAllDim)
			}
		}
		corr := func(rot float64) float64 {
			return float64(dim) * math.Log(float64(s.OriginalMaxPositions)/(rot*2*math.Pi)) / (2 * math.Log(theta))
		}
		low, high := corr(s.BetaFast), corr(s.BetaSlow)
		if !s.NoTruncate {
			low, high = math.Floor(low), math.Ceil(high)
		}
		low, high = max(low, 0), min(high, float64(dim-1))
		if low == high {
			high += 0.001
		}
		for i, f := range inv {
			ramp := min(max((float64(i)-low)/(high-low), 0), 1)
			extra := 1 - ramp // the weight of extrapolation
			inv[i] = f/s.Factor*(1-extra) + f*extra
		}
	}
	out := make([]float32, half)
	for i, f := range inv {
		out[i] = float32(f)
	}
	return out, float32(attn)
}

// Params returns the rope_parameters keys of s beyond rope_type and rope_theta (for Save).
func (s RopeScaling) Params() map[string]any {
	out := map[string]any{}
	switch s.Type {
	case "linear":
		out["factor"] = s.Factor
	case "dynamic":
		out["factor"] = s.Factor
	case "llama3":
		out["factor"], out["original_max_position_embeddings"] = s.Factor, s.OriginalMaxPositions
		out["low_freq_factor"], out["high_freq_factor"] = s.LowFreqFactor, s.HighFreqFactor
	case "yarn":
		out["factor"], out["original_max_position_embeddings"] = s.Factor, s.OriginalMaxPositions
		out["beta_fast"], out["beta_slow"] = s.BetaFast, s.BetaSlow
		if s.AttentionFactor != 0 {
			out["attention_factor"] = s.AttentionFactor
		}
		if s.NoTruncate {
			out["truncate"] = false
		}
	}
	return out
}
