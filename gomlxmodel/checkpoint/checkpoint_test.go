package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel/config"
)

// testConfig is a small valid configuration: 2 layers, dim 16, 2 heads of 8, vocab 50.
func testConfig() config.Config {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 16, 2, 2, 2, 2.0
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.MHCNStreams = 50, 32, 8, 2
	return c
}

// randomTensors fills every tensor of the spec with random values.
func randomTensors(c config.Config, v config.Variant, seed uint64) map[string]Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	out := map[string]Tensor{}
	for name, shape := range c.TensorShapes(v) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64())
		}
		out[name] = Tensor{Shape: append([]int(nil), shape...), Data: data}
	}
	return out
}

func testMeta() Meta {
	return Meta{Config: testConfig(), Step: 1234, Loss: 3.29, Variant: config.DefaultVariant()}
}

// saveValid writes a good checkpoint into a fresh directory and returns it.
func saveValid(t *testing.T) (string, map[string]Tensor, Meta) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ckpt")
	meta := testMeta()
	tensors := randomTensors(meta.Config, meta.Variant, 7)
	if err := Save(dir, tensors, meta); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return dir, tensors, meta
}

// assertError checks that err is a one-line *Error containing every wanted substring.
func assertError(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", wants)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Errorf("error %T is not *checkpoint.Error: %v", err, err)
	}
	msg := err.Error()
	t.Log(msg) // go test -v shows every message as a user would see it
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func assertSameTensors(t *testing.T, got, want map[string]Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("tensor %s missing", name)
		case !reflect.DeepEqual(g.Shape, w.Shape) && !(len(g.Shape) == 0 && len(w.Shape) == 0):
			t.Errorf("tensor %s: shape %v, want %v", name, g.Shape, w.Shape)
		case len(g.Data) != len(w.Data):
			t.Errorf("tensor %s: %d values, want %d", name, len(g.Data), len(w.Data))
		default:
			for i := range w.Data {
				if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
					t.Errorf("tensor %s[%d]: bits %#x, want %#x", name, i, math.Float32bits(g.Data[i]), math.Float32bits(w.Data[i]))
					break
				}
			}
		}
	}
}

// rawEntry is one tensor of a hand-built safetensors file.
type rawEntry struct {
	name, dtype string
	shape       []int
	data        []byte
}

