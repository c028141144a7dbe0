package nbutil

// Helpers of notebooks 07–10 (shifted loss, larger model, hypotheses, root cause): the
// checkpoints their experiments train or write, created on demand and reused when present
// (through EnsureVariantRun, like the ablations of notebooks 03–06), and the model's ids as
// text.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
)

// Directories (relative to the repository root) of the checkpoints and reports of notebooks
// 07–10.
const (
	UnshiftedModelDir = "out/cpu_unshifted"     // control trained on unshifted targets
	LargeModelDir     = "out/cpu_large"         // a larger cpu model (the note's next step 5)
	FreshClaimsDir    = "out/fresh_claims_3.29" // fresh weights under a meta.json claiming 3.29
	DiagnoseOutDir    = "out/diagnose"          // Diagnose reports written by notebook 09
	FreshClaimedLoss  = 3.29                    // the note's logged loss
)

// UnshiftedTrainFlags train the control of notebook 07 (with EnsureVariantRun's cpu preset):
// 60 steps on unshifted targets (target[i] = input[i]), under a minute on two cores (a fresh
// tied model already copies, so the control needs few steps to settle).
var UnshiftedTrainFlags = []string{"--steps", "60", "--target-shift", "0", "--eval-every", "30", "--log-every", "20"}

// LargeTrainFlags train the larger model of notebook 08: dim 128 and 4 layers (twice the cpu
// preset's width and depth), 240 steps of 4 windows — about three minutes on two cores. Small
// batches buy optimizer steps: Lion moves each entry of the N(0, 1) embedding by at most its
// learning rate per step, and 120 steps of 8 windows left the model still leaving the
// copying of its initialisation.
var LargeTrainFlags = []string{"--dim", "128", "--layers", "4", "--batch", "4", "--steps", "240", "--eval-every", "80", "--log-every", "40"}

// EnsureUnshiftedModel makes sure UnshiftedModelDir holds the unshifted-target control,
// training it when missing; a checkpoint there with another target shift is an error.
func EnsureUnshiftedModel(root string, progress io.Writer) (checkpoint.Meta, bool, error) {
	meta, trained, err := EnsureVariantRun(root, UnshiftedModelDir, progress, UnshiftedTrainFlags...)
	if err == nil && meta.Variant.TargetShift != 0 {
		err = fmt.Errorf("nbutil: %s has target shift %d, want 0 (delete it to train again)", UnshiftedModelDir, meta.Variant.TargetShift)
	}
	return meta, trained, err
}

// EnsureLargeModel makes sure LargeModelDir holds the larger cpu model, training it when
// missing; a checkpoint there of another size or objective is an error.
func EnsureLargeModel(root string, progress io.Writer) (checkpoint.Meta, bool, error) {
	meta, trained, err := EnsureVariantRun(root, LargeModelDir, progress, LargeTrainFlags...)
	if err == nil && (meta.Config.Dim != 128 || meta.Config.NLayers != 4 || meta.Variant.TargetShift != 1) {
		err = fmt.Errorf("nbutil: %s has dim %d, %d layers, target shift %d; want 128, 4, 1 (delete it to train again)",
			LargeModelDir, meta.Config.Dim, meta.Config.NLayers, meta.Variant.TargetShift)
	}
	return meta, trained, err
}

// EnsureFreshClaimsCheckpoint makes sure FreshClaimsDir holds a freshly initialised model of
// out/cpu's configuration (its meta.json, vocabulary map copied) whose meta.json claims the
// note's loss FreshClaimedLoss: what a loader that ignores the file runs, dressed as a trained
// checkpoint. The seed is out/cpu's own, so the weights are those out/cpu started from. It
// trains out/cpu first when that is missing.
func EnsureFreshClaimsCheckpoint(root string, progress io.Writer) (meta checkpoint.Meta, written bool, err error) {
	dir := filepath.Join(root, FreshClaimsDir)
	if meta, err = checkpoint.ReadMeta(dir); err == nil {
		return meta, false, nil
	}
	src, _, err := EnsureCPUModel(root, progress)
	if err != nil {
		return meta, false, err
	}
	meta = src
	meta.Loss = FreshClaimedLoss
	var side []string
	if src.Variant.VocabMap != "" {
		side = append(side, src.Variant.VocabMap)
	}
	if err := analysis.WriteFreshCheckpoint(dir, meta, src.Variant.Seed, filepath.Join(root, CPUModelDir), side...); err != nil {
		return meta, false, err
	}
	meta, err = checkpoint.ReadMeta(dir)
	return meta, err == nil, err
}

// ModelVocab turns a checkpoint's ids into text and GPT-2 ids into the checkpoint's ids
// (corpus.ModelVocab: through its compact vocabulary when it has one).
type ModelVocab struct {
	ids corpus.ModelVocab
}

// VocabOfCheckpoint returns the vocabulary of checkpoint ck.
func VocabOfCheckpoint(ck *checkpoint.Checkpoint) (*ModelVocab, error) {
	ids, err := corpus.LoadModelVocab(ck.Dir, ck.Meta.Variant.VocabMap, ck.Meta.Config.VocabSize)
	if err != nil {
		return nil, err
	}
	return &ModelVocab{ids: ids}, nil
}

// FromGPT2 translates GPT-2 ids into the model's ids.
func (mv *ModelVocab) FromGPT2(ids []int) []int32 { return mv.ids.ToModelIDs(ids) }

// Text returns the text of a model id, quoted in Go syntax, e.g. `" main"`.
func (mv *ModelVocab) Text(id int) string { return fmt.Sprintf("%q", mv.ids.Text(id)) }

// WriteJSONFile writes v as indented JSON to path, creating its directory.
func WriteJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// MustMeta returns meta, or panics with err: the Ensure* functions in a notebook cell, as
// nbutil.MustMeta(nbutil.EnsureCPUModel(root, os.Stdout)).
func MustMeta(meta checkpoint.Meta, _ bool, err error) checkpoint.Meta {
	if err != nil {
		panic(err)
	}
	return meta
}

// UpdateJSONFile reads the JSON at path into a T (a zero T when the file does not exist yet),
// lets f change it and writes it back: how a notebook's cells, each a process of its own, pass
// results on to a later cell.
func UpdateJSONFile[T any](path string, f func(*T)) error {
	var v T
	if err := ReadJSONFile(path, &v); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f(&v)
	return WriteJSONFile(path, v)
}
