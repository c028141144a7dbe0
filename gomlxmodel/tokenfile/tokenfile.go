// Package tokenfile reads and writes the original's token files — a flat sequence of
// little-endian u32 token ids with no header (REFERENCE.md §2, "Data") — and cuts them into
// the training windows the original uses: window k is ids[k·T : k·T+T] with targets
// ids[k·T+1 : k·T+T+1].
package tokenfile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// Read returns the token ids stored in the file at path. It fails if the file is empty or its
// size is not a multiple of 4 bytes; the error names the file and its size.
func Read(path string) ([]uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes the bytes of a token file; path only labels errors.
func Parse(path string, b []byte) ([]uint32, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: empty token file", path)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: size %d bytes is not a multiple of 4 (not a u32 token file)", path, len(b))
	}
	ids := make([]uint32, len(b)/4)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return ids, nil
}

// Write stores ids at path as little-endian u32 values. It writes a temporary file in the same
// directory, syncs it to disk and renames it over path, so a reader sees either the old file or
// the complete new one, never a partial write.
func Write(path string, ids []uint32) error {
	return WriteAtomic(path, func(w *bufio.Writer) error {
		var buf [4]byte
		for _, id := range ids {
			binary.LittleEndian.PutUint32(buf[:], id)
			if _, err := w.Write(buf[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteAtomic creates path with the content that fill writes, atomically: fill writes into a
// temporary file in the same directory, which is flushed, synced and renamed over path. On any
// error the temporary file is removed and path is left as it was. The file is made 0644.
func WriteAtomic(path string, fill func(w *bufio.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = fill(w); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable; failure to sync a directory is not an error on
	// filesystems that do not support it.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CheckRange returns an error for the first id that is not below vocabSize, naming the file
// (path is used only in the message), the id and its position.
func CheckRange(path string, ids []uint32, vocabSize int) error {
	for i, id := range ids {
		if int64(id) >= int64(vocabSize) {
			return fmt.Errorf("%s: token id %d at position %d >= vocab_size %d", path, id, i, vocabSize)
		}
	}
	return nil
}

// NumWindows returns the number of windows of length seqLen in a file of n tokens: the k with
// k·T+T+1 <= n, since window k's last target is token k·T+T.
func NumWindows(n, seqLen int) int { return NumWindowsShift(n, seqLen, 1) }

// NumWindowsShift is NumWindows for targets shift tokens ahead: the k with
// k·T+T+max(shift, 1) <= n (for shift 0 and 1 it equals NumWindows, so both see the same windows).
func NumWindowsShift(n, seqLen, shift int) int {
	need := seqLen + max(shift, 1)
	if seqLen <= 0 || n < need {
		return 0
	}
	return (n-need)/seqLen + 1
}

// MaxShift is the largest target shift Window and NewBatcher accept.
const MaxShift = 3

// Window returns window k of ids: input = ids[k·T : k·T+T] and
// target = ids[k·T+shift : k·T+T+shift]. shift 1 gives next-token targets (the original);
// shift 0 gives the unshifted control, target == input; 2 and 3 the "labels shifted twice"
// faults. The slices alias ids. Window panics if k is not below
// NumWindowsShift(len(ids), seqLen, shift) or shift is outside [0, MaxShift].
func Window(ids []uint32, k, seqLen, shift int) (input, target []uint32) {
	if shift < 0 || shift > MaxShift {
		panic(fmt.Sprintf("tokenfile.Window: shift %d outside [0, %d]", shift, MaxShift))
	}
	if n := NumWindowsShift(len(ids), seqLen, shift); k < 0 || k >= n {
		panic(fmt.Sprintf("tokenfile.Window: window %d out of range [0, %d) for %d tokens, seq_len %d, shift %d",
			k, n, len(ids), seqLen, shift))
	}
	s := k * seqLen
	return ids[s : s+seqLen], ids[s+shift : s+seqLen+shift]
}
