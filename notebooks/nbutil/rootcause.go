package nbutil

// The root cause of notebook 10: a checkpoint through the buggy and the strict loader, what
// each puts in effect and predicts, and the mHC alpha gradient under edited initialisations.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// SelfPrediction is one position of a short input through a model: the argmax and its logit,
// the current token's own logit, and sqrt(D)·‖e‖ of the current token, the value a fresh tied
// model's self logit takes.
type SelfPrediction struct {
	Input     int     `json:"input"`
	Argmax    int     `json:"argmax"`
	Top       float64 `json:"top"`
	Self      float64 `json:"self"`
	SqrtDNorm float64 `json:"sqrt_d_norm"`
}

// SelfPredictions summarises predictions: copies (argmax = input), next-token hits (argmax =
// the next input, over the first n−1 positions), the range of top logits and the largest
// |top − sqrt(D)·‖e‖|.
type SelfPredictions []SelfPrediction

func (ps SelfPredictions) Copies() (n int) {
	for _, p := range ps {
		if p.Argmax == p.Input {
			n++
		}
	}
	return n
}

func (ps SelfPredictions) NextHits() (n int) {
	for t := 0; t+1 < len(ps); t++ {
		if ps[t].Argmax == ps[t+1].Input {
			n++
		}
	}
	return n
}

func (ps SelfPredictions) TopRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = min(lo, p.Top), max(hi, p.Top)
	}
	return lo, hi
}

func (ps SelfPredictions) MaxGap() (g float64) {
	for _, p := range ps {
		g = max(g, math.Abs(p.Top-p.SqrtDNorm))
	}
	return g
}

// InEffect loads ck's tensors with load and returns the parameters of the built context and
// their comparison with the file.
func InEffect(ck *checkpoint.Checkpoint, load analysis.Loader) (gomlxmodel.Params, analysis.Effect, error) {
	c, v := ck.Meta.Config, ck.Meta.Variant
	ctx, err := load(c, v, ck.Tensors)
	if err != nil {
		return nil, analysis.Effect{}, err
	}
	p, err := gomlxmodel.ScopeParams(ctx, c, v)
	if err != nil {
		return nil, analysis.Effect{}, err
	}
	return p, analysis.CompareParams(ck.Tensors, p), nil
}

// ShowLoaderEffects tabulates the buggy and the strict loader's weights in effect, with the
// hashes of a few tensors, and returns the names of the tensors the buggy loader gets right.
func ShowLoaderEffects(buggy, strict analysis.Effect) (same []string) {
	for _, t := range buggy.Tensors {
		if t.Match {
			same = append(same, t.Name)
		}
	}
	nbdisplay.ShowTable([]string{"loader", "tensors in effect = file (hash)", "differ"}, [][]string{
		{"buggy: VarMap::load on an empty map (FreshInitLoader)", fmt.Sprintf("%d/%d", buggy.Matched, buggy.Total), fmt.Sprint(len(buggy.Differ))},
		{"strict: checkpoint.Load + DirectLoader", fmt.Sprintf("%d/%d", strict.Matched, strict.Total), fmt.Sprint(len(strict.Differ))},
	})
	var rows [][]string
	for _, name := range []string{gomlxmodel.ParamTokEmbed, gomlxmodel.ParamNormFinal, gomlxmodel.AttnWeight(0, "wq"),
		gomlxmodel.FFNWeight(1, "w_down"), gomlxmodel.MHCParam(0, gomlxmodel.SubAttn, gomlxmodel.MHCAlphaLogit)} {
		for i, t := range buggy.Tensors {
			if t.Name == name {
				rows = append(rows, []string{name, t.FileHash[:12], t.EffectHash[:12], strict.Tensors[i].EffectHash[:12], fmt.Sprintf("%.3g", t.MaxAbsDiff)})
			}
		}
	}
	nbdisplay.ShowTable([]string{"tensor", "file hash", "in effect, buggy", "in effect, strict", "max |file − buggy|"}, rows)
	return same
}

// Predict runs ids through the model (c, v, p) as one sequence.
func Predict(c config.Config, v config.Variant, p gomlxmodel.Params, ids []int32) (SelfPredictions, error) {
	r, err := gomlxmodel.NewRunner(c, v, p)
	if err != nil {
		return nil, err
	}
	logits, err := r.Logits([][]int32{ids})
	if err != nil {
		return nil, err
	}
	V, D := c.VocabSize, c.Dim
	emb := p[gomlxmodel.ParamTokEmbed].Data
	var out SelfPredictions
	for t, id := range ids {
		row := logits[t*V : (t+1)*V]
		arg := analysis.TopIndices(row, 1)[0]
		ss := 0.0
		for _, x := range emb[int(id)*D : (int(id)+1)*D] {
			ss += float64(x) * float64(x)
		}
		out = append(out, SelfPrediction{Input: int(id), Argmax: arg, Top: float64(row[arg]), Self: float64(row[id]), SqrtDNorm: math.Sqrt(float64(D) * ss)})
	}
	return out, nil
}

