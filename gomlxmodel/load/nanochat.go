package load

// nanochat's checkpoints (karpathy/nanochat, checkpoint_manager.py): a directory of
//
//	model_<step:06d>.pt         torch.save of the model's state dict (wte and value_embeds in
//	                            bf16, the rest float32)
//	meta_<step:06d>.json        {"model_config": GPTConfig's fields, "step", "val_bpb",
//	                            "user_config", ...} (base_train.py; the SFT and RL scripts write
//	                            fewer keys)
//	optim_<step:06d>_rank<r>.pt optimizer shards, not read
//
// The reader takes the directory (the largest step in it) or a model_<step>.pt with its
// meta_<step>.json beside it. It is strict where nanochat's build_model is (load_state_dict
// strict=True, GPTConfig(**model_config)): an unknown model_config key, a missing, extra or
// mis-shaped tensor, or a meta whose step is not the file's is a one-line error naming the file
// and the key. What build_model patches, the reader patches the same way and says so in Notes:
// the "_orig_mod." prefix torch.compile leaves on keys, resid_lambdas missing (1.0) and
// x0_lambdas missing (0.0) from older checkpoints, a missing window_pattern ("L", full context).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/ptfile"
)

// FormatNanochat is nanochat's model_<step>.pt + meta_<step>.json.
const FormatNanochat = "nanochat"

// nanochatModel matches nanochat's model file names; the step is group 1.
var nanochatModel = regexp.MustCompile(`^model_(\d+)\.pt$`)

// isNanochatModel reports whether file is named as nanochat's model files are.
func isNanochatModel(file string) bool { return nanochatModel.MatchString(filepath.Base(file)) }

// nanochatModelFiles lists dir's model_<step>.pt files, by step.
func nanochatModelFiles(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && isNanochatModel(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool { return nanochatStep(out[i]) < nanochatStep(out[j]) })
	return out
}

func nanochatStep(name string) int {
	m := nanochatModel.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return -1
	}
	s, _ := strconv.Atoi(m[1])
	return s
}

// nanochatConfig is meta_<step>.json's model_config: GPTConfig's fields.
type nanochatConfig struct {
	SequenceLen   *int    `json:"sequence_len"`
	VocabSize     *int    `json:"vocab_size"`
	NLayer        *int    `json:"n_layer"`
	NHead         *int    `json:"n_head"`
	NKVHead       *int    `json:"n_kv_head"`
	NEmbd         *int    `json:"n_embd"`
	WindowPattern *string `json:"window_pattern"`
}

// openNanochatDir opens the largest step of the nanochat checkpoint directory dir.
func openNanochatDir(dir string) (*Loaded, error) {
	files := nanochatModelFiles(dir)
	if len(files) == 0 {
		return nil, &checkpoint.Error{File: dir, Msg: "no nanochat model_<step>.pt"}
	}
	l, err := openNanochat(filepath.Join(dir, files[len(files)-1]))
	if err == nil && len(files) > 1 {
		steps := make([]string, len(files))
		for i, f := range files {
			steps[i] = strconv.Itoa(nanochatStep(f))
		}
		l.Notes = append([]string{fmt.Sprintf("the directory holds steps %s: read the largest (pass a model_<step>.pt for another)", strings.Join(steps, ", "))}, l.Notes...)
	}
	return l, err
}

