package nbutil

// The models the notebooks examine: the trained cpu checkpoint (trained on demand), fresh
// initialisations, and the results the d20 run on an H100 left in the repository.

import (
	"os"
	"path/filepath"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// TrainedCPU loads the cpu-preset checkpoint CPUModelDir, building the corpus and training it
// first when missing (progress on stdout).
func TrainedCPU(root string) (*checkpoint.Checkpoint, error) {
	if _, _, err := EnsureCorpus(root, os.Stdout); err != nil {
		return nil, err
	}
	if _, _, err := EnsureCPUModel(root, os.Stdout); err != nil {
		return nil, err
	}
	return LoadModel(root, CPUModelDir)
}

// FreshD20 returns a freshly initialised model of the original d20 configuration: tied
// tok_embed N(0, 1), linear weights N(0, 0.02), RMSNorm weights 1, mHC at its symmetric start.
func FreshD20(seed int64) (*analysis.Subject, error) {
	c, v := config.D20(), config.DefaultVariant()
	return analysis.NewSubject(c, v, gomlxmodel.InitParams(c, v, seed))
}

// FreshOf returns the checkpoint's configuration with fresh weights drawn with the run's own
// seed: the model the run started from.
func FreshOf(ck *checkpoint.Checkpoint) (*analysis.Subject, error) {
	c, v := ck.Meta.Config, ck.Meta.Variant
	return analysis.NewSubject(c, v, gomlxmodel.InitParams(c, v, v.Seed))
}

// ValWindows samples n positions of the checkpoint's validation split (its own ids) in
// windows of its sequence length.
func ValWindows(root string, ck *checkpoint.Checkpoint, n int) (*analysis.Windows, error) {
	val, err := ValTokensFor(root, ck)
	if err != nil {
		return nil, err
	}
	return analysis.SampleWindows(val, ck.Meta.Config.MaxSeqLen, n)
}

// D20Diagnosis reads the diagnosis of the d20 checkpoint trained on an H100
// (D20RunDir/d20_diagnose.json, `nanoscope diagnose --json`).
func D20Diagnosis(root string) (analysis.Report, error) {
	var r analysis.Report
	err := ReadJSONFile(filepath.Join(root, D20RunDir, "d20_diagnose.json"), &r)
	return r, err
}

// D20Inspection reads `nanoscope inspect --json` of the d20 checkpoint (d20_inspect.json).
func D20Inspection(root string) (analysis.Inspection, error) {
	var r analysis.Inspection
	err := ReadJSONFile(filepath.Join(root, D20RunDir, "d20_inspect.json"), &r)
	return r, err
}
