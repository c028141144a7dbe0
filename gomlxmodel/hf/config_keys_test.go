package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
)

// configKeys is testdata/hf/config_keys.json: per family the config.json transformers writes for
// its default configuration (and for Qwen's with the sliding window on). See its "source".
type configKeys struct {
	Source   string `json:"source"`
	Families map[string]struct {
		ConfigJSON map[string]any `json:"config_json"`
		ToDict     map[string]any `json:"to_dict"`
	} `json:"families"`
}

func readConfigKeys(t *testing.T) configKeys {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureRoot, "config_keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ck configKeys
	if err := json.Unmarshal(raw, &ck); err != nil {
		t.Fatal(err)
	}
	return ck
}

// parseConfig reads a config.json written to a temporary directory as Load does, without weights.
func parseConfig(t *testing.T, cfg map[string]any) (string, *fields, any, error) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	arch, f, err := readConfig(path)
	if err != nil {
		return arch, f, nil, err
	}
	if arch == "gpt2" {
		c, err := gpt2Config(f)
		return arch, f, c, err
	}
	c, err := llamaConfig(f, arch)
	return arch, f, c, err
}

// TestConfigKeysClosed: every key transformers writes for a family's default config.json is read
// or listed inert (no false refusal), the families' defaults are transformers', and a key outside
// the list is refused in one line naming it.
func TestConfigKeysClosed(t *testing.T) {
	ck := readConfigKeys(t)
	for name, fam := range ck.Families {
		for what, cfg := range map[string]map[string]any{"config.json": fam.ConfigJSON, "to_dict": fam.ToDict} {
			if cfg == nil {
				continue
			}
			t.Run(name+"/"+what, func(t *testing.T) {
				arch, f, parsed, err := parseConfig(t, cfg)
				if err != nil {
					t.Fatalf("transformers' default %s refused: %v", what, err)
				}
				read, inert := f.keys()
				t.Logf("%s: read %v; inert %v", arch, read, inert)
				cfg["attn_logit_softcapping"] = 30.0
				_, _, _, err = parseConfig(t, cfg)
				delete(cfg, "attn_logit_softcapping")
				if err == nil || !strings.Contains(err.Error(), "unknown key attn_logit_softcapping") {
					t.Errorf("an unknown key was read past: %v", err)
				}
				l, ok := parsed.(gomlxmodel.LlamaConfig)
				if !ok {
					return
				}
				num := func(k string) int { v, _ := cfg[k].(float64); return int(v) }
				if l.VocabSize != num("vocab_size") || l.DModel != num("hidden_size") || l.NKVHeads != num("num_key_value_heads") ||
					l.HeadDim != num("head_dim") && cfg["head_dim"] != nil {
					t.Errorf("config %+v disagrees with %v", l, cfg)
				}
				wantWindow := 0
				if w, ok := cfg["sliding_window"].(float64); ok {
					wantWindow = int(w)
				}
				if l.SlidingWindow != wantWindow {
					t.Errorf("sliding window %d, config.json %v", l.SlidingWindow, cfg["sliding_window"])
				}
				if lt, ok := cfg["layer_types"].([]any); ok && wantWindow > 0 {
					for i, v := range lt {
						if l.LayerTypes[i] != v {
							t.Errorf("layer %d: %s, config.json %v", i, l.LayerTypes[i], v)
						}
					}
				}
				// The same family with only model_type: transformers' defaults.
				_, _, bare, err := parseConfig(t, map[string]any{"model_type": arch})
				if err != nil {
					t.Fatal(err)
				}
				d := bare.(gomlxmodel.LlamaConfig)
				if !strings.HasSuffix(name, "_swa") && arch != "llama" &&
					(d.VocabSize != l.VocabSize || d.DModel != l.DModel || d.DFF != l.DFF || d.NLayers != l.NLayers ||
						d.NHeads != l.NHeads || d.NKVHeads != l.NKVHeads || d.HeadDim != l.HeadDim || d.MaxPositions != l.MaxPositions ||
						d.RMSNormEps != l.RMSNormEps || d.RopeTheta != l.RopeTheta || d.SlidingWindow != l.SlidingWindow || d.QKVBias != l.QKVBias) {
					t.Errorf("defaults %+v\ndiffer from transformers' %+v", d, l)
				}
			})
		}
	}
}

// TestConfigRefusals: the Qwen and Mistral settings nanoscope cannot run, refused in one line.
func TestConfigRefusals(t *testing.T) {
	ck := readConfigKeys(t)
	base := func(name string, edit func(map[string]any)) map[string]any {
		cfg := map[string]any{}
		for k, v := range ck.Families[name].ConfigJSON {
			cfg[k] = v
		}
		edit(cfg)
		return cfg
	}
	cases := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"qwen2 layer_types without a window", base("qwen2", func(c map[string]any) {
			c["layer_types"] = append(slices.Repeat([]any{"full_attention"}, 31), "sliding_attention")
		}), "layer_types has sliding_attention layers but use_sliding_window is false"},
		{"qwen3 layer type unknown", base("qwen3_swa", func(c map[string]any) {
			c["layer_types"] = []any{"full_attention", "chunked_attention", "full_attention", "full_attention"}
		}), `layer_types[1] "chunked_attention"`},
		{"mistral window of 1", base("mistral", func(c map[string]any) { c["sliding_window"] = 1 }), "sliding_window 1"},
		{"mistral layer_types", base("mistral", func(c map[string]any) { c["layer_types"] = []any{"full_attention"} }), "unknown key layer_types"},
		{"qwen2 attention_bias (not Qwen2's)", base("qwen2", func(c map[string]any) { c["attention_bias"] = true }), "unknown key attention_bias"},
		{"qwen3 rope scaling", base("qwen3", func(c map[string]any) {
			c["rope_parameters"] = map[string]any{"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}
		}), "unsupported setting rope_parameters"},
		{"qwen2 hidden_act", base("qwen2", func(c map[string]any) { c["hidden_act"] = "gelu" }), "unsupported setting hidden_act"},
		{"qwen3 heads do not divide kv heads", base("qwen3", func(c map[string]any) { c["num_key_value_heads"] = 5 }), "not a multiple of num_key_value_heads"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parseConfig(t, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %v lacks %q (or is not one line)", err, tc.want)
			}
		})
	}
}
