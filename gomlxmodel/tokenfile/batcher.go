package tokenfile

import (
	"fmt"
	"math/rand/v2"
)

// Position is a Batcher's place in its stream of windows: the epoch and the number of windows
// of that epoch's order already handed out. It is all the state needed to resume a run exactly.
type Position struct {
	Epoch  int `json:"epoch"`
	Cursor int `json:"cursor"`
}

// Batcher hands out batches of windows of a token sequence in a deterministic, seeded,
// shuffled order. Each epoch visits every window once, in the order
// rand.New(rand.NewPCG(seed, epoch)).Perm(NumWindows); a batch that reaches the end of an
// epoch continues with the next epoch's order.
type Batcher struct {
	ids       []uint32
	seqLen    int
	batchSize int
	shift     int
	seed      uint64

	n     int   // number of windows
	perm  []int // order of the current epoch
	epoch int
	cur   int
}

// NewBatcher returns a Batcher over ids at Position{0, 0}. shift is 1 for next-token targets,
// 0 for the unshifted control, 2 or 3 for targets further ahead (see Window).
func NewBatcher(ids []uint32, seqLen, batchSize, shift int, seed uint64) (*Batcher, error) {
	if seqLen <= 0 || batchSize <= 0 {
		return nil, fmt.Errorf("tokenfile: seq_len %d and batch size %d must be positive", seqLen, batchSize)
	}
	if shift < 0 || shift > MaxShift {
		return nil, fmt.Errorf("tokenfile: target shift %d outside [0, %d]", shift, MaxShift)
	}
	n := NumWindowsShift(len(ids), seqLen, shift)
	if n == 0 {
		return nil, fmt.Errorf("tokenfile: %d tokens hold no window of seq_len %d (need at least %d)", len(ids), seqLen, seqLen+max(shift, 1))
	}
	b := &Batcher{ids: ids, seqLen: seqLen, batchSize: batchSize, shift: shift, seed: seed, n: n}
	b.startEpoch(0)
	return b, nil
}

// NumWindows returns the number of windows in one epoch.
func (b *Batcher) NumWindows() int { return b.n }

// Order returns the order in which epoch visits the window indices.
func (b *Batcher) Order(epoch int) []int {
	return rand.New(rand.NewPCG(b.seed, uint64(epoch))).Perm(b.n)
}

func (b *Batcher) startEpoch(e int) {
	b.epoch, b.cur, b.perm = e, 0, b.Order(e)
}

// Position returns where the next batch starts.
func (b *Batcher) Position() Position { return Position{Epoch: b.epoch, Cursor: b.cur} }

// SetPosition moves the Batcher to p, so that the following batches are those a Batcher with
// the same ids, sizes and seed would hand out after reaching p.
func (b *Batcher) SetPosition(p Position) error {
	if p.Epoch < 0 || p.Cursor < 0 || p.Cursor > b.n {
		return fmt.Errorf("tokenfile: position %+v out of range (epoch >= 0, cursor in [0, %d])", p, b.n)
	}
	if p.Epoch != b.epoch {
		b.perm = b.Order(p.Epoch)
	}
	b.epoch, b.cur = p.Epoch, p.Cursor
	return nil
}

// Next returns the next batch: inputs and targets flattened row-major as [B*T], and the index
// of the window in each row.
func (b *Batcher) Next() (inputs, targets []int32, windowIdx []int) {
	T := b.seqLen
	inputs = make([]int32, b.batchSize*T)
	targets = make([]int32, b.batchSize*T)
	windowIdx = make([]int, b.batchSize)
	for r := range b.batchSize {
		if b.cur == b.n {
			b.startEpoch(b.epoch + 1)
		}
		k := b.perm[b.cur]
		b.cur++
		in, tg := Window(b.ids, k, T, b.shift)
		for i := range T {
			inputs[r*T+i] = int32(in[i])
			targets[r*T+i] = int32(tg[i])
		}
		windowIdx[r] = k
	}
	return inputs, targets, windowIdx
}
