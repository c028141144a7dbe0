package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/tokenfile"
)

// Training state beside a checkpoint, so that `train --resume` continues bit-identically:
// Out/train_state/step_NNNNNNNN.safetensors holds every optimizer state tensor (named
// "<parameter>/<state>") and step_NNNNNNNN.json the step and the data position. The state of a
// step is written before the checkpoint of that step, and the two most recent states are kept,
// so whichever write a crash interrupts, the checkpoint on disk has its state.

// StateDir is the directory of the training state inside a run's output directory.
const StateDir = "train_state"

// State is the JSON half of a training state.
type State struct {
	Step     int                `json:"step"`
	Position tokenfile.Position `json:"position"`
	Seed     int64              `json:"seed"`
	// TrainTime is the time spent in training steps so far, for tokens/s across a resume.
	TrainTimeS float64 `json:"train_time_s"`
}

func stateBase(out string, step int) string {
	return filepath.Join(out, StateDir, fmt.Sprintf("step_%08d", step))
}

// saveState writes the optimizer state and s, then removes all but the two most recent states.
func (t *Trainer) saveState(out string, s State) error {
	dir := filepath.Join(out, StateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	opt := map[string]checkpoint.Tensor{}
	var err error
	eachVariable(t.ctx.Store(), func(v *model.Variable) {
		if err != nil || !strings.HasPrefix(v.Scope(), "/opt/") {
			return
		}
		val, e := v.Value()
		if e != nil {
			err = e
			return
		}
		data, e := tensors.CopyFlatData[float32](val)
		if e != nil {
			err = e
			return
		}
		opt[strings.TrimPrefix(v.Scope(), "/opt/")+"/"+v.Name()] = checkpoint.Tensor{Shape: v.Shape().Dimensions, Data: data}
	})
	if err != nil {
		return err
	}
	base := stateBase(out, s.Step)
	if err := checkpoint.WriteSafetensors(base+".safetensors", opt); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(base+".json", raw); err != nil {
		return err
	}
	steps, err := stateSteps(dir)
	if err != nil {
		return err
	}
	for _, old := range steps[:max(0, len(steps)-2)] {
		os.Remove(stateBase(out, old) + ".json")
		os.Remove(stateBase(out, old) + ".safetensors")
	}
	return nil
}

// stateSteps lists the steps that have a state JSON in dir, ascending.
func stateSteps(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "step_%08d.json", &n); err == nil && strings.HasSuffix(e.Name(), ".json") {
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// loadState restores the optimizer state of step into t and returns its State.
func (t *Trainer) loadState(out string, step int) (State, error) {
	base := stateBase(out, step)
	raw, err := os.ReadFile(base + ".json")
	if errors.Is(err, os.ErrNotExist) {
		have, _ := stateSteps(filepath.Join(out, StateDir))
		return State{}, fmt.Errorf("%s: no training state for the checkpoint's step %d (states present for steps %v); cannot resume exactly", filepath.Join(out, StateDir), step, have)
	} else if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil {
		return State{}, fmt.Errorf("%s.json: %w", base, err)
	}
	if s.Step != step {
		return State{}, fmt.Errorf("%s.json: records step %d, want %d", base, s.Step, step)
	}
	opt, err := checkpoint.ReadSafetensors(base + ".safetensors")
	if err != nil {
		return State{}, err
	}
	seen := 0
	eachVariable(t.ctx.Store(), func(v *model.Variable) {
		if err != nil || !strings.HasPrefix(v.Scope(), "/opt/") {
			return
		}
		name := strings.TrimPrefix(v.Scope(), "/opt/") + "/" + v.Name()
		ts, ok := opt[name]
		if !ok {
			err = fmt.Errorf("%s.safetensors: optimizer state %s is missing", base, name)
			return
		}
		if !slices.Equal(ts.Shape, v.Shape().Dimensions) {
			err = fmt.Errorf("%s.safetensors: optimizer state %s: expected shape %v, found %v", base, name, v.Shape().Dimensions, ts.Shape)
			return
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(ts.Data), ts.Shape...))
		seen++
	})
	if err != nil {
		return State{}, err
	}
	if seen != len(opt) {
		return State{}, fmt.Errorf("%s.safetensors: %d optimizer tensors, the trainer has %d (different optimizer?)", base, len(opt), seen)
	}
	return s, nil
}

func writeFileAtomic(path string, b []byte) error {
	return tokenfile.WriteAtomic(path, func(w *bufio.Writer) error { _, err := w.Write(b); return err })
}

// eachVariable calls fn for every variable of store, in creation order.
func eachVariable(store *model.Store, fn func(v *model.Variable)) {
	for v := range store.IterVariables() {
		fn(v)
	}
}
