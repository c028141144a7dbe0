// Package checkpoint reads and writes checkpoints in the layout of the original Rust/candle
// project (REFERENCE.md §2), and refuses anything that does not match exactly.
//
// A checkpoint is a directory holding model.safetensors (F32 tensors under the candle names,
// e.g. tok_embed.weight, blocks.0.attn.wq.weight) and meta.json:
//
//	{"config": {...every TrainConfig field...}, "step": N, "loss": L, "nanoscope": {...}}
//
// "nanoscope" is our Variant (absent means config.DefaultVariant(), the original model); other
// top-level fields are allowed and preserved. Other files in the directory are ignored.
//
// Strictness is the point of this package: the original's loader loaded nothing and went on
// with freshly initialised weights (REFERENCE.md §3 H6). Load therefore fails, with one line
// naming the file, the tensor and expected versus found, on any missing or unexpected tensor,
// shape disagreeing with meta.json's config, dtype other than F32, corrupt or truncated file,
// NaN/Inf value, or meta.json that is not exactly a valid config, step and loss. Save checks
// the same rules, so it never writes what Load would reject.
//
// Atomicity: Save builds the complete checkpoint in a fresh hidden sibling directory
// ".<name>.tmp-XXXX" (each file written, fsynced), then swaps it in by renames: an existing
// directory is first renamed to ".<name>.old-XXXX", the new one to <name>, the parent is fsynced
// and the old copy removed. Other files of the old directory (a vocab map, notes) are hard-linked
// into the new one first. So a previously good checkpoint is never half overwritten: a crash
// leaves either the old directory, or the new one, or (between the two renames) no <name> but
// the complete old copy in .<name>.old-XXXX and the new one in .<name>.tmp-XXXX; Load's
// not-found error names such leftovers. WriteSafetensors alone uses temp file + rename.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel/config"
)

// File names inside a checkpoint directory, and meta.json's key for the Variant.
const (
	ModelFile  = "model.safetensors"
	MetaFile   = "meta.json"
	VariantKey = "nanoscope"
)

// Meta is the content of meta.json.
type Meta struct {
	Config config.Config
	Step   int
	Loss   float64
	// Variant comes from "nanoscope"; config.DefaultVariant() when absent.
	Variant config.Variant
	// HasVariant tells whether meta.json carried "nanoscope". Save writes it when HasVariant
	// is set or Variant is not the default, so files of the original model keep their shape.
	HasVariant bool
	// Extra holds the other top-level fields, preserved byte for byte.
	Extra map[string]json.RawMessage
}

// Checkpoint is a loaded, fully validated checkpoint.
type Checkpoint struct {
	Dir     string
	Meta    Meta
	Tensors map[string]Tensor
}

// Load reads dir's meta.json and model.safetensors and checks the tensors against exactly the
// set and shapes of meta.Config.TensorShapes(meta.Variant), and that every value is finite.
func Load(dir string) (*Checkpoint, error) {
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ModelFile)
	tensors, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if err := checkTensors(path, tensors, meta); err != nil {
		return nil, err
	}
	return &Checkpoint{Dir: dir, Meta: meta, Tensors: tensors}, nil
}

