package main

import (
	"io"
	"os"
	"runtime/debug"

	"nanoscope/gomlxmodel"
)

// memoryPerWeight is the soft memory limit per byte of float32 weights: the loaded copy, the
// backend's copy, one copy of gradients, and as much again for one batch's activations and
// the garbage between collections.
const memoryPerWeight = 5

// limitMemory sets the Go runtime's soft memory limit (runtime/debug.SetMemoryLimit) to
// memoryPerWeight times the weights' bytes, at least 1 GiB, unless GOMEMLIMIT is set. Go's
// default pacing lets the heap grow to twice what is live before collecting, and the backend
// allocates a fresh buffer for every intermediate array, so without a limit a GPT-2-small-size
// diagnosis peaked at 8.6 GB resident for 3.1 GB live (bench/diagnose.sh).
func limitMemory(p gomlxmodel.Params) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	var n int64
	for _, t := range p {
		n += 4 * int64(len(t.Data))
	}
	debug.SetMemoryLimit(max(1<<30, memoryPerWeight*n))
}

// terminal returns f when it is a terminal and nil otherwise: progress lines are for a person
// watching, and a failure printed to a pipe stays one line.
func terminal(f *os.File) io.Writer {
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return f
	}
	return nil
}
