// Package hf loads Hugging Face-layout checkpoints (config.json plus model.safetensors, or the
// shards of model.safetensors.index.json) of the GPT-2 and Llama families into gomlxmodel's
// GPT2 and Llama, strictly: the same kind of one-line error as package checkpoint, naming the
// file, the tensor and expected versus found, for an unsupported architecture or setting, a
// missing, unexpected or mis-shaped tensor, a config.json that disagrees with the tensors, a
// truncated or corrupt file, or a non-finite value.
//
// The architecture comes from config.json's model_type ("gpt2", "llama"), or from its
// architectures (GPT2LMHeadModel, LlamaForCausalLM) when model_type is absent. F16 and BF16
// tensors are upcast to F32 exactly (F64 is rounded), so a bf16 checkpoint runs in float32.
//
// What the loader infers rather than reads is said in Checkpoint.Notes: GPT-2's weight layout,
// detected from the shapes of c_attn (never square: [D, 3D] is Hugging Face's Conv1D [in, out],
// [3D, D] nanoGPT's nn.Linear [out, in]); names without the "transformer." prefix (a saved
// GPT2Model); a tied head's lm_head.weight present in the file and equal to the embedding;
// non-parameter buffers of older files (GPT-2's attn.bias and attn.masked_bias, Llama's
// rotary_emb.inv_freq), skipped.
//
// The directory's files are a closed list (CheckpointFiles, files.go): config.json, the weights
// and a PEFT adapter are read; tokenizer, generation, Trainer and documentation files, hidden
// entries and subdirectories are judged inert, each with its reason; any other file — weights
// in another format or another copy, a pickle, checkpoint code, an unknown file — is refused in
// one line naming it.
package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// Checkpoint is a loaded, validated Hugging Face checkpoint.
type Checkpoint struct {
	Dir    string
	Arch   string            // config.json's model_type: "gpt2", "llama", "qwen2", "qwen3" or "mistral"
	Family gomlxmodel.Family // gomlxmodel.GPT2, or gomlxmodel.Llama for the other four
	Params gomlxmodel.Params // by Family's parameter names, float32
	Files  []string          // the safetensors files read
	DTypes map[string]string // each parameter's dtype in its file: "F32", "BF16", "F16", "F64"
	Notes  []string          // what the loader inferred or converted, one line each
	// KeysRead are config.json's keys the loader honoured (implemented, or checked to hold the
	// value nanoscope runs); KeysInert those on its list of keys that cannot change the logits.
	// Any other key is refused.
	KeysRead, KeysInert []string
	// Adapter is the PEFT adapter merged into Params (adapter_model.safetensors beside the
	// weights), "" when none; AdapterBase holds the base weights of the tensors it changed
	// (what an engine that never applies the adapter runs), nil when none.
	Adapter     string
	AdapterBase map[string]checkpoint.Tensor
	// FilesRead are the directory's files read (base names: config.json, the weights, the
	// index, the adapter's two); FilesInert its entries judged unable to change the logits,
	// each with the reason (CheckpointFiles). Any other entry is refused.
	FilesRead  []string
	FilesInert []InertFile
	// BOS is config.json's bos_token_id, −1 when absent or null (a tokenizer fact: the
	// forward does not read it).
	BOS int
}

// IsDir reports whether dir looks like a Hugging Face checkpoint: it has config.json and no
// meta.json (nanoscope's own checkpoints have meta.json).
func IsDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, checkpoint.MetaFile))
	return errors.Is(err, fs.ErrNotExist)
}

