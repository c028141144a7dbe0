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
			for pos, row := range want.Logits {
				if len(row) != c.vocab {
					t.Fatalf("fixture row %d has %d logits, want %d", pos, len(row), c.vocab)
				}
			}
			compareLogits(t, l, want.IDs, want.Logits)
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
		{"short_storage.pt", rezip(t, pt, "/data/0", 0.5), "declared"},
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

// editZip copies the zip src with each record's bytes passed through edit (by record name),
// failing when edit reports that no record was changed.
func editZip(t *testing.T, src []byte, edit func(name string, b []byte) ([]byte, bool)) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	records := map[string][]byte{}
	changed := false
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
		b2, ok := edit(f.Name, b)
		records[f.Name], changed = b2, changed || ok
	}
	if !changed {
		t.Fatal("editZip: no record edited")
	}
	return zipOf(t, records)
}

// rezip copies the zip src with the record whose name ends in cut shortened to the fraction keep.
func rezip(t *testing.T, src []byte, cut string, keep float64) []byte {
	t.Helper()
	return editZip(t, src, func(name string, b []byte) ([]byte, bool) {
		if !strings.HasSuffix(name, cut) {
			return b, false
		}
		return b[:int(float64(len(b))*keep)], true
	})
}

// nanochatFixtures are the checkpoints bench/nanochat_fixtures.py wrote with PyTorch (a
// reference nanochat GPT written from nanochat's description) and, for each, the window of ids
// (fixtures.json) and the float32 logits (T, vocab_size) it computed (<name>.logits.f32, from
// the bf16-rounded embeddings).
const nanochatFixtures = "testdata/nanochat"

// TestNanochatParity loads each nanochat directory through Open and compares the family's
// logits with PyTorch's: max |Δ| within 1e-5 of the largest |logit|, every argmax equal.
func TestNanochatParity(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(nanochatFixtures, "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx map[string]struct {
		IDs   []int32 `json:"ids"`
		File  string  `json:"logits_file"`
		Shape []int   `json:"shape"`
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dir   string
		notes []string // substrings the loader's notes must hold
		bf16  bool
	}{
		{"random", []string{"step 0", "padded to 320", "stored in BF16"}, true},
		{"trained", []string{"step 120, val_bpb 3.9321", "padded to 320"}, true},
		{"legacy", []string{"_orig_mod. from 33 keys", "resid_lambdas missing", "x0_lambdas missing", `patched to "L"`}, true},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			l, err := Open(filepath.Join(nanochatFixtures, c.dir))
			if err != nil {
				t.Fatal(err)
			}
			f := fx[c.dir]
			if l.Format != FormatNanochat || l.Family.Dims().VocabSize != f.Shape[1] {
				t.Fatalf("format %q vocab %d, want %q %d", l.Format, l.Family.Dims().VocabSize, FormatNanochat, f.Shape[1])
			}
			notes := strings.Join(l.Notes, "; ")
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", notes, n)
				}
			}
			if got := l.DTypes[gomlxmodel.GPT2Wte]; (got == "BF16") != c.bf16 {
				t.Errorf("wte dtype %s", got)
			}
			raw, err := os.ReadFile(filepath.Join(nanochatFixtures, f.File))
			if err != nil {
				t.Fatal(err)
			}
			T, V := f.Shape[0], f.Shape[1]
			if len(raw) != 4*T*V || len(f.IDs) != T {
				t.Fatalf("fixture %s: %d bytes, %d ids for shape %v", f.File, len(raw), len(f.IDs), f.Shape)
			}
			want := make([][]float64, T)
			for p := range want {
				want[p] = make([]float64, V)
				for j := range want[p] {
					want[p][j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(p*V+j):])))
				}
			}
			compareLogits(t, l, f.IDs, want)
		})
	}
}

