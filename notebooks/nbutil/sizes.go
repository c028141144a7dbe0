package nbutil

// Models of several sizes (notebook 08): parameter counts, measurements on the same
// validation positions, and the d20 run an H100 left in the repository.

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// ParamCount is the number of scalar parameters of a configuration.
func ParamCount(c config.Config, v config.Variant) int {
	n := 0
	for _, shape := range c.TensorShapes(v) {
		k := 1
		for _, d := range shape {
			k *= d
		}
		n += k
	}
	return n
}

// Sized is one model measured on validation windows.
type Sized struct {
	Name      string             `json:"name"`
	Dim       int                `json:"dim"`
	Layers    int                `json:"layers"`
	Params    int                `json:"params"`
	Steps     int                `json:"steps"` // 0: fresh initialisation
	Losses    analysis.Losses    `json:"losses"`
	Alignment analysis.Alignment `json:"alignment"`
}

// Measure evaluates the subject on positions positions of the token ids val.
func Measure(name string, s *analysis.Subject, steps int, val []uint32, positions int) (Sized, error) {
	out := Sized{Name: name, Dim: s.Config.Dim, Layers: s.Config.NLayers, Params: ParamCount(s.Config, s.Variant), Steps: steps}
	w, err := analysis.SampleWindows(val, s.Config.MaxSeqLen, positions)
	if err == nil {
		out.Losses, err = analysis.ShiftedLoss(s, w)
	}
	if err == nil {
		out.Alignment, err = analysis.LogitAlignment(s, w)
	}
	return out, err
}

// MetaValue returns meta.json's number key, or panics (a notebook helper).
func MetaValue(m checkpoint.Meta, key string) float64 { return Must(MetaFloat(m, key)) }

// ShowRuns tabulates training runs (model, parameters, tokens, wall time, last validation)
// and plots their validation CE against the unigram reference of the first.
func ShowRuns(root, name string, cks ...*checkpoint.Checkpoint) {
	var rows [][]string
	var series []plots.Series
	for _, ck := range cks {
		c, v, m := ck.Meta.Config, ck.Meta.Variant, ck.Meta
		wall := 0.0
		var x, y []float64
		for _, r := range Must(ReadMetrics(filepath.Join(ck.Dir, "metrics.jsonl"))) {
			wall = max(wall, r.ElapsedS)
			if r.Kind == "eval" && r.ValCE != nil {
				x, y = append(x, float64(r.Step)), append(y, *r.ValCE)
			}
		}
		rows = append(rows, []string{strings.TrimPrefix(ck.Dir, root+"/"), fmt.Sprintf("dim %d, %d layers, %d heads, FFN %d", c.Dim, c.NLayers, c.NHeads, c.FFNDim()),
			fmt.Sprint(ParamCount(c, v)), fmt.Sprintf("%d x %d x %d", m.Step, c.BatchSize, c.MaxSeqLen), fmt.Sprint(m.Step * c.BatchSize * c.MaxSeqLen),
			fmt.Sprintf("%.0f s", wall), fmt.Sprintf("%.3f", MetaValue(m, "val_ce")), Pct(MetaValue(m, "val_acc")), Pct(MetaValue(m, "val_copy"))})
		series = append(series, plots.Series{Label: fmt.Sprintf("val. CE, dim %d x %d layers", c.Dim, c.NLayers), X: x, Y: y})
	}
	nbdisplay.ShowTable([]string{"run", "model", "parameters", "steps x batch x window", "training tokens", "wall time",
		"val CE (last pass)", "val next-token acc.", "val copy rate"}, rows)
	Save(plots.LossCurves(name, series, []plots.HLine{{Label: "unigram CE (validation)", Y: MetaValue(cks[0].Meta, "unigram_xent_val")}}))
}

