package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"

	"nanoscope/gomlxmodel"
)

// An engine fingerprint says which way of running the checkpoint reproduces what the user's
// own inference printed (Observed: the input ids and, per position, the top-1 id; optionally
// the top logit at each position). Every candidate is a run nanoscope can make itself:
//
//   - the checkpoint as loaded (the engine agrees with nanoscope's reference forward);
//   - each single flip of the family's convention space (the engine runs another RoPE pairing,
//     attention scale, fused-QKV order, ...: the search's space, gomlxmodel.Family.Conventions);
//   - fresh initialisations of the same family (the engine never loaded the weights);
//   - the checkpoint's predictions one position late or early (an off-by-one between the
//     engine's positions and its outputs, as a KV cache with its position counter off by one
//     gives);
//   - the input itself (the engine prints the current token, not the model's prediction);
//   - the input with the tokenizer's BOS prepended, or without the BOS it starts with (where
//     the subject knows its BOS id, Subject.BOS).
//   - a partial load: each group of tensors (one role across the layers, or one layer) left at
//     the family's initialisation;
//   - the base weights of a checkpoint with a PEFT adapter beside it (Subject.AdapterBase: an
//     engine that loaded the base model and never applied the adapter);
//   - the inference faults nanoscope's own path can switch on (fingerprint_inference.go).
//
// The score of a run is its argmax agreement with the observed top-1 ids, with its binomial
// standard error. The engine is "consistent" with the checkpoint when the run as loaded agrees
// on at least fingerprintAgree of the positions and no other run agrees significantly more;
// "explained" by the best other run when that one agrees on at least fingerprintAgree and beats
// the run as loaded by max(0.1, 4 SE); otherwise "unexplained", with the numbers.

