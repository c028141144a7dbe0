package nbutil

// Notebook 12 (your model): a Hugging Face-layout GPT-2 or Llama through the instruments and
// the diagnosis, and the size dependence of a fresh tied GPT-2's copying next to the note's model.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// YourModel is a Hugging Face checkpoint loaded for the notebook with its evaluation ids.
type YourModel struct {
	Checkpoint *load.Loaded
	Subject    *analysis.Subject
	Tokens     []uint32
	Data       string // where the ids came from
}

// LoadYourModel loads the Hugging Face checkpoint dir (relative to root unless absolute) and
// its evaluation ids: the token file data (the model's own ids) when given; otherwise, for a
// vocabulary of at least 256 ids, the bytes of this repository's Go sources (the text the
// trained fixtures of bench/hf_fixtures.py learned, one id per byte); otherwise an error
// asking for a token file.
func LoadYourModel(root, dir, data string) (*YourModel, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	ck, err := load.Open(dir)
	if err != nil {
		return nil, err
	}
	if ck.Format == load.FormatNanoscope {
		return nil, fmt.Errorf("%s is a nanoscope checkpoint: notebooks 03–10 investigate those", dir)
	}
	s, err := analysis.FromFamily(ck.Family, ck.Params, dir)
	if err != nil {
		return nil, err
	}
	s.PaddedVocab, s.BOS = ck.PaddedVocab, ck.BOS
	y := &YourModel{Checkpoint: ck, Subject: s}
	V := ck.Family.Dims().VocabSize
	switch {
	case data != "":
		if y.Tokens, err = tokenfile.Read(data); err != nil {
			return nil, err
		}
		y.Data = data
	case V >= 256:
		if y.Tokens, err = GoSourceBytes(root, 200_000); err != nil {
			return nil, err
		}
		y.Data = "bytes of the repository's Go sources"
	default:
		return nil, fmt.Errorf("the vocabulary has %d ids (< 256): set the data variable to a token file of the model's ids", V)
	}
	return y, tokenfile.CheckRange(y.Data, y.Tokens, V)
}

// GoSourceBytes returns up to n bytes of the repository's Go sources (gomlxmodel, analysis,
// cmd, in file order) as ids 0–255.
func GoSourceBytes(root string, n int) ([]uint32, error) {
	var out []uint32
	for _, dir := range []string{"gomlxmodel", "analysis", "cmd/nanoscope"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for _, c := range b {
				out = append(out, uint32(c))
			}
			if len(out) >= n {
				return out[:n], nil
			}
		}
	}
	return out, nil
}

// ShowYourModel tabulates what was loaded: the family, sizes, conventions, the loader's notes
// and what inspect finds remarkable.
func ShowYourModel(y *YourModel) analysis.FamilyInspection {
	in := analysis.InspectFamily(y.Subject)
	d := in.Dims
	var conv []string
	for _, c := range in.Conventions {
		conv = append(conv, c.Name+" = "+c.Value)
	}
	rows := [][]string{
		{"format and family", y.Checkpoint.Format + ", " + y.Checkpoint.Arch()},
		{"sizes", fmt.Sprintf("vocab %d, width %d, %d layers, %d heads, %d parameters", d.VocabSize, d.DModel, d.NLayers, d.NHeads, in.Params)},
		{"conventions", strings.Join(conv, ", ")},
		{"loader notes", strings.Join(y.Checkpoint.Notes, "; ")},
		{"evaluation ids", fmt.Sprintf("%s (%d ids)", y.Data, len(y.Tokens))},
	}
	for _, r := range in.Remarks {
		rows = append(rows, []string{"remarkable: " + r.Kind, r.Detail})
	}
	if len(in.Remarks) == 0 {
		rows = append(rows, []string{"remarkable", "nothing (no tensor at its initial value or distribution, constant or duplicated)"})
	}
	nbdisplay.ShowTable([]string{"", ""}, rows)
	return in
}

