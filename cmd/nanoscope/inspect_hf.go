package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/hf"
)

// runInspectHF is inspect for a Hugging Face-layout GPT-2 or Llama (config.json, no meta.json):
// what the loader inferred, the sizes and conventions, what is remarkable, tensor statistics
// and tying. There is no ternary quantisation nor mHC alpha to show.
func runInspectHF(dir string, asJSON bool) error {
	ck, err := hf.Load(dir)
	if err != nil {
		return err
	}
	s, err := analysis.FromFamily(ck.Family, ck.Params, dir)
	if err != nil {
		return err
	}
	in := analysis.InspectFamily(s)
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			analysis.FamilyInspection
			Files  []string          `json:"files"`
			DTypes map[string]string `json:"dtypes"`
			Notes  []string          `json:"notes"`
		}{in, ck.Files, ck.DTypes, ck.Notes})
	}
	printFamilyInspection(os.Stdout, ck, in)
	return nil
}

func printFamilyInspection(w io.Writer, ck *hf.Checkpoint, in analysis.FamilyInspection) {
	d := in.Dims
	fmt.Fprintf(w, "checkpoint %s (Hugging Face %s, %d file(s)): %d parameters in %d tensors\n", in.Dir, in.Arch, len(ck.Files), in.Params, len(in.Tensors))
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
	if len(in.Remarks) == 0 {
		fmt.Fprintf(w, "\nremarkable: nothing (no tensor at its initial value or distribution, constant or duplicated)\n")
	} else {
		fmt.Fprintf(w, "\nremarkable:\n")
		for _, r := range in.Remarks {
			fmt.Fprintf(w, "  %s: %s%s\n", r.Kind, r.Detail, tensorList(r.Tensors, 8))
		}
	}
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
