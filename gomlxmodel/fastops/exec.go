package fastops

import (
	"math"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"nanoscope/gomlxmodel/internal/sgohook"
)

// execReduce is ReduceSum and ReduceMax: out[j] = out[j] ⊕ x[i] over the operand in flat
// order, as the Go backend's execReduceSumGeneric / execReduceMaxGeneric do, with the index
// arithmetic hoisted out of the inner loop.
func execReduce(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	op := sgohook.NodeOpType(node)
	axes, ok := sgohook.NodeData(node).([]int)
	if !enabled.Load() || !ok || len(axes) == 0 || len(inputs) != 1 || !isFloat32(inputs[0]) {
		return original[op](backend, node, inputs, owned)
	}
	inShape, outShape := sgohook.BufferShape(inputs[0]), sgohook.NodeShape(node)
	x := sgohook.BufferFlat(inputs[0]).([]float32)
	out := sgohook.NewBuffer(backend, outShape)
	if out == nil {
		return original[op](backend, node, inputs, owned)
	}
	y := sgohook.BufferFlat(out).([]float32)
	init := float32(0)
	if op == compute.OpTypeReduceMax {
		init = dtypes.Float32.LowestValue().(float32)
	}
	for i := range y {
		y[i] = init
	}
	// Output strides over the operand's axes: 0 on reduced axes.
	dims := inShape.Dimensions
	outStrides := make([]int, len(dims))
	acc := 1
	for a := len(dims) - 1; a >= 0; a-- {
		if slices.Contains(axes, a) {
			continue
		}
		outStrides[a] = acc
		acc *= dims[a]
	}
	cd, cs := collapse(dims, rowMajor(dims), outStrides)
	if len(cd) == 0 { // a single element
		cd, cs = []int{1}, [][]int{{1}, {0}}
	}
	n := cd[len(cd)-1]
	innerOut := cs[1][len(cd)-1]
	isMax := op == compute.OpTypeReduceMax
	// Rows may run in parallel when each output element is written by one row only.
	disjoint := !slices.Contains(cs[1][:len(cd)-1], 0)
	forRows(cd, cs, disjoint, func(off []int) {
		xs := x[off[0] : off[0]+n]
		switch {
		case innerOut == 0 && isMax:
			y[off[1]] = rowMax(y[off[1]], xs)
		case innerOut == 0:
			s := y[off[1]]
			for _, v := range xs {
				s += v
			}
			y[off[1]] = s
		case isMax:
			ys := y[off[1] : off[1]+n]
			for i, v := range xs {
				ys[i] = max(ys[i], v)
			}
		default:
			ys := y[off[1] : off[1]+n]
			for i, v := range xs {
				ys[i] += v
			}
		}
	})
	return out, nil
}

// execBroadcastInDim copies the operand into the output shape, rows at a time.
func execBroadcastInDim(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	op := compute.OpTypeBroadcastInDim
	bAxes, ok := sgohook.NodeData(node).([]int)
	if !enabled.Load() || !ok || len(inputs) != 1 || !isFloat32(inputs[0]) {
		return original[op](backend, node, inputs, owned)
	}
	inShape, outShape := sgohook.BufferShape(inputs[0]), sgohook.NodeShape(node)
	if len(bAxes) != inShape.Rank() || inShape.Size() == 1 {
		return original[op](backend, node, inputs, owned)
	}
	inStrides := rowMajor(inShape.Dimensions)
	strides := make([]int, outShape.Rank())
	for inAxis, outAxis := range bAxes {
		if outAxis < 0 || outAxis >= len(strides) {
			return original[op](backend, node, inputs, owned)
		}
		if inShape.Dimensions[inAxis] != 1 {
			strides[outAxis] = inStrides[inAxis]
		}
	}
	out := sgohook.NewBuffer(backend, outShape)
	if out == nil {
		return original[op](backend, node, inputs, owned)
	}
	x := sgohook.BufferFlat(inputs[0]).([]float32)
	y := sgohook.BufferFlat(out).([]float32)
	cd, cs := collapse(outShape.Dimensions, rowMajor(outShape.Dimensions), strides)
	if len(cd) == 0 {
		cd, cs = []int{1}, [][]int{{1}, {0}}
	}
	n := cd[len(cd)-1]
	inner := cs[1][len(cd)-1]
	forRows(cd, cs, true, func(off []int) {
		ys := y[off[0] : off[0]+n]
		if inner == 0 {
			v := x[off[1]]
			for i := range ys {
				ys[i] = v
			}
			return
		}
		copy(ys, x[off[1]:off[1]+n])
	})
	return out, nil
}

