package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/hf"
	"nanoscope/gomlxmodel/tokenfile"
)

func init() {
	register("diagnose", "diagnose a checkpoint: healthy or not, its findings (with fixes), hypotheses H1-H7 of the copying symptom", runDiagnose)
}

func runDiagnose(args []string) error {
	fs := newFlags("diagnose", "diagnose --checkpoint DIR [--data DIR|TOKENFILE | --tokens IDS | --text TEXT] [--observed FILE|note] [--positions N] [--json | --format text|json|md|html] [--report PATH]")
	dir := fs.String("checkpoint", "", "checkpoint `DIR` (required): nanoscope's, or a Hugging Face GPT-2 or Llama (config.json + model.safetensors)")
	hfTokens := fs.String("tokens", "", "Hugging Face checkpoints: comma-separated evaluation `IDS` in the model's own ids, instead of --data")
	hfText := fs.String("text", "", "Hugging Face checkpoints: evaluation `TEXT` tokenized with GPT-2 BPE (only for a model with GPT-2's vocabulary)")
	data := fs.String("data", "", "token data in the checkpoint's ids: a corpus `DIR` (its validation split: val.compact.bin for a compact-vocabulary model, else val.bin) or a token file; compact ids must have the checkpoint's vocab.json beside them (default: the corpus meta.json records)")
	observed := fs.String("observed", "", "what was seen at inference: a JSON `FILE` {\"input\":[ids],\"predicted\":[ids],\"logits\":[values],\"dim\":D} in GPT-2 ids, or note for the investigation note's observation")
	positions := fs.Int("positions", 1024, "`N` positions to evaluate (in windows of max_seq_len), at least 1")
	seeds := fs.String("seeds", "1,2,3", "comma-separated `SEEDS` of the fresh initialisations the observation is checked against")
	metrics := fs.String("metrics", "", "the run's metrics.jsonl `FILE` (default: DIR/metrics.jsonl when present)")
	asJSON := fs.Bool("json", false, "print the whole report as JSON (the same as --format json)")
	format := fs.String("format", "text", "report `FORMAT`: text, json, md (Markdown) or html (a self-contained page with figures)")
	reportPath := fs.String("report", "", "write the report to `PATH` instead of stdout")
	apply := conventionFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("checkpoint")
	fs.intAtLeast("positions", *positions, 1)
	fs.oneOf("format", *format, "text", "json", "md", "html")
	checkConventions(fs)
	if *asJSON {
		if fs.given("format") && *format != "json" {
			fs.fail("--json and --format %s exclude each other", *format)
		}
		*format = "json"
	}
	if err := fs.check(); err != nil {
		return err
	}
	seedIDs, err := parseIDList("seeds", *seeds)
	if err != nil {
		return err
	}
	seedList := make([]int64, len(seedIDs))
	for i, x := range seedIDs {
		seedList[i] = int64(x)
	}
	if err := checkpointDir("checkpoint", *dir); err != nil {
		return err
	}
	if *reportPath != "" {
		if err := outputFile("report", *reportPath); err != nil {
			return err
		}
	}
	if hf.IsDir(*dir) { // config.json and no meta.json: a Hugging Face GPT-2 or Llama
		if *observed != "" {
			return usagef("--observed: the observation check is for nanoscope's checkpoints (its ids are the investigation's), not a Hugging Face checkpoint")
		}
		fs.exclusive("data", "tokens")
		fs.exclusive("data", "text")
		fs.exclusive("tokens", "text")
		if err := fs.check(); err != nil {
			return err
		}
		return runDiagnoseHF(*dir, *data, *hfTokens, *hfText, *positions, *metrics, *format, *reportPath,
			fs.Lookup("rope-layout").Value.String(), fs.Lookup("gqa-map").Value.String())
	}
	if *hfTokens != "" || *hfText != "" {
		return usagef("--tokens and --text are for Hugging Face checkpoints; pass --data for a nanoscope checkpoint")
	}
	if *metrics != "" {
		if _, err := os.Stat(*metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
	}
	ck, err := checkpoint.Load(*dir)
	if err != nil {
		return err
	}
	override := apply(ck)
	dataPath, err := tokenData(*data, ck)
	if err != nil {
		return err
	}
	tokens, err := tokenfile.Read(dataPath)
	if err != nil {
		return err
	}
	if err := tokenfile.CheckRange(dataPath, tokens, ck.Meta.Config.VocabSize); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	var obs *analysis.Observed
	switch *observed {
	case "":
	case "note":
		obs = analysis.NoteObservation()
	default:
		if obs, err = analysis.ReadObserved(*observed); err != nil {
			return fmt.Errorf("--observed: %w", err)
		}
	}
	if obs != nil {
		if err := observedInVocab(ck, obs, *observed); err != nil {
			return err
		}
	}
	rep, err := analysis.Diagnose(ck, tokens, obs, &analysis.Options{Positions: *positions, FreshSeeds: seedList, MetricsPath: *metrics})
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	var f *os.File
	if *reportPath != "" {
		if f, err = os.Create(*reportPath); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		defer f.Close()
		w = f
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	case "md":
		err = writeMarkdown(w, ck, dataPath, override, rep)
	case "html":
		err = writeHTML(w, ck, dataPath, override, rep)
	default:
		printFindings(w, rep)
		if override != "" {
			fmt.Fprintf(w, "run with %s (--rope-layout/--gqa-map)\n", override)
		}
		fmt.Fprintln(w)
		printReport(w, ck, dataPath, rep)
	}
	if err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		fmt.Fprintf(os.Stderr, "report written to %s\n", *reportPath)
	}
	return nil
}

