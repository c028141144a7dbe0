package nbutil

// Helpers shared by notebooks 03–06 (the symptom, activation norms, the untied head, gradient
// flow): the note's input, the d20 results kept in the repository, ablation runs of the cpu
// preset trained on demand, and small conversions between analysis results and plots.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
)

const (
	// D20RunDir holds the outputs of the full-size d20 run trained on an H100 (its checkpoint
	// is not kept): meta.json, metrics.jsonl (every 100th step), d20_logits.json,
	// d20_inspect.json and d20_diagnose.json. See its README.md.
	D20RunDir = "bench/results/d20_h100"
	// UntiedModelDir is the cpu preset trained with a separate lm_head (`--untied`), same seed
	// and steps as CPUModelDir.
	UntiedModelDir = "out/cpu_untied"
)

// TrainLock is the lock file, relative to the repository root, that EnsureVariantRun holds
// while it builds bin/nanoscope and trains.
const TrainLock = "out/.train.lock"

// lockFile creates path (and its directory) when missing and takes an exclusive lock on it,
// waiting for whoever holds it; unlock releases it.
func lockFile(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("nbutil: lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// NoteText and NoteTokens are the investigation note's input, "fn main() {", and its GPT-2
// (r50k_base) ids.
const NoteText = "fn main() {"

// NoteTokens returns the GPT-2 ids of NoteText as the note lists them.
func NoteTokens() []int { return []int{22184, 1388, 3419, 1391} }

// EnsureVariantRun makes sure root/dir holds a cpu-preset checkpoint trained with the extra
// `nanoscope train` flags args (e.g. "--untied"), training it when its meta.json is missing:
// it builds bin/nanoscope and runs
// `nanoscope train --preset cpu --data data/rust --out DIR --log-every 50 ARGS...` in root,
// with the command's output going to progress. It returns the checkpoint's meta.json and
// whether it trained now. An existing meta.json that does not parse is an error, never
// overwritten. Notebooks that run at the same time (scripts/run-notebooks.sh with NB_JOBS=2)
// train one at a time and never read a run that is being written: the check and the training
// hold the lock TrainLock, so a notebook that needs a run another one is training waits for it
// and then reuses it.
func EnsureVariantRun(root, dir string, progress io.Writer, args ...string) (meta checkpoint.Meta, trained bool, err error) {
	unlock, err := lockFile(filepath.Join(root, TrainLock))
	if err != nil {
		return meta, false, err
	}
	defer unlock()
	abs := InRoot(root, dir)
	if meta, err = checkpoint.ReadMeta(abs); err == nil {
		return meta, false, nil
	}
	if _, serr := os.Stat(filepath.Join(abs, checkpoint.MetaFile)); !errors.Is(serr, os.ErrNotExist) {
		return meta, false, err
	}
	if _, _, err := EnsureCorpus(root, progress); err != nil {
		return meta, false, err
	}
	if progress == nil {
		progress = io.Discard
	}
	trainArgs := append([]string{BinPath, "train", "--preset", "cpu", "--data", CorpusDir, "--out", dir, "--log-every", "50"}, args...)
	for _, a := range [][]string{{"go", "build", "-o", BinPath, "./cmd/nanoscope"}, trainArgs} {
		fmt.Fprintf(progress, "$ %s\n", shellJoin(a))
		name := a[0]
		if name == BinPath {
			name = filepath.Join(root, BinPath)
		}
		cmd := exec.Command(name, a[1:]...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, progress, progress
		if err := cmd.Run(); err != nil {
			return meta, false, fmt.Errorf("nbutil: %s: %w", shellJoin(a), err)
		}
	}
	meta, err = checkpoint.ReadMeta(abs)
	return meta, err == nil, err
}

// LoadModel loads the checkpoint in dir: absolute, or relative to the repository root.
func LoadModel(root, dir string) (*checkpoint.Checkpoint, error) {
	return checkpoint.Load(InRoot(root, dir))
}

// ValTokensFor returns the validation split in the ids of checkpoint ck: val.compact.bin when
// it has a compact vocabulary (vocab map), else val.bin, from the corpus in root/CorpusDir.
func ValTokensFor(root string, ck *checkpoint.Checkpoint) ([]uint32, error) {
	name := corpus.ValFile
	if ck.Meta.Variant.VocabMap != "" {
		name = corpus.ValCompactFile
	}
	ids, err := tokenfile.Read(filepath.Join(root, CorpusDir, name))
	if err != nil {
		return nil, err
	}
	if err := tokenfile.CheckRange(name, ids, ck.Meta.Config.VocabSize); err != nil {
		return nil, err
	}
	return ids, nil
}

// CompactVocab returns the compact vocabulary of checkpoint ck (its vocab map), or nil when
// the checkpoint uses GPT-2 ids directly.
func CompactVocab(ck *checkpoint.Checkpoint) (*corpus.Vocab, error) {
	if ck.Meta.Variant.VocabMap == "" {
		return nil, nil
	}
	return corpus.LoadVocab(filepath.Join(ck.Dir, ck.Meta.Variant.VocabMap))
}

// StepSeries turns a quantity logged over training steps into a plot series.
func StepSeries(label string, steps []int, values []float64) plots.Series {
	x := make([]float64, len(steps))
	for i, s := range steps {
		x[i] = float64(s)
	}
	return plots.Series{Label: label, X: x, Y: values}
}

// ReadJSONFile decodes the JSON file at path into v.
func ReadJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
