// Package fastops replaces the generic, iterator-driven float32 reductions, broadcasts and
// transposes of GoMLX's pure-Go backend (github.com/gomlx/compute/gobackend v0.1.2, GoMLX
// v0.28.2), and its branchy Abs and Sign, with strided, branch-free loops that compute
// bit-identical results; those loops, and Exp, run on two goroutines for large tensors (each
// output element is still computed by one goroutine in the backend's order).
//
// Why it exists: once the matrix products run in OpenBLAS (gomlxmodel/blasdot), most of a
// training step on the go backend is spent in ReduceSum, ReduceMax, BroadcastInDim, Transpose,
// Abs, Sign and broadcasting Add/Sub/Mul/Div (log-softmax over the vocabulary, RMSNorm, the
// 8-bit quantiser's per-token scales, attention's head transposes, the gradients of every
// broadcast), which the backend runs through per-element index iterators or mispredicted
// branches (bench/RESULTS.md, gobench --op-profile). The v0.28.2 backend did not change that:
// measured with bench/kernels_cpu.sh (2026-12-07, shared machine at load 3.4–6.3,
// bench/results/kernels-cpu-20261207.jsonl; OpenBLAS products in both), the cpu-preset step
// takes 150 ms (best) with the backend's own executors and 78 ms with these (CPU time 233 and
// 124 ms), the forward pass 119 and 46 ms: 1.9× and 2.6×, so they stay. (GOEXPERIMENT=simd
// changes only the backend's matrix products.)
//
// Install swaps their executors for loops over the collapsed strided layout, which visit the
// operand in the same flat order and apply the same float32 operations as the backend, so every
// result is bit-identical to the backend's (the tests compare bits; only a NaN's sign may
// differ). Other dtypes, the same-shape and scalar cases of the binary ops (already plain loops
// in the backend) and anything unexpected go to the backend's original executor.
//
// Internals it relies on: through gomlxmodel/internal/sgohook, compute v0.1.2's internal/gobackend
// executor table, buffer pool and the fields Node.Shape, Node.OpType, Node.Data,
// Buffer.RawShape and Buffer.Flat; and Node.Data being the reduced axes ([]int) of a reduction,
// the broadcast axes ([]int) of a BroadcastInDim and the permutation ([]int) of a Transpose.
// Install refuses (the backend's executors stay) when the fields differ.
//
// When to delete it: when the Go backend's own reductions, broadcasts and transposes match these
// on the cpu-preset step (bench/kernels_cpu.sh), or the project moves to an XLA CPU plugin.
package fastops

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"nanoscope/gomlxmodel/internal/sgohook"
)

// DisableEnv, set to "simplego" in the environment (the name of GoMLX v0.26.0's Go backend),
// keeps the Go backend's own executors (Install does
// nothing): used by bench/ to time both with the same binary.
const DisableEnv = "NANOSCOPE_FASTOPS"

var (
	installOnce sync.Once
	installErr  error
	installed   atomic.Bool
	enabled     atomic.Bool
	original    [compute.OpTypeLast]sgohook.Executor
)

// Install replaces the Go backend's float32 reduction, broadcast and broadcasting binary-op
// executors, once per process (every Go backend of the process is affected).
func Install() error {
	installOnce.Do(func() {
		if os.Getenv(DisableEnv) == "simplego" {
			return
		}
		if installErr = sgohook.Check(); installErr != nil {
			return
		}
		for op, exec := range map[compute.OpType]sgohook.Executor{
			compute.OpTypeReduceSum:      execReduce,
			compute.OpTypeReduceMax:      execReduce,
			compute.OpTypeBroadcastInDim: execBroadcastInDim,
			compute.OpTypeAdd:            execBinary,
			compute.OpTypeSub:            execBinary,
			compute.OpTypeMul:            execBinary,
			compute.OpTypeDiv:            execBinary,
			compute.OpTypeTranspose:      execTranspose,
			compute.OpTypeAbs:            execUnary,
			compute.OpTypeSign:           execUnary,
			compute.OpTypeExp:            execUnary,
		} {
			original[op] = sgohook.Replace(op, exec)
			if original[op] == nil { // the Go backend lacks it: put nothing in its place
				sgohook.Replace(op, nil)
			}
		}
		installed.Store(true)
		enabled.Store(true)
	})
	return installErr
}

