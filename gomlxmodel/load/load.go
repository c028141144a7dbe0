// Package load opens a checkpoint directory of any format nanoscope reads and returns one
// value: the model family, its parameters, and where they came from. The format is decided
// here, once — by the file that holds the configuration — so that callers never ask which
// format they hold:
//
//   - nanoscope's own layout: meta.json + model.safetensors (package checkpoint);
//   - Hugging Face's layout: config.json + model.safetensors or its shards (package hf), every
//     other entry of the directory read, judged inert or refused (hf.CheckpointFiles);
//   - nanoGPT's ckpt.pt (a torch.save zip, read by package ptfile; nanogpt.go), the file or
//     a directory holding it;
//   - nanochat's model_<step>.pt + meta_<step>.json (nanochat.go): the directory (its largest
//     step) or the model file;
//   - llm.c's model .bin (llmc.go), the file.
//
// A directory with meta.json is nanoscope's even when it also has a config.json. Parsing and
// strictness are the readers' own: Open adds no check of its own to what they refuse.
//
// Conventions (RoPE pairing, GQA mapping, the causal mask, and any other a family names in
// Conventions) are applied through the loaded value for every family alike: WithConventions.
package load

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/hf"
)

// Format names.
const (
	FormatNanoscope   = "nanoscope"    // meta.json + model.safetensors
	FormatHuggingFace = "hugging face" // config.json + model.safetensors (or its shards)
)

// Loaded is a checkpoint read and validated by its format's reader: the family and its
// parameters, ready for gomlxmodel.NewFamilyRunner or analysis, and their provenance.
type Loaded struct {
	Format string // FormatNanoscope, FormatHuggingFace, FormatNanoGPT, FormatNanochat or FormatLLMC
	Dir    string
	// Family is the architecture with the conventions in effect: the checkpoint's own, or
	// those set by WithConventions. For nanoscope's checkpoints it is a gomlxmodel.Model.
	Family gomlxmodel.Family
	Params gomlxmodel.Params // by the family's parameter names, float32
	// ConfigFile is the file the configuration came from (meta.json or config.json); Files are
	// the weight files read (model.safetensors, or the shards of an index).
	ConfigFile string
	Files      []string
	DTypes     map[string]string // each parameter's dtype in its file: "F32", "BF16", "F16", "F64"
	Notes      []string          // what the reader inferred or converted, one line each
	// PaddedVocab is the size of the real vocabulary when the checkpoint's rows past it are
	// padding that stays in the softmax (nanoGPT's 50304 for GPT-2's 50257); 0 otherwise.
	PaddedVocab int
	// BOS is the begin-of-sequence id of the checkpoint's tokenizer where the checkpoint says
	// (config.json's bos_token_id) or its vocabulary is GPT-2's (<|endoftext|>, 50256); −1 when
	// not known or not an id of the model.
	BOS int
	// KeysRead and KeysInert are config.json's keys the Hugging Face reader implemented (or
	// checked to hold the value nanoscope runs) and judged unable to change the logits; nil for
	// other formats. Any other key was refused.
	KeysRead, KeysInert []string
	// FilesRead and FilesInert are the Hugging Face checkpoint directory's files read (base
	// names: config.json, the weights, the index, a PEFT adapter's two) and its entries judged
	// unable to change the logits, each with the reason (hf.CheckpointFiles); nil for other
	// formats. Any other entry was refused.
	FilesRead  []string
	FilesInert []hf.InertFile
	// AdapterBase are the base weights of the tensors a PEFT adapter beside a Hugging Face
	// checkpoint changed (Params hold them merged); nil without an adapter.
	AdapterBase gomlxmodel.Params
	// Meta is meta.json as read (nanoscope's checkpoints only; nil otherwise). WithConventions
	// leaves it as read: the conventions in effect are the Family's.
	Meta *checkpoint.Meta
	// Overrides are the conventions run other than the checkpoint's own, in the order set.
	Overrides []Override
}

// Override is one convention run under another value than the checkpoint's.
type Override struct {
	Name  string // e.g. gomlxmodel.ConvRopePairing
	Value string // the value in effect
	Own   string // the checkpoint's own value
}

