package nbutil

// The untied head (notebook 05): the cpu preset trained with and without a tied head, and the
// four models (fresh and trained, tied and untied) compared on the same positions.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/metrics"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// TiedAndUntied returns the tied run CPUModelDir and the untied one UntiedModelDir (`--untied`,
// the same seed, data and steps), training either when it is missing.
func TiedAndUntied(root string) (tied, untied *checkpoint.Checkpoint, err error) {
	if tied, err = TrainedCPU(root); err != nil {
		return nil, nil, err
	}
	if _, _, err = EnsureVariantRun(root, UntiedModelDir, os.Stdout, "--untied"); err != nil {
		return nil, nil, err
	}
	untied, err = LoadModel(root, UntiedModelDir)
	return tied, untied, err
}

// HeadModels returns the names and subjects of fresh tied, fresh untied, trained tied and
// trained untied: the fresh ones are the initialisations the runs started from.
func HeadModels(tied, untied *checkpoint.Checkpoint) ([]string, []*analysis.Subject, error) {
	names := []string{"fresh, tied", "fresh, untied", fmt.Sprintf("trained, tied (%d steps)", tied.Meta.Step), fmt.Sprintf("trained, untied (%d steps)", untied.Meta.Step)}
	var ss []*analysis.Subject
	for i, ck := range []*checkpoint.Checkpoint{tied, untied, tied, untied} {
		s, err := analysis.FromCheckpoint(ck)
		if i < 2 {
			s, err = FreshOf(ck)
		}
		if err != nil {
			return nil, nil, err
		}
		ss = append(ss, s)
	}
	return names, ss, nil
}

// Evals returns a run's validation passes from its metrics.jsonl.
func Evals(ck *checkpoint.Checkpoint) (out []metrics.Record, err error) {
	ms, err := ReadMetrics(filepath.Join(ck.Dir, "metrics.jsonl"))
	for _, m := range ms {
		if m.Kind == "eval" {
			out = append(out, m)
		}
	}
	return out, err
}

// ShowHeadRuns tabulates the runs: head, seed, steps, wall time and last validation pass.
func ShowHeadRuns(root string, cks ...*checkpoint.Checkpoint) {
	var rows [][]string
	for _, ck := range cks {
		m := ck.Meta
		ms := Must(ReadMetrics(filepath.Join(ck.Dir, "metrics.jsonl")))
		head := "tied (logits = x · tok_embedᵀ)"
		if !m.Config.WeightTied {
			head = "untied (logits = x · lm_headᵀ, lm_head N(0, 0.02))"
		}
		rows = append(rows, []string{strings.TrimPrefix(ck.Dir, root+"/"), head, strconv.Itoa(int(m.Variant.Seed)), strconv.Itoa(m.Step),
			fmt.Sprintf("%.0f s", ms[len(ms)-1].ElapsedS), fmt.Sprintf("%.3f", MetaValue(m, "val_ce")), Pct(MetaValue(m, "val_acc")), Pct(MetaValue(m, "val_copy"))})
	}
	nbdisplay.ShowTable([]string{"run", "head", "seed", "steps", "wall time", "val CE (nats)", "val next-token acc.", "val copy rate"}, rows)
}

// PlotHeadRuns plots the validation CE, next-token accuracy and copy rate of the tied and the
// untied run at every validation pass.
func PlotHeadRuns(tied, untied *checkpoint.Checkpoint) {
	var ce, rates []plots.Series
	for _, ck := range []*checkpoint.Checkpoint{tied, untied} {
		name := map[bool]string{true: "tied", false: "untied"}[ck.Meta.Config.WeightTied]
		var steps []int
		var c, a, cp []float64
		for _, m := range Must(Evals(ck)) {
			steps = append(steps, m.Step)
			c, a, cp = append(c, *m.ValCE), append(a, *m.ValAcc), append(cp, *m.ValCopy)
		}
		ce = append(ce, StepSeries("validation CE, "+name, steps, c))
		rates = append(rates, StepSeries("next-token acc., "+name, steps, a), StepSeries("copy rate, "+name, steps, cp))
	}
	Save(plots.LossCurves("05_val_ce_tied_vs_untied", ce, []plots.HLine{{Label: "unigram CE (validation)", Y: MetaValue(tied.Meta, "unigram_xent_val")}}))
	Save(plots.LinesOverSteps("05_val_acc_copy_tied_vs_untied", "Validation: next-token accuracy and copy rate", "share of positions", rates, false))
}

// EvalRepeats counts, in the first windows validation passes use (`nanoscope train`'s
// --eval-windows, 64), the positions whose next token repeats the current one, and among them
// those that repeat GPT-2's single space (indentation), of all positions.
func EvalRepeats(root string, ck *checkpoint.Checkpoint, windows int) (repeats, spaces, positions int, err error) {
	val, err := ValTokensFor(root, ck)
	if err != nil {
		return 0, 0, 0, err
	}
	vocab, err := CompactVocab(ck)
	if err != nil {
		return 0, 0, 0, err
	}
	T := ck.Meta.Config.MaxSeqLen
	for k := range min(windows, tokenfile.NumWindows(len(val), T)) {
		in, next := tokenfile.Window(val, k, T, 1)
		for i := range in {
			positions++
			if in[i] == next[i] {
				repeats++
				if vocab.ToGPT2(in[i]) == 220 { // " ": GPT-2's BPE writes indentation as repeated spaces
					spaces++
				}
			}
		}
	}
	return repeats, spaces, positions, nil
}

// HeadAlignments measures LogitAlignment of each subject on the windows.
func HeadAlignments(ss []*analysis.Subject, w *analysis.Windows) ([]analysis.Alignment, error) {
	var al []analysis.Alignment
	for _, s := range ss {
		a, err := analysis.LogitAlignment(s, w)
		if err != nil {
			return nil, err
		}
		al = append(al, a)
	}
	return al, nil
}

// ShowHeadAlignments tabulates the alignments of the named models with the self-similarity
// test and plots copy rate against next-token accuracy.
func ShowHeadAlignments(name string, names []string, al []analysis.Alignment) {
	var rows [][]string
	series := []plots.BarSeries{{Label: "copy rate"}, {Label: "next-token acc."}, {Label: "copy (next ≠ cur.)"}, {Label: "next acc. (next ≠ cur.)"}}
	for i, a := range al {
		rows = append(rows, []string{names[i], Pct(a.CopyRate), Pct(a.NextTokenAccuracy), Pct(a.CopyRateNonRepeat), Pct(a.NextAccuracyNonRepeat),
			fmt.Sprintf("%.2f", a.MeanMaxLogit), fmt.Sprintf("%.2f", a.SelfSimilarity.MeanSelfLogit), Pct(a.SelfSimilarity.ShareWithin1Pct)})
		for j, v := range []float64{a.CopyRate, a.NextTokenAccuracy, a.CopyRateNonRepeat, a.NextAccuracyNonRepeat} {
			series[j].Values = append(series[j].Values, v)
		}
	}
	nbdisplay.ShowTable([]string{"model", "copy rate", "next-token acc.", "copy rate (next ≠ current)", "next-token acc. (next ≠ current)", "mean top logit", "mean self logit", "top within 1% of self"}, rows)
	Save(plots.GroupedBars(name, fmt.Sprintf("Copying vs predicting, %d positions", al[0].Positions), "share of positions", names, series))
}