// rawFile builds safetensors bytes by hand, without the library: 8-byte LE header length,
// JSON header (entries in the given order, duplicates allowed, no padding), data in the same
// order unless dataOrder permutes it.
func rawFile(entries []rawEntry, dataOrder []int) []byte {
	if dataOrder == nil {
		for i := range entries {
			dataOrder = append(dataOrder, i)
		}
	}
	offsets := make([][2]int, len(entries))
	var data []byte
	for _, i := range dataOrder {
		offsets[i] = [2]int{len(data), len(data) + len(entries[i].data)}
		data = append(data, entries[i].data...)
	}
	parts := []string{`"__metadata__":{"format":"pt"}`}
	for i, e := range entries {
		shape, _ := json.Marshal(e.shape)
		if e.shape == nil {
			shape = []byte("[]")
		}
		parts = append(parts, fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`,
			e.name, e.dtype, shape, offsets[i][0], offsets[i][1]))
	}
	return rawBytes("{"+strings.Join(parts, ",")+"}", data)
}

func rawBytes(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func f32Bytes(vals []float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// rawEntries encodes tensors as F32 entries in sorted order.
func rawEntries(tensors map[string]Tensor) []rawEntry {
	var es []rawEntry
	for _, name := range sortedKeys(tensors) {
		t := tensors[name]
		es = append(es, rawEntry{name, "F32", t.Shape, f32Bytes(t.Data)})
	}
	return es
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editMeta rewrites dir's meta.json after edit changes its decoded form.
func editMeta(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, MetaFile), b)
}

func cfgField(m map[string]any) map[string]any { return m["config"].(map[string]any) }

func TestRoundTrip(t *testing.T) {
	untied := testConfig()
	untied.WeightTied = false
	plain := config.DefaultVariant()
	plain.MHC, plain.Ternary, plain.Optimizer, plain.Seed = false, false, "adamw", 42
	tests := []struct {
		name string
		meta Meta
	}{
		{"tied, default variant absent", Meta{Config: testConfig(), Step: 0, Loss: 10.83, Variant: config.DefaultVariant()}},
		{"tied, default variant written", Meta{Config: testConfig(), Step: 5, Loss: 3.29, Variant: config.DefaultVariant(), HasVariant: true}},
		{"untied, no mHC, extra fields", Meta{Config: untied, Step: 20000, Loss: 1.0 / 3, Variant: plain, HasVariant: true,
			Extra: map[string]json.RawMessage{"git": json.RawMessage(`"b6a0512"`), "opt": json.RawMessage(`{"a": [1, 2.5]}`)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tensors := randomTensors(tc.meta.Config, tc.meta.Variant, 3)
			// Values whose bits a sloppy conversion would change.
			emb := tensors["tok_embed.weight"].Data
			copy(emb, []float32{float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-38})
			dir := filepath.Join(t.TempDir(), "run", "ckpt-5")
			if err := Save(dir, tensors, tc.meta); err != nil {
				t.Fatalf("Save: %v", err)
			}
			ck, err := Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			assertSameTensors(t, ck.Tensors, tensors)
			if !reflect.DeepEqual(ck.Meta, tc.meta) {
				t.Errorf("meta round trip:\n got %+v\nwant %+v", ck.Meta, tc.meta)
			}
			if _, ok := ck.Tensors["lm_head.weight"]; ok == tc.meta.Config.WeightTied {
				t.Errorf("lm_head.weight present=%v with weight_tied=%v", ok, tc.meta.Config.WeightTied)
			}
			for name, want := range tensors {
				if TensorHash(ck.Tensors[name]) != TensorHash(want) {
					t.Errorf("tensor %s: hash differs after round trip", name)
				}
			}
			// No temp or old directories are left beside the checkpoint.
			entries, _ := os.ReadDir(filepath.Dir(dir))
			if len(entries) != 1 {
				t.Errorf("parent holds %d entries, want only the checkpoint: %v", len(entries), entries)
			}
		})
	}
}

func TestSaveDeterministicSortedLayout(t *testing.T) {
	meta := testMeta()
	tensors := randomTensors(meta.Config, meta.Variant, 9)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		if err := Save(dir, tensors, meta); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{ModelFile, MetaFile} {
		ba, _ := os.ReadFile(filepath.Join(a, f))
		bb, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s differs between two saves of the same checkpoint", f)
		}
	}
	// Data section in sorted name order, header 8-byte aligned.
	buf, _ := os.ReadFile(filepath.Join(a, ModelFile))
	entries, err := parseHeader("x", buf)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(buf); n%8 != 0 {
		t.Errorf("header length %d not 8-byte aligned", n)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i-1].name >= entries[i].name {
			t.Errorf("data order not sorted: %s before %s", entries[i-1].name, entries[i].name)
		}
	}
}

func TestSaveReplacesAndKeepsOtherFiles(t *testing.T) {
	dir, tensors, meta := saveValid(t)
	writeFile(t, filepath.Join(dir, "vocab.json"), []byte(`{"a":1}`))
	if err := os.Mkdir(filepath.Join(dir, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "notes", "x.txt"), []byte("kept"))
	meta.Step, meta.Loss = 2000, 2.5
	tensors["norm_final.weight"].Data[0] = 42
	if err := Save(dir, tensors, meta); err != nil {
		t.Fatalf("second Save: %v", err)
	}
	ck, err := Load(dir) // also proves that an unrelated file in the directory is fine
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if ck.Meta.Step != 2000 || ck.Meta.Loss != 2.5 || ck.Tensors["norm_final.weight"].Data[0] != 42 {
		t.Errorf("Load after overwrite got step %d loss %v norm[0] %v, want the new checkpoint",
			ck.Meta.Step, ck.Meta.Loss, ck.Tensors["norm_final.weight"].Data[0])
	}
	for f, want := range map[string]string{"vocab.json": `{"a":1}`, "notes/x.txt": "kept"} {
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(got) != want {
			t.Errorf("%s after overwrite: %q, %v; want %q", f, got, err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("parent holds %v, want only the checkpoint", entries)
	}
}

func TestSaveRefuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(tensors map[string]Tensor, m *Meta)
		wants []string
	}{
		{"NaN", func(ts map[string]Tensor, m *Meta) { ts["blocks.0.ffn.w_up.weight"].Data[5] = float32(math.NaN()) },
			[]string{"blocks.0.ffn.w_up.weight", "non-finite", "NaN at index 5"}},
		{"-Inf", func(ts map[string]Tensor, m *Meta) { ts["norm_final.weight"].Data[2] = float32(math.Inf(-1)) },
			[]string{"norm_final.weight", "-Inf at index 2"}},
		{"shape product disagrees with data", func(ts map[string]Tensor, m *Meta) {
			w := ts["norm_final.weight"]
			ts["norm_final.weight"] = Tensor{Shape: w.Shape, Data: w.Data[:15]}
		}, []string{"norm_final.weight", "expected 16 values for shape [16], found 15 values"}},
		{"shape disagrees with config", func(ts map[string]Tensor, m *Meta) {
			ts["blocks.0.attn.wq.weight"] = Tensor{Shape: []int{8, 32}, Data: ts["blocks.0.attn.wq.weight"].Data}
		}, []string{"blocks.0.attn.wq.weight", "expected [16 16], found [8 32]"}},
		{"missing tensor", func(ts map[string]Tensor, m *Meta) { delete(ts, "tok_embed.weight") },
			[]string{"missing 1 [tok_embed.weight]"}},
		{"extra lm_head in tied config", func(ts map[string]Tensor, m *Meta) {
			ts["lm_head.weight"] = Tensor{Shape: []int{50, 16}, Data: make([]float32, 800)}
		}, []string{"unexpected 1 [lm_head.weight]", "weight_tied=true"}},
		{"negative step", func(ts map[string]Tensor, m *Meta) { m.Step = -1 }, []string{"meta.json", "invalid step -1"}},
		{"NaN loss", func(ts map[string]Tensor, m *Meta) { m.Loss = math.NaN() }, []string{"meta.json", "invalid loss NaN"}},
		{"invalid config", func(ts map[string]Tensor, m *Meta) { m.Config.NHeads = 3 }, []string{"meta.json", "not a multiple of n_heads 3"}},
		{"unknown optimizer", func(ts map[string]Tensor, m *Meta) { m.Variant.Optimizer = "sgd" }, []string{"meta.json", `"sgd"`}},
		{"reserved extra key", func(ts map[string]Tensor, m *Meta) {
			m.Extra = map[string]json.RawMessage{"step": json.RawMessage("1")}
		}, []string{"meta.json", `"step" collides`}},
		{"invalid extra JSON", func(ts map[string]Tensor, m *Meta) {
			m.Extra = map[string]json.RawMessage{"x": json.RawMessage("{")}
		}, []string{"meta.json", `"x" is not valid JSON`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _, _ := saveValid(t)
			meta := testMeta()
			tensors := randomTensors(meta.Config, meta.Variant, 11)
			tc.edit(tensors, &meta)
			assertError(t, Save(dir, tensors, meta), tc.wants...)
			// The previous checkpoint is intact and nothing is left beside it.
			if ck, err := Load(dir); err != nil || ck.Meta.Step != 1234 {
				t.Errorf("previous checkpoint damaged by a refused Save: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
				t.Errorf("parent holds %v after a refused Save", entries)
			}
			fresh := filepath.Join(t.TempDir(), "new")
			assertError(t, Save(fresh, tensors, meta), tc.wants...)
			if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused Save created %s (%v)", fresh, err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	model := func(dir string) string { return filepath.Join(dir, ModelFile) }
	// rewrite replaces model.safetensors by a hand-built file of the edited tensors.
	rewrite := func(t *testing.T, dir string, ts map[string]Tensor, edit func(es []rawEntry) []rawEntry) {
		es := rawEntries(ts)
		if edit != nil {
			es = edit(es)
		}
		writeFile(t, model(dir), rawFile(es, nil))
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, ts map[string]Tensor)
		wants []string
	}{
		{"missing tensors, all listed", func(t *testing.T, dir string, ts map[string]Tensor) {
			delete(ts, "norm_final.weight")
			delete(ts, "blocks.1.ffn.w_up.weight")
			rewrite(t, dir, ts, nil)
		}, []string{ModelFile, "missing 2 [blocks.1.ffn.w_up.weight norm_final.weight]", "expected 40 tensors, found 38 tensors"}},
		{"no tensors at all", func(t *testing.T, dir string, ts map[string]Tensor) {
			writeFile(t, model(dir), rawFile(nil, nil))
		}, []string{"missing 40 [", "tok_embed.weight", "found 0 tensors"}},
		{"lm_head in tied config", func(t *testing.T, dir string, ts map[string]Tensor) {
			ts["lm_head.weight"] = Tensor{Shape: []int{50, 16}, Data: make([]float32, 800)}
			rewrite(t, dir, ts, nil)
		}, []string{"unexpected 1 [lm_head.weight]", "weight_tied=true", "must not exist"}},
		{"lm_head missing in untied config", func(t *testing.T, dir string, ts map[string]Tensor) {
			editMeta(t, dir, func(m map[string]any) { cfgField(m)["weight_tied"] = false })
		}, []string{"missing 1 [lm_head.weight]", "weight_tied=false", "is required"}},
		{"mHC tensors in a no-mHC variant", func(t *testing.T, dir string, ts map[string]Tensor) {
			editMeta(t, dir, func(m map[string]any) {
				m["nanoscope"] = map[string]any{"ternary": true, "mhc": false, "target_shift": 1, "optimizer": "muon-lion", "seed": 1}
			})
		}, []string{"unexpected 20 [blocks.0.mhc_attn.alpha_logit", "mhc=false from meta.json's nanoscope variant"}},
		{"one shape mismatch", func(t *testing.T, dir string, ts map[string]Tensor) {
			ts["blocks.0.attn.wq.weight"] = Tensor{Shape: []int{8, 16}, Data: make([]float32, 128)}
			rewrite(t, dir, ts, nil)
		}, []string{ModelFile, "tensor blocks.0.attn.wq.weight: shape mismatch", "expected [16 16], found [8 16]"}},
		{"config disagrees with tensors", func(t *testing.T, dir string, ts map[string]Tensor) {
			editMeta(t, dir, func(m map[string]any) { cfgField(m)["dim"] = 32 })
		}, []string{"tensor blocks.0.attn.wk.weight", "first of", "expected [32 32], found [16 16]"}},
		{"F16 dtype", func(t *testing.T, dir string, ts map[string]Tensor) {
			rewrite(t, dir, ts, func(es []rawEntry) []rawEntry {
				for i := range es {
					if es[i].name == "norm_final.weight" {
						es[i].dtype, es[i].data = "F16", make([]byte, 32)
					}
				}
				return es
			})
		}, []string{"tensor norm_final.weight", "unsupported dtype", "expected F32, found F16"}},
		{"truncated file", func(t *testing.T, dir string, ts map[string]Tensor) {
			b, _ := os.ReadFile(model(dir))
			writeFile(t, model(dir), b[:len(b)-10])
		}, []string{ModelFile, "tensor tok_embed.weight", "truncated file? 10 bytes missing", "found [20944 24144]"}},
		{"truncated inside the header", func(t *testing.T, dir string, ts map[string]Tensor) {
			b, _ := os.ReadFile(model(dir))
			writeFile(t, model(dir), b[:40])
		}, []string{ModelFile, "header length exceeds the file", "expected at most 32 bytes"}},
		{"empty file", func(t *testing.T, dir string, ts map[string]Tensor) {
			writeFile(t, model(dir), nil)
		}, []string{ModelFile, "too short", "found 0 bytes"}},
		{"NaN value", func(t *testing.T, dir string, ts map[string]Tensor) {
			ts["blocks.1.attn.wv.weight"].Data[7] = float32(math.NaN())
			rewrite(t, dir, ts, nil)
		}, []string{"tensor blocks.1.attn.wv.weight", "non-finite", "found NaN at index 7 (1 non-finite of 256)"}},
		{"Inf value", func(t *testing.T, dir string, ts map[string]Tensor) {
			ts["norm_final.weight"].Data[3] = float32(math.Inf(1))
			ts["norm_final.weight"].Data[9] = float32(math.Inf(-1))
			rewrite(t, dir, ts, nil)
		}, []string{"tensor norm_final.weight", "+Inf at index 3 (2 non-finite of 16)"}},
		{"missing model file", func(t *testing.T, dir string, ts map[string]Tensor) {
			os.Remove(model(dir))
		}, []string{ModelFile, "cannot read", "no such file"}},
		{"missing meta.json", func(t *testing.T, dir string, ts map[string]Tensor) {
			os.Remove(filepath.Join(dir, MetaFile))
		}, []string{MetaFile, "cannot read", "no such file"}},
		{"missing directory, leftover of an interrupted Save", func(t *testing.T, dir string, ts map[string]Tensor) {
			if err := os.Rename(dir, filepath.Join(filepath.Dir(dir), ".ckpt.old-123")); err != nil {
				t.Fatal(err)
			}
		}, []string{MetaFile, "interrupted Save", ".ckpt.old-123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, ts, _ := saveValid(t)
			tc.setup(t, dir, ts)
			ck, err := Load(dir)
			if ck != nil {
				t.Errorf("Load returned a checkpoint with an error")
			}
			assertError(t, err, tc.wants...)
		})
	}
}

func TestLoadMetaErrors(t *testing.T) {
	set := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }
	setCfg := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { cfgField(m)[k] = v } }
	variant := func(edit func(v map[string]any)) func(m map[string]any) {
		return func(m map[string]any) {
			v := map[string]any{"ternary": true, "mhc": true, "target_shift": 1, "optimizer": "muon-lion", "seed": 1}
			edit(v)
			m["nanoscope"] = v
		}
	}
	tests := []struct {
		name  string
		raw   string                 // written as meta.json when set
		edit  func(m map[string]any) // else applied to the saved meta.json
		wants []string
	}{
		{"not JSON", "step: 5", nil, []string{MetaFile, "invalid meta.json", "not a JSON object"}},
		{"JSON array", "[1, 2]", nil, []string{MetaFile, "not a JSON object"}},
		{"trailing data", `{"step": 1} {}`, nil, []string{MetaFile, "trailing data"}},
		{"duplicate key", `{"step": 1, "step": 2}`, nil, []string{MetaFile, `duplicate name "step"`}},
		{"missing config", "", func(m map[string]any) { delete(m, "config") }, []string{MetaFile, `field "config" is missing`}},
		{"missing step", "", func(m map[string]any) { delete(m, "step") }, []string{`field "step" is missing`}},
		{"missing loss", "", func(m map[string]any) { delete(m, "loss") }, []string{`field "loss" is missing`}},
		{"missing config field", "", func(m map[string]any) { delete(cfgField(m), "rope_theta") },
			[]string{MetaFile, "invalid config", `"rope_theta" is missing`}},
		{"unknown config field", "", setCfg("dropout", 0.1), []string{MetaFile, "invalid config", `unknown field "dropout"`}},
		{"config fails Validate", "", setCfg("n_heads", 3), []string{MetaFile, "dim 16 is not a multiple of n_heads 3"}},
		{"config wrong type", "", setCfg("dim", "16"), []string{MetaFile, "invalid config", "dim"}},
		{"negative step", "", set("step", -1), []string{"invalid step", "expected a non-negative integer, found -1"}},
		{"fractional step", "", set("step", 1.5), []string{"invalid step", "found 1.5"}},
		{"string step", "", set("step", "5"), []string{"invalid step", `found "5"`}},
		{"null loss", "", set("loss", nil), []string{"invalid loss", "NaN/Inf", "found null"}},
		{"string loss", "", set("loss", "NaN"), []string{"invalid loss", `found "NaN"`}},
		{"overflowing loss", `{"config": CFG, "step": 1, "loss": 1e999}`, nil, []string{"invalid loss", "found 1e999"}},
		{"variant unknown field", "", variant(func(v map[string]any) { v["dropout"] = true }),
			[]string{`invalid "nanoscope" variant`, `unknown field "dropout"`}},
		{"variant missing field", "", variant(func(v map[string]any) { delete(v, "mhc") }),
			[]string{`invalid "nanoscope" variant`, `field "mhc" is missing`}},
		{"variant bad optimizer", "", variant(func(v map[string]any) { v["optimizer"] = "sgd" }),
			[]string{`invalid "nanoscope" variant`, `"sgd"`}},
		{"variant negative shift", "", variant(func(v map[string]any) { v["target_shift"] = -1 }),
			[]string{`invalid "nanoscope" variant`, "target_shift"}},
		{"variant key differing in case", `{"config": CFG, "step": 1, "loss": 2, "nanoscope": {"ternary": true, "mhc": true, "MHC": false, "target_shift": 1, "optimizer": "adamw", "seed": 0}}`,
			nil, []string{`invalid "nanoscope" variant`, `unknown field "MHC"`}},
		{"config key differing in case", "", setCfg("Dim", 32), []string{"invalid config", `unknown field "Dim"`}},
		{"config duplicate key", `{"config": {"dim": 16, "dim": 16}, "step": 1, "loss": 2}`, nil, []string{"invalid config", `duplicate name "dim"`}},
		{"variant not an object", "", set("nanoscope", true), []string{`invalid "nanoscope" variant`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _, meta := saveValid(t)
			if tc.raw != "" {
				cfg, _ := json.Marshal(meta.Config)
				writeFile(t, filepath.Join(dir, MetaFile), []byte(strings.ReplaceAll(tc.raw, "CFG", string(cfg))))
			} else {
				editMeta(t, dir, tc.edit)
			}
			_, err := ReadMeta(dir)
			assertError(t, err, tc.wants...)
			_, err = Load(dir)
			assertError(t, err, tc.wants...)
		})
	}
}

func TestLoadToleratesOtherFilesAndFields(t *testing.T) {
	dir, tensors, _ := saveValid(t)
	writeFile(t, filepath.Join(dir, "vocab.json"), []byte(`{"fn": 1}`))
	editMeta(t, dir, func(m map[string]any) { m["tokens_seen"] = 123456; m["note"] = "from rust" })
	if err := os.MkdirAll(filepath.Join(filepath.Dir(dir), ".ckpt.tmp-999"), 0o755); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	assertSameTensors(t, ck.Tensors, tensors)
	if string(ck.Meta.Extra["tokens_seen"]) != "123456" || string(ck.Meta.Extra["note"]) != `"from rust"` {
		t.Errorf("extra fields not preserved: %v", ck.Meta.Extra)
	}
	if ck.Meta.HasVariant || ck.Meta.Variant != config.DefaultVariant() {
		t.Errorf("absent nanoscope should give the default variant, got %+v (HasVariant %v)", ck.Meta.Variant, ck.Meta.HasVariant)
	}
}

// TestHandWrittenCheckpoint proves interoperability with other writers: a checkpoint whose
// safetensors bytes and meta.json are built by hand (header in reverse order, data in yet
// another order, __metadata__, no padding, serde-style pretty JSON) loads identically.
func TestHandWrittenCheckpoint(t *testing.T) {
	cfg := testConfig()
	tensors := randomTensors(cfg, config.DefaultVariant(), 5)
	es := rawEntries(tensors)
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(es))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ModelFile), rawFile(es, order))
	meta := `{
  "config": {
    "dim": 16, "n_layers": 2, "n_heads": 2, "n_kv_heads": 2, "ffn_mult": 2.0,
    "vocab_size": 50, "max_seq_len": 32, "group_size": 8, "mhc_n_streams": 2,
    "weight_tied": true, "rope_theta": 10000.0, "lr": 0.02, "mhc_lr": 0.0001,
    "weight_decay": 0.0, "batch_size": 32, "grad_accum_steps": 1, "warmup_steps": 100,
    "total_steps": 5000, "decay_start_frac": 0.8, "grad_clip": 1.0, "ns_steps": 5,
    "muon_momentum": 0.95, "lion_betas": [0.9, 0.99]
  },
  "step": 20000,
  "loss": 3.2900390625,
  "optimizer_state": null
}`
	writeFile(t, filepath.Join(dir, MetaFile), []byte(meta))
	ck, err := Load(dir)
	if err != nil {
		t.Fatalf("Load of a hand-written checkpoint: %v", err)
	}
	assertSameTensors(t, ck.Tensors, tensors)
	if ck.Meta.Config != cfg || ck.Meta.Step != 20000 || ck.Meta.Loss != 3.2900390625 {
		t.Errorf("meta: got %+v", ck.Meta)
	}
	// Re-saving through the library and loading gives the same weights, hash for hash.
	out := filepath.Join(t.TempDir(), "resaved")
	if err := Save(out, ck.Tensors, ck.Meta); err != nil {
		t.Fatal(err)
	}
	again, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range tensors {
		if TensorHash(again.Tensors[name]) != TensorHash(want) {
			t.Errorf("%s: hash changed through hand-written -> Save -> Load", name)
		}
	}
	if string(again.Meta.Extra["optimizer_state"]) != "null" {
		t.Errorf("extra field lost on re-save: %v", again.Meta.Extra)
	}
}

func TestSafetensorsScalarAndEmpty(t *testing.T) {
	tensors := map[string]Tensor{
		"scalar": {Shape: []int{}, Data: []float32{-2.5}},
		"empty":  {Shape: []int{0, 3}, Data: []float32{}},
		"vec":    {Shape: []int{3}, Data: []float32{1, float32(math.Copysign(0, -1)), 3}},
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteSafetensors(path, tensors); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	assertSameTensors(t, got, tensors)
	// The same file built by hand reads identically.
	hand := filepath.Join(t.TempDir(), "hand.safetensors")
	writeFile(t, hand, rawFile(rawEntries(tensors), []int{2, 0, 1}))
	got, err = ReadSafetensors(hand)
	if err != nil {
		t.Fatal(err)
	}
	assertSameTensors(t, got, tensors)
}

func TestReadSafetensorsMalformed(t *testing.T) {
	f32 := func(s string) string { return `{"dtype":"F32","shape":` + s }
	eight := make([]byte, 8)
	tests := []struct {
		name  string
		file  []byte
		wants []string
	}{
		{"empty", nil, []string{"too short", "found 0 bytes"}},
		{"5 bytes", []byte{1, 2, 3, 4, 5}, []string{"too short", "found 5 bytes"}},
		{"header length beyond file", binary.LittleEndian.AppendUint64(nil, 1000), []string{"header length exceeds the file", "found 1000"}},
		{"absurd header length", append(binary.LittleEndian.AppendUint64(nil, 1<<62), "{}"...), []string{"absurd header length"}},
		{"header not JSON", rawBytes("not json", nil), []string{"invalid header", "not a JSON object"}},
		{"header truncated JSON", rawBytes(`{"a":{"dtype"`, nil), []string{"invalid header"}},
		{"header JSON array", rawBytes("[]", nil), []string{"not a JSON object"}},
		{"trailing data in header", rawBytes(`{} x`, nil), []string{"trailing data"}},
		{"duplicate names", rawBytes(`{"a":`+f32(`[1],"data_offsets":[0,4]},"a":`)+f32(`[1],"data_offsets":[4,8]}}`), eight),
			[]string{"tensor a", `duplicate name "a"`}},
		{"empty name", rawBytes(`{"":`+f32(`[1],"data_offsets":[0,4]}}`), eight[:4]), []string{"empty name"}},
		{"wrong dtype F16", rawFile([]rawEntry{{"h", "F16", []int{2}, make([]byte, 4)}}, nil), []string{"tensor h", "expected F32, found F16"}},
		{"unknown dtype", rawFile([]rawEntry{{"h", "Q4", []int{1}, make([]byte, 4)}}, nil), []string{"tensor h", "found Q4"}},
		{"overlapping offsets", rawBytes(`{"a":`+f32(`[2],"data_offsets":[0,8]},"b":`)+f32(`[2],"data_offsets":[4,12]}}`), make([]byte, 12)),
			[]string{"tensor b", "overlap tensor a", "expected begin 8, found begin 4"}},
		{"gap between tensors", rawBytes(`{"a":`+f32(`[1],"data_offsets":[0,4]},"b":`)+f32(`[1],"data_offsets":[8,12]}}`), make([]byte, 12)),
			[]string{"tensor b", "gap"}},
		{"uncovered tail", rawBytes(`{"a":`+f32(`[1],"data_offsets":[0,4]}}`), eight), []string{"do not cover", "expected 4 data bytes, found 8"}},
		{"offsets beyond data", rawBytes(`{"a":`+f32(`[4],"data_offsets":[0,16]}}`), eight), []string{"tensor a", "past the end of the file (truncated file? 8 bytes missing)", "found [0 16]"}},
		{"offsets reversed", rawBytes(`{"a":`+f32(`[1],"data_offsets":[8,4]}}`), eight), []string{"tensor a", "out of range"}},
		{"three offsets", rawBytes(`{"a":`+f32(`[1],"data_offsets":[0,4,8]}}`), eight), []string{"tensor a", "out of range"}},
		{"shape product mismatch", rawBytes(`{"a":`+f32(`[3],"data_offsets":[0,8]}}`), eight),
			[]string{"tensor a", "does not match shape [3]", "expected 12 bytes, found 8 bytes"}},
		{"negative dimension", rawBytes(`{"a":`+f32(`[-1,2],"data_offsets":[0,0]}}`), nil), []string{"tensor a", "negative dimension"}},
		{"overflowing shape", rawBytes(`{"a":`+f32(`[4294967296,4294967296,0],"data_offsets":[0,0]}}`), nil), []string{"tensor a", "absurd shape"}},
		{"fractional dimension", rawBytes(`{"a":`+f32(`[1.5],"data_offsets":[0,4]}}`), eight[:4]), []string{"tensor a", "invalid header entry"}},
		{"missing dtype", rawBytes(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, eight[:4]), []string{"tensor a", `field "dtype" is missing`}},
		{"entry key differing in case", rawBytes(`{"a":{"DTYPE":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight[:4]),
			[]string{"tensor a", `unknown field "DTYPE"`}},
		{"null shape", rawBytes(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,0]}}`, nil), []string{"tensor a", "null in header entry"}},
		{"unknown entry field", rawBytes(`{"a":`+f32(`[1],"data_offsets":[0,4],"x":1}}`), eight[:4]), []string{"tensor a", `unknown field "x"`}},
		{"metadata not strings", rawBytes(`{"__metadata__":{"n":1}}`, nil), []string{"__metadata__"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			writeFile(t, path, tc.file)
			got, err := ReadSafetensors(path)
			if got != nil {
				t.Errorf("got tensors along with an error")
			}
			assertError(t, err, append(tc.wants, path)...)
		})
	}
}

func TestWriteSafetensorsRefuses(t *testing.T) {
	tests := []struct {
		name    string
		tensors map[string]Tensor
		wants   []string
	}{
		{"empty name", map[string]Tensor{"": {Shape: []int{1}, Data: []float32{1}}}, []string{"invalid tensor name"}},
		{"reserved name", map[string]Tensor{"__metadata__": {Shape: []int{1}, Data: []float32{1}}}, []string{"invalid tensor name"}},
		{"negative dimension", map[string]Tensor{"a": {Shape: []int{-1}, Data: nil}}, []string{"tensor a", "negative dimension"}},
		{"too few values", map[string]Tensor{"a": {Shape: []int{2, 2}, Data: []float32{1, 2, 3}}},
			[]string{"tensor a", "expected 4 values for shape [2 2], found 3 values"}},
		{"NaN", map[string]Tensor{"a": {Shape: []int{2}, Data: []float32{1, float32(math.NaN())}}}, []string{"tensor a", "NaN at index 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.safetensors")
			assertError(t, WriteSafetensors(path, tc.tensors), tc.wants...)
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("refused write left %v", entries)
			}
		})
	}
}

func TestTensorHash(t *testing.T) {
	base := Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}
	tests := []struct {
		name  string
		other Tensor
		same  bool
	}{
		{"copy", Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, true},
		{"transposed shape", Tensor{Shape: []int{3, 2}, Data: base.Data}, false},
		{"flattened shape", Tensor{Shape: []int{6}, Data: base.Data}, false},
		{"one ulp", Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, math.Nextafter32(6, 7)}}, false},
	}
	h := TensorHash(base)
	if len(h) != 64 {
		t.Fatalf("hash %q is not 64 hex digits", h)
	}
	for _, tc := range tests {
		if got := TensorHash(tc.other) == h; got != tc.same {
			t.Errorf("%s: same hash = %v, want %v", tc.name, got, tc.same)
		}
	}
	zero := Tensor{Shape: []int{1}, Data: []float32{0}}
	negZero := Tensor{Shape: []int{1}, Data: []float32{float32(math.Copysign(0, -1))}}
	if TensorHash(zero) == TensorHash(negZero) {
		t.Errorf("+0 and -0 hash alike; the hash must see bits")
	}
	big := Tensor{Shape: []int{40000}, Data: make([]float32, 40000)} // crosses the 64 KiB chunking
	big2 := Tensor{Shape: []int{40000}, Data: make([]float32, 40000)}
	big2.Data[39999] = 1
	if TensorHash(big) == TensorHash(big2) {
		t.Errorf("hash ignores the last value of a large tensor")
	}
}

// TestTransposed: a matrix transposed by hand, of each shape kind.
func TestTransposed(t *testing.T) {
	for _, c := range []struct {
		in, want Tensor
	}{
		{Tensor{[]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}}, Tensor{[]int{3, 2}, []float32{1, 4, 2, 5, 3, 6}}},
		{Tensor{[]int{2, 2}, []float32{1, 2, 3, 4}}, Tensor{[]int{2, 2}, []float32{1, 3, 2, 4}}},
		{Tensor{[]int{1, 3}, []float32{7, 8, 9}}, Tensor{[]int{3, 1}, []float32{7, 8, 9}}},
	} {
		got := c.in.Transposed()
		if !slices.Equal(got.Shape, c.want.Shape) || !slices.Equal(got.Data, c.want.Data) {
			t.Errorf("%v transposed: %v, want %v", c.in, got, c.want)
		}
	}
}
