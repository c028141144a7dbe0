// Package sgohook gives nanoscope's CPU kernels (gomlxmodel/blasdot, gomlxmodel/fastops) access
// to the internals of the Go backend of GoMLX v0.28.2 (github.com/gomlx/compute v0.1.2, package
// internal/gobackend behind compute/gobackend) that they replace or read: the op executor table,
// the buffer pool, and the fields of nodes and buffers.
//
// The backend's Backend, Node and Buffer types live in an internal package that nanoscope cannot
// import, so this package handles them as pointers to opaque stand-ins of the same names. The
// executor table and the pool method are reached with //go:linkname pulls; the fields (exported
// in compute, but not importable) at offsets that Check verifies by name and type through
// reflect on the real types, found from a backend's own methods. When compute changes them,
// Check returns an error and the callers leave the backend's own kernels in place. Delete this
// package together with its callers.
package sgohook

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
)

// Backend, Node and Buffer stand for compute/internal/gobackend's types of the same names: only
// pointers to them are handled, and their fields are read through the accessors below.
type (
	Backend struct{ _ [0]byte }
	Node    struct{ _ [0]byte }
	Buffer  struct{ _ [0]byte }
)

// Executor is the type of the Go backend's NodeExecutor: it returns the node's output buffer,
// which may be one of the owned inputs (set inputs[i] to nil then).
type Executor func(backend *Backend, node *Node, inputs []*Buffer, owned []bool) (*Buffer, error)

// gobackendPkg is the import path of the package whose internals this package reads.
const gobackendPkg = "github.com/gomlx/compute/internal/gobackend"

//go:linkname nodeExecutors github.com/gomlx/compute/internal/gobackend.nodeExecutors
var nodeExecutors [compute.OpTypeLast]Executor

//go:linkname getBuffer github.com/gomlx/compute/internal/gobackend.(*Backend).GetBuffer
func getBuffer(b *Backend, shape shapes.Shape) (*Buffer, error)

var (
	checkOnce                                          sync.Once
	checkErr                                           error
	offNodeShape, offNodeData, offBufShape, offBufFlat uintptr
	offNodeOpType                                      uintptr
	nodeType                                           reflect.Type
)

// Check verifies the types and fields this package reads; nil means the accessors are safe.
func Check() error {
	checkOnce.Do(func() { checkErr = check() })
	return checkErr
}

func check() error {
	b, err := gobackend.New("")
	if err != nil {
		return fmt.Errorf("the Go backend does not start: %w", err)
	}
	defer b.Finalize()
	backendPtr := reflect.TypeOf(b)
	if backendPtr.Kind() != reflect.Pointer || backendPtr.Elem().Name() != "Backend" || backendPtr.Elem().PkgPath() != gobackendPkg {
		return fmt.Errorf("the Go backend is a %s, not %s.Backend (written for compute v0.1.2)", backendPtr, gobackendPkg)
	}
	// GetBuffer: func(*Backend, shapes.Shape) (*Buffer, error).
	m, ok := backendPtr.MethodByName("GetBuffer")
	if !ok || m.Type.NumIn() != 2 || m.Type.In(1) != reflect.TypeFor[shapes.Shape]() || m.Type.NumOut() != 2 ||
		m.Type.Out(1) != reflect.TypeFor[error]() || m.Type.Out(0).Kind() != reflect.Pointer ||
		m.Type.Out(0).Elem().Name() != "Buffer" || m.Type.Out(0).Elem().PkgPath() != gobackendPkg {
		return fmt.Errorf("the Go backend has no (*Backend).GetBuffer(shapes.Shape) (*Buffer, error) (written for compute v0.1.2)")
	}
	buf := m.Type.Out(0).Elem()
	// The node type, from (*Function).GetOrCreateNode's result.
	fn := reflect.TypeOf(b.Builder("sgohook").Main())
	m, ok = fn.MethodByName("GetOrCreateNode")
	if !ok || m.Type.NumOut() < 1 || m.Type.Out(0).Kind() != reflect.Pointer || m.Type.Out(0).Elem().Name() != "Node" ||
		m.Type.Out(0).Elem().PkgPath() != gobackendPkg {
		return fmt.Errorf("the Go backend has no (*Function).GetOrCreateNode returning *Node (written for compute v0.1.2)")
	}
	node := m.Type.Out(0).Elem()
	shapeType, anyType := reflect.TypeFor[shapes.Shape](), reflect.TypeFor[any]()
	for _, f := range []struct {
		off  *uintptr
		t    reflect.Type
		name string
		want reflect.Type
	}{
		{&offNodeShape, node, "Shape", shapeType},
		{&offNodeOpType, node, "OpType", reflect.TypeFor[compute.OpType]()},
		{&offNodeData, node, "Data", anyType},
		{&offBufShape, buf, "RawShape", shapeType},
		{&offBufFlat, buf, "Flat", anyType},
	} {
		if *f.off, err = FieldOffset(f.t, f.name, f.want); err != nil {
			return err
		}
	}
	nodeType = node
	return nil
}

// FieldOffset returns the offset of the named field of struct type t, checking its type.
func FieldOffset(t reflect.Type, name string, want reflect.Type) (uintptr, error) {
	f, ok := t.FieldByName(name)
	if !ok || f.Type != want {
		return 0, fmt.Errorf("the Go backend's %s.%s is not a %s (written for compute v0.1.2)", t, name, want)
	}
	return f.Offset, nil
}

// PkgPath is the import path of the Go backend's internal package (where its node data types
// live); valid after Check returned nil.
func PkgPath() string { return nodeType.PkgPath() }

// Replace installs exec as the executor of op and returns the one it replaces (nil when the
// backend has none). Call it before any graph executes (it is not synchronised with execution).
func Replace(op compute.OpType, exec Executor) (previous Executor) {
	previous = nodeExecutors[op]
	nodeExecutors[op] = exec
	return previous
}

// NodeShape is the node's output shape. Check must have returned nil.
func NodeShape(n *Node) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(n), offNodeShape))
}

// NodeOpType is the node's op type.
func NodeOpType(n *Node) compute.OpType {
	return *(*compute.OpType)(unsafe.Add(unsafe.Pointer(n), offNodeOpType))
}

// NodeData is the node's op-specific data (e.g. the reduced axes of a reduction).
func NodeData(n *Node) any { return *(*any)(unsafe.Add(unsafe.Pointer(n), offNodeData)) }

// BufferShape is the buffer's shape.
func BufferShape(b *Buffer) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(b), offBufShape))
}

// BufferFlat is the buffer's flat data, a slice of its dtype's Go type.
func BufferFlat(b *Buffer) any { return *(*any)(unsafe.Add(unsafe.Pointer(b), offBufFlat)) }

// NewBuffer takes a buffer of the given shape from the backend's pool (its contents are not
// zeroed), or returns nil when the backend is finalized.
func NewBuffer(b *Backend, shape shapes.Shape) *Buffer {
	buf, err := getBuffer(b, shape)
	if err != nil {
		return nil
	}
	return buf
}
