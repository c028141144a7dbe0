package gomlxmodel

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestQuantizedInputOnce: BitLinears reading the same input share one quantiser node, and the
// shared node computes what a quantiser of its own would.
func TestQuantizedInputOnce(t *testing.T) {
	x := tensors.FromValue([][]float32{{2.5, -2.5, 0.5, 127, -1.5}, {0.5, 0.25, 0, 0, 0}})
	got := run1(t, func(x *graph.Node) *graph.Node {
		a, b := QuantizedInput(x), QuantizedInput(x)
		if a != b {
			t.Errorf("two quantisers built for one input")
		}
		y := graph.Neg(x)
		if QuantizedInput(y) == a {
			t.Errorf("another input got the first input's quantiser")
		}
		return graph.Sub(a, straightThrough(x, Int8Activations(x))) // shared vs own: 0
	}, x)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("element %d: shared quantiser differs from its own by %g", i, v)
		}
	}
}
