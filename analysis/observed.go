package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/corpus"
)

// Observed is what a user saw at inference, as in the investigation note: the input ids, the
// argmax id at each position, and the top logit values seen. For nanoscope's checkpoints the
// ids are GPT-2 (r50k_base) ids, translated through a compact vocabulary's vocab.json when the
// checkpoint has one, and Logits (required there) may list one value per position or just the
// extremes of the range seen: only their minimum and maximum are used; Dim is the width of the
// model the observation came from (256 for the note's d20), 0 the checkpoint's own. For the
// other families the ids are the model's own and Logits, optional, one per position (the
// engine fingerprint, fingerprint.go).
//
// File format: {"input":[22184,1388,3419,1391],"predicted":[22184,1388,3419,1391],
// "logits":[248,261],"dim":256,"note":"..."}.
type Observed struct {
	Input     []int `json:"input"`
	Predicted []int `json:"predicted,omitempty"`
	// Generated is a greedy continuation of Input, in place of Predicted (families other than
	// the ternary model): the engine fingerprint reads it as the top-1 id at the last input
	// position and at each generated one but the last.
	Generated []int     `json:"generated,omitempty"`
	Logits    []float64 `json:"logits"`
	Dim       int       `json:"dim,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// NoteObservation is the observation of the investigation note: "fn main() {" →
// the same four ids, logits 248–261, on the d20 model (dim 256).
func NoteObservation() *Observed {
	ids := []int{22184, 1388, 3419, 1391}
	return &Observed{Input: ids, Predicted: slices.Clone(ids), Logits: []float64{248, 261}, Dim: 256,
		Note: "investigation note: input \"fn main() {\" predicted the same ids, logits 248-261, d20 (dim 256)"}
}

// ReadObserved reads and checks an observation file.
func ReadObserved(path string) (*Observed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var o Observed
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &o, nil
}

// Validate checks that the observation is usable.
func (o *Observed) Validate() error {
	switch {
	case len(o.Input) == 0:
		return fmt.Errorf("observation has no input ids")
	case len(o.Generated) > 0 && len(o.Predicted) > 0:
		return fmt.Errorf("observation has both predicted and generated ids: give one")
	case len(o.Generated) == 0 && len(o.Predicted) != len(o.Input):
		return fmt.Errorf("observation has %d predicted ids for %d input ids", len(o.Predicted), len(o.Input))
	case o.Dim < 0:
		return fmt.Errorf("observation dim %d is negative", o.Dim)
	}
	for _, x := range o.Logits {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("observation logit %v is not finite", x)
		}
	}
	for _, id := range slices.Concat(o.Input, o.Predicted, o.Generated) {
		if id < 0 {
			return fmt.Errorf("observation id %d is negative", id)
		}
	}
	return nil
}

// Condition is one simulated way of running the observed input: the file's weights, freshly
// initialised weights of the same configuration, or a variant of those.
type Condition struct {
	Name      string    `json:"name"`
	Predicted []int     `json:"predicted"` // model ids
	TopLogits []float64 `json:"top_logits"`
	// IDsMatch: the argmax ids equal the observed predictions; MagnitudeMatch: every top
	// logit lies in ObservationCheck.Band; Reproduces: both.
	IDsMatch       bool `json:"ids_match"`
	MagnitudeMatch bool `json:"magnitude_match"`
	Reproduces     bool `json:"reproduces"`
}

// ObservationCheck says which simulated condition reproduces an observation.
type ObservationCheck struct {
	Input     []int `json:"input"`     // model ids
	Predicted []int `json:"predicted"` // model ids
	// Band is the accepted range of top logits in this model's units: the observed range
	// rescaled by dim/observed dim (a fresh tied model's self logit sqrt(D)·‖e‖ grows like D),
	// widened by 3·sqrt(D/2), three standard deviations of sqrt(D)·‖e‖ for e ~ N(0, I_D).
	Band       [2]float64  `json:"band"`
	Conditions []Condition `json:"conditions"`
	// FileReproduces: the file's weights reproduce it; FreshReproduces counts the fresh
	// seeds (plain variant) that do, out of FreshSeeds.
	FileReproduces  bool `json:"file_reproduces"`
	FreshReproduces int  `json:"fresh_reproduces"`
	FreshSeeds      int  `json:"fresh_seeds"`
}

// modelIDs translates GPT-2 ids into the subject's ids (through its compact vocabulary when
// it has one) and checks them against vocab_size.
func (s *Subject) modelIDs(gpt2 []int) ([]int, error) {
	mv, err := corpus.LoadModelVocab(s.Dir, s.Variant.VocabMap, s.Config.VocabSize)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(gpt2))
	for i, id := range gpt2 {
		out[i] = mv.ToModel(id)
	}
	for i, id := range out {
		if id < 0 || id >= s.Config.VocabSize {
			return nil, fmt.Errorf("observed id %d at position %d is outside [0, vocab_size=%d)", id, i, s.Config.VocabSize)
		}
	}
	return out, nil
}

// CheckObservation runs the observed input through the file's weights and through fresh
// initialisations (one per seed) of the same configuration, and — as simulations of H3 and
// H4 — through the first fresh seed with ternary quantisation off and with an untied head,
// and reports which conditions reproduce the observation.
func CheckObservation(s *Subject, obs *Observed, seeds []int64) (ObservationCheck, error) {
	if err := obs.Validate(); err != nil {
		return ObservationCheck{}, err
	}
	if len(obs.Logits) == 0 || len(obs.Generated) > 0 {
		return ObservationCheck{}, fmt.Errorf("the observation check needs predicted ids and the logit values seen (it compares their magnitude)")
	}
	in, err := s.modelIDs(obs.Input)
	if err != nil {
		return ObservationCheck{}, err
	}
	pred, err := s.modelIDs(obs.Predicted)
	if err != nil {
		return ObservationCheck{}, err
	}
	d := float64(s.Config.Dim)
	obsDim := float64(obs.Dim)
	if obs.Dim == 0 {
		obsDim = d
	}
	tol := 3 * math.Sqrt(d/2)
	oc := ObservationCheck{Input: in, Predicted: pred, FreshSeeds: len(seeds),
		Band: [2]float64{slices.Min(obs.Logits)*d/obsDim - tol, slices.Max(obs.Logits)*d/obsDim + tol}}
	run := func(name string, c config.Config, v config.Variant, p gomlxmodel.Params) (Condition, error) {
		sub, err := NewSubject(c, v, p)
		if err != nil {
			return Condition{}, err
		}
		r, err := sub.Runner()
		if err != nil {
			return Condition{}, err
		}
		ids := make([]int32, len(in))
		for i, x := range in {
			ids[i] = int32(x)
		}
		logits, err := r.Logits([][]int32{ids})
		if err != nil {
			return Condition{}, err
		}
		V := c.VocabSize
		cd := Condition{Name: name, IDsMatch: true, MagnitudeMatch: true}
		for t := range ids {
			row := logits[t*V : (t+1)*V]
			arg := 0
			for j, x := range row {
				if x > row[arg] {
					arg = j
				}
			}
			top := float64(row[arg])
			cd.Predicted = append(cd.Predicted, arg)
			cd.TopLogits = append(cd.TopLogits, top)
			if arg != pred[t] {
				cd.IDsMatch = false
			}
			if top < oc.Band[0] || top > oc.Band[1] {
				cd.MagnitudeMatch = false
			}
		}
		cd.Reproduces = cd.IDsMatch && cd.MagnitudeMatch
		return cd, nil
	}
	add := func(cd Condition, err error) error {
		if err == nil {
			oc.Conditions = append(oc.Conditions, cd)
		}
		return err
	}
	c, v := s.Config, s.Variant
	if err := add(run("file", c, v, s.Params)); err != nil {
		return oc, err
	}
	oc.FileReproduces = oc.Conditions[0].Reproduces
	for _, seed := range seeds {
		if err := add(run(fmt.Sprintf("fresh(seed=%d)", seed), c, v, gomlxmodel.InitParams(c, v, seed))); err != nil {
			return oc, err
		}
		if oc.Conditions[len(oc.Conditions)-1].Reproduces {
			oc.FreshReproduces++
		}
	}
	if len(seeds) > 0 {
		if v.Ternary {
			v2 := v
			v2.Ternary = false
			if err := add(run(fmt.Sprintf("fresh(seed=%d), ternary off", seeds[0]), c, v2, gomlxmodel.InitParams(c, v2, seeds[0]))); err != nil {
				return oc, err
			}
		}
		if c.WeightTied {
			c2 := c
			c2.WeightTied = false
			if err := add(run(fmt.Sprintf("fresh(seed=%d), untied head", seeds[0]), c2, v, gomlxmodel.InitParams(c2, v, seeds[0]))); err != nil {
				return oc, err
			}
		}
	}
	return oc, nil
}

// condition returns the named condition, or nil.
func (oc *ObservationCheck) condition(suffix string) *Condition {
	for i := range oc.Conditions {
		n := oc.Conditions[i].Name
		if len(n) >= len(suffix) && n[len(n)-len(suffix):] == suffix {
			return &oc.Conditions[i]
		}
	}
	return nil
}
