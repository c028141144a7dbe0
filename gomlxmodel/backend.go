package gomlxmodel

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"

	"nanoscope/gomlxmodel/blasdot"
	"nanoscope/gomlxmodel/fastops"
)

// DefaultBackend is the backend used when GOMLX_BACKEND is unset: the pure-Go backend
// (github.com/gomlx/compute/gobackend) with unlimited goroutines. GoMLX v0.26.0's default
// parallelism deadlocked a training step here (REFERENCE.md §4), and leaving the choice to GoMLX
// would make it try to download an XLA CPU plugin from the internet.
const DefaultBackend = "go:parallelism=-1"

var backendOnce struct {
	sync.Mutex
	cache map[string]compute.Backend
}

// BackendConfig returns the backend configuration in effect: GOMLX_BACKEND, else DefaultBackend.
func BackendConfig() string {
	if v := strings.TrimSpace(os.Getenv("GOMLX_BACKEND")); v != "" {
		return v
	}
	return DefaultBackend
}

// NewBackend returns the backend named by BackendConfig, creating it once per process.
// It never lets GoMLX pick a backend on its own.
func NewBackend() (compute.Backend, error) {
	return NewBackendWith()
}

// NewBackendWith is NewBackend with extra plugin options appended to the xla backend's
// configuration (e.g. "tf32", see Precision.BackendOptions), one backend per distinct
// configuration. The go backend takes no options: they are an error there.
func NewBackendWith(xlaOptions ...string) (compute.Backend, error) {
	cfg := BackendConfig()
	if len(xlaOptions) > 0 {
		if name, _, _ := strings.Cut(cfg, ":"); name != "xla" {
			return nil, fmt.Errorf("backend options %q need the xla backend (GOMLX_BACKEND=%s)", xlaOptions, cfg)
		}
		cfg += "," + strings.Join(xlaOptions, ",")
	}
	backendOnce.Lock()
	defer backendOnce.Unlock()
	if b, ok := backendOnce.cache[cfg]; ok {
		return b, nil
	}
	name, opts, _ := strings.Cut(cfg, ":")
	var (
		b   compute.Backend
		err error
	)
	switch name {
	case "go":
		b, err = newGoBackend(opts)
	case "xla":
		b, err = newXLA(opts)
	default:
		err = fmt.Errorf("GOMLX_BACKEND=%q: unknown backend %q (want go:... or xla:...)", cfg, name)
	}
	if err != nil {
		return nil, err
	}
	if backendOnce.cache == nil {
		backendOnce.cache = map[string]compute.Backend{}
	}
	backendOnce.cache[cfg] = b
	return b, nil
}

// newGoBackend builds the pure-Go backend with its float32 matrix products computed by OpenBLAS
// (package blasdot) and its float32 reductions, broadcasts and transposes by strided loops
// (package fastops, bit-identical to the backend's own). Either one that cannot install (a
// github.com/gomlx/compute other than v0.1.2, whose internals they hook) leaves the backend's
// kernels in place; MatMulInEffect says which product runs and why. gobackend.New prints its
// parallelism setting on stdout ("Go backend: parallelism set to -1"), which would corrupt the JSON our commands print there and clutter every notebook
// cell, so stdout goes to /dev/null for the duration of the call; its errors are returned, and
// GoMLX logs to stderr.
func newGoBackend(opts string) (compute.Backend, error) {
	for _, env := range []string{blasdot.DisableEnv, fastops.DisableEnv} {
		if v := os.Getenv(env); v != "" && v != "simplego" {
			return nil, fmt.Errorf("%s=%q: the only value is simplego (the Go backend's own kernels); unset it for nanoscope's", env, v)
		}
	}
	_ = blasdot.Install()
	_ = fastops.Install()
	b, err := silenceStdout(func() (compute.Backend, error) { return gobackend.New(opts) })
	if err != nil {
		return nil, fmt.Errorf("GOMLX_BACKEND go:%s: %w", opts, err)
	}
	return b, nil
}

