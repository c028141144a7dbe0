package load

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/hf"
)

const (
	refRoot = "../testdata/reference" // nanoscope checkpoints of the numpy reference
	hfRoot  = "../hf/testdata/hf"     // Hugging Face checkpoints written by transformers
)

// conventions renders a family's conventions as "name=value" in its order.
// conventions lists the structural conventions of f (the ones the tables below set; the run
// conventions of gomlxmodel/conventions.go have their own tests).
func conventions(f gomlxmodel.Family) []string {
	var out []string
	for _, c := range f.Conventions() {
		if slices.Contains([]string{gomlxmodel.ConvRopePairing, gomlxmodel.ConvGQAMapping, gomlxmodel.ConvCausal, gomlxmodel.ConvTiedHead, gomlxmodel.ConvWeightLayout}, c.Name) {
			out = append(out, c.Name+"="+c.Value)
		}
	}
	return out
}

// Every fixture of the repository opens with the reader of its format and says where it came
// from: the values below are what the fixtures hold (their meta.json / config.json, the
// files listed beside them, the notes of package hf).
func TestOpenFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir                string
		format, arch       string
		params             int
		files              []string // base names of the weight files
		dtypes             map[string]int
		notes              []string
		step               int // meta.json's step; -1 for no meta.json
		conventions        []string
		vocab, dim, layers int
	}{
		{refRoot + "/tied_mhc", FormatNanoscope, "nanoscope", 40, []string{"model.safetensors"}, map[string]int{"F32": 40}, nil, 1234,
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "causal=true", "tied_head=true"}, 61, 32, 2},
		{refRoot + "/untied_mhc", FormatNanoscope, "nanoscope", 41, []string{"model.safetensors"}, map[string]int{"F32": 41}, nil, 1234,
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "causal=true", "tied_head=false"}, 61, 32, 2},
		{hfRoot + "/gpt2_random", FormatHuggingFace, "gpt2", 40, []string{"model.safetensors"}, map[string]int{"F32": 40},
			[]string{"weights stored [in, out] (Hugging Face Conv1D), detected from c_attn [48 144]"}, -1,
			[]string{"weight_layout=conv1d", "tied_head=true", "causal=true"}, 301, 48, 3},
		{hfRoot + "/gpt2_trained_sharded", FormatHuggingFace, "gpt2", 28,
			[]string{"model-00001-of-00007.safetensors", "model-00002-of-00007.safetensors", "model-00003-of-00007.safetensors",
				"model-00004-of-00007.safetensors", "model-00005-of-00007.safetensors", "model-00006-of-00007.safetensors",
				"model-00007-of-00007.safetensors"}, map[string]int{"F32": 28},
			[]string{"weights stored [in, out] (Hugging Face Conv1D), detected from c_attn [64 192]", "sharded: 7 files listed by model.safetensors.index.json"}, -1,
			[]string{"weight_layout=conv1d", "tied_head=true", "causal=true"}, 0, 64, 0},
		{hfRoot + "/gpt2_untied_bf16", FormatHuggingFace, "gpt2", 29, []string{"model.safetensors"}, map[string]int{"BF16": 29},
			[]string{"weights stored [in, out] (Hugging Face Conv1D), detected from c_attn [40 120]", "29 tensors stored as BF16, upcast to F32"}, -1,
			[]string{"weight_layout=conv1d", "tied_head=false", "causal=true"}, 0, 40, 0},
		{hfRoot + "/gpt2_inner_f16", FormatHuggingFace, "gpt2", 28, []string{"model.safetensors"}, map[string]int{"F16": 28},
			[]string{"weights stored [in, out] (Hugging Face Conv1D), detected from c_attn [32 96]", "28 tensors stored as F16, upcast to F32"}, -1,
			[]string{"weight_layout=conv1d", "tied_head=true", "causal=true"}, 0, 32, 0},
		{hfRoot + "/llama_random_gqa", FormatHuggingFace, "llama", 30, []string{"model.safetensors"}, map[string]int{"F32": 30}, nil, -1,
			[]string{"rope_pairing=halves", "gqa_mapping=interleave", "tied_head=false", "causal=true"}, 301, 0, 3},
		{hfRoot + "/llama_trained_bf16", FormatHuggingFace, "llama", 21, []string{"model.safetensors"}, map[string]int{"BF16": 21},
			[]string{"21 tensors stored as BF16, upcast to F32"}, -1,
			[]string{"rope_pairing=halves", "gqa_mapping=interleave", "tied_head=false", "causal=true"}, 260, 64, 2},
		{hfRoot + "/llama_mqa_f16", FormatHuggingFace, "llama", 20, []string{"model.safetensors"}, map[string]int{"F16": 20},
			[]string{"20 tensors stored as F16, upcast to F32"}, -1,
			[]string{"rope_pairing=halves", "gqa_mapping=interleave", "tied_head=true", "causal=true"}, 0, 0, 0},
		{hfRoot + "/llama_trained_tied_sharded", FormatHuggingFace, "llama", 20,
			[]string{"model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors", "model-00003-of-00005.safetensors",
				"model-00004-of-00005.safetensors", "model-00005-of-00005.safetensors"}, map[string]int{"F32": 20},
			[]string{"sharded: 5 files listed by model.safetensors.index.json"}, -1,
			[]string{"rope_pairing=halves", "gqa_mapping=interleave", "tied_head=true", "causal=true"}, 0, 0, 0},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			l, err := Open(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if l.Format != tc.format || l.Arch() != tc.arch || l.Dir != tc.dir {
				t.Errorf("format %q arch %q dir %q, want %q %q %q", l.Format, l.Arch(), l.Dir, tc.format, tc.arch, tc.dir)
			}
			if len(l.Params) != tc.params {
				t.Errorf("%d parameters, want %d", len(l.Params), tc.params)
			}
			if err := gomlxmodel.CheckFamilyParams(l.Family, l.Params); err != nil {
				t.Errorf("params do not fit the family: %v", err)
			}
			var files []string
			for _, f := range l.Files {
				if filepath.Dir(f) != filepath.Clean(tc.dir) {
					t.Errorf("file %s is not in %s", f, tc.dir)
				}
				files = append(files, filepath.Base(f))
			}
			if !slices.Equal(files, tc.files) {
				t.Errorf("files %v, want %v", files, tc.files)
			}
			dt := map[string]int{}
			for name, d := range l.DTypes {
				if _, ok := l.Params[name]; !ok {
					t.Errorf("dtype of %s, which is no parameter", name)
				}
				dt[d]++
			}
			if len(dt) != len(tc.dtypes) || !func() bool {
				for k, v := range tc.dtypes {
					if dt[k] != v {
						return false
					}
				}
				return true
			}() {
				t.Errorf("dtypes %v, want %v", dt, tc.dtypes)
			}
			if !slices.Equal(l.Notes, tc.notes) {
				t.Errorf("notes %q, want %q", l.Notes, tc.notes)
			}
			wantConfig := hf.ConfigFile
			switch {
			case tc.step < 0 && l.Meta != nil:
				t.Errorf("meta %+v for a checkpoint without meta.json", l.Meta)
			case tc.step >= 0 && (l.Meta == nil || l.Meta.Step != tc.step):
				t.Errorf("meta %+v, want step %d", l.Meta, tc.step)
			case tc.step >= 0:
				wantConfig = checkpoint.MetaFile
				if ck := l.Checkpoint(); ck == nil || ck.Meta.Config != l.Meta.Config || len(ck.Tensors) != tc.params {
					t.Errorf("Checkpoint() = %+v", ck)
				}
			}
			// The Hugging Face directory's files read: config.json and the weight files (and
			// the index when sharded); transformers' generation_config.json judged inert.
			wantRead := []string(nil)
			if l.Format == FormatHuggingFace {
				wantRead = append([]string{hf.ConfigFile}, files...)
				if len(files) > 1 {
					wantRead = append(wantRead, hf.IndexFile)
				}
				slices.Sort(wantRead)
			}
			if !slices.Equal(l.FilesRead, wantRead) || l.Format == FormatHuggingFace && (len(l.FilesInert) != 1 || l.FilesInert[0].Name != "generation_config.json") {
				t.Errorf("files read %v, inert %v; want read %v", l.FilesRead, l.FilesInert, wantRead)
			}
			if l.ConfigFile != filepath.Join(tc.dir, wantConfig) {
				t.Errorf("config file %s, want %s", l.ConfigFile, filepath.Join(tc.dir, wantConfig))
			}
			if tc.step < 0 && l.Checkpoint() != nil {
				t.Errorf("Checkpoint() of a %s checkpoint is not nil", l.Format)
			}
			if got := conventions(l.Family); !slices.Equal(got, tc.conventions) {
				t.Errorf("conventions %v, want %v", got, tc.conventions)
			}
			d := l.Family.Dims()
			if tc.vocab > 0 && d.VocabSize != tc.vocab || tc.dim > 0 && d.DModel != tc.dim || tc.layers > 0 && d.NLayers != tc.layers {
				t.Errorf("dims %+v, want vocab %d dim %d layers %d (0: not checked)", d, tc.vocab, tc.dim, tc.layers)
			}
			if len(l.Overrides) != 0 {
				t.Errorf("overrides %v on open", l.Overrides)
			}
		})
	}
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// What is not a checkpoint of either format, or a damaged one, is one line naming the
// directory or the file at fault; the readers' own errors come through unchanged.
func TestOpenErrors(t *testing.T) {
	empty := t.TempDir()
	weightsOnly := t.TempDir()
	if err := os.WriteFile(filepath.Join(weightsOnly, "model.safetensors"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A nanoscope checkpoint whose meta.json is gone, with what an interrupted Save leaves.
	parent := t.TempDir()
	leftover := filepath.Join(parent, "ckpt")
	if err := os.MkdirAll(filepath.Join(parent, ".ckpt.old-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	// meta.json decides nanoscope's format even beside a config.json: its damage is reported.
	both := copyDir(t, "../checkpoint/testdata/corrupt/meta_not_json")
	if err := os.WriteFile(filepath.Join(both, "config.json"), []byte(`{"model_type": "gpt2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// config.json alone decides Hugging Face's format: its damage is reported by package hf.
	hfBad := t.TempDir()
	if err := os.WriteFile(filepath.Join(hfBad, "config.json"), []byte(`{"model_type": "bert"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file beside Hugging Face weights that is not on hf.CheckpointFiles: refused naming it.
	hfStray := copyDir(t, filepath.Join(hfRoot, "gpt2_random"))
	if err := os.WriteFile(filepath.Join(hfStray, "flax_model.msgpack"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dir  string
		want []string
	}{
		{"empty", empty, []string{"checkpoint " + empty + ": not a checkpoint: neither meta.json (nanoscope: with model.safetensors) nor config.json (Hugging Face: with model.safetensors or model.safetensors.index.json) nor ckpt.pt (nanoGPT) nor model_<step>.pt (nanochat) found"}},
		{"weights only", weightsOnly, []string{weightsOnly, "meta.json", "config.json"}},
		{"missing", filepath.Join(empty, "nope"), []string{filepath.Join(empty, "nope"), "not a checkpoint", "meta.json", "config.json"}},
		{"interrupted save", leftover, []string{leftover, "not a checkpoint", "interrupted Save left", ".ckpt.old-123"}},
		{"meta.json beside config.json", both, []string{filepath.Join(both, "meta.json")}},
		{"config.json of another family", hfBad, []string{filepath.Join(hfBad, "config.json"), "bert"}},
		{"weights of another format beside", hfStray, []string{"checkpoint " + filepath.Join(hfStray, "flax_model.msgpack") + ": Flax weights"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.dir)
			if err == nil {
				t.Fatalf("opened %+v", l)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
	// The corrupt nanoscope checkpoints: each refused by package checkpoint, as its want.txt says.
	root := "../checkpoint/testdata/corrupt"
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) == 0 {
		t.Fatalf("corrupt corpus missing: %v", err)
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(root, e.Name(), "want.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(filepath.Join(root, e.Name())); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
			t.Errorf("%s: error %v, want one mentioning %q", e.Name(), err, strings.TrimSpace(string(want)))
		}
	}
}

// WithConventions sets any named convention of any family: the family in effect, the
// overrides recorded against the checkpoint's own values, and refusals as *ConventionError
// naming the convention and its values (or the family's conventions).
func TestWithConventions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dir      string
		settings []string
		want     []string // the family's conventions after, or nil on error
		override []Override
		err      []string // substrings of the error
		allowed  []string // ConventionError.Allowed, when the error is one
		known    []string // ConventionError.Known, when the error is one
	}{
		{"nanoscope rope and gqa", refRoot + "/tied_mhc", []string{"rope_pairing=interleaved", "gqa_mapping=interleave"},
			[]string{"rope_pairing=interleaved", "gqa_mapping=interleave", "causal=true", "tied_head=true"},
			[]Override{{"rope_pairing", "interleaved", "halves"}, {"gqa_mapping", "interleave", "tile"}}, nil, nil, nil},
		{"nanoscope causal off", refRoot + "/tied_mhc", []string{"causal=false"},
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "causal=false", "tied_head=true"},
			[]Override{{"causal", "false", "true"}}, nil, nil, nil},
		{"own value: no override", refRoot + "/tied_mhc", []string{"rope_pairing=halves"},
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "causal=true", "tied_head=true"}, nil, nil, nil, nil},
		{"set and set back", refRoot + "/tied_mhc", []string{"rope_pairing=interleaved", "rope_pairing=halves"},
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "causal=true", "tied_head=true"}, nil, nil, nil, nil},
		{"llama gqa tile", hfRoot + "/llama_random_gqa", []string{" gqa_mapping = tile "},
			[]string{"rope_pairing=halves", "gqa_mapping=tile", "tied_head=false", "causal=true"},
			[]Override{{"gqa_mapping", "tile", "interleave"}}, nil, nil, nil},
		{"gpt2 causal off", hfRoot + "/gpt2_random", []string{"causal=false"},
			[]string{"weight_layout=conv1d", "tied_head=true", "causal=false"},
			[]Override{{"causal", "false", "true"}}, nil, nil, nil},
		{"gpt2 weight layout needs other shapes", hfRoot + "/gpt2_random", []string{"weight_layout=linear"}, nil, nil,
			[]string{"under weight_layout=linear", "transformer.h.0.attn.c_attn.weight: expected shape [144 48], found [48 144]"}, nil, nil},
		{"gpt2 has no rope", hfRoot + "/gpt2_random", []string{"rope_pairing=interleaved"}, nil, nil,
			[]string{`gpt2 has no convention "rope_pairing" (its conventions: weight_layout, tied_head, causal, qkv_order, qkv_split, activation, num_attention_heads, norm_eps, attn_scale, embed_scale, norm_weight, norm_type, attn_temperature, logit_softcap, position_offset)`}, nil,
			[]string{"weight_layout", "tied_head", "causal", "qkv_order", "qkv_split", "activation", "num_attention_heads", "norm_eps", "attn_scale", "embed_scale", "norm_weight", "norm_type", "attn_temperature", "logit_softcap", "position_offset"}},
		{"bad value", hfRoot + "/llama_random_gqa", []string{"gqa_mapping=repeat"}, nil, nil,
			[]string{`llama convention gqa_mapping: "repeat" is not one of interleave, tile`}, []string{"interleave", "tile"}, nil},
		{"not name=value", refRoot + "/tied_mhc", []string{"rope_pairing"}, nil, nil,
			[]string{`convention "rope_pairing" is not name=value`}, nil, nil},
		{"untying needs lm_head", refRoot + "/tied_mhc", []string{"tied_head=false"}, nil, nil,
			[]string{"tied_head=false", "missing parameter lm_head.weight"}, nil, nil},
		{"a later bad setting keeps the earlier unapplied", refRoot + "/tied_mhc", []string{"causal=false", "gqa_mapping=x"}, nil, nil,
			[]string{`nanoscope convention gqa_mapping: "x" is not one of tile, interleave`}, []string{"tile", "interleave"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			before := conventions(l.Family)
			err = l.WithConventions(tc.settings...)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error; conventions %v", conventions(l.Family))
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				var ce *ConventionError
				if errors.As(err, &ce) != (tc.allowed != nil || tc.known != nil) {
					t.Errorf("error %T %v: ConventionError expected %v", err, err, tc.allowed != nil || tc.known != nil)
				} else if ce != nil && (!slices.Equal(ce.Allowed, tc.allowed) || !slices.Equal(ce.Known, tc.known)) {
					t.Errorf("allowed %v known %v, want %v %v", ce.Allowed, ce.Known, tc.allowed, tc.known)
				}
				if got := conventions(l.Family); !slices.Equal(got, before) || len(l.Overrides) != 0 {
					t.Errorf("after the error: conventions %v overrides %v, want them unchanged", got, l.Overrides)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := conventions(l.Family); !slices.Equal(got, tc.want) {
				t.Errorf("conventions %v, want %v", got, tc.want)
			}
			if !slices.Equal(l.Overrides, tc.override) {
				t.Errorf("overrides %v, want %v", l.Overrides, tc.override)
			}
			if ck := l.Checkpoint(); ck != nil {
				m := l.Family.(gomlxmodel.Model)
				if ck.Meta.Variant != m.Variant || l.Meta.Variant == m.Variant && len(l.Overrides) > 0 {
					t.Errorf("Checkpoint() variant %+v, family's %+v, meta.json's %+v", ck.Meta.Variant, m.Variant, l.Meta.Variant)
				}
			}
		})
	}
}
