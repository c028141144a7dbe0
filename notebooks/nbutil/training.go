package nbutil

// A training run read back from its checkpoint directory (notebook 02): meta.json, the
// metrics.jsonl curves and the numbers its verdict quotes.

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/metrics"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// MeanWindow is the width of the running mean drawn over the noisy per-step training loss.
const MeanWindow = 20

// EvalWindows is `nanoscope train`'s default --eval-windows: each validation pass uses the
// first EvalWindows windows of the validation split.
const EvalWindows = 64

// Run is a training run read back from its checkpoint directory.
type Run struct {
	Meta  checkpoint.Meta
	Train []metrics.Record // kind "train", in step order
	Eval  []metrics.Record // kind "eval"
	// Unigram is the unigram cross-entropy of the validation split in the run's ids (meta.json's
	// unigram_xent_val); Data the corpus directory the run trained on.
	Unigram float64
	Data    string
}

// LoadRun reads the run in dir.
func LoadRun(root, dir string) (Run, error) {
	meta, err := checkpoint.ReadMeta(dir)
	if err != nil {
		return Run{}, err
	}
	ms, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return Run{}, err
	}
	r := Run{Meta: meta, Data: filepath.Join(root, CorpusDir)}
	if r.Unigram, err = MetaFloat(meta, "unigram_xent_val"); err != nil {
		return r, err
	}
	if raw, ok := meta.Extra["data"]; ok {
		var d string
		if json.Unmarshal(raw, &d) == nil && d != "" {
			if !filepath.IsAbs(d) {
				d = filepath.Join(root, d)
			}
			r.Data = d
		}
	}
	for _, m := range ms {
		switch m.Kind {
		case "train":
			r.Train = append(r.Train, m)
		case "eval":
			r.Eval = append(r.Eval, m)
		}
	}
	if len(r.Train) == 0 || len(r.Eval) == 0 {
		return r, fmt.Errorf("%s: no train or eval lines in metrics.jsonl", dir)
	}
	return r, nil
}

// RunningMean returns the centred running mean: the mean of xs[i-w/2 .. i+w/2], clipped at
// the ends.
func RunningMean(xs []float64, w int) []float64 {
	out := make([]float64, len(xs))
	for i := range xs {
		lo, hi := max(0, i-w/2), min(len(xs), i+w/2+1)
		sum := 0.0
		for _, x := range xs[lo:hi] {
			sum += x
		}
		out[i] = sum / float64(hi-lo)
	}
	return out
}

// TrainCE returns the plain cross-entropy of every training step and its MeanWindow-step
// running mean.
func (r Run) TrainCE() (ce, mean []float64) {
	for _, m := range r.Train {
		ce = append(ce, m.CE)
	}
	return ce, RunningMean(ce, MeanWindow)
}

// FinalTrainCE is the mean training CE over the last MeanWindow steps.
func (r Run) FinalTrainCE() float64 {
	ce, _ := r.TrainCE()
	mean := 0.0
	for _, x := range ce[len(ce)-MeanWindow:] {
		mean += x / MeanWindow
	}
	return mean
}

// Curves returns the series of the loss plot: per-step training CE, its running mean, and the
// validation CE, restricted to steps >= from.
func (r Run) Curves(from int) []plots.Series {
	var steps, vs, vce []float64
	for _, m := range r.Train {
		steps = append(steps, float64(m.Step))
	}
	ce, mean := r.TrainCE()
	for _, m := range r.Eval {
		if m.Step >= from && m.ValCE != nil {
			vs, vce = append(vs, float64(m.Step)), append(vce, *m.ValCE)
		}
	}
	i := 0
	for i < len(steps) && steps[i] < float64(from) {
		i++
	}
	return []plots.Series{
		{Label: "training CE (per step)", X: steps[i:], Y: ce[i:]},
		{Label: fmt.Sprintf("training CE (%d-step mean)", MeanWindow), X: steps[i:], Y: mean[i:]},
		{Label: "validation CE", X: vs, Y: vce},
	}
}

// ZoomFrom returns the first step whose running-mean training CE is below factor × the unigram
// reference (the last step when none is), and that mean.
func (r Run) ZoomFrom(factor float64) (step int, mean float64) {
	_, means := r.TrainCE()
	for i, x := range means {
		if x < factor*r.Unigram {
			return r.Train[i].Step, x
		}
	}
	return r.Train[len(r.Train)-1].Step, means[len(means)-1]
}

// Final returns the last validation pass's CE, next-token accuracy and copy rate.
func (r Run) Final() (ce, acc, copyRate float64) {
	m := r.Eval[len(r.Eval)-1]
	return *m.ValCE, *m.ValAcc, *m.ValCopy
}

// RepeatRate is the fraction of the validation positions whose next token equals the current
// one — the next-token accuracy of a model that copies its input — on the windows a validation
// pass uses.
func (r Run) RepeatRate() (float64, error) {
	name := corpus.ValCompactFile
	if r.Meta.Config.VocabSize == corpus.GPT2VocabSize {
		name = corpus.ValFile
	}
	ids, err := tokenfile.Read(filepath.Join(r.Data, name))
	if err != nil {
		return 0, err
	}
	T := r.Meta.Config.MaxSeqLen
	n, pos := 0, 0
	for k := range min(EvalWindows, tokenfile.NumWindows(len(ids), T)) {
		in, tg := tokenfile.Window(ids, k, T, 1)
		for i := range in {
			pos++
			if tg[i] == in[i] {
				n++
			}
		}
	}
	return float64(n) / float64(pos), nil
}

// ShowSettings tabulates the run's model, architecture, training and optimizer settings.
func (r Run) ShowSettings() {
	c, v, last := r.Meta.Config, r.Meta.Variant, r.Train[len(r.Train)-1]
	tps, _ := MetaFloat(r.Meta, "tokens_per_s")
	nbdisplay.ShowTable([]string{"setting", "value"}, [][]string{
		{"model", fmt.Sprintf("dim %d, %d layers, %d heads (%d kv), FFN %d, vocabulary %d, window %d", c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNDim(), c.VocabSize, c.MaxSeqLen)},
		{"architecture", fmt.Sprintf("ternary BitLinear %v, mHC-lite %v, tied embedding %v, target shift %d", v.Ternary, v.MHC, c.WeightTied, v.TargetShift)},
		{"training", fmt.Sprintf("%d steps of %d x %d tokens, warm-up %d, decay from %.0f%%", c.TotalSteps, c.BatchSize, c.MaxSeqLen, c.WarmupSteps, 100*c.DecayStartFrac)},
		{"optimizer", fmt.Sprintf("%s, lr %g (2-D weights), %g (embedding, norms, mHC), clip %g", v.Optimizer, c.LR, c.MHCLR, c.GradClip)},
		{"seed, data", fmt.Sprintf("%d, %s", v.Seed, r.Data)},
		{"steps run, wall time", fmt.Sprintf("%d, %.0f s (%.0f tokens/s after the first step)", r.Meta.Step, last.ElapsedS, tps)},
	})
}