// DiagnoseYourModel runs analysis.DiagnoseSubject on the model (1024 positions) and writes the
// report to out/diagnose/12_your_model.json.
func DiagnoseYourModel(root string, y *YourModel) (*analysis.Report, error) {
	rep, err := analysis.DiagnoseSubject(y.Subject, y.Tokens, nil, &analysis.Options{Positions: 1024})
	if err != nil {
		return nil, err
	}
	return rep, WriteJSONFile(filepath.Join(root, "out", "diagnose", "12_your_model.json"), rep)
}

// ShowYourFindings tabulates a report's findings (or says healthy).
func ShowYourFindings(r *analysis.Report) {
	if len(r.Findings) == 0 {
		nbdisplay.Markdown("**healthy: yes** — no finding.")
		return
	}
	var rows [][]string
	for _, f := range r.Findings {
		rows = append(rows, []string{f.Kind, f.Detail, f.Fix})
	}
	nbdisplay.Markdown(fmt.Sprintf("**healthy: %v**", map[bool]string{true: "yes", false: "no"}[r.Healthy]))
	nbdisplay.ShowTable([]string{"finding", "detail", "fix"}, rows)
}

// YourOffsetFigure draws the catalog's CE by target offset, as loaded and under each convention.
func YourOffsetFigure(name string, r *analysis.Report) (plots.Figure, error) {
	cat := r.Details.Catalog
	groups := make([]string, len(cat.Offsets))
	for i, o := range cat.Offsets {
		groups[i] = fmt.Sprintf("t%+d", o)
	}
	series := []plots.BarSeries{{Label: "as loaded", Values: cat.AsLoaded.CE}}
	for _, c := range cat.Conditions {
		series = append(series, plots.BarSeries{Label: c.Condition, Values: c.CE})
	}
	return plots.GroupedBars(name, fmt.Sprintf("CE against the token at t+k (unigram %.2f nats)", cat.Unigram), "nats", groups, series)
}

// YourLensFigure draws the logit lens: copy rate and next-token accuracy of each residual stream
// decoded through the final norm and the head.
func YourLensFigure(name string, r *analysis.Report) (plots.Figure, error) {
	var groups []string
	var cp, acc []float64
	for _, p := range r.Details.Lens.Points {
		groups = append(groups, p.Point)
		cp, acc = append(cp, p.CopyRate), append(acc, p.NextTokenAccuracy)
	}
	return plots.GroupedBars(name, "Logit lens: each residual stream decoded through the head", "share of positions", groups,
		[]plots.BarSeries{{Label: "copy rate", Values: cp}, {Label: "next-token accuracy", Values: acc}})
}

// YourActNormsFigure draws the RMS of the residual stream and of the attention and MLP outputs per
// layer.
func YourActNormsFigure(name string, r *analysis.Report) (plots.Figure, error) {
	var groups []string
	var pre, attn, mlp, post []float64
	for _, l := range r.Details.ActNorms.Layers {
		groups = append(groups, fmt.Sprintf("block %d", l.Layer))
		pre, attn, mlp, post = append(pre, l.ResidPre), append(attn, l.AttnOut), append(mlp, l.FFNOut), append(post, l.ResidPost)
	}
	return plots.GroupedBars(name, fmt.Sprintf("Activation RMS per block (token embedding %.3g)", r.Details.ActNorms.Embed), "RMS", groups,
		[]plots.BarSeries{{Label: "resid_pre", Values: pre}, {Label: "attn_out", Values: attn}, {Label: "mlp_out", Values: mlp}, {Label: "resid_post", Values: post}})
}

// YourGradFlowFigure draws the gradient norm of every parameter on one batch.
func YourGradFlowFigure(name string, r *analysis.Report) (plots.Figure, error) {
	var names []string
	var norms []float64
	for _, p := range r.Details.GradFlow.Params {
		names, norms = append(names, p.Name), append(norms, p.GradNorm)
	}
	return plots.GradientFlow(name, names, norms)
}

