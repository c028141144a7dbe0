package ptfile

import (
	"strings"
	"testing"
)

// TestCheckPickleLengths: a pickle whose strings, integers and frames fit is walked to its STOP;
// a declared length past the end (a damaged BINUNICODE of 3 GB, which gopickle would allocate
// before reading), a frame longer than the stream, a cut fixed argument or an unterminated line
// is refused, naming the opcode and the byte.
func TestCheckPickleLengths(t *testing.T) {
	for _, c := range []struct {
		name, pickle, err string
	}{
		{"strings, ints and a global", "\x80\x02}q\x00(X\x05\x00\x00\x00modelq\x01ctorch\nFloatStorage\nq\x02K\x07M\x00\x01\x8a\x01\x05u.", ""},
		{"a frame that fits", "\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.", ""},
		{"an opcode it does not know ends the walk", "\x80\x02\xffX\xff\xff\xff\xff", ""},
		{"BINUNICODE of 3 GB", "\x80\x02X\x07\x00\xf9\xbcabc.", "opcode 0x58 at byte 2 declares 3170435079 bytes, 4 left"},
		{"SHORT_BINUNICODE past the end", "\x80\x04\x8c\x09abc", "opcode 0x8c at byte 2 declares 9 bytes, 3 left"},
		{"a frame longer than the stream", "\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00K\x01.", "frame at byte 2 declares 4294967296 bytes, 3 left"},
		{"a cut BININT", "\x80\x02J\x01\x02", "opcode 0x4a at byte 2: 4 argument bytes wanted, 2 left"},
		{"a global without its newline", "\x80\x02ctorch\nFloat", "opcode 0x63 at byte 2: its line has no end"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkPickleLengths([]byte(c.pickle))
			if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Errorf("error %v, want %q", err, c.err)
			}
		})
	}
}