// openNanochat reads the model file (model_<step>.pt) and the meta_<step>.json beside it.
func openNanochat(file string) (*Loaded, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...))
	}
	m := nanochatModel.FindStringSubmatch(filepath.Base(file))
	if m == nil {
		return nil, fail("not named model_<step>.pt: nanochat's meta_<step>.json cannot be found")
	}
	metaFile := filepath.Join(filepath.Dir(file), "meta_"+m[1]+".json")
	step, _ := strconv.Atoi(m[1])
	cfg, notes, err := readNanochatMeta(metaFile, step)
	if err != nil {
		return nil, err
	}
	f, err := ptfile.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sd, ok := f.Root.(*ptfile.Dict)
	if !ok {
		return nil, fail("the top-level value is %T, not nanochat's state dict", f.Root)
	}
	fam := gomlxmodel.Nanochat{Config: cfg}
	want := gomlxmodel.ParamShapes(fam)
	l := &Loaded{Format: FormatNanochat, Dir: filepath.Dir(file), ConfigFile: metaFile, Files: []string{file},
		DTypes: map[string]string{}, Params: gomlxmodel.Params{}, Notes: notes}
	stripped := 0
	var bf16, unexpected []string
	for _, k := range sd.Keys {
		v, _ := sd.Get(k)
		name, ok := k.(string)
		t, isTensor := v.(*ptfile.Tensor)
		if !ok || !isTensor {
			return nil, fail("state dict [%v] is %T, want a tensor", k, v)
		}
		if s, ok := strings.CutPrefix(name, "_orig_mod."); ok {
			name, stripped = s, stripped+1
		}
		shape, known := want[name]
		switch {
		case !known:
			unexpected = append(unexpected, name)
			continue
		case l.Params[name].Data != nil:
			return nil, fail("state dict has %q twice (with and without the _orig_mod. prefix)", name)
		case !slices.Equal(t.Shape, shape):
			return nil, fail("tensor %q has shape %v, %s's model_config wants %v", name, t.Shape, filepath.Base(metaFile), shape)
		}
		data, err := t.Float32()
		if err != nil {
			return nil, fail("tensor %q: %v", name, err)
		}
		l.Params[name] = checkpoint.Tensor{Shape: t.Shape, Data: data}
		l.DTypes[name] = t.DType
		if t.DType != "F32" {
			bf16 = append(bf16, name)
		}
	}
	if stripped > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("stripped the prefix _orig_mod. from %d keys: the model was saved after torch.compile (nanochat's build_model strips it)", stripped))
	}
	// build_model's _patch_missing_keys: resid_lambdas 1, x0_lambdas 0.
	for _, p := range []struct {
		name  string
		value float32
	}{{gomlxmodel.NanochatResidLambdas, 1}, {gomlxmodel.NanochatX0Lambdas, 0}} {
		if _, ok := l.Params[p.name]; ok {
			continue
		}
		data := make([]float32, cfg.NLayers)
		for i := range data {
			data[i] = p.value
		}
		l.Params[p.name] = checkpoint.Tensor{Shape: []int{cfg.NLayers}, Data: data}
		l.DTypes[p.name] = "patched"
		l.Notes = append(l.Notes, fmt.Sprintf("%s missing (an older nanochat): patched to %g per layer, as nanochat's build_model does", p.name, p.value))
	}
	var missing []string
	for _, p := range fam.ParamSpecs() {
		if _, ok := l.Params[p.Name]; !ok {
			missing = append(missing, p.Name)
		}
	}
	switch {
	case len(missing) > 0 && len(unexpected) > 0:
		return nil, fail("missing tensor %q (%d missing), and unexpected %q (%d unexpected) for %s's model_config", missing[0], len(missing), unexpected[0], len(unexpected), filepath.Base(metaFile))
	case len(missing) > 0:
		return nil, fail("missing tensor %q (%d missing) for %s's model_config", missing[0], len(missing), filepath.Base(metaFile))
	case len(unexpected) > 0:
		return nil, fail("unexpected tensor %q (%d unexpected: not in nanochat's GPT for %s's model_config)", unexpected[0], len(unexpected), filepath.Base(metaFile))
	}
	if err := gomlxmodel.CheckFamilyParams(fam, l.Params); err != nil {
		return nil, fail("%v", err)
	}
	if len(bf16) > 0 {
		sort.Strings(bf16)
		dts := map[string]bool{}
		for _, n := range bf16 {
			dts[l.DTypes[n]] = true
		}
		var kinds []string
		for d := range dts {
			kinds = append(kinds, d)
		}
		sort.Strings(kinds)
		l.Notes = append(l.Notes, fmt.Sprintf("%d tensors stored in %s (%s) read as float32", len(bf16), strings.Join(kinds, ", "), strings.Join(bf16, ", ")))
	}
	if cfg.PaddedVocab != cfg.VocabSize {
		l.Notes = append(l.Notes, fmt.Sprintf("vocab_size %d padded to %d rows in wte, value_embeds and lm_head: the head's %d padded columns are cropped before the soft-cap, as in nanochat's forward (never in the softmax)",
			cfg.VocabSize, cfg.PaddedVocab, cfg.PaddedVocab-cfg.VocabSize))
	}
	l.Family = fam
	return l, nil
}

// readNanochatMeta reads meta_<step>.json: the configuration from model_config (strict: every
// key GPTConfig's), the step checked against the file's, and notes on what it patched.
func readNanochatMeta(file string, step int) (gomlxmodel.NanochatConfig, []string, error) {
	var cfg gomlxmodel.NanochatConfig
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return cfg, nil, &checkpoint.Error{File: file, Msg: "cannot read nanochat's meta file beside the model (meta_<step>.json)"}
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(b, &meta); err != nil {
		return cfg, nil, fail("not a JSON object: %v", err)
	}
	raw, ok := meta["model_config"]
	if !ok {
		return cfg, nil, fail("no model_config (nanochat's checkpoint_manager writes the GPTConfig there)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var mc nanochatConfig
	if err := dec.Decode(&mc); err != nil {
		return cfg, nil, fail("model_config: %v (GPTConfig has sequence_len, vocab_size, n_layer, n_head, n_kv_head, n_embd, window_pattern)", err)
	}
	var notes []string
	for _, f := range []struct {
		key string
		v   *int
	}{{"sequence_len", mc.SequenceLen}, {"vocab_size", mc.VocabSize}, {"n_layer", mc.NLayer}, {"n_head", mc.NHead}, {"n_kv_head", mc.NKVHead}, {"n_embd", mc.NEmbd}} {
		if f.v == nil || *f.v <= 0 {
			return cfg, nil, fail("model_config[%q] missing or not positive (nanochat's GPTConfig default is not assumed)", f.key)
		}
	}
	pattern := "L"
	if mc.WindowPattern == nil {
		notes = append(notes, `model_config has no window_pattern (an older nanochat): patched to "L", full context, as nanochat's build_model does`)
	} else {
		pattern = *mc.WindowPattern
	}
	if rs, ok := meta["step"]; ok {
		var s int
		if err := json.Unmarshal(rs, &s); err != nil || s != step {
			return cfg, nil, fail("step %s, but the model file is step %d: the meta belongs to another checkpoint", string(rs), step)
		}
	}
	cfg = gomlxmodel.DefaultNanochatConventions(gomlxmodel.NanochatConfig{
		VocabSize: *mc.VocabSize, PaddedVocab: gomlxmodel.NanochatPadVocab(*mc.VocabSize), SeqLen: *mc.SequenceLen,
		DModel: *mc.NEmbd, NLayers: *mc.NLayer, NHeads: *mc.NHead, NKVHeads: *mc.NKVHead, WindowPattern: pattern,
	})
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fail("model_config: %v", err)
	}
	run := fmt.Sprintf("nanochat run: step %d", step)
	if v, ok := meta["val_bpb"]; ok {
		run += ", val_bpb " + string(v)
	}
	notes = append(notes, run)
	return cfg, notes, nil
}
