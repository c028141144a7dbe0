// Package sgohook gives nanoscope's CPU kernels (gomlxmodel/blasdot, gomlxmodel/fastops) access
// to the internals of GoMLX v0.26.0's pure-Go backend (backends/simplego) that they replace or
// read: the op executor table, the buffer pool, and the unexported fields of nodes and buffers.
//
// All of it is unexported in GoMLX and pinned to v0.26.0 (go.mod): the table and the pool method
// are reached with //go:linkname pulls, the fields at offsets that Check verifies by name and type
// through reflect. When GoMLX changes them, Check returns an error and the callers leave
// simplego's own kernels in place. Delete this package together with its callers.
package sgohook

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Executor is the type of simplego's nodeExecutor: it returns the node's output buffer, which
// may be one of the owned inputs (set inputs[i] to nil then).
type Executor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error)

//go:linkname nodeExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var nodeExecutors [backends.OpTypeLast]Executor

//go:linkname getBufferForShape github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferForShape
func getBufferForShape(b *simplego.Backend, shape shapes.Shape) *simplego.Buffer

var (
	checkOnce                                          sync.Once
	checkErr                                           error
	offNodeShape, offNodeData, offBufShape, offBufFlat uintptr
	offNodeOpType                                      uintptr
)

// Check verifies the unexported fields this package reads; nil means the accessors are safe.
func Check() error {
	checkOnce.Do(func() {
		node, buf := reflect.TypeFor[simplego.Node](), reflect.TypeFor[simplego.Buffer]()
		shapeType, anyType := reflect.TypeFor[shapes.Shape](), reflect.TypeFor[any]()
		for _, f := range []struct {
			off  *uintptr
			t    reflect.Type
			name string
			want reflect.Type
		}{
			{&offNodeShape, node, "shape", shapeType},
			{&offNodeOpType, node, "opType", reflect.TypeFor[backends.OpType]()},
			{&offNodeData, node, "data", anyType},
			{&offBufShape, buf, "shape", shapeType},
			{&offBufFlat, buf, "flat", anyType},
		} {
			if *f.off, checkErr = FieldOffset(f.t, f.name, f.want); checkErr != nil {
				return
			}
		}
	})
	return checkErr
}

// FieldOffset returns the offset of the named field of struct type t, checking its type.
func FieldOffset(t reflect.Type, name string, want reflect.Type) (uintptr, error) {
	f, ok := t.FieldByName(name)
	if !ok || f.Type != want {
		return 0, fmt.Errorf("GoMLX's %s.%s is not a %s (written for GoMLX v0.26.0)", t, name, want)
	}
	return f.Offset, nil
}

// Replace installs exec as the executor of op and returns the one it replaces (nil when simplego
// has none). Call it before any graph executes (it is not synchronised with execution).
func Replace(op backends.OpType, exec Executor) (previous Executor) {
	previous = nodeExecutors[op]
	nodeExecutors[op] = exec
	return previous
}

// NodeShape is the node's output shape. Check must have returned nil.
func NodeShape(n *simplego.Node) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(n), offNodeShape))
}

// NodeOpType is the node's op type.
func NodeOpType(n *simplego.Node) backends.OpType {
	return *(*backends.OpType)(unsafe.Add(unsafe.Pointer(n), offNodeOpType))
}

// NodeData is the node's op-specific data (e.g. the reduced axes of a reduction).
func NodeData(n *simplego.Node) any { return *(*any)(unsafe.Add(unsafe.Pointer(n), offNodeData)) }

// BufferShape is the buffer's shape.
func BufferShape(b *simplego.Buffer) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(b), offBufShape))
}

// BufferFlat is the buffer's flat data, a slice of its dtype's Go type.
func BufferFlat(b *simplego.Buffer) any { return *(*any)(unsafe.Add(unsafe.Pointer(b), offBufFlat)) }

// NewBuffer takes a buffer of the given shape from the backend's pool (its contents are not
// zeroed), or returns nil when the backend is finalized.
func NewBuffer(b *simplego.Backend, shape shapes.Shape) *simplego.Buffer {
	return getBufferForShape(b, shape)
}
