package analysis

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"nanoscope/gomlxmodel"
)

// The convention search: the general form of "it behaves differently at inference than its
// training loss promised" is a mismatch between the convention the weights were trained under
// and the one the inference path applies (RoPE pairing or base, attention scale, kv-head
// mapping, fused-QKV order, an embedding scale, a norm offset, a soft-cap, the mask, ...). The
// family declares its conventions and their alternatives (gomlxmodel.Family.Conventions); the
// search re-runs the same weights under each alternative on a few windows (the screen), keeps
// the ones that predict better, confirms them on the catalog's windows, and from the best one
// that holds searches once more for a second mismatch. No list of known faults is consulted.

// Flip is one convention changed from its value as loaded.
type Flip struct {
	Convention string `json:"convention"`
	Value      string `json:"value"`
	Loaded     string `json:"loaded"`
	// Key says what sets the convention in the user's config or code.
	Key string `json:"key"`
	// Edit is the rearrangement of the loaded tensors a flip of the placement search applies
	// (placement.go); nil for a convention of the family.
	Edit *Edit `json:"edit,omitempty"`
}

// Candidate is one point of the convention space on the screen: the same weights with Flips
// applied on top of Base (the flips of an earlier round), its best CE over the offsets and its
// gain over Base on the same positions (paired). Skipped says why it could not run (the flip
// changes the parameter set, or the positions exceed the model's).
type Candidate struct {
	Round     int     `json:"round"`
	Flip      Flip    `json:"flip"`
	Positions int     `json:"positions"`
	CE        float64 `json:"ce"`
	Offset    int     `json:"offset"`
	Gain      float64 `json:"gain_nats"`
	SE        float64 `json:"se"`
	Skipped   string  `json:"skipped,omitempty"`
}

// Search budgets: the screen's positions, how many candidates of a round are confirmed on the
// catalog's windows, and how many rounds (a second round finds a second mismatch on top of the
// first).
const (
	screenPositions = 256
	maxConfirm      = 3
	searchRounds    = 2
)

// ConditionName names a run by its flips: "no causal mask", "rope interleaved", "gqa tile" for
// the conventions the catalog always had, "name=value" for the others, joined by " + ".
func ConditionName(flips []Flip) string {
	var parts []string
	for _, f := range flips {
		if f.Edit != nil {
			parts = append(parts, f.Edit.What)
			continue
		}
		switch f.Convention {
		case gomlxmodel.ConvCausal:
			if f.Value == "false" {
				parts = append(parts, "no causal mask")
			} else {
				parts = append(parts, "causal mask")
			}
		case gomlxmodel.ConvRopePairing:
			parts = append(parts, "rope "+f.Value)
		case gomlxmodel.ConvGQAMapping:
			parts = append(parts, "gqa "+f.Value)
		default:
			parts = append(parts, f.Convention+"="+f.Value)
		}
	}
	return strings.Join(parts, " + ")
}

// comparable returns o with Best and BestCE over the offsets other than 0: the model as loaded
// is compared at any offset but the current token's (a model trained on labels shifted back
// predicts the previous token best).
func comparable(o OffsetCE) OffsetCE { return bestAmong(o, func(k int) bool { return k != 0 }) }

// recovered returns a run of the search with Best and BestCE over the offsets of tokens the model
// does not see (k ≥ 1): the search never counts a better prediction of a token in its input as
// recovered training. An alternative that swamps the residual stream with the embedding makes a
// tied head copy its input at CE near 0; the rotary turn reversed makes a model trained without
// the causal mask read the previous token where it learned to read the next (the family
// gallery's Llama: CE 0.04 at offset −1); a model trained on labels shifted so is named by its
// offsets as loaded, without any flip.
func recovered(o OffsetCE) OffsetCE { return bestAmong(o, func(k int) bool { return k >= 1 }) }

// bestAmong returns o with Best and BestCE over the offsets k that ok accepts.
func bestAmong(o OffsetCE, ok func(k int) bool) OffsetCE {
	if ok(o.Best) {
		return o
	}
	bi := -1
	for i, k := range Offsets {
		if ok(k) && (bi < 0 || o.CE[i] < o.CE[bi]) {
			bi = i
		}
	}
	o.Best, o.BestCE = Offsets[bi], o.CE[bi]
	return o
}

// gainOver is the drop of the best CE over the offsets from base to cond on the same positions,
// with the standard error of the paired differences (see conventionGain).
func gainOver(base, cond OffsetCE) (gain, se float64) {
	a, b := pairedAt(base, cond)
	return pairedDelta(b, a) // mean of a − b
}

