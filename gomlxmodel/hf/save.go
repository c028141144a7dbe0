package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// Save writes f's parameters p as a Hugging Face checkpoint directory: config.json (as
// transformers 5 writes it for GPT2LMHeadModel, LlamaForCausalLM and the Llama-likes Save
// names, or GPTNeoXForCausalLM) and model.safetensors (F32,
// the tensor names of ParamSpecs; a tied head has no lm_head.weight, as save_pretrained writes
// it). transformers' from_pretrained and Load read it back.
//
// config.json cannot say everything a family's conventions can: the RoPE pairing, Llama's GQA
// mapping, GPT-NeoX's query_key_value split and any family's causal mask are not recorded, and
// every reader assumes Hugging Face's (rotate_half, repeat_kv, per-head q|k|v, causal). Weights
// trained under other conventions and saved this way are exactly the rope_layout, gqa_mapping,
// convention_mismatch and future_leakage faults. GPT-2 weights in
// nn.Linear layout are written as they are (nanoGPT's files); Load detects the layout.
func Save(dir string, f gomlxmodel.Family, p gomlxmodel.Params) error {
	var cfg map[string]any
	switch m := f.(type) {
	case gomlxmodel.GPT2:
		c := m.Config
		if c.NoBias {
			return fmt.Errorf("hf: Hugging Face's GPT-2 has no option for a model without biases (nanoGPT's bias=False)")
		}
		cfg = map[string]any{
			"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"},
			"vocab_size": c.VocabSize, "n_positions": c.NPositions, "n_embd": c.DModel, "n_layer": c.NLayers,
			"n_head": c.NHeads, "n_inner": c.DInner, "activation_function": c.Activation,
			"layer_norm_epsilon": c.LayerNormEps, "initializer_range": c.InitializerRange,
			"tie_word_embeddings": c.TiedHead, "scale_attn_weights": true,
			"scale_attn_by_inverse_layer_idx": c.ScaleAttnByInverseLayerIdx,
		}
	case gomlxmodel.Llama:
		c := m.Config
		maxPos := c.MaxPositions
		if maxPos <= 0 {
			maxPos = 2048
		}
		arch := m.Arch()
		switch {
		case !slices.Contains([]string{"llama", "qwen2", "qwen3", "mistral"}, arch):
			return &checkpoint.Error{File: dir, Msg: "cannot save a " + arch + " model in Hugging Face layout (Save writes llama, qwen2, qwen3 and mistral)"}
		case c.FusedQKV || c.FusedGateUp || c.SandwichNorm || c.AttnSoftCap != 0 || c.QueryPreAttnScalar != 0 || c.RotaryDim != 0 || c.Run != (gomlxmodel.RunConventions{}):
			return &checkpoint.Error{File: dir, Msg: arch + ": fused projections, sandwich norms, soft-caps, partial rotary or run conventions other than the reference are not " + arch + " config.json keys"}
		case c.MLPBias && arch != "llama":
			return &checkpoint.Error{File: dir, Msg: arch + ": mlp_bias is Llama's key alone"}
		}
		act := c.HiddenAct
		if act == "" {
			act = "silu"
		}
		cfg = map[string]any{
			"model_type": arch, "architectures": []string{supported[arch][0]},
			"vocab_size": c.VocabSize, "hidden_size": c.DModel, "intermediate_size": c.DFF,
			"num_hidden_layers": c.NLayers, "num_attention_heads": c.NHeads, "num_key_value_heads": c.NKVHeads,
			"head_dim": c.HeadDim, "max_position_embeddings": maxPos, "rms_norm_eps": c.RMSNormEps,
			"rope_parameters":   ropeParameters(c.RopeTheta, c.RopeScaling),
			"hidden_act":        act,
			"initializer_range": c.InitializerRange, "tie_word_embeddings": c.TiedHead,
		}
		if err := llamaSaveKeys(cfg, c, arch); err != nil {
			return &checkpoint.Error{File: dir, Msg: err.Error()}
		}
	case gomlxmodel.GPTNeoX:
		c := m.Config
		if c.Run != (gomlxmodel.RunConventions{}) {
			return &checkpoint.Error{File: dir, Msg: "gpt_neox: run conventions other than the reference are not gpt_neox config.json keys"}
		}
		maxPos := c.MaxPositions
		if maxPos <= 0 {
			maxPos = 2048 // as for Llama: informative, RoPE has no table
		}
		rope := ropeParameters(c.RopeTheta, c.RopeScaling)
		rope["partial_rotary_factor"] = c.RotaryPct
		cfg = map[string]any{
			"model_type": "gpt_neox", "architectures": []string{supported["gpt_neox"][0]},
			"vocab_size": c.VocabSize, "hidden_size": c.DModel, "intermediate_size": c.DFF,
			"num_hidden_layers": c.NLayers, "num_attention_heads": c.NHeads,
			"max_position_embeddings": maxPos, "layer_norm_eps": c.LayerNormEps,
			"rope_parameters": rope, "hidden_act": c.HiddenAct, "attention_bias": c.AttentionBias,
			"use_parallel_residual": c.ParallelResidual, "initializer_range": c.InitializerRange,
			"tie_word_embeddings": c.TiedHead,
		}
	default:
		return &checkpoint.Error{File: dir, Msg: fmt.Sprintf("cannot save a %s model in Hugging Face layout", f.Arch())}
	}
	cfg["dtype"] = "float32"
	if err := gomlxmodel.CheckFamilyParams(f, p); err != nil {
		return &checkpoint.Error{File: dir, Msg: err.Error()}
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return &checkpoint.Error{File: dir, Msg: "cannot encode config.json", Err: err}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &checkpoint.Error{File: dir, Msg: "cannot create directory", Err: err}
	}
	if err := checkpoint.WriteSafetensors(filepath.Join(dir, ModelFile), p); err != nil {
		return err
	}
	path := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return &checkpoint.Error{File: path, Msg: "cannot write", Err: err}
	}
	return nil
}

