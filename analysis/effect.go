package analysis

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// A Loader builds the model's variables from the tensors of a checkpoint file: the step
// between "the file is right" and "the model runs the file's weights" that H6 doubts.
type Loader func(c config.Config, v config.Variant, file gomlxmodel.Params) (*model.Scope, error)

// DirectLoader is nanoscope's loading procedure: the store's variables are the file's
// tensors (gomlxmodel.NewScope, which refuses a partial set).
func DirectLoader(c config.Config, v config.Variant, file gomlxmodel.Params) (*model.Scope, error) {
	return gomlxmodel.NewScope(c, v, file)
}

// FreshInitLoader reproduces the original's load_checkpoint at the investigated commit
// (REFERENCE.md §3 H6): it creates an empty variable map and "loads" the file into it, which
// candle's VarMap::load does only for variables already in the map — none — and then builds
// the model, which creates every variable with its fresh initialisation. No error is raised.
func FreshInitLoader(seed int64) Loader {
	return func(c config.Config, v config.Variant, file gomlxmodel.Params) (*model.Scope, error) {
		varMap := gomlxmodel.Params{} // the empty VarMap
		for name, t := range file {   // VarMap::load: overwrite only the variables that exist
			if old, ok := varMap[name]; ok {
				copy(old.Data, t.Data)
			}
		}
		// Building the model creates every variable missing from the map, freshly initialised.
		for name, t := range gomlxmodel.InitParams(c, v, seed) {
			if _, ok := varMap[name]; !ok {
				varMap[name] = t
			}
		}
		return gomlxmodel.NewScope(c, v, varMap)
	}
}

// TensorEffect compares one tensor as the loader built it with the file's.
type TensorEffect struct {
	Name       string  `json:"name"`
	FileHash   string  `json:"file_hash"`
	EffectHash string  `json:"effect_hash"`
	Match      bool    `json:"match"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
}

// Effect is the weights-in-effect check of a loading procedure.
type Effect struct {
	Tensors  []TensorEffect `json:"tensors"`
	Total    int            `json:"total"`
	Matched  int            `json:"matched"`
	AllMatch bool           `json:"all_match"`
	Differ   []string       `json:"differ"`
}

// WeightsInEffect loads the checkpoint's tensors with load, reads the parameters back out of
// the built GoMLX model.Store (gomlxmodel.ScopeParams) and compares them per tensor with the
// file by checkpoint.TensorHash (shape and exact bits).
func WeightsInEffect(ck *checkpoint.Checkpoint, load Loader) (Effect, error) {
	c, v := ck.Meta.Config, ck.Meta.Variant
	ctx, err := load(c, v, ck.Tensors)
	if err != nil {
		return Effect{}, err
	}
	built, err := gomlxmodel.ScopeParams(ctx, c, v)
	if err != nil {
		return Effect{}, fmt.Errorf("reading the loaded variables back: %w", err)
	}
	return CompareParams(ck.Tensors, built), nil
}

// weightsInEffect is WeightsInEffect of the subject's weights with nanoscope's loader: the
// family's context (gomlxmodel.NewFamilyScope; DirectLoader for the ternary model) read
// back variable by variable.
func (s *Subject) weightsInEffect() (Effect, error) {
	ctx, err := gomlxmodel.NewFamilyScope(s.Family, s.Params)
	if err != nil {
		return Effect{}, err
	}
	built := gomlxmodel.Params{}
	for _, sp := range s.Family.ParamSpecs() {
		scope, vn := gomlxmodel.ScopeAndName(sp.Name)
		v := ctx.Store().GetVariable(model.JoinPath(scope, vn))
		if v == nil {
			continue // reported as differing
		}
		val, err := v.Value()
		if err != nil {
			return Effect{}, err
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return Effect{}, err
		}
		built[sp.Name] = checkpoint.Tensor{Shape: val.Shape().Dimensions, Data: data}
	}
	return CompareParams(s.Params, built), nil
}

// CompareParams compares the tensors in effect with the file's, per tensor, by hash; a tensor
// present in only one of them counts as differing.
func CompareParams(file, effect gomlxmodel.Params) Effect {
	names := map[string][]int{}
	for n := range file {
		names[n] = nil
	}
	for n := range effect {
		names[n] = nil
	}
	e := Effect{Differ: []string{}}
	for _, n := range config.SortedNames(names) {
		te := TensorEffect{Name: n}
		f, okF := file[n]
		g, okG := effect[n]
		if okF {
			te.FileHash = checkpoint.TensorHash(f)
		}
		if okG {
			te.EffectHash = checkpoint.TensorHash(g)
		}
		te.Match = okF && okG && te.FileHash == te.EffectHash
		if okF && okG && len(f.Data) == len(g.Data) {
			for i := range f.Data {
				te.MaxAbsDiff = max(te.MaxAbsDiff, math.Abs(float64(f.Data[i])-float64(g.Data[i])))
			}
		}
		e.Total++
		if te.Match {
			e.Matched++
		} else {
			e.Differ = append(e.Differ, n)
		}
		e.Tensors = append(e.Tensors, te)
	}
	e.AllMatch = e.Total > 0 && e.Matched == e.Total
	return e
}

// WriteFreshCheckpoint writes, as checkpoint directory dir, a freshly initialised model
// (gomlxmodel.InitParams with seed) under meta — e.g. another checkpoint's meta.json with its
// claimed loss — and copies the named side files (such as the vocabulary map) from srcDir:
// the file a loader that ignores the trained weights would in effect be running (H6).
func WriteFreshCheckpoint(dir string, meta checkpoint.Meta, seed int64, srcDir string, files ...string) error {
	p := gomlxmodel.InitParams(meta.Config, meta.Variant, seed)
	if err := checkpoint.Save(dir, p, meta); err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(srcDir, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