// pairedAt returns the per-position CEs gainOver compares: base at its best offset and cond at
// its best, or base at cond's best when the best CEs tie and the offset moved.
func pairedAt(base, cond OffsetCE) (a, b []float64) {
	base, cond = comparable(base), recovered(cond)
	_, a = base.at(base.Best)
	_, b = cond.at(cond.Best)
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	if g, se := pairedDelta(b, a); significant(g, se) || cond.BestCE > base.BestCE+minDeltaNats {
		return a, b
	}
	_, a = base.at(cond.Best)
	return a[:n], b
}

// earlyGain is gainOver on the positions of the first quarter of each window, t < T/4: a model
// evaluated beyond the context it was trained on degrades late in the window, and a rotary base
// or scale that slows the rotation then helps the late positions at the cost of the early ones
// (measured on a transformers-trained Llama run at 128 positions after training on 48: +0.07 to
// +0.11 nats overall, −0.06 to −0.15 on the first quarter; on a Mistral trained with a window of
// 16 run with full attention: +0.31 to +0.35 overall, −0.04 to −0.11 early, each beyond one
// standard error). A convention the model was trained under does not hurt the early positions
// (a rotary base helps them little: +0.04 ± 0.03 nats where the whole window gains 0.52).
func earlyGain(base, cond OffsetCE) (gain, se float64) {
	a, b := pairedAt(base, cond)
	T := max(base.seqLen, 2)
	var ea, eb []float64
	for i := range a {
		if t := i%(T-1) + 1; t < max(2, T/4) {
			ea, eb = append(ea, a[i]), append(eb, b[i])
		}
	}
	if len(ea) < 2 {
		return gainOver(base, cond)
	}
	return pairedDelta(eb, ea)
}

// holdsOver reports whether cond predicts significantly better than base (by sigmas standard
// errors and minDeltaNats, or permutingDeltaNats when its newest flip cannot help a model
// trained as loaded), is not worse on the early positions of the windows (by more than one
// standard error there), and beats the unigram.
func holdsOver(base, cond OffsetCE, unigram float64) (gain, se float64, ok bool) {
	gain, se = gainOver(base, cond)
	eg, ese := earlyGain(base, cond)
	floor := minDeltaNats
	if n := len(cond.Flips); n > 0 && cannotHelp(cond.Flips[n-1]) {
		floor = permutingDeltaNats
	}
	return gain, se, gain > max(floor, sigmas*se) && eg > -ese && recovered(cond).BestCE < unigram-minDeltaNats
}

// cannotHelp reports whether a model trained as loaded cannot gain from the flip, so that a gain
// of sigmas standard errors names it from permutingDeltaNats: it rearranges trained weights (an
// edit of the placement search, or a convention the family marks permuting), or it narrows the
// sliding window the config declares (it only hides tokens the model was trained to see).
func cannotHelp(f Flip) bool {
	if f.Edit != nil || gomlxmodel.PermutingConventions[f.Convention] {
		return true
	}
	if f.Convention != gomlxmodel.ConvSlidingWindow {
		return false
	}
	v, err1 := strconv.Atoi(f.Value)
	loaded, err2 := strconv.Atoi(f.Loaded)
	return err1 == nil && err2 == nil && v > 0 && loaded > 0 && v < loaded
}

// rivals reports whether the flip b is another explanation of a's evidence: an alternative of
// another mechanism (gomlxmodel.ConventionMechanisms), or an edit of other tensors — not another
// value of the same quantity, not an edit of some of the same tensors, and not a flip that only
// hides context (a sliding window narrower than the one loaded helps a model run on positions
// it handles badly, whatever the cause).
func rivals(a, b Flip) bool {
	if hidesContext(b) || hidesContext(a) {
		return false
	}
	if (a.Edit == nil) != (b.Edit == nil) {
		return true
	}
	if a.Edit == nil {
		return mechanism(a.Convention) != mechanism(b.Convention)
	}
	return !slices.ContainsFunc(b.Edit.tensors(), func(t string) bool { return slices.Contains(a.Edit.tensors(), t) })
}

// mechanism is the quantity a convention sets (gomlxmodel.ConventionMechanisms), or its own name.
func mechanism(conv string) string {
	if m, ok := gomlxmodel.ConventionMechanisms[conv]; ok {
		return m
	}
	return conv
}

