package main

import (
	"errors"
	"fmt"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
)

// The commands open every checkpoint through load.Open and run it as one value. What differs
// between the formats for the command line — what the checkpoint records besides its
// weights (meta.json: the step, the logged loss, the tokenizer, the corpus) — is read here,
// from the loaded value, and nowhere else.

// conventionSetting is one convention asked for on the command line, and the flag that asked;
// or, for --transpose, --exchange and --permute, an edit of the saved tensors (the placement and
// arrangement searches').
type conventionSetting struct {
	flag    string // "convention", or an alias: "rope-layout", "gqa-map"; "transpose", "exchange", "permute"
	setting string // name=value; the tensor, or the two tensors A,B, or TENSOR:AXIS=p0,p1,…
}

// conventionValue is the flag.Value of --convention (name "") and of its aliases, which set
// one named convention: every flag appends to one list, in command-line order.
type conventionValue struct {
	list       *[]conventionSetting
	flag, name string
}

func (c conventionValue) String() string { return "" }

func (c conventionValue) Set(v string) error {
	s := v
	switch c.flag {
	case "transpose":
	case "permute":
		if _, err := analysis.ParsePermutation(v); err != nil {
			return err
		}
	case "exchange":
		if a, b, ok := strings.Cut(v, ","); !ok || a == "" || b == "" || strings.Contains(b, ",") {
			return fmt.Errorf("want two tensor names A,B, got %q", v)
		}
	default:
		if c.name != "" {
			s = c.name + "=" + v
		} else if _, _, err := load.ParseSetting(v); err != nil {
			return err
		}
	}
	*c.list = append(*c.list, conventionSetting{c.flag, s})
	return nil
}

// conventionFlags adds --convention name=value (repeatable) and its aliases --rope-layout and
// --gqa-map, which run a checkpoint under other values of its family's conventions.
func conventionFlags(fs *flags) *[]conventionSetting {
	var list []conventionSetting
	fs.Var(conventionValue{&list, "convention", ""}, "convention",
		"run under another value of a convention of the checkpoint's family: `SETTING` is name=value, e.g. rope_pairing=interleaved, gqa_mapping=tile, causal=false (repeatable; a wrong name or value lists the family's)")
	fs.Var(conventionValue{&list, "rope-layout", "rope_pairing"}, "rope-layout", "run under RoPE pairing `LAYOUT` (halves or interleaved): --convention rope_pairing=LAYOUT")
	fs.Var(conventionValue{&list, "gqa-map", "gqa_mapping"}, "gqa-map", "run under query-head to kv-head `MAP` (tile or interleave): --convention gqa_mapping=MAP")
	fs.Var(conventionValue{&list, "transpose", ""}, "transpose", "run with the saved square matrix `TENSOR` transposed (repeatable): confirms a tensors_misplaced finding")
	fs.Var(conventionValue{&list, "exchange", ""}, "exchange", "run with the two saved tensors of `PAIR` (A,B: one shape) exchanged (repeatable): confirms a tensors_misplaced finding")
	fs.Var(conventionValue{&list, "permute", ""}, "permute", "run with an axis of a saved matrix rearranged: `SETTING` is TENSOR:AXIS=p0,p1,… (AXIS 0 rows as stored, 1 columns; index i takes what index p_i held; the linear's bias moves with its output axis) (repeatable): confirms a tensors_misplaced finding")
	return &list
}

