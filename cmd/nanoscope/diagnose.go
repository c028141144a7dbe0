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
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

func init() {
	register("diagnose", "diagnose a checkpoint: healthy or not, its findings (with fixes), hypotheses H1-H7 of the copying symptom", runDiagnose)
}

func runDiagnose(args []string) error {
	fs := newFlags("diagnose", "diagnose --checkpoint DIR [--data DIR|TOKENFILE | --tokens IDS | --text TEXT] [--observed FILE|note] [--positions N] [--json | --format text|json|md|html] [--report PATH]")
	dir := fs.String("checkpoint", "", "checkpoint `PATH` (required): a directory (nanoscope's, or a Hugging Face GPT-2, GPT-NeoX, Llama, Qwen2, Qwen3, Mistral, Gemma, Gemma 2 or Phi-3: config.json + model.safetensors), a nanoGPT ckpt.pt, a nanochat checkpoint directory or model_<step>.pt, or an llm.c .bin")
	hfTokens := fs.String("tokens", "", "Hugging Face checkpoints: comma-separated evaluation `IDS` in the model's own ids, instead of --data")
	hfText := fs.String("text", "", "Hugging Face checkpoints: evaluation `TEXT` tokenized with GPT-2 BPE (only for a model with GPT-2's vocabulary)")
	data := fs.String("data", "", "token data in the checkpoint's ids: a corpus `DIR` (its validation split: val.compact.bin for a compact-vocabulary model, else val.bin) or a token file; compact ids must have the checkpoint's vocab.json beside them (default: the corpus meta.json records)")
	observed := fs.String("observed", "", "what your inference printed: a JSON `FILE` {\"input\":[ids],\"predicted\":[top-1 id per position],\"logits\":[values]} (nanoscope's checkpoints: GPT-2 ids, logits required, \"dim\":D; others: the model's ids, \"predicted\" or a greedy continuation as \"generated\", optional top logits, for the engine fingerprint), or note for the investigation note's observation")
	positions := fs.Int("positions", 1024, "`N` positions to evaluate (in windows of max_seq_len), at least 1")
	seeds := fs.String("seeds", "1,2,3", "comma-separated `SEEDS` of the fresh initialisations the observation is checked against")
	metrics := fs.String("metrics", "", "the run's metrics.jsonl `FILE` (default: DIR/metrics.jsonl when present)")
	asJSON := fs.Bool("json", false, "print the whole report as JSON (the same as --format json)")
	format := fs.String("format", "text", "report `FORMAT`: text, json, md (Markdown) or html (a self-contained page with figures)")
	reportPath := fs.String("report", "", "write the report to `PATH` instead of stdout")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to `FILE`")
	conventions := conventionFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("checkpoint")
	fs.intAtLeast("positions", *positions, 1)
	fs.oneOf("format", *format, "text", "json", "md", "html")
	fs.exclusive("data", "tokens")
	fs.exclusive("data", "text")
	fs.exclusive("tokens", "text")
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
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	if *metrics != "" {
		if _, err := os.Stat(*metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
	}
	l, err := openCheckpoint("checkpoint", *dir, *conventions)
	if err != nil {
		return err
	}
	ev, err := evalTokens(l, *data, *hfTokens, *hfText)
	if err != nil {
		return err
	}
	var obs *analysis.Observed
	switch {
	case *observed == "":
	case *observed == "note" && l.Checkpoint() == nil:
		return usagef("--observed note: the investigation note's observation is for nanoscope's checkpoints (its ids are the investigation's), not a %s checkpoint", l.Arch())
	case *observed == "note":
		obs = analysis.NoteObservation()
	default:
		if obs, err = analysis.ReadObserved(*observed); err != nil {
			return fmt.Errorf("--observed: %w", err)
		}
	}
	if obs != nil && l.Checkpoint() != nil {
		if err := observedInVocab(l.Checkpoint(), obs, *observed); err != nil {
			return err
		}
	}
	s, err := analysis.FromLoaded(l)
	if err != nil {
		return err
	}
	opts := &analysis.Options{Positions: *positions, FreshSeeds: seedList, MetricsPath: *metrics, Progress: terminal(os.Stderr)}
	if n := len(ev.tokens) - tokenfile.MaxShift; n < s.SeqLen {
		if n < 2 {
			fail := fmt.Errorf
			if ev.flag {
				fail = usagef
			}
			return fail("%s: %d ids are too few: the diagnosis needs at least %d (a window of 2 and the %d targets after it)", ev.name, len(ev.tokens), 2+tokenfile.MaxShift, tokenfile.MaxShift)
		}
		opts.SeqLen = n
	}
	rep, err := analysis.DiagnoseSubject(s, ev.tokens, obs, opts)
	if err != nil {
		return err
	}
	if rep.Details.Inference, err = inferenceChecks(l, ev.tokens); err != nil {
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
	setup := setupLines(l, ev.name, rep)
	switch *format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	case "md":
		err = document(l, setup, rep).WriteMarkdown(w)
	case "html":
		err = document(l, setup, rep).WriteHTML(w)
	default:
		printFindings(w, rep)
		fmt.Fprintln(w)
		printReport(w, l, setup, rep)
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

// evaluation is the token stream a diagnosis runs on and where it came from.
type evaluation struct {
	tokens []uint32
	name   string // the file read, or the flag
	flag   bool   // the ids are a flag's value (--tokens, --text): too few is a usage error
}

// evalTokens reads the evaluation ids in the checkpoint's id space. A checkpoint with
// meta.json takes --data only: a corpus directory (its validation split in the checkpoint's
// ids; default: the corpus meta.json records) or a token file, checked against its vocab.json.
// Any other takes --tokens (the model's ids), --text (GPT-2 BPE, only for a model with GPT-2's
// 50257 ids) or --data (a token file of the model's ids, or, for a GPT-2 vocabulary, a corpus
// directory's val.bin).
func evalTokens(l *load.Loaded, data, tokens, text string) (*evaluation, error) {
	V := l.Family.Dims().VocabSize
	if ck := l.Checkpoint(); ck != nil {
		if tokens != "" || text != "" {
			return nil, usagef("--tokens and --text are for Hugging Face checkpoints; pass --data for a nanoscope checkpoint")
		}
		path, err := tokenData(data, ck)
		if err != nil {
			return nil, err
		}
		ids, err := tokenfile.Read(path)
		if err != nil {
			return nil, err
		}
		if err := tokenfile.CheckRange(path, ids, V); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		return &evaluation{tokens: ids, name: path}, nil
	}
	gpt2Vocab := V == corpus.GPT2VocabSize || l.PaddedVocab == corpus.GPT2VocabSize
	r := &evaluation{}
	switch {
	case tokens != "":
		ids, err := parseIDs(tokens)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			r.tokens = append(r.tokens, uint32(id))
		}
		r.name, r.flag = "--tokens", true
	case text != "" && !gpt2Vocab:
		return nil, fmt.Errorf("--text: the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: nanoscope has no tokenizer for it; pass its ids with --tokens or a token file with --data",
			l.Arch(), V, corpus.GPT2VocabSize)
	case text != "":
		enc, err := corpus.NewEncoder()
		if err != nil {
			return nil, err
		}
		r.tokens, r.name, r.flag = enc.Encode(text), "--text (GPT-2 BPE)", true
	case data == "":
		return nil, usagef("a Hugging Face checkpoint needs evaluation ids: --data TOKENFILE, --tokens IDS or --text TEXT")
	default:
		path := data
		if st, err := os.Stat(data); err == nil && st.IsDir() {
			if !gpt2Vocab {
				return nil, fmt.Errorf("--data %s is a corpus directory (GPT-2 or compact ids) but the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: pass a token file of the model's own ids",
					data, l.Arch(), V, corpus.GPT2VocabSize)
			}
			path = filepath.Join(data, corpus.ValFile)
		}
		ids, err := tokenfile.Read(path)
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		r.tokens, r.name = ids, path
	}
	if err := tokenfile.CheckRange(r.name, r.tokens, V); err != nil {
		if tokens != "" { // a flag's value: a usage error, as in logits
			return nil, usagef("the ids are not the model's: %v", err)
		}
		return nil, fmt.Errorf("the ids are not the model's: %w", err)
	}
	return r, nil
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
	if ev := analysis.EvidenceText(f.Evidence, 0); ev != "" {
		line += " (evidence " + ev + ")"
	}
	if f.Fix != "" {
		line += " — fix: " + f.Fix
	}
	return line
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// setupLines say what was diagnosed on what: the checkpoint with its sizes and the
// conventions in effect, what the loader inferred, the conventions run other than the
// checkpoint's own, and the evaluation data.
func setupLines(l *load.Loaded, data string, r *analysis.Report) []string {
	dims, d := l.Family.Dims(), r.Details
	var lines []string
	if ck := l.Checkpoint(); ck != nil {
		c, v := ck.Meta.Config, ck.Meta.Variant
		lines = append(lines, fmt.Sprintf("checkpoint %s: dim %d, %d layers, vocab %d, tied %v, ternary %v, mHC %v, target shift %d, step %d, meta loss %.4g; %s",
			l.Dir, c.Dim, c.NLayers, c.VocabSize, c.WeightTied, v.Ternary, v.MHC, v.TargetShift, ck.Meta.Step, ck.Meta.Loss, conventionsText(l)))
	} else {
		lines = append(lines, fmt.Sprintf("checkpoint %s (%s): dim %d, %d layers, %d heads, vocab %d; %s",
			l.Dir, formatArch(l), dims.DModel, dims.NLayers, dims.NHeads, dims.VocabSize, conventionsText(l)))
	}
	if len(l.Notes) > 0 {
		lines = append(lines, "loaded: "+strings.Join(l.Notes, "; "))
	}
	if o := overrideLine(l); o != "" {
		lines = append(lines, o)
	}
	seq := 0
	if d.Windows > 0 {
		seq = d.Positions / d.Windows
	}
	return append(lines, fmt.Sprintf("data %s: %d positions in %d windows of %d (± : standard error over the windows)", data, d.Positions, d.Windows, seq))
}

// printReport writes the report after the findings: setup, headline measurements, logit
// lens, activation norms, CE by target offset, hypotheses and summary.
func printReport(w io.Writer, l *load.Loaded, setup []string, r *analysis.Report) {
	d := r.Details
	for _, line := range setup {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tvalue\n")
	for _, row := range measurements(r, l).Rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	tw.Flush()

	printLens(w, d.Lens)
	ffn, streams := blockParts(l.Family)
	fmt.Fprintf(w, "\nactivation RMS per layer (embed %.3f):\n", d.ActNorms.Embed)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  layer\tresid_pre\tattn_out\t%s_out\tresid_post\tattn/resid\t%s/resid", ffn, ffn)
	if streams {
		fmt.Fprintf(tw, "\tmax|s0-s1|")
	}
	fmt.Fprintln(tw)
	for _, a := range d.ActNorms.Layers {
		fmt.Fprintf(tw, "  %d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f", a.Layer, a.ResidPre, a.AttnOut, a.FFNOut, a.ResidPost, a.AttnRatio, a.FFNRatio)
		if streams {
			fmt.Fprintf(tw, "\t%.3g", a.StreamAsymmetry)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if cat := d.Catalog; cat != nil {
		fmt.Fprintf(w, "\ncross-entropy by target offset %v (unigram %.3f):\n", cat.Offsets, cat.Unigram)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range append([]analysis.OffsetCE{cat.AsLoaded}, cat.Conditions...) {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Condition, fmtFloats3(o.CE))
		}
		tw.Flush()
		printSearch(w, cat)
	}
	if fp := d.Engine; fp != nil {
		fmt.Fprintf(w, "\nengine fingerprint (%d positions): %s — %s\n", fp.Positions, fp.Verdict, fp.Detail)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		var ran []analysis.EngineRun
		for _, r := range fp.Runs {
			if r.Skipped == "" {
				ran = append(ran, r)
			}
		}
		for i, r := range ran {
			if i == 8 {
				fmt.Fprintf(tw, "  … %d more runs (--json lists them)\n", len(ran)-i)
				break
			}
			fmt.Fprintf(tw, "  %s\tagreement %.3f ± %.3f\n", r.Name, r.Agreement, r.SE)
		}
		tw.Flush()
	}
	printInference(w, d.Inference)
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
		fmt.Fprintf(w, "  %s %-14s %s\n     %s\n", h.ID, h.Verdict, h.Name, h.Evidence)
	}
	fmt.Fprintf(w, "\nsummary: %s\n", r.Summary)
}

// printSearch writes the convention search (the candidates of its screen by gain, the skipped
// ones counted) and the earned-health checks: CE by position and the lens's depth.
func printSearch(w io.Writer, cat *analysis.Catalog) {
	var ran []analysis.Candidate
	skipped := 0
	for _, c := range cat.Search {
		if c.Skipped != "" {
			skipped++
		} else {
			ran = append(ran, c)
		}
	}
	sort.SliceStable(ran, func(i, j int) bool { return ran[i].Gain > ran[j].Gain })
	if len(cat.Search) == 0 {
		fmt.Fprintf(w, "\nconvention search: not run (every tensor is an untrained draw: there is no training to recover)\n")
	} else {
		printScreen(w, ran, skipped)
	}
	fmt.Fprintf(w, "CE by position (offset %d):", cat.AsLoaded.Best)
	for _, b := range cat.PositionCE {
		fmt.Fprintf(w, " %d–%d %.3f;", b.From, b.To-1, b.CE)
	}
	pb := cat.PositionBreak
	fmt.Fprintf(w, " largest rise %+.3f ± %.3f nats (break: %s)\n", pb.Excess, pb.SE, yesNo(pb.Break))
	if l := cat.LensDepth; l.Point != "" {
		fmt.Fprintf(w, "lens depth: best earlier point %s accuracy %.3f vs output %.3f (abnormal: %s)\n", l.Point, l.Accuracy, l.Final, yesNo(l.Abnormal))
	}
}

// printScreen writes the screen's candidates that ran, best first (at most 8).
func printScreen(w io.Writer, ran []analysis.Candidate, skipped int) {
	fmt.Fprintf(w, "\nconvention search: %d alternatives screened on %d positions (%d not applicable); best first, gain = CE as loaded − CE under the alternative:\n",
		len(ran), firstPositions(ran), skipped)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range ran[:min(8, len(ran))] {
		what := fmt.Sprintf("%s=%s (loaded %s)", c.Flip.Convention, c.Flip.Value, c.Flip.Loaded)
		if c.Flip.Edit != nil {
			what = c.Flip.Edit.What
		}
		fmt.Fprintf(tw, "  round %d\t%s\tCE %.3f at offset %d\tgain %+.3f ± %.3f\n", c.Round, what, c.CE, c.Offset, c.Gain, c.SE)
	}
	tw.Flush()
}

func firstPositions(cs []analysis.Candidate) int {
	if len(cs) == 0 {
		return 0
	}
	return cs[0].Positions
}

// blockParts reads off the family's hook names what a block's parts are called: the
// feed-forward sub-block ("ffn" for the ternary model, "mlp" for GPT-2 and Llama), and
// whether the residual runs in two streams (mHC).
func blockParts(f gomlxmodel.Family) (ffn string, streams bool) {
	hooks := f.HookNames()
	ffn = gomlxmodel.SubFFN
	if slices.Contains(hooks, gomlxmodel.SubHook(0, gomlxmodel.SubMLP, gomlxmodel.HookOut)) {
		ffn = gomlxmodel.SubMLP
	}
	return ffn, slices.Contains(hooks, gomlxmodel.StreamHook(0, gomlxmodel.HookResidPre, 1))
}

func fmtFloats3(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
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
