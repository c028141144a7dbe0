package corpus

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"nanoscope/gomlxmodel/tokenfile"
)

func TestEncoderSeed(t *testing.T) {
	enc, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		ids  []uint32
	}{
		{"fn main() {", []uint32{22184, 1388, 3419, 1391}}, // REFERENCE.md §2
		{"", []uint32{}},
	} {
		got := enc.Encode(tc.text)
		if !reflect.DeepEqual(got, tc.ids) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.ids)
		}
		if d := enc.Decode(got); d != tc.text {
			t.Errorf("Decode(Encode(%q)) = %q", tc.text, d)
		}
	}
	if s := enc.DecodeOne(EOT); s != EOTText {
		t.Errorf("DecodeOne(EOT) = %q", s)
	}
	if s := enc.DecodeOne(GPT2VocabSize); s != "<|invalid:50257|>" {
		t.Errorf("DecodeOne(50257) = %q", s)
	}
	// Multi-byte characters split over tokens still decode byte for byte when concatenated.
	text := "let s = \"→ héllo 世界\"; // ünïcode\n"
	ids := enc.Encode(text)
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(enc.DecodeOne(id))
	}
	if sb.String() != text || enc.Decode(ids) != text {
		t.Errorf("round trip of %q: %q", text, sb.String())
	}
	// "<|endoftext|>" in text is ordinary text, never EOT.
	for _, id := range enc.Encode("a <|endoftext|> b") {
		if id == EOT {
			t.Error("Encode produced EOT from text")
		}
	}
}

func TestEntropy(t *testing.T) {
	// Tokens [a, a, b, c] over a vocabulary {a, b, c, d}.
	train := []float64{2, 1, 1, 0}
	want := -(0.5*math.Log(0.5) + 2*0.25*math.Log(0.25))
	if got := UnigramEntropy(train); math.Abs(got-want) > 1e-12 {
		t.Errorf("UnigramEntropy = %.15g, want %.15g", got, want)
	}
	if got := UnigramEntropy([]float64{5}); got != 0 {
		t.Errorf("entropy of a point mass = %g", got)
	}
	// Eval tokens [a, d]: Laplace q = (3, 2, 2, 1)/8.
	eval := []float64{1, 0, 0, 1}
	wantX := -(0.5*math.Log(3.0/8) + 0.5*math.Log(1.0/8))
	if got := UnigramCrossEntropy(train, eval); math.Abs(got-wantX) > 1e-12 {
		t.Errorf("UnigramCrossEntropy = %.15g, want %.15g", got, wantX)
	}
	// Uniform with no training data: ln V.
	if got := UnigramCrossEntropy(make([]float64, 8), []float64{1, 2, 3, 0, 0, 0, 0, 1}); math.Abs(got-math.Log(8)) > 1e-12 {
		t.Errorf("untrained cross-entropy = %g, want ln 8", got)
	}
}

func TestRankIDs(t *testing.T) {
	counts := []float64{0, 3, 5, 3, 0, 1, 5}
	if got, want := rankIDs(counts, 10), []int{2, 6, 1, 3, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("rankIDs = %v, want %v", got, want)
	}
	if got, want := rankIDs(counts, 3), []int{2, 6, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("rankIDs limit 3 = %v, want %v", got, want)
	}
}

// testTree writes a small Rust tree and returns its root and the contents of the files Build
// should take, by relative path.
func testTree(t *testing.T) (string, map[string]string) {
	root := t.TempDir()
	files := map[string]string{}
	for i := range 24 {
		rel := fmt.Sprintf("crate%d/src/mod_%02d.rs", i%3, i)
		var sb strings.Builder
		fmt.Fprintf(&sb, "//! Module %d — ünïcode → 世界\n\nuse std::fmt;\n\n", i)
		for j := range i%5 + 1 {
			fmt.Fprintf(&sb, "pub fn f%d_%d(x: u32) -> u32 {\n    x.wrapping_mul(%d) + %d\n}\n\n", i, j, i+j, j)
		}
		if i%4 == 0 {
			sb.WriteString("impl fmt::Debug for Foo {\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(\"Foo\") }\n}\n")
		}
		files[rel] = sb.String()
	}
	files["lib.rs"] = "fn main() {\n    println!(\"hello\");\n}\n"
	for rel, s := range files {
		write(t, root, rel, s)
	}
	// Files Build must leave out.
	write(t, root, "README.md", "not rust")
	write(t, root, ".git/hooks/x.rs", "fn hidden() {}")
	write(t, root, "empty.rs", "")
	write(t, root, "latin1.rs", "// caf\xe9\n")
	return root, files
}

