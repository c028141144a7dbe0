package analysis

import (
	"slices"
	"testing"
)

// TestWider: the wider sample draws about factor times the positions from the same token stream,
// never a window of the excluded ones, each window the stream's tokens at its index; windows not
// drawn by SampleWindows have no stream to widen.
func TestWider(t *testing.T) {
	tokens := make([]uint32, 20000)
	for i := range tokens {
		tokens[i] = uint32(i % 97)
	}
	for _, c := range []struct {
		name                   string
		seq, positions, factor int
		wantWindows            int // of the wider sample, the screen's removed
	}{
		{"4× of 4 windows", 64, 256, 4, 16 - 1},
		{"4× of 2 windows", 128, 256, 4, 8 - 1},
		{"more than the stream holds", 1024, 8192, 4, 19 - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := SampleWindows(tokens, c.seq, c.positions)
			if err != nil {
				t.Fatal(err)
			}
			screen := w.Head(1)
			more := w.wider(c.factor, screen)
			if more == nil || len(more.Inputs) != c.wantWindows {
				t.Fatalf("wider: %v windows, want %d", more, c.wantWindows)
			}
			for i, k := range more.Index {
				if slices.Contains(screen.Index, k) {
					t.Errorf("window %d (index %d) is the screen's", i, k)
				}
				for j, id := range more.Inputs[i] {
					if uint32(id) != tokens[k*c.seq+j] {
						t.Fatalf("window %d position %d: id %d, want %d", i, j, id, tokens[k*c.seq+j])
					}
				}
			}
		})
	}
	if (&Windows{Inputs: [][]int32{{1, 2}}}).wider(4, &Windows{}) != nil {
		t.Error("windows without a token stream widened")
	}
}