// hidesContext reports whether f narrows the attention window below the one loaded.
func hidesContext(f Flip) bool {
	if f.Edit != nil || f.Convention != gomlxmodel.ConvSlidingWindow {
		return false
	}
	v, err1 := strconv.Atoi(f.Value)
	loaded, err2 := strconv.Atoi(f.Loaded)
	return err1 == nil && err2 == nil && v > 0 && (loaded == 0 || v < loaded)
}

// from returns o without its first n per-position values (the first windows), summarised anew.
func (o OffsetCE) from(n int) OffsetCE {
	out := o
	out.perPos = make([][]float64, len(o.perPos))
	for i, p := range o.perPos {
		out.perPos[i] = p[min(n, len(p)):]
	}
	out.summarise()
	return out
}

// truncate returns o restricted to its first n per-position values (the first windows).
func (o OffsetCE) truncate(n int) OffsetCE {
	out := o
	out.perPos = make([][]float64, len(o.perPos))
	for i, p := range o.perPos {
		out.perPos[i] = p[:min(n, len(p))]
	}
	return out
}

// searchConventions runs the search on the windows w (the catalog's), where the subject as
// loaded scores asW: the family's conventions and the edits of the placement search
// (placementEdits, ranked). The screen runs on the first windows (about screenPositions
// positions) and the best candidates are confirmed on the windows after them, held out from
// the choice (a confirmation on the windows that chose it would carry the winner's curse: the
// best of some sixty noisy gains is biased up); a model of one window confirms on it again. It
// returns every candidate of the screen, the confirmed runs, each with its flips, and the run
// as loaded on the confirmation's windows (what they are compared with).
func searchConventions(s *Subject, w *Windows, asW OffsetCE, unigram float64, edits []Edit) ([]Candidate, []OffsetCE, OffsetCE, *Windows, error) {
	V := s.dims().VocabSize
	T := len(w.Inputs[0])
	screen, confirm := splitScreen(w)
	nScreen := len(screen.Inputs) * (T - 1)
	held := asW
	if confirm != w {
		held = asW.from(nScreen)
	}
	base, baseRun, baseScreen := s, held, asW.truncate(nScreen)
	var baseFlips []Flip
	var cands []Candidate
	var confirmed []OffsetCE
	for round := 1; round <= searchRounds; round++ {
		type tried struct {
			c      Candidate
			s2     *Subject
			screen OffsetCE // its run on the screen's windows
		}
		var runs []tried
		var todo []Candidate
		for _, conv := range base.Family.Conventions() {
			if conv.Inert || slices.ContainsFunc(baseFlips, func(f Flip) bool { return f.Convention == conv.Name }) {
				continue
			}
			for _, v := range conv.Values {
				if v != conv.Value {
					todo = append(todo, Candidate{Round: round, Flip: Flip{Convention: conv.Name, Value: v, Loaded: conv.Value, Key: conv.Key}, Positions: nScreen})
				}
			}
		}
		for _, e := range edits {
			if !slices.ContainsFunc(baseFlips, func(f Flip) bool { return f.Edit != nil && f.Edit.What == e.What }) {
				todo = append(todo, Candidate{Round: round, Flip: e.Flip(), Positions: nScreen})
			}
		}
		done := make([]tried, len(todo))
		parallelDo(len(todo), searchWorkers(), func(i int) {
			c := todo[i]
			s2, err := base.withFlip(c.Flip)
			var o OffsetCE
			if err == nil {
				if o, err = runOffsets(s2, screen, V); err == nil {
					o = recovered(o)
					c.CE, c.Offset = o.BestCE, o.Best
					c.Gain, c.SE = gainOver(baseScreen, o)
				}
			}
			if err != nil {
				c.Skipped, s2 = err.Error(), nil
			}
			done[i] = tried{c, s2, o}
		})
		for _, t := range done {
			cands = append(cands, t.c)
			if t.s2 != nil {
				runs = append(runs, t)
			}
		}
		slices.SortStableFunc(runs, func(a, b tried) int { return cmp.Compare(b.c.Gain, a.c.Gain) })
		top := runs[:min(maxConfirm, len(runs))]
		for i, r := range top {
			if !(r.c.Gain > 0) || math.IsNaN(r.c.Gain) {
				top = top[:i]
				break
			}
		}
		if round == 1 && len(top) > 0 { // the leader's rival is confirmed too (rivalCondition)
			for _, r := range runs[len(top):] {
				if r.c.Gain > 0 && rivals(top[0].c.Flip, r.c.Flip) {
					top = append(slices.Clip(top), r)
					break
				}
			}
		}
		confirmTop := func() (*tried, OffsetCE, []OffsetCE, error) {
			full := make([]OffsetCE, len(top))
			errs := make([]error, len(top))
			parallelDo(len(top), searchWorkers(), func(i int) { full[i], errs[i] = runOffsets(top[i].s2, confirm, V) })
			var best *tried
			var bestRun OffsetCE
			var kept []OffsetCE
			bestGain := 0.0
			for i := range top {
				r := &top[i]
				if errs[i] != nil {
					return nil, OffsetCE{}, nil, errs[i]
				}
				o := recovered(full[i])
				o.Flips = append(slices.Clone(baseFlips), r.c.Flip)
				o.Condition = ConditionName(o.Flips)
				gain, se, ok := holdsOver(baseRun, o, unigram)
				o.Gain, o.SE = gain, se
				o.EarlyGain, o.EarlySE = earlyGain(baseRun, o)
				if round == 1 || ok { // a second flip counts only where it improves on the first
					kept = append(kept, o)
				}
				if ok && gain > bestGain {
					best, bestRun, bestGain = r, o, gain
				}
			}
			return best, bestRun, kept, nil
		}
		best, bestRun, kept, err := confirmTop()
		if err != nil {
			return nil, nil, OffsetCE{}, nil, err
		}
		// A leader of the first round that gains between widenZ and sigmas standard errors, or
		// that holds but beats a rival mechanism's run by only that many, is confirmed again on
		// widenFactor times the positions, when the token stream holds them.
		lead := 0.0 // the largest z of the confirmed runs, or the holding run's over its rival
		for _, o := range kept {
			if o.SE > 0 {
				lead = max(lead, o.Gain/o.SE)
			}
		}
		if best != nil {
			lead = rivalZ(held, bestRun, kept)
		}
		if round == 1 && lead >= widenZ && lead < sigmas {
			if more := w.wider(widenFactor, screen); more != nil && len(more.Inputs) > len(confirm.Inputs) {
				asMore, err := runOffsets(s, more, V)
				if err != nil {
					return nil, nil, OffsetCE{}, nil, err
				}
				confirm, held, baseRun = more, asMore, asMore
				if best, bestRun, kept, err = confirmTop(); err != nil {
					return nil, nil, OffsetCE{}, nil, err
				}
			}
		}
		confirmed = append(confirmed, kept...)
		if best == nil {
			break
		}
		base, baseRun, baseScreen, baseFlips = best.s2, bestRun, best.screen, bestRun.Flips
	}
	return cands, confirmed, held, confirm, nil
}