// XLAGPUDefaults are the XLA_FLAGS nanoscope adds when it opens a CUDA PJRT plugin, each only
// when XLA_FLAGS does not already set that flag, and none with NANOSCOPE_XLA_DEFAULTS=off.
// Measured on an H200, d20 training step at batch 32 × 256, fp32 (bench/run_compile_gpu.sh,
// bench/RESULTS.md):
//   - --xla_gpu_enable_command_buffer= (no CUDA-graph command buffers): 27.9 → 20.6 ms per step;
//   - --xla_gpu_enable_triton_gemm=false (matrix products by cuBLAS only, so XLA does not
//     compile and autotune Triton GEMM variants): compile before the first step 18.4 → 11.5 s,
//     its step 3% slower alone.
var XLAGPUDefaults = []string{"--xla_gpu_enable_command_buffer=", "--xla_gpu_enable_triton_gemm=false"}

// XLADefaultsEnv switches XLAGPUDefaults off (value "off"): XLA's own defaults then apply.
const XLADefaultsEnv = "NANOSCOPE_XLA_DEFAULTS"

// withXLADefaults returns the XLA_FLAGS value flags with each of defaults appended whose flag
// name (before "=") flags does not already set.
func withXLADefaults(flags string, defaults []string) string {
	set := map[string]bool{}
	for _, f := range strings.Fields(flags) {
		name, _, _ := strings.Cut(f, "=")
		set[name] = true
	}
	out := strings.Fields(flags)
	for _, d := range defaults {
		if name, _, _ := strings.Cut(d, "="); !set[name] {
			out = append(out, d)
		}
	}
	return strings.Join(out, " ")
}

// setXLAGPUDefaults adds XLAGPUDefaults to the process's XLA_FLAGS (read by the plugin when it
// starts) for a CUDA plugin, unless NANOSCOPE_XLA_DEFAULTS=off; any other value is an error.
func setXLAGPUDefaults(plugin string) error {
	switch v := os.Getenv(XLADefaultsEnv); v {
	case "off":
		return nil
	case "":
	default:
		return fmt.Errorf("%s=%q: the only value is off (XLA's own defaults); unset it for nanoscope's", XLADefaultsEnv, v)
	}
	if !strings.Contains(strings.ToLower(plugin), "cuda") {
		return nil
	}
	return os.Setenv("XLA_FLAGS", withXLADefaults(os.Getenv("XLA_FLAGS"), XLAGPUDefaults))
}

// MatMulInEffect names the matrix product of the backend in effect: for the go backend the
// kernel of float32 DotGenerals, e.g. "OpenBLAS 0.3.21 cblas_sgemm, Haswell kernel (1 thread)"
// or "Go backend's own kernel (noblas build)"; for the xla backend "XLA (<GOMLX_BACKEND>; XLA_FLAGS=<value>)".
func MatMulInEffect() string {
	if name, _, _ := strings.Cut(BackendConfig(), ":"); name != "go" {
		return "XLA (" + BackendConfig() + "; XLA_FLAGS=" + os.Getenv("XLA_FLAGS") + ")"
	}
	_ = blasdot.Install()
	return blasdot.InEffect()
}

// silenceStdout runs f with os.Stdout pointed at /dev/null.
func silenceStdout[T any](f func() (T, error)) (T, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return f()
	}
	defer null.Close()
	stdout := os.Stdout
	os.Stdout = null
	defer func() { os.Stdout = stdout }()
	return f()
}

// TraceEnv, set to 1, makes TraceGraph print one line to stderr per graph run: its label and
// the wall time of building, compiling and executing it (compilation dominates on XLA, where
// every distinct graph and shape is compiled once per Exec).
const TraceEnv = "NANOSCOPE_TRACE"

// TraceGraph starts timing one graph run labelled by format and args; call the function it
// returns when the run's outputs are back on the host. It does nothing unless NANOSCOPE_TRACE=1.
func TraceGraph(format string, args ...any) func() {
	if os.Getenv(TraceEnv) != "1" {
		return func() {}
	}
	start := time.Now()
	return func() {
		fmt.Fprintf(os.Stderr, "trace: %7.3f s  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}
