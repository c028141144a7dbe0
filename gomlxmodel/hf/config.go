package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
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
	"gpt2":     {"GPT2LMHeadModel", "GPT2Model"},
	"llama":    {"LlamaForCausalLM", "LlamaModel"},
	"qwen2":    {"Qwen2ForCausalLM", "Qwen2Model"},
	"qwen3":    {"Qwen3ForCausalLM", "Qwen3Model"},
	"mistral":  {"MistralForCausalLM", "MistralModel"},
	"gemma":    {"GemmaForCausalLM", "GemmaModel"},
	"gemma2":   {"Gemma2ForCausalLM", "Gemma2Model"},
	"phi3":     {"Phi3ForCausalLM", "Phi3Model"},
	"gpt_neox": {"GPTNeoXForCausalLM", "GPTNeoXModel"},
}

// fields is config.json as raw members, with typed getters that fall back to Hugging Face's
// defaults when a field is absent or null and fail, naming the field, when it has another type.
// Every getter marks its key read: a read key is honoured (implemented, or refused when set to
// what nanoscope does not run). closed then refuses any key neither read nor listed as inert.
type fields struct {
	path string
	m    map[string]json.RawMessage
	err  error           // the first type error
	read map[string]bool // the keys a getter asked for
}

func (f *fields) mark(key string) {
	if f.read == nil {
		f.read = map[string]bool{}
	}
	f.read[key] = true
}

func (f *fields) fail(key, want string) {
	if f.err == nil {
		f.err = &checkpoint.Error{File: f.path, Msg: "field " + key + " has the wrong type",
			Expected: want, Found: string(bytes.TrimSpace(f.m[key]))}
	}
}