// rivalZ is the margin of best's gain over the gain of the confirmed single-flip run of a rival
// mechanism closest to it (as rivalCondition measures it, on the windows of held), in standard
// errors; +Inf when no such run gains.
func rivalZ(held, best OffsetCE, kept []OffsetCE) float64 {
	z := math.Inf(1)
	for _, o := range kept {
		if len(o.Flips) != 1 || !(o.Gain > 0) || sameFunction(best, o) || slices.ContainsFunc(best.Flips, func(f Flip) bool { return !rivals(f, o.Flips[0]) }) {
			continue
		}
		if m, se := gainMargin(held, best, o); se > 0 {
			z = min(z, m/se)
		}
	}
	return z
}

// splitScreen splits the windows into the search's screen (the first, about screenPositions
// positions) and the windows its runs are confirmed on (the others; all of w when the screen is
// all of it).
func splitScreen(w *Windows) (screen, confirm *Windows) {
	screen, confirm = w.HeadPositions(screenPositions), w
	if len(w.Inputs) > len(screen.Inputs) {
		confirm = w.tail(len(screen.Inputs))
	}
	return screen, confirm
}

// flattenedRun re-runs the best run of the search that holds with its attention scores ×0.8 (the
// attn_temperature convention), on the windows its conditions were confirmed on, with its gain
// over that run (nil when no run holds or it flips no convention). Training leaves the attention
// scale where the loss is lowest or, stopped early, below it (training sharpens attention); an
// alternative that undoes part of another fault by flattening attention sits on a slope that
// continues (see ambiguousFinding).
func flattenedRun(s *Subject, cat *Catalog) (*OffsetCE, error) {
	best, _, _ := bestCondition(cat)
	if best == nil || !slices.ContainsFunc(best.Flips, func(f Flip) bool { return f.Edit == nil }) {
		return nil, nil
	}
	flips := append(slices.Clone(best.Flips), Flip{Convention: gomlxmodel.ConvAttnTemp, Value: flattenFactor, Loaded: "1"})
	o, err := runFlips(s, flips, cat.confirm)
	if err != nil {
		return nil, err
	}
	o.Flips, o.Condition = flips, ConditionName(flips)
	o.Gain, o.SE = gainOver(*best, o)
	return &o, nil
}

