package main

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
)

// The op profiler (--op-profile) wraps every entry of the Go backend's executor table (the
// internals of github.com/gomlx/compute v0.1.2's internal/gobackend, as gomlxmodel/blasdot reads
// them) with a timer, and reports the time spent per op type and output shape: the non-matmul
// costs that a CPU profile shows only as generic iterators.

// opBackend, opNode and opBuffer stand for internal/gobackend's Backend, Node and Buffer (only
// pointers to them are handled).
type (
	opBackend struct{ _ [0]byte }
	opNode    struct{ _ [0]byte }
	opBuffer  struct{ _ [0]byte }
)

type opExecutor func(*opBackend, *opNode, []*opBuffer, []bool) (*opBuffer, error)

//go:linkname opExecutors github.com/gomlx/compute/internal/gobackend.nodeExecutors
var opExecutors [compute.OpTypeLast]opExecutor

type opKey struct {
	op    compute.OpType
	shape string
}

type opStat struct {
	n  int
	ns int64
}

var opProf struct {
	sync.Mutex
	stats map[opKey]*opStat
	on    bool
}

// bufferShapeOffset finds the offset of the Go backend's Buffer.RawShape through the result
// type of (*Backend).GetBuffer; ok is false when it is not there.
func bufferShapeOffset() (uintptr, bool) {
	b, err := gobackend.New("")
	if err != nil {
		return 0, false
	}
	defer b.Finalize()
	m, ok := reflect.TypeOf(b).MethodByName("GetBuffer")
	if !ok || m.Type.NumOut() != 2 || m.Type.Out(0).Kind() != reflect.Pointer || m.Type.Out(0).Elem().Kind() != reflect.Struct {
		return 0, false
	}
	f, ok := m.Type.Out(0).Elem().FieldByName("RawShape")
	if !ok || f.Type != reflect.TypeFor[shapes.Shape]() {
		return 0, false
	}
	return f.Offset, true
}

// startOpProfile wraps the executor table; call between steps (no graph executing).
func startOpProfile() {
	offShape, ok := bufferShapeOffset()
	if !ok {
		return
	}
	opProf.stats = map[opKey]*opStat{}
	opProf.on = true
	for i := range opExecutors {
		orig := opExecutors[i]
		if orig == nil {
			continue
		}
		op := compute.OpType(i)
		opExecutors[i] = func(b *opBackend, n *opNode, in []*opBuffer, owned []bool) (*opBuffer, error) {
			t0 := time.Now()
			out, err := orig(b, n, in, owned)
			d := time.Since(t0).Nanoseconds()
			var s string
			if out != nil {
				s = (*shapes.Shape)(unsafe.Add(unsafe.Pointer(out), offShape)).String()
			}
			opProf.Lock()
			st := opProf.stats[opKey{op, s}]
			if st == nil {
				st = &opStat{}
				opProf.stats[opKey{op, s}] = st
			}
			st.n++
			st.ns += d
			opProf.Unlock()
			return out, err
		}
	}
}

// writeOpProfile prints the top entries per op type and per (op type, shape), per step.
func writeOpProfile(w io.Writer, steps int) {
	opProf.Lock()
	defer opProf.Unlock()
	if !opProf.on || steps == 0 {
		return
	}
	byOp := map[compute.OpType]*opStat{}
	var total int64
	type row struct {
		k opKey
		s *opStat
	}
	var rows []row
	for k, s := range opProf.stats {
		o := byOp[k.op]
		if o == nil {
			o = &opStat{}
			byOp[k.op] = o
		}
		o.n += s.n
		o.ns += s.ns
		total += s.ns
		rows = append(rows, row{k, s})
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 / float64(steps) }
	fmt.Fprintf(w, "op profile: %.1f ms of op time per step (summed over goroutines)\n", ms(total))
	var ops []compute.OpType
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return byOp[ops[i]].ns > byOp[ops[j]].ns })
	for _, op := range ops {
		fmt.Fprintf(w, "  %-22s %7.2f ms/step %5.1f%%  %5d calls/step\n", op, ms(byOp[op].ns), 100*float64(byOp[op].ns)/float64(total), byOp[op].n/steps)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].s.ns > rows[j].s.ns })
	fmt.Fprintf(w, "top (op, output shape):\n")
	for _, r := range rows[:min(40, len(rows))] {
		fmt.Fprintf(w, "  %-22s %-28s %7.2f ms/step  %4d calls/step\n", r.k.op, r.k.shape, ms(r.s.ns), r.s.n/steps)
	}
}
