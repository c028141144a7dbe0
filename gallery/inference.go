package gallery

// The inference rows of the gallery: each inference fault of gomlxmodel.InferenceFaults built on
// purpose in nanoscope's own inference path, on a checkpoint of every family, and the clean
// path as the healthy control. A row is diagnosed as a user's engine would be: the
// reference-free checks of the path (analysis.CheckInference) and the engine fingerprint
// (analysis.Fingerprint) of an observation file the path printed with the fault on.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"nanoscope/analysis"
	"nanoscope/faults"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/load"
)

// SetInference is the set of the inference rows.
const SetInference = "inference"

// inferenceModel is a checkpoint the inference faults are built on.
type inferenceModel struct {
	name string
	// dir finds (or makes) the checkpoint: a fixture under the repository, or a gallery build.
	dir func(Dirs) (string, error)
	// bos is the BOS id the checks and the observations use (−1: config.json's).
	bos int
	// text: the ids are the bytes of a line of Go (byte vocabularies); else faults.Data.
	text bool
	// rotary: attention sees positions only through RoPE, i.e. only their distances — left
	// padding without position ids shifts every position alike and is inert there.
	rotary bool
}

func fixture(rel string) func(Dirs) (string, error) {
	return func(d Dirs) (string, error) { return filepath.Join(d.Repo, rel), nil }
}

// inferenceModels are one or two checkpoints of every family: the transformers-trained GPT-2
// and Llama fixtures, the nanochat fixture, the ternary gallery's healthy build and the family
// gallery's healthy GPT-2 (a second GPT-2: left padding is a fault there only).
var inferenceModels = []inferenceModel{
	{name: "gpt2 fixture", dir: fixture("gomlxmodel/hf/testdata/hf/gpt2_trained_sharded"), bos: '\n', text: true},
	{name: "gpt2 healthy (seed 1)", dir: func(d Dirs) (string, error) { return faults.FamilyDir(d.Family, "gpt2 healthy (seed 1)") }, bos: 0},
	{name: "llama fixture", dir: fixture("gomlxmodel/hf/testdata/hf/llama_trained_bf16"), bos: -1, text: true, rotary: true},
	{name: "nanochat fixture", dir: fixture("gomlxmodel/load/testdata/nanochat/trained"), bos: 0, text: true, rotary: true},
	{name: "ternary healthy", dir: func(d Dirs) (string, error) { return faults.NewBuilder(d.Ternary).Dir("healthy") }, bos: 1, rotary: true},
}

// isolating is the check of analysis.CheckInference that isolates each fault.
var isolating = map[gomlxmodel.InferenceFault]string{
	gomlxmodel.FaultKVPlus1:            "kv_cache",
	gomlxmodel.FaultKVMinus1:           "kv_cache",
	gomlxmodel.FaultLeftPadNoPositions: "padding_left",
	gomlxmodel.FaultDropout:            "repeat",
	gomlxmodel.FaultFP16:               "reference",
	gomlxmodel.FaultNoBOS:              "bos",
}

// How a row's observation is printed: a greedy continuation through the KV cache (the faults
// of decoding and of the prompt), or one forward's top-1 ids (faults of every forward).
const (
	observeGenerated = "generated"
	observeForward   = "one forward"
)

// observation is how each fault's observation is printed, and the pads of a forward.
var observation = map[gomlxmodel.InferenceFault]struct {
	how  string
	pads int
}{
	gomlxmodel.FaultKVPlus1:            {observeGenerated, 0},
	gomlxmodel.FaultKVMinus1:           {observeGenerated, 0},
	gomlxmodel.FaultNoBOS:              {observeGenerated, 0},
	gomlxmodel.FaultLeftPadNoPositions: {observeForward, 3},
	gomlxmodel.FaultDropout:            {observeForward, 0},
	gomlxmodel.FaultFP16:               {observeForward, 0},
}

// InferenceResult is an inference row diagnosed: the checks of the path with the fault on, the
// check that isolates the fault with its margin (MaxAbsDelta / Floor; "" and 0 for a clean
// path), the observation and its engine fingerprint — or why the row is not scored.
type InferenceResult struct {
	Model       string
	Fault       gomlxmodel.InferenceFault
	Observe     string
	Path        *analysis.InferencePath
	Check       string
	Margin      float64
	Observed    *analysis.Observed
	Fingerprint *analysis.EngineFingerprint
	Skipped     string
}

