package analysis

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// Swap is the replacement test of one tensor: the CE at the model's best offset when the
// tensor alone is replaced by a fresh i.i.d. normal draw with its own mean and standard
// deviation, minus the CE as loaded, per position (mean and standard error). A tensor that
// carries learned information costs loss when replaced; an untrained one does not.
type Swap struct {
	Tensor      string  `json:"tensor"`
	Offset      int     `json:"offset"`
	Positions   int     `json:"positions"`
	DeltaCE     float64 `json:"delta_ce"`
	SE          float64 `json:"se"`
	Informative bool    `json:"informative"`
}

// layerIndex matches the layer number of a parameter name ("model.layers.1.mlp…").
var layerIndex = regexp.MustCompile(`\.([0-9]+)\.`)

// peerMoved reports whether a peer of the tensor — the same role in another layer (the name
// with its layer number changed), or, for a constant initialiser, any tensor initialised to the
// same constant (the other norm weights) — has moved from its initialiser: training moves peers
// together, so one left at its initialiser beside trained peers was not loaded. A tensor
// without peers (a position table) proves nothing: a trained one can stay near its draw; nor do
// norms that are all at 1 (a codebase whose norms have no weight).
func peerMoved(cat *Catalog, name string) bool {
	role, init := layerIndex.ReplaceAllString(name, ".N."), cat.initOf[name]
	for _, t := range cat.Traces {
		if t.Name == name || slices.Contains(cat.InitLike, t.Name) {
			continue
		}
		if (role != name && layerIndex.ReplaceAllString(t.Name, ".N.") == role) || (strings.HasPrefix(init, "const") && cat.initOf[t.Name] == init) {
			return true
		}
	}
	return false
}

// trainedPeer reports whether a tensor has no same-role peer (the name with its layer number
// changed) or one whose statistics look trained.
func trainedPeer(cat *Catalog, name string) bool {
	role := layerIndex.ReplaceAllString(name, ".N.")
	if role == name {
		return true
	}
	peers := false
	for _, t := range cat.Traces {
		if t.Name != name && layerIndex.ReplaceAllString(t.Name, ".N.") == role {
			peers = true
			if !untrainedLike(t) {
				return true
			}
		}
	}
	return !peers
}

// swapPositions is the number of positions of each replacement test.
const swapPositions = 256

// significant reports whether a paired loss difference counts (minDeltaNats, sigmas).
func significant(mean, se float64) bool { return mean > max(minDeltaNats, sigmas*se) }

// commonInit reports whether a constant vector sits (within constTol) at a value initialisers
// use: 0, 1/2, 1, or the investigated model's own constant for that tensor.
func commonInit(name string, v float64) bool {
	consts := []float64{0, 0.5, 1}
	if ini := gomlxmodel.InitOf(name); !ini.Normal {
		consts = append(consts, float64(ini.Value))
	}
	for _, c := range consts {
		if abs(v-c) <= constTol*max(1, abs(c)) {
			return true
		}
	}
	return false
}

// untrainedLike is a trace's statistical verdict, with constant vectors counted only at a
// common initial value (a trained mHC pair can be equal without being at init).
func untrainedLike(t TensorTrace) bool {
	if t.Test == "constant" {
		return t.Constant && commonInit(t.Name, t.Value)
	}
	return t.Untrained
}

// allUntrained says whether every matrix that receives gradient is statistically an untrained
// draw and the model has no skill at any offset but 0 (a fresh tied model copies, so offset 0
// proves nothing). Tensors without gradient (alpha_logit at any value) could not have been
// trained and say nothing either way; nor do vectors when the output is the tied self logit.
func allUntrained(cat *Catalog) (bool, float64) {
	bestOther := cat.AsLoaded.CE[offsetIndex(1)]
	for i, k := range Offsets {
		if k != 0 {
			bestOther = min(bestOther, cat.AsLoaded.CE[i])
		}
	}
	maxGrad := 0.0
	for _, t := range cat.Traces {
		maxGrad = max(maxGrad, t.GradNorm)
	}
	for _, t := range cat.Traces {
		// Vectors do not decide: a few optimizer steps move them off their constants, and
		// other implementations draw them at random; the matrices carry the training.
		if !untrainedLike(t) && t.GradNorm > gradFloor*maxGrad && t.Test != "constant" {
			return false, bestOther
		}
	}
	return bestOther > cat.Unigram-minDeltaNats, bestOther
}

// initLikeCandidate reports whether a swap candidate is still its initialiser's draw beside
// trained peers.
func initLikeCandidate(cat *Catalog) bool {
	return slices.ContainsFunc(swapCandidates(cat), func(n string) bool { return slices.Contains(cat.InitLike, n) && peerMoved(cat, n) })
}

