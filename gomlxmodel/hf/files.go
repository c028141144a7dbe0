package hf

import (
	"os"
	"path"
	"path/filepath"
	"slices"

	"nanoscope/gomlxmodel/checkpoint"
)

// What nanoscope does with an entry of a Hugging Face checkpoint directory (FileRule.Role).
const (
	FileRead    = "read"    // read and honoured (and refused in one line where nanoscope does not run what it says)
	FileInert   = "inert"   // never opened: cannot change the logits of the weights read
	FileRefused = "refused" // the load is refused naming it
)

// FileRule is one row of CheckpointFiles: the directory entries whose base name matches Pattern
// (path.Match syntax), files or, with Dir, directories.
type FileRule struct {
	Pattern string
	Dir     bool
	Role    string // FileRead, FileInert or FileRefused
	// Why is, for a file read, what it holds; for an inert one, why it cannot change the logits;
	// for a refused one, why, and what to do instead.
	Why string
	// Unread, for a file read only in some directories (a shard the index lists, adapter weights
	// beside adapter_config.json), is why it is refused where it is not read.
	Unread string
}

// InertFile is a directory entry judged inert, with the reason (a FileRule's Why).
type InertFile struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// Reasons shared by several rows.
const (
	whyTokenizer = "the tokenizer: maps text to ids, and the logits are a function of the ids (nanoscope's --text uses GPT-2's BPE, for a 50257-id vocabulary only, never this file)"
	whyDocs      = "documentation"
	whyTrainer   = "Trainer's resume state (resume_from_checkpoint reads it, from_pretrained never does); a pickle nanoscope never opens: inert by its name only"
	whyPickle    = "a pickle (torch.save): nanoscope never unpickles, so it cannot tell what it holds"
	whyOtherCopy = "another copy of the weights, which nanoscope does not read and so cannot check against the safetensors it reads — remove it, or point nanoscope at a directory without it"
)

