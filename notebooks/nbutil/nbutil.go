// Package nbutil locates the nanoscope checkout from a notebook and builds, on demand, the
// corpus and the cpu-preset checkpoint the notebooks read.
//
// GoNB runs every cell as a fresh process whose working directory is the notebook's directory,
// so notebooks share results through files, found relative to the repository root ([Root]).
// [EnsureCorpus] and [EnsureCPUModel] reuse what `make corpus` and `make train-cpu` (or an
// earlier notebook) left there, and produce it the same way when it is missing.
package nbutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/janpfeifer/gonb/gonbui"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/metrics"
)

// Paths (relative to the repository root) and settings shared with the Makefile's corpus and
// train-cpu targets; keep the two in step.
const (
	CorpusDir   = "data/rust" // `nanoscope corpus --out data/rust --vocab 2048`
	CorpusVocab = 2048        // compact vocabulary of the cpu preset
	CPUModelDir = "out/cpu"   // `nanoscope train --preset cpu --data data/rust --out out/cpu`
	PlotsDir    = "out/plots" // figures, as NAME.png and NAME.svg
	BinPath     = "bin/nanoscope"
)

var moduleRE = regexp.MustCompile(`(?m)^module\s+nanoscope\s*$`)

// Root returns the repository root: $NANOSCOPE_ROOT when set, else searching upwards from
// $GONB_DIR (the notebook's directory under GoNB) or, when that is unset, from the working
// directory, else the checkout GoNB's scratch module was pointed at (findRoot, paths.go).
func Root() (string, error) {
	start := os.Getenv("GONB_DIR")
	if start == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("nbutil: %w", err)
		}
		start = wd
	}
	return findRoot(start)
}

// RootFrom returns the first directory at or above dir whose go.mod declares module nanoscope.
func RootFrom(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("nbutil: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && moduleRE.Match(b) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("nbutil: no go.mod declaring module nanoscope at or above %s", dir)
		}
	}
}

// Flush waits until the GoNB kernel has taken everything the cell sent for display (tables,
// figures, Markdown): GoNB (seen with v0.11.1; the wait stays with v0.11.4) stops reading a
// cell's display pipe when the program exits, and output sent just before the exit is
// otherwise lost at random. Cells need not call it,
// since nbdisplay waits the same way after every output; it is for output sent through gonbui
// directly. Outside a notebook it does nothing.
func Flush() { gonbui.Sync() }

// Must returns v, or panics with err: in a notebook cell a panic is a cell error, which stops
// `jupyter nbconvert --execute`.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Must2 returns a and b, or panics with err, like Must for functions of two results:
// tied, untied := nbutil.Must2(nbutil.TiedAndUntied(root)).
func Must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// EnsureCorpus returns the statistics of the corpus in root/CorpusDir, building it first (with
// the default source tree and CorpusVocab, as `make corpus` does) when stats.json is missing or
// describes another compact vocabulary size. built tells whether it was built now.
func EnsureCorpus(root string, progress io.Writer) (st corpus.Stats, built bool, err error) {
	dir := filepath.Join(root, CorpusDir)
	st, err = corpus.LoadStats(filepath.Join(dir, corpus.StatsFile))
	if err == nil && st.Compact.VocabSize == CorpusVocab {
		return st, false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, false, err
	}
	src, lang, err := corpus.DefaultSource()
	if err != nil {
		return st, false, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "building the corpus: %s (%s) -> %s, compact vocab %d\n", src, lang, dir, CorpusVocab)
	}
	st, err = corpus.Build(corpus.Options{Src: src, Out: dir, Lang: lang, Vocab: CorpusVocab})
	if err != nil {
		return st, false, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "corpus built in %s\n", st.Elapsed.Round(time.Millisecond))
	}
	return st, true, nil
}

// EnsureCPUModel makes sure root/CPUModelDir holds a cpu-preset checkpoint, training one when
// its meta.json is missing: it builds bin/nanoscope and runs
// `nanoscope train --preset cpu --data data/rust --out out/cpu` in root, with the command's
// output going to progress. It returns the checkpoint's meta.json and whether it trained now.
func EnsureCPUModel(root string, progress io.Writer) (meta checkpoint.Meta, trained bool, err error) {
	return EnsureVariantRun(root, CPUModelDir, progress)
}

func shellJoin(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}

// ReadMetrics reads a metrics.jsonl file written by train.Run (metrics.Read).
func ReadMetrics(path string) ([]metrics.Record, error) { return metrics.Read(path) }

// MetaFloat returns the number stored under key among meta.json's extra fields (e.g. "val_ce",
// "unigram_xent_val", "tokens_per_s").
func MetaFloat(meta checkpoint.Meta, key string) (float64, error) {
	raw, ok := meta.Extra[key]
	if !ok {
		return 0, fmt.Errorf("meta.json has no %q", key)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("meta.json %q: %w", key, err)
	}
	return v, nil
}