// openCheckpoint opens the checkpoint of --flagName dir and sets the conventions asked for; a
// convention the family lacks or a value it does not take is a usage error naming the flag.
func openCheckpoint(flagName, dir string, conventions []conventionSetting) (*load.Loaded, error) {
	if err := checkpointDir(flagName, dir); err != nil {
		return nil, err
	}
	l, err := load.Open(dir)
	if err != nil {
		return nil, err
	}
	limitMemory(l.Params)
	for _, c := range conventions {
		if c.flag == "transpose" || c.flag == "exchange" || c.flag == "permute" {
			var e analysis.Edit
			switch c.flag {
			case "exchange":
				a, b, _ := strings.Cut(c.setting, ",")
				e.Exchange = [][2]string{{a, b}}
			case "transpose":
				e.Transpose = []string{c.setting}
			default:
				p, _ := analysis.ParsePermutation(c.setting)
				e.Permute = []analysis.Permutation{analysis.WithBias(l.Family, l.Params, p)}
			}
			p, err := e.Apply(l.Params)
			if err != nil {
				return nil, usagef("--%s %s: %v", c.flag, c.setting, err)
			}
			l.Params = p
			l.Overrides = append(l.Overrides, load.Override{Name: c.flag, Value: c.setting})
			continue
		}
		err := l.WithConventions(c.setting)
		var ce *load.ConventionError
		switch {
		case errors.As(err, &ce) && ce.Allowed == nil && ce.Err == nil:
			return nil, usagef("--%s: %s has no convention %q (its conventions: %s)", c.flag, ce.Arch, ce.Name, strings.Join(ce.Known, ", "))
		case errors.As(err, &ce) && ce.Err == nil && c.flag == "convention":
			return nil, usagef("--convention %s must be %s (got %q)", ce.Name, strings.Join(ce.Allowed, " or "), ce.Value)
		case errors.As(err, &ce) && ce.Err == nil:
			return nil, usagef("--%s must be %s (got %q; the %s convention %s)", c.flag, strings.Join(ce.Allowed, " or "), ce.Value, ce.Arch, ce.Name)
		case errors.As(err, &ce): // a value a free convention does not take (not a number, out of range)
			return nil, usagef("--%s %s=%s: %s", c.flag, ce.Name, ce.Value, strings.TrimPrefix(ce.Err.Error(), "convention "+ce.Name+": "))
		case err != nil:
			return nil, fmt.Errorf("--%s: %w", c.flag, err)
		}
	}
	return l, nil
}

// overrideLine says which conventions run other than the checkpoint's own, and which saved
// tensors run transposed or exchanged ("" for none).
func overrideLine(l *load.Loaded) string {
	if len(l.Overrides) == 0 {
		return ""
	}
	var conv, edits []string
	for _, o := range l.Overrides {
		switch o.Name {
		case "transpose":
			edits = append(edits, o.Value+" transposed (--transpose)")
		case "exchange":
			edits = append(edits, strings.Replace(o.Value, ",", " and ", 1)+" exchanged (--exchange)")
		case "permute":
			name, _, _ := strings.Cut(o.Value, "=")
			edits = append(edits, name+" rearranged (--permute)")
		default:
			conv = append(conv, fmt.Sprintf("%s %s instead of its %s", o.Name, o.Value, o.Own))
		}
	}
	if len(conv) > 0 {
		conv = []string{strings.Join(conv, ", ") + " (--convention)"}
	}
	return "run with " + strings.Join(append(conv, edits...), ", ")
}

// conventionsText lists the conventions in effect: "rope_pairing halves, gqa_mapping tile, ...".
func conventionsText(l *load.Loaded) string {
	var conv []string
	for _, c := range l.Family.Conventions() {
		conv = append(conv, c.Name+" "+c.Value)
	}
	return strings.Join(conv, ", ")
}

// origin is what the checkpoint says of itself besides its weights, for the first line of
// logits: meta.json's step and logged loss, or the Hugging Face family and its depth.
func origin(l *load.Loaded) string {
	if m := l.Meta; m != nil {
		return fmt.Sprintf("step %d, logged loss %.4f", m.Step, m.Loss)
	}
	return fmt.Sprintf("%s, %d layers", formatArch(l), l.Family.Dims().NLayers)
}

// formatArch names the format and family: "Hugging Face gpt2", "nanoGPT gpt2", "llm.c gpt2",
// "nanochat".
func formatArch(l *load.Loaded) string {
	name := map[string]string{load.FormatHuggingFace: "Hugging Face", load.FormatNanoGPT: "nanoGPT", load.FormatLLMC: "llm.c"}[l.Format]
	if name == "" {
		name = l.Format
	}
	if name == l.Arch() {
		return name
	}
	return name + " " + l.Arch()
}

// contextLen is the longest input the checkpoint takes: meta.json's max_seq_len, or the
// family's table of positions (0: unbounded).
func contextLen(l *load.Loaded) int {
	if l.Meta != nil {
		return l.Meta.Config.MaxSeqLen
	}
	return l.Family.Dims().MaxSeq
}
