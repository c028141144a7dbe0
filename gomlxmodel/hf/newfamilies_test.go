package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// tinyLlamaLike is a small model of each Llama-like family (2 layers, GQA, vocab 300).
func tinyLlamaLike(arch string) gomlxmodel.Llama {
	c := gomlxmodel.LlamaConfig{Arch: arch, VocabSize: 300, DModel: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, HeadDim: 8,
		DFF: 48, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, InitializerRange: 0.02,
		RopePairing: config.RopeHalves, GQAMapping: config.GQAInterleave, Causal: true}
	switch arch {
	case "qwen2":
		c.QKVBias, c.SlidingWindow, c.LayerTypes = true, 6, []string{gomlxmodel.LayerFull, gomlxmodel.LayerSliding}
	case "qwen3":
		c.QKNorm, c.QKVBias, c.OBias, c.HeadDim, c.TiedHead = true, true, true, 12, true
	case "mistral":
		c.SlidingWindow = 5
	}
	return gomlxmodel.Llama{Config: c}
}

// tinyNeoX is a small GPT-NeoX (Pythia's defaults: parallel residual, rotary_pct 0.25 of a
// head, biases, untied embed_out).
func tinyNeoX() gomlxmodel.GPTNeoX {
	return gomlxmodel.GPTNeoX{Config: gomlxmodel.GPTNeoXConfig{VocabSize: 300, DModel: 32, NLayers: 2, NHeads: 4, DFF: 48,
		LayerNormEps: 1e-5, RopeTheta: 10000, RotaryPct: 0.25, MaxPositions: 64, InitializerRange: 0.02, AttentionBias: true,
		HiddenAct: "gelu", ParallelResidual: true, QKVSplit: "per_head", RopePairing: config.RopeHalves, Causal: true}}
}

// TestSaveLoadNewFamilies: Save writes each Llama-like family's and GPT-NeoX's config.json so
// that Load reads back the same configuration and weights (a GPT-NeoX with Pythia's defaults,
// and one with the other value of each option: sequential residual, no attention bias, a tied
// head, tanh GELU, full rotary, linear scaling); HF24_SAVE_DIR keeps the directories (for the
// CLI). A run convention no config.json key says is refused.
func TestSaveLoadNewFamilies(t *testing.T) {
	neox2 := tinyNeoX()
	c := &neox2.Config
	c.ParallelResidual, c.AttentionBias, c.TiedHead, c.HiddenAct, c.RotaryPct = false, false, true, "gelu_new", 1
	c.RopeScaling = gomlxmodel.RopeScaling{Type: "linear", Factor: 2}
	for _, tc := range []struct {
		name string
		m    gomlxmodel.Family
	}{
		{"qwen2", tinyLlamaLike("qwen2")}, {"qwen3", tinyLlamaLike("qwen3")}, {"mistral", tinyLlamaLike("mistral")},
		{"gpt_neox", tinyNeoX()}, {"gpt_neox_options", neox2},
	} {
		p := gomlxmodel.InitFamilyParams(tc.m, 7)
		dir := filepath.Join(t.TempDir(), tc.name)
		if keep := os.Getenv("HF24_SAVE_DIR"); keep != "" {
			dir = filepath.Join(keep, tc.name)
		}
		if err := Save(dir, tc.m, p); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ck, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ck.Arch != tc.m.Arch() || !reflect.DeepEqual(ck.Family, tc.m) {
			t.Errorf("%s: loaded %+v, saved %+v", tc.name, ck.Family, tc.m)
		}
		for n, x := range p {
			if y := ck.Params[n]; !reflect.DeepEqual(y.Data, x.Data) || !reflect.DeepEqual(y.Shape, x.Shape) {
				t.Errorf("%s: tensor %s changed", tc.name, n)
			}
		}
		if len(ck.KeysRead) == 0 || len(ck.KeysInert) == 0 {
			t.Errorf("%s: keys read %v, inert %v", tc.name, ck.KeysRead, ck.KeysInert)
		}
	}
	bad := tinyLlamaLike("qwen2")
	bad.Config.OBias = true
	if err := Save(t.TempDir(), bad, gomlxmodel.InitFamilyParams(bad, 1)); err == nil {
		t.Error("saved a qwen2 with an o_proj bias")
	}
	run := tinyNeoX()
	run.Config.Run.EmbedScale = true
	if err := Save(t.TempDir(), run, gomlxmodel.InitFamilyParams(run, 1)); err == nil || !strings.Contains(err.Error(), "run conventions") {
		t.Errorf("saved a gpt_neox with an embedding scale: %v", err)
	}
}