func (f *fields) present(key string) bool {
	f.mark(key)
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
	c.ScaleAttnByInverseLayerIdx = f.bool("scale_attn_by_inverse_layer_idx", false)
	for _, err := range []error{
		f.unsupportedIf(!f.bool("scale_attn_weights", true), "scale_attn_weights", "true"),
		f.common(),
		f.closed(inertKeys("gpt2")),
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

// llamaDefaults are the sizes transformers' LlamaConfig, Qwen2Config, Qwen3Config and
// MistralConfig take when config.json omits them (checked against XConfig().to_dict() in
// testdata/hf/config_keys.json).
var llamaDefaults = map[string]struct {
	vocab, hidden, inter, layers, heads, kvHeads, headDim, maxPos, window int
	eps                                                                   float64
	act                                                                   string
	tied                                                                  bool
}{
	"llama":   {32000, 4096, 11008, 32, 32, 0, 0, 2048, 0, 1e-6, "silu", false},
	"qwen2":   {151936, 4096, 22016, 32, 32, 32, 0, 32768, 0, 1e-6, "silu", false},
	"qwen3":   {151936, 4096, 22016, 32, 32, 32, 128, 32768, 0, 1e-6, "silu", false},
	"mistral": {32000, 4096, 14336, 32, 32, 8, 0, 131072, 4096, 1e-6, "silu", false},
	"gemma":   {256000, 3072, 24576, 28, 16, 16, 256, 8192, 0, 1e-6, "gelu_pytorch_tanh", true},
	"gemma2":  {256000, 2304, 9216, 26, 8, 4, 256, 8192, 4096, 1e-6, "gelu_pytorch_tanh", true},
	"phi3":    {32064, 3072, 8192, 32, 32, 0, 0, 4096, 0, 1e-5, "silu", false},
}

// llamaConfig maps config.json to a LlamaConfig for model_type arch ("llama", "qwen2", "qwen3",
// "mistral"), with transformers' defaults when absent. rope_theta is read at the top level
// (transformers 4) or under rope_parameters (transformers 5); both present and different is an
// error. What differs between the four:
//
//	qwen2:   q, k, v biases always; use_sliding_window, sliding_window, max_window_layers, layer_types
//	qwen3:   q_norm, k_norm; attention_bias; the same sliding-window keys as qwen2
//	mistral: sliding_window on every layer
//	llama:   attention_bias
func llamaConfig(f *fields, arch string) (gomlxmodel.LlamaConfig, error) {
	def := llamaDefaults[arch]
	c := gomlxmodel.LlamaConfig{
		Arch:             arch,
		VocabSize:        f.int("vocab_size", def.vocab),
		DModel:           f.int("hidden_size", def.hidden),
		DFF:              f.int("intermediate_size", def.inter),
		NLayers:          f.int("num_hidden_layers", def.layers),
		NHeads:           f.int("num_attention_heads", def.heads),
		MaxPositions:     f.int("max_position_embeddings", def.maxPos),
		RMSNormEps:       f.float("rms_norm_eps", def.eps),
		InitializerRange: f.float("initializer_range", 0.02),
		TiedHead:         f.bool("tie_word_embeddings", def.tied),
		RopePairing:      config.RopeHalves,
		GQAMapping:       config.GQAInterleave,
		Causal:           true,
	}
	if def.kvHeads == 0 || hasKey(f, "num_key_value_heads") && !f.present("num_key_value_heads") { // null: one kv head per head
		def.kvHeads = c.NHeads
	}
	c.NKVHeads = f.int("num_key_value_heads", def.kvHeads)
	if err := sizesOK(f, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.DModel, "intermediate_size": c.DFF,
		"num_hidden_layers": c.NLayers, "num_attention_heads": c.NHeads, "num_key_value_heads": c.NKVHeads}); err != nil {
		return c, err
	}
	if c.NHeads > 0 && def.headDim == 0 {
		def.headDim = c.DModel / c.NHeads
	}
	c.HeadDim = f.int("head_dim", def.headDim)
	if c.NHeads > 0 && c.DModel%c.NHeads != 0 && !f.present("head_dim") {
		return c, &checkpoint.Error{File: f.path, Msg: "hidden_size is not a multiple of num_attention_heads and head_dim is absent",
			Expected: "head_dim, or hidden_size divisible by num_attention_heads", Found: fmt.Sprintf("%d / %d", c.DModel, c.NHeads)}
	}
	var partial float64
	var err error
	c.RopeTheta, c.RopeScaling, partial, err = ropeConfig(f, "rope_theta", 10000, c.MaxPositions, 1)
	if err != nil {
		return c, err
	}
	if partial != 1 {
		if !partialRotary[arch] {
			return c, &checkpoint.Error{File: f.path, Msg: "unsupported setting partial_rotary_factor (" + arch + " rotates all of head_dim)",
				Expected: "1", Found: fmt.Sprint(partial)}
		}
		c.RotaryDim = int(float64(c.HeadDim) * partial)
	}
	// attention_bias: q, k, v and o_proj (Llama, Qwen3). Qwen2 has q, k, v biases always and no
	// o bias; Mistral none (neither reads attention_bias).
	switch arch {
	case "qwen2":
		c.QKVBias = true
	case "llama", "qwen3", "gemma", "gemma2":
		c.QKVBias = f.bool("attention_bias", false)
		c.OBias = c.QKVBias
	}
	if arch == "llama" {
		c.MLPBias = f.bool("mlp_bias", false)
	}
	c.QKNorm = arch == "qwen3"
	if err := slidingWindow(f, arch, &c, def.window); err != nil {
		return c, err
	}
	if c.SlidingWindow > c.MaxPositions {
		return c, &checkpoint.Error{File: f.path, Msg: "sliding_window is larger than the context (max_position_embeddings): the window never applies",
			Expected: fmt.Sprintf("at most %d", c.MaxPositions), Found: fmt.Sprint(c.SlidingWindow)}
	}
	act, actKey := def.act, "hidden_act"
	switch arch {
	case "gemma", "gemma2": // Gemma's RMSNorm (1 + w), the embedding times √hidden_size, GeGLU
		c.Run.NormOffset, c.Run.EmbedScale = true, true
		c.TiedHead = f.bool("tie_word_embeddings", true)
		// transformers 5.17: GemmaMLP reads hidden_act, Gemma2MLP hidden_activation; the other
		// key (transformers 4 wrote both) is ignored there, so when it disagrees which one the
		// checkpoint was trained with is unknown: refused.
		own, other := "hidden_act", "hidden_activation"
		if arch == "gemma2" {
			own, other = other, own
		}
		act, actKey = f.string(own, act), own
		if o := f.string(other, act); f.present(other) && o != act {
			return c, &checkpoint.Error{File: f.path, Msg: other + " disagrees with " + own + " (transformers 5 runs " + arch + " with " + own + ")",
				Expected: fmt.Sprintf("%q or absent", act), Found: fmt.Sprintf("%q", o)}
		}
		if err := f.unsupportedIf(f.bool("use_bidirectional_attention", false), "use_bidirectional_attention", "false or null (causal)"); err != nil {
			return c, err
		}
	case "phi3":
		c.FusedQKV, c.FusedGateUp = true, true
		act = f.string("hidden_act", act)
		if c.RopeScaling.Type != "" { // Phi3Config: default or longrope only (yarn and su are read as longrope)
			return c, &checkpoint.Error{File: f.path, Msg: "unsupported setting rope_parameters.rope_type for phi3 (transformers reads it as longrope or refuses it)",
				Expected: `"default"`, Found: fmt.Sprintf("%q", c.RopeScaling.Type)}
		}
	default:
		act = f.string("hidden_act", act)
	}
	if arch == "gemma2" {
		c.SandwichNorm = true
		c.QueryPreAttnScalar = f.float("query_pre_attn_scalar", 256)
		c.AttnSoftCap = f.float("attn_logit_softcapping", 50)
		c.Run.LogitSoftCap = f.float("final_logit_softcapping", 30)
	}
	if act != "silu" {
		c.HiddenAct = act // "" is silu
	}
	for _, err := range []error{
		f.unsupportedIf(!slices.Contains([]string{"silu", "gelu_pytorch_tanh", "gelu"}, act), actKey, `"silu", "gelu_pytorch_tanh" or "gelu"`),
		f.common(),
		f.closed(inertKeys(arch)),
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

// neoxConfig maps config.json to a GPTNeoXConfig with transformers' GPTNeoXConfig defaults.
// The rotary base and share are rope_parameters' rope_theta and partial_rotary_factor
// (transformers 5) or rotary_emb_base and rotary_pct (transformers 4).
func neoxConfig(f *fields) (gomlxmodel.GPTNeoXConfig, error) {
	c := gomlxmodel.GPTNeoXConfig{
		VocabSize:        f.int("vocab_size", 50432),
		DModel:           f.int("hidden_size", 6144),
		NLayers:          f.int("num_hidden_layers", 44),
		NHeads:           f.int("num_attention_heads", 64),
		DFF:              f.int("intermediate_size", 24576),
		LayerNormEps:     f.float("layer_norm_eps", 1e-5),
		MaxPositions:     f.int("max_position_embeddings", 2048),
		InitializerRange: f.float("initializer_range", 0.02),
		AttentionBias:    f.bool("attention_bias", true),
		HiddenAct:        f.string("hidden_act", "gelu"),
		ParallelResidual: f.bool("use_parallel_residual", true),
		TiedHead:         f.bool("tie_word_embeddings", false),
		QKVSplit:         "per_head",
		RopePairing:      config.RopeHalves,
		Causal:           true,
	}
	if err := sizesOK(f, map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.DModel, "intermediate_size": c.DFF,
		"num_hidden_layers": c.NLayers, "num_attention_heads": c.NHeads}); err != nil {
		return c, err
	}
	pct := f.float("rotary_pct", 0.25)
	var err error
	if f.present("rotary_emb_base") && f.present("rope_theta") {
		return c, &checkpoint.Error{File: f.path, Msg: "both rotary_emb_base and rope_theta", Expected: "one of them", Found: "both"}
	}
	thetaKey := "rotary_emb_base"
	if f.present("rope_theta") {
		thetaKey = "rope_theta"
	}
	c.RopeTheta, c.RopeScaling, c.RotaryPct, err = ropeConfig(f, thetaKey, 10000, c.MaxPositions, pct)
	if err != nil {
		return c, err
	}
	if c.NHeads > 0 && c.DModel%c.NHeads != 0 {
		return c, &checkpoint.Error{File: f.path, Msg: "hidden_size is not a multiple of num_attention_heads",
			Expected: "hidden_size divisible by num_attention_heads", Found: fmt.Sprintf("%d / %d", c.DModel, c.NHeads)}
	}
	for _, err := range []error{
		f.unsupportedIf(!slices.Contains([]string{"gelu", "gelu_new", "gelu_pytorch_tanh"}, c.HiddenAct), "hidden_act", `"gelu", "gelu_new" or "gelu_pytorch_tanh"`),
		f.common(),
		f.closed(inertKeys("gpt_neox")),
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

// slidingWindow reads the window keys as transformers 5.17 does. Mistral: sliding_window on every
// layer (null: none). Qwen2 and Qwen3: sliding_window counts only under use_sliding_window, and
// applies to the layers layer_types calls "sliding_attention" — when layer_types is absent, the
// layers from max_window_layers on.
func slidingWindow(f *fields, arch string, c *gomlxmodel.LlamaConfig, def int) error {
	switch arch {
	case "mistral", "phi3":
		if hasKey(f, "sliding_window") && !f.present("sliding_window") {
			return nil // "sliding_window": null, full attention
		}
		c.SlidingWindow = f.int("sliding_window", def)
		return f.err
	case "gemma2": // layer_types, by default sliding on even layers (0, 2, …), full on odd
		c.SlidingWindow = f.int("sliding_window", def)
		if hasKey(f, "sliding_window") && !f.present("sliding_window") {
			c.SlidingWindow = 0 // null: Validate refuses sliding layers without a window
		}
		if f.present("layer_types") {
			if json.Unmarshal(f.m["layer_types"], &c.LayerTypes) != nil {
				f.fail("layer_types", "a list of strings")
			}
			return f.err
		}
		c.LayerTypes = make([]string, c.NLayers)
		for i := range c.LayerTypes {
			c.LayerTypes[i] = map[bool]string{true: gomlxmodel.LayerSliding, false: gomlxmodel.LayerFull}[(i+1)%2 == 1]
		}
		return f.err
	case "qwen2", "qwen3":
	default:
		return nil
	}
	use := f.bool("use_sliding_window", false)
	window := f.int("sliding_window", 4096)
	maxWindowLayers := f.int("max_window_layers", 28)
	if !use || !f.present("sliding_window") && hasKey(f, "sliding_window") {
		window = 0
	}
	c.SlidingWindow = window
	if f.present("layer_types") {
		if json.Unmarshal(f.m["layer_types"], &c.LayerTypes) != nil {
			f.fail("layer_types", "a list of strings")
			return f.err
		}
		if window == 0 {
			full := true
			for _, lt := range c.LayerTypes {
				full = full && lt == gomlxmodel.LayerFull
			}
			if !full {
				return &checkpoint.Error{File: f.path, Msg: "layer_types has sliding_attention layers but use_sliding_window is false or sliding_window null",
					Expected: "use_sliding_window true and a sliding_window", Found: string(bytes.TrimSpace(f.m["layer_types"]))}
			}
			c.LayerTypes = nil
		}
		return f.err
	}
	if window > 0 {
		c.LayerTypes = make([]string, c.NLayers)
		for i := range c.LayerTypes {
			c.LayerTypes[i] = gomlxmodel.LayerFull
			if i >= maxWindowLayers {
				c.LayerTypes[i] = gomlxmodel.LayerSliding
			}
		}
	}
	return f.err
}

// common checks the PreTrainedConfig keys that change the model when set: an encoder-decoder,
// cross-attention, pruned heads (their tensors are smaller than the config says).
func (f *fields) common() error {
	pruned := f.present("pruned_heads") && !slices.Contains([]string{"{}", "[]"}, string(bytes.Join(bytes.Fields(f.m["pruned_heads"]), nil)))
	for _, err := range []error{
		f.unsupportedIf(f.bool("is_encoder_decoder", false), "is_encoder_decoder", "false"),
		f.unsupportedIf(f.bool("add_cross_attention", false), "add_cross_attention", "false"),
		f.unsupportedIf(pruned, "pruned_heads", "{} (no pruned heads)"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// partialRotary are the Llama-likes whose apply_rotary_pos_emb rotates part of each head.
var partialRotary = map[string]bool{"phi3": true}

// ropeKeys are the members of rope_parameters (rope_scaling) nanoscope reads; any other is
// refused.
var ropeKeys = []string{"rope_type", "type", "rope_theta", "factor", "original_max_position_embeddings",
	"low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow", "attention_factor", "mscale", "mscale_all_dim",
	"truncate", "partial_rotary_factor"}

// ropeConfig reads the rotary base (thetaKey at the top level, transformers 4, or rope_theta under
// rope_parameters, transformers 5; both present and different is an error), rope_parameters or
// rope_scaling (transformers 4's name) as RopeScaling, and partial_rotary_factor (top level or
// under rope_parameters; defPartial when absent). maxPos is max_position_embeddings (dynamic's
// and yarn's default length). Each rope_type's parameters are checked (RopeScaling.Validate);
// longrope and any other type are refused naming it.
func ropeConfig(f *fields, thetaKey string, defTheta float64, maxPos int, defPartial float64) (float64, gomlxmodel.RopeScaling, float64, error) {
	theta := f.float(thetaKey, defTheta)
	partial := f.float("partial_rotary_factor", defPartial)
	var rs gomlxmodel.RopeScaling
	for _, key := range []string{"rope_parameters", "rope_scaling"} {
		if !f.present(key) {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(f.m[key], &m) != nil {
			f.fail(key, "an object")
			return theta, rs, partial, f.err
		}
		get := func(k string, dst any) error {
			raw, ok := m[k]
			if !ok || string(bytes.TrimSpace(raw)) == "null" {
				return nil
			}
			if json.Unmarshal(raw, dst) != nil {
				return &checkpoint.Error{File: f.path, Msg: "field " + key + "." + k + " has the wrong type",
					Expected: fmt.Sprintf("%T", dst)[1:], Found: string(bytes.TrimSpace(raw))}
			}
			return nil
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(ropeKeys, k) {
				return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: "unknown key " + key + "." + k + " (neither implemented nor known to leave the logits unchanged)",
					Expected: "absent", Found: string(bytes.TrimSpace(m[k]))}
			}
		}
		var typ, legacy string
		var th, pr *float64
		var truncate *bool
		rs = gomlxmodel.RopeScaling{MaxPositions: maxPos, OriginalMaxPositions: maxPos, BetaFast: 32, BetaSlow: 1}
		for _, err := range []error{get("rope_type", &typ), get("type", &legacy), get("rope_theta", &th), get("factor", &rs.Factor),
			get("original_max_position_embeddings", &rs.OriginalMaxPositions), get("low_freq_factor", &rs.LowFreqFactor),
			get("high_freq_factor", &rs.HighFreqFactor), get("beta_fast", &rs.BetaFast), get("beta_slow", &rs.BetaSlow),
			get("attention_factor", &rs.AttentionFactor), get("mscale", &rs.Mscale), get("mscale_all_dim", &rs.MscaleAllDim),
			get("truncate", &truncate), get("partial_rotary_factor", &pr)} {
			if err != nil {
				return theta, rs, partial, err
			}
		}
		if typ == "" {
			typ = legacy
		}
		if typ == "" {
			typ = "default"
		}
		rs.Type = typ
		rs.NoTruncate = truncate != nil && !*truncate
		if th != nil {
			if f.present(thetaKey) && *th != theta {
				return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: thetaKey + " disagrees with " + key + ".rope_theta",
					Expected: fmt.Sprint(theta), Found: fmt.Sprint(*th)}
			}
			theta = *th
		}
		if pr != nil {
			if f.present("partial_rotary_factor") && *pr != partial {
				return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: "partial_rotary_factor disagrees with " + key + ".partial_rotary_factor",
					Expected: fmt.Sprint(partial), Found: fmt.Sprint(*pr)}
			}
			partial = *pr
		}
		if !slices.Contains(gomlxmodel.RopeTypes, typ) {
			return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: "unsupported setting " + key + ".rope_type",
				Expected: fmt.Sprintf("one of %v", gomlxmodel.RopeTypes), Found: fmt.Sprintf("%q", typ)}
		}
		switch typ { // keep the parameters the type reads (transformers ignores the others)
		case "default":
			rs = gomlxmodel.RopeScaling{}
		case "linear":
			rs = gomlxmodel.RopeScaling{Type: typ, Factor: rs.Factor}
		case "dynamic":
			rs = gomlxmodel.RopeScaling{Type: typ, Factor: rs.Factor, MaxPositions: rs.MaxPositions}
		case "llama3":
			rs = gomlxmodel.RopeScaling{Type: typ, Factor: rs.Factor, OriginalMaxPositions: rs.OriginalMaxPositions,
				LowFreqFactor: rs.LowFreqFactor, HighFreqFactor: rs.HighFreqFactor}
		case "yarn":
			rs.MaxPositions, rs.LowFreqFactor, rs.HighFreqFactor = 0, 0, 0
		}
		if err := rs.Validate(); err != nil {
			return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: key + ": " + err.Error()}
		}
	}
	if !(partial > 0 && partial <= 1) {
		return theta, rs, partial, &checkpoint.Error{File: f.path, Msg: "partial_rotary_factor out of range", Expected: "in (0, 1]", Found: fmt.Sprint(partial)}
	}
	return theta, rs, partial, f.err
}

// maxSize bounds every size config.json gives (2^31 − 1: a tensor dimension nanoscope can hold).
const maxSize = math.MaxInt32

// maxLayers bounds num_hidden_layers (per-layer lists are made from it).
const maxLayers = 1 << 16

// sizesOK refuses, in one line naming the first (in sorted order), a size that is not positive
// or beyond maxSize, before any slice is made from it.
func sizesOK(f *fields, sizes map[string]int) error {
	if f.err != nil {
		return f.err
	}
	for _, k := range slices.Sorted(maps.Keys(sizes)) {
		limit := maxSize
		if k == "num_hidden_layers" {
			limit = maxLayers
		}
		if v := sizes[k]; v <= 0 || v > limit {
			return &checkpoint.Error{File: f.path, Msg: "field " + k + " out of range", Expected: fmt.Sprintf("1 … %d", limit), Found: fmt.Sprint(v)}
		}
	}
	return nil
}

func hasKey(f *fields, key string) bool { _, ok := f.m[key]; return ok }

// inertCommon are config.json keys transformers' PreTrainedConfig (and GenerationConfig, whose
// keys transformers 4 kept in config.json) can write for any family that cannot change the
// logits of a causal LM run in float32 on ids alone: token ids, dtype hints, caching, what
// forward returns, generation settings, heads other than the LM head, and bookkeeping. The
// list is tested against PreTrainedConfig().to_dict() and GenerationConfig().to_dict() of
// transformers 5.17 (testdata/hf/config_keys.json, "_base"). Keys that change the model at
// some value (is_encoder_decoder, add_cross_attention, pruned_heads, tie_word_embeddings) are
// read, not listed here.
var inertCommon = map[string]string{
	"architectures":                "checked against model_type",
	"model_type":                   "selects the family",
	"transformers_version":         "the writer's version",
	"_name_or_path":                "where the writer loaded the model from",
	"_commit_hash":                 "the hub revision the writer loaded",
	"name_or_path":                 "where the writer loaded the model from",
	"dtype":                        "storage dtype hint (the tensors say their own)",
	"torch_dtype":                  "storage dtype hint (transformers 4's name)",
	"use_bfloat16":                 "a TensorFlow-era dtype hint (the tensors say their own)",
	"use_cache":                    "the kv cache: same logits",
	"bos_token_id":                 "a token id (the tokenizer's)",
	"eos_token_id":                 "a token id (the tokenizer's)",
	"pad_token_id":                 "a token id (the tokenizer's; the embedding row is a parameter like any other)",
	"sep_token_id":                 "a token id (the tokenizer's)",
	"decoder_start_token_id":       "a token id (encoder-decoders)",
	"initializer_range":            "initialisation only",
	"attention_dropout":            "dropout: off at inference",
	"output_attentions":            "what forward returns, not the logits",
	"output_hidden_states":         "what forward returns, not the logits",
	"return_dict":                  "what forward returns, not the logits",
	"torchscript":                  "clones tied weights for TorchScript: same values",
	"tf_legacy_loss":               "the TensorFlow loss",
	"id2label":                     "classification heads",
	"label2id":                     "classification heads",
	"num_labels":                   "classification heads",
	"problem_type":                 "classification heads",
	"finetuning_task":              "a note of the task",
	"task_specific_params":         "pipeline defaults (e.g. text-generation's do_sample, max_length)",
	"prefix":                       "a prompt prefix pipelines prepend: the ids say what is run",
	"tokenizer_class":              "the tokenizer",
	"chunk_size_feed_forward":      "feed-forward chunking: same arithmetic",
	"is_decoder":                   "encoder-decoder bookkeeping",
	"tie_encoder_decoder":          "ties an encoder to a decoder (is_encoder_decoder, which is refused)",
	"cross_attention_hidden_size":  "cross-attention's width (add_cross_attention, which is refused)",
	"_attn_implementation":         "eager, sdpa or flash: the same attention up to rounding",
	"_attn_implementation_autoset": "eager, sdpa or flash: the same attention up to rounding",
	"keys_to_ignore_at_inference":  "what generation skips in outputs",
	"classifier_dropout":           "dropout of a classification head",
	"output_router_logits":         "what forward returns, not the logits",
	// GenerationConfig's keys, which transformers 4 wrote into config.json: they steer generate(),
	// never a forward's logits.
	"max_length": generationKey, "min_length": generationKey, "max_new_tokens": generationKey,
	"min_new_tokens": generationKey, "do_sample": generationKey, "early_stopping": generationKey,
	"num_beams": generationKey, "num_beam_groups": generationKey, "diversity_penalty": generationKey,
	"temperature": generationKey, "top_k": generationKey, "top_p": generationKey, "typical_p": generationKey,
	"min_p": generationKey, "epsilon_cutoff": generationKey, "eta_cutoff": generationKey,
	"repetition_penalty": generationKey, "length_penalty": generationKey, "no_repeat_ngram_size": generationKey,
	"encoder_no_repeat_ngram_size": generationKey, "bad_words_ids": generationKey,
	"num_return_sequences": generationKey, "output_scores": generationKey, "output_logits": generationKey,
	"return_dict_in_generate": generationKey, "forced_bos_token_id": generationKey,
	"forced_eos_token_id": generationKey, "remove_invalid_values": generationKey,
	"exponential_decay_length_penalty": generationKey, "suppress_tokens": generationKey,
	"begin_suppress_tokens": generationKey, "force_words_ids": generationKey, "constraints": generationKey,
	"renormalize_logits": generationKey, "sequence_bias": generationKey, "guidance_scale": generationKey,
	"penalty_alpha": generationKey, "low_memory": generationKey, "use_cache_in_generate": generationKey,
	"max_time": generationKey, "stop_strings": generationKey, "top_h": generationKey,
	"watermarking_config": generationKey, "cache_implementation": generationKey,
	"generation_config": generationKey,
	// GenerationConfig keys of transformers 5.17 (testdata/hf/config_keys.json, "_base").
	"_from_model_config": generationKey, "assistant_confidence_threshold": generationKey,
	"assistant_early_exit": generationKey, "assistant_ensemble_weight": generationKey,
	"assistant_lookbehind": generationKey, "cache_config": generationKey, "compile_config": generationKey,
	"continuous_batching_config": generationKey, "disable_compile": generationKey, "dola_layers": generationKey,
	"encoder_repetition_penalty": generationKey, "is_assistant": generationKey, "max_cache_len": generationKey,
	"max_matching_ngram_size": generationKey, "num_assistant_tokens": generationKey,
	"num_assistant_tokens_schedule": generationKey, "prefill_chunk_size": generationKey,
	"prompt_lookup_num_tokens": generationKey, "speculation_type": generationKey,
	"target_lookbehind": generationKey, "token_healing": generationKey, "use_mtp": generationKey,
	// PreTrainedConfig's private attributes (vars()), which to_dict does not write.
	"_attn_implementation_internal":    "eager, sdpa or flash: the same attention up to rounding",
	"_experts_implementation_internal": "how mixture-of-experts layers run (no such layer in these families)",
	"_output_attentions":               "what forward returns, not the logits",
}

// generationKey is why a GenerationConfig key is inert.
const generationKey = "a generation setting (GenerationConfig): steers generate(), not a forward's logits"

// inertFamily are the keys inert for one family only.
var inertFamily = map[string]map[string]string{
	"gpt2": {
		"resid_pdrop": "dropout: off at inference", "embd_pdrop": "dropout: off at inference",
		"attn_pdrop": "dropout: off at inference", "summary_type": "the sequence-summary head (GPT2DoubleHeadsModel)",
		"summary_use_proj": "the sequence-summary head", "summary_activation": "the sequence-summary head",
		"summary_proj_to_labels": "the sequence-summary head", "summary_first_dropout": "the sequence-summary head",
		"reorder_and_upcast_attn": "upcasts attention to float32: nanoscope runs in float32",
		"n_ctx":                   "transformers 2's copy of n_positions",
	},
	"llama":    {"pretraining_tp": "splits the projections into slices: same sums"},
	"gpt_neox": {"hidden_dropout": "dropout: off at inference", "classifier_dropout": "dropout of a classification head"},
	"phi3": {"resid_pdrop": "dropout: off at inference", "embd_pdrop": "dropout: off at inference",
		"original_max_position_embeddings": "longrope's pretraining length (longrope is refused)"},
	"gemma2": {"cache_implementation": "the kv cache's layout: same logits"},
}

// inertKeys is inertCommon with arch's own.
func inertKeys(arch string) map[string]string {
	out := maps.Clone(inertCommon)
	maps.Copy(out, inertFamily[arch])
	return out
}

// closed refuses, in one line naming it, the first key (in sorted order) that no getter read
// and inert does not list: a key nanoscope does not know is never read past.
func (f *fields) closed(inert map[string]string) error {
	if f.err != nil {
		return f.err
	}
	for _, key := range slices.Sorted(maps.Keys(f.m)) {
		if !f.read[key] && inert[key] == "" {
			return &checkpoint.Error{File: f.path, Msg: "unknown key " + key + " (neither implemented nor known to leave the logits unchanged)",
				Expected: "absent", Found: string(bytes.TrimSpace(f.m[key]))}
		}
	}
	return nil
}

// Keys sorts config.json's keys into those read (implemented, or checked to hold the value
// nanoscope runs) and those judged inert.
func (f *fields) keys() (read, inert []string) {
	for _, key := range slices.Sorted(maps.Keys(f.m)) {
		if f.read[key] {
			read = append(read, key)
		} else {
			inert = append(inert, key)
		}
	}
	return read, inert
}
