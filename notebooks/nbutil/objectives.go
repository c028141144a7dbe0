package nbutil

// Which objective a model minimises (notebook 07): the shifted and unshifted losses and the
// copy rate of trained, fresh and unshifted-control models on the same positions.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// ObjectiveResultsFile is where notebook 07's experiment writes its measurements for the cells
// after it, relative to the repository root.
const ObjectiveResultsFile = "out/results/07_shifted_loss.json"

// ObjectiveResults are the measurements of notebook 07's models on the same validation windows.
type ObjectiveResults struct {
	Positions int        `json:"positions"`
	Unigram   float64    `json:"unigram_entropy"` // of the compact validation split, nats
	Dim       int        `json:"dim"`             // the models' width
	Models    []Measured `json:"models"`
}

// MeasureObjectives measures the losses against the next and the current token and the logit
// alignment of every ObjectiveSubject on windows of its context length spread evenly over the
// compact validation split, positions positions in all.
func MeasureObjectives(root string, positions int) (ObjectiveResults, error) {
	val, err := tokenfile.Read(filepath.Join(root, CorpusDir, corpus.ValCompactFile))
	if err != nil {
		return ObjectiveResults{}, err
	}
	r := ObjectiveResults{Unigram: analysis.UnigramEntropy(val)}
	ss, err := ObjectiveSubjects(root)
	if err != nil {
		return r, err
	}
	for _, s := range ss {
		w, err := analysis.SampleWindows(val, s.S.Config.MaxSeqLen, positions)
		if err != nil {
			return r, err
		}
		r.Positions, r.Dim = w.Positions(), s.S.Config.Dim
		m := Measured{Name: s.Name, Trained: s.Trained}
		if m.Losses, err = analysis.ShiftedLoss(s.S, w); err != nil {
			return r, err
		}
		if m.Alignment, err = analysis.LogitAlignment(s.S, w); err != nil {
			return r, err
		}
		r.Models = append(r.Models, m)
	}
	return r, nil
}

// ReadObjectiveResults reads what MeasureObjectives measured, from root/ObjectiveResultsFile.
func ReadObjectiveResults(root string) (r ObjectiveResults, err error) {
	return r, ReadJSONFile(filepath.Join(root, ObjectiveResultsFile), &r)
}

// ObjectiveTable is a Markdown table of the models: both losses, the objective each minimises,
// and their copy rate, next-token accuracy (on positions whose next token differs from the
// current one) and mean top logit.
func ObjectiveTable(ms []Measured) string {
	table := "| model | CE shifted | CE unshifted | minimises | copy rate (next ≠ current) | next-token acc. (next ≠ current) | mean top logit |\n|---|---|---|---|---|---|---|\n"
	for _, m := range ms {
		table += fmt.Sprintf("| %s | %.3f | %.3f | %s | %s | %s | %.1f |\n", m.Name, m.Losses.Shifted.CE, m.Losses.Unshifted.CE, m.Minimises(),
			Pct(m.Alignment.CopyRateNonRepeat), Pct(m.Alignment.NextAccuracyNonRepeat), m.Alignment.MeanMaxLogit)
	}
	return table
}

// ShowRepeats shows how often the validation split repeats its current token as the next one,
// in compact ids (with the share of those repeats that are <unk> <unk>, given the cpu model's
// vocabulary) and in GPT-2 ids.
func ShowRepeats(root string) error {
	vocab, err := corpus.LoadVocab(filepath.Join(root, CPUModelDir, "vocab.json"))
	if err != nil {
		return err
	}
	compact, err := tokenfile.Read(filepath.Join(root, CorpusDir, corpus.ValCompactFile))
	if err != nil {
		return err
	}
	gpt2, err := tokenfile.Read(filepath.Join(root, CorpusDir, corpus.ValFile))
	if err != nil {
		return err
	}
	n, unkPairs, total := Repeats(compact, vocab.Unk)
	ng, _, totalg := Repeats(gpt2, -1)
	nbdisplay.ShowTable([]string{"validation split", "positions", "next == current", "repeat rate", "of which <unk> <unk>"}, [][]string{
		{"compact ids (the cpu models')", fmt.Sprint(total), fmt.Sprint(n), Pct(float64(n) / float64(total)), Pct(float64(unkPairs) / float64(max(n, 1)))},
		{"GPT-2 ids", fmt.Sprint(totalg), fmt.Sprint(ng), Pct(float64(ng) / float64(totalg)), "—"},
	})
	return nil
}

// Measured is one model's losses and logit alignment on validation windows.
type Measured struct {
	Name      string             `json:"name"`
	Trained   string             `json:"trained"` // what its weights were trained on
	Losses    analysis.Losses    `json:"losses"`
	Alignment analysis.Alignment `json:"alignment"`
}

// Minimises names the objective with the lower cross-entropy.
func (m Measured) Minimises() string {
	if m.Losses.Unshifted.CE < m.Losses.Shifted.CE {
		return "unshifted (current token)"
	}
	return "shifted (next token)"
}

// Short is the model's name without its directory, for figure labels.
func (m Measured) Short() string { return strings.TrimSuffix(m.Name, " (out/cpu)") }

// ObjectiveSubject is a model whose objective notebook 07 measures.
type ObjectiveSubject struct {
	Name, Trained string
	S             *analysis.Subject
}