// ropeParameters is config.json's rope_parameters (transformers 5): the rotary base and the
// rope_type with its parameters.
func ropeParameters(theta float64, s gomlxmodel.RopeScaling) map[string]any {
	rope := map[string]any{"rope_type": "default", "rope_theta": theta}
	if s.Type != "" && s.Type != "default" {
		rope["rope_type"] = s.Type
		for k, v := range s.Params() {
			rope[k] = v
		}
	}
	return rope
}

// llamaSaveKeys adds the keys by which the Llama-like families differ, or says which field
// combination the family's config.json cannot express.
func llamaSaveKeys(cfg map[string]any, c gomlxmodel.LlamaConfig, arch string) error {
	layers := c.LayerTypes
	if c.SlidingWindow > 0 && layers == nil {
		layers = slices.Repeat([]string{gomlxmodel.LayerSliding}, c.NLayers)
	}
	switch arch {
	case "llama", "qwen3":
		if c.QKVBias != c.OBias {
			return fmt.Errorf("%s: attention_bias puts a bias on all of q, k, v and o_proj or none", arch)
		}
		cfg["attention_bias"] = c.QKVBias
		if arch == "llama" {
			cfg["mlp_bias"] = c.MLPBias
		}
	case "qwen2":
		if !c.QKVBias || c.OBias {
			return fmt.Errorf("qwen2: Qwen2 has biases on q, k and v_proj and none on o_proj")
		}
	case "mistral":
		if c.QKVBias || c.OBias {
			return fmt.Errorf("mistral: Mistral has no attention biases")
		}
	}
	if c.QKNorm != (arch == "qwen3") {
		return fmt.Errorf("%s: q_norm and k_norm are Qwen3's alone", arch)
	}
	switch {
	case arch == "mistral" && c.SlidingWindow > 0 && c.LayerTypes != nil && slices.Contains(c.LayerTypes, gomlxmodel.LayerFull):
		return fmt.Errorf("mistral: the sliding window applies to every layer")
	case arch == "mistral":
		cfg["sliding_window"] = nil
		if c.SlidingWindow > 0 {
			cfg["sliding_window"] = c.SlidingWindow
		}
	case arch == "qwen2" || arch == "qwen3":
		cfg["use_sliding_window"] = c.SlidingWindow > 0
		cfg["sliding_window"] = nil
		if c.SlidingWindow > 0 {
			cfg["sliding_window"] = c.SlidingWindow
			cfg["layer_types"] = layers
		}
	case c.SlidingWindow > 0:
		return fmt.Errorf("llama: Llama has no sliding window")
	}
	return nil
}
