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
		// "_base" only: PreTrainedConfig().to_dict(), vars(PreTrainedConfig()) and
		// GenerationConfig().to_dict() of transformers 5.17.
		Vars             map[string]any `json:"vars"`
		GenerationConfig map[string]any `json:"generation_config"`
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
	if arch == "gpt_neox" {
		c, err := neoxConfig(f)
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
		if name == "_base" { // not a family: TestBaseConfigKeys
			continue
		}
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
				cfg["embedding_multiplier"] = 12.0
				_, _, _, err = parseConfig(t, cfg)
				delete(cfg, "embedding_multiplier")
				if err == nil || !strings.Contains(err.Error(), "unknown key embedding_multiplier") {
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

// TestBaseConfigKeys: every key of transformers 5.17's PreTrainedConfig (to_dict and its
// attributes) and GenerationConfig (whose keys transformers 4 wrote into config.json), added at
// its default value to a Llama config.json, is read or judged inert — none refused, none read
// past — and inspect lists each as read or inert.
func TestBaseConfigKeys(t *testing.T) {
	base := readConfigKeys(t).Families["_base"]
	for what, keys := range map[string]map[string]any{"to_dict": base.ToDict, "vars": base.Vars, "generation_config": base.GenerationConfig} {
		if len(keys) < 10 {
			t.Fatalf("_base/%s: %d keys in config_keys.json", what, len(keys))
		}
		for k, v := range keys {
			cfg := map[string]any{"model_type": "llama", k: v}
			if k == "model_type" || k == "architectures" {
				continue
			}
			_, f, _, err := parseConfig(t, cfg)
			if err != nil {
				t.Errorf("_base/%s: %s = %v refused: %v", what, k, v, err)
				continue
			}
			read, inert := f.keys()
			if !slices.Contains(read, k) && !slices.Contains(inert, k) {
				t.Errorf("_base/%s: %s neither read nor inert (read %v, inert %v)", what, k, read, inert)
			}
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
		{"qwen3 longrope", base("qwen3", func(c map[string]any) {
			c["rope_parameters"] = map[string]any{"rope_type": "longrope", "factor": 4.0, "rope_theta": 10000.0}
		}), `unsupported setting rope_parameters.rope_type: expected one of [default linear dynamic llama3 yarn], found "longrope"`},
		{"llama3 rope without low_freq_factor", base("qwen3", func(c map[string]any) {
			c["rope_parameters"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0, "rope_theta": 10000.0}
		}), "rope_parameters: rope_type llama3: needs original_max_position_embeddings > 0 (32768) and high_freq_factor (4) > low_freq_factor (0) > 0"},
		{"linear rope without factor", base("qwen2", func(c map[string]any) {
			c["rope_scaling"] = map[string]any{"type": "linear"}
		}), "rope_type linear: factor 0 must be a number ≥ 1"},
		{"unknown rope member", base("qwen2", func(c map[string]any) {
			c["rope_scaling"] = map[string]any{"type": "linear", "factor": 2.0, "long_factor": []any{1.0}}
		}), "unknown key rope_scaling.long_factor"},
		{"partial rotary on qwen2", base("qwen2", func(c map[string]any) { c["partial_rotary_factor"] = 0.5 }),
			"unsupported setting partial_rotary_factor (qwen2 rotates all of head_dim): expected 1, found 0.5"},
		{"qwen2 hidden_act", base("qwen2", func(c map[string]any) { c["hidden_act"] = "relu" }), "unsupported setting hidden_act"},
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

// realWorldConfigs are config.json files as hubs serve them (transcribed; written by
// transformers 4, with the keys PreTrainedConfig and GenerationConfig then kept).
var realWorldConfigs = map[string]string{
	"openai-community/gpt2": `{"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
		"bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
		"layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12,
		"n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null, "summary_first_dropout": 0.1,
		"summary_proj_to_labels": true, "summary_type": "cls_index", "summary_use_proj": true,
		"task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}}, "vocab_size": 50257}`,
	"TinyLlama-1.1B (transformers 4.35)": `{"_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"],
		"attention_bias": false, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048,
		"initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
		"num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4, "pretraining_tp": 1,
		"rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false,
		"torch_dtype": "bfloat16", "transformers_version": "4.35.0", "use_cache": true, "vocab_size": 32000}`,
	"Qwen2.5-0.5B (transformers 4.40)": `{"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
		"eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
		"max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
		"num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
		"sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
		"use_cache": true, "use_sliding_window": false, "vocab_size": 151936}`,
	"a transformers 4.30 save with every PreTrainedConfig key": `{"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2,
		"vocab_size": 100, "n_positions": 32, "return_dict": true, "output_hidden_states": false, "output_attentions": false,
		"torchscript": false, "torch_dtype": null, "use_bfloat16": false, "tf_legacy_loss": false, "pruned_heads": {},
		"tie_word_embeddings": true, "chunk_size_feed_forward": 0, "is_encoder_decoder": false, "is_decoder": false,
		"cross_attention_hidden_size": null, "add_cross_attention": false, "tie_encoder_decoder": false, "max_length": 20,
		"min_length": 0, "do_sample": false, "early_stopping": false, "num_beams": 1, "num_beam_groups": 1,
		"diversity_penalty": 0.0, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "repetition_penalty": 1.0,
		"length_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0, "bad_words_ids": null,
		"num_return_sequences": 1, "output_scores": false, "return_dict_in_generate": false, "forced_bos_token_id": null,
		"forced_eos_token_id": null, "remove_invalid_values": false, "exponential_decay_length_penalty": null,
		"suppress_tokens": null, "begin_suppress_tokens": null, "architectures": null, "finetuning_task": null,
		"id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}, "tokenizer_class": null,
		"prefix": null, "bos_token_id": null, "pad_token_id": null, "eos_token_id": null, "sep_token_id": null,
		"decoder_start_token_id": null, "task_specific_params": null, "problem_type": null, "_name_or_path": "",
		"_commit_hash": null, "transformers_version": "4.30.0"}`,
}

// TestRealWorldConfigs: the config.json files checkpoints carry load (their extra keys judged
// inert, each with its reason), and the keys that change the model at some value are refused
// at that value.
func TestRealWorldConfigs(t *testing.T) {
	for name, raw := range realWorldConfigs {
		t.Run(name, func(t *testing.T) {
			var cfg map[string]any
			if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
				t.Fatal(err)
			}
			arch, f, _, err := parseConfig(t, cfg)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			read, inert := f.keys()
			if len(read)+len(inert) != len(cfg) {
				t.Errorf("%d keys sorted of %d", len(read)+len(inert), len(cfg))
			}
			for _, k := range inert {
				if inertKeys(arch)[k] == "" {
					t.Errorf("key %s judged inert without a reason", k)
				}
			}
		})
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(realWorldConfigs["a transformers 4.30 save with every PreTrainedConfig key"]), &cfg); err != nil {
		t.Fatal(err)
	}
	for key, val := range map[string]any{"pruned_heads": map[string]any{"0": []any{1.0}}, "is_encoder_decoder": true, "add_cross_attention": true} {
		old := cfg[key]
		cfg[key] = val
		_, _, _, err := parseConfig(t, cfg)
		cfg[key] = old
		if err == nil || !strings.Contains(err.Error(), "unsupported setting "+key) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s = %v: %v", key, val, err)
		}
	}
}

// TestBadConfigs: missing or contradictory fields are refused in one line naming the field.
func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"heads do not divide the width", map[string]any{"model_type": "llama", "hidden_size": 30, "num_attention_heads": 4},
			"hidden_size is not a multiple of num_attention_heads and head_dim is absent: expected head_dim, or hidden_size divisible by num_attention_heads, found 30 / 4"},
		{"gpt_neox heads do not divide the width", map[string]any{"model_type": "gpt_neox", "hidden_size": 30, "num_attention_heads": 4},
			"hidden_size is not a multiple of num_attention_heads: expected hidden_size divisible by num_attention_heads, found 30 / 4"},
		{"gpt2 heads do not divide the width", map[string]any{"model_type": "gpt2", "n_embd": 30, "n_head": 4}, "n_embd 30 is not a multiple of n_head 4"},
		{"kv heads do not divide heads", map[string]any{"model_type": "mistral", "num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48},
			"num_attention_heads 6 is not a multiple of num_key_value_heads 4"},
		{"yarn without factor", map[string]any{"model_type": "llama", "rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 10000.0}},
			"rope_type yarn: factor 0 must be a number ≥ 1"},
		{"dynamic with factor below 1", map[string]any{"model_type": "gemma", "rope_scaling": map[string]any{"type": "dynamic", "factor": 0.5}},
			"rope_type dynamic: factor 0.5 must be a number ≥ 1"},
		{"window larger than the context", map[string]any{"model_type": "mistral", "sliding_window": 8192, "max_position_embeddings": 4096},
			"sliding_window is larger than the context (max_position_embeddings): the window never applies: expected at most 4096, found 8192"},
		{"negative layers", map[string]any{"model_type": "qwen2", "num_hidden_layers": -2}, "field num_hidden_layers out of range: expected 1 … 65536, found -2"},
		{"gemma2 sliding layers without a window", map[string]any{"model_type": "gemma2", "sliding_window": nil, "num_hidden_layers": 2},
			"layer_types[0] is \"sliding_attention\" but sliding_window is absent"},
		{"rotary_pct of zero", map[string]any{"model_type": "gpt_neox", "rotary_pct": 0.0}, "partial_rotary_factor out of range: expected in (0, 1], found 0"},
		{"unknown model_type", map[string]any{"model_type": "falcon"},
			`unsupported architecture: expected model_type one of [gemma gemma2 gpt2 gpt_neox llama mistral phi3 qwen2 qwen3], found model_type "falcon"`},
		{"architectures disagree", map[string]any{"model_type": "phi3", "architectures": []any{"GemmaForCausalLM"}}, "architectures disagree with model_type"},
		{"gemma2 hidden_activation unknown", map[string]any{"model_type": "gemma2", "hidden_activation": "relu"},
			`unsupported setting hidden_activation: expected "silu", "gelu_pytorch_tanh" or "gelu", found "relu"`},
		{"gemma activations disagree", map[string]any{"model_type": "gemma", "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh"},
			`hidden_activation disagrees with hidden_act (transformers 5 runs gemma with hidden_act): expected "gelu" or absent, found "gelu_pytorch_tanh"`},
		{"gemma bidirectional", map[string]any{"model_type": "gemma", "use_bidirectional_attention": true}, "unsupported setting use_bidirectional_attention"},
		{"phi3 yarn (read as longrope)", map[string]any{"model_type": "phi3", "rope_scaling": map[string]any{"type": "yarn", "factor": 2.0}},
			"unsupported setting rope_parameters.rope_type for phi3"},
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
