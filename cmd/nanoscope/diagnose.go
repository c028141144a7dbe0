package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/tokenfile"
)

func init() {
	register("diagnose", "measure a checkpoint and settle hypotheses H1-H7 of the copying symptom", runDiagnose)
}

func runDiagnose(args []string) error {
	fs := newFlags("diagnose", "diagnose --checkpoint DIR --data TOKENFILE [--observed FILE|note] [--positions N] [--json]")
	dir := fs.String("checkpoint", "", "checkpoint directory (required)")
	data := fs.String("data", "", "token file (u32 ids of the checkpoint's vocabulary, e.g. val.compact.bin for a compact-vocab model) (required)")
	observed := fs.String("observed", "", `what was seen at inference: JSON {"input":[ids],"predicted":[ids],"logits":[values],"dim":D} in GPT-2 ids, or "note" for the investigation note's observation`)
	positions := fs.Int("positions", 1024, "positions to evaluate (in windows of max_seq_len)")
	seeds := fs.String("seeds", "1,2,3", "seeds of the fresh initialisations the observation is checked against")
	metrics := fs.String("metrics", "", "the run's metrics.jsonl (default: DIR/metrics.jsonl when present)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *dir == "" || *data == "" {
		return fmt.Errorf("--checkpoint and --data are required")
	}
	var seedList []int64
	for _, f := range strings.Split(*seeds, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		x, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("--seeds: %q is not an integer", f)
		}
		seedList = append(seedList, x)
	}
	ck, err := checkpoint.Load(*dir)
	if err != nil {
		return err
	}
	tokens, err := tokenfile.Read(*data)
	if err != nil {
		return err
	}
	if err := tokenfile.CheckRange(*data, tokens, ck.Meta.Config.VocabSize); err != nil {
		return err
	}
	var obs *analysis.Observed
	switch *observed {
	case "":
	case "note":
		obs = analysis.NoteObservation()
	default:
		if obs, err = analysis.ReadObserved(*observed); err != nil {
			return err
		}
	}
	rep, err := analysis.Diagnose(ck, tokens, obs, &analysis.Options{Positions: *positions, FreshSeeds: seedList, MetricsPath: *metrics})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(os.Stdout, ck, *data, rep)
	return nil
}

func printReport(w io.Writer, ck *checkpoint.Checkpoint, data string, r *analysis.Report) {
	c, v, d, m := ck.Meta.Config, ck.Meta.Variant, r.Details, r.Metrics
	fmt.Fprintf(w, "checkpoint %s: dim %d, %d layers, vocab %d, tied %v, ternary %v, mHC %v, target shift %d, step %d, meta loss %.4g\n",
		ck.Dir, c.Dim, c.NLayers, c.VocabSize, c.WeightTied, v.Ternary, v.MHC, v.TargetShift, ck.Meta.Step, ck.Meta.Loss)
	fmt.Fprintf(w, "data %s: %d positions in %d windows of %d\n\n", data, d.Positions, d.Windows, c.MaxSeqLen)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tvalue\n")
	row := func(name string, format string, x any) { fmt.Fprintf(tw, "%s\t"+format+"\n", name, x) }
	row("copy rate", "%.4f", m.CopyRate)
	row("next-token accuracy", "%.4f", m.NextTokenAccuracy)
	row("copy rate (next != current)", "%.4f", m.CopyRateNonRepeat)
	row("next-token acc. (next != current)", "%.4f", m.NextAccuracyNonRepeat)
	row("repeat rate (next == current)", "%.4f", m.RepeatRate)
	row("loss shifted (CE / smoothed)", "%s", fmt.Sprintf("%.4f / %.4f", m.LossShifted, m.LossShiftedSmoothed))
	row("loss unshifted (CE / smoothed)", "%s", fmt.Sprintf("%.4f / %.4f", m.LossUnshifted, m.LossUnshiftedSmoothed))
	row("claimed loss (meta.json)", "%.4g", m.ClaimedLoss)
	row("unigram entropy of the data", "%.4f", m.UnigramEntropy)
	row("init-like", "%v", fmt.Sprintf("%v (%d/%d tensors moved from init)", m.InitLike, m.TensorsMoved, m.Tensors))
	row("top logit within 1% of self logit", "%.4f", m.SelfSimilarityShare)
	row("mean top / self logit", "%s", fmt.Sprintf("%.3f / %.3f", m.MeanTopLogit, m.MeanSelfLogit))
	row("parity max |dlogits|", "%.3g", m.ParityMaxAbsDelta)
	row("alpha_logit all 0 / grads all 0", "%s", fmt.Sprintf("%v / %v", m.AlphaLogitsAllZero, m.AlphaGradsAllZero))
	row("dead parameters (grad exactly 0)", "%d", m.DeadParams)
	row("loader hashes match file", "%v", m.LoaderHashesMatch)
	tw.Flush()

	fmt.Fprintf(w, "\nlogit lens (copy rate / next-token accuracy):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range d.Lens.Points {
		fmt.Fprintf(tw, "  %s\t%s\t%.3f\t%.3f\n", p.Point, p.Stream, p.CopyRate, p.NextTokenAccuracy)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nactivation RMS per layer (embed %.3f):\n", d.ActNorms.Embed)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  layer\tresid_pre\tattn_out\tffn_out\tresid_post\tattn/resid\tffn/resid\tmax|s0-s1|\n")
	for _, l := range d.ActNorms.Layers {
		fmt.Fprintf(tw, "  %d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3g\n", l.Layer, l.ResidPre, l.AttnOut, l.FFNOut, l.ResidPost, l.AttnRatio, l.FFNRatio, l.StreamAsymmetry)
	}
	tw.Flush()
	if oc := d.Observation; oc != nil {
		fmt.Fprintf(w, "\nobservation: input %v, predicted %v (model ids); accepted top-logit band [%.1f, %.1f]\n", oc.Input, oc.Predicted, oc.Band[0], oc.Band[1])
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, cd := range oc.Conditions {
			fmt.Fprintf(tw, "  %s\tpredicted %v\ttop logits %s\tids %v\tmagnitude %v\treproduces %v\n", cd.Name, cd.Predicted, fmtFloats(cd.TopLogits), cd.IDsMatch, cd.MagnitudeMatch, cd.Reproduces)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nhypotheses:\n")
	for _, h := range r.Hypotheses {
		fmt.Fprintf(w, "  %s %-10s %s\n     %s\n", h.ID, h.Verdict, h.Name, h.Evidence)
	}
	fmt.Fprintf(w, "\nsummary: %s\n", r.Summary)
}

func fmtFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
