package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Architectures this package reads: config.json's model_type and the architectures that name it.
var supported = map[string][]string{
	"gpt2":  {"GPT2LMHeadModel", "GPT2Model"},
	"llama": {"LlamaForCausalLM", "LlamaModel"},
}

// fields is config.json as raw members, with typed getters that fall back to Hugging Face's
// defaults when a field is absent or null and fail, naming the field, when it has another type.
type fields struct {
	path string
	m    map[string]json.RawMessage
	err  error // the first type error
}

func (f *fields) fail(key, want string) {
	if f.err == nil {
		f.err = &checkpoint.Error{File: f.path, Msg: "field " + key + " has the wrong type",
			Expected: want, Found: string(bytes.TrimSpace(f.m[key]))}
	}
}

func (f *fields) present(key string) bool {
	raw, ok := f.m[key]
	return ok && string(bytes.TrimSpace(raw)) != "null"
}

func (f *fields) float(key string, def float64) float64 {
	if !f.present(key) {
		return def
	}
	var v float64
	if json.Unmarshal(f.m[key], &v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		f.fail(key, "a number")
	}
	return v
}

func (f *fields) int(key string, def int) int {
	if !f.present(key) {
		return def
	}
	var v int
	if json.Unmarshal(f.m[key], &v) != nil {
		f.fail(key, "an integer")
	}
	return v
}

func (f *fields) bool(key string, def bool) bool {
	if !f.present(key) {
		return def
	}
	var v bool
	if json.Unmarshal(f.m[key], &v) != nil {
		f.fail(key, "true or false")
	}
	return v
}

func (f *fields) string(key, def string) string {
	if !f.present(key) {
		return def
	}
	var v string
	if json.Unmarshal(f.m[key], &v) != nil {
		f.fail(key, "a string")
	}
	return v
}

// readConfig reads config.json and returns its architecture ("gpt2" or "llama") and fields.
// model_type decides; architectures must agree with it when both are present.
func readConfig(path string) (string, *fields, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, &checkpoint.Error{File: path, Msg: "cannot read", Err: err}
	}
	f := &fields{path: path}
	if err := json.Unmarshal(raw, &f.m); err != nil {
		return "", nil, &checkpoint.Error{File: path, Msg: "not a JSON object", Err: err}
	}
	modelType := f.string("model_type", "")
	var archs []string
	if f.present("architectures") && json.Unmarshal(f.m["architectures"], &archs) != nil {
		f.fail("architectures", "a list of strings")
	}
	if f.err != nil {
		return "", nil, f.err
	}
	fromArchs := ""
	for _, a := range archs {
		for mt, names := range supported {
			if slices.Contains(names, a) {
				fromArchs = mt
			}
		}
	}
	names := make([]string, 0, len(supported))
	for mt := range supported {
		names = append(names, mt)
	}
	sort.Strings(names)
	unsupported := func() error {
		return &checkpoint.Error{File: path, Msg: "unsupported architecture",
			Expected: fmt.Sprintf("model_type one of %v", names),
			Found:    fmt.Sprintf("model_type %q, architectures %v", modelType, archs)}
	}
	switch {
	case modelType == "" && fromArchs == "":
		return "", nil, unsupported()
	case modelType == "":
		return fromArchs, f, nil
	case supported[modelType] == nil:
		return "", nil, unsupported()
	case len(archs) > 0 && fromArchs != modelType:
		return "", nil, &checkpoint.Error{File: path, Msg: "architectures disagree with model_type",
			Expected: fmt.Sprintf("one of %v", supported[modelType]), Found: fmt.Sprint(archs)}
	}
	return modelType, f, nil
}

// unsupportedIf returns a one-line error for a config.json feature nanoscope does not run.
func (f *fields) unsupportedIf(cond bool, key, expected string) error {
	if !cond || f.err != nil {
		return f.err
	}
	return &checkpoint.Error{File: f.path, Msg: "unsupported setting " + key, Expected: expected,
		Found: string(bytes.TrimSpace(f.m[key]))}
}

