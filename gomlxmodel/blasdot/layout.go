package blasdot

// matrix describes one operand of a DotGeneral as a batch of strided matrices in its flat
// row-major data: for batch element b (in the order of the batch axes as listed), the matrix
// starts at offsets[b]; its rows are the operand's cross axes (size cross, stride crossStride)
// and its columns the contracting axes in the order listed (size contract, stride
// contractStride).
type matrix struct {
	offsets                  []int
	cross, crossStride       int
	contract, contractStride int
}

// strides returns the row-major strides of dims.
func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// merge folds the axes (in the given order) into one strided axis: size is the product of
// their dimensions and stride that of the last axis of size > 1. ok is false when the axes do
// not form one arithmetic progression in memory (each axis's stride must be the next one's
// stride times its dimension). No axes, or only axes of size 1, give size 1 and stride 0.
func merge(dims, st, axes []int) (size, stride int, ok bool) {
	size = 1
	prev := -1
	for _, a := range axes {
		if dims[a] == 1 {
			continue
		}
		if prev >= 0 && st[prev] != st[a]*dims[a] {
			return 0, 0, false
		}
		size *= dims[a]
		stride = st[a]
		prev = a
	}
	return size, stride, true
}

// planOperand reads one operand (its dimensions, contracting and batch axes, both as listed in
// the DotGeneral) as a batch of strided matrices. ok is false for layouts whose cross or
// contracting axes cannot be merged into one strided axis each.
func planOperand(dims, contracting, batch []int) (m matrix, ok bool) {
	st := strides(dims)
	kind := make([]byte, len(dims))
	for _, a := range contracting {
		kind[a] = 'c'
	}
	for _, a := range batch {
		kind[a] = 'b'
	}
	var cross []int
	for a, k := range kind {
		if k == 0 {
			cross = append(cross, a)
		}
	}
	if m.cross, m.crossStride, ok = merge(dims, st, cross); !ok {
		return m, false
	}
	if m.contract, m.contractStride, ok = merge(dims, st, contracting); !ok {
		return m, false
	}
	// Batch offsets, row-major over the batch axes in the order listed.
	n := 1
	for _, a := range batch {
		n *= dims[a]
	}
	m.offsets = make([]int, n)
	idx := make([]int, len(batch))
	off := 0
	for b := 0; b < n; b++ {
		m.offsets[b] = off
		for i := len(batch) - 1; i >= 0; i-- {
			a := batch[i]
			idx[i]++
			off += st[a]
			if idx[i] < dims[a] {
				break
			}
			off -= st[a] * dims[a]
			idx[i] = 0
		}
	}
	return m, true
}

// gemmOperand is a matrix as cblas_sgemm (row-major) reads it: trans and leading dimension ld.
type gemmOperand struct {
	trans bool // stored matrix is the transpose of the one sgemm multiplies
	ld    int
}

// asLHS returns how sgemm reads m as its A operand (M = cross × K = contract), ok false when
// neither dimension is contiguous.
func (m matrix) asLHS() (g gemmOperand, ok bool) {
	if m.contract == 1 || m.contractStride == 1 {
		// Stored M×K, rows = cross.
		if ld, ok := rowLD(m.cross, m.crossStride, m.contract); ok {
			return gemmOperand{trans: false, ld: ld}, true
		}
	}
	if m.cross == 1 || m.crossStride == 1 {
		// Stored K×M, rows = contract.
		if ld, ok := rowLD(m.contract, m.contractStride, m.cross); ok {
			return gemmOperand{trans: true, ld: ld}, true
		}
	}
	return g, false
}

// asRHS returns how sgemm reads m as its B operand (K = contract × N = cross).
func (m matrix) asRHS() (g gemmOperand, ok bool) {
	if m.cross == 1 || m.crossStride == 1 {
		// Stored K×N, rows = contract.
		if ld, ok := rowLD(m.contract, m.contractStride, m.cross); ok {
			return gemmOperand{trans: false, ld: ld}, true
		}
	}
	if m.contract == 1 || m.contractStride == 1 {
		// Stored N×K, rows = cross.
		if ld, ok := rowLD(m.cross, m.crossStride, m.contract); ok {
			return gemmOperand{trans: true, ld: ld}, true
		}
	}
	return g, false
}

// rowLD is the leading dimension of a row-major stored matrix with the given number of rows,
// row stride and columns: the row stride, or the column count when there is a single row. BLAS
// wants ld ≥ max(1, columns); ok is false for a row stride below that.
func rowLD(rows, rowStride, cols int) (ld int, ok bool) {
	if rows == 1 {
		return max(cols, 1), true
	}
	return rowStride, rowStride >= max(cols, 1)
}

// plan is one DotGeneral as a loop of sgemm calls: C[b] (M×N, row-major, contiguous) =
// op(A)[b] · op(B)[b].
type plan struct {
	m, n, k      int
	a, b         gemmOperand
	offA, offB   []int
	batch        int
	outBatchSize int // m*n
}

// makePlan plans a DotGeneral of operands with the given dimensions and axes (as listed in the
// node: the output is [batch, lhsCross, rhsCross]). ok is false for layouts sgemm cannot read
// without a copy; those are left to the Go backend.
func makePlan(lhsDims, lhsContracting, lhsBatch, rhsDims, rhsContracting, rhsBatch []int) (p plan, ok bool) {
	l, ok := planOperand(lhsDims, lhsContracting, lhsBatch)
	if !ok {
		return p, false
	}
	r, ok := planOperand(rhsDims, rhsContracting, rhsBatch)
	if !ok || l.contract != r.contract || len(l.offsets) != len(r.offsets) {
		return p, false
	}
	if p.a, ok = l.asLHS(); !ok {
		return p, false
	}
	if p.b, ok = r.asRHS(); !ok {
		return p, false
	}
	p.m, p.n, p.k = l.cross, r.cross, l.contract
	p.offA, p.offB, p.batch = l.offsets, r.offsets, len(l.offsets)
	p.outBatchSize = p.m * p.n
	return p, true
}