// inferenceBuilds are the inference rows: per model, the clean path observed both ways, then
// every fault (left padding without position ids on a rotary model too: it is run, checked to
// be inert, and not scored).
func inferenceBuilds() []Build {
	var out []Build
	for _, m := range inferenceModels {
		for _, how := range []string{observeGenerated, observeForward} {
			out = append(out, Build{Name: fmt.Sprintf("%s: clean path (%s)", m.name, how), Set: SetInference, model: m.name, observe: how})
		}
		for _, f := range gomlxmodel.InferenceFaults {
			o := observation[f]
			out = append(out, Build{Name: fmt.Sprintf("%s: %s", m.name, f), Set: SetInference, Kind: string(f), model: m.name, fault: f, observe: o.how, pads: o.pads})
		}
	}
	return out
}

// runInference diagnoses one inference row. The observation goes through its file, as a user's
// would.
func runInference(d Dirs, b Build) (*InferenceResult, []string, error) {
	i := slices.IndexFunc(inferenceModels, func(m inferenceModel) bool { return m.name == b.model })
	if i < 0 {
		return nil, nil, fmt.Errorf("gallery: %s: no inference model %q", b.Name, b.model)
	}
	m := inferenceModels[i]
	dir, err := m.dir(d)
	if err != nil {
		return nil, nil, err
	}
	l, err := load.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	bos := m.bos
	if bos < 0 {
		bos = l.BOS
	}
	res := &InferenceResult{Model: m.name, Fault: b.fault, Observe: b.observe}
	V := l.Family.Dims().VocabSize
	L := l.Family.Dims().MaxSeq
	if L == 0 || L > 128 {
		L = 128
	}
	ids := make([]int32, 128)
	if m.text {
		text := []byte("func (s *Subject) withFresh(seed int64) (*Subject, error) { return s.withFamily(s.Family, p) }")
		for t := range ids {
			ids[t] = int32(int(text[t%len(text)]) % V)
		}
	} else {
		for t, x := range faults.Data()[:len(ids)] {
			ids[t] = int32(x)
		}
	}
	if res.Path, err = analysis.CheckInference(l.Family, l.Params, ids[:24], bos, b.fault); err != nil {
		return nil, nil, fmt.Errorf("gallery: %s: %w", b.Name, err)
	}
	if b.fault != "" {
		res.Check = isolating[b.fault]
		for _, c := range res.Path.Checks {
			if c.Name == res.Check {
				res.Margin = c.Margin
			}
		}
	}
	if b.fault == gomlxmodel.FaultLeftPadNoPositions && m.rotary {
		res.Skipped = fmt.Sprintf("inert: rotary attention sees only distances (%s at %.3g× its floor)", res.Check, res.Margin)
		return res, nil, nil
	}
	var obs *analysis.Observed
	switch b.observe {
	case observeGenerated:
		prompt := slices.Concat([]int32{int32(bos)}, ids[:min(15, L/4-1)])
		obs, err = analysis.ObserveGeneration(l.Family, l.Params, prompt, min(40, L-len(prompt)), b.fault, bos)
	case observeForward:
		obs, err = analysis.ObserveForward(l.Family, l.Params, ids[:min(120, L-8)], b.pads, gomlxmodel.StepOptions{Fault: b.fault, Seed: 1 << 40})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gallery: %s: observing: %w", b.Name, err)
	}
	if res.Observed, err = throughFile(obs); err != nil {
		return nil, nil, fmt.Errorf("gallery: %s: %w", b.Name, err)
	}
	s, err := analysis.FromFamily(l.Family, l.Params, l.Dir)
	if err != nil {
		return nil, nil, err
	}
	s.BOS = bos
	if res.Fingerprint, err = analysis.Fingerprint(s, res.Observed); err != nil {
		return nil, nil, fmt.Errorf("gallery: %s: fingerprint: %w", b.Name, err)
	}
	return res, res.named(), nil
}

// named is what the row's diagnosis names: the kind of the run the fingerprint explains the
// observation by; unexplained when it explains it by none, or when it says consistent while a
// check of the path fails; nothing (healthy) when the checks pass and the fingerprint says
// consistent.
func (r *InferenceResult) named() []string {
	switch {
	case r.Fingerprint.Verdict == "explained":
		return []string{r.Fingerprint.BestKind}
	case r.Fingerprint.Verdict == "unexplained" || !r.Path.Passed:
		return []string{analysis.KindUnexplained}
	}
	return nil
}

// throughFile writes obs to a temporary file and reads it back with analysis.ReadObserved.
func throughFile(obs *analysis.Observed) (*analysis.Observed, error) {
	f, err := os.CreateTemp("", "observed-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(obs); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return analysis.ReadObserved(f.Name())
}
