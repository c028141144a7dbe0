package tokenfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		ids  []uint32
	}{
		{"one", []uint32{7}},
		{"gpt2", []uint32{22184, 1388, 3419, 1391, 50256}},
		{"extremes", []uint32{0, 1, 0xFFFFFFFF, 1 << 31, 255, 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".bin")
			if err := Write(p, tc.ids); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.ids) {
				t.Fatalf("read %v, wrote %v", got, tc.ids)
			}
			st, _ := os.Stat(p)
			if st.Size() != int64(4*len(tc.ids)) {
				t.Fatalf("size %d, want %d (no header)", st.Size(), 4*len(tc.ids))
			}
		})
	}
	// Little-endian, byte for byte.
	p := filepath.Join(dir, "le.bin")
	if err := Write(p, []uint32{0x04030201}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "\x01\x02\x03\x04" {
		t.Fatalf("bytes %q, want little-endian 01 02 03 04", b)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", "empty token file"},
		{"size5", "\x01\x00\x00\x00\x02", "size 5 bytes is not a multiple of 4"},
		{"size3", "abc", "size 3 bytes is not a multiple of 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".bin")
			os.WriteFile(p, []byte(tc.content), 0o644)
			_, err := Read(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err %v, want it to name %s and say %q", err, p, tc.want)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing.bin")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestCheckRange(t *testing.T) {
	ids := make([]uint32, 2000)
	for i := range ids {
		ids[i] = uint32(i % 50257)
	}
	for _, tc := range []struct {
		name  string
		patch map[int]uint32
		vocab int
		want  string
	}{
		{"ok", nil, 50257, ""},
		{"first bad", map[int]uint32{1234: 50300, 1500: 60000}, 50257, "FILE: token id 50300 at position 1234 >= vocab_size 50257"},
		{"boundary", map[int]uint32{3: 50257}, 50257, "FILE: token id 50257 at position 3 >= vocab_size 50257"},
		{"small vocab", nil, 1000, "FILE: token id 1000 at position 1000 >= vocab_size 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]uint32(nil), ids...)
			for i, v := range tc.patch {
				x[i] = v
			}
			err := CheckRange("FILE", x, tc.vocab)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNumWindows(t *testing.T) {
	for _, tc := range []struct{ n, T, want int }{
		{0, 4, 0}, {4, 4, 0}, {5, 4, 1}, {8, 4, 1}, {9, 4, 2}, {12, 4, 2}, {13, 4, 3},
		{1, 1, 0}, {2, 1, 1}, {10, 1, 9}, {10, 0, 0},
	} {
		got := NumWindows(tc.n, tc.T)
		if got != tc.want {
			t.Errorf("NumWindows(%d, %d) = %d, want %d", tc.n, tc.T, got, tc.want)
		}
		// Defining property: the last window's last target exists and one more window would not fit.
		if got > 0 && (got-1)*tc.T+tc.T+1 > tc.n || got*tc.T+tc.T+1 <= tc.n && tc.T > 0 {
			t.Errorf("NumWindows(%d, %d) = %d violates k*T+T+1 <= n", tc.n, tc.T, got)
		}
	}
}

// TestWindowShift checks the shift on a real file written and read back.
func TestWindowShift(t *testing.T) {
	const T = 16
	ids := make([]uint32, 10*T+5)
	for i := range ids {
		ids[i] = uint32((i*7919 + 13) % 50257)
	}
	p := filepath.Join(t.TempDir(), "train.bin")
	if err := Write(p, ids); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	n := NumWindows(len(got), T)
	if n != 10 {
		t.Fatalf("%d windows, want 10", n)
	}
	for k := range n {
		in, tg := Window(got, k, T, 1)
		if len(in) != T || len(tg) != T {
			t.Fatalf("window %d: lengths %d, %d", k, len(in), len(tg))
		}
		for i := 0; i+1 < T; i++ {
			if tg[i] != in[i+1] {
				t.Fatalf("window %d: target[%d]=%d != input[%d]=%d", k, i, tg[i], i+1, in[i+1])
			}
		}
		if tg[T-1] != got[k*T+T] {
			t.Fatalf("window %d: last target %d != ids[k*T+T]=%d", k, tg[T-1], got[k*T+T])
		}
		if in[0] != got[k*T] {
			t.Fatalf("window %d: input starts at %d, want ids[k*T]=%d", k, in[0], got[k*T])
		}
		in0, tg0 := Window(got, k, T, 0)
		if !reflect.DeepEqual(in0, tg0) || !reflect.DeepEqual(in0, in) {
			t.Fatalf("window %d: shift 0 target differs from input", k)
		}
	}
	for _, bad := range []struct{ k, shift int }{{10, 1}, {-1, 1}, {0, 4}, {0, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Window(k=%d, shift=%d) did not panic", bad.k, bad.shift)
				}
			}()
			Window(got, bad.k, T, bad.shift)
		}()
	}
}

// TestNumWindowsShift: window k needs tokens up to k·T+T−1+max(shift,1), counted by hand.
func TestNumWindowsShift(t *testing.T) {
	for _, c := range []struct{ n, T, shift, want int }{
		{17, 16, 0, 1}, {17, 16, 1, 1}, {17, 16, 2, 0}, {18, 16, 2, 1}, {162, 16, 1, 10},
		{162, 16, 2, 10}, {162, 16, 3, 9}, {16, 16, 0, 0}, {0, 16, 1, 0}, {50, 0, 1, 0},
	} {
		if got := NumWindowsShift(c.n, c.T, c.shift); got != c.want {
			t.Errorf("NumWindowsShift(%d, %d, %d) = %d, want %d", c.n, c.T, c.shift, got, c.want)
		}
	}
}

func drain(b *Batcher, n int) (ins, tgs [][]int32, idx [][]int) {
	for range n {
		i, t, w := b.Next()
		ins, tgs, idx = append(ins, i), append(tgs, t), append(idx, w)
	}
	return
}

func TestBatcher(t *testing.T) {
	const T, B = 8, 3
	ids := make([]uint32, 11*T+1) // 11 windows: batches of 3 straddle epochs
	for i := range ids {
		ids[i] = uint32(i)
	}
	mk := func(seed uint64, shift int) *Batcher {
		b, err := NewBatcher(ids, T, B, shift, seed)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("same seed same order", func(t *testing.T) {
		i1, t1, w1 := drain(mk(42, 1), 20)
		i2, t2, w2 := drain(mk(42, 1), 20)
		if !reflect.DeepEqual(i1, i2) || !reflect.DeepEqual(t1, t2) || !reflect.DeepEqual(w1, w2) {
			t.Fatal("two batchers with the same seed differ")
		}
		_, _, w3 := drain(mk(43, 1), 20)
		if reflect.DeepEqual(w1, w3) {
			t.Fatal("seeds 42 and 43 give the same order")
		}
	})

	t.Run("epochs are permutations", func(t *testing.T) {
		b := mk(7, 1)
		var all []int
		for range 11 { // 33 windows = 3 epochs of 11
			_, _, w := b.Next()
			all = append(all, w...)
		}
		for e := range 3 {
			seen := map[int]bool{}
			for _, k := range all[e*11 : e*11+11] {
				seen[k] = true
			}
			if len(seen) != 11 {
				t.Fatalf("epoch %d visits %d distinct windows, want 11", e, len(seen))
			}
			if !reflect.DeepEqual(all[e*11:e*11+11], b.Order(e)) {
				t.Fatalf("epoch %d does not follow Order(%d)", e, e)
			}
		}
		if reflect.DeepEqual(all[:11], all[11:22]) {
			t.Fatal("epochs 0 and 1 share an order")
		}
		if p := b.Position(); p.Epoch != 2 || p.Cursor != 11 {
			t.Fatalf("position %+v after 3 full epochs, want {2 11}", p)
		}
	})

	t.Run("rows are windows", func(t *testing.T) {
		for _, shift := range []int{0, 1, 2, 3} {
			in, tg, w := mk(1, shift).Next()
			for r, k := range w {
				for i := range T {
					if in[r*T+i] != int32(k*T+i) || tg[r*T+i] != int32(k*T+i+shift) {
						t.Fatalf("shift %d row %d (window %d) col %d: input %d target %d", shift, r, k, i, in[r*T+i], tg[r*T+i])
					}
				}
			}
		}
	})

	t.Run("resume", func(t *testing.T) {
		for _, stop := range []int{0, 1, 3, 4, 7} {
			ref := mk(99, 1)
			drain(ref, stop)
			pos := ref.Position()
			wantI, wantT, wantW := drain(ref, 12)

			res := mk(99, 1)
			if err := res.SetPosition(pos); err != nil {
				t.Fatal(err)
			}
			gotI, gotT, gotW := drain(res, 12)
			if !reflect.DeepEqual(gotI, wantI) || !reflect.DeepEqual(gotT, wantT) || !reflect.DeepEqual(gotW, wantW) {
				t.Fatalf("resumed at %+v (after %d batches): batches differ", pos, stop)
			}
		}
		b := mk(1, 1)
		for _, p := range []Position{{-1, 0}, {0, -1}, {0, 12}} {
			if err := b.SetPosition(p); err == nil {
				t.Errorf("SetPosition(%+v) accepted", p)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct{ n, T, B, shift int }{{8, 8, 1, 1}, {100, 0, 1, 1}, {100, 8, 0, 1}, {100, 8, 1, 4}, {100, 8, 1, -1}, {9, 8, 1, 2}} {
			if _, err := NewBatcher(make([]uint32, tc.n), tc.T, tc.B, tc.shift, 0); err == nil {
				t.Errorf("NewBatcher(n=%d, T=%d, B=%d, shift=%d) accepted", tc.n, tc.T, tc.B, tc.shift)
			}
		}
	})
}
