// Package blasdot hands the float32 matrix products of GoMLX's pure-Go backend
// (github.com/gomlx/compute/gobackend v0.1.2, GoMLX v0.28.2) to OpenBLAS's cblas_sgemm.
//
// Why it exists: the Go backend multiplies float32 matrices far slower than OpenBLAS on this
// project's two cores. Measured with bench/kernels_cpu.sh (2026-12-07, shared machine at load
// 3.4–6.3, bench/results/kernels-cpu-20261207.jsonl; best of 7 products x·wᵀ, GFLOP/s):
//
//	M×K×N            Go backend  Go backend, GOEXPERIMENT=simd  OpenBLAS  ratio (simd)  ratio (plain)
//	1024×64×2048        7.8              66.5                     87.0       1.3×          11×
//	1024×2048×64        8.2              69.4                    137.2       2.0×          17×
//	1024×64×128         3.2              44.9                     66.2       1.5×          21×
//	1024×128×64         4.4              23.2                     96.8       4.2×          22×
//	1024×256×50257      8.9             120.4                    156.4       1.3×          18×
//
// and the cpu-preset training step (fastops off in all three; best step, ms): 343 with the Go
// backend's kernel as `go build` makes it, 180 with GOEXPERIMENT=simd, 150 with OpenBLAS (CPU
// time per step 628, 278 and 233 ms). OpenBLAS is faster on every shape, so the hook stays.
//
// Install replaces the Go backend's DotGeneral executor with one that computes every float32
// DotGeneral whose operands can be read as (batches of) strided matrices with one cblas_sgemm
// per batch element, writing the backend's own output layout [batch, lhsCross, rhsCross]. The
// v0.28.2 backend already transposes, at graph build, any operand whose layout its kernels
// cannot read, so in practice every float32 product of the model, its gradients and
// Newton–Schulz reaches OpenBLAS. Every other dtype goes to the backend's original executor.
//
// Internals it relies on (github.com/gomlx/compute v0.1.2's internal/gobackend, pinned in go.mod):
//   - through gomlxmodel/internal/sgohook: the unexported executor table nodeExecutors and the
//     buffer pool's (*Backend).GetBuffer, reached with //go:linkname pulls, and the fields
//     Node.Shape, Node.OpType, Node.Data, Buffer.RawShape, Buffer.Flat of the internal types;
//   - the fields of the DotGeneral node data (dot.NodeData: LHSContractingAxes, LHSBatchAxes,
//     RHSContractingAxes, RHSBatchAxes, BatchSize), read at offsets checked by name and type
//     through reflect. If compute changes any of them, Install refuses, the backend's own
//     kernel stays in effect, and InEffect (`nanoscope version`, notebook 00) says why.
//
// OpenBLAS runs single-threaded unless OPENBLAS_NUM_THREADS is set: the Go backend already runs
// independent ops on both cores, and OpenBLAS's spinning threads fight its goroutines
// (bench/RESULTS.md has the measurement). Results are deterministic: the same shapes take the same
// OpenBLAS kernel with the same summation order on every run.
//
// Build with the tag noblas (or with CGO_ENABLED=0) for a pure-Go binary without it; InEffect
// then names the Go backend's own kernel.
//
// When to delete it: when the Go backend's own kernel (with SIMD by default) matches OpenBLAS on
// the shapes above, or the project moves to an XLA CPU plugin.
package blasdot

import (
	"os"
	"sync/atomic"
)

// DisableEnv, set to "simplego" in the environment (the name of GoMLX v0.26.0's Go backend),
// keeps the Go backend's own kernel in effect
// (Install does nothing): used by bench/ to time both kernels with the same binary.
const DisableEnv = "NANOSCOPE_MATMUL"

func disabledByEnv() bool { return os.Getenv(DisableEnv) == "simplego" }

// Stats counts the DotGenerals executed since the start of the process: by OpenBLAS, and left
// to the Go backend (another dtype, or a layout sgemm cannot read without a copy).
var Stats struct{ BLAS, Simplego atomic.Int64 }