// Load reads dir's config.json and weights and checks the weights against exactly the
// parameters (names and shapes) the configuration implies.
//
// Every entry of dir is on the closed list CheckpointFiles: read, judged inert, or refused in one
// line naming it (a pickle, another copy of the weights, checkpoint code, an unknown file) —
// before config.json is read.
func Load(dir string) (*Checkpoint, error) {
	toRead, inert, err := dirFiles(dir)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	arch, f, err := readConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	// Read the config before the weights so an unsupported setting is reported first.
	var gcfg gomlxmodel.GPT2Config
	var lcfg gomlxmodel.LlamaConfig
	var ncfg gomlxmodel.GPTNeoXConfig
	switch arch {
	case "gpt2":
		gcfg, err = gpt2Config(f)
	case "gpt_neox":
		ncfg, err = neoxConfig(f)
	default: // the Llama decoder: llama, qwen2, qwen3, mistral, gemma, gemma2, phi3
		lcfg, err = llamaConfig(f, arch)
	}
	if err != nil {
		return nil, err
	}
	keysRead, keysInert := f.keys() // before bos_token_id is read: the forward does not use it
	bos := -1
	if f.present("bos_token_id") && string(f.m["bos_token_id"]) != "null" {
		bos = f.int("bos_token_id", -1)
		if f.err != nil {
			return nil, f.err
		}
	}
	ts, files, err := readTensors(dir)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Dir: dir, Arch: arch, Files: files, DTypes: map[string]string{}, BOS: bos,
		KeysRead: keysRead, KeysInert: keysInert}
	where := fileOf(dir, files)
	switch arch {
	case "gpt2":
		ts = ck.normaliseGPT2(ts)
		gcfg.WeightLayout = ck.gpt2Layout(ts)
		ck.Family = gomlxmodel.GPT2{Config: gcfg}
		if err := ck.untie(ts, gcfg.TiedHead, gomlxmodel.GPT2Wte); err != nil {
			return nil, err
		}
	case "gpt_neox":
		ck.skipBuffers(ts, ".rotary_emb.inv_freq", ".attention.bias", ".attention.masked_bias")
		ck.Family = gomlxmodel.GPTNeoX{Config: ncfg}
		if err := ck.untieAs(ts, ncfg.TiedHead, gomlxmodel.NeoXHead, gomlxmodel.NeoXEmbed); err != nil {
			return nil, err
		}
	default:
		ck.skipBuffers(ts, ".rotary_emb.inv_freq")
		ck.Family = gomlxmodel.Llama{Config: lcfg}
		if err := ck.untie(ts, lcfg.TiedHead, gomlxmodel.LlamaEmbed); err != nil {
			return nil, err
		}
	}
	specs := ck.Family.ParamSpecs()
	want := map[string]bool{}
	for _, s := range specs {
		want[s.Name] = true
		t, ok := ts[s.Name]
		if !ok {
			hint := ""
			if s.Name == gomlxmodel.ParamLMHead || s.Name == gomlxmodel.NeoXHead {
				hint = " (config.json: tie_word_embeddings is false)"
			}
			return nil, &checkpoint.Error{File: where(s.Name), Tensor: s.Name, Msg: "missing tensor" + hint,
				Expected: fmt.Sprintf("shape %v", s.Shape), Found: "none"}
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, &checkpoint.Error{File: t.file, Tensor: s.Name, Msg: "shape disagrees with " + ConfigFile,
				Expected: fmt.Sprint(s.Shape), Found: fmt.Sprint(t.Shape)}
		}
	}
	for _, name := range sortedNames(ts) {
		if !want[name] {
			return nil, &checkpoint.Error{File: ts[name].file, Tensor: name,
				Msg: fmt.Sprintf("unexpected tensor (not a parameter of %s with this %s)", arch, ConfigFile)}
		}
	}
	ck.Params = gomlxmodel.Params{}
	dtypes := map[string]int{}
	for _, s := range specs {
		ck.Params[s.Name] = ts[s.Name].Tensor
		ck.DTypes[s.Name] = ts[s.Name].dtype
		dtypes[ts[s.Name].dtype]++
	}
	for _, dt := range sortedNames(dtypes) {
		if dt != "F32" {
			ck.note("%d tensors stored as %s, upcast to F32", dtypes[dt], dt)
		}
	}
	if len(files) > 1 {
		ck.note("sharded: %d files listed by %s", len(files), IndexFile)
	}
	spec := ck.Family.Spec()
	if err := ck.applyAdapter(dir, func(name string) bool { return spec.Weights[name].InOut }); err != nil {
		return nil, err
	}
	done := append([]string{cfgPath}, files...)
	if filepath.Base(files[0]) != ModelFile {
		done = append(done, filepath.Join(dir, IndexFile))
	}
	if ck.Adapter != "" {
		done = append(done, filepath.Join(dir, AdapterConfigFile), ck.Adapter)
	}
	if err := checkRead(dir, toRead, done); err != nil {
		return nil, err
	}
	ck.FilesRead, ck.FilesInert = toRead, inert
	return ck, nil
}

