package hf

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

var camelCase = regexp.MustCompile(`^[A-Z][a-z]+[A-Z][a-z]+[A-Za-z]*$`)

// savedTiny writes a tiny Llama with Save (config.json + model.safetensors) and returns its
// directory and parameters.
func savedTiny(t *testing.T) (string, gomlxmodel.Params) {
	t.Helper()
	f := tinyLlamaLike("llama")
	p := gomlxmodel.InitFamilyParams(f, 3)
	dir := filepath.Join(t.TempDir(), "ck")
	if err := Save(dir, f, p); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

func writeFile(t *testing.T, p string, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFilesTable: every row is well-formed — a valid pattern, one of the three roles, a
// reason — and no row is shadowed by an earlier one (its own pattern, as a name, reaches it).
func TestCheckpointFilesTable(t *testing.T) {
	for i, r := range CheckpointFiles {
		if _, err := path.Match(r.Pattern, ""); err != nil {
			t.Errorf("row %d %q: %v", i, r.Pattern, err)
		}
		if !slices.Contains([]string{FileRead, FileInert, FileRefused}, r.Role) || r.Why == "" {
			t.Errorf("row %d %q: role %q, why %q", i, r.Pattern, r.Role, r.Why)
		}
		if r.Unread != "" && r.Role != FileRead {
			t.Errorf("row %d %q: Unread on a %s row", i, r.Pattern, r.Role)
		}
		// A refusal is a command line's error: no word a Go identifier could be (cmd/nanoscope's
		// TestCLITable holds every message to this).
		for _, msg := range []string{map[bool]string{true: r.Why}[r.Role == FileRefused], r.Unread, whyUnknown} {
			for _, w := range strings.Fields(msg) {
				if w = strings.Trim(w, `"(),;:.`); camelCase.MatchString(w) {
					t.Errorf("row %d %q: %q in %q", i, r.Pattern, w, msg)
				}
			}
		}
		name := strings.ReplaceAll(r.Pattern, "*", "x")
		if got := fileRule(name, r.Dir); got != &CheckpointFiles[i] {
			t.Errorf("row %d %q: %q reaches %+v", i, r.Pattern, name, got)
		}
	}
}

// TestInertFiles: a checkpoint with each file judged inert beside it loads with the same weights
// as without, lists the file among FilesInert with its reason, and never opens it (the pickles'
// bodies here are not pickles, a subdirectory holds weights of its own). Files read: config.json
// and model.safetensors, also through symbolic links (the hub cache's layout).
func TestInertFiles(t *testing.T) {
	base, p := savedTiny(t)
	cases := []struct {
		name string // a file (or "dir/file" inside a subdirectory) written beside the weights
		want string // substring of the reason
	}{
		{"generation_config.json", "generate()'s defaults"},
		{"tokenizer.json", "maps text to ids"},
		{"tokenizer_config.json", "maps text to ids"},
		{"special_tokens_map.json", "maps text to ids"},
		{"added_tokens.json", "maps text to ids"},
		{"vocab.json", "maps text to ids"},
		{"merges.txt", "maps text to ids"},
		{"vocab.txt", "maps text to ids"},
		{"tokenizer.model", "maps text to ids"},
		{"chat_template.jinja", "chat template"},
		{"README.md", "documentation"},
		{"LICENSE.txt", "documentation"},
		{"training_args.bin", "inert by its name only"},
		{"trainer_state.json", "Trainer's log"},
		{"all_results.json", "metrics"},
		{"optimizer.pt", "resume_from_checkpoint"},
		{"scheduler.pt", "resume_from_checkpoint"},
		{"rng_state_3.pth", "resume_from_checkpoint"},
		{".gitattributes", "hidden"},
		{".model.safetensors.tmp-123", "hidden"},
		{".git/HEAD", "hidden"},
		{".cache/huggingface/download/model.safetensors.metadata", "hidden"},
		{"checkpoint-500/pytorch_model.bin", "a subdirectory"},
		{"runs/events.out.tfevents", "a subdirectory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, tc.name), "\x80\x02 not a pickle: never opened")
			ck, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			entry := strings.Split(tc.name, "/")[0]
			i := slices.IndexFunc(ck.FilesInert, func(f InertFile) bool { return f.Name == entry })
			if i < 0 || !strings.Contains(ck.FilesInert[i].Why, tc.want) || len(ck.FilesInert) != 1 {
				t.Errorf("inert %+v, want %s with a reason containing %q", ck.FilesInert, entry, tc.want)
			}
			if !slices.Equal(ck.FilesRead, []string{ConfigFile, ModelFile}) {
				t.Errorf("read %v", ck.FilesRead)
			}
			for n, x := range p {
				if !slices.Equal(ck.Params[n].Data, x.Data) {
					t.Fatalf("tensor %s differs from the saved one", n)
				}
			}
		})
	}
	// The hub cache's snapshot: every file a symbolic link to a blob.
	blobs, snap := filepath.Join(t.TempDir(), "blobs"), filepath.Join(t.TempDir(), "snapshot")
	if err := os.CopyFS(blobs, os.DirFS(base)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(blobs, "tokenizer.json"), "{}")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{ConfigFile, ModelFile, "tokenizer.json"} {
		if err := os.Symlink(filepath.Join(blobs, n), filepath.Join(snap, n)); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := Load(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ck.FilesRead, []string{ConfigFile, ModelFile}) || len(ck.FilesInert) != 1 || ck.FilesInert[0].Name != "tokenizer.json" {
		t.Errorf("symbolic links: read %v, inert %v", ck.FilesRead, ck.FilesInert)
	}
}

// TestFilesRead: the repository's fixtures name the files read — config.json, the weights (and
// the index with its shards), the adapter's two — and judge transformers' generation_config.json
// inert.
func TestFilesRead(t *testing.T) {
	cases := []struct {
		dir   string
		read  []string // beside config.json
		inert []string
	}{
		{"gpt2_random", []string{ModelFile}, []string{"generation_config.json"}},
		{"llama_trained_tied_sharded", []string{"model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors",
			"model-00003-of-00005.safetensors", "model-00004-of-00005.safetensors", "model-00005-of-00005.safetensors", IndexFile}, []string{"generation_config.json"}},
		{"transcribed/t_lora_llama", []string{AdapterConfigFile, AdapterModelFile, ModelFile}, nil},
	}
	for _, tc := range cases {
		ck, err := Load(filepath.Join(fixtureRoot, tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(append([]string{ConfigFile}, tc.read...)))
		var inert []string
		for _, f := range ck.FilesInert {
			inert = append(inert, f.Name)
		}
		if !slices.Equal(ck.FilesRead, want) || !slices.Equal(inert, tc.inert) {
			t.Errorf("%s: read %v, inert %v; want %v, %v", tc.dir, ck.FilesRead, inert, want, tc.inert)
		}
	}
}

// TestRefusedFiles: each file nanoscope does not read — weights in another format or another
// copy, a pickle, checkpoint code, a quantisation config, an unknown file — is refused in one
// line naming it (the path in the checkpoint directory) and why, before the weights are served.
func TestRefusedFiles(t *testing.T) {
	base, _ := savedTiny(t)
	cases := []struct {
		name, want string
	}{
		{"pytorch_model.bin", "torch weights as a pickle"},
		{"pytorch_model-00001-of-00002.bin", "torch weights as a pickle"},
		{"pytorch_model.bin.index.json", "the index of pickled torch weight shards"},
		{"adapter_model.bin", "PEFT adapter weights as a pickle"},
		{"eval.bin", "a .bin beside Hugging Face weights"},
		{"model.pt", "a pickle (torch.save)"},
		{"consolidated.00.pth", "a pickle (torch.save)"},
		{"tf_model.h5", "tensorflow weights"},
		{"model.ckpt.index", "tensorflow (from_tf) or lightning weights"},
		{"flax_model.msgpack", "Flax weights"},
		{"model.gguf", "GGUF weights"},
		{"model.onnx", "ONNX weights"},
		{"rust_model.ot", "rust-bert weights"},
		{"model.tflite", "tensorflow lite weights"},
		{"modeling_custom.py", "custom model code"},
		{"configuration_custom.py", "custom model code"},
		{"quantize_config.json", "a quantisation config (AutoGPTQ)"},
		{"quant_config.json", "a quantisation config (AutoAWQ)"},
		{"foo.json", "not on nanoscope's list of Hugging Face checkpoint files"},
		{"preprocessor_config.json", "not on nanoscope's list"},
		{"model.fp16.safetensors", "a safetensors file that is neither model.safetensors nor a shard"},
		{"reference.safetensors", "a safetensors file that is neither model.safetensors nor a shard"},
		{AdapterModelFile, "adapter weights without adapter_config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, tc.name)
			writeFile(t, file, "x")
			_, err := Load(dir)
			var ce *checkpoint.Error
			if !errors.As(err, &ce) || ce.File != file || !strings.Contains(err.Error(), "checkpoint "+file+": "+tc.want) {
				t.Fatalf("error %v, want one naming %s: %s…", err, file, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
	// A shard the index does not list (a stale one of an earlier save).
	dir := copyDir(t, "gpt2_trained_sharded")
	stale := filepath.Join(dir, "model-00008-of-00008.safetensors")
	if err := checkpoint.WriteSafetensors(stale, map[string]checkpoint.Tensor{"x": {Shape: []int{1}, Data: []float32{1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "checkpoint "+stale+": a safetensors file that is neither model.safetensors nor a shard "+IndexFile+" lists") {
		t.Errorf("stale shard: %v", err)
	}
	// The config.json keys that would send transformers to other files (custom code, quantised
	// weights, an explicit weights file) are refused as unknown keys.
	for key, v := range map[string]any{"auto_map": map[string]any{"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"},
		"quantization_config": map[string]any{"quant_method": "gptq", "bits": 4}, "transformers_weights": "other.safetensors"} {
		dir := variant(t, "gpt2_random", nil, func(c map[string]any) { c[key] = v })
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "unknown key "+key) {
			t.Errorf("config.json %s: %v", key, err)
		}
	}
	// The first refusal is the file's, before config.json's: custom code and an unknown
	// architecture together name the code.
	dir = variant(t, "gpt2_random", nil, func(c map[string]any) { c["model_type"] = "custom"; c["auto_map"] = map[string]any{} })
	code := filepath.Join(dir, "modeling_custom.py")
	writeFile(t, code, "import torch")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "checkpoint "+code+": custom model code") {
		t.Errorf("custom code: %v", err)
	}
}
