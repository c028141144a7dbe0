package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// Save writes f's parameters p as a Hugging Face checkpoint directory: config.json (as
// transformers 5 writes it for GPT2LMHeadModel or LlamaForCausalLM) and model.safetensors (F32,
// the tensor names of ParamSpecs; a tied head has no lm_head.weight, as save_pretrained writes
// it). transformers' from_pretrained and Load read it back.
//
// config.json cannot say everything a family's conventions can: Llama's RoPE pairing and GQA
// mapping and any family's causal mask are not recorded, and every reader assumes Hugging
// Face's (rotate_half, repeat_kv, causal). Weights trained under other conventions and saved
// this way are exactly the rope_layout, gqa_mapping and future_leakage faults. GPT-2 weights in
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
		}
	case gomlxmodel.Llama:
		c := m.Config
		maxPos := c.MaxPositions
		if maxPos <= 0 {
			maxPos = 2048
		}
		cfg = map[string]any{
			"model_type": "llama", "architectures": []string{"LlamaForCausalLM"},
			"vocab_size": c.VocabSize, "hidden_size": c.DModel, "intermediate_size": c.DFF,
			"num_hidden_layers": c.NLayers, "num_attention_heads": c.NHeads, "num_key_value_heads": c.NKVHeads,
			"head_dim": c.HeadDim, "max_position_embeddings": maxPos, "rms_norm_eps": c.RMSNormEps,
			"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": c.RopeTheta},
			"hidden_act":      "silu", "attention_bias": false, "mlp_bias": false,
			"initializer_range": c.InitializerRange, "tie_word_embeddings": c.TiedHead,
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
