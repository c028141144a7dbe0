package analysis

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
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
	// Remarks point out what is remarkable about the checkpoint (see Remark); empty when
	// nothing is.
	Remarks []Remark `json:"remarks"`
}

// Remark kinds: what Inspect points out.
const (
	// RemarkAtInit: constant-initialised tensors (RMSNorm weights 1, mHC logits 0, biases 0.5)
	// exactly at their initial value — never updated, or updated by exactly zero.
	RemarkAtInit = "at_init"
	// RemarkInitLike: normally initialised tensors statistically indistinguishable from their
	// initial distribution (see Drift).
	RemarkInitLike = "init_like"
	// RemarkConstant: a tensor whose entries are all equal, not at its initial value.
	RemarkConstant = "constant"
	// RemarkDuplicate: tensors with bit-identical contents.
	RemarkDuplicate = "duplicate"
	// RemarkHeadCopiesEmbed: an untied checkpoint whose lm_head equals tok_embed.
	RemarkHeadCopiesEmbed = "head_copies_embed"
	// RemarkTernaryDegenerate: a BitLinear weight whose ternary quantisation is almost all
	// zeros (> 90%) or has almost none (< 5%).
	RemarkTernaryDegenerate = "ternary_degenerate"
	// RemarkAlphaSaturated: an mHC alpha within 1% of 0 or 1.
	RemarkAlphaSaturated = "alpha_saturated"
	// RemarkUntrained: meta.json records step 0.
	RemarkUntrained = "step_zero"
)

// Remark is one remarkable fact about a checkpoint: its kind, the tensors concerned (sorted)
// and a one-line explanation.
type Remark struct {
	Kind    string   `json:"kind"`
	Tensors []string `json:"tensors"`
	Detail  string   `json:"detail"`
}

// Inspect summarises a checkpoint's tensors.
func Inspect(ck *checkpoint.Checkpoint) Inspection {
	m := ck.Meta
	in := Inspection{Dir: ck.Dir, Meta: MetaSummary{Step: m.Step, Loss: m.Loss, Config: m.Config, Variant: m.Variant,
		HasVariant: m.HasVariant, Extra: m.Extra}, TernaryApplied: m.Variant.Ternary, Alphas: []AlphaValue{}, Ternary: []TernaryStats{}, Remarks: []Remark{}}
	names := make([]string, 0, len(ck.Tensors))
	for n := range ck.Tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := ck.Tensors[n]
		in.Params += len(t.Data)
		in.Tensors = append(in.Tensors, tensorStats(n, t))
		if pn, err := gomlxmodel.ParseName(n); err == nil && pn.IsBitLinear() && len(t.Shape) == 2 {
			in.Ternary = append(in.Ternary, ternaryStats(n, t.Data, m.Config.GroupSize))
		}
		if gomlxmodel.IsAlphaLogit(n) {
			for _, x := range t.Data {
				in.Alphas = append(in.Alphas, AlphaValue{Name: n, Logit: float64(x), Alpha: 1 / (1 + math.Exp(-float64(x)))})
			}
		}
	}
	emb, okE := ck.Tensors[gomlxmodel.ParamTokEmbed]
	head, okH := ck.Tensors[gomlxmodel.ParamLMHead]
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
	in.Remarks = remarks(ck, in)
	return in
}

// remarks lists what is remarkable about a checkpoint, in the order of the Remark kinds.
func remarks(ck *checkpoint.Checkpoint, in Inspection) []Remark {
	out := []Remark{}
	add := func(kind string, tensors []string, format string, args ...any) {
		if tensors == nil {
			tensors = []string{}
		}
		out = append(out, Remark{Kind: kind, Tensors: tensors, Detail: fmt.Sprintf(format, args...)})
	}
	if in.Meta.Step == 0 {
		add(RemarkUntrained, nil, "meta.json records step 0: the weights are an initialisation")
	}
	drift := DriftFromInit(ck.Tensors)
	atInit, initLike := drift.untouched()
	if len(atInit) > 0 {
		add(RemarkAtInit, atInit, "%d of %d constant-initialised tensors are exactly at their initial value (never moved by training)", len(atInit), drift.ConstCount)
	}
	if len(initLike) > 0 {
		add(RemarkInitLike, initLike, "%d of %d randomly initialised tensors are statistically indistinguishable from their initial distribution", len(initLike), drift.Total-drift.ConstCount)
	}
	var constant []string
	for _, t := range in.Tensors {
		if len(ck.Tensors[t.Name].Data) > 1 && t.Min == t.Max && !slices.Contains(atInit, t.Name) {
			constant = append(constant, t.Name)
		}
	}
	if len(constant) > 0 {
		detail := "%d tensors have all entries equal (and not at their initial value)"
		if slices.ContainsFunc(constant, func(n string) bool { pn, err := gomlxmodel.ParseName(n); return err == nil && pn.IsMHC() }) {
			detail += "; for mHC pre/post parameters this means both streams are weighted alike, so the two streams never differ"
		}
		add(RemarkConstant, constant, detail, len(constant))
	}
	byHash := map[[32]byte][]string{}
	for _, t := range in.Tensors {
		data := ck.Tensors[t.Name].Data
		if len(data) < 2 || t.Min == t.Max {
			continue // constants are reported above
		}
		h := sha256.New()
		b := make([]byte, 4)
		for _, x := range data {
			binary.LittleEndian.PutUint32(b, math.Float32bits(x))
			h.Write(b)
		}
		fmt.Fprint(h, ck.Tensors[t.Name].Shape)
		var k [32]byte
		copy(k[:], h.Sum(nil))
		byHash[k] = append(byHash[k], t.Name)
	}
	var dupGroups []string
	var dups []string
	for _, names := range byHash {
		if len(names) > 1 {
			slices.Sort(names)
			dupGroups = append(dupGroups, strings.Join(names, " = "))
			dups = append(dups, names...)
		}
	}
	if len(dups) > 0 {
		slices.Sort(dupGroups)
		slices.Sort(dups)
		add(RemarkDuplicate, dups, "bit-identical tensors: %s", strings.Join(dupGroups, "; "))
	}
	if !in.Tie.WeightTied && in.Tie.LMHeadEqualsEmbed != nil && *in.Tie.LMHeadEqualsEmbed {
		add(RemarkHeadCopiesEmbed, []string{gomlxmodel.ParamLMHead, gomlxmodel.ParamTokEmbed}, "the checkpoint is untied but lm_head equals tok_embed: tied in effect")
	}
	var degenerate []string
	for _, t := range in.Ternary {
		if t.ZeroShare > 0.9 || t.ZeroShare < 0.05 {
			degenerate = append(degenerate, t.Name)
		}
	}
	if len(degenerate) > 0 {
		add(RemarkTernaryDegenerate, degenerate, "%d BitLinear weights quantise to more than 90%% or fewer than 5%% zeros (a healthy ternary weight has about a third)", len(degenerate))
	}
	var saturated []string
	for _, a := range in.Alphas {
		if a.Alpha < 0.01 || a.Alpha > 0.99 {
			saturated = append(saturated, a.Name)
		}
	}
	if len(saturated) > 0 {
		add(RemarkAlphaSaturated, saturated, "%d mHC alphas are within 1%% of 0 or 1 (one stream ignored)", len(saturated))
	}
	return out
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