// Save writes tensors and meta as the checkpoint directory dir, atomically (see the package
// comment), after checking them with Load's rules. The parent directory is created if needed.
func Save(dir string, tensors map[string]Tensor, meta Meta) error {
	dir = filepath.Clean(dir)
	metaBytes, err := encodeMeta(filepath.Join(dir, MetaFile), meta)
	if err != nil {
		return err
	}
	if err := checkTensors(filepath.Join(dir, ModelFile), tensors, meta); err != nil {
		return err
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	fail := func(msg string, err error) error { return &Error{File: dir, Msg: msg, Err: err} }
	if base == "." || base == ".." || base == string(filepath.Separator) {
		// The swap needs a named directory with a parent to hold its temp sibling.
		return fail("cannot save as this directory: name a checkpoint directory", nil)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail("cannot create parent directory", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fail("cannot create temp directory", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := WriteSafetensors(filepath.Join(tmp, ModelFile), tensors); err != nil {
		return err
	}
	if err := writeBytesAtomic(filepath.Join(tmp, MetaFile), metaBytes); err != nil {
		return err
	}
	perm := fs.FileMode(0o755) // MkdirTemp makes 0700
	old, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Chmod(tmp, perm); err != nil {
			return fail("cannot set permissions", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			return fail("cannot move new checkpoint into place", err)
		}
		done = true
		return syncDir(parent)
	case err != nil:
		return fail("cannot stat", err)
	case !old.IsDir():
		return fail("exists and is not a directory", nil)
	}
	if err := carryOver(dir, tmp); err != nil {
		return fail("cannot carry over the other files of the old checkpoint", err)
	}
	if err := os.Chmod(tmp, old.Mode().Perm()); err != nil {
		return fail("cannot set permissions", err)
	}
	oldDir := filepath.Join(parent, "."+base+".old-"+strings.TrimPrefix(filepath.Base(tmp), "."+base+".tmp-"))
	if err := os.Rename(dir, oldDir); err != nil {
		return fail("cannot move old checkpoint aside", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if os.Rename(oldDir, dir) != nil {
			return fail(fmt.Sprintf("cannot move new checkpoint into place; the old one is in %s", oldDir), err)
		}
		return fail("cannot move new checkpoint into place", err)
	}
	done = true
	if err := syncDir(parent); err != nil {
		return fail("cannot sync parent directory", err)
	}
	// The new checkpoint is durable; a failure to delete the old copy only leaves garbage.
	os.RemoveAll(oldDir)
	return nil
}

// ReadMeta reads and strictly validates dir's meta.json: a JSON object without duplicate keys,
// "config" with exactly the TrainConfig fields (config.ParseStrict, which also validates it),
// "step" a non-negative integer, "loss" a finite number, and "nanoscope", when present, a
// complete Variant without unknown fields.
func ReadMeta(dir string) (Meta, error) {
	path := filepath.Join(dir, MetaFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, notFound(path, dir, err)
	}
	return decodeMeta(path, raw)
}

func decodeMeta(path string, raw []byte) (Meta, error) {
	fail := func(msg, expected, found string, err error) (Meta, error) {
		return Meta{}, &Error{File: path, Msg: msg, Expected: expected, Found: found, Err: err}
	}
	_, fields, _, err := objectMembers(raw)
	if err != nil {
		return fail("invalid meta.json", "", "", err)
	}
	var m Meta
	for _, k := range []string{"config", "step", "loss"} {
		if _, ok := fields[k]; !ok {
			return fail(fmt.Sprintf("field %q is missing", k), "", "", nil)
		}
	}
	// ParseStrict misses duplicate keys and keys differing only in case (encoding/json matches
	// those to fields), so check the keys exactly first.
	if err := decodeExact(fields["config"], &config.Config{}); err != nil {
		return fail("invalid config", "", "", err)
	}
	if m.Config, err = config.ParseStrict(fields["config"]); err != nil {
		return fail("invalid config", "", "", err)
	}
	stepRaw := string(bytes.TrimSpace(fields["step"]))
	step, err := strconv.ParseInt(stepRaw, 10, 0)
	if err != nil || step < 0 {
		return fail("invalid step", "a non-negative integer", stepRaw, nil)
	}
	m.Step = int(step)
	lossRaw := string(bytes.TrimSpace(fields["loss"]))
	if lossRaw == "null" {
		// serde_json writes NaN and ±Inf as null: a diverged run.
		return fail("invalid loss (null is how serde_json writes NaN/Inf)", "a finite number", lossRaw, nil)
	}
	if m.Loss, err = strconv.ParseFloat(lossRaw, 64); err != nil || math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		return fail("invalid loss", "a finite number", lossRaw, nil)
	}
	m.Variant = config.DefaultVariant()
	if v, ok := fields[VariantKey]; ok {
		if m.Variant, err = parseVariant(v); err != nil {
			return fail(fmt.Sprintf("invalid %q variant", VariantKey), "", "", err)
		}
		m.HasVariant = true
	}
	for k, v := range fields {
		switch k {
		case "config", "step", "loss", VariantKey:
		default:
			if m.Extra == nil {
				m.Extra = map[string]json.RawMessage{}
			}
			m.Extra[k] = v
		}
	}
	return m, nil
}

// parseVariant decodes a Variant requiring every field not tagged omitempty: a missing field
// would silently take Go's zero value, which is not the original architecture.
func parseVariant(raw []byte) (config.Variant, error) {
	var v config.Variant
	if err := decodeExact(raw, &v); err != nil {
		return config.Variant{}, err
	}
	return v, checkVariant(v)
}

// checkVariant holds the Variant rules config.go documents but does not enforce.
func checkVariant(v config.Variant) error {
	if err := v.CheckConventions(); err != nil {
		return err
	}
	if v.Optimizer != "muon-lion" && v.Optimizer != "adamw" {
		return fmt.Errorf("optimizer must be \"muon-lion\" or \"adamw\" (got %q)", v.Optimizer)
	}
	return nil
}

// encodeMeta validates m with ReadMeta's rules and renders meta.json: config, step, loss, the
// variant (omitted when it is the default and was not asked for, keeping the original's shape),
// then the extra fields in sorted order, their bytes untouched.
func encodeMeta(path string, m Meta) ([]byte, error) {
	fail := func(msg string, err error) ([]byte, error) { return nil, &Error{File: path, Msg: msg, Err: err} }
	if err := m.Config.Validate(); err != nil {
		return fail("invalid config", err)
	}
	if m.Step < 0 {
		return fail(fmt.Sprintf("invalid step %d: must be non-negative", m.Step), nil)
	}
	if math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		return fail(fmt.Sprintf("invalid loss %v: must be finite", m.Loss), nil)
	}
	writeVariant := m.HasVariant || m.Variant != config.DefaultVariant()
	if writeVariant {
		if err := checkVariant(m.Variant); err != nil {
			return fail("invalid variant", err)
		}
	}
	cfg, err := json.MarshalIndent(m.Config, "  ", "  ")
	if err != nil {
		return fail("cannot encode config", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"config\": %s,\n  \"step\": %d,\n  \"loss\": %s", cfg, m.Step,
		strconv.FormatFloat(m.Loss, 'g', -1, 64))
	if writeVariant {
		v, err := json.Marshal(m.Variant)
		if err != nil {
			return fail("cannot encode variant", err)
		}
		fmt.Fprintf(&b, ",\n  %q: %s", VariantKey, v)
	}
	for _, k := range sortedKeys(m.Extra) {
		switch v := m.Extra[k]; {
		case k == "config" || k == "step" || k == "loss" || k == VariantKey || k == "":
			return fail(fmt.Sprintf("extra field %q collides with a reserved name", k), nil)
		case !json.Valid(v):
			return fail(fmt.Sprintf("extra field %q is not valid JSON", k), nil)
		default:
			key, _ := json.Marshal(k)
			fmt.Fprintf(&b, ",\n  %s: %s", key, v)
		}
	}
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// checkTensors checks tensors against the spec of meta: exactly the expected names, each with
// the expected shape and as many values, all finite.
func checkTensors(path string, tensors map[string]Tensor, meta Meta) error {
	spec := meta.Config.TensorShapes(meta.Variant)
	var missing, extra []string
	hints := map[string]bool{}
	hint := func(name string) {
		switch {
		case strings.HasPrefix(name, "lm_head."):
			hints[fmt.Sprintf("config has weight_tied=%v, so lm_head.weight %s", meta.Config.WeightTied,
				map[bool]string{true: "must not exist (the head is tok_embed)", false: "is required"}[meta.Config.WeightTied])] = true
		case strings.Contains(name, ".mhc_"):
			src := "meta.json's nanoscope variant"
			if !meta.HasVariant {
				src = "the default variant (meta.json has no nanoscope field)"
			}
			hints[fmt.Sprintf("mHC tensors follow mhc=%v from %s", meta.Variant.MHC, src)] = true
		}
	}
	for _, name := range sortedKeys(spec) {
		if _, ok := tensors[name]; !ok {
			missing = append(missing, name)
			hint(name)
		}
	}
	for _, name := range sortedKeys(tensors) {
		if _, ok := spec[name]; !ok {
			extra = append(extra, name)
			hint(name)
		}
	}
	if len(missing)+len(extra) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("missing %d %v", len(missing), missing))
		}
		if len(extra) > 0 {
			parts = append(parts, fmt.Sprintf("unexpected %d %v", len(extra), extra))
		}
		notes := sortedKeys(hints)
		if len(notes) > 0 {
			parts = append(parts, "note: "+strings.Join(notes, "; "))
		}
		return &Error{File: path, Msg: "tensor names do not match meta.json config: " + strings.Join(parts, "; "),
			Expected: fmt.Sprintf("%d tensors", len(spec)), Found: fmt.Sprintf("%d tensors", len(tensors))}
	}
	var wrong []string
	for _, name := range sortedKeys(spec) {
		if !equalInts(spec[name], tensors[name].Shape) {
			wrong = append(wrong, name)
		}
	}
	if len(wrong) > 0 {
		msg := "shape mismatch with meta.json config"
		if len(wrong) > 1 {
			msg += fmt.Sprintf(" (first of %d mismatched tensors)", len(wrong))
		}
		return &Error{File: path, Tensor: wrong[0], Msg: msg,
			Expected: fmt.Sprint(spec[wrong[0]]), Found: fmt.Sprint(tensors[wrong[0]].Shape)}
	}
	for _, name := range sortedKeys(tensors) {
		if err := checkWritable(path, name, tensors[name]); err != nil {
			return err
		}
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// notFound wraps a read failure, naming what an interrupted Save may have left beside dir.
func notFound(path, dir string, err error) error {
	e := &Error{File: path, Msg: "cannot read", Err: err}
	if errors.Is(err, fs.ErrNotExist) {
		if left := leftovers(filepath.Clean(dir)); len(left) > 0 {
			sort.Strings(left)
			e.Msg = fmt.Sprintf("cannot read (an interrupted Save left %s; the .old one is the previous checkpoint)",
				strings.Join(left, ", "))
		}
	}
	return e
}
