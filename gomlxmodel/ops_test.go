package gomlxmodel

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// run1 executes a one-input graph function on the configured backend and returns float64s.
func run1(t *testing.T, fn func(x *graph.Node) *graph.Node, x any) []float64 {
	t.Helper()
	b, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	e, err := graph.NewExec(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	switch d := out[0].Value().(type) {
	default:
		_ = d
	}
	f32, err := tensors.CopyFlatData[float32](out[0])
	if err == nil {
		r := make([]float64, len(f32))
		for i, v := range f32 {
			r[i] = float64(v)
		}
		return r
	}
	f64, err := tensors.CopyFlatData[float64](out[0])
	if err != nil {
		t.Fatal(err)
	}
	return f64
}

// evalRoPE rotates one head vector x at position pos of a sequence of length seqLen.
func evalRoPE(t *testing.T, x []float64, seqLen, pos int, theta float64) []float64 {
	return evalRoPELayout(t, x, seqLen, pos, theta, "halves")
}

func evalRoPELayout(t *testing.T, x []float64, seqLen, pos int, theta float64, layout string) []float64 {
	hd := len(x)
	in := make([]float64, seqLen*hd)
	copy(in[pos*hd:], x)
	out := run1(t, func(n *graph.Node) *graph.Node {
		return ApplyRoPELayout(graph.Reshape(n, 1, seqLen, 1, hd), theta, layout)
	}, tensors.FromFlatDataAndDimensions(in, seqLen*hd))
	return out[pos*hd : (pos+1)*hd]
}

// The kernel switches take "simplego" or nothing: any other value is refused, naming the
// variable, instead of silently keeping the default kernels.
func TestKernelEnvRefusesUnknownValues(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"NANOSCOPE_MATMUL", "bogus", `NANOSCOPE_MATMUL="bogus"`},
		{"NANOSCOPE_FASTOPS", "openblas", `NANOSCOPE_FASTOPS="openblas"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := newGoBackend("parallelism=-1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newGoBackend with %s=%s: error %v, want one naming %s", tc.env, tc.value, err, tc.want)
			}
		})
	}
}
