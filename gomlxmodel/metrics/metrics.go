// Package metrics is the format of a training run's metrics.jsonl: one Record per line, written
// by the trainer (Writer) and read back by the instruments (Read), so that neither needs the
// other.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"nanoscope/gomlxmodel/tokenfile"
)

// File is the name of the metrics file in a run's output directory.
const File = "metrics.jsonl"

// Kinds of record.
const (
	KindTrain = "train" // one training step
	KindEval  = "eval"  // one validation pass
)

// Record is one line of metrics.jsonl. Parameters and activations are named as in the
// checkpoint (gomlxmodel/names.go).
type Record struct {
	Kind      string             `json:"kind"` // KindTrain or KindEval
	Step      int                `json:"step"`
	Loss      float64            `json:"loss,omitempty"` // the optimised objective (label-smoothed)
	CE        float64            `json:"ce,omitempty"`   // plain cross-entropy
	LR        float64            `json:"lr,omitempty"`
	GradNorm  float64            `json:"grad_norm,omitempty"`
	GradNorms map[string]float64 `json:"grad_norms,omitempty"`
	// UpdateRatios is ‖w_new − w‖ / ‖w‖ of this step's optimizer update, per parameter.
	UpdateRatios map[string]float64 `json:"update_ratios,omitempty"`
	ActNorms     map[string]float64 `json:"act_norms,omitempty"`
	Alphas       map[string]float64 `json:"alphas,omitempty"`
	TokensPerSec float64            `json:"tokens_per_s,omitempty"`
	ElapsedS     float64            `json:"elapsed_s"`
	ValCE        *float64           `json:"val_ce,omitempty"`
	ValAcc       *float64           `json:"val_acc,omitempty"`
	ValCopy      *float64           `json:"val_copy,omitempty"`
}

// Writer appends records to a metrics file, one complete line per write, so that a killed
// run leaves at most a torn last line (which Truncate drops on resume).
type Writer struct {
	f   *os.File
	enc *json.Encoder
}

// Append opens path for appending records, creating it when missing.
func Append(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, enc: json.NewEncoder(f)}, nil
}

// Write appends r as one line.
func (w *Writer) Write(r Record) error {
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("%s: %w", w.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// Truncate keeps the records of the metrics file at path up to step, dropping later steps and
// a torn line (a resumed run rewrites the steps after its checkpoint). The file is replaced
// atomically; a missing file is not an error.
func Truncate(path string, step int) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var keep []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		var m struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(line, &m) != nil || m.Step > step {
			continue // a torn last line from a kill, or a step after the checkpoint
		}
		keep = append(keep, line...)
	}
	return tokenfile.WriteAtomic(path, func(w *bufio.Writer) error { _, err := w.Write(keep); return err })
}

// Read reads the metrics file at path: one Record per line, blank lines skipped. A malformed
// line is an error naming the file and the line number.
func Read(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode reads records from r as Read does; name is the file name errors give.
func Decode(r io.Reader, name string) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m Record
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Run is a metrics file split by kind, each in file order.
type Run struct {
	Train []Record // KindTrain
	Eval  []Record // KindEval
}

// Split returns the training and validation records of rs.
func Split(rs []Record) Run {
	var run Run
	for _, r := range rs {
		switch r.Kind {
		case KindTrain:
			run.Train = append(run.Train, r)
		case KindEval:
			run.Eval = append(run.Eval, r)
		}
	}
	return run
}