// runFlips runs s under flips, in order, on the windows w, with the best offset among those of
// tokens it does not see (recovered).
func runFlips(s *Subject, flips []Flip, w *Windows) (OffsetCE, error) {
	s, err := underFlips(s, flips)
	if err != nil {
		return OffsetCE{}, err
	}
	o, err := runOffsets(s, w, s.dims().VocabSize)
	return recovered(o), err
}

// underFlips returns s under flips, applied in order.
func underFlips(s *Subject, flips []Flip) (*Subject, error) {
	for _, f := range flips {
		var err error
		if s, err = s.withFlip(f); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// residualBreak re-runs the best run of the search that holds on all the windows w (the
// confirmation by a full re-run) and measures the rise of its CE with position; nil when no run
// holds.
func residualBreak(s *Subject, cat *Catalog, w *Windows) (*PositionBreak, error) {
	best, _, _ := bestCondition(cat)
	if best == nil {
		return nil, nil
	}
	o, err := runFlips(s, best.Flips, w)
	if err != nil {
		return nil, err
	}
	b := positionBreak(positionBins(o, o.Best, len(w.Inputs[0])))
	return &b, nil
}

// FlipGain is the drop of the CE at offset k when s runs under the flip f (a convention of its
// family, or an edit of its tensors) instead of as loaded, on the windows w, with the standard
// error of the paired per-position differences (nats): how real a fault is, for a gallery that
// built it.
func FlipGain(s *Subject, w *Windows, f Flip, k int) (gain, se float64, err error) {
	s2, err := s.withFlip(f)
	if err != nil {
		return 0, 0, err
	}
	a, err := runOffsets(s, w, s.dims().VocabSize)
	if err != nil {
		return 0, 0, err
	}
	b, err := runOffsets(s2, w, s.dims().VocabSize)
	if err != nil {
		return 0, 0, err
	}
	_, pa := a.at(k)
	_, pb := b.at(k)
	gain, se = pairedDelta(pb, pa)
	return gain, se, nil
}

// Significant reports whether a gain of mean ± se nats counts: above max(0.1, 4 se).
func Significant(mean, se float64) bool { return significant(mean, se) }

// runOffsets scores s on the windows w at every offset.
// The logits are scored one batch at a time and dropped: memory holds one batch of logits
// (probeBatchElems values), not the windows' (B·T·V).
func runOffsets(s *Subject, w *Windows, V int) (OffsetCE, error) {
	e, err := s.engine()
	if err != nil {
		return OffsetCE{}, err
	}
	T := len(w.Inputs[0])
	bs := max(1, min(len(w.Inputs), probeBatchElems/(T*V)))
	var out OffsetCE
	for start := 0; start < len(w.Inputs); start += bs {
		part := w.Head(min(start+bs, len(w.Inputs))).tail(start)
		logits, err := batchedLogits(e.logits, part, V)
		if err != nil {
			return OffsetCE{}, err
		}
		o, err := offsetCE("", logits, part, V)
		if err != nil {
			return OffsetCE{}, err
		}
		if start == 0 {
			out = o
			continue
		}
		for i := range out.perPos {
			out.perPos[i] = append(out.perPos[i], o.perPos[i]...)
		}
	}
	out.summarise()
	return out, nil
}

// searchWorkers is how many alternatives the screen runs at once: one on the Go backend, whose
// kernels already use every core; on XLA, where each alternative is a new graph that the host
// compiles (seconds on a GPT-2-small-size model) while the device idles, up to half the cores,
// at most 8 (each holds one batch of logits on the device).
func searchWorkers() int {
	if workersOverride > 0 {
		return workersOverride
	}
	if name, _, _ := strings.Cut(gomlxmodel.BackendConfig(), ":"); name != "xla" {
		return 1
	}
	return max(1, min(8, runtime.NumCPU()/2))
}

// workersOverride, when positive, replaces searchWorkers' choice (tests run the concurrent path
// on the Go backend).
var workersOverride int

// parallelDo calls f(0) … f(n−1) on at most workers goroutines and returns when all are done.
func parallelDo(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, max(1, workers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
