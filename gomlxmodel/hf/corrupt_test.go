package hf

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
)

// variant copies fixture src into a temp directory as a single model.safetensors (F32), after
// letting editT change the tensors and editC change config.json.
func variant(t *testing.T, src string, editT func(map[string]checkpoint.Tensor), editC func(map[string]any)) string {
	t.Helper()
	src = filepath.Join(fixtureRoot, src)
	dir := t.TempDir()
	ts, _, err := readTensors(src)
	if err != nil {
		t.Fatal(err)
	}
	plain := map[string]checkpoint.Tensor{}
	for n, x := range ts {
		plain[n] = x.Tensor
	}
	if editT != nil {
		editT(plain)
	}
	if err := checkpoint.WriteSafetensors(filepath.Join(dir, ModelFile), plain); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(src, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if editC != nil {
		editC(cfg)
	}
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyDir copies a fixture directory as it is (sharded or not).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join(fixtureRoot, src))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(fixtureRoot, src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCorrupt: every defect is one line naming the file (and the tensor when one is to blame)
// and what was expected versus found.
func TestCorrupt(t *testing.T) {
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want []string // substrings of the error; "FILE" stands for the file at fault
		file string   // the file at fault, relative to the directory
	}{
		{"missing tensor", func(t *testing.T) string {
			return variant(t, "gpt2_random", func(m map[string]checkpoint.Tensor) { delete(m, "transformer.h.1.ln_2.bias") }, nil)
		}, []string{"tensor transformer.h.1.ln_2.bias: missing tensor: expected shape [48], found none"}, ModelFile},
		{"extra tensor", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", func(m map[string]checkpoint.Tensor) {
				m["model.layers.0.self_attn.q_proj.bias"] = checkpoint.Tensor{Shape: []int{48}, Data: make([]float32, 48)}
			}, nil)
		}, []string{"tensor model.layers.0.self_attn.q_proj.bias: unexpected tensor"}, ModelFile},
		{"wrong shape", func(t *testing.T) string {
			return variant(t, "gpt2_random", func(m map[string]checkpoint.Tensor) {
				w := m["transformer.wpe.weight"]
				m["transformer.wpe.weight"] = checkpoint.Tensor{Shape: []int{63, 48}, Data: w.Data[:63*48]}
			}, nil)
		}, []string{"tensor transformer.wpe.weight: shape disagrees with config.json: expected [64 48], found [63 48]"}, ModelFile},
		{"config has more layers than the file", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["num_hidden_layers"] = 4 })
		}, []string{"tensor model.layers.3.input_layernorm.weight: missing tensor"}, ModelFile},
		{"config has other widths than the file", func(t *testing.T) string {
			return variant(t, "gpt2_random", nil, func(c map[string]any) { c["n_inner"] = 100 })
		}, []string{"tensor transformer.h.0.mlp.c_fc.bias: shape disagrees with config.json: expected [100], found [192]"}, ModelFile},
		{"kv heads disagree", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["num_key_value_heads"] = 3 })
		}, []string{"k_proj.weight: shape disagrees with config.json: expected [24 48], found [16 48]"}, ModelFile},
		{"untied head missing", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", func(m map[string]checkpoint.Tensor) { delete(m, "lm_head.weight") }, nil)
		}, []string{"tensor lm_head.weight: missing tensor (config.json: tie_word_embeddings is false)"}, ModelFile},
		{"tied head differs from the embedding", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["tie_word_embeddings"] = true })
		}, []string{"tensor lm_head.weight: config.json ties the head"}, ModelFile},
		{"unsupported model_type", func(t *testing.T) string {
			return variant(t, "gpt2_random", nil, func(c map[string]any) { c["model_type"] = "bert"; c["architectures"] = []string{"BertModel"} })
		}, []string{"unsupported architecture: expected model_type one of [gemma gemma2 gpt2 gpt_neox llama mistral phi3 qwen2 qwen3], found model_type \"bert\", architectures [BertModel]"}, ConfigFile},
		{"architectures disagree", func(t *testing.T) string {
			return variant(t, "gpt2_random", nil, func(c map[string]any) { c["architectures"] = []string{"LlamaForCausalLM"} })
		}, []string{"architectures disagree with model_type"}, ConfigFile},
		{"rope scaling", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) {
				c["rope_parameters"] = map[string]any{"rope_type": "longrope", "factor": 2.0, "rope_theta": 500000.0}
			})
		}, []string{"rope_parameters"}, ConfigFile},
		{"unknown key (llama)", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["attn_logit_softcapping"] = 50.0 })
		}, []string{"unknown key attn_logit_softcapping (neither implemented nor known to leave the logits unchanged): expected absent, found 50"}, ConfigFile},
		{"unknown key (gpt2)", func(t *testing.T) string {
			return variant(t, "gpt2_random", nil, func(c map[string]any) { c["rotary_dim"] = 16 })
		}, []string{"unknown key rotary_dim"}, ConfigFile},
		{"mlp_bias without its tensors", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["mlp_bias"] = true })
		}, []string{"tensor model.layers.0.mlp.down_proj.bias: missing tensor"}, ModelFile},
		{"rope_theta twice", func(t *testing.T) string {
			return variant(t, "llama_random_gqa", nil, func(c map[string]any) { c["rope_theta"] = 10000.0 })
		}, []string{"rope_theta disagrees with rope_parameters.rope_theta: expected 10000, found 500000"}, ConfigFile},
		{"wrong field type", func(t *testing.T) string {
			return variant(t, "gpt2_random", nil, func(c map[string]any) { c["n_layer"] = "three" })
		}, []string{"field n_layer has the wrong type: expected an integer, found \"three\""}, ConfigFile},
		{"truncated file", func(t *testing.T) string {
			dir := copyDir(t, "gpt2_random")
			p := filepath.Join(dir, ModelFile)
			raw, _ := os.ReadFile(p)
			os.WriteFile(p, raw[:len(raw)-100], 0o644)
			return dir
		}, []string{"invalid safetensors file (truncated or corrupt?)"}, ModelFile},
		{"non-finite value", func(t *testing.T) string {
			dir := copyDir(t, "gpt2_random")
			p := filepath.Join(dir, ModelFile)
			raw, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint32(raw[len(raw)-4:], math.Float32bits(float32(math.NaN())))
			os.WriteFile(p, raw, 0o644)
			return dir
		}, []string{": non-finite value: expected finite values, found NaN"}, ModelFile},
		{"integer dtype", func(t *testing.T) string {
			dir := copyDir(t, "gpt2_random")
			header := `{"transformer.wte.weight":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`
			raw := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
			raw = append(append(raw, header...), make([]byte, 8)...)
			os.WriteFile(filepath.Join(dir, ModelFile), raw, 0o644)
			return dir
		}, []string{"tensor transformer.wte.weight: unsupported dtype: expected F32, F16, BF16 or F64, found I64"}, ModelFile},
		{"no weights", func(t *testing.T) string {
			dir := copyDir(t, "gpt2_random")
			os.Remove(filepath.Join(dir, ModelFile))
			return dir
		}, []string{"no model.safetensors nor model.safetensors.index.json"}, ""},
		{"missing shard", func(t *testing.T) string {
			dir := copyDir(t, "llama_trained_tied_sharded")
			os.Remove(filepath.Join(dir, "model-00003-of-00005.safetensors"))
			return dir
		}, []string{"cannot read"}, "model-00003-of-00005.safetensors"},
		{"shard disagrees with the index", func(t *testing.T) string {
			dir := copyDir(t, "llama_trained_tied_sharded")
			p := filepath.Join(dir, IndexFile)
			raw, _ := os.ReadFile(p)
			var idx map[string]any
			json.Unmarshal(raw, &idx)
			idx["weight_map"].(map[string]any)["model.norm.weight"] = "model-00001-of-00005.safetensors"
			raw, _ = json.Marshal(idx)
			os.WriteFile(p, raw, 0o644)
			return dir
		}, []string{"tensor model.norm.weight: missing tensor that model.safetensors.index.json assigns to this shard"}, "model-00001-of-00005.safetensors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "checkpoint "+filepath.Join(dir, tc.file)) {
				t.Errorf("error does not start with the file %s: %s", filepath.Join(dir, tc.file), msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestF16: half-precision values upcast exactly, subnormals and signs included.
func TestF16(t *testing.T) {
	for bits, want := range map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 1.0 / (1 << 24), 0x8000: float32(math.Copysign(0, -1)), 0x3555: 0.333251953125,
	} {
		if got := f16ToF32(bits); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("f16 %#04x: got %v, want %v", bits, got, want)
		}
	}
}

// TestIsDir: a nanoscope checkpoint (meta.json) is not a Hugging Face directory.
func TestIsDir(t *testing.T) {
	if !IsDir(filepath.Join(fixtureRoot, "gpt2_random")) {
		t.Error("fixture not recognised")
	}
	dir := copyDir(t, "gpt2_random")
	os.WriteFile(filepath.Join(dir, checkpoint.MetaFile), []byte("{}"), 0o644)
	if IsDir(dir) || IsDir(t.TempDir()) {
		t.Error("IsDir accepted a directory with meta.json or without config.json")
	}
}