// ShowLoaderPredictions tabulates and plots the predictions of the buggy and the strict
// loader's weights on the same input (model ids, named through mv).
func ShowLoaderPredictions(name string, mv *ModelVocab, buggy, strict SelfPredictions, D int) {
	text := func(id int) string { return fmt.Sprintf("%d %s", id, mv.Text(id)) }
	var rows [][]string
	var groups []string
	var bTop, sTop, norms []float64
	for t := range buggy {
		next := "(end)"
		if t+1 < len(buggy) {
			next = mv.Text(buggy[t+1].Input)
		}
		b, s := buggy[t], strict[t]
		rows = append(rows, []string{fmt.Sprint(t), text(b.Input), next, text(b.Argmax), fmt.Sprintf("%.1f", b.Top), fmt.Sprintf("%.1f", b.SqrtDNorm),
			text(s.Argmax), fmt.Sprintf("%.2f", s.Top), fmt.Sprintf("%.2f", s.Self)})
		groups = append(groups, mv.Text(b.Input))
		bTop, sTop, norms = append(bTop, b.Top), append(sTop, s.Top), append(norms, b.SqrtDNorm)
	}
	nbdisplay.ShowTable([]string{"pos", "input", "next in prompt", "buggy: argmax", "buggy: its logit", "sqrt(D)·‖e‖ of input",
		"strict: argmax", "strict: its logit", "strict: logit of input"}, rows)
	Save(plots.GroupedBars(name, fmt.Sprintf("Top logit on \"fn main() {\" (D = %d)", D), "logit", groups, []plots.BarSeries{
		{Label: "buggy loader (fresh)", Values: bTop},
		{Label: "sqrt(D)·‖e‖ of input", Values: norms},
		{Label: "strict loader (trained)", Values: sTop},
	}))
}

// MissingTensor is what three loaders make of a checkpoint with one tensor removed.
type MissingTensor struct {
	Missing                   string
	LoadErr, CtxErr, BuggyErr string // "" for no error; the temporary directory reads TMP
	Effect                    analysis.Effect
}

// LoadWithMissingTensor writes ck without the tensor missing to a temporary directory and
// loads it with checkpoint.Load, with DirectLoader, and with the buggy fresh-init loader.
func LoadWithMissingTensor(ck *checkpoint.Checkpoint, missing string, seed int64) (MissingTensor, error) {
	m := MissingTensor{Missing: missing}
	tmp, err := os.MkdirTemp("", "nanoscope-missing-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmp)
	partial := gomlxmodel.Params{}
	for n, t := range ck.Tensors {
		if n != missing {
			partial[n] = t
		}
	}
	if err := checkpoint.WriteSafetensors(filepath.Join(tmp, checkpoint.ModelFile), partial); err != nil {
		return m, err
	}
	metaJSON, err := os.ReadFile(filepath.Join(ck.Dir, checkpoint.MetaFile))
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, checkpoint.MetaFile), metaJSON, 0o644)
	}
	if err != nil {
		return m, err
	}
	msg := func(err error) string {
		if err == nil {
			return ""
		}
		return strings.ReplaceAll(err.Error(), tmp, "TMP")
	}
	_, loadErr := checkpoint.Load(tmp)
	_, ctxErr := analysis.DirectLoader(ck.Meta.Config, ck.Meta.Variant, partial)
	eff, buggyErr := analysis.WeightsInEffect(&checkpoint.Checkpoint{Dir: tmp, Meta: ck.Meta, Tensors: partial}, analysis.FreshInitLoader(seed))
	m.LoadErr, m.CtxErr, m.BuggyErr, m.Effect = msg(loadErr), msg(ctxErr), msg(buggyErr), eff
	return m, nil
}

// WithMHC returns a copy of p in which every mHC tensor whose name ends in suffix is set to the
// per-stream values vals (or, for alpha_logit, the single value vals[0]).
func WithMHC(p gomlxmodel.Params, suffix string, vals ...float32) gomlxmodel.Params {
	out := make(gomlxmodel.Params, len(p))
	for n, t := range p {
		if pn, err := gomlxmodel.ParseName(n); err == nil && pn.IsMHC() && strings.HasSuffix(n, suffix) {
			data := slices.Clone(t.Data)
			for i := range data {
				data[i] = vals[i%len(vals)]
			}
			t = checkpoint.Tensor{Shape: t.Shape, Data: data}
		}
		out[n] = t
	}
	return out
}

// MaxAbsDelta runs the windows through two parameter sets of one model and returns the largest
// |Δlogit|.
func MaxAbsDelta(c config.Config, v config.Variant, a, b gomlxmodel.Params, w *analysis.Windows) (float64, error) {
	var ls [2][]float32
	for i, p := range []gomlxmodel.Params{a, b} {
		r, err := gomlxmodel.NewRunner(c, v, p)
		if err != nil {
			return 0, err
		}
		if ls[i], err = r.Logits(w.Inputs); err != nil {
			return 0, err
		}
	}
	d := 0.0
	for i := range ls[0] {
		d = max(d, math.Abs(float64(ls[0][i])-float64(ls[1][i])))
	}
	return d, nil
}

