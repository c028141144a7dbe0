package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
)

// checkpointDir checks the value of a --checkpoint-like flag: an existing directory. A file
// inside a checkpoint (model.safetensors, meta.json) is refused naming the directory to pass.
func checkpointDir(flagName, p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--%s %s does not exist", flagName, p)
	case err != nil:
		return fmt.Errorf("--%s: %w", flagName, err)
	case !st.IsDir() && !load.IsCheckpointFile(p):
		return fmt.Errorf("--%s %s is a file: pass the directory %s (it holds %s and %s), or a nanoGPT ckpt.pt or llm.c .bin file", flagName, p, filepath.Dir(p), checkpoint.ModelFile, checkpoint.MetaFile)
	}
	return nil
}

// startCPUProfile starts a pprof CPU profile into the file of --cpuprofile (none when p is
// empty); call the returned stop when the command ends.
func startCPUProfile(p string) (stop func(), err error) {
	if p == "" {
		return func() {}, nil
	}
	if err := outputFile("cpuprofile", p); err != nil {
		return nil, err
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// corpusDir resolves train's --data: a corpus directory, or any file inside one (train.bin,
// stats.json, ...), which stands for its directory.
func corpusDir(p string) (string, error) {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--data %s does not exist", p)
	case err != nil:
		return "", fmt.Errorf("--data: %w", err)
	case st.IsDir():
		return p, nil
	}
	dir := filepath.Dir(p)
	if !isCorpusDir(dir) {
		return "", fmt.Errorf("--data %s is a file outside a corpus directory: pass the directory written by nanoscope corpus", p)
	}
	return dir, nil
}

// isCorpusDir reports whether dir looks like the output of nanoscope corpus.
func isCorpusDir(dir string) bool {
	for _, f := range []string{corpus.StatsFile, corpus.TrainFile, corpus.TrainCompactFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// usesCompact reports whether the checkpoint's ids are a compact vocabulary's.
func usesCompact(m checkpoint.Meta) bool { return m.Variant.VocabMap != "" }

// recordedData returns the corpus directory meta.json records ("data"), or "".
func recordedData(m checkpoint.Meta) string {
	var s string
	if raw, ok := m.Extra["data"]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// tokenData resolves diagnose's --data against checkpoint ck and checks that the ids in it
// are the checkpoint's: a directory stands for its validation split in the checkpoint's id
// space; a file of compact ids must come with a vocab.json (beside it) equal to the
// checkpoint's; GPT-2 ids and compact ids are never mixed. An empty p takes the validation
// split of the corpus meta.json records.
func tokenData(p string, ck *checkpoint.Checkpoint) (string, error) {
	compact := usesCompact(ck.Meta)
	valName := corpus.ValFile
	if compact {
		valName = corpus.ValCompactFile
	}
	if p == "" {
		rec := recordedData(ck.Meta)
		if rec == "" {
			return "", usagef("--data is required (meta.json records no corpus)")
		}
		if _, err := os.Stat(filepath.Join(rec, valName)); err != nil {
			return "", usagef("--data is required (the corpus meta.json records, %s, has no %s)", rec, valName)
		}
		p = rec
	}
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--data %s does not exist", p)
	case err != nil:
		return "", fmt.Errorf("--data: %w", err)
	case st.IsDir():
		p = filepath.Join(p, valName)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("--data: directory has no %s (the validation split in the checkpoint's %s ids)", valName, idSpace(compact))
		}
	}
	dir, base := filepath.Split(p)
	dataCompact := strings.HasSuffix(base, ".compact.bin")
	switch {
	case !compact && dataCompact:
		return "", fmt.Errorf("--data %s holds compact ids, the checkpoint reads GPT-2 ids: pass %s", p, filepath.Join(dir, corpus.ValFile))
	case compact && !dataCompact && isCorpusDir(dir):
		return "", fmt.Errorf("--data %s holds GPT-2 ids, the checkpoint reads compact ids: pass %s", p, filepath.Join(dir, corpus.ValCompactFile))
	case compact:
		if err := sameVocab(filepath.Join(dir, corpus.VocabFile), filepath.Join(ck.Dir, ck.Meta.Variant.VocabMap), "--data "+p); err != nil {
			return "", err
		}
	}
	return p, nil
}

func idSpace(compact bool) string {
	if compact {
		return "compact"
	}
	return "GPT-2"
}

// sameVocab checks that the compact vocabulary of some token data (dataVocab, the vocab.json
// beside it) is the model's (modelVocab): the same GPT-2 id behind every compact id.
func sameVocab(dataVocab, modelVocab, what string) error {
	mv, err := corpus.LoadVocab(modelVocab)
	if err != nil {
		return err
	}
	dv, err := corpus.LoadVocab(dataVocab)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no %s beside it, so its compact ids cannot be checked against %s; pass token data of the corpus the checkpoint was trained on", what, corpus.VocabFile, modelVocab)
	} else if err != nil {
		return err
	}
	if !slices.Equal(dv.GPT2IDs, mv.GPT2IDs) {
		n := 0
		for i := range min(len(dv.GPT2IDs), len(mv.GPT2IDs)) {
			if dv.GPT2IDs[i] != mv.GPT2IDs[i] {
				n++
			}
		}
		return fmt.Errorf("%s: its vocabulary %s (%d ids) differs from the model's %s (%d ids; %d shared compact ids stand for other tokens), so its ids would be mistranslated",
			what, dataVocab, len(dv.GPT2IDs), modelVocab, len(mv.GPT2IDs), n)
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// protectedFiles are what checkpoints and corpora are made of: an output flag never
// overwrites them.
var protectedFiles = map[string]bool{checkpoint.ModelFile: true, checkpoint.MetaFile: true, corpus.VocabFile: true,
	corpus.StatsFile: true, "metrics.jsonl": true}

// outputFile checks the value of a flag naming a file to write (--report, --cpuprofile): not a
// directory, and not a file of a checkpoint or corpus.
func outputFile(flagName, p string) error {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("--%s: %w", flagName, err)
	}
	base := filepath.Base(p)
	switch {
	case st.IsDir():
		return fmt.Errorf("--%s %s is a directory: pass a file name", flagName, p)
	case protectedFiles[base] || strings.HasSuffix(base, ".bin") || strings.HasSuffix(base, ".safetensors"):
		return fmt.Errorf("--%s %s is part of a checkpoint or corpus: choose another file name", flagName, p)
	}
	return nil
}
