package analysis

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"nanoscope/gomlxmodel/train"
)

// ReadMetrics reads a metrics.jsonl written by train.Run: one train.StepMetrics per line.
// A malformed line is an error naming its line number.
func ReadMetrics(path string) ([]train.StepMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []train.StepMetrics
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m train.StepMetrics
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Series is one quantity over the logged training steps.
type Series struct {
	Name   string    `json:"name"`
	First  float64   `json:"first"`
	Last   float64   `json:"last"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values,omitempty"` // one per step of the enclosing result's Steps
}

func newSeries(name string, values []float64) Series {
	s := Series{Name: name, Values: values, Min: math.Inf(1), Max: math.Inf(-1)}
	if len(values) == 0 {
		return Series{Name: name}
	}
	s.First, s.Last = values[0], values[len(values)-1]
	for _, v := range values {
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	return s
}

// trainSteps returns the kind=="train" lines.
func trainSteps(ms []train.StepMetrics) []train.StepMetrics {
	var out []train.StepMetrics
	for _, m := range ms {
		if m.Kind == "train" {
			out = append(out, m)
		}
	}
	return out
}