// execBinary is Add, Sub, Mul and Div when one operand is broadcast (shapes differ and neither
// is a scalar); the Go backend's executor handles the rest with plain loops already.
func execBinary(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	op := sgohook.NodeOpType(node)
	if !enabled.Load() || len(inputs) != 2 || !isFloat32(inputs[0], inputs[1]) {
		return original[op](backend, node, inputs, owned)
	}
	ls, rs, os := sgohook.BufferShape(inputs[0]), sgohook.BufferShape(inputs[1]), sgohook.NodeShape(node)
	if ls.Size() == 1 || rs.Size() == 1 || ls.Equal(rs) || ls.Rank() != os.Rank() || rs.Rank() != os.Rank() {
		return original[op](backend, node, inputs, owned)
	}
	lst, rst := broadcastStrides(ls.Dimensions, os.Dimensions), broadcastStrides(rs.Dimensions, os.Dimensions)
	if lst == nil || rst == nil {
		return original[op](backend, node, inputs, owned)
	}
	cd, cs := collapse(os.Dimensions, rowMajor(os.Dimensions), lst, rst)
	if len(cd) == 0 {
		return original[op](backend, node, inputs, owned)
	}
	// Reuse an owned input of the output's shape, as the Go backend does (element i of the output
	// depends only on element i of that input).
	var out *sgohook.Buffer
	switch {
	case owned[1] && rs.Equal(os):
		out, inputs[1] = inputs[1], nil
	case owned[0] && ls.Equal(os):
		out, inputs[0] = inputs[0], nil
	default:
		if out = sgohook.NewBuffer(backend, os); out == nil {
			return original[op](backend, node, inputs, owned)
		}
	}
	a, b := sgohook.BufferFlat(orInput(inputs[0], out)).([]float32), sgohook.BufferFlat(orInput(inputs[1], out)).([]float32)
	y := sgohook.BufferFlat(out).([]float32)
	n := cd[len(cd)-1]
	sa, sb := cs[1][len(cd)-1], cs[2][len(cd)-1]
	forRows(cd, cs, true, func(off []int) {
		binaryRow(op, y[off[0]:off[0]+n], a[off[1]:], b[off[2]:], sa, sb)
	})
	return out, nil
}

func orInput(in, out *sgohook.Buffer) *sgohook.Buffer {
	if in == nil {
		return out
	}
	return in
}

// broadcastStrides returns the strides of an operand of dims broadcast to outDims (same rank):
// 0 on axes of size 1 that grow; nil when the dims do not broadcast.
func broadcastStrides(dims, outDims []int) []int {
	s := rowMajor(dims)
	for a, d := range dims {
		switch {
		case d == outDims[a]:
		case d == 1:
			s[a] = 0
		default:
			return nil
		}
	}
	return s
}

// binaryRow computes y[i] = a[i·sa] op b[i·sb] for the n = len(y) elements of a row.
func binaryRow(op compute.OpType, y, a, b []float32, sa, sb int) {
	n := len(y)
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:n], b[:n]
		switch op {
		case compute.OpTypeAdd:
			for i := range y {
				y[i] = a[i] + b[i]
			}
		case compute.OpTypeSub:
			for i := range y {
				y[i] = a[i] - b[i]
			}
		case compute.OpTypeMul:
			for i := range y {
				y[i] = a[i] * b[i]
			}
		case compute.OpTypeDiv:
			for i := range y {
				y[i] = a[i] / b[i]
			}
		}
	case sa == 1 && sb == 0:
		a, c := a[:n], b[0]
		switch op {
		case compute.OpTypeAdd:
			for i := range y {
				y[i] = a[i] + c
			}
		case compute.OpTypeSub:
			for i := range y {
				y[i] = a[i] - c
			}
		case compute.OpTypeMul:
			for i := range y {
				y[i] = a[i] * c
			}
		case compute.OpTypeDiv:
			for i := range y {
				y[i] = a[i] / c
			}
		}
	case sa == 0 && sb == 1:
		c, b := a[0], b[:n]
		switch op {
		case compute.OpTypeAdd:
			for i := range y {
				y[i] = c + b[i]
			}
		case compute.OpTypeSub:
			for i := range y {
				y[i] = c - b[i]
			}
		case compute.OpTypeMul:
			for i := range y {
				y[i] = c * b[i]
			}
		case compute.OpTypeDiv:
			for i := range y {
				y[i] = c / b[i]
			}
		}
	default:
		for i := range y {
			x, z := a[i*sa], b[i*sb]
			switch op {
			case compute.OpTypeAdd:
				y[i] = x + z
			case compute.OpTypeSub:
				y[i] = x - z
			case compute.OpTypeMul:
				y[i] = x * z
			case compute.OpTypeDiv:
				y[i] = x / z
			}
		}
	}
}