// Open reads the checkpoint at path — a directory, or a nanoGPT ckpt.pt, nanochat
// model_<step>.pt or llm.c .bin file —
// with the reader of its format. A path that is no format is a one-line error naming it and
// the files looked for.
func Open(path string) (*Loaded, error) {
	l, err := open(path)
	if err != nil {
		return nil, err
	}
	V := l.Family.Dims().VocabSize
	switch {
	case l.Format == FormatHuggingFace && l.BOS >= V:
		l.BOS = -1
	case l.Format == FormatHuggingFace:
	case V == gpt2Vocab || l.PaddedVocab == gpt2Vocab:
		l.BOS = gpt2Vocab - 1 // <|endoftext|>
	default:
		l.BOS = -1
	}
	return l, nil
}

func open(path string) (*Loaded, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		switch {
		case isLLMC(path):
			return openLLMC(path)
		case isZip(path) && isNanochatModel(path):
			return openNanochat(path)
		case isZip(path):
			return openNanoGPT(path)
		}
		return nil, &checkpoint.Error{File: path, Msg: "not a checkpoint file: neither a torch.save zip (nanoGPT's ckpt.pt, nanochat's model_<step>.pt) nor an llm.c model (magic 20240326); pass a directory for nanoscope's and Hugging Face's layouts"}
	}
	dir := path
	switch {
	case exists(filepath.Join(dir, checkpoint.MetaFile)):
		return openNanoscope(dir)
	case exists(filepath.Join(dir, hf.ConfigFile)):
		return openHF(dir)
	case exists(filepath.Join(dir, NanoGPTFile)):
		return openNanoGPT(filepath.Join(dir, NanoGPTFile))
	case len(nanochatModelFiles(dir)) > 0:
		return openNanochatDir(dir)
	}
	e := &checkpoint.Error{File: dir, Msg: fmt.Sprintf("not a checkpoint: neither %s (nanoscope: with %s) nor %s (Hugging Face: with %s or %s) nor %s (nanoGPT) nor model_<step>.pt (nanochat) found",
		checkpoint.MetaFile, checkpoint.ModelFile, hf.ConfigFile, hf.ModelFile, hf.IndexFile, NanoGPTFile)}
	// The nanoscope reader knows what an interrupted Save leaves beside dir: say so.
	var ce *checkpoint.Error
	if _, err := checkpoint.ReadMeta(dir); errors.As(err, &ce) && ce.Msg != "cannot read" {
		e.Msg += " (" + ce.Msg + ")"
	}
	return nil, e
}

// IsCheckpointFile reports whether path is a file Open reads as a checkpoint by itself (a
// torch.save zip or an llm.c model), as opposed to a directory's member.
func IsCheckpointFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && (isLLMC(path) || isZip(path))
}