// CheckpointFiles is the closed list of what a Hugging Face checkpoint directory may hold, with
// what nanoscope does with each entry: the first row whose Pattern matches decides; an entry no
// row matches is refused naming it. What transformers' from_pretrained (5.17) reads from a local
// directory decides the rows: config.json (whose auto_map, quantization_config and
// transformers_weights keys would send it elsewhere — config.go refuses them as unknown keys), the
// weights (model.safetensors, or the index and its shards; pytorch_model.bin and its index only
// without safetensors or with use_safetensors=False; a GGUF file only when gguf_file names it),
// generation_config.json (GenerationConfig: generate()'s defaults), adapter_config.json with
// adapter_model.safetensors or adapter_model.bin (peft, when installed), and the Python files
// auto_map names (trust_remote_code). Any file that holds weights is read or refused — never
// passed over — whichever copy transformers would pick: two copies may differ, and nanoscope
// checks only the one it reads.
var CheckpointFiles = []FileRule{
	{Pattern: ".*", Role: FileInert, Why: "hidden: transformers reads fixed names, none hidden (.gitattributes, a save's temporaries)"},
	{Pattern: ".*", Dir: true, Role: FileInert, Why: "hidden: transformers reads fixed names, none hidden (.git, .cache of a hub download, .ipynb_checkpoints)"},

	{Pattern: ConfigFile, Role: FileRead, Why: "the architecture and its settings (each key implemented, judged inert or refused)"},
	{Pattern: ModelFile, Role: FileRead, Why: "the weights"},
	{Pattern: IndexFile, Role: FileRead, Why: "the index of the weight shards"},
	{Pattern: AdapterConfigFile, Role: FileRead, Why: "a PEFT adapter's settings (each key applied, judged inert or refused)"},
	{Pattern: AdapterModelFile, Role: FileRead, Why: "a PEFT adapter's LoRA weights, merged as PEFT merges them",
		Unread: "adapter weights without " + AdapterConfigFile + ": neither peft nor nanoscope applies them — add the adapter's config or remove them"},
	{Pattern: "*.safetensors", Role: FileRead, Why: "a weight shard " + IndexFile + " lists",
		Unread: "a safetensors file that is neither " + ModelFile + " nor a shard " + IndexFile + " lists (a stale shard of an earlier save, a variant such as model.fp16.safetensors, another model): " + whyOtherCopy},

	{Pattern: "generation_config.json", Role: FileInert, Why: "GenerationConfig: generate()'s defaults (sampling, lengths, stop ids), never a forward's logits; nanoscope's generate takes its settings from its flags"},
	{Pattern: "tokenizer.json", Role: FileInert, Why: whyTokenizer},
	{Pattern: "tokenizer_config.json", Role: FileInert, Why: whyTokenizer},
	{Pattern: "special_tokens_map.json", Role: FileInert, Why: whyTokenizer},
	{Pattern: "added_tokens.json", Role: FileInert, Why: whyTokenizer},
	{Pattern: "vocab.json", Role: FileInert, Why: whyTokenizer},
	{Pattern: "merges.txt", Role: FileInert, Why: whyTokenizer},
	{Pattern: "vocab.txt", Role: FileInert, Why: whyTokenizer},
	{Pattern: "tokenizer.model", Role: FileInert, Why: whyTokenizer},
	{Pattern: "chat_template.jinja", Role: FileInert, Why: "the tokenizer's chat template: text to ids"},
	{Pattern: "chat_template.json", Role: FileInert, Why: "the tokenizer's chat template: text to ids"},
	{Pattern: "README.md", Role: FileInert, Why: whyDocs},
	{Pattern: "LICENSE*", Role: FileInert, Why: whyDocs},
	{Pattern: "NOTICE*", Role: FileInert, Why: whyDocs},
	{Pattern: "USE_POLICY.md", Role: FileInert, Why: whyDocs},
	{Pattern: "training_args.bin", Role: FileInert, Why: "Trainer's TrainingArguments (hyperparameters; no loader reads it); a pickle nanoscope never opens: inert by its name only"},
	{Pattern: "trainer_state.json", Role: FileInert, Why: "Trainer's log and step count"},
	{Pattern: "all_results.json", Role: FileInert, Why: "metrics written by transformers' example scripts"},
	{Pattern: "train_results.json", Role: FileInert, Why: "metrics written by transformers' example scripts"},
	{Pattern: "eval_results.json", Role: FileInert, Why: "metrics written by transformers' example scripts"},
	{Pattern: "optimizer.pt", Role: FileInert, Why: whyTrainer},
	{Pattern: "scheduler.pt", Role: FileInert, Why: whyTrainer},
	{Pattern: "scaler.pt", Role: FileInert, Why: whyTrainer},
	{Pattern: "rng_state.pth", Role: FileInert, Why: whyTrainer},
	{Pattern: "rng_state_*.pth", Role: FileInert, Why: whyTrainer},
	{Pattern: "*", Dir: true, Role: FileInert, Why: "a subdirectory: from_pretrained reads only the directory's own files unless given subfolder= (Trainer's checkpoint-<step>, runs/): open it by its own path"},

	{Pattern: "adapter_model.bin", Role: FileRefused, Why: "PEFT adapter weights as " + whyPickle + " — re-save the adapter with save_pretrained, which writes adapter_model.safetensors"},
	{Pattern: "pytorch_model*.bin", Role: FileRefused, Why: "torch weights as " + whyPickle + " (transformers reads it when model.safetensors is absent, or with use_safetensors=False) — re-save with save_pretrained, which writes safetensors, or remove it"},
	{Pattern: "pytorch_model.bin.index.json", Role: FileRefused, Why: "the index of pickled torch weight shards, which nanoscope never unpickles — re-save with save_pretrained, which writes safetensors, or remove it"},
	{Pattern: "*.bin", Role: FileRefused, Why: "a .bin beside Hugging Face weights is a pickle (torch.save) or raw weights: nanoscope cannot tell which, nor what transformers makes of it — remove it"},
	{Pattern: "*.pt", Role: FileRefused, Why: whyPickle + " — remove it"},
	{Pattern: "*.pth", Role: FileRefused, Why: whyPickle + " — remove it"},
	{Pattern: "*.ckpt*", Role: FileRefused, Why: "tensorflow (from_tf) or lightning weights: " + whyOtherCopy},
	{Pattern: "*.h5", Role: FileRefused, Why: "tensorflow weights (from_tf): " + whyOtherCopy},
	{Pattern: "*.msgpack", Role: FileRefused, Why: "Flax weights (from_flax): " + whyOtherCopy},
	{Pattern: "*.gguf", Role: FileRefused, Why: "GGUF weights (transformers dequantises them when gguf_file= names one): " + whyOtherCopy},
	{Pattern: "*.onnx", Role: FileRefused, Why: "ONNX weights and graph: " + whyOtherCopy},
	{Pattern: "*.ot", Role: FileRefused, Why: "rust-bert weights: " + whyOtherCopy},
	{Pattern: "*.tflite", Role: FileRefused, Why: "tensorflow lite weights: " + whyOtherCopy},
	{Pattern: "*.py", Role: FileRefused, Why: "custom model code (transformers runs it with trust_remote_code, through config.json's auto_map): nanoscope does not run checkpoint code and cannot tell what it computes"},
	{Pattern: "quantize_config.json", Role: FileRefused, Why: "a quantisation config (AutoGPTQ): the weights may be quantised, and nanoscope reads float weights only"},
	{Pattern: "quant_config.json", Role: FileRefused, Why: "a quantisation config (AutoAWQ): the weights may be quantised, and nanoscope reads float weights only"},
}