// hf24Fixtures are the directories bench/hf24_fixtures.py wrote with transformers 5.17 (see
// testdata/hf/fixtures24.json): per family a random model (biases and norm weights moved off
// their initial values) and a briefly trained one, the Llama and GPT-2 options, and PEFT LoRA
// adapters beside a base model.
var hf24Fixtures = []string{
	"qwen2_random_gqa", "qwen2_trained_swa", "qwen3_random_hd", "qwen3_trained_tied",
	"mistral_random_swa", "mistral_trained_swa",
	"gemma_random_mqa", "gemma_trained", "gemma2_random_caps", "gemma2_trained",
	"phi3_random", "phi3_trained",
	"gpt_neox_random_parallel", "gpt_neox_random_sequential", "gpt_neox_trained",
	"llama_random_options", "llama_random_rope_linear", "llama_random_rope_dynamic",
	"llama_random_rope_llama3", "llama_random_rope_yarn", "gpt2_random_inverse_layer_idx",
	"lora_llama", "lora_llama_rslora_regex", "lora_gpt2_fan_in_fan_out",
}

// TestParityHF24: nanoscope's logits match transformers 5.17's within 1e-5 relative
// (max|Δ|/max|logit|), argmax equal at every position, for every family and option fixture.
func TestParityHF24(t *testing.T) {
	for _, name := range hf24Fixtures {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixtureRoot, name)
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("%s missing: bench/hf24_fixtures.py writes it on the GPU machine (see its docstring)", dir)
			}
			ck, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := readReference(t, dir)
			got := runLogits(t, ck.Family, ck.Params, ref.ids)
			rel, bad := compare(got, ref.logits, ref.v)
			t.Logf("%s (%s): max|Δ|/max|logit| = %.2e, argmax differs at %d of %d positions; notes: %s",
				name, ck.Arch, rel, bad, len(ref.logits)/ref.v, strings.Join(ck.Notes, "; "))
			if rel > 1e-5 || bad > 0 {
				t.Errorf("%s: relative deviation %.2e (limit 1e-5), %d argmax differences", name, rel, bad)
			}
			if strings.HasPrefix(name, "lora_") { // transformers applied the adapter, and so did nanoscope
				checkAdapterApplied(t, ck, dir, got, ref.v)
			}
		})
	}
}