// ObjectiveSubjects returns out/cpu, the fresh initialisation it started from (its own seed),
// and the unshifted control (trained when missing, progress to stdout).
func ObjectiveSubjects(root string) ([]ObjectiveSubject, error) {
	cpu, err := TrainedCPU(root)
	if err != nil {
		return nil, err
	}
	if _, _, err := EnsureUnshiftedModel(root, os.Stdout); err != nil {
		return nil, err
	}
	un, err := LoadModel(root, UnshiftedModelDir)
	if err != nil {
		return nil, err
	}
	trained, err := analysis.FromCheckpoint(cpu)
	if err != nil {
		return nil, err
	}
	fresh, err := FreshOf(cpu)
	if err != nil {
		return nil, err
	}
	control, err := analysis.FromCheckpoint(un)
	return []ObjectiveSubject{
		{"trained (out/cpu)", fmt.Sprintf("next token, %d steps", cpu.Meta.Step), trained},
		{"fresh init", fmt.Sprintf("nothing (seed %d, the weights out/cpu started from)", cpu.Meta.Variant.Seed), fresh},
		{"unshifted control", fmt.Sprintf("current token, %d steps", un.Meta.Step), control},
	}, err
}

// ShowObjectiveSubjects tabulates the models: what they were trained on, their configuration,
// target shift and logged loss.
func ShowObjectiveSubjects(ss []ObjectiveSubject) {
	var rows [][]string
	for _, s := range ss {
		c, v := s.S.Config, s.S.Variant
		claimed := "—"
		if s.S.Meta != nil {
			claimed = fmt.Sprintf("%.3f (step %d)", s.S.Meta.Loss, s.S.Meta.Step)
		}
		rows = append(rows, []string{s.Name, s.Trained, fmt.Sprintf("dim %d, %d layers, vocab %d, window %d", c.Dim, c.NLayers, c.VocabSize, c.MaxSeqLen),
			fmt.Sprint(v.TargetShift), claimed})
	}
	nbdisplay.ShowTable([]string{"model", "trained on", "configuration", "target shift in meta", "logged loss (label-smoothed)"}, rows)
}

// ShowLosses tabulates and plots each model's shifted and unshifted losses.
func ShowLosses(name string, ms []Measured) {
	var rows [][]string
	var groups []string
	var sh, un []float64
	for _, m := range ms {
		l := m.Losses
		rows = append(rows, []string{m.Name, F3(l.Shifted.CE), F3(l.Unshifted.CE), fmt.Sprintf("%+.3f", l.Unshifted.CE-l.Shifted.CE),
			F3(l.Shifted.Smoothed), F3(l.Unshifted.Smoothed), fmt.Sprintf("%.1f", m.Alignment.MeanMaxLogit), m.Minimises()})
		groups = append(groups, m.Short())
		sh, un = append(sh, l.Shifted.CE), append(un, l.Unshifted.CE)
	}
	nbdisplay.ShowTable([]string{"model", "CE shifted", "CE unshifted", "unshifted − shifted", "smoothed shifted", "smoothed unshifted", "mean top logit", "lower loss"}, rows)
	Save(plots.GroupedBars(name, "Cross-entropy: next vs current token", "cross-entropy (nats/token)", groups, []plots.BarSeries{
		{Label: "next token (shifted)", Values: sh}, {Label: "current token (unshifted)", Values: un}}))
}

// ShowCopyRates tabulates and plots each model's copy rate and next-token accuracy, over all
// positions and where the next token differs from the current one, with the ranks of the
// current and the next token.
func ShowCopyRates(name string, ms []Measured) {
	var rows [][]string
	var groups []string
	var cAll, nAll, cNR, nNR []float64
	for _, m := range ms {
		a := m.Alignment
		rows = append(rows, []string{m.Name, Pct(a.RepeatRate), Pct(a.CopyRate), Pct(a.NextTokenAccuracy), Pct(a.CopyRateNonRepeat), Pct(a.NextAccuracyNonRepeat),
			fmt.Sprintf("%.1f / %.0f", a.CurrentRank.Mean, a.CurrentRank.Median), fmt.Sprintf("%.1f / %.0f", a.NextRank.Mean, a.NextRank.Median)})
		groups = append(groups, m.Short())
		cAll, nAll = append(cAll, 100*a.CopyRate), append(nAll, 100*a.NextTokenAccuracy)
		cNR, nNR = append(cNR, 100*a.CopyRateNonRepeat), append(nNR, 100*a.NextAccuracyNonRepeat)
	}
	nbdisplay.ShowTable([]string{"model", "repeat rate (these positions)", "copy rate", "next-token acc.", "copy rate, non-repeat", "next-token acc., non-repeat",
		"rank of current token (mean / median)", "rank of next token (mean / median)"}, rows)
	Save(plots.GroupedBars(name, "Copy rate vs next-token accuracy", "share of positions (%)", groups, []plots.BarSeries{
		{Label: "copy rate, all", Values: cAll}, {Label: "next-token acc., all", Values: nAll},
		{Label: "copy rate, next ≠ current", Values: cNR}, {Label: "next acc., next ≠ current", Values: nNR}}))
}

// Repeats counts the positions t with ids[t+1] == ids[t] (of total), and among them those
// that repeat the token unk (pass −1 for none).
func Repeats(ids []uint32, unk int) (n, unkPairs, total int) {
	for t := 0; t+1 < len(ids); t++ {
		if ids[t+1] == ids[t] {
			n++
			if int(ids[t]) == unk {
				unkPairs++
			}
		}
	}
	return n, unkPairs, len(ids) - 1
}