// swapCandidates are the matrices whose statistics look untrained although they receive
// gradient: they go through the replacement test.
func swapCandidates(cat *Catalog) []string {
	maxGrad := 0.0
	for _, t := range cat.Traces {
		maxGrad = max(maxGrad, t.GradNorm)
	}
	var out []string
	for _, t := range cat.Traces {
		if t.Test != "constant" && untrainedLike(t) && t.GradNorm > gradFloor*maxGrad {
			out = append(out, t.Name)
		}
	}
	return out
}

// RunSwaps runs the replacement test on every candidate tensor of the catalog, on the first
// windows of w (about swapPositions positions).
func RunSwaps(s *Subject, w *Windows, cat *Catalog) error {
	cands := swapCandidates(cat)
	if len(cands) == 0 {
		return nil
	}
	T := len(w.Inputs[0])
	head := w.Head(max(1, (swapPositions+T-1)/T))
	off := cat.AsLoaded.Best
	n := len(head.Inputs) * (T - 1) // positions t ≥ 1 of the head windows, in offsetCE order
	_, base := cat.AsLoaded.at(off)
	base = base[:n]
	// replaced runs the model with tensor name replaced by t: ΔCE per position against base.
	replaced := func(name string, t checkpoint.Tensor) (d, se float64, err error) {
		p := make(gomlxmodel.Params, len(s.Params))
		for k, x := range s.Params {
			p[k] = x
		}
		p[name] = t
		s2, err := s.withParams(p)
		if err != nil {
			return 0, 0, err
		}
		o, err := runOffsets(s2, head, s.dims().VocabSize)
		if err != nil {
			return 0, 0, err
		}
		_, got := o.at(off)
		d, se = pairedDelta(base, got)
		return d, se, nil
	}
	for _, name := range cands {
		d, se, err := replaced(name, freshLike(name, s.Params[name]))
		if err != nil {
			return err
		}
		cat.Swaps = append(cat.Swaps, Swap{Tensor: name, Offset: off, Positions: n, DeltaCE: d, SE: se, Informative: significant(d, se)})
	}
	return nil
}

// freshLike draws a tensor of t's shape with i.i.d. normal entries of t's own mean and standard
// deviation (gonum's stat.PopMeanStdDev), seeded by the name.
func freshLike(name string, t checkpoint.Tensor) checkpoint.Tensor {
	xs := make([]float64, len(t.Data))
	for i, v := range t.Data {
		xs[i] = float64(v)
	}
	mean, sd := stat.PopMeanStdDev(xs, nil)
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(h.Sum64(), 17))
	data := make([]float32, len(t.Data))
	for i := range data {
		data[i] = float32(mean + sd*rng.NormFloat64())
	}
	return checkpoint.Tensor{Shape: slices.Clone(t.Shape), Data: data}
}

