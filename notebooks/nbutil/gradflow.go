package nbutil

// Gradient flow as notebook 06 shows it: at a checkpoint, over a run's metrics, and under
// edited mHC parameters.

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/metrics"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// TrainingBatch is one training-sized batch of validation windows (batch_size windows of
// max_seq_len) of the checkpoint's validation split.
func TrainingBatch(root string, ck *checkpoint.Checkpoint) (*analysis.Windows, error) {
	c := ck.Meta.Config
	return ValWindows(root, ck, c.BatchSize*c.MaxSeqLen)
}

// RunMetrics reads the metrics.jsonl of the run in dir (relative to root, or absolute).
func RunMetrics(root, dir string) ([]metrics.Record, error) {
	return ReadMetrics(filepath.Join(InRoot(root, dir), "metrics.jsonl"))
}

// CheckpointGradients is what ShowCheckpointGradients reports beyond the figure.
type CheckpointGradients struct {
	MinName           string  // the parameter with the smallest non-zero gradient norm
	MinNorm           float64 // its norm
	MuonLo, MuonHi    float64 // range of the gradient norms of the Muon-updated weights
	AlphaGradsAllZero bool
}

// ShowCheckpointGradients draws every parameter's gradient norm (dead ones marked) and shows
// the alpha_logit gradients exactly.
func ShowCheckpointGradients(name string, gf analysis.GradFlow) CheckpointGradients {
	var names []string
	var norms, muon []float64
	out := CheckpointGradients{MinNorm: math.Inf(1), AlphaGradsAllZero: true}
	for _, p := range gf.Params {
		names, norms = append(names, p.Name), append(norms, p.GradNorm)
		if !p.Dead && p.GradNorm < out.MinNorm {
			out.MinName, out.MinNorm = p.Name, p.GradNorm
		}
		if p.Optimizer == "muon" {
			muon = append(muon, p.GradNorm)
		}
	}
	out.MuonLo, out.MuonHi = slices.Min(muon), slices.Max(muon)
	Save(plots.GradientFlow(name, names, norms))
	var rows [][]string
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range gf.AlphaGrads {
			if !yield(n) {
				return
			}
		}
	}) {
		rows = append(rows, []string{n, strconv.FormatFloat(gf.AlphaGrads[n], 'g', -1, 64)})
		out.AlphaGradsAllZero = out.AlphaGradsAllZero && gf.AlphaGrads[n] == 0
	}
	nbdisplay.ShowTable([]string{"parameter", "gradient (exact)"}, rows)
	return out
}

// PlotRunGrads draws the gradient norms of the named parameters (and the global norm) over a
// run on a log axis.
func PlotRunGrads(name, title string, gf analysis.RunGradFlow, params []string) {
	var ss []plots.Series
	for _, p := range params {
		i := slices.IndexFunc(gf.Params, func(g analysis.GradSeries) bool { return g.Name == p })
		if i < 0 {
			panic("no gradient series " + p)
		}
		ss = append(ss, StepSeries(strings.TrimSuffix(p, ".weight"), gf.Steps, gf.Params[i].Values))
	}
	ss = append(ss, StepSeries("global (before clipping)", gf.Steps, gf.GlobalNorm.Values))
	Save(plots.LinesOverSteps(name, title, "gradient L2 norm (log scale)", ss, true))
}

// RunZeros counts the alpha_logits whose gradient was exactly 0 at every logged step (of
// AlphaTotal) and the other parameters that were ever exactly 0.
type RunZeros struct{ AlphaZero, AlphaTotal, OtherZero int }

func RunZerosOf(gf analysis.RunGradFlow) (z RunZeros) {
	for _, p := range gf.Params {
		if gomlxmodel.IsAlphaLogit(p.Name) {
			z.AlphaTotal++
			if p.ZeroSteps == len(gf.Steps) {
				z.AlphaZero++
			}
		} else if p.ZeroSteps > 0 {
			z.OtherZero++
		}
	}
	return z
}

// AlphaValues returns every sigmoid(alpha_logit) a run logged, deduplicated, and the number of
// training steps.
func AlphaValues(ms []metrics.Record) (values []float64, steps int) {
	for _, m := range ms {
		if m.Kind != "train" {
			continue
		}
		steps++
		for _, a := range m.Alphas {
			if !slices.Contains(values, a) {
				values = append(values, a)
			}
		}
	}
	return values, steps
}

// PlotAlphas draws sigmoid(alpha_logit) of every mHC sub-block over a run.
func PlotAlphas(name, title string, ms []metrics.Record) {
	shapes := map[string][]int{}
	for n := range ms[0].Alphas {
		shapes[n] = nil
	}
	var ss []plots.Series
	for _, n := range config.SortedNames(shapes) {
		var steps []int
		var v []float64
		for _, m := range ms {
			if m.Kind == "train" {
				steps, v = append(steps, m.Step), append(v, m.Alphas[n])
			}
		}
		ss = append(ss, StepSeries(alphaLabel(n), steps, v))
	}
	Save(plots.LinesOverSteps(name, title, "alpha = sigmoid(alpha_logit)", ss, false))
}

// alphaLabel is the plot label of an alpha_logit: "blocks.1.mhc_ffn.alpha_logit" → "block 1 FFN".
func alphaLabel(name string) string {
	n, err := gomlxmodel.ParseName(name)
	if err != nil || !gomlxmodel.IsAlphaLogit(name) {
		return name
	}
	return "block " + strconv.Itoa(n.Block) + map[string]string{"mhc_attn": " attention", "mhc_ffn": " FFN"}[n.Sub]
}

