package analysis

import (
	"math"

	"nanoscope/gomlxmodel/metrics"
)

// ReadMetrics reads a metrics.jsonl written by train.Run (metrics.Read): one metrics.Record
// per line. A malformed line is an error naming the file and its line number.
func ReadMetrics(path string) ([]metrics.Record, error) {
	return metrics.Read(path)
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

// trainSteps returns the training records.
func trainSteps(ms []metrics.Record) []metrics.Record { return metrics.Split(ms).Train }