func write(t *testing.T, root, rel, s string) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	for _, n := range []string{TrainFile, ValFile, TrainCompactFile, ValCompactFile, VocabFile, StatsFile} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func TestBuild(t *testing.T) {
	root, files := testTree(t)
	out1, out2 := t.TempDir(), t.TempDir()
	opts := Options{Src: root, Out: out1, ValFrac: 0.25, Vocab: 64, Workers: 1}
	st, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Out, opts.Workers = out2, 3
	if _, err := Build(opts); err != nil {
		t.Fatal(err)
	}

	t.Run("deterministic", func(t *testing.T) {
		a, b := readAll(t, out1), readAll(t, out2)
		for n := range a {
			if !bytes.Equal(a[n], b[n]) {
				t.Errorf("%s differs between Workers 1 and 3", n)
			}
		}
		ents, _ := os.ReadDir(out1)
		if len(ents) != 6 {
			t.Errorf("%d entries in the output, want the 6 files (no temporaries)", len(ents))
		}
	})

	t.Run("counts", func(t *testing.T) {
		if st.FilesInTree != len(files)+2 || st.Files != len(files) || st.SkippedEmpty != 1 || st.SkippedBadUTF8 != 1 {
			t.Errorf("files in tree %d, files %d, skipped %d empty %d bad UTF-8; want %d, %d, 1, 1",
				st.FilesInTree, st.Files, st.SkippedEmpty, st.SkippedBadUTF8, len(files)+2, len(files))
		}
		if st.TrainFiles+st.ValFiles != st.Files || st.ValFiles == 0 || st.TrainFiles == 0 {
			t.Errorf("split %d train + %d val of %d files", st.TrainFiles, st.ValFiles, st.Files)
		}
		var n int64
		for _, s := range files {
			n += int64(len(s))
		}
		if st.Bytes != n || st.TrainBytes+st.ValBytes != n {
			t.Errorf("bytes %d (train %d + val %d), want %d", st.Bytes, st.TrainBytes, st.ValBytes, n)
		}
		disk, err := LoadStats(filepath.Join(out1, StatsFile))
		if err != nil {
			t.Fatal(err)
		}
		st2 := st
		st2.Elapsed = 0
		if !reflect.DeepEqual(disk, st2) {
			t.Errorf("stats.json %+v\n differs from returned %+v", disk, st2)
		}
	})

	enc, _ := NewEncoder()
	train, err := tokenfile.Read(filepath.Join(out1, TrainFile))
	if err != nil {
		t.Fatal(err)
	}
	val, err := tokenfile.Read(filepath.Join(out1, ValFile))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("split by file, decodes to the joined sources", func(t *testing.T) {
		var rels []string
		for rel := range files {
			rels = append(rels, rel)
		}
		sort.Strings(rels)
		isVal := map[string]bool{}
		for _, p := range st.ValPaths {
			isVal[p] = true
		}
		var wantTrain, wantVal []string
		for _, rel := range rels {
			if isVal[rel] {
				wantVal = append(wantVal, files[rel])
			} else {
				wantTrain = append(wantTrain, files[rel])
			}
			if (splitHash(rel) < opts.ValFrac) != isVal[rel] {
				t.Errorf("%s: hash %.3f but in val=%v", rel, splitHash(rel), isVal[rel])
			}
		}
		if got, want := enc.Decode(train), strings.Join(wantTrain, EOTText); got != want {
			t.Errorf("train.bin decodes to\n%q\nwant\n%q", got, want)
		}
		if got, want := enc.Decode(val), strings.Join(wantVal, EOTText); got != want {
			t.Errorf("val.bin decodes to\n%q\nwant\n%q", got, want)
		}
		var nEOT int
		for _, id := range train {
			if id == EOT {
				nEOT++
			}
		}
		if nEOT != st.TrainFiles-1 || len(train) != st.TrainTokens || len(val) != st.ValTokens {
			t.Errorf("%d separators in train for %d files; %d/%d tokens vs stats %d/%d",
				nEOT, st.TrainFiles, len(train), len(val), st.TrainTokens, st.ValTokens)
		}
	})

	t.Run("compact vocabulary", func(t *testing.T) {
		v, err := LoadVocab(filepath.Join(out1, VocabFile))
		if err != nil {
			t.Fatal(err)
		}
		if v.Size() != 64 || v.Unk != 63 || v.ToGPT2(uint32(v.Unk)) != -1 || v.Decode(uint32(v.Unk)) != UnkText {
			t.Fatalf("size %d unk %d", v.Size(), v.Unk)
		}
		// The first Size()-1 ids are the most frequent train ids, ties by id.
		counts := countIDs(train, GPT2VocabSize)
		for c := 1; c < v.Unk; c++ {
			a, b := v.GPT2IDs[c-1], v.GPT2IDs[c]
			if counts[a] < counts[b] || counts[a] == counts[b] && a > b {
				t.Fatalf("compact ids %d, %d: GPT-2 ids %d (count %g), %d (count %g) out of order", c-1, c, a, counts[a], b, counts[b])
			}
		}
		for split, name := range map[string][2]string{"train": {TrainFile, TrainCompactFile}, "val": {ValFile, ValCompactFile}} {
			g, _ := tokenfile.Read(filepath.Join(out1, name[0]))
			c, err := tokenfile.Read(filepath.Join(out1, name[1]))
			if err != nil {
				t.Fatal(err)
			}
			if err := tokenfile.CheckRange(name[1], c, v.Size()); err != nil {
				t.Fatal(err)
			}
			unk := 0
			for i := range g {
				if back := v.ToGPT2(c[i]); back >= 0 {
					if uint32(back) != g[i] || v.ToCompact(g[i]) != c[i] || v.Decode(c[i]) != enc.DecodeOne(g[i]) {
						t.Fatalf("%s position %d: GPT-2 %d -> compact %d -> GPT-2 %d", split, i, g[i], c[i], back)
					}
				} else {
					unk++
					if c[i] != uint32(v.Unk) || v.ToCompact(g[i]) != uint32(v.Unk) {
						t.Fatalf("%s position %d: compact %d maps to -1 but is not unk", split, i, c[i])
					}
				}
			}
			cov := 1 - float64(unk)/float64(len(g))
			want := map[string]float64{"train": v.CoverageTrain, "val": v.CoverageVal}[split]
			if math.Abs(cov-want) > 1e-12 {
				t.Errorf("%s coverage %g, vocab.json says %g", split, cov, want)
			}
		}
		if v.CoverageTrain >= 1 || v.CoverageTrain <= 0.5 {
			t.Errorf("train coverage %g: want some unk with 63 ids", v.CoverageTrain)
		}
		if v.Decode(1000) != "<|invalid:1000|>" || v.ToGPT2(1000) != -1 || v.ToCompact(1<<30) != uint32(v.Unk) {
			t.Error("out-of-range ids")
		}
	})

	t.Run("entropies", func(t *testing.T) {
		// Recompute by the definition, token by token.
		naive := func(train, val []uint32, V int) (h, x float64) {
			c := map[uint32]float64{}
			for _, id := range train {
				c[id]++
			}
			n := float64(len(train))
			for _, k := range c {
				h -= k / n * math.Log(k/n)
			}
			for _, id := range val {
				x -= math.Log((c[id] + 1) / (n + float64(V)))
			}
			return h, x / float64(len(val))
		}
		h, x := naive(train, val, GPT2VocabSize)
		if math.Abs(h-st.GPT2.UnigramEntropyTrain) > 1e-9 || math.Abs(x-st.GPT2.UnigramXentVal) > 1e-9 {
			t.Errorf("GPT-2: entropy %g xent %g, stats %g %g", h, x, st.GPT2.UnigramEntropyTrain, st.GPT2.UnigramXentVal)
		}
		ct, _ := tokenfile.Read(filepath.Join(out1, TrainCompactFile))
		cv, _ := tokenfile.Read(filepath.Join(out1, ValCompactFile))
		h, x = naive(ct, cv, 64)
		if math.Abs(h-st.Compact.UnigramEntropyTrain) > 1e-9 || math.Abs(x-st.Compact.UnigramXentVal) > 1e-9 {
			t.Errorf("compact: entropy %g xent %g, stats %g %g", h, x, st.Compact.UnigramEntropyTrain, st.Compact.UnigramXentVal)
		}
		if st.Compact.UnigramEntropyTrain >= st.GPT2.UnigramEntropyTrain {
			t.Errorf("merging rare ids into unk should lower the entropy: %g vs %g", st.Compact.UnigramEntropyTrain, st.GPT2.UnigramEntropyTrain)
		}
	})

	t.Run("max bytes", func(t *testing.T) {
		// lib.rs sorts after the crate directories; cap after the first few files.
		var rels []string
		for rel := range files {
			rels = append(rels, rel)
		}
		sort.Strings(rels)
		limit := int64(len(files[rels[0]]) + len(files[rels[1]]) + len(files[rels[2]]))
		st, err := Build(Options{Src: root, Out: t.TempDir(), MaxBytes: limit + 1})
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 3 || st.Bytes != limit || st.ValFiles != 1 {
			t.Errorf("MaxBytes %d: %d files, %d bytes, %d val files; want 3, %d, 1", limit+1, st.Files, st.Bytes, st.ValFiles, limit)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, o := range []Options{
			{Out: t.TempDir()},
			{Src: root},
			{Src: root, Out: t.TempDir(), ValFrac: 1},
			{Src: root, Out: t.TempDir(), Vocab: 1},
			{Src: root, Out: t.TempDir(), Lang: "cobol"},
			{Src: filepath.Join(root, "crate0", "src"), Out: t.TempDir(), Ext: []string{".md"}},
		} {
			if _, err := Build(o); err == nil {
				t.Errorf("Build(%+v) succeeded", o)
			}
		}
	})
}

func TestDefaultSource(t *testing.T) {
	dir, lang, err := DefaultSource()
	if err != nil {
		t.Skip(err)
	}
	if lang != LangRust && lang != LangGo {
		t.Fatalf("lang %q", lang)
	}
	ext, _ := DefaultExt(lang)
	fs, err := listSources(dir, ext)
	if err != nil || len(fs) < 100 {
		t.Fatalf("%s (%s): %d %v files, err %v", dir, lang, len(fs), ext, err)
	}
	t.Logf("%s (%s): %d files", dir, lang, len(fs))
}

// TestBuildDefaultSource builds the real corpus and logs its statistics. It is slow, so it runs
// only with NANOSCOPE_CORPUS_MAXBYTES set: -1 for the whole tree, or a byte cap.
func TestBuildDefaultSource(t *testing.T) {
	env := os.Getenv("NANOSCOPE_CORPUS_MAXBYTES")
	if env == "" {
		t.Skip("set NANOSCOPE_CORPUS_MAXBYTES (-1 = whole tree) to build the real corpus")
	}
	var maxBytes int64
	fmt.Sscan(env, &maxBytes)
	maxBytes = max(maxBytes, 0)
	dir, lang, err := DefaultSource()
	if err != nil {
		t.Fatal(err)
	}
	for _, vocab := range []int{4096, 2048} {
		out := t.TempDir()
		if o := os.Getenv("NANOSCOPE_CORPUS_OUT"); o != "" {
			out = filepath.Join(o, fmt.Sprint(vocab))
		}
		st, err := Build(Options{Src: dir, Out: out, Lang: lang, MaxBytes: maxBytes, Vocab: vocab})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Vocab=%d: %s (%s) %d/%d files, %d/%d bytes, %.1fs; train %d files %d tokens, val %d files %d tokens",
			vocab, dir, lang, st.Files, st.FilesInTree, st.Bytes, st.BytesInTree, st.Elapsed.Seconds(),
			st.TrainFiles, st.TrainTokens, st.ValFiles, st.ValTokens)
		t.Logf("  gpt2:    distinct train %d val %d; H(train) %.4f nats, xent(val) %.4f nats",
			st.GPT2.DistinctTrain, st.GPT2.DistinctVal, st.GPT2.UnigramEntropyTrain, st.GPT2.UnigramXentVal)
		t.Logf("  compact: coverage train %.4f val %.4f; H(train) %.4f nats, xent(val) %.4f nats",
			st.Compact.CoverageTrain, st.Compact.CoverageVal, st.Compact.UnigramEntropyTrain, st.Compact.UnigramXentVal)
		if vocab != 4096 {
			continue
		}
		// The val split decodes byte for byte to its files joined by the separator.
		val, err := tokenfile.Read(filepath.Join(out, ValFile))
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, rel := range st.ValPaths {
			b, err := os.ReadFile(filepath.Join(st.Src, rel))
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, string(b))
		}
		enc, _ := NewEncoder()
		if enc.Decode(val) != strings.Join(parts, EOTText) {
			t.Error("val.bin does not decode to its source files")
		}
		if err := tokenfile.CheckRange(ValFile, val, GPT2VocabSize); err != nil {
			t.Error(err)
		}
	}
}
