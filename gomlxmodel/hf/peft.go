package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"nanoscope/gomlxmodel/checkpoint"
)

// Files of a PEFT adapter saved beside the weights (what transformers' from_pretrained applies
// when peft is installed).
const (
	AdapterConfigFile = "adapter_config.json"
	AdapterModelFile  = "adapter_model.safetensors"
)

// adapterInert are adapter_config.json keys that cannot change the merged weights: where the
// base came from, initialisation (the trained A and B are in the file), training-time settings
// and bookkeeping. Keys that change the weights at some value are read (peftRead); any other key
// is refused.
var adapterInert = map[string]string{
	"base_model_name_or_path": "where the adapter's base came from (the weights beside it are the base)",
	"revision":                "the base's hub revision",
	"task_type":               "the PEFT model class (CAUSAL_LM)",
	"inference_mode":          "whether the adapter trains",
	"lora_dropout":            "dropout: off at inference",
	"init_lora_weights":       "initialisation: the trained A and B are in the file",
	"loftq_config":            "initialisation (LoftQ)",
	"eva_config":              "initialisation (EVA)",
	"corda_config":            "initialisation (CorDA)",
	"auto_mapping":            "the PEFT class to build",
	"peft_version":            "the writer's version",
	"runtime_config":          "runtime options (ephemeral GPU offload)",
	"megatron_config":         "Megatron's parallel layers (absent for transformers models)",
	"megatron_core":           "Megatron's module name",
	"qalora_group_size":       "QA-LoRA's group (use_qalora, refused when on)",
	"ensure_weight_tying":     "tied adapters for tied weights: the adapter tensors say which modules have one",
}