// checkAdapterApplied fails unless ck merged an adapter and its logits got (V per position) are
// more than 1e-2 relative from the base model's, base_logits of the fixture's reference file.
func checkAdapterApplied(t *testing.T, ck *Checkpoint, dir string, got []float32, v int) {
	t.Helper()
	ts, err := readFile(referenceFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if rel, _ := compare(got, ts["base_logits"].Data, v); ck.Adapter == "" || rel < 1e-2 {
		t.Errorf("adapter %q: logits within %.2e of the base model's", ck.Adapter, rel)
	}
}

// TestTranscribedParity: nanoscope's logits match those of bench/hf24_transcribed.py — a
// PyTorch transcription of transformers' forward passes (not transformers itself: a second
// implementation that catches layout and formula slips; TestParityHF24's transformers 5.17
// fixtures supersede it) — within 1e-5 relative, argmax equal, for every family and option.
func TestTranscribedParity(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(fixtureRoot, "transcribed", "t_*", ConfigFile))
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	if err != nil || len(dirs) != 16 {
		t.Fatalf("%d transcribed fixtures (%v), want 16", len(dirs), err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			ck, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := readReference(t, dir)
			got := runLogits(t, ck.Family, ck.Params, ref.ids)
			rel, bad := compare(got, ref.logits, ref.v)
			t.Logf("%s (%s): max|Δ|/max|logit| = %.2e, argmax differs at %d of %d positions", name, ck.Arch, rel, bad, len(ref.logits)/ref.v)
			if rel > 1e-5 || bad > 0 {
				t.Errorf("%s: relative deviation %.2e (limit 1e-5), %d argmax differences", name, rel, bad)
			}
			// The fixture tells the family's distinguishing convention apart: flipped, the
			// logits move by more than 1e-3 relative.
			flip := transcribedFlips[name]
			g, err := ck.Family.WithConvention(flip[0], flip[1])
			if err != nil {
				t.Fatal(err)
			}
			if rel, _ := compare(runLogits(t, g, ck.Params, ref.ids), ref.logits, ref.v); rel < 1e-3 {
				t.Errorf("%s=%s moves the logits by %.2e only: the fixture does not tell it apart", flip[0], flip[1], rel)
			}
			if strings.Contains(name, "lora") { // the adapter was applied: the base model's logits are far
				checkAdapterApplied(t, ck, dir, got, ref.v)
			}
			if g, ok := ck.Family.(gomlxmodel.GPT2); ok && g.Config.ScaleAttnByInverseLayerIdx { // and the plain scale apart
				g.Config.ScaleAttnByInverseLayerIdx = false
				if rel, _ := compare(runLogits(t, g, ck.Params, ref.ids), ref.logits, ref.v); rel < 1e-3 {
					t.Errorf("without scale_attn_by_inverse_layer_idx the logits move by %.2e only", rel)
				}
			}
			if l, ok := ck.Family.(gomlxmodel.Llama); ok && l.Config.RopeScaling.Type != "" { // and the plain RoPE apart
				l.Config.RopeScaling = gomlxmodel.RopeScaling{}
				if rel, _ := compare(runLogits(t, l, ck.Params, ref.ids), ref.logits, ref.v); rel < 1e-3 {
					t.Errorf("the plain RoPE moves the logits by %.2e only: the fixture does not tell rope_type apart", rel)
				}
			}
		})
	}
}

// transcribedFlips is, per transcribed fixture, a convention whose other value the fixture
// must tell apart.
var transcribedFlips = map[string][2]string{
	"t_gemma": {"norm_weight", "w"}, "t_gemma2": {"attn_softcap", "none"},
	"t_gpt_neox_parallel": {"parallel_residual", "false"}, "t_gpt_neox_sequential": {"rotary_pct", "1"},
	"t_llama_options": {"gqa_mapping", "tile"}, "t_llama_rope_dynamic": {"rope_theta", "100000"},
	"t_llama_rope_linear": {"rope_scaling", "4"}, "t_llama_rope_llama3": {"rope_pairing", "interleaved"},
	"t_llama_rope_yarn": {"rope_theta", "1000"}, "t_mistral_swa": {"sliding_window", "0"},
	"t_phi3": {"gqa_mapping", "tile"}, "t_qwen2_swa": {"sliding_window", "0"},
	"t_lora_llama": {"gqa_mapping", "tile"}, "t_lora_llama_rslora_regex": {"gqa_mapping", "tile"},
	"t_gpt2_inverse_layer_idx": {"qkv_order", "kqv"}, "t_lora_gpt2_fan_in_fan_out": {"qkv_order", "kqv"},
}