// ShowSized tabulates measured models and the diagnoses of the GPU runs, and plots copy rate
// against next-token accuracy where the next token differs from the current one.
func ShowSized(name string, ms []Sized, gpu []GPURun) {
	var rows [][]string
	var groups []string
	var cNR, nNR []float64
	add := func(name string, params, steps int, a analysis.Alignment, shifted, unshifted float64) {
		rows = append(rows, []string{name, fmt.Sprint(params), fmt.Sprint(steps), Pct(a.CopyRate), Pct(a.NextTokenAccuracy), Pct(a.CopyRateNonRepeat), Pct(a.NextAccuracyNonRepeat),
			fmt.Sprintf("%.3f", shifted), fmt.Sprintf("%.3f", unshifted), fmt.Sprintf("%.1f", a.MeanMaxLogit)})
		groups = append(groups, name)
		cNR, nNR = append(cNR, 100*a.CopyRateNonRepeat), append(nNR, 100*a.NextAccuracyNonRepeat)
	}
	for _, m := range ms {
		add(m.Name, m.Params, m.Steps, m.Alignment, m.Losses.Shifted.CE, m.Losses.Unshifted.CE)
	}
	for _, r := range gpu {
		c, dm := r.Meta.Config, r.Diagnose.Metrics
		add(fmt.Sprintf("%s (dim %d x %d) trained", r.Name, c.Dim, c.NLayers), ParamCount(c, r.Meta.Variant), r.Meta.Step, r.Diagnose.Details.Alignment, dm.LossShifted, dm.LossUnshifted)
	}
	nbdisplay.ShowTable([]string{"model", "parameters", "steps", "copy rate", "next-token acc.", "copy rate, next ≠ current", "next-token acc., next ≠ current",
		"CE shifted", "CE unshifted", "mean top logit"}, rows)
	Save(plots.GroupedBars(name, "Copy vs predict, where next ≠ current", "share of positions (%)", groups, []plots.BarSeries{
		{Label: "copy rate", Values: cNR}, {Label: "next-token accuracy", Values: nNR}}))
}

// D20Run is what the d20 run on an H100 left: the files every GPU run keeps (GPURun) and the
// logged training CE.
type D20Run struct {
	GPURun
	Train, TrainCE []float64 // steps and CE of the logged training steps
}

// D20Label names the H100 d20 run in tables and plots.
const D20Label = "d20 (20k, H100)"

// LoadD20 reads the d20 run in D20RunDir.
func LoadD20(root string) (r D20Run, err error) {
	dir := filepath.Join(root, D20RunDir)
	if r.GPURun, err = LoadGPURun(dir, "d20", D20Label); err != nil {
		return r, err
	}
	ms, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return r, err
	}
	for _, m := range ms {
		if m.Kind == "train" {
			r.Train, r.TrainCE = append(r.Train, float64(m.Step)), append(r.TrainCE, m.CE)
		}
	}
	return r, nil
}

// Passes says how many times a run on GPT-2 ids went over the train split of the corpus in
// root, when its unigram reference shows that it is the same corpus.
func Passes(root string, m checkpoint.Meta, uni float64) string {
	st, err := corpus.LoadStats(filepath.Join(root, CorpusDir, corpus.StatsFile))
	if err != nil || math.Abs(st.GPT2.UnigramXentVal-uni) > 1e-9 {
		return "unknown (not the corpus in data/rust)"
	}
	tokens := m.Step * m.Config.BatchSize * m.Config.MaxSeqLen
	return fmt.Sprintf("%.1f (%d tokens trained on, %d in the train split): hence training CE below validation CE", float64(tokens)/float64(st.TrainTokens), tokens, st.TrainTokens)
}

// ShowD20Curves plots the d20 run's training and validation CE from the first logged step
// whose training CE is below twice the unigram reference uni.
func ShowD20Curves(name string, d D20Run, uni float64) {
	from := 0
	for i, ce := range d.TrainCE {
		if ce < 2*uni {
			from = i
			break
		}
	}
	j := 0
	for j < len(d.Eval) && d.Eval[j] < d.Train[from] {
		j++
	}
	Save(plots.LossCurves(name, []plots.Series{
		{Label: "train CE (every 100th step)", X: d.Train[from:], Y: d.TrainCE[from:]},
		{Label: "validation CE", X: d.Eval[j:], Y: d.EvalCE[j:]},
	}, []plots.HLine{{Label: "unigram CE (validation)", Y: uni}}))
}

// SizesRunDir holds d20, d40 and d60 trained for the same 6,300 steps on H200s by
// bench/run_sizes_gpu.sh (their checkpoints are not kept; their metrics, logits and diagnosis are).
const SizesRunDir = "bench/results/sizes_h200"

// GPURun is what a run trained on a GPU left in the repository: meta.json, the validation
// passes of metrics.jsonl, NAME_diagnose.json and NAME_logits.json (top 5 on the note's tokens).
type GPURun struct {
	Name                            string
	Meta                            checkpoint.Meta
	Eval, EvalCE, EvalAcc, EvalCopy []float64 // steps and figures of the validation passes
	Diagnose                        analysis.Report
	Logits                          [][]Prediction
}

