package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/hf"
	"nanoscope/gomlxmodel/tokenfile"
)

// hfRun is what diagnose needs of a Hugging Face-layout checkpoint: the loaded checkpoint
// under the conventions asked for, and the evaluation ids.
type hfRun struct {
	ck       *hf.Checkpoint
	override []string // conventions run other than Hugging Face's
	tokens   []uint32
	data     string // where the ids came from
}

// loadHF loads dir with hf.Load, runs it under rope/gqa when given, and reads the evaluation
// ids: --tokens (the model's ids), --text (GPT-2 BPE, only for a model with GPT-2's 50257 ids)
// or --data (a token file of the model's ids, or, for a GPT-2 vocabulary, a corpus directory's
// val.bin).
func loadHF(dir, data, tokens, text, rope, gqa string) (*hfRun, error) {
	ck, err := hf.Load(dir)
	if err != nil {
		return nil, err
	}
	r := &hfRun{ck: ck}
	for _, c := range [][2]string{{gomlxmodel.ConvRopePairing, rope}, {gomlxmodel.ConvGQAMapping, gqa}} {
		if c[1] == "" {
			continue
		}
		if ck.Family, err = ck.Family.WithConvention(c[0], c[1]); err != nil {
			return nil, usagef("%s: %v", ck.Arch, err)
		}
		r.override = append(r.override, c[0]+" "+c[1])
	}
	V := ck.Family.Dims().VocabSize
	gpt2Vocab := V == corpus.GPT2VocabSize
	switch {
	case tokens != "":
		ids, err := parseIDs(tokens)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			r.tokens = append(r.tokens, uint32(id))
		}
		r.data = "--tokens"
	case text != "" && !gpt2Vocab:
		return nil, fmt.Errorf("--text: the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: nanoscope has no tokenizer for it; pass its ids with --tokens or a token file with --data",
			ck.Arch, V, corpus.GPT2VocabSize)
	case text != "":
		enc, err := corpus.NewEncoder()
		if err != nil {
			return nil, err
		}
		r.tokens, r.data = enc.Encode(text), "--text (GPT-2 BPE)"
	case data == "":
		return nil, usagef("a Hugging Face checkpoint needs evaluation ids: --data TOKENFILE, --tokens IDS or --text TEXT")
	default:
		path := data
		if st, err := os.Stat(data); err == nil && st.IsDir() {
			if !gpt2Vocab {
				return nil, fmt.Errorf("--data %s is a corpus directory (GPT-2 or compact ids) but the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: pass a token file of the model's own ids",
					data, ck.Arch, V, corpus.GPT2VocabSize)
			}
			path = filepath.Join(data, corpus.ValFile)
		}
		if r.tokens, err = tokenfile.Read(path); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		r.data = path
	}
	if err := tokenfile.CheckRange(r.data, r.tokens, V); err != nil {
		if tokens != "" { // a flag's value: a usage error, as in logits
			return nil, usagef("the ids are not the model's: %v", err)
		}
		return nil, fmt.Errorf("the ids are not the model's: %w", err)
	}
	return r, nil
}

// runDiagnoseHF is diagnose for a Hugging Face-layout GPT-2 or Llama (config.json, no
// meta.json). The report has the same form as for nanoscope's checkpoints; H3 and H7 (ternary
// weights, mHC) are not applicable, there is no meta.json loss to compare, and no observation.
func runDiagnoseHF(dir, data, tokens, text string, positions int, metrics, format, reportPath, rope, gqa string) error {
	if format == "md" || format == "html" {
		return usagef("--format %s: the report with figures is for nanoscope's checkpoints; use text or json for a Hugging Face checkpoint", format)
	}
	r, err := loadHF(dir, data, tokens, text, rope, gqa)
	if err != nil {
		return err
	}
	s, err := analysis.FromFamily(r.ck.Family, r.ck.Params, dir)
	if err != nil {
		return err
	}
	opts := &analysis.Options{Positions: positions, MetricsPath: metrics}
	if n := len(r.tokens) - tokenfile.MaxShift; n < s.SeqLen {
		if n < 2 {
			fail := fmt.Errorf
			if tokens != "" {
				fail = usagef
			}
			return fail("%s: %d ids are too few: the diagnosis needs at least %d (a window of 2 and the %d targets after it)", r.data, len(r.tokens), 2+tokenfile.MaxShift, tokenfile.MaxShift)
		}
		opts.SeqLen = n
	}
	rep, err := analysis.DiagnoseSubject(s, r.tokens, nil, opts)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if reportPath != "" {
		f, err := os.Create(reportPath)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		defer f.Close()
		w = f
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		printFindings(w, rep)
		fmt.Fprintln(w)
		printHFReport(w, r, rep)
	}
	if err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && reportPath != "" {
		if err := f.Close(); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		fmt.Fprintf(os.Stderr, "report written to %s\n", reportPath)
	}
	return nil
}

// printHFReport is printReport for a Hugging Face checkpoint.
func printHFReport(w io.Writer, r *hfRun, rep *analysis.Report) {
	ck, d := r.ck, rep.Details
	dims := ck.Family.Dims()
	var conv []string
	for _, c := range ck.Family.Conventions() {
		conv = append(conv, c.Name+" "+c.Value)
	}
	fmt.Fprintf(w, "checkpoint %s (Hugging Face %s): dim %d, %d layers, %d heads, vocab %d; %s\n", ck.Dir, ck.Arch, dims.DModel, dims.NLayers, dims.NHeads, dims.VocabSize, strings.Join(conv, ", "))
	if len(ck.Notes) > 0 {
		fmt.Fprintf(w, "loaded: %s\n", strings.Join(ck.Notes, "; "))
	}
	if len(r.override) > 0 {
		fmt.Fprintf(w, "run under: %s (not Hugging Face's)\n", strings.Join(r.override, ", "))
	}
	seq := 0
	if d.Windows > 0 {
		seq = d.Positions / d.Windows
	}
	fmt.Fprintf(w, "data %s: %d positions in %d windows of %d (± : standard error over the windows)\n\n", r.data, d.Positions, d.Windows, seq)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tvalue\n")
	for _, row := range metricRows(rep) {
		if strings.HasPrefix(row[0], "claimed loss") || strings.HasPrefix(row[0], "alpha_logit") {
			continue // no meta.json, no mHC
		}
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	tw.Flush()
	printLens(w, d.Lens)
	fmt.Fprintf(w, "\nactivation RMS per layer (embed %.3f):\n", d.ActNorms.Embed)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  layer\tresid_pre\tattn_out\tmlp_out\tresid_post\tattn/resid\tmlp/resid\n")
	for _, l := range d.ActNorms.Layers {
		fmt.Fprintf(tw, "  %d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", l.Layer, l.ResidPre, l.AttnOut, l.FFNOut, l.ResidPost, l.AttnRatio, l.FFNRatio)
	}
	tw.Flush()
	if cat := d.Catalog; cat != nil {
		fmt.Fprintf(w, "\ncross-entropy by target offset %v (unigram %.3f):\n", cat.Offsets, cat.Unigram)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range append([]analysis.OffsetCE{cat.AsLoaded}, cat.Conditions...) {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Condition, fmtFloats3(o.CE))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nhypotheses:\n")
	for _, h := range rep.Hypotheses {
		fmt.Fprintf(w, "  %s %-14s %s\n     %s\n", h.ID, h.Verdict, h.Name, h.Evidence)
	}
	fmt.Fprintf(w, "\nsummary: %s\n", rep.Summary)
}

func fmtFloats3(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