// FreshCopy is the copying of a freshly initialised model on one stream of ids.
type FreshCopy struct {
	Model     string  // e.g. "GPT-2 D=768, 12 layers"
	D, Layers int     //
	CopyRate  float64 // share of positions whose argmax is the current token
	MeanTop   float64 // mean top logit
	MeanSelf  float64 // mean √D·‖e‖ of the current tokens: the tied self logit when the output ≈ the embedding
	// MeanSelfPos is the mean of √D·e·(e+p)/‖e+p‖: the self logit when the output ≈ the token
	// plus the position embedding (GPT-2; p ~ N(0, 0.02) like e, so ≈ √D·‖e‖/√2).
	MeanSelfPos float64
	SelfShare   float64 // share of positions whose top logit is within 1% of √D·‖e‖
	ResidRatio  float64 // RMS of the last residual stream over the RMS of the token embedding
}

// FreshGPT2Copying draws a tied GPT-2 of width d and the given layers with Hugging Face's
// initialisers (seed 1; heads of 64 dimensions, at least 1; vocabulary 50257, 1024 positions)
// and measures its copying on the first T ids of tokens.
func FreshGPT2Copying(d, layers int, tokens []uint32, T int) (FreshCopy, error) {
	c := gomlxmodel.GPT2Config{VocabSize: corpus.GPT2VocabSize, NPositions: 1024, DModel: d, NLayers: layers, NHeads: max(1, d/64),
		DInner: 4 * d, LayerNormEps: 1e-5, Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: gomlxmodel.GPT2Conv1D, TiedHead: true, Causal: true}
	f := gomlxmodel.GPT2{Config: c}
	p := gomlxmodel.InitFamilyParams(f, 1)
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		return FreshCopy{}, err
	}
	ids := make([]int32, T)
	for i := range ids {
		ids[i] = int32(tokens[i])
	}
	last := gomlxmodel.BlockHook(layers-1, gomlxmodel.HookResidPost)
	out, err := r.Capture([][]int32{ids}, []string{gomlxmodel.HookEmbed, last})
	if err != nil {
		return FreshCopy{}, err
	}
	fc := FreshCopy{Model: fmt.Sprintf("GPT-2 D=%d, %d layers", d, layers), D: d, Layers: layers}
	V, e, pe := c.VocabSize, p[gomlxmodel.GPT2Wte].Data, p[gomlxmodel.GPT2Wpe].Data
	for t, id := range ids {
		row := out["logits"][t*V : (t+1)*V]
		top := slices.Max(row)
		var ss, dot, xs float64
		for j, x := range e[int(id)*d : int(id+1)*d] {
			xp := float64(x) + float64(pe[t*d+j])
			ss, dot, xs = ss+float64(x)*float64(x), dot+float64(x)*xp, xs+xp*xp
		}
		self := math.Sqrt(float64(d) * ss)
		fc.MeanSelfPos += math.Sqrt(float64(d)) * dot / math.Sqrt(xs)
		if row[id] == top {
			fc.CopyRate++
		}
		if math.Abs(float64(top)-self) <= 0.01*self {
			fc.SelfShare++
		}
		fc.MeanTop += float64(top)
		fc.MeanSelf += self
	}
	n := float64(T)
	fc.CopyRate, fc.SelfShare, fc.MeanTop, fc.MeanSelf, fc.MeanSelfPos = fc.CopyRate/n, fc.SelfShare/n, fc.MeanTop/n, fc.MeanSelf/n, fc.MeanSelfPos/n
	fc.ResidRatio = rms(out[last]) / rms(out[gomlxmodel.HookEmbed])
	return fc, nil
}