// observedInVocab refuses an observation whose ids the checkpoint cannot represent: with a
// compact vocabulary, ids outside it all read as <unk>, and the observation would be checked on
// other inputs than the ones seen.
func observedInVocab(ck *checkpoint.Checkpoint, obs *analysis.Observed, what string) error {
	if !usesCompact(ck.Meta) {
		return nil
	}
	path := filepath.Join(ck.Dir, ck.Meta.Variant.VocabMap)
	voc, err := corpus.LoadVocab(path)
	if err != nil {
		return err
	}
	var missing []string
	seen := map[int]bool{}
	for _, id := range append(slices.Clone(obs.Input), obs.Predicted...) {
		if id >= 0 && id < corpus.GPT2VocabSize && int(voc.ToCompact(uint32(id))) == voc.Unk && !seen[id] {
			seen[id] = true
			missing = append(missing, fmt.Sprintf("%d %q", id, voc.Decode(uint32(voc.Unk))))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	enc, err := corpus.NewEncoder()
	if err == nil {
		missing = missing[:0]
		for id := range seen {
			missing = append(missing, fmt.Sprintf("%d %q", id, enc.DecodeOne(uint32(id))))
		}
		slices.Sort(missing)
	}
	ids, are := "ids", "are"
	if len(missing) == 1 {
		ids, are = "id", "is"
	}
	return fmt.Errorf("--observed %s: GPT-2 %s %s %s not in the checkpoint's vocabulary %s (the model would read <unk>), so the observation cannot be checked on this model",
		what, ids, strings.Join(missing, ", "), are, path)
}

// printFindings writes the verdict first: healthy or not, and one line per finding.
func printFindings(w io.Writer, r *analysis.Report) {
	fmt.Fprintf(w, "healthy: %s\n", yesNo(r.Healthy))
	if len(r.Findings) == 0 {
		fmt.Fprintf(w, "findings: none\n")
		return
	}
	fmt.Fprintf(w, "findings:\n")
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %s\n", findingLine(f))
	}
}

// findingLine is "kind: detail (evidence k=v ...) — fix: ..." (the tensors are in --json and
// the md/html reports).
func findingLine(f analysis.Finding) string {
	line := f.Kind + ": " + f.Detail
	if ev := evidenceText(f.Evidence); ev != "" {
		line += " (evidence " + ev + ")"
	}
	if f.Fix != "" {
		line += " — fix: " + f.Fix
	}
	return line
}

// evidenceText renders evidence as k=v pairs in key order.
func evidenceText(ev map[string]any) string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		var v string
		switch x := ev[k].(type) {
		case float64:
			v = strconv.FormatFloat(x, 'g', 4, 64)
		case float32:
			v = strconv.FormatFloat(float64(x), 'g', 4, 32)
		default:
			v = fmt.Sprint(x)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printReport(w io.Writer, ck *checkpoint.Checkpoint, data string, r *analysis.Report) {
	c, v, d := ck.Meta.Config, ck.Meta.Variant, r.Details
	fmt.Fprintf(w, "checkpoint %s: dim %d, %d layers, vocab %d, tied %v, ternary %v, mHC %v, target shift %d, step %d, meta loss %.4g\n",
		ck.Dir, c.Dim, c.NLayers, c.VocabSize, c.WeightTied, v.Ternary, v.MHC, v.TargetShift, ck.Meta.Step, ck.Meta.Loss)
	fmt.Fprintf(w, "data %s: %d positions in %d windows of %d (± : standard error over the windows)\n\n", data, d.Positions, d.Windows, c.MaxSeqLen)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tvalue\n")
	for _, r := range metricRows(r) {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	tw.Flush()

	printLens(w, d.Lens)
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

// metricRows are the headline measurements as (name, value) rows; rates and plain CE carry
// "± SE", their standard error over the windows, when there are two windows or more.
func metricRows(r *analysis.Report) [][2]string {
	m := r.Metrics
	se := func(x, e float64) string {
		if m.Windows < 2 {
			return fmt.Sprintf("%.4f", x)
		}
		return fmt.Sprintf("%.4f ± %.4f", x, e)
	}
	return [][2]string{
		{"copy rate", se(m.CopyRate, m.CopyRateSE)},
		{"next-token accuracy", se(m.NextTokenAccuracy, m.NextTokenAccuracySE)},
		{"copy rate (next != current)", se(m.CopyRateNonRepeat, m.CopyRateNonRepeatSE)},
		{"next-token acc. (next != current)", se(m.NextAccuracyNonRepeat, m.NextAccuracyNonRepeatSE)},
		{"repeat rate (next == current)", fmt.Sprintf("%.4f", m.RepeatRate)},
		{"loss shifted (CE / smoothed)", fmt.Sprintf("%s / %.4f", se(m.LossShifted, m.LossShiftedSE), m.LossShiftedSmoothed)},
		{"loss unshifted (CE / smoothed)", fmt.Sprintf("%s / %.4f", se(m.LossUnshifted, m.LossUnshiftedSE), m.LossUnshiftedSmoothed)},
		{"claimed loss (meta.json)", fmt.Sprintf("%.4g", m.ClaimedLoss)},
		{"unigram entropy of the data", fmt.Sprintf("%.4f", m.UnigramEntropy)},
		{"init-like", fmt.Sprintf("%v (%d/%d tensors moved from init)", m.InitLike, m.TensorsMoved, m.Tensors)},
		{"top logit within 1% of self logit", fmt.Sprintf("%.4f", m.SelfSimilarityShare)},
		{"mean top / self logit", fmt.Sprintf("%.3f / %.3f", m.MeanTopLogit, m.MeanSelfLogit)},
		{"parity max |dlogits|", fmt.Sprintf("%.3g", m.ParityMaxAbsDelta)},
		{"alpha_logit all 0 / grads all 0", fmt.Sprintf("%v / %v", m.AlphaLogitsAllZero, m.AlphaGradsAllZero)},
		{"dead parameters (grad exactly 0)", fmt.Sprintf("%d", m.DeadParams)},
		{"loader hashes match file", fmt.Sprintf("%v", m.LoaderHashesMatch)},
	}
}

func fmtFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// printLens writes the logit lens table of a diagnosis: copy rate and next-token accuracy at
// every decoded point of the residual stream.
func printLens(w io.Writer, lens analysis.Lens) {
	fmt.Fprintf(w, "\nlogit lens (copy rate / next-token accuracy):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range lens.Points {
		fmt.Fprintf(tw, "  %s\t%s\t%.3f\t%.3f\n", p.Point, p.Stream, p.CopyRate, p.NextTokenAccuracy)
	}
	tw.Flush()
}