// gpt2Config maps config.json to a GPT2Config (Hugging Face's GPT2Config defaults when absent).
// The weight layout is left to the tensors (see Load).
func gpt2Config(f *fields) (gomlxmodel.GPT2Config, error) {
	c := gomlxmodel.GPT2Config{
		VocabSize:        f.int("vocab_size", 50257),
		NPositions:       f.int("n_positions", 1024),
		DModel:           f.int("n_embd", 768),
		NLayers:          f.int("n_layer", 12),
		NHeads:           f.int("n_head", 12),
		LayerNormEps:     f.float("layer_norm_epsilon", 1e-5),
		Activation:       f.string("activation_function", "gelu_new"),
		InitializerRange: f.float("initializer_range", 0.02),
		TiedHead:         f.bool("tie_word_embeddings", true),
		WeightLayout:     gomlxmodel.GPT2Conv1D,
		Causal:           true,
	}
	c.DInner = f.int("n_inner", 4*c.DModel)
	for _, err := range []error{
		f.unsupportedIf(!f.bool("scale_attn_weights", true), "scale_attn_weights", "true"),
		f.unsupportedIf(f.bool("scale_attn_by_inverse_layer_idx", false), "scale_attn_by_inverse_layer_idx", "false"),
		f.unsupportedIf(f.bool("add_cross_attention", false), "add_cross_attention", "false"),
	} {
		if err != nil {
			return c, err
		}
	}
	if err := c.Validate(); err != nil {
		return c, &checkpoint.Error{File: f.path, Msg: err.Error()}
	}
	return c, nil
}

// llamaConfig maps config.json to a LlamaConfig (Hugging Face's LlamaConfig defaults when
// absent). rope_theta is read at the top level (transformers 4) or under rope_parameters
// (transformers 5); both present and different is an error.
func llamaConfig(f *fields) (gomlxmodel.LlamaConfig, error) {
	c := gomlxmodel.LlamaConfig{
		VocabSize:        f.int("vocab_size", 32000),
		DModel:           f.int("hidden_size", 4096),
		DFF:              f.int("intermediate_size", 11008),
		NLayers:          f.int("num_hidden_layers", 32),
		NHeads:           f.int("num_attention_heads", 32),
		MaxPositions:     f.int("max_position_embeddings", 2048),
		RMSNormEps:       f.float("rms_norm_eps", 1e-6),
		InitializerRange: f.float("initializer_range", 0.02),
		TiedHead:         f.bool("tie_word_embeddings", false),
		RopePairing:      config.RopeHalves,
		GQAMapping:       config.GQAInterleave,
		Causal:           true,
	}
	c.NKVHeads = f.int("num_key_value_heads", c.NHeads)
	if c.NHeads > 0 {
		c.HeadDim = f.int("head_dim", c.DModel/c.NHeads)
	}
	c.RopeTheta = f.float("rope_theta", 10000)
	ropeType := "default"
	for _, key := range []string{"rope_parameters", "rope_scaling"} {
		if !f.present(key) {
			continue
		}
		var rp struct {
			RopeType  *string  `json:"rope_type"`
			Type      *string  `json:"type"`
			RopeTheta *float64 `json:"rope_theta"`
		}
		if json.Unmarshal(f.m[key], &rp) != nil {
			f.fail(key, "an object")
			return c, f.err
		}
		if rp.RopeType != nil {
			ropeType = *rp.RopeType
		} else if rp.Type != nil {
			ropeType = *rp.Type
		}
		if rp.RopeTheta != nil {
			if f.present("rope_theta") && *rp.RopeTheta != c.RopeTheta {
				return c, &checkpoint.Error{File: f.path, Msg: "rope_theta disagrees with " + key + ".rope_theta",
					Expected: fmt.Sprint(c.RopeTheta), Found: fmt.Sprint(*rp.RopeTheta)}
			}
			c.RopeTheta = *rp.RopeTheta
		}
		if err := f.unsupportedIf(ropeType != "default", key, `rope_type "default" (no RoPE scaling)`); err != nil {
			return c, err
		}
	}
	for _, err := range []error{
		f.unsupportedIf(f.string("hidden_act", "silu") != "silu", "hidden_act", `"silu"`),
		f.unsupportedIf(f.bool("attention_bias", false), "attention_bias", "false"),
		f.unsupportedIf(f.bool("mlp_bias", false), "mlp_bias", "false"),
	} {
		if err != nil {
			return c, err
		}
	}
	if err := c.Validate(); err != nil {
		return c, &checkpoint.Error{File: f.path, Msg: err.Error()}
	}
	return c, nil
}