// ShiftMHC returns a copy of p with every mHC sub-block's pre_logits and post_logits shifted by
// preDelta and postDelta (per stream) and every alpha_logit set to alpha.
func ShiftMHC(p gomlxmodel.Params, preDelta, postDelta [2]float32, alpha float32) gomlxmodel.Params {
	out := make(gomlxmodel.Params, len(p))
	for n, t := range p {
		d := slices.Clone(t.Data)
		pn, err := gomlxmodel.ParseName(n)
		switch {
		case err != nil || !pn.IsMHC():
		case pn.Leaf == gomlxmodel.MHCPreLogits:
			d[0], d[1] = d[0]+preDelta[0], d[1]+preDelta[1]
		case pn.Leaf == gomlxmodel.MHCPostLogits:
			d[0], d[1] = d[0]+postDelta[0], d[1]+postDelta[1]
		case pn.Leaf == gomlxmodel.MHCAlphaLogit:
			d[0] = alpha
		}
		out[n] = checkpoint.Tensor{Shape: t.Shape, Data: d}
	}
	return out
}

// SymmetryBreak is what ShowSymmetryBreak measured: in the two asymmetric cases, how many of
// the other alphas' gradients are non-zero (Woken of Others), max|s0 − s1| with alpha_logit 5,
// and in how many of the Cases the last sub-block's alpha (LastName) got exactly 0.
type SymmetryBreak struct {
	Woken, Others, LastZero, Cases int
	AsymAt5                        float64
	LastName                       string
}

// ShowSymmetryBreak measures, on the windows, the alpha gradients and the stream asymmetry of
// the checkpoint as trained and with its pre/post logits made asymmetric, at alpha_logit 0
// and 5, and tabulates them.
func ShowSymmetryBreak(ck *checkpoint.Checkpoint, w *analysis.Windows) (SymmetryBreak, error) {
	c, v := ck.Meta.Config, ck.Meta.Variant
	sb := SymmetryBreak{LastName: gomlxmodel.MHCParam(c.NLayers-1, gomlxmodel.SubFFN, gomlxmodel.MHCAlphaLogit)}
	cases := []struct {
		name      string
		pre, post [2]float32
		alpha     float32
	}{
		{"as trained (symmetric), alpha_logit 0", [2]float32{}, [2]float32{}, 0},
		{"as trained (symmetric), alpha_logit 5", [2]float32{}, [2]float32{}, 5},
		{"asymmetric pre/post, alpha_logit 0", [2]float32{0.7, -0.4}, [2]float32{0.5, -0.5}, 0},
		{"asymmetric pre/post, alpha_logit 5", [2]float32{0.7, -0.4}, [2]float32{0.5, -0.5}, 5},
	}
	var alphaNames []string
	for i := 0; i < c.NLayers; i++ {
		alphaNames = append(alphaNames, gomlxmodel.MHCParam(i, gomlxmodel.SubAttn, gomlxmodel.MHCAlphaLogit),
			gomlxmodel.MHCParam(i, gomlxmodel.SubFFN, gomlxmodel.MHCAlphaLogit))
	}
	head := []string{"case", "max|s0 − s1|"}
	for _, n := range alphaNames {
		pn, _ := gomlxmodel.ParseName(n)
		head = append(head, "∂L/∂ "+strconv.Itoa(pn.Block)+"."+pn.Sub) // "∂L/∂ 0.mhc_attn"
	}
	var rows [][]string
	for i, cs := range cases {
		s, err := analysis.NewSubject(c, v, ShiftMHC(ck.Tensors, cs.pre, cs.post, cs.alpha))
		if err != nil {
			return sb, err
		}
		gf, err := analysis.GradientFlow(s, w)
		if err != nil {
			return sb, err
		}
		an, err := analysis.ActivationNorms(s, w)
		if err != nil {
			return sb, err
		}
		asym := 0.0
		for _, l := range an.Layers {
			asym = max(asym, l.StreamAsymmetry)
		}
		if i == 3 {
			sb.AsymAt5 = asym
		}
		row := []string{cs.name, G3(asym)}
		for _, n := range alphaNames {
			g := gf.AlphaGrads[n]
			row = append(row, G3(g))
			if n == sb.LastName && g == 0 {
				sb.LastZero++
			}
			if i >= 2 && n != sb.LastName {
				sb.Others++
				if g != 0 {
					sb.Woken++
				}
			}
		}
		rows = append(rows, row)
	}
	sb.Cases = len(cases)
	nbdisplay.ShowTable(head, rows)
	return sb, nil
}

// AlphaSwap runs the inputs through the model (c, v) with parameters p as given and with every
// alpha_logit set to 5 (analysis.AlphaSwapLogits), and compares the logits
// (analysis.CompareLogits): the largest |Δlogit| and the share of positions whose argmax agrees;
// it also returns the swapped logits.
func AlphaSwap(c config.Config, v config.Variant, p gomlxmodel.Params, inputs [][]int32) (d, agree float64, swapped []float32, err error) {
	s, err := analysis.NewSubject(c, v, p)
	if err != nil {
		return 0, 0, nil, err
	}
	base, swapped, err := analysis.AlphaSwapLogits(s, inputs, 5)
	if err != nil {
		return 0, 0, nil, err
	}
	diff := analysis.CompareLogits(base, swapped, c.VocabSize)
	return diff.MaxAbs, diff.Agreement, swapped, nil
}