// FreshNoteCopying measures the note's model (a fresh d20, nbutil.FreshD20 with seed 1) the same
// way on the first T GPT-2 ids of tokens, through analysis.LogitAlignment.
func FreshNoteCopying(tokens []uint32, T int) (FreshCopy, error) {
	s, err := FreshD20(1)
	if err != nil {
		return FreshCopy{}, err
	}
	in := make([]int32, T)
	next := make([]int32, T)
	for i := range in {
		in[i], next[i] = int32(tokens[i]), int32(tokens[i+1])
	}
	a, err := analysis.LogitAlignment(s, &analysis.Windows{Index: []int{0}, Inputs: [][]int32{in}, Next: [][]int32{next}})
	if err != nil {
		return FreshCopy{}, err
	}
	ss := a.SelfSimilarity
	return FreshCopy{Model: fmt.Sprintf("the note's d20 (D=%d, %d layers, N(0, 1) embedding)", s.Config.Dim, s.Config.NLayers), D: s.Config.Dim, Layers: s.Config.NLayers,
		CopyRate: a.CopyRate, MeanTop: a.MeanMaxLogit, MeanSelf: ss.MeanSqrtDNorm, MeanSelfPos: math.NaN(), SelfShare: ss.ShareWithin1Pct, ResidRatio: math.NaN()}, nil
}

func rms(x []float32) float64 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// ShowFreshCopying tabulates fresh models' copying.
func ShowFreshCopying(fs []FreshCopy) {
	var rows [][]string
	for _, f := range fs {
		num := func(x float64) string {
			if math.IsNaN(x) {
				return "—"
			}
			return fmt.Sprintf("%.2f", x)
		}
		rows = append(rows, []string{f.Model, Pct(f.CopyRate), num(f.MeanTop), num(f.MeanSelf), num(f.MeanSelfPos), Pct(f.SelfShare), num(f.ResidRatio)})
	}
	nbdisplay.ShowTable([]string{"fresh model", "copy rate", "mean top logit", "mean √D·‖e‖", "mean √D·e·(e+p)/‖e+p‖", "top within 1% of √D·‖e‖", "RMS last residual / RMS embedding"}, rows)
}

// FreshCopyFigure draws the copy rate of fresh models by size.
func FreshCopyFigure(name string, fs []FreshCopy) (plots.Figure, error) {
	var groups []string
	var cp []float64
	for _, f := range fs {
		g := fmt.Sprintf("GPT-2 %d×%d", f.D, f.Layers)
		if math.IsNaN(f.ResidRatio) {
			g = "note's d20"
		}
		groups, cp = append(groups, g), append(cp, f.CopyRate)
	}
	return plots.GroupedBars(name, "Fresh tied models: copy rate (GPT-2 width×layers)", "copy rate", groups, []plots.BarSeries{{Label: "copy rate", Values: cp}})
}

// ReadYourReport reads the report DiagnoseYourModel wrote.
func ReadYourReport(root string) (*analysis.Report, error) {
	b, err := os.ReadFile(filepath.Join(root, "out", "diagnose", "12_your_model.json"))
	if err != nil {
		return nil, fmt.Errorf("%w (run the diagnosis cell first)", err)
	}
	var r analysis.Report
	return &r, json.Unmarshal(b, &r)
}

// FreshSweep measures the note's fresh d20 and fresh tied GPT-2s of growing size (width,
// layers) on the first T ids of tokens.
func FreshSweep(tokens []uint32, T int, sizes [][2]int) ([]FreshCopy, error) {
	note, err := FreshNoteCopying(tokens, T)
	if err != nil {
		return nil, err
	}
	out := []FreshCopy{note}
	for _, s := range sizes {
		fc, err := FreshGPT2Copying(s[0], s[1], tokens, T)
		if err != nil {
			return nil, err
		}
		out = append(out, fc)
	}
	return out, nil
}

// MostCopying returns the fresh GPT-2 of fs (the entries with a residual ratio) that copies most.
func MostCopying(fs []FreshCopy) FreshCopy {
	var best FreshCopy
	for _, f := range fs {
		if !math.IsNaN(f.ResidRatio) && f.CopyRate >= best.CopyRate {
			best = f
		}
	}
	return best
}