// execTranspose copies the operand to the permuted layout, rows at a time.
func execTranspose(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	op := compute.OpTypeTranspose
	perm, ok := sgohook.NodeData(node).([]int)
	if !enabled.Load() || !ok || len(inputs) != 1 || !isFloat32(inputs[0]) {
		return original[op](backend, node, inputs, owned)
	}
	inShape, outShape := sgohook.BufferShape(inputs[0]), sgohook.NodeShape(node)
	if len(perm) != inShape.Rank() || outShape.Rank() != len(perm) {
		return original[op](backend, node, inputs, owned)
	}
	inStrides := rowMajor(inShape.Dimensions)
	strides := make([]int, len(perm))
	for i, a := range perm {
		if a < 0 || a >= len(perm) || inShape.Dimensions[a] != outShape.Dimensions[i] {
			return original[op](backend, node, inputs, owned)
		}
		strides[i] = inStrides[a]
	}
	cd, cs := collapse(outShape.Dimensions, rowMajor(outShape.Dimensions), strides)
	if len(cd) == 0 {
		return original[op](backend, node, inputs, owned)
	}
	out := sgohook.NewBuffer(backend, outShape)
	if out == nil {
		return original[op](backend, node, inputs, owned)
	}
	x := sgohook.BufferFlat(inputs[0]).([]float32)
	y := sgohook.BufferFlat(out).([]float32)
	n := cd[len(cd)-1]
	s := cs[1][len(cd)-1]
	forRows(cd, cs, true, func(off []int) {
		ys := y[off[0] : off[0]+n]
		if s == 1 {
			copy(ys, x[off[1]:off[1]+n])
			return
		}
		j := off[1]
		for i := range ys {
			ys[i] = x[j]
			j += s
		}
	})
	return out, nil
}

// execUnary is Abs and Sign without data-dependent branches (on random signs the Go backend's
// branches mispredict half the time), with the same results as the Go backend's execAbsGeneric
// (x < 0 ? −x : x, so −0 and NaN pass unchanged) and execSignGeneric (−1, 1, else +0); and Exp
// as the Go backend computes it (float32(math.Exp(float64(x)))), split over two goroutines.
func execUnary(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	op := sgohook.NodeOpType(node)
	if !enabled.Load() || len(inputs) != 1 || !isFloat32(inputs[0]) {
		return original[op](backend, node, inputs, owned)
	}
	in := inputs[0]
	out := in
	if owned[0] {
		inputs[0] = nil // the output takes over the input's buffer, as in the Go backend
	} else if out = sgohook.NewBuffer(backend, sgohook.BufferShape(in)); out == nil {
		return original[op](backend, node, inputs, owned)
	}
	x := sgohook.BufferFlat(in).([]float32)
	y := sgohook.BufferFlat(out).([]float32)[:len(x)]
	switch op {
	case compute.OpTypeExp:
		// the Go backend's execExpGeneric, on two goroutines for large arrays.
		halves(len(x), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				y[i] = float32(math.Exp(float64(x[i])))
			}
		})
	case compute.OpTypeAbs:
		for i, v := range x {
			var m uint32
			if v < 0 {
				m = 1 << 31
			}
			y[i] = math.Float32frombits(math.Float32bits(v) ^ m)
		}
	default: // Sign
		const one, minusOne = 0x3f800000, 0xbf800000
		for i, v := range x {
			var r uint32
			if v > 0 {
				r = one
			}
			if v < 0 {
				r = minusOne
			}
			y[i] = math.Float32frombits(r)
		}
	}
	return out, nil
}

// halves calls f(0, n) or, from parallelMin elements on, f(0, n/2) and f(n/2, n) on two
// goroutines.
func halves(n int, f func(i0, i1 int)) {
	if n < parallelMin {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { f(0, n/2) })
	f(n/2, n)
	wg.Wait()
}

// rowMax is max(…max(max(m, xs[0]), xs[1])…, xs[n-1]) with Go's max (the Go backend's ReduceMax):
// NaN if any value is NaN, max(−0, +0) = +0. The loop keeps the running maximum with a
// comparison that is almost always false (well predicted) and redoes the row with max only in
// the rare cases where those rules matter (a NaN, or a maximum of zero).
func rowMax(m float32, xs []float32) float32 {
	m0 := m
	nan := false
	for _, v := range xs {
		if v > m {
			m = v
		}
		nan = nan || v != v
	}
	if nan || m == 0 || m0 != m0 {
		m = m0
		for _, v := range xs {
			m = max(m, v)
		}
	}
	return m
}