// EngineRun is one candidate of an engine fingerprint.
type EngineRun struct {
	Name string `json:"name"`
	// Kind names what the run stands for, as data: an inference fault of
	// gomlxmodel.InferenceFaults ("kv_position_plus1", …, "missing_bos"), or RunAsLoaded,
	// RunOutputsShifted, RunInputEcho, RunBOSPrepended, RunConvention, RunFreshInit.
	Kind string `json:"kind"`
	// Agreement is the share of the compared positions whose top-1 id equals the observed one,
	// SE its binomial standard error; Positions how many were compared.
	Agreement float64 `json:"agreement"`
	SE        float64 `json:"se"`
	Positions int     `json:"positions"`
	// LogitMAE is the mean |top logit − observed top logit| (when the observation has one
	// logit per position and the run is a model run).
	LogitMAE float64 `json:"logit_mae,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
	// hasLogits: LogitMAE was measured (the observation has its top logits and the run is a
	// model run).
	hasLogits bool
}

// EngineFingerprint is the verdict on an observation: Verdict "consistent", "explained" (by
// Best) or "unexplained"; Runs are every candidate, best first.
type EngineFingerprint struct {
	Positions int    `json:"positions"`
	Verdict   string `json:"verdict"`
	Best      string `json:"best"`
	// BestKind is the Kind of the run named Best ("" when none).
	BestKind string      `json:"best_kind,omitempty"`
	Detail   string      `json:"detail"`
	Runs     []EngineRun `json:"runs"`
}

// The kinds of the candidates that are not an inference fault (EngineRun.Kind).
const (
	RunAsLoaded       = "as_loaded"
	RunOutputsShifted = "outputs_shifted"     // the predictions one position late or early
	RunInputEcho      = "input_echo"          // the input itself
	RunBOSPrepended   = "bos_prepended"       // a BOS the input does not start with
	RunAdapterMissing = "adapter_not_applied" // the base weights of a PEFT adapter's checkpoint
	RunPartialLoad    = "partial_load"        // a group of tensors left at the family's initialisation
	RunConvention     = "convention"          // one flip of the family's convention space
	RunFreshInit      = "weights_untrained"   // a fresh initialisation
)

// Fingerprint thresholds: the agreement a run needs to reproduce an observation, and the least
// margin by which another run must beat the run as loaded.
const (
	fingerprintAgree  = 0.9
	fingerprintMargin = 0.1
)

// Logit thresholds of a fingerprint: a run explains the observed top logits when it is
// fingerprintLogitRatio times closer to them than the run as loaded, and as loaded is further
// than fingerprintLogitFloor times the largest observed logit (float32 rounding between two
// engines is far below it).
const (
	fingerprintLogitRatio = 10
	fingerprintLogitFloor = 1e-5
	// fingerprintLogitTolerance: the run as loaded is consistent with observed top logits
	// within this share of their mean |value| on average (a bfloat16 engine's rounding is
	// below 1%; a temperature of 0.9 moves them 11%).
	fingerprintLogitTolerance = 0.05
)

func meanAbs(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m += math.Abs(x)
	}
	return m / float64(max(len(xs), 1))
}

func maxAbs(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, math.Abs(x))
	}
	return m
}

// fingerprintSeeds are the seeds of the fresh initialisations a fingerprint tries.
var fingerprintSeeds = []int64{1, 2}

// Fingerprint runs the candidates of an engine fingerprint of s on the observation (model
// ids: Predicted, one top-1 id per input position, or Generated, a greedy continuation;
// obs.Logits used when it holds one top logit per compared position).
func Fingerprint(s *Subject, obs *Observed) (*EngineFingerprint, error) {
	if err := obs.Validate(); err != nil {
		return nil, err
	}
	// input is what the model reads; want[t] the observed top-1 id at position t, −1 where
	// nothing was observed (the prompt of a generated continuation).
	input, want, first := obs.Input, obs.Predicted, 0 // first: the position of the first observed id
	if g := obs.Generated; len(g) > 0 {
		input, first = slices.Concat(obs.Input, g[:len(g)-1]), len(obs.Input)-1
		want = make([]int, len(input))
		for t := range want {
			want[t] = -1
			if t >= first {
				want[t] = g[t-first]
			}
		}
	}
	V := s.dims().VocabSize
	for _, x := range slices.Concat(input, want) {
		if x >= V {
			return nil, fmt.Errorf("observation: id %d outside [0, vocab_size=%d)", x, V)
		}
	}
	ids := make([]int32, len(input))
	for i, x := range input {
		ids[i] = int32(x)
	}
	if m := s.dims().MaxSeq; m > 0 && len(ids) > m {
		return nil, fmt.Errorf("observation: %d input ids exceed the model's %d positions", len(ids), m)
	}
	perPos := len(obs.Logits) == len(want)-first // one observed top logit per observed position
	// score compares pred[t−from] with want[t] for t in [from, to).
	score := func(name, kind string, pred []int, tops []float64, from, to int) EngineRun {
		r := EngineRun{Name: name, Kind: kind}
		for t := from; t < to; t++ {
			if want[t] < 0 {
				continue
			}
			r.Positions++
			if pred[t-from] == want[t] {
				r.Agreement++
			}
			if perPos && tops != nil {
				r.LogitMAE += math.Abs(tops[t-from] - obs.Logits[t-first])
				r.hasLogits = true
			}
		}
		if r.Positions == 0 {
			r.Skipped = "no observed position to compare"
			return r
		}
		r.LogitMAE /= float64(r.Positions)
		r.Agreement /= float64(r.Positions)
		r.SE = math.Sqrt(max(r.Agreement*(1-r.Agreement), 1/float64(4*r.Positions)) / float64(r.Positions))
		return r
	}
	argmax := func(sub *Subject, ids []int32) ([]int, []float64, error) {
		r, err := sub.engine()
		if err != nil {
			return nil, nil, err
		}
		logits, err := r.logits([][]int32{ids})
		if err != nil {
			return nil, nil, err
		}
		pred, tops := make([]int, len(ids)), make([]float64, len(ids))
		for t := range ids {
			row := logits[t*V : (t+1)*V]
			for j, x := range row {
				if x > row[pred[t]] {
					pred[t] = j
				}
			}
			tops[t] = float64(row[pred[t]])
		}
		return pred, tops, nil
	}
	T := len(ids)
	fp := &EngineFingerprint{Positions: T}
	pred, tops, err := argmax(s, ids)
	if err != nil {
		return nil, err
	}
	asLoaded := score("as loaded", RunAsLoaded, pred, tops, 0, T)
	fp.Positions = asLoaded.Positions
	fp.Runs = append(fp.Runs, asLoaded)
	if T > 1 {
		fp.Runs = append(fp.Runs,
			score("as loaded, one position late (outputs[t] = prediction at t−1)", RunOutputsShifted, pred[:T-1], nil, 1, T),
			score("as loaded, one position early (outputs[t] = prediction at t+1)", RunOutputsShifted, pred[1:], nil, 0, T-1))
	}
	fp.Runs = append(fp.Runs, score("the input itself (the current token)", RunInputEcho, input, nil, 0, T))
	if b := s.BOS; b >= 0 && b < V && (ids[0] != int32(b) || T > 1) {
		if ids[0] == int32(b) { // the engine dropped the BOS the input starts with
			p2, t2, err := argmax(s, ids[1:])
			if err != nil {
				return nil, err
			}
			fp.Runs = append(fp.Runs, score(fmt.Sprintf("without the BOS %d the input starts with (the engine dropped it)", b), string(gomlxmodel.FaultNoBOS), p2, t2, 1, T))
		} else if m := s.dims().MaxSeq; m == 0 || T < m { // the engine prepended one
			p2, t2, err := argmax(s, slices.Concat([]int32{int32(b)}, ids))
			if err != nil {
				return nil, err
			}
			fp.Runs = append(fp.Runs, score(fmt.Sprintf("with a BOS %d prepended (the engine adds one)", b), RunBOSPrepended, p2[1:], t2[1:], 0, T))
		}
	}
	wantTop := make([]float64, T) // the observed top logit at each position, NaN where none
	for t := range wantTop {
		wantTop[t] = math.NaN()
		if perPos && t >= first && want[t] >= 0 {
			wantTop[t] = obs.Logits[t-first]
		}
	}
	faults, err := inferenceFaultRuns(s, ids, first+1, want, wantTop)
	if err != nil {
		return nil, err
	}
	for _, f := range faults {
		if f.skipped != "" {
			fp.Runs = append(fp.Runs, EngineRun{Name: f.name, Kind: string(f.fault), Skipped: f.skipped})
			continue
		}
		fp.Runs = append(fp.Runs, score(f.name, string(f.fault), f.pred, f.tops, 0, T))
	}
	for _, conv := range s.Family.Conventions() {
		if conv.Inert {
			continue
		}
		for _, v := range conv.Values {
			if v == conv.Value {
				continue
			}
			name := fmt.Sprintf("%s=%s (as loaded: %s)", conv.Name, v, conv.Value)
			s2, err := s.WithConvention(conv.Name, v)
			if err != nil {
				fp.Runs = append(fp.Runs, EngineRun{Name: name, Kind: RunConvention, Skipped: err.Error()})
				continue
			}
			p2, t2, err := argmax(s2, ids)
			if err != nil {
				fp.Runs = append(fp.Runs, EngineRun{Name: name, Kind: RunConvention, Skipped: err.Error()})
				continue
			}
			fp.Runs = append(fp.Runs, score(name, RunConvention, p2, t2, 0, T))
		}
	}
	// runSubject scores the run of another subject (other weights) on the observed ids.
	runSubject := func(name, kind string, s2 *Subject, err error) error {
		if err != nil {
			return err
		}
		p2, t2, err := argmax(s2, ids)
		if err != nil {
			return err
		}
		fp.Runs = append(fp.Runs, score(name, kind, p2, t2, 0, T))
		return nil
	}
	// withTensors is the subject with the tensors of over in place of its own.
	withTensors := func(over gomlxmodel.Params) (*Subject, error) {
		p := maps.Clone(s.Params)
		maps.Copy(p, over)
		return s.withParams(p)
	}
	for _, seed := range fingerprintSeeds {
		s2, err := s.withFresh(seed)
		if err := runSubject(fmt.Sprintf("fresh initialisation (seed %d): weights never loaded", seed), RunFreshInit, s2, err); err != nil {
			return nil, err
		}
	}
	for _, g := range partialLoadGroups(s) { // an engine that left some tensors at their initialisation
		over := gomlxmodel.Params{}
		for _, n := range g.names {
			over[n] = g.init[n]
		}
		s2, err := withTensors(over)
		if err := runSubject(fmt.Sprintf("partial load: %s (%d tensors) left at the family's initialisation", g.key, len(g.names)), RunPartialLoad, s2, err); err != nil {
			return nil, err
		}
	}
	if len(s.AdapterBase) > 0 { // an engine that loaded the base model and never applied the adapter
		s2, err := withTensors(s.AdapterBase)
		if err := runSubject(fmt.Sprintf("the base weights without the PEFT adapter (%d tensors): the adapter never applied", len(s.AdapterBase)), RunAdapterMissing, s2, err); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(fp.Runs, func(a, b EngineRun) int {
		switch {
		case a.Skipped != "" || b.Skipped != "":
			return boolCmp(a.Skipped != "", b.Skipped != "")
		case a.Agreement != b.Agreement:
			return boolCmp(a.Agreement < b.Agreement, a.Agreement > b.Agreement)
		case a.hasLogits != b.hasLogits: // at equal agreement, a run whose logits were compared first
			return boolCmp(!a.hasLogits, !b.hasLogits)
		case a.hasLogits && a.LogitMAE != b.LogitMAE:
			return boolCmp(a.LogitMAE > b.LogitMAE, a.LogitMAE < b.LogitMAE)
		}
		return 0
	})
	var best *EngineRun
	for i := range fp.Runs {
		if fp.Runs[i].Name != asLoaded.Name && fp.Runs[i].Skipped == "" {
			best = &fp.Runs[i]
			break
		}
	}
	margin := func(r EngineRun) float64 {
		return max(fingerprintMargin, 4*math.Hypot(r.SE, asLoaded.SE))
	}
	// byLogits is the run whose top logits reproduce the observed ones at least
	// fingerprintLogitRatio times closer than the run as loaded, among the runs that agree on
	// at least fingerprintAgree of the top-1 ids and no less than as loaded; nil when the
	// observation has no logits or as loaded already reproduces them within float32 rounding
	// across engines (fingerprintLogitFloor of the largest observed logit).
	var byLogits *EngineRun
	if maxObs := maxAbs(obs.Logits); asLoaded.hasLogits && asLoaded.LogitMAE > fingerprintLogitFloor*maxObs {
		for i := range fp.Runs {
			r := &fp.Runs[i]
			if r.Name == asLoaded.Name || r.Skipped != "" || !r.hasLogits || r.Agreement < max(fingerprintAgree, asLoaded.Agreement) ||
				r.LogitMAE*fingerprintLogitRatio > asLoaded.LogitMAE {
				continue
			}
			if byLogits == nil || r.LogitMAE < byLogits.LogitMAE {
				byLogits = r
			}
		}
	}
	switch {
	case byLogits != nil && (best == nil || !(best.Agreement-asLoaded.Agreement > margin(*best)) || best.Name == byLogits.Name):
		fp.Verdict, fp.Best, fp.BestKind = "explained", byLogits.Name, byLogits.Kind
		fp.Detail = fmt.Sprintf("%s reproduces %.0f%% of the observed top-1 ids and their top logits within %.3g on average, the checkpoint as loaded %.0f%% and %.3g: the engine runs it that way",
			byLogits.Name, 100*byLogits.Agreement, byLogits.LogitMAE, 100*asLoaded.Agreement, asLoaded.LogitMAE)
	case best != nil && best.Agreement >= fingerprintAgree && best.Agreement-asLoaded.Agreement > margin(*best):
		fp.Verdict, fp.Best, fp.BestKind = "explained", best.Name, best.Kind
		fp.Detail = fmt.Sprintf("%s reproduces %.0f%% of the observed top-1 ids (± %.0f%%), the checkpoint as loaded %.0f%%: the engine runs it that way",
			best.Name, 100*best.Agreement, 100*best.SE, 100*asLoaded.Agreement)
	case asLoaded.Agreement >= fingerprintAgree && asLoaded.hasLogits && asLoaded.LogitMAE > fingerprintLogitTolerance*meanAbs(obs.Logits):
		fp.Verdict = "unexplained"
		fp.Detail = fmt.Sprintf("the checkpoint as loaded reproduces %.0f%% of the observed top-1 ids but not their top logits: they differ by %.3g on average, %.0f%% of their mean size (engines agree within %.0f%%), and no run reproduces them: the engine prints something other than the model's logits (a temperature, a log-softmax, a scale) or runs another model",
			100*asLoaded.Agreement, asLoaded.LogitMAE, 100*asLoaded.LogitMAE/meanAbs(obs.Logits), 100*fingerprintLogitTolerance)
	case asLoaded.Agreement >= fingerprintAgree:
		fp.Verdict, fp.Best, fp.BestKind = "consistent", asLoaded.Name, asLoaded.Kind
		fp.Detail = fmt.Sprintf("the checkpoint as loaded reproduces %.0f%% of the observed top-1 ids (± %.0f%%): the engine runs it as nanoscope does", 100*asLoaded.Agreement, 100*asLoaded.SE)
	default:
		fp.Verdict = "unexplained"
		bestText := "no other run"
		if best != nil {
			fp.Best, fp.BestKind = best.Name, best.Kind
			bestText = fmt.Sprintf("the best other run, %s, %.0f%%", best.Name, 100*best.Agreement)
		}
		fp.Detail = fmt.Sprintf("no run reproduces the observation: the checkpoint as loaded agrees on %.0f%% of the top-1 ids, %s (%d positions)",
			100*asLoaded.Agreement, bestText, fp.Positions)
	}
	return fp, nil
}

// boolCmp orders a before b when a is true (−1), after when b is (1).
func boolCmp(a, b bool) int {
	switch {
	case a:
		return 1
	case b:
		return -1
	}
	return 0
}

// withFresh is the subject with the family's fresh initialisation of the given seed.
// partialLoadGroup is a set of tensors a partial load could have left at their initialisation:
// every tensor of one role across the layers (the name with its layer index as *), or every
// tensor of one layer; init holds the family's initial values of the whole model (seed 1).
type partialLoadGroup struct {
	key   string
	names []string
	init  gomlxmodel.Params
}

// maxPartialLoadGroups bounds the partial-load candidates (one forward each).
const maxPartialLoadGroups = 48

// partialLoadGroups lists the groups of a partial load, by role then by layer (none for the
// ternary model, whose fresh initialisation is H6's): norms and biases start at constants, so an
// engine that left them there is reproduced exactly; matrices start at a random draw, which
// reproduces another engine's draw only in its statistics.
func partialLoadGroups(s *Subject) []partialLoadGroup {
	if s.Family.Spec().Ternary != nil {
		return nil
	}
	init := gomlxmodel.InitFamilyParams(s.Family, 1)
	byKey := map[string][]string{}
	var roles, layers []string
	for _, n := range slices.Sorted(maps.Keys(s.Params)) {
		role := layerIndex.ReplaceAllString(n, ".*.")
		if byKey[role] == nil {
			roles = append(roles, role)
		}
		byKey[role] = append(byKey[role], n)
		if m := layerIndex.FindStringSubmatch(n); m != nil {
			layer := "layer " + m[1]
			if byKey[layer] == nil {
				layers = append(layers, layer)
			}
			byKey[layer] = append(byKey[layer], n)
		}
	}
	slices.SortFunc(layers, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
	var out []partialLoadGroup
	for _, k := range slices.Concat(roles, layers) {
		if len(byKey[k]) < len(s.Params) && len(out) < maxPartialLoadGroups {
			out = append(out, partialLoadGroup{key: k, names: byKey[k], init: init})
		}
	}
	return out
}

func (s *Subject) withFresh(seed int64) (*Subject, error) {
	if t := s.Family.Spec().Ternary; t != nil {
		return NewSubject(t.Config, t.Variant, gomlxmodel.InitParams(t.Config, t.Variant, seed))
	}
	return s.withFamily(s.Family, gomlxmodel.InitFamilyParams(s.Family, seed))
}
