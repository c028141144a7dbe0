// Package blasdot hands the float32 matrix products of GoMLX's pure-Go backend (simplego) to
// OpenBLAS's cblas_sgemm.
//
// Why it exists: GoMLX v0.26.0 (the newest version the Go module proxy serves) multiplies
// matrices in simplego with a scalar Go kernel that runs at 5–10 GFLOP/s on this project's two
// cores, where OpenBLAS reaches 45–150; two thirds of a training step were spent there
// (bench/RESULTS.md). Install replaces simplego's DotGeneral executor with one that computes every
// float32 DotGeneral whose operands can be read as (batches of) strided matrices — the layouts
// of the model's linears, attention's batched products, their gradients and Newton–Schulz — with
// one cblas_sgemm per batch element, writing simplego's own output layout [batch, lhsCross,
// rhsCross]. Every other dtype or layout goes to simplego's original executor.
//
// GoMLX internals it relies on (all of GoMLX v0.26.0's backends/simplego, pinned in go.mod):
//   - through gomlxmodel/internal/sgohook: the unexported executor table nodeExecutors and the
//     buffer pool's (*Backend).getBufferForShape, reached with //go:linkname pulls, and the
//     unexported fields Node.shape, Node.data, Buffer.shape, Buffer.flat;
//   - the fields of the DotGeneral node data (lhsContractingAxes, lhsBatchAxes,
//     rhsContractingAxes, rhsBatchAxes, batchSize), read at offsets checked by name and type
//     through reflect. If GoMLX changes any of them, Install refuses, simplego's kernel stays
//     in effect, and InEffect says why.
//
// OpenBLAS runs single-threaded unless OPENBLAS_NUM_THREADS is set: simplego already runs
// independent ops on both cores, and OpenBLAS's spinning threads fight its goroutines
// (bench/RESULTS.md has the measurement). Results are deterministic: the same shapes take the same
// OpenBLAS kernel with the same summation order on every run.
//
// Build with the tag noblas (or with CGO_ENABLED=0) for a pure-Go binary without it; InEffect
// then names simplego's kernel.
//
// When to delete it: when the project moves to a GoMLX version whose simplego has fast matrix
// kernels of its own (upstream added SIMD kernels after v0.26.0), or to an XLA CPU plugin.
package blasdot

import (
	"os"
	"sync/atomic"
)

// DisableEnv, set to "simplego" in the environment, keeps simplego's own kernel in effect
// (Install does nothing): used by bench/ to time both kernels with the same binary.
const DisableEnv = "NANOSCOPE_MATMUL"

func disabledByEnv() bool { return os.Getenv(DisableEnv) == "simplego" }

// Stats counts the DotGenerals executed since the start of the process: by OpenBLAS, and left
// to simplego (another dtype, or a layout sgemm cannot read without a copy).
var Stats struct{ BLAS, Simplego atomic.Int64 }