// untrainedFindings decides weights_untrained (every tensor an untrained draw, no skill) and
// tensors_untrained (constant vectors at an initial value that receive gradient, and matrices
// whose statistics look random and whose replacement by a fresh draw costs no loss). A model
// that performs as it should has no tensor missing — the rest of a trained model depends on
// every trained tensor — so tensors_untrained is only decided when it underperforms: small
// models leave some trained tensors unused, and those cost no loss when replaced either.
//
// Vectors at an initial constant are decided from their statistics alone; matrices only when
// the catalog holds their replacement tests (RunSwaps), which Diagnose runs when the model has
// no skill and no other kind explains it.
func untrainedFindings(cat *Catalog, underperforms bool) []Finding {
	if all, bestOther := allUntrained(cat); all {
		maxZ, embedKS := 0.0, 0.0
		for _, t := range cat.Traces {
			maxZ = max(maxZ, abs(t.AlignZ))
			if t.Spectrum != nil {
				embedKS = max(embedKS, t.Spectrum.KS)
			}
		}
		return []Finding{{Kind: KindWeightsUntrained, Tensors: []string{},
			Evidence: map[string]any{"tensors": len(cat.Traces), "untrained_like": len(cat.Traces),
				"max_abs_align_z": maxZ, "align_z_threshold": alignZMax, "max_embedding_ks": embedKS, "ks_threshold": spectrumKSMax,
				"best_ce_offset_not_0": bestOther, "unigram_ce": cat.Unigram},
			Detail: fmt.Sprintf("every one of the %d tensors is statistically an untrained draw (matrices |align z| ≤ %.1f < %.1f, embedding spectrum KS %.3f < %.2f from Marchenko–Pastur, vectors at their initial constants) and the best CE at any offset but 0 is %.3f, not below the unigram CE %.3f",
				len(cat.Traces), maxZ, alignZMax, embedKS, spectrumKSMax, bestOther, cat.Unigram),
			Fix: "load the trained weights: the file holds a fresh initialisation (check that the training run saved after training, and that the loader reads this file)"}}
	}
	maxGrad := 0.0
	for _, t := range cat.Traces {
		maxGrad = max(maxGrad, t.GradNorm)
	}
	swaps := map[string]Swap{}
	for _, sw := range cat.Swaps {
		swaps[sw.Tensor] = sw
	}
	ev := map[string]any{}
	var names, contradicted []string
	for _, t := range cat.Traces {
		if !untrainedLike(t) || t.GradNorm <= gradFloor*maxGrad {
			continue
		}
		// A model that performs is missing a tensor only when the tensor is still its
		// initialiser's draw (Drift): small models leave trained tensors unused, and those cost
		// no loss when replaced either.
		if !underperforms && (!slices.Contains(cat.InitLike, t.Name) || !peerMoved(cat, t.Name)) {
			continue
		}
		switch {
		case t.Test == "constant":
			ev[t.Name+".constant"] = t.Value
			ev[t.Name+".grad_norm"] = t.GradNorm
		default:
			sw, ok := swaps[t.Name]
			if !ok || sw.Informative {
				continue
			}
			// Statistics alone (not at its initialiser's distribution) are evidence only beside a
			// same-role peer that looks trained: every layer's matrix of a role looking random is
			// how that role trains in this model (blind kits 4b and 4c: v_proj and o_proj of small
			// trained models), and in a model broken elsewhere replacing it costs nothing either.
			if !slices.Contains(cat.InitLike, t.Name) && !trainedPeer(cat, t.Name) {
				continue
			}
			// Random-looking, yet its replacement costs loss; or, for a matrix whose statistics
			// alone say untrained (not at its initialiser's distribution), a replacement that
			// moves the loss beyond its standard error either way: the tensor carries training.
			if !sw.noCost() || (!slices.Contains(cat.InitLike, t.Name) && !sw.indistinct()) {
				ev[t.Name+".undecided_swap_delta_ce"], ev[t.Name+".undecided_swap_se"] = sw.DeltaCE, sw.SE
				contradicted = append(contradicted, t.Name)
				continue
			}
			if slices.Contains(cat.InitLike, t.Name) {
				ev[t.Name+".at_initialiser_distribution"] = true
			}
			if t.Spectrum != nil {
				ev[t.Name+".spectrum_ks"] = t.Spectrum.KS
			} else {
				ev[t.Name+".align_z"] = t.AlignZ
			}
			ev[t.Name+".swap_delta_ce"] = sw.DeltaCE
			ev[t.Name+".swap_se"] = sw.SE
		}
		names = append(names, t.Name)
	}
	if len(contradicted) > 0 && len(names) == 0 {
		ev["contradicted"], ev["tensors"] = len(contradicted), len(cat.Traces)
		return []Finding{{Kind: KindUnexplained, Tensors: contradicted, Evidence: ev,
			Detail: fmt.Sprintf("%s look like untrained draws by their statistics, but replacing them with a fresh draw costs loss (%s): the evidence contradicts itself, so no tensor is called untrained",
				shortList(contradicted), swapText(contradicted, swaps)),
			Fix: "compare the loader's tensor names and the training code's initialisers with the file's; look at the run's gradient flow for these tensors"}}
	}
	if len(names) == 0 {
		return nil
	}
	ev["untrained"], ev["tensors"], ev["undecided"] = len(names), len(cat.Traces), len(contradicted)
	return []Finding{{Kind: KindTensorsUntrained, Tensors: names, Evidence: ev,
		Detail: fmt.Sprintf("%d of %d tensors carry no training while the rest does: %s (random-matrix statistics and no loss within its standard error when replaced by a fresh draw, or a vector at its initial constant although it receives gradient)%s",
			len(names), len(cat.Traces), shortList(names), undecidedText(contradicted, swaps)),
		Fix: "load these tensors from the trained checkpoint: a partial or misnamed load left them at their initialisation (compare the loader's tensor names with the file's)"}}
}

func undecidedText(names []string, swaps map[string]Swap) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("; not named, their replacement costing loss although they look untrained: %s", swapText(names, swaps))
}

// noCost reports whether the replacement costs no loss within its standard error: ΔCE at most
// max(minDeltaNats, 2·SE). Between that and significant, the test is inconclusive.
func (sw Swap) noCost() bool { return sw.DeltaCE <= max(minDeltaNats, 2*sw.SE) }

// indistinct reports whether the fresh draw's CE equals the tensor's within swapSigmas standard
// errors, either way: what an untrained draw gives when nothing ties it to the initialiser.
func (sw Swap) indistinct() bool { return abs(sw.DeltaCE) <= swapSigmas*sw.SE }

func swapText(names []string, swaps map[string]Swap) string {
	var parts []string
	for _, n := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %+.3f ± %.3f nats", n, swaps[n].DeltaCE, swaps[n].SE))
	}
	return strings.Join(parts, ", ")
}

func shortList(names []string) string {
	if len(names) <= 6 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:6], ", ") + fmt.Sprintf(" and %d more", len(names)-6)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
