package tokenfile

import (
	"encoding/binary"
	"testing"
)

// FuzzParse: any byte string either parses into len/4 ids that re-encode to the same bytes,
// or is rejected with an error — never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0x56, 0xc4, 0, 0, 0x6c, 0x05, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := Parse("fuzz.bin", b)
		if err != nil {
			if len(b) != 0 && len(b)%4 == 0 {
				t.Fatalf("valid length %d rejected: %v", len(b), err)
			}
			return
		}
		if len(ids)*4 != len(b) {
			t.Fatalf("%d bytes gave %d ids", len(b), len(ids))
		}
		for i, id := range ids {
			if binary.LittleEndian.Uint32(b[4*i:]) != id {
				t.Fatalf("id %d = %d, bytes say %d", i, id, binary.LittleEndian.Uint32(b[4*i:]))
			}
		}
		if err := CheckRange("fuzz.bin", ids, 50257); err == nil {
			for _, id := range ids {
				if id >= 50257 {
					t.Fatalf("id %d ≥ vocab passed CheckRange", id)
				}
			}
		}
	})
}
