package load

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
)

// formatFixtures are the files bench/format_fixtures.py wrote with PyTorch (a reference GPT
// written from the formats' descriptions) and the float32 logits it computed on one window.
const formatFixtures = "testdata/formats"

type formatFixture struct {
	IDs    []int32     `json:"ids"`
	Logits [][]float64 `json:"logits"`
}

func readFormatFixtures(t *testing.T) map[string]formatFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(formatFixtures, "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx map[string]formatFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestFormatParity loads each file through Open and compares the family's logits with
// PyTorch's: max |Δ| within 1e-5 of the largest |logit|, every argmax equal.
func TestFormatParity(t *testing.T) {
	fx := readFormatFixtures(t)
	cases := []struct {
		file, format string
		vocab        int
		notes        []string // substrings the loader's notes must hold
	}{
		{"nanogpt_random.pt", FormatNanoGPT, 256, []string{"the head is tied", "iter_num 0"}},
		{"nanogpt_trained.pt", FormatNanoGPT, 256, []string{"_orig_mod. from 25 keys", "dropped 3 causal-mask buffers", "best_val_loss 2.5000"}},
		{"llmc_f32.bin", FormatLLMC, 250, []string{"6 padded rows"}},
		{"llmc_bf16.bin", FormatLLMC, 250, []string{"6 padded rows"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			l, err := Open(filepath.Join(formatFixtures, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if l.Format != c.format || l.Family.Dims().VocabSize != c.vocab {
				t.Fatalf("format %q vocab %d, want %q %d", l.Format, l.Family.Dims().VocabSize, c.format, c.vocab)
			}
			notes := strings.Join(l.Notes, "; ")
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", notes, n)
				}
			}
			want := fx[c.file]
			r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Logits([][]int32{want.IDs})
			if err != nil {
				t.Fatal(err)
			}
			V := c.vocab
			var maxDiff, maxAbs float64
			for pos, row := range want.Logits {
				if len(row) != V {
					t.Fatalf("fixture row %d has %d logits, want %d", pos, len(row), V)
				}
				ag, aw := 0, 0
				for j, w := range row {
					g := float64(got[pos*V+j])
					maxDiff, maxAbs = max(maxDiff, math.Abs(g-w)), max(maxAbs, math.Abs(w))
					if g > float64(got[pos*V+ag]) {
						ag = j
					}
					if w > row[aw] {
						aw = j
					}
				}
				if ag != aw {
					t.Errorf("position %d: argmax %d, PyTorch %d", pos, ag, aw)
				}
			}
			t.Logf("max |Δ| %.3g, max |logit| %.3g", maxDiff, maxAbs)
			if maxDiff > 1e-5*maxAbs {
				t.Errorf("max |Δ| %.3g > 1e-5 × max |logit| %.3g", maxDiff, maxAbs)
			}
		})
	}
}

// TestHostileFormatFiles: each damaged file is refused by Open in one line naming the file
// and what is wrong, before reading tensors of the size it declares.
func TestHostileFormatFiles(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(formatFixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	llmc := read("llmc_f32.bin")
	header := func(i int, v int32) []byte {
		b := bytes.Clone(llmc)
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		return b
	}
	pt := read("nanogpt_random.pt")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated.pt", pt[:len(pt)/2], "not a zip-format PyTorch file"},
		{"truncated.bin", llmc[:len(llmc)-100], "want 138752"},
		{"short_header.bin", llmc[:500], "header is cut short"},
		{"magic.bin", header(0, 20240327), "not a checkpoint file"},
		{"version.bin", header(1, 4), "version 4"},
		{"huge.bin", header(3, 1<<23), "padded_vocab_size 256 < vocab_size 8388608"},
		{"huge_padded.bin", header(7, 1<<24), "want"},
		{"class.pt", zipOf(t, map[string][]byte{"archive/data.pkl": []byte("\x80\x02cos\nsystem\nq\x00.")}), "pickle class os.system is not read"},
		{"nopickle.pt", zipOf(t, map[string][]byte{"archive/data/0": {1, 2, 3}}), "no ARCHIVE/data.pkl"},
		{"short_storage.pt", rezip(t, pt, "archive/data/0", 0.5), "declared"},
		{"list.pt", zipOf(t, map[string][]byte{"archive/data.pkl": []byte("\x80\x02]q\x00.")}), "top-level value is []interface {}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(path)
			if err == nil {
				t.Fatalf("loaded %s (%s)", c.name, l.Format)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s and holding %q", msg, path, c.want)
			}
		})
	}
}

// zipOf writes a zip of the given records.
func zipOf(t *testing.T, records map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, b := range records {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rezip copies the zip src with the record named cut shortened to the fraction keep.
func rezip(t *testing.T, src []byte, cut string, keep float64) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	records := map[string][]byte{}
	found := false
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, "/data/0") {
			b, found = b[:int(float64(len(b))*keep)], true
		}
		records[f.Name] = b
	}
	if !found {
		t.Fatalf("no record %s", cut)
	}
	return zipOf(t, records)
}