// isZip reports whether file starts with a zip local-file header.
func isZip(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "PK\x03\x04"
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func openNanoscope(dir string) (*Loaded, error) {
	ck, err := checkpoint.Load(dir)
	if err != nil {
		return nil, err
	}
	meta := ck.Meta
	l := &Loaded{
		Format:     FormatNanoscope,
		Dir:        ck.Dir,
		Family:     gomlxmodel.Model{Config: meta.Config, Variant: meta.Variant},
		Params:     ck.Tensors,
		ConfigFile: filepath.Join(dir, checkpoint.MetaFile),
		Files:      []string{filepath.Join(dir, checkpoint.ModelFile)},
		DTypes:     map[string]string{},
		Meta:       &meta,
	}
	for name := range ck.Tensors {
		l.DTypes[name] = "F32" // the reader refuses any other dtype
	}
	return l, nil
}

func openHF(dir string) (*Loaded, error) {
	ck, err := hf.Load(dir)
	if err != nil {
		return nil, err
	}
	return &Loaded{
		Format:      FormatHuggingFace,
		Dir:         ck.Dir,
		Family:      ck.Family,
		Params:      ck.Params,
		ConfigFile:  filepath.Join(dir, hf.ConfigFile),
		Files:       ck.Files,
		DTypes:      ck.DTypes,
		Notes:       ck.Notes,
		BOS:         ck.BOS,
		AdapterBase: ck.AdapterBase,
		KeysRead:    ck.KeysRead,
		KeysInert:   ck.KeysInert,
		FilesRead:   ck.FilesRead,
		FilesInert:  ck.FilesInert,
	}, nil
}

// Arch names the family: "nanoscope", "gpt2", "llama" or "nanochat".
func (l *Loaded) Arch() string { return l.Family.Arch() }

// Checkpoint returns the loaded weights as a nanoscope checkpoint under the conventions in
// effect (meta.json's config and variant as the Family has them), for the instruments that
// read one; nil for a checkpoint of another format.
func (l *Loaded) Checkpoint() *checkpoint.Checkpoint {
	m, ok := l.Family.(gomlxmodel.Model)
	if !ok || l.Meta == nil {
		return nil
	}
	meta := *l.Meta
	meta.Config, meta.Variant = m.Config, m.Variant
	return &checkpoint.Checkpoint{Dir: l.Dir, Meta: meta, Tensors: l.Params}
}

// ConventionError is a convention that the family does not have, or a value it does not take.
type ConventionError struct {
	Arch    string
	Name    string
	Value   string
	Allowed []string // the convention's values; nil when the family has no convention Name
	Known   []string // the family's convention names
	Err     error    // the family's own refusal, when the value list did not decide
}

func (e *ConventionError) Error() string {
	switch {
	case e.Allowed == nil && e.Err == nil:
		return fmt.Sprintf("%s has no convention %q (its conventions: %s)", e.Arch, e.Name, strings.Join(e.Known, ", "))
	case e.Err != nil:
		return fmt.Sprintf("%s convention %s=%s: %v", e.Arch, e.Name, e.Value, e.Err)
	}
	return fmt.Sprintf("%s convention %s: %q is not one of %s", e.Arch, e.Name, e.Value, strings.Join(e.Allowed, ", "))
}

// ParseSetting splits "name=value".
func ParseSetting(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" {
		return "", "", fmt.Errorf("%q is not name=value", s)
	}
	return name, value, nil
}

// WithConventions runs the checkpoint under other values of named conventions of its family,
// each setting "name=value" (e.g. "rope_pairing=interleaved", "gqa_mapping=tile",
// "causal=false"), applied in order through Family.WithConvention, for every family alike. A
// name the family lacks or a value outside the convention's values is a *ConventionError; the
// parameters are checked again against the family so changed (a tying flip that needs another
// tensor set is refused naming the tensor). A setting equal to the value in effect changes
// nothing. On error l is unchanged.
func (l *Loaded) WithConventions(settings ...string) error {
	f := l.Family
	overrides := slices.Clone(l.Overrides)
	for _, s := range settings {
		name, value, err := ParseSetting(s)
		if err != nil {
			return fmt.Errorf("convention %w", err)
		}
		convs := f.Conventions()
		i := slices.IndexFunc(convs, func(c gomlxmodel.Convention) bool { return c.Name == name })
		if i < 0 {
			known := make([]string, len(convs))
			for j, c := range convs {
				known[j] = c.Name
			}
			return &ConventionError{Arch: f.Arch(), Name: name, Value: value, Known: known}
		}
		c := convs[i]
		if !c.Free && len(c.Values) > 0 && !slices.Contains(c.Values, value) {
			return &ConventionError{Arch: f.Arch(), Name: name, Value: value, Allowed: slices.Clone(c.Values)}
		}
		if value == c.Value {
			continue
		}
		nf, err := f.WithConvention(name, value)
		if err != nil {
			return &ConventionError{Arch: f.Arch(), Name: name, Value: value, Allowed: slices.Clone(c.Values), Err: err}
		}
		f = nf
		// The first override of a name keeps the checkpoint's own value.
		if j := slices.IndexFunc(overrides, func(o Override) bool { return o.Name == name }); j >= 0 {
			overrides[j].Value = value
			if overrides[j].Own == value {
				overrides = slices.Delete(overrides, j, j+1)
			}
		} else {
			overrides = append(overrides, Override{Name: name, Value: value, Own: c.Value})
		}
	}
	if err := gomlxmodel.CheckFamilyParams(f, l.Params); err != nil {
		return fmt.Errorf("checkpoint %s under %s: %w", l.Dir, strings.Join(settings, ", "), err)
	}
	l.Family, l.Overrides = f, overrides
	return nil
}
