package checkpoint

import (
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// testdata/corrupt holds checkpoints damaged in the ways a real file gets damaged or forged.
// Each case directory has the damaged checkpoint and want.txt, a substring its one-line error
// must contain. Regenerate with: go test ./gomlxmodel/checkpoint -run TestCorruptCorpus -update
var update = flag.Bool("update", false, "rewrite testdata/corrupt")

const corruptDir = "testdata/corrupt"

// corruptCase damages the files of a valid checkpoint (given as bytes) and returns what the
// error must mention.
type corruptCase struct {
	name   string
	want   string
	damage func(model, meta []byte, tensors map[string]Tensor) (newModel, newMeta []byte)
}

func corruptCases() []corruptCase {
	header := func(model []byte) (int, []byte) {
		n := int(binary.LittleEndian.Uint64(model))
		return n, model[8 : 8+n]
	}
	withHeader := func(model []byte, h string) []byte {
		n, _ := header(model)
		return rawBytes(h, model[8+n:])
	}
	replaceInHeader := func(model []byte, old, new string) []byte {
		_, h := header(model)
		return withHeader(model, strings.Replace(string(h), old, new, 1))
	}
	entries := func(ts map[string]Tensor) []rawEntry { return rawEntries(ts) }
	return []corruptCase{
		{"truncated", "model.safetensors", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) { return m[:len(m)-100], j }},
		{"header_length_beyond_file", "header", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			b := append([]byte(nil), m...)
			binary.LittleEndian.PutUint64(b, uint64(len(m)+10))
			return b, j
		}},
		{"header_length_absurd", "header", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			b := append([]byte(nil), m...)
			binary.LittleEndian.PutUint64(b, 1<<62)
			return b, j
		}},
		{"header_not_json", "header", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			n, _ := header(m)
			return withHeader(m, strings.Repeat("x", n)), j
		}},
		{"offsets_out_of_range", "norm_final.weight", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			es := entries(ts)
			return rawFileOffsets(es, map[string][2]int{"norm_final.weight": {1 << 30, 1<<30 + 64}}), j
		}},
		{"offsets_overlap", "overlap", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			es := entries(ts)
			return rawFileOffsets(es, map[string][2]int{"norm_final.weight": {0, 64}}), j
		}},
		{"dtype_f16", "F16", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			return replaceInHeader(m, `"dtype":"F32"`, `"dtype":"F16"`), j
		}},
		{"nan_value", "NaN", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			bad := cloneTensors(ts)
			bad["norm_final.weight"].Data[3] = float32(math.NaN())
			return rawFile(rawEntries(bad), nil), j
		}},
		{"inf_value", "Inf", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			bad := cloneTensors(ts)
			bad["tok_embed.weight"].Data[17] = float32(math.Inf(-1))
			return rawFile(rawEntries(bad), nil), j
		}},
		{"duplicate_name", "duplicate", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			es := entries(ts)
			es = append(es, rawEntry{"norm_final.weight", "F32", []int{16}, f32Bytes(make([]float32, 16))})
			return rawFile(es, nil), j
		}},
		{"empty_name", "empty", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			es := append(entries(ts), rawEntry{"", "F32", []int{1}, f32Bytes([]float32{1})})
			return rawFile(es, nil), j
		}},
		{"absurd_shape", "shape", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			return replaceInHeader(m, `"shape":[16]`, `"shape":[4000000000,4000000000]`), j
		}},
		{"missing_tensor", "missing", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			less := cloneTensors(ts)
			delete(less, "blocks.0.attn.wq.weight")
			return rawFile(rawEntries(less), nil), j
		}},
		{"extra_lm_head_when_tied", "lm_head.weight", func(m, j []byte, ts map[string]Tensor) ([]byte, []byte) {
			more := cloneTensors(ts)
			more["lm_head.weight"] = Tensor{Shape: []int{50, 16}, Data: make([]float32, 800)}
			return rawFile(rawEntries(more), nil), j
		}},
		{"meta_missing", "meta.json", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) { return m, nil }},
		{"meta_not_json", "meta.json", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) { return m, []byte("{config: dim=16") }},
		{"meta_missing_field", "n_kv_heads", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			return m, []byte(regexp.MustCompile(`"n_kv_heads":\s*2,`).ReplaceAllString(string(j), ``))
		}},
		{"meta_disagrees_with_tensors", "shape mismatch with meta.json config", func(m, j []byte, _ map[string]Tensor) ([]byte, []byte) {
			return m, []byte(regexp.MustCompile(`"dim":\s*16`).ReplaceAllString(string(j), `"dim": 32`))
		}},
	}
}

// rawFileOffsets builds a file like rawFile but overrides the offsets of some entries.
func rawFileOffsets(es []rawEntry, override map[string][2]int) []byte {
	var data []byte
	parts := []string{}
	for _, e := range es {
		off := [2]int{len(data), len(data) + len(e.data)}
		data = append(data, e.data...)
		if o, ok := override[e.name]; ok {
			off = o
		}
		shape := "["
		for i, d := range e.shape {
			if i > 0 {
				shape += ","
			}
			shape += itoa(d)
		}
		shape += "]"
		parts = append(parts, `"`+e.name+`":{"dtype":"`+e.dtype+`","shape":`+shape+`,"data_offsets":[`+itoa(off[0])+`,`+itoa(off[1])+`]}`)
	}
	return rawBytes("{"+strings.Join(parts, ",")+"}", data)
}

func itoa(n int) string { return strconv.Itoa(n) }

func cloneTensors(ts map[string]Tensor) map[string]Tensor {
	out := make(map[string]Tensor, len(ts))
	for k, t := range ts {
		out[k] = Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	}
	return out
}

// TestCorruptCorpus loads every damaged checkpoint of testdata/corrupt and checks the error.
func TestCorruptCorpus(t *testing.T) {
	if *update {
		writeCorruptCorpus(t)
	}
	entries, err := os.ReadDir(corruptDir)
	if err != nil {
		t.Fatalf("%v (generate with -update)", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) != len(corruptCases()) {
		t.Fatalf("%d cases in %s, %d defined: regenerate with -update", len(names), corruptDir, len(corruptCases()))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(corruptDir, name)
			want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir)
			assertError(t, err, strings.TrimSpace(string(want)))
			t.Log(err)
		})
	}
}

func writeCorruptCorpus(t *testing.T) {
	os.RemoveAll(corruptDir)
	c := testConfig()
	c.NLayers = 1
	meta := Meta{Config: c, Step: 20000, Loss: 3.29, Variant: testMeta().Variant}
	tensors := randomTensors(c, meta.Variant, 3)
	base := filepath.Join(t.TempDir(), "base")
	if err := Save(base, tensors, meta); err != nil {
		t.Fatal(err)
	}
	model, _ := os.ReadFile(filepath.Join(base, ModelFile))
	metaRaw, _ := os.ReadFile(filepath.Join(base, MetaFile))
	for _, cc := range corruptCases() {
		dir := filepath.Join(corruptDir, cc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m, j := cc.damage(model, metaRaw, tensors)
		writeFile(t, filepath.Join(dir, ModelFile), m)
		if j != nil {
			writeFile(t, filepath.Join(dir, MetaFile), j)
		}
		writeFile(t, filepath.Join(dir, "want.txt"), []byte(cc.want+"\n"))
	}
}