// compareLogits runs l on ids and compares with want (T, V): max |Δ| within 1e-5 of the
// largest |logit|, every argmax equal.
func compareLogits(t *testing.T, l *Loaded, ids []int32, want [][]float64) {
	t.Helper()
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	V := l.Family.Dims().VocabSize
	var maxDiff, maxAbs float64
	for pos, row := range want {
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
}

// TestNanochatConventionsMatter: each of nanochat's own conventions, flipped, moves the trained
// fixture's logits well past the parity tolerance, so the parity above pins every one of them.
func TestNanochatConventionsMatter(t *testing.T) {
	l, err := Open(filepath.Join(nanochatFixtures, "trained"))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, 144)
	for i := range ids {
		ids[i] = int32(i*37%251 + 1)
	}
	run := func(l *Loaded) []float32 {
		r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Logits([][]int32{ids})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := run(l)
	for _, s := range []string{"rope_sign=positive", "rope_pairing=interleaved", "rope_theta=10000", "gqa_mapping=tile",
		"qk_norm_scale=1", "window_pattern=L", "logit_softcap=none", "causal=false"} {
		c := *l
		if err := c.WithConventions(s); err != nil {
			t.Fatal(err)
		}
		var d float64
		for i, x := range run(&c) {
			d = max(d, math.Abs(float64(x-base[i])))
		}
		if d < 1e-3 {
			t.Errorf("%s moves the logits by %.3g only", s, d)
		}
	}
}

// TestHostileNanochat: a nanochat checkpoint whose meta and model disagree, or whose meta or
// state dict is not nanochat's, is refused by Open in one line naming the file and the key.
func TestHostileNanochat(t *testing.T) {
	src := filepath.Join(nanochatFixtures, "trained")
	model, err := os.ReadFile(filepath.Join(src, "model_000120.pt"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(src, "meta_000120.json"))
	if err != nil {
		t.Fatal(err)
	}
	editMeta := func(edit func(m, mc map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(meta, &m); err != nil {
			t.Fatal(err)
		}
		edit(m, m["model_config"].(map[string]any))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name        string
		model, meta []byte // nil meta: no meta file
		want        string
	}{
		{"kv_heads", model, editMeta(func(_, mc map[string]any) { mc["n_kv_head"] = 4 }), `"transformer.h.0.attn.c_k.weight" has shape [16 32], meta_000120.json's model_config wants [32 32]`},
		{"layers", model, editMeta(func(_, mc map[string]any) { mc["n_layer"] = 3 }), `"resid_lambdas" has shape [4], meta_000120.json's model_config wants [3]`},
		{"unknown_key", model, editMeta(func(_, mc map[string]any) { mc["mlp_ratio"] = 4 }), `unknown field "mlp_ratio"`},
		{"no_n_head", model, editMeta(func(_, mc map[string]any) { delete(mc, "n_head") }), `model_config["n_head"] missing`},
		{"window", model, editMeta(func(_, mc map[string]any) { mc["window_pattern"] = "SXL" }), `window_pattern "SXL" is not made of S and L`},
		{"step", model, editMeta(func(m, _ map[string]any) { m["step"] = 99 }), "step 99, but the model file is step 120"},
		{"no_model_config", model, editMeta(func(m, _ map[string]any) { delete(m, "model_config") }), "no model_config"},
		{"no_meta", model, nil, "cannot read nanochat's meta file"},
		{"missing_tensor", repickle(t, model, "smear_lambda", "smear_lambdX"), meta, `missing tensor "smear_lambda" (1 missing), and unexpected "smear_lambdX"`},
		{"truncated", model[:len(model)/2], meta, "not a zip-format PyTorch file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "model_000120.pt"), c.model, 0o644); err != nil {
				t.Fatal(err)
			}
			if c.meta != nil {
				if err := os.WriteFile(filepath.Join(dir, "meta_000120.json"), c.meta, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Open(dir)
			if err == nil {
				t.Fatalf("loaded %s (%s)", c.name, l.Format)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, dir) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s and holding %q", msg, dir, c.want)
			}
		})
	}
}

// repickle copies the zip src with old replaced by new (of the same length) in its pickle.
func repickle(t *testing.T, src []byte, old, new string) []byte {
	t.Helper()
	return editZip(t, src, func(name string, b []byte) ([]byte, bool) {
		if !strings.HasSuffix(name, "/data.pkl") || !bytes.Contains(b, []byte(old)) {
			return b, false
		}
		return bytes.ReplaceAll(b, []byte(old), []byte(new)), true
	})
}

// TestNanochatSteps: a directory of several steps opens its largest and says so; a model file
// opens with the meta of its own step.
func TestNanochatSteps(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"random/model_000000.pt", "random/meta_000000.json", "trained/model_000120.pt", "trained/meta_000120.json"} {
		b, err := os.ReadFile(filepath.Join(nanochatFixtures, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(l.Notes, "; "); !strings.Contains(notes, "steps 0, 120: read the largest") || !strings.Contains(notes, "step 120") {
		t.Errorf("notes %q", notes)
	}
	l, err = Open(filepath.Join(dir, "model_000000.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(l.Notes, "; "); !strings.Contains(notes, "step 0,") || l.ConfigFile != filepath.Join(dir, "meta_000000.json") {
		t.Errorf("notes %q, config %s", notes, l.ConfigFile)
	}
}
