package main

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The op profiler (--op-profile) wraps every entry of simplego's executor table (GoMLX v0.26.0
// internals, as gomlxmodel/blasdot does) with a timer, and reports the time spent per op type
// and output shape: the non-matmul costs that a CPU profile shows only as generic iterators.

type opExecutor func(*simplego.Backend, *simplego.Node, []*simplego.Buffer, []bool) (*simplego.Buffer, error)

//go:linkname opExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var opExecutors [backends.OpTypeLast]opExecutor

type opKey struct {
	op    backends.OpType
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

// startOpProfile wraps the executor table; call between steps (no graph executing).
func startOpProfile() {
	bufShape, ok := reflect.TypeFor[simplego.Buffer]().FieldByName("shape")
	if !ok || bufShape.Type != reflect.TypeFor[shapes.Shape]() {
		return
	}
	opProf.stats = map[opKey]*opStat{}
	opProf.on = true
	for i := range opExecutors {
		orig := opExecutors[i]
		if orig == nil {
			continue
		}
		op := backends.OpType(i)
		opExecutors[i] = func(b *simplego.Backend, n *simplego.Node, in []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
			t0 := time.Now()
			out, err := orig(b, n, in, owned)
			d := time.Since(t0).Nanoseconds()
			var s string
			if out != nil {
				s = (*shapes.Shape)(unsafe.Add(unsafe.Pointer(out), bufShape.Offset)).String()
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
	byOp := map[backends.OpType]*opStat{}
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
	var ops []backends.OpType
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
