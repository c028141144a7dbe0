package analysis

import (
	"encoding/json"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// TensorStats are summary statistics of one tensor.
type TensorStats struct {
	Name      string  `json:"name"`
	Shape     []int   `json:"shape"`
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	ZeroShare float64 `json:"zero_share"`
}

// TernaryStats describe a BitLinear weight after ternary quantisation (REFERENCE.md §2: per
// group of group_size values of the zero-padded row-major flattening, s = max(mean|w|, 1e-8),
// q = clamp(round(w/s), −1, 1)): the share of −1, 0 and +1 over the real entries, and the
// group scales s.
type TernaryStats struct {
	Name      string  `json:"name"`
	Groups    int     `json:"groups"`
	NegShare  float64 `json:"neg_share"`
	ZeroShare float64 `json:"zero_share"`
	PosShare  float64 `json:"pos_share"`
	ScaleMean float64 `json:"scale_mean"`
	ScaleMin  float64 `json:"scale_min"`
	ScaleMax  float64 `json:"scale_max"`
}

// AlphaValue is one mHC alpha: the stored logit and sigmoid(logit).
type AlphaValue struct {
	Name  string  `json:"name"`
	Logit float64 `json:"logit"`
	Alpha float64 `json:"alpha"`
}

// TieInfo says whether the head is tied to the embedding. LMHeadEqualsEmbed is set only when
// both tensors exist (an untied checkpoint whose lm_head is a copy of tok_embed is tied in
// effect).
type TieInfo struct {
	WeightTied        bool    `json:"weight_tied"`
	HasLMHead         bool    `json:"has_lm_head"`
	LMHeadEqualsEmbed *bool   `json:"lm_head_equals_embed,omitempty"`
	MaxAbsDiff        float64 `json:"max_abs_diff,omitempty"`
}

// MetaSummary is meta.json.
type MetaSummary struct {
	Step       int                        `json:"step"`
	Loss       float64                    `json:"loss"`
	Config     config.Config              `json:"config"`
	Variant    config.Variant             `json:"variant"`
	HasVariant bool                       `json:"has_variant"`
	Extra      map[string]json.RawMessage `json:"extra,omitempty"`
}

// Inspection is everything `nanoscope inspect` shows about a checkpoint.
type Inspection struct {
	Dir  string      `json:"dir"`
	Meta MetaSummary `json:"meta"`
	// Params is the number of scalar parameters.
	Params  int            `json:"params"`
	Tensors []TensorStats  `json:"tensors"`
	Ternary []TernaryStats `json:"ternary"`
	// TernaryApplied tells whether the variant quantises (false: the stats are what
	// quantisation would do).
	TernaryApplied bool         `json:"ternary_applied"`
	Alphas         []AlphaValue `json:"alphas"`
	Tie            TieInfo      `json:"tie"`
}

// Inspect summarises a checkpoint's tensors.
func Inspect(ck *checkpoint.Checkpoint) Inspection {
	m := ck.Meta
	in := Inspection{Dir: ck.Dir, Meta: MetaSummary{Step: m.Step, Loss: m.Loss, Config: m.Config, Variant: m.Variant,
		HasVariant: m.HasVariant, Extra: m.Extra}, TernaryApplied: m.Variant.Ternary, Alphas: []AlphaValue{}, Ternary: []TernaryStats{}}
	names := make([]string, 0, len(ck.Tensors))
	for n := range ck.Tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := ck.Tensors[n]
		in.Params += len(t.Data)
		in.Tensors = append(in.Tensors, tensorStats(n, t))
		if len(t.Shape) == 2 && (strings.Contains(n, ".attn.w") || strings.Contains(n, ".ffn.w_")) {
			in.Ternary = append(in.Ternary, ternaryStats(n, t.Data, m.Config.GroupSize))
		}
		if strings.HasSuffix(n, ".alpha_logit") {
			for _, x := range t.Data {
				in.Alphas = append(in.Alphas, AlphaValue{Name: n, Logit: float64(x), Alpha: 1 / (1 + math.Exp(-float64(x)))})
			}
		}
	}
	emb, okE := ck.Tensors["tok_embed.weight"]
	head, okH := ck.Tensors["lm_head.weight"]
	in.Tie = TieInfo{WeightTied: m.Config.WeightTied, HasLMHead: okH}
	if okE && okH {
		eq := slices.Equal(emb.Shape, head.Shape)
		if eq {
			for i := range emb.Data {
				d := math.Abs(float64(emb.Data[i]) - float64(head.Data[i]))
				in.Tie.MaxAbsDiff = max(in.Tie.MaxAbsDiff, d)
				if math.Float32bits(emb.Data[i]) != math.Float32bits(head.Data[i]) {
					eq = false
				}
			}
		}
		in.Tie.LMHeadEqualsEmbed = &eq
	}
	return in
}

func tensorStats(name string, t checkpoint.Tensor) TensorStats {
	st := TensorStats{Name: name, Shape: t.Shape, Min: math.Inf(1), Max: math.Inf(-1)}
	if len(t.Data) == 0 {
		return TensorStats{Name: name, Shape: t.Shape}
	}
	var sum, ss float64
	zeros := 0
	for _, x := range t.Data {
		v := float64(x)
		sum += v
		st.Min, st.Max = min(st.Min, v), max(st.Max, v)
		if x == 0 {
			zeros++
		}
	}
	n := float64(len(t.Data))
	st.Mean = sum / n
	for _, x := range t.Data {
		d := float64(x) - st.Mean
		ss += d * d
	}
	st.Std = math.Sqrt(ss / n)
	st.ZeroShare = float64(zeros) / n
	return st
}

// ternaryStats quantises w as TernaryWeights does, in float32.
func ternaryStats(name string, w []float32, groupSize int) TernaryStats {
	st := TernaryStats{Name: name, ScaleMin: math.Inf(1), ScaleMax: math.Inf(-1)}
	n := len(w)
	st.Groups = (n + groupSize - 1) / groupSize
	var neg, zero, pos int
	var scaleSum float64
	for g := 0; g < st.Groups; g++ {
		lo, hi := g*groupSize, min(n, (g+1)*groupSize)
		var abs float32
		for _, x := range w[lo:hi] {
			abs += float32(math.Abs(float64(x)))
		}
		s := max(abs/float32(groupSize), 1e-8) // padding zeros count in the mean
		scaleSum += float64(s)
		st.ScaleMin, st.ScaleMax = min(st.ScaleMin, float64(s)), max(st.ScaleMax, float64(s))
		for _, x := range w[lo:hi] {
			q := roundHalfAway(float64(x / s))
			switch {
			case q <= -1:
				neg++
			case q >= 1:
				pos++
			default:
				zero++
			}
		}
	}
	st.NegShare, st.ZeroShare, st.PosShare = float64(neg)/float64(n), float64(zero)/float64(n), float64(pos)/float64(n)
	st.ScaleMean = scaleSum / float64(st.Groups)
	return st
}

// roundHalfAway rounds to the nearest integer, ties away from zero (Rust's f32::round).
func roundHalfAway(x float64) float64 {
	return math.Copysign(math.Floor(math.Abs(x)+0.5), x)
}
