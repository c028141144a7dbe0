package gomlxmodel

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// DefaultBackend is the backend used when GOMLX_BACKEND is unset: the pure-Go backend with
// unlimited goroutines. GoMLX v0.26.0's default parallelism deadlocked a training step here
// (REFERENCE.md §4), and leaving the choice to GoMLX would make it try to download an XLA CPU
// plugin from the internet.
const DefaultBackend = "go:parallelism=-1"

var backendOnce struct {
	sync.Mutex
	cache map[string]backends.Backend
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
func NewBackend() (backends.Backend, error) {
	cfg := BackendConfig()
	backendOnce.Lock()
	defer backendOnce.Unlock()
	if b, ok := backendOnce.cache[cfg]; ok {
		return b, nil
	}
	name, opts, _ := strings.Cut(cfg, ":")
	var (
		b   backends.Backend
		err error
	)
	switch name {
	case "go":
		b, err = newSimpleGo(opts)
	case "xla":
		b, err = newXLA(opts)
	default:
		err = fmt.Errorf("GOMLX_BACKEND=%q: unknown backend %q (want go:... or xla:...)", cfg, name)
	}
	if err != nil {
		return nil, err
	}
	if backendOnce.cache == nil {
		backendOnce.cache = map[string]backends.Backend{}
	}
	backendOnce.cache[cfg] = b
	return b, nil
}

// newSimpleGo builds the pure-Go backend. simplego.New prints its parallelism setting on
// stdout, which would corrupt the JSON our commands print there, so stdout is redirected to
// stderr for the duration of the call.
func newSimpleGo(opts string) (backends.Backend, error) {
	stdout := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = stdout }()
	b, err := simplego.New(opts)
	if err != nil {
		return nil, fmt.Errorf("GOMLX_BACKEND go:%s: %w", opts, err)
	}
	return b, nil
}