// applyAdapter merges a LoRA adapter found in dir into ck.Params as PEFT's merge does:
// W ← W + s·B·A for each target module (s = lora_alpha/r, or lora_alpha/√r with use_rslora),
// transposed for weights stored [in, out] (GPT-2's Conv1D, PEFT's fan_in_fan_out). Every
// module target_modules names must have its A and B, every A and B must belong to a module
// target_modules names, and any setting that is not a plain LoRA is refused naming the key.
// No adapter_config.json: nothing to do. adapter_config.json without adapter_model.safetensors
// is refused (adapter_model.bin, a pickle, is refused by CheckpointFiles before): nanoscope
// never serves the base model in its place.
func (ck *Checkpoint) applyAdapter(dir string, inOut func(string) bool) error {
	path := filepath.Join(dir, AdapterConfigFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &checkpoint.Error{File: path, Msg: "cannot read", Err: err}
	}
	f := &fields{path: path}
	if err := jsonObject(raw, f); err != nil {
		return err
	}
	cfg, err := loraConfig(f)
	if err != nil {
		return err
	}
	wpath := filepath.Join(dir, AdapterModelFile)
	if _, err := os.Stat(wpath); err != nil {
		return &checkpoint.Error{File: wpath, Msg: "missing: " + AdapterConfigFile + " says a PEFT adapter applies to these weights", Err: fs.ErrNotExist}
	}
	ts, err := readFile(wpath)
	if err != nil {
		return err
	}
	// Pair the tensors: base_model.model.<module>.lora_{A,B}.weight.
	type pair struct{ a, b *tensor }
	pairs := map[string]*pair{}
	for _, name := range sortedNames(ts) {
		t := ts[name]
		rest, ok := strings.CutPrefix(name, "base_model.model.")
		var module, which string
		if ok {
			for _, w := range []string{"lora_A", "lora_B"} {
				if m, ok := strings.CutSuffix(rest, "."+w+".weight"); ok {
					module, which = m, w
				}
			}
		}
		if module == "" {
			return &checkpoint.Error{File: wpath, Tensor: name, Msg: "adapter tensor nanoscope does not apply (only LoRA's lora_A and lora_B weights of linear layers)",
				Expected: "base_model.model.<module>.lora_A.weight / lora_B.weight", Found: name}
		}
		p := pairs[module]
		if p == nil {
			p = &pair{}
			pairs[module] = p
		}
		if which == "lora_A" {
			p.a = &t
		} else {
			p.b = &t
		}
	}
	// Every linear weight target_modules names has a pair, every pair a target.
	targets := map[string]bool{}
	for name, p := range ck.Params {
		module, ok := strings.CutSuffix(name, ".weight")
		if ok && len(p.Shape) == 2 && cfg.targets(module, name == ck.Family.Spec().Embed || name == ck.Family.Spec().Head) {
			targets[module] = true
		}
	}
	for _, module := range slices.Sorted(maps.Keys(targets)) {
		if pairs[module] == nil {
			return &checkpoint.Error{File: wpath, Tensor: "base_model.model." + module + ".lora_A.weight",
				Msg: "missing: target_modules names " + module}
		}
	}
	n := 0
	for _, module := range slices.Sorted(maps.Keys(pairs)) {
		p := pairs[module]
		name := module + ".weight"
		if !targets[module] {
			return &checkpoint.Error{File: wpath, Tensor: "base_model.model." + module, Msg: "adapter for a module target_modules does not name (or not a linear weight of this model)",
				Expected: fmt.Sprintf("target_modules %s", cfg.targetDesc), Found: module}
		}
		if p.a == nil || p.b == nil {
			return &checkpoint.Error{File: wpath, Tensor: "base_model.model." + module, Msg: "lora_A or lora_B missing"}
		}
		w := ck.Params[name]
		out, in := w.Shape[0], w.Shape[1]
		if inOut(name) {
			out, in = in, out
		}
		if !slices.Equal(p.a.Shape, []int{cfg.r, in}) || !slices.Equal(p.b.Shape, []int{out, cfg.r}) {
			return &checkpoint.Error{File: wpath, Tensor: "base_model.model." + module, Msg: "LoRA shapes disagree with r and the base weight",
				Expected: fmt.Sprintf("lora_A [%d %d], lora_B [%d %d]", cfg.r, in, out, cfg.r), Found: fmt.Sprintf("lora_A %v, lora_B %v", p.a.Shape, p.b.Shape)}
		}
		merged := checkpoint.Tensor{Shape: slices.Clone(w.Shape), Data: slices.Clone(w.Data)}
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				var d float32
				for k := 0; k < cfg.r; k++ {
					d += p.b.Data[o*cfg.r+k] * p.a.Data[k*in+i]
				}
				d *= float32(cfg.scale)
				if inOut(name) {
					merged.Data[i*out+o] += d
				} else {
					merged.Data[o*in+i] += d
				}
			}
		}
		if ck.AdapterBase == nil {
			ck.AdapterBase = map[string]checkpoint.Tensor{}
		}
		ck.AdapterBase[name] = w
		ck.Params[name] = merged
		n++
	}
	ck.Adapter = wpath
	ck.note("PEFT LoRA adapter %s merged into %d weights (r %d, scale %g%s, target_modules %s)", AdapterModelFile, n, cfg.r, cfg.scale,
		map[bool]string{true: " = lora_alpha/√r (use_rslora)", false: " = lora_alpha/r"}[cfg.rslora], cfg.targetDesc)
	return nil
}

// jsonObject decodes raw into f's members.
func jsonObject(raw []byte, f *fields) error {
	if err := json.Unmarshal(raw, &f.m); err != nil {
		return &checkpoint.Error{File: f.path, Msg: "not a JSON object", Err: err}
	}
	return nil
}

// lora is adapter_config.json as nanoscope applies it.
type lora struct {
	r          int
	scale      float64
	rslora     bool
	list       []string       // target_modules as a list: a module matches by its name or last components
	re         *regexp.Regexp // target_modules as a string: a regular expression the whole name matches
	allLinear  bool           // target_modules "all-linear": every linear layer but the head
	targetDesc string
}

func (l lora) targets(module string, embedOrHead bool) bool {
	switch {
	case l.allLinear:
		return !embedOrHead
	case l.re != nil:
		return l.re.MatchString(module)
	}
	for _, t := range l.list {
		if module == t || strings.HasSuffix(module, "."+t) {
			return true
		}
	}
	return false
}