// LoadGPURun reads the run whose files in dir are prefixed NAME_ (NAME_diagnose.json,
// NAME_logits.json); label names it in tables and plots.
func LoadGPURun(dir, name, label string) (r GPURun, err error) {
	r.Name = label
	if r.Meta, err = checkpoint.ReadMeta(dir); err != nil {
		return r, err
	}
	ms, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return r, err
	}
	for _, m := range ms {
		if m.Kind == "eval" && m.ValCE != nil && m.ValAcc != nil && m.ValCopy != nil {
			r.Eval, r.EvalCE = append(r.Eval, float64(m.Step)), append(r.EvalCE, *m.ValCE)
			r.EvalAcc, r.EvalCopy = append(r.EvalAcc, *m.ValAcc), append(r.EvalCopy, *m.ValCopy)
		}
	}
	if err = ReadJSONFile(filepath.Join(dir, name+"_diagnose.json"), &r.Diagnose); err != nil {
		return r, err
	}
	r.Logits, err = readNoteLogits(filepath.Join(dir, name+"_logits.json"))
	return r, err
}

// GPURuns reads d20, d40 and d60 (SizesRunDir: 6,300 steps each on H200s) and the longer d20
// run of D20RunDir (20,000 steps on an H100), labelled "d20 (20k, H100)".
func GPURuns(root string) ([]GPURun, error) {
	var out []GPURun
	for _, d := range []struct{ dir, name, label string }{
		{filepath.Join(SizesRunDir, "d20"), "d20", "d20"},
		{filepath.Join(SizesRunDir, "d40"), "d40", "d40"},
		{filepath.Join(SizesRunDir, "d60"), "d60", "d60"},
		{D20RunDir, "d20", D20Label},
	} {
		r, err := LoadGPURun(filepath.Join(root, d.dir), d.name, d.label)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// HealthyOf is the report's verdict "true" or "false", or "not recorded" for a report written
// before diagnose had findings (the d20 run's).
func HealthyOf(r analysis.Report) string {
	if r.Findings == nil {
		return "not recorded"
	}
	return fmt.Sprint(r.Healthy)
}

// precisionOf is the run's train --precision (fp32 when meta.json does not record it).
func precisionOf(m checkpoint.Meta) string {
	var p string
	if json.Unmarshal(m.Extra["precision"], &p) != nil || p == "" {
		return "fp32"
	}
	return p
}

// ShowGPURuns tabulates the GPU runs (size, training, last validation pass, diagnosis) and
// plots their validation CE, copy rate and next-token accuracy over the steps (every preset has
// batch 32 x window 256: a step is 8,192 tokens in each).
func ShowGPURuns(name string, runs []GPURun) {
	var rows [][]string
	var ce, cp []plots.Series
	for _, r := range runs {
		c, m, dm := r.Meta.Config, r.Meta, r.Diagnose.Metrics
		tok := float64(c.BatchSize * c.MaxSeqLen)
		rows = append(rows, []string{r.Name, fmt.Sprintf("dim %d, %d layers, %d heads", c.Dim, c.NLayers, c.NHeads), fmt.Sprintf("%.1f M", float64(ParamCount(c, m.Variant))/1e6),
			fmt.Sprintf("%d (%.1f M tokens)", m.Step, float64(m.Step)*tok/1e6), precisionOf(m), fmt.Sprintf("%.0f", MetaValue(m, "tokens_per_s")),
			fmt.Sprintf("%.3f", MetaValue(m, "val_ce")), Pct(MetaValue(m, "val_acc")), Pct(MetaValue(m, "val_copy")),
			Pct(dm.NextAccuracyNonRepeat), Pct(dm.CopyRateNonRepeat), HealthyOf(r.Diagnose)})
		x := r.Eval
		ce = append(ce, plots.Series{Label: r.Name + " val. CE", X: x, Y: r.EvalCE})
		cp = append(cp, plots.Series{Label: r.Name + " val. copy rate", X: x, Y: r.EvalCopy}, plots.Series{Label: r.Name + " val. next-token acc.", X: x, Y: r.EvalAcc})
	}
	nbdisplay.ShowTable([]string{"run", "model", "parameters", "steps", "products", "tokens/s", "val CE (last pass)", "val next-token acc.", "val copy rate",
		"next-token acc., next ≠ current", "copy rate, next ≠ current", "diagnose: healthy"}, rows)
	uni := MetaValue(runs[0].Meta, "unigram_xent_val")
	Save(plots.LossCurves(name+"_validation_loss", ce, []plots.HLine{{Label: "unigram CE (validation)", Y: uni}}))
	Save(plots.LinesOverSteps(name+"_copy_vs_next", "Validation copy rate and next-token accuracy", "share of positions", cp, false))
}