// whyUnknown is the refusal of an entry no row of CheckpointFiles matches.
const whyUnknown = "not on nanoscope's list of Hugging Face checkpoint files (it reads " + ConfigFile + ", " + ModelFile + " or " + IndexFile +
	" and its shards, " + AdapterConfigFile + " with " + AdapterModelFile + "; it passes tokenizer, generation_config.json, Trainer and documentation files and subdirectories as inert; hf.CheckpointFiles): " +
	"what transformers would do with it is not known — remove it or move it out of the directory"

// fileRule returns the first row of CheckpointFiles matching name (a directory when dir), nil when
// none does.
func fileRule(name string, dir bool) *FileRule {
	for i := range CheckpointFiles {
		r := &CheckpointFiles[i]
		if ok, _ := path.Match(r.Pattern, name); ok && r.Dir == dir {
			return r
		}
	}
	return nil
}

// dirFiles sorts the entries of a Hugging Face checkpoint directory by CheckpointFiles (symbolic
// links followed, as in the hub's cache): the files to read (base names) and the entries judged
// inert, or the one-line refusal of the first entry refused or unknown (sorted by name).
func dirFiles(dir string) (read []string, inert []InertFile, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, &checkpoint.Error{File: dir, Msg: "cannot read the directory", Err: err}
	}
	for _, e := range entries { // sorted by name
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, &checkpoint.Error{File: p, Msg: "cannot read", Err: err}
		}
		r := fileRule(e.Name(), st.IsDir())
		switch {
		case r == nil:
			return nil, nil, &checkpoint.Error{File: p, Msg: whyUnknown}
		case r.Role == FileRefused:
			return nil, nil, &checkpoint.Error{File: p, Msg: r.Why}
		case r.Role == FileInert:
			inert = append(inert, InertFile{Name: e.Name(), Why: r.Why})
		default:
			read = append(read, e.Name())
		}
	}
	return read, inert, nil
}

// checkRead refuses the first file dirFiles put to read that the load did not read (a shard
// the index does not list, adapter weights without their config), so that no file holding
// weights is passed over. done are the paths read.
func checkRead(dir string, toRead []string, done []string) error {
	for _, name := range toRead {
		if !slices.ContainsFunc(done, func(p string) bool { return filepath.Base(p) == name }) {
			r := fileRule(name, false)
			msg := "not read"
			if r != nil && r.Unread != "" {
				msg = r.Unread
			}
			return &checkpoint.Error{File: filepath.Join(dir, name), Msg: msg}
		}
	}
	return nil
}
