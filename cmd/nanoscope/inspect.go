package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/hf"
	"nanoscope/gomlxmodel/load"
)

func init() {
	register("inspect", "what is remarkable about a checkpoint, tensor statistics, ternary quantisation, alphas, tying", runInspect)
}

func runInspect(args []string) error {
	fs := newFlags("inspect", "inspect --checkpoint DIR [--json]")
	dir := fs.String("checkpoint", "", "checkpoint `PATH` (required): a directory (nanoscope's, or a Hugging Face GPT-2, GPT-NeoX, Llama, Qwen2, Qwen3, Mistral, Gemma, Gemma 2 or Phi-3: config.json + model.safetensors), a nanoGPT ckpt.pt, a nanochat checkpoint directory or model_<step>.pt, or an llm.c .bin")
	asJSON := fs.Bool("json", false, "print the inspection as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("checkpoint")
	if err := fs.check(); err != nil {
		return err
	}
	l, err := openCheckpoint("checkpoint", *dir, nil)
	if err != nil {
		return err
	}
	var in any
	show := func() {}
	if ck := l.Checkpoint(); ck != nil { // the ternary model: ternary quantisation, mHC alphas
		ni := analysis.Inspect(ck)
		in, show = ni, func() { printInspection(os.Stdout, ni) }
	} else {
		s, err := analysis.FromFamily(l.Family, l.Params, l.Dir)
		if err != nil {
			return err
		}
		fi := analysis.InspectFamily(s)
		in = struct {
			analysis.FamilyInspection
			Files  []string          `json:"files"`
			DTypes map[string]string `json:"dtypes"`
			Notes  []string          `json:"notes"`
			// config.json's keys implemented and judged inert (Hugging Face checkpoints)
			KeysRead  []string `json:"config_keys_implemented,omitempty"`
			KeysInert []string `json:"config_keys_inert,omitempty"`
			// the checkpoint directory's files read and judged inert (Hugging Face checkpoints)
			FilesRead  []string       `json:"files_read,omitempty"`
			FilesInert []hf.InertFile `json:"files_inert,omitempty"`
		}{fi, l.Files, l.DTypes, l.Notes, l.KeysRead, l.KeysInert, l.FilesRead, l.FilesInert}
		show = func() { printFamilyInspection(os.Stdout, l, fi) }
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	show()
	return nil
}

// tensorList renders " [a, b, ... and N more]" with at most n names ("" for none).
func tensorList(names []string, n int) string {
	if len(names) == 0 {
		return ""
	}
	if len(names) <= n {
		return " [" + strings.Join(names, ", ") + "]"
	}
	return fmt.Sprintf(" [%s and %d more]", strings.Join(names[:n], ", "), len(names)-n)
}

// printRemarks writes what is remarkable about a checkpoint, or "nothing (" + none + ")".
func printRemarks(w io.Writer, remarks []analysis.Remark, none string) {
	if len(remarks) == 0 {
		fmt.Fprintf(w, "\nremarkable: nothing (%s)\n", none)
		return
	}
	fmt.Fprintf(w, "\nremarkable:\n")
	for _, r := range remarks {
		fmt.Fprintf(w, "  %s: %s%s\n", r.Kind, r.Detail, tensorList(r.Tensors, 8))
	}
}

func printInspection(w io.Writer, in analysis.Inspection) {
	m := in.Meta
	c, v := m.Config, m.Variant
	fmt.Fprintf(w, "checkpoint %s: step %d, loss %.6g, %d parameters in %d tensors\n", in.Dir, m.Step, m.Loss, in.Params, len(in.Tensors))
	fmt.Fprintf(w, "config: dim %d, %d layers, %d heads (%d kv), ffn_mult %g, vocab %d, seq %d, group %d, tied %v, lr %g, mhc_lr %g, total_steps %d\n",
		c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult, c.VocabSize, c.MaxSeqLen, c.GroupSize, c.WeightTied, c.LR, c.MHCLR, c.TotalSteps)
	src := "meta.json"
	if !m.HasVariant {
		src = "default (meta.json has none)"
	}
	fmt.Fprintf(w, "variant (%s): ternary %v, mHC %v, target shift %d, optimizer %s, tokenizer %q, vocab map %q, seed %d\n",
		src, v.Ternary, v.MHC, v.TargetShift, v.Optimizer, v.Tokenizer, v.VocabMap, v.Seed)
	if len(m.Extra) > 0 {
		keys := make([]string, 0, len(m.Extra))
		for k := range m.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "meta extras:")
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%s", k, m.Extra[k])
		}
		fmt.Fprintln(w)
	}

	printRemarks(w, in.Remarks, "no tensor at its initial value, constant, duplicated or degenerate")

	fmt.Fprintf(w, "\ntensors:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\tshape\tmean\tstd\tmin\tmax\tzeros\t\n")
	for _, t := range in.Tensors {
		fmt.Fprintf(tw, "%s\t%v\t%.4g\t%.4g\t%.4g\t%.4g\t%.3f\t\n", t.Name, t.Shape, t.Mean, t.Std, t.Min, t.Max, t.ZeroShare)
	}
	tw.Flush()

	applied := "applied"
	if !in.TernaryApplied {
		applied = "not applied by this variant; what it would give"
	}
	fmt.Fprintf(w, "\nternary quantisation per BitLinear weight (%s):\n", applied)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\tgroups\t-1\t0\t+1\tscale mean\tscale min\tscale max\t\n")
	for _, t := range in.Ternary {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.4g\t%.4g\t%.4g\t\n", t.Name, t.Groups, t.NegShare, t.ZeroShare, t.PosShare, t.ScaleMean, t.ScaleMin, t.ScaleMax)
	}
	tw.Flush()

	if len(in.Alphas) > 0 {
		fmt.Fprintf(w, "\nmHC alphas:\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "name\talpha_logit\tsigmoid\t\n")
		for _, a := range in.Alphas {
			fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t\n", a.Name, a.Logit, a.Alpha)
		}
		tw.Flush()
	}

	t := in.Tie
	fmt.Fprintf(w, "\ntying: weight_tied %v, lm_head present %v", t.WeightTied, t.HasLMHead)
	if t.LMHeadEqualsEmbed != nil {
		fmt.Fprintf(w, ", lm_head equals tok_embed %v (max |diff| %.4g)", *t.LMHeadEqualsEmbed, t.MaxAbsDiff)
	}
	fmt.Fprintln(w)
}

// printFamilyInspection is printInspection for a family other than the ternary model: what the
// loader inferred, the sizes and conventions, what is remarkable, tensor statistics and tying
// (no ternary quantisation nor mHC alpha to show).
func printFamilyInspection(w io.Writer, ck *load.Loaded, in analysis.FamilyInspection) {
	d := in.Dims
	fmt.Fprintf(w, "checkpoint %s (%s, %d file(s)): %d parameters in %d tensors\n", in.Dir, formatArch(ck), len(ck.Files), in.Params, len(in.Tensors))
	fmt.Fprintf(w, "config: dim %d, %d layers, %d heads, vocab %d", d.DModel, d.NLayers, d.NHeads, d.VocabSize)
	if d.MaxSeq > 0 {
		fmt.Fprintf(w, ", %d positions", d.MaxSeq)
	}
	var conv []string
	for _, c := range in.Conventions {
		conv = append(conv, c.Name+" "+c.Value)
	}
	fmt.Fprintf(w, "\nconventions: %s\n", strings.Join(conv, ", "))
	if len(ck.Notes) > 0 {
		fmt.Fprintf(w, "loaded: %s\n", strings.Join(ck.Notes, "; "))
	}
	if ck.KeysRead != nil || ck.KeysInert != nil {
		fmt.Fprintf(w, "config.json keys implemented: %s\n", strings.Join(ck.KeysRead, ", "))
		fmt.Fprintf(w, "config.json keys judged inert (cannot change the logits): %s\n", strings.Join(ck.KeysInert, ", "))
	}
	if ck.FilesRead != nil {
		fmt.Fprintf(w, "files read: %s\n", strings.Join(ck.FilesRead, ", "))
		inert := make([]string, len(ck.FilesInert))
		for i, f := range ck.FilesInert {
			inert[i] = f.Name + " (" + f.Why + ")"
		}
		if len(inert) == 0 {
			inert = []string{"none"}
		}
		fmt.Fprintf(w, "files judged inert (cannot change the logits): %s\n", strings.Join(inert, "; "))
	}
	printRemarks(w, in.Remarks, "no tensor at its initial value or distribution, constant or duplicated")
	fmt.Fprintf(w, "\ntensors:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\tshape\tdtype\tmean\tstd\tmin\tmax\tzeros\t\n")
	for _, t := range in.Tensors {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%.4g\t%.4g\t%.4g\t%.4g\t%.3f\t\n", t.Name, t.Shape, ck.DTypes[t.Name], t.Mean, t.Std, t.Min, t.Max, t.ZeroShare)
	}
	tw.Flush()
	t := in.Tie
	fmt.Fprintf(w, "\ntying: tie_word_embeddings %v, lm_head present %v", t.WeightTied, t.HasLMHead)
	if t.LMHeadEqualsEmbed != nil {
		fmt.Fprintf(w, ", lm_head equals the embedding %v (max |diff| %.4g)", *t.LMHeadEqualsEmbed, t.MaxAbsDiff)
	}
	fmt.Fprintln(w)
}
