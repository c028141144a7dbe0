package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// FamilyInspection is what `nanoscope inspect` shows about a GPT-2 or Llama checkpoint: its
// sizes and conventions, tensor statistics, tying, and what is remarkable (tensors at their
// Hugging Face initial constant or statistically indistinguishable from their initial draw,
// constant or duplicated tensors, an untied head equal to the embedding).
type FamilyInspection struct {
	Dir         string                  `json:"dir"`
	Arch        string                  `json:"arch"`
	Dims        gomlxmodel.Dims         `json:"dims"`
	Conventions []gomlxmodel.Convention `json:"conventions"`
	Params      int                     `json:"params"`
	Tensors     []TensorStats           `json:"tensors"`
	Tie         TieInfo                 `json:"tie"`
	Remarks     []Remark                `json:"remarks"`
}

// InspectFamily inspects a subject of another family than the ternary model (FromFamily).
func InspectFamily(s *Subject) FamilyInspection {
	in := FamilyInspection{Dir: s.Dir, Arch: s.Family.Arch(), Dims: s.dims(), Conventions: s.Family.Conventions(), Remarks: []Remark{}}
	for _, sp := range s.Family.ParamSpecs() {
		t := s.Params[sp.Name]
		in.Params += len(t.Data)
		in.Tensors = append(in.Tensors, tensorStats(sp.Name, t))
	}
	embed, _, _, _ := s.selfNames()
	head, ok := s.Params[gomlxmodel.ParamLMHead]
	in.Tie = TieInfo{WeightTied: s.tied(), HasLMHead: ok}
	if ok {
		e := s.Params[embed]
		eq := slices.Equal(e.Shape, head.Shape) && slices.Equal(e.Data, head.Data)
		in.Tie.LMHeadEqualsEmbed = &eq
		if slices.Equal(e.Shape, head.Shape) {
			for i := range e.Data {
				in.Tie.MaxAbsDiff = max(in.Tie.MaxAbsDiff, math.Abs(float64(e.Data[i])-float64(head.Data[i])))
			}
		}
	}
	add := func(kind string, tensors []string, format string, args ...any) {
		in.Remarks = append(in.Remarks, Remark{Kind: kind, Tensors: tensors, Detail: fmt.Sprintf(format, args...)})
	}
	drift := s.drift()
	atInit, initLike := drift.untouched()
	if len(atInit) > 0 {
		add(RemarkAtInit, atInit, "%d of %d constant-initialised tensors (norm weights 1, biases 0) are exactly at their initial value (never moved by training)", len(atInit), drift.ConstCount)
	}
	if len(initLike) > 0 {
		if r := initRange(s); r > 0 {
			add(RemarkInitLike, initLike, "%d of %d randomly initialised tensors are statistically indistinguishable from their initial draw N(0, %g) (Hugging Face's initialisers)", len(initLike), drift.Total-drift.ConstCount, r)
		} else {
			add(RemarkInitLike, initLike, "%d of %d randomly initialised tensors are statistically indistinguishable from their initial draw (the %s family's initialisers)", len(initLike), drift.Total-drift.ConstCount, s.Family.Arch())
		}
	}
	var constant []string
	byHash := map[string][]string{}
	for _, t := range in.Tensors {
		if len(s.Params[t.Name].Data) < 2 {
			continue
		}
		if t.Min == t.Max {
			if !slices.Contains(atInit, t.Name) {
				constant = append(constant, t.Name)
			}
			continue
		}
		h := checkpoint.TensorHash(s.Params[t.Name])
		byHash[h] = append(byHash[h], t.Name)
	}
	if len(constant) > 0 {
		add(RemarkConstant, constant, "%d tensors have all entries equal (and not at their initial value)", len(constant))
	}
	var groups, dups []string
	for _, names := range byHash {
		if len(names) > 1 {
			slices.Sort(names)
			groups = append(groups, strings.Join(names, " = "))
			dups = append(dups, names...)
		}
	}
	if len(dups) > 0 {
		slices.Sort(groups)
		slices.Sort(dups)
		add(RemarkDuplicate, dups, "bit-identical tensors: %s", strings.Join(groups, "; "))
	}
	if !in.Tie.WeightTied && in.Tie.LMHeadEqualsEmbed != nil && *in.Tie.LMHeadEqualsEmbed {
		add(RemarkHeadCopiesEmbed, []string{gomlxmodel.ParamLMHead, embed}, "config.json unties the head but lm_head equals %s: tied in effect", embed)
	}
	return in
}

// initRange is the family's initializer_range.
func initRange(s *Subject) float64 { return s.spec().InitRange }