func (ck *Checkpoint) note(format string, args ...any) {
	ck.Notes = append(ck.Notes, fmt.Sprintf(format, args...))
}

// fileOf returns, for a tensor name, the file it should be in: the single file, or the
// directory's index when sharded.
func fileOf(dir string, files []string) func(string) string {
	return func(string) string {
		if len(files) == 1 {
			return files[0]
		}
		return filepath.Join(dir, IndexFile)
	}
}

// normaliseGPT2 adds the "transformer." prefix to the names of a saved GPT2Model (no head)
// and skips the attention-mask buffers older transformers saved.
func (ck *Checkpoint) normaliseGPT2(ts map[string]tensor) map[string]tensor {
	bare := 0
	for name := range ts {
		if !strings.HasPrefix(name, "transformer.") && name != gomlxmodel.ParamLMHead {
			bare++
		}
	}
	if bare > 0 && bare == len(ts)-btoi(ts[gomlxmodel.ParamLMHead].file != "") {
		out := make(map[string]tensor, len(ts))
		for name, t := range ts {
			if name != gomlxmodel.ParamLMHead {
				name = "transformer." + name
			}
			out[name] = t
		}
		ts = out
		ck.note("tensor names without the \"transformer.\" prefix (a saved GPT2Model): prefixed")
	}
	ck.skipBuffers(ts, ".attn.bias", ".attn.masked_bias")
	return ts
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skipBuffers drops the non-parameter buffers whose names end in one of suffixes.
func (ck *Checkpoint) skipBuffers(ts map[string]tensor, suffixes ...string) {
	n := 0
	for _, name := range sortedNames(ts) {
		for _, s := range suffixes {
			if strings.HasSuffix(name, s) {
				delete(ts, name)
				n++
			}
		}
	}
	if n > 0 {
		ck.note("skipped %d non-parameter buffers (%s)", n, strings.Join(suffixes, ", "))
	}
}

// gpt2Layout detects the weight layout from transformer.h.0.attn.c_attn.weight: [D, 3D] is
// Conv1D, [3D, D] nn.Linear. Anything else keeps Conv1D and lets the shape check report it.
func (ck *Checkpoint) gpt2Layout(ts map[string]tensor) string {
	t, ok := ts[gomlxmodel.GPT2Param(0, "attn.c_attn.weight")]
	if ok && len(t.Shape) == 2 && t.Shape[0] == 3*t.Shape[1] {
		ck.note("weights stored [out, in] (nn.Linear, nanoGPT's layout), detected from c_attn %v", t.Shape)
		return gomlxmodel.GPT2Linear
	}
	if ok && len(t.Shape) == 2 && t.Shape[1] == 3*t.Shape[0] {
		ck.note("weights stored [in, out] (Hugging Face Conv1D), detected from c_attn %v", t.Shape)
	}
	return gomlxmodel.GPT2Conv1D
}

// untie handles lm_head.weight under a tied head: saved files usually omit it; when present it
// must equal the embedding bit for bit, and is dropped.
func (ck *Checkpoint) untie(ts map[string]tensor, tied bool, embed string) error {
	return ck.untieAs(ts, tied, gomlxmodel.ParamLMHead, embed)
}

// untieAs is untie for a head named headName (GPT-NeoX's embed_out.weight).
func (ck *Checkpoint) untieAs(ts map[string]tensor, tied bool, headName, embed string) error {
	head, ok := ts[headName]
	if !tied || !ok {
		return nil
	}
	e, ok := ts[embed]
	if !ok || !slices.Equal(e.Shape, head.Shape) || !slices.Equal(e.Data, head.Data) {
		return &checkpoint.Error{File: head.file, Tensor: headName,
			Msg: "config.json ties the head (tie_word_embeddings) but " + headName + " is not a copy of " + embed}
	}
	delete(ts, headName)
	ck.note("%s present and equal to %s (tied head): dropped", headName, embed)
	return nil
}