// NonZero counts the non-zero values of m.
func NonZero(m map[string]float64) (n int) {
	for _, g := range m {
		if g != 0 {
			n++
		}
	}
	return n
}

// MHCCondition is a parameter set whose alpha gradients notebook 10 measures.
type MHCCondition struct {
	Name string
	P    gomlxmodel.Params
}

// AlphaGradients measures the gradient flow of each condition on the windows, shows the alpha
// gradients in a table, and returns the alpha gradients and the gradient flows by condition.
func AlphaGradients(c config.Config, v config.Variant, conds []MHCCondition, w *analysis.Windows) (map[string]map[string]float64, map[string]analysis.GradFlow, []string, error) {
	grads, flows := map[string]map[string]float64{}, map[string]analysis.GradFlow{}
	var names []string
	var rows [][]string
	for _, cd := range conds {
		s, err := analysis.NewSubject(c, v, cd.P)
		if err != nil {
			return nil, nil, nil, err
		}
		gf, err := analysis.GradientFlow(s, w)
		if err != nil {
			return nil, nil, nil, err
		}
		grads[cd.Name], flows[cd.Name] = gf.AlphaGrads, gf
		if names == nil {
			for n := range gf.AlphaGrads {
				names = append(names, n)
			}
			slices.Sort(names)
		}
		var gs []string
		for _, n := range names {
			gs = append(gs, fmt.Sprintf("%.3g", gf.AlphaGrads[n]))
		}
		rows = append(rows, []string{cd.Name, fmt.Sprintf("%.3f", gf.Loss), fmt.Sprintf("%d/%d", NonZero(gf.AlphaGrads), len(names)), strings.Join(gs, "  ")})
	}
	nbdisplay.ShowTable([]string{"condition", "objective on the batch", "non-zero alpha gradients", "∂loss/∂alpha_logit (" + strings.Join(names, ", ") + ")"}, rows)
	return grads, flows, names, nil
}

// MHCGradientFigure draws the gradient norms of a flow's mHC parameters (dead ones marked).
func MHCGradientFigure(name string, gf analysis.GradFlow) (plots.Figure, error) {
	var names []string
	var norms []float64
	for _, pg := range gf.Params {
		if pn, err := gomlxmodel.ParseName(pg.Name); err == nil && pn.IsMHC() {
			names, norms = append(names, pg.Name), append(norms, pg.GradNorm)
		}
	}
	return plots.GradientFlow(name, names, norms)
}

// ShowD20Loaders tabulates, per position of ids, a fresh d20's prediction (what the buggy
// loader runs) next to the trained d20's top prediction d20 (d20_logits.json, through the
// strict loader), and returns the latter as SelfPredictions.
func ShowD20Loaders(ids []int32, fresh SelfPredictions, d20 [][]Prediction) SelfPredictions {
	var trained SelfPredictions
	var rows [][]string
	for t, id := range ids {
		top, f := d20[t][0], fresh[t]
		trained = append(trained, SelfPrediction{Input: int(id), Argmax: top.ID, Top: top.Logit})
		rows = append(rows, []string{fmt.Sprint(t), GPT2Text(int(id)), GPT2Text(f.Argmax), fmt.Sprintf("%.1f", f.Top), fmt.Sprintf("%.1f", f.SqrtDNorm),
			GPT2Text(int(id)) + " (248–261)", GPT2Text(top.ID), fmt.Sprintf("%.2f", top.Logit)})
	}
	nbdisplay.ShowTable([]string{"pos", "input", "buggy (fresh d20): argmax", "its logit", "sqrt(D)·‖e‖", "note saw (logit)", "strict (trained d20): argmax", "its logit"}, rows)
	return trained
}

// ShowBeforeAfter tabulates the note's input through the d20 and the cpu model, each before
// (buggy loader) and after (strict loader) the fix; mv names the cpu model's ids.
func ShowBeforeAfter(d20Fresh, d20Trained, cpuBuggy, cpuStrict SelfPredictions, mv *ModelVocab, d20Dim, cpuDim int) {
	var rows [][]string
	for t, f := range d20Fresh {
		tr, cb, cs := d20Trained[t], cpuBuggy[t], cpuStrict[t]
		rows = append(rows, []string{GPT2Text(f.Input), fmt.Sprintf("%s (%.1f)", GPT2Text(f.Argmax), f.Top), fmt.Sprintf("%s (%.2f)", GPT2Text(tr.Argmax), tr.Top),
			fmt.Sprintf("%s (%.1f)", mv.Text(cb.Argmax), cb.Top), fmt.Sprintf("%s (%.2f)", mv.Text(cs.Argmax), cs.Top)})
	}
	nbdisplay.ShowTable([]string{"input", fmt.Sprintf("d20 before: buggy loader (D = %d)", d20Dim), "d20 after: strict loader",
		fmt.Sprintf("cpu before: buggy loader (D = %d)", cpuDim), "cpu after: strict loader"}, rows)
}