// loraConfig reads adapter_config.json as a closed list (see adapterInert).
func loraConfig(f *fields) (lora, error) {
	var l lora
	peftType := f.string("peft_type", "")
	l.r = f.int("r", 8)
	alpha := f.float("lora_alpha", 8)
	l.rslora = f.bool("use_rslora", false)
	f.bool("fan_in_fan_out", false) // PEFT follows the layer (Conv1D: true, nn.Linear: false) whatever it says
	bias := f.string("bias", "none")
	emptyOrNull := func(key string) bool {
		if !f.present(key) {
			return true
		}
		s := string(bytes.Join(bytes.Fields(f.m[key]), nil))
		return s == "{}" || s == "[]" || s == "false"
	}
	for _, err := range []error{
		f.unsupportedIf(peftType != "LORA", "peft_type", `"LORA"`),
		f.unsupportedIf(l.r <= 0, "r", "a positive rank"),
		f.unsupportedIf(f.bool("use_dora", false), "use_dora", "false (DoRA's magnitude vectors are not applied)"),
		f.unsupportedIf(bias != "none", "bias", `"none" (trained biases are not applied)`),
		f.unsupportedIf(f.bool("lora_bias", false), "lora_bias", "false"),
		f.unsupportedIf(f.bool("use_qalora", false), "use_qalora", "false"),
		f.unsupportedIf(!emptyOrNull("modules_to_save"), "modules_to_save", "null (replaced modules are not applied)"),
		f.unsupportedIf(!emptyOrNull("rank_pattern"), "rank_pattern", "{} (per-module ranks are not applied)"),
		f.unsupportedIf(!emptyOrNull("alpha_pattern"), "alpha_pattern", "{} (per-module alphas are not applied)"),
		f.unsupportedIf(!emptyOrNull("layers_to_transform"), "layers_to_transform", "null"),
		f.unsupportedIf(!emptyOrNull("layers_pattern"), "layers_pattern", "null"),
		f.unsupportedIf(!emptyOrNull("exclude_modules"), "exclude_modules", "null"),
		f.unsupportedIf(!emptyOrNull("layer_replication"), "layer_replication", "null"),
		f.unsupportedIf(!emptyOrNull("trainable_token_indices"), "trainable_token_indices", "null"),
		f.unsupportedIf(!emptyOrNull("target_parameters"), "target_parameters", "null"),
		f.unsupportedIf(!emptyOrNull("alora_invocation_tokens"), "alora_invocation_tokens", "null"),
		f.unsupportedIf(!emptyOrNull("arrow_config"), "arrow_config", "null"),
		// Written by peft 0.21.0 (null or false when off): variants nanoscope does not apply.
		f.unsupportedIf(!emptyOrNull("kasa_config"), "kasa_config", "null"),
		f.unsupportedIf(!emptyOrNull("lora_ga_config"), "lora_ga_config", "null"),
		f.unsupportedIf(!emptyOrNull("monteclora_config"), "monteclora_config", "null"),
		f.unsupportedIf(!emptyOrNull("velora_config"), "velora_config", "null"),
		f.unsupportedIf(f.bool("use_bdlora", false), "use_bdlora", "false"),
	} {
		if err != nil {
			return l, err
		}
	}
	if !f.present("target_modules") {
		return l, &checkpoint.Error{File: f.path, Msg: "target_modules absent", Expected: "a list of module names or a regular expression", Found: "none"}
	}
	raw := f.m["target_modules"]
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "all-linear" {
			l.allLinear = true
		} else {
			re, err := regexp.Compile(`^(?:` + s + `)$`)
			if err != nil {
				return l, &checkpoint.Error{File: f.path, Msg: "target_modules is not a regular expression Go reads", Expected: "RE2 syntax", Found: s, Err: err}
			}
			l.re = re
		}
		l.targetDesc = fmt.Sprintf("%q", s)
	} else if json.Unmarshal(raw, &l.list) != nil {
		f.fail("target_modules", "a list of module names or a regular expression")
		return l, f.err
	} else {
		l.targetDesc = fmt.Sprint(l.list)
	}
	l.scale = alpha / float64(l.r)
	if l.rslora {
		l.scale = alpha / math.Sqrt(float64(l.r))
	}
	return l, f.closed(adapterInert)
}