// InEffect says whether the fast executors are installed.
func InEffect() bool { return enabled.Load() }

// SetEnabled switches between these executors (true) and the Go backend's (false) at run time, after
// Install; for tests and benchmarks.
func SetEnabled(on bool) { enabled.Store(on && installed.Load()) }

// rowMajor returns the row-major strides of dims.
func rowMajor(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// collapse drops the axes of size 1 and merges each axis into the previous one where every
// operand's strides allow it (previous stride == stride·dim, which includes two broadcast axes
// of stride 0), so that loops run over as few, as long, axes as possible. Iterating over the
// collapsed axes in row-major order visits the same elements in the same order as iterating
// over dims.
func collapse(dims []int, strides ...[]int) ([]int, [][]int) {
	outDims := make([]int, 0, len(dims))
	outStrides := make([][]int, len(strides))
	for a, d := range dims {
		if d == 1 {
			continue
		}
		last := len(outDims) - 1
		mergeable := last >= 0
		for i, s := range strides {
			if mergeable && outStrides[i][last] != s[a]*d {
				mergeable = false
			}
		}
		if mergeable {
			outDims[last] *= d
			for i, s := range strides {
				outStrides[i][last] = s[a]
			}
			continue
		}
		outDims = append(outDims, d)
		for i, s := range strides {
			outStrides[i] = append(outStrides[i], s[a])
		}
	}
	return outDims, outStrides
}

// isFloat32 reports whether every buffer holds float32.
func isFloat32(bufs ...*sgohook.Buffer) bool {
	for _, b := range bufs {
		if b == nil || sgohook.BufferShape(b).DType != dtypes.Float32 {
			return false
		}
	}
	return true
}

// forRows calls row(offsets...) for every row of the collapsed iteration space (all axes but
// the last), in row-major order, with each operand's offset of the row's first element. When
// parallel is set and the space has at least parallelMin elements, the rows are split in two
// halves run on two goroutines (each row is still computed by one goroutine, in order).
func forRows(dims []int, strides [][]int, parallel bool, row func(off []int)) {
	rows := 1
	for _, d := range dims[:max(len(dims)-1, 0)] {
		rows *= d
	}
	if !parallel || rows < 2 || rows*dims[len(dims)-1] < parallelMin {
		forRowRange(dims, strides, 0, rows, row)
		return
	}
	var wg sync.WaitGroup
	h := rows / 2
	wg.Go(func() { forRowRange(dims, strides, 0, h, row) })
	forRowRange(dims, strides, h, rows, row)
	wg.Wait()
}

// parallelMin is the size from which forRows splits the work over two goroutines.
const parallelMin = 1 << 17

// forRowRange calls row for rows [r0, r1) of the collapsed iteration space.
func forRowRange(dims []int, strides [][]int, r0, r1 int, row func(off []int)) {
	r := len(dims) - 1
	off := make([]int, len(strides))
	if r <= 0 {
		if r0 < r1 {
			row(off)
		}
		return
	}
	idx := make([]int, r)
	rem := r0
	for a := r - 1; a >= 0; a-- {
		idx[a] = rem % dims[a]
		rem /= dims[a]
		for i := range off {
			off[i] += idx[a] * strides[i][a]
		}
	}
	for n := r0; n < r1; n++ {
		row(off)
		for a := r - 1; a >= 0; a-- {
			idx[a]++
			for i := range off {
				off[i] += strides[i][a]
			}
			if idx[a] < dims[a] {
				break
			}
			for i := range off {
				off[i] -= strides[i][a] * dims[a]
			}
			idx[a] = 0
		}
	}
}