// TestAdapterRefusals: an adapter nanoscope cannot apply as transformers would is refused in one
// line naming the file and key; the base model is never served in its place.
func TestAdapterRefusals(t *testing.T) {
	src := filepath.Join(fixtureRoot, "transcribed", "t_lora_llama")
	cases := []struct {
		name string
		edit func(dir string, cfg map[string]any)
		want string
	}{
		{"no adapter_model.safetensors", func(dir string, _ map[string]any) { os.Remove(filepath.Join(dir, AdapterModelFile)) },
			"adapter_model.safetensors: missing: adapter_config.json says a PEFT adapter applies to these weights"},
		{"DoRA", func(_ string, c map[string]any) { c["use_dora"] = true }, "unsupported setting use_dora"},
		{"trained biases", func(_ string, c map[string]any) { c["bias"] = "all" }, `unsupported setting bias: expected "none"`},
		{"modules_to_save", func(_ string, c map[string]any) { c["modules_to_save"] = []any{"lm_head"} }, "unsupported setting modules_to_save"},
		{"unknown key", func(_ string, c map[string]any) { c["lora_magnitude"] = 2.0 }, "unknown key lora_magnitude"},
		{"a target without tensors", func(_ string, c map[string]any) {
			c["target_modules"] = []any{"q_proj", "v_proj", "down_proj", "up_proj"}
		},
			"missing: target_modules names model.layers.0.mlp.up_proj"},
		{"tensors without a target", func(_ string, c map[string]any) { c["target_modules"] = []any{"q_proj", "v_proj"} },
			"adapter for a module target_modules does not name"},
		{"another PEFT method", func(_ string, c map[string]any) { c["peft_type"] = "IA3" }, `unsupported setting peft_type: expected "LORA", found "IA3"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{ConfigFile, ModelFile, AdapterConfigFile, AdapterModelFile} {
				b, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var cfg map[string]any
			raw, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			tc.edit(dir, cfg)
			raw, _ = json.Marshal(cfg)
			if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %v lacks %q (or is not one line)", err, tc.want)
			}
		})
	}
}

// TestSaveLoadOptions: Save writes the Llama options (mlp_bias, biases, gelu, each rope type) so
// that Load reads the same configuration back; what a family's config.json cannot say is refused.
func TestSaveLoadOptions(t *testing.T) {
	base := tinyLlamaLike("llama")
	for _, rs := range []gomlxmodel.RopeScaling{{},
		{Type: "linear", Factor: 2},
		{Type: "dynamic", Factor: 2, MaxPositions: 64},
		{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 32},
		{Type: "yarn", Factor: 4, OriginalMaxPositions: 16, BetaFast: 32, BetaSlow: 1},
	} {
		m := base
		m.Config.MLPBias, m.Config.QKVBias, m.Config.OBias, m.Config.HiddenAct, m.Config.RopeScaling = true, true, true, "gelu", rs
		dir := t.TempDir()
		if err := Save(dir, m, gomlxmodel.InitFamilyParams(m, 2)); err != nil {
			t.Fatalf("%s: %v", rs.Type, err)
		}
		ck, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", rs.Type, err)
		}
		got := ck.Family.(gomlxmodel.Llama).Config
		if !reflect.DeepEqual(got, m.Config) {
			t.Errorf("%s: loaded %+v\nsaved %+v", rs.Type, got, m.Config)
		}
	}
	g := base
	g.Config.Arch = "gemma2"
	if err := Save(t.TempDir(), g, gomlxmodel.InitFamilyParams(g, 1)); err == nil || !strings.Contains(err.Error(), "cannot save a gemma2 model") {
		t.Errorf("gemma2 saved: %v", err)
	}
}

// TestQKVOrderIsARowPermutation: the qkv_order convention of a fused projection (Phi-3's
// qkv_proj, GPT-NeoX's query_key_value per head and in blocks) runs the weights whose output rows
// are in that order: rows of transformers' checkpoint moved into order X, run under qkv_order=X,
// give transformers' logits (≤ 1e-5 relative, argmax equal); under the loaded order they do not.
func TestQKVOrderIsARowPermutation(t *testing.T) {
	for _, c := range []struct {
		fixture, tensor string
		split           string // gpt_neox's qkv_split ("" for Phi-3)
	}{
		{"phi3_trained", "model.layers.%d.self_attn.qkv_proj.weight", ""},
		{"gpt_neox_trained", "gpt_neox.layers.%d.attention.query_key_value", "per_head"},
		{"gpt_neox_random_parallel", "gpt_neox.layers.%d.attention.query_key_value", "blocks"},
	} {
		for _, order := range []string{"kqv", "vqk"} {
			t.Run(c.fixture+"/"+c.split+"/"+order, func(t *testing.T) {
				dir := filepath.Join(fixtureRoot, c.fixture)
				ck, err := Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				ref := readReference(t, dir)
				f := ck.Family
				if c.split != "" {
					if f, err = f.WithConvention(gomlxmodel.ConvQKVSplit, c.split); err != nil {
						t.Fatal(err)
					}
				}
				// The row blocks of the loaded order q|k|v, and the block sizes.
				d := f.Dims()
				var sizes map[byte]int
				heads := 1 // per-head layout: the blocks repeat per head
				switch m := f.(type) {
				case gomlxmodel.Llama:
					qd, kvd := m.Config.NHeads*m.Config.HeadDim, m.Config.NKVHeads*m.Config.HeadDim
					sizes = map[byte]int{'q': qd, 'k': kvd, 'v': kvd}
				case gomlxmodel.GPTNeoX:
					hd := d.DModel / m.Config.NHeads
					if c.split == "per_head" {
						heads, sizes = m.Config.NHeads, map[byte]int{'q': hd, 'k': hd, 'v': hd}
					} else {
						sizes = map[byte]int{'q': d.DModel, 'k': d.DModel, 'v': d.DModel}
					}
				}
				p := gomlxmodel.Params{}
				for k, v := range ck.Params {
					p[k] = v
				}
				for layer := 0; layer < d.NLayers; layer++ {
					for _, suffix := range []string{"", ".weight", ".bias"} {
						name := fmt.Sprintf(c.tensor, layer) + suffix
						w, ok := p[name]
						if !ok || (suffix == "" && c.split != "") {
							continue
						}
						cols := 1
						if len(w.Shape) == 2 {
							cols = w.Shape[1]
						}
						per := (sizes['q'] + sizes['k'] + sizes['v']) * cols
						out := make([]float32, 0, len(w.Data))
						for h := 0; h < heads; h++ {
							src := w.Data[h*per : (h+1)*per]
							start := map[byte]int{'q': 0, 'k': sizes['q'] * cols, 'v': (sizes['q'] + sizes['k']) * cols}
							for j := 0; j < 3; j++ {
								r := order[j]
								out = append(out, src[start[r]:start[r]+sizes[r]*cols]...)
							}
						}
						p[name] = checkpoint.Tensor{Shape: w.Shape, Data: out}
					}
				}
				g, err := f.WithConvention(gomlxmodel.ConvQKVOrder, order)
				if err != nil {
					t.Fatal(err)
				}
				want := ref.logits
				if c.split == "blocks" { // the fixture is per-head: compare with the same weights read in blocks
					want = runLogits(t, f, ck.Params, ref.ids)
				}
				rel, bad := compare(runLogits(t, g, p, ref.ids), want, ref.v)
				if rel > 1e-5 || bad > 0 {
					t.Errorf("qkv_order=%s on rows in that order: %.2e relative, %d argmax differences", order, rel, bad)
				}
				if rel, _ := compare(runLogits(t, f, p, ref.ids), want, ref.v); rel < 1e-3 {
					t.Errorf("the loaded order on the moved rows is within %.2e: the test cannot tell", rel)
				}
			})
		}
	}
}

// TestGateUpOrder: Phi-3's gate_up_proj with its halves exchanged, run under gate_up_order=up_gate,
// gives transformers' logits; under the loaded order it does not.
func TestGateUpOrder(t *testing.T) {
	dir := filepath.Join(fixtureRoot, "phi3_trained")
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref := readReference(t, dir)
	p := gomlxmodel.Params{}
	for k, v := range ck.Params {
		p[k] = v
	}
	for layer := 0; layer < ck.Family.Dims().NLayers; layer++ {
		name := fmt.Sprintf("model.layers.%d.mlp.gate_up_proj.weight", layer)
		w := p[name]
		half := len(w.Data) / 2
		p[name] = checkpoint.Tensor{Shape: w.Shape, Data: append(slices.Clone(w.Data[half:]), w.Data[:half]...)}
	}
	g, err := ck.Family.WithConvention(gomlxmodel.ConvGateUpOrder, "up_gate")
	if err != nil {
		t.Fatal(err)
	}
	if rel, bad := compare(runLogits(t, g, p, ref.ids), ref.logits, ref.v); rel > 1e-5 || bad > 0 {
		t.Errorf("gate_up_order=up_gate on exchanged halves: %.2e relative, %d argmax differences", rel, bad)
	}
	if rel, _ := compare(runLogits(t, ck.Family, p, ref.ids), ref.logits, ref.v); rel < 1e-3 {
		t.Errorf("the loaded order on exchanged halves is within %.2e: the test cannot tell", rel)
	}
}
