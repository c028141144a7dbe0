package analysis

import (
	"fmt"
	"math"
	"slices"

	"nanoscope/gomlxmodel"
)

// The inference faults among an engine fingerprint's candidates: nanoscope's own inference path
// with one fault of gomlxmodel.InferenceFaults switched on, run over the observation's ids as
// the user's engine read them — the prompt at once (prefill), then one id at a time through the
// KV cache (teacher-forced: the id fed at each step is the observed one, so that one different
// id does not derail the rest):
//
//   - the KV cache's positions off by +1 or −1 on the decoded ids;
//   - left padding by k ∈ fingerprintPads ids without position ids (the real ids from position
//     k; skipped where that is inert — rotary attention sees only distances — i.e. where its
//     logits equal the run as loaded within 100× float32's epsilon of the largest logit);
//   - the whole forward in float16 without a float32 upcast (norms, softmax and logits in
//     half precision: overflow where the residual stream exceeds 256 in RMS);
//   - dropout left on (p = gomlxmodel.FaultDropoutP on the embedding): a stochastic run has no
//     single prediction, so its agreement is the share of positions whose observed id is the
//     top-1 of at least one of fingerprintDropoutMasks masks, and its top logit at a position
//     is that of the mask nearest the observed one among those (a draw from the same
//     distribution lies within about its spread / fingerprintDropoutMasks of one of them; a
//     deterministic engine's logits lie at the bias of the masks' mean from the run as
//     loaded). The candidate stands only when the observation is a draw of dropout within its
//     own noise: its top-1 agreement with the run as loaded, and its top logits' mean squared
//     distance from the run as loaded, lie within the range of the masks' (dropoutDraw) —
//     else a fault that is no candidate could be claimed by dropout's coverage.
//
// (A missing BOS is the fingerprint's "without the BOS" candidate.)

// fingerprintPads are the left paddings tried; fingerprintDropoutMasks the dropout masks drawn.
var fingerprintPads = []int{2, 3, 4, 8}

const fingerprintDropoutMasks = 128

// faultRun is one inference-fault candidate: its top-1 id and top logit at every position of
// the ids (nil tops: no logit to compare), or why it was skipped.
type faultRun struct {
	name    string
	fault   gomlxmodel.InferenceFault
	pred    []int
	tops    []float64
	skipped string
}

// inferenceFaultRuns runs the inference-fault candidates of s over ids, prefilling the first
// pre ids; want are the observed ids (−1 where none) and wantTop the observed top logits (NaN
// where none), for the dropout candidate.
func inferenceFaultRuns(s *Subject, ids []int32, pre int, want []int, wantTop []float64) ([]faultRun, error) {
	e, err := s.engine()
	if err != nil {
		return nil, err
	}
	r := &gomlxmodel.FamilyRunner{Family: s.Family, Backend: e.backend, Scope: e.ctx}
	V := s.dims().VocabSize
	T := len(ids)
	tops := func(logits []float32) ([]int, []float64) {
		pred, top := make([]int, T), make([]float64, T)
		for t := range T {
			row := logits[t*V : (t+1)*V]
			pred[t] = gomlxmodel.Argmax(row)
			top[t] = float64(row[pred[t]])
		}
		return pred, top
	}
	// decode runs the prefill and the teacher-forced steps under fault.
	decode := func(fault gomlxmodel.InferenceFault) ([]float32, error) {
		o := gomlxmodel.StepOptions{Fault: fault}
		logits, cache, err := gomlxmodel.StepForward(r, [][]int32{ids[:pre]}, nil, o)
		if err != nil {
			return nil, err
		}
		for t := pre; t < T; t++ {
			var l []float32
			if l, cache, err = gomlxmodel.StepForward(r, [][]int32{ids[t : t+1]}, cache, o); err != nil {
				return nil, err
			}
			logits = append(logits, l...)
		}
		return logits, nil
	}
	var out []faultRun
	for _, c := range []struct {
		fault gomlxmodel.InferenceFault
		name  string
	}{
		{gomlxmodel.FaultKVPlus1, "KV cache positions off by +1 (each decoded id one position late)"},
		{gomlxmodel.FaultKVMinus1, "KV cache positions off by −1 (each decoded id one position early)"},
		{gomlxmodel.FaultFP16, "float16 inference without a float32 upcast"},
	} {
		run := faultRun{name: c.name, fault: c.fault}
		if c.fault != gomlxmodel.FaultFP16 && pre >= T {
			run.skipped = "no decoded position"
			out = append(out, run)
			continue
		}
		var logits []float32
		var err error
		if c.fault == gomlxmodel.FaultFP16 { // causal: one forward gives what decoding would
			logits, _, err = gomlxmodel.StepForward(r, [][]int32{ids}, nil, gomlxmodel.StepOptions{Fault: c.fault})
		} else {
			logits, err = decode(c.fault)
		}
		if err != nil {
			run.skipped = err.Error()
		} else {
			run.pred, run.tops = tops(logits)
		}
		out = append(out, run)
	}
	// Left padding without position ids, where it is not inert.
	plain, err := e.logits([][]int32{ids})
	if err != nil {
		return nil, err
	}
	maxAbs := 0.0
	for _, x := range plain {
		maxAbs = max(maxAbs, math.Abs(float64(x)))
	}
	for _, k := range fingerprintPads {
		run := faultRun{name: fmt.Sprintf("left padding by %d ids without position ids (the real ids from position %d)", k, k), fault: gomlxmodel.FaultLeftPadNoPositions}
		if m := s.dims().MaxSeq; m > 0 && T+k > m {
			run.skipped = fmt.Sprintf("%d ids and %d pads exceed the model's %d positions", T, k, m)
			out = append(out, run)
			continue
		}
		row := append(make([]int32, k), ids...)
		pad := make([]bool, T+k)
		for i := range k {
			pad[i] = true
		}
		logits, _, err := gomlxmodel.StepForward(r, [][]int32{row}, nil, gomlxmodel.StepOptions{Pad: [][]bool{pad}, RowShift: []int{-k}, Fault: gomlxmodel.FaultLeftPadNoPositions})
		switch {
		case err != nil:
			run.skipped = err.Error()
		case diffLogits(logits[k*V:], plain, V).maxAbs <= inferenceLimit*eps32*maxAbs:
			run.skipped = "inert: the same logits as loaded (rotary attention sees only distances)"
		default:
			run.pred, run.tops = tops(logits[k*V:])
		}
		out = append(out, run)
	}
	// Dropout: coverage of the observed ids by the top-1s of several masks — once the
	// observation is shown to be a draw of dropout at all (dropoutDraw).
	run := faultRun{name: fmt.Sprintf("dropout left on (p = %g on the embedding; %d masks: the observed id is one of their top-1s)", gomlxmodel.FaultDropoutP, fingerprintDropoutMasks), fault: gomlxmodel.FaultDropout}
	seen := make([][]float64, T) // per position, the top logits of the masks whose top-1 is the observed id
	all := make([][]float64, T)  // and of every mask
	loadedPred, loadedTop := tops(plain)
	var masks []maskStats
	var preds [][]int // every mask's top-1 ids
	for m := range fingerprintDropoutMasks {
		logits, _, err := gomlxmodel.StepForward(r, [][]int32{ids}, nil, gomlxmodel.StepOptions{Fault: gomlxmodel.FaultDropout, Seed: uint64(m + 1)})
		if err != nil {
			return nil, err
		}
		p, top := tops(logits)
		for t, id := range p {
			all[t] = append(all[t], top[t])
			if want[t] >= 0 && id == want[t] {
				seen[t] = append(seen[t], top[t])
			}
		}
		masks = append(masks, dropoutStats(p, top, loadedPred, loadedTop, want, wantTop))
		preds = append(preds, p)
	}
	nearest := func(xs []float64, y float64) float64 {
		best := xs[0]
		for _, x := range xs {
			if math.Abs(x-y) < math.Abs(best-y) {
				best = x
			}
		}
		return best
	}
	why := dropoutDraw(dropoutStats(want, wantTop, loadedPred, loadedTop, want, wantTop), masks)
	if why == "" {
		why = dropoutConsensus(preds, want)
	}
	if why == "" {
		why = dropoutPIT(all, wantTop)
	}
	if why != "" {
		run.skipped = why
		return append(out, run), nil
	}
	run.pred, run.tops = make([]int, T), make([]float64, T)
	hasTops := false
	for t := range run.pred {
		run.pred[t] = -2 // no id
		from := all[t]
		if len(seen[t]) > 0 {
			run.pred[t], from = want[t], seen[t]
		}
		if !math.IsNaN(wantTop[t]) {
			hasTops = true
			run.tops[t] = nearest(from, wantTop[t])
		}
	}
	if !hasTops {
		run.tops = nil
	}
	return append(out, run), nil
}

// ObserveGeneration is what an engine running f with weights p and the inference fault
// switched on ("" none) prints for prompt: its greedy continuation of maxNew ids and the top
// logit of each step, as an observation (Observed.Generated, Observed.Logits) — the file a
// user would give the fingerprint. bos is the tokenizer's BOS id for FaultNoBOS (−1 none).
func ObserveGeneration(f gomlxmodel.Family, p gomlxmodel.Params, prompt []int32, maxNew int, fault gomlxmodel.InferenceFault, bos int) (*Observed, error) {
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		return nil, err
	}
	g, err := gomlxmodel.Generate(r, prompt, gomlxmodel.GenerateOptions{MaxNew: maxNew, TopK: 1, Fault: fault, BOS: bos})
	if err != nil {
		return nil, err
	}
	obs := &Observed{Generated: g.Generated, Note: fmt.Sprintf("nanoscope's inference path, greedy, fault %q", fault)}
	for _, id := range prompt {
		obs.Input = append(obs.Input, int(id))
	}
	for _, st := range g.Steps {
		obs.Logits = append(obs.Logits, st.Top[0].Logit)
	}
	return obs, nil
}

// ObserveForward is what an engine running f with weights p under the step options o prints
// for ids in one forward: the top-1 id and top logit at every position (Observed.Predicted,
// Observed.Logits) — the file a user would give the fingerprint. pads > 0 puts that many id-0
// pads before the ids (masked, o.Pad and o.RowShift set so that the real ids start at position
// 0; FaultLeftPadNoPositions ignores that) and prints nothing for them.
func ObserveForward(f gomlxmodel.Family, p gomlxmodel.Params, ids []int32, pads int, o gomlxmodel.StepOptions) (*Observed, error) {
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		return nil, err
	}
	row := append(make([]int32, pads), ids...)
	if pads > 0 {
		mask := make([]bool, len(row))
		for i := range pads {
			mask[i] = true
		}
		o.Pad, o.RowShift = [][]bool{mask}, []int{-pads}
	}
	logits, _, err := gomlxmodel.StepForward(r, [][]int32{row}, nil, o)
	if err != nil {
		return nil, err
	}
	V := f.Dims().VocabSize
	obs := &Observed{Note: fmt.Sprintf("nanoscope's inference path, one forward, fault %q, %d pads", o.Fault, pads)}
	for t := pads; t < len(row); t++ {
		rw := logits[t*V : (t+1)*V]
		a := gomlxmodel.Argmax(rw)
		obs.Input = append(obs.Input, int(row[t]))
		obs.Predicted = append(obs.Predicted, a)
		obs.Logits = append(obs.Logits, float64(rw[a]))
	}
	return obs, nil
}

// maskStats are the statistics a dropout candidate is judged on, of one run (a mask, or the
// observation) over the observed positions: Agree, the share whose top-1 id is the run as
// loaded's; Dev, the mean squared distance of the top logit from the run as loaded's (NaN
// without observed logits).
type maskStats struct{ Agree, Dev float64 }

// dropoutStats computes maskStats of a run's top-1 ids pred and top logits top, against the run
// as loaded (loadedPred, loadedTop), over the positions with an observed id (want ≥ 0) and,
// for Dev, an observed logit (wantTop not NaN).
func dropoutStats(pred []int, top []float64, loadedPred []int, loadedTop []float64, want []int, wantTop []float64) maskStats {
	var st maskStats
	na, nd := 0, 0
	for t := range want {
		if want[t] < 0 {
			continue
		}
		na++
		if pred[t] == loadedPred[t] {
			st.Agree++
		}
		if !math.IsNaN(wantTop[t]) {
			nd++
			st.Dev += (top[t] - loadedTop[t]) * (top[t] - loadedTop[t])
		}
	}
	st.Agree /= float64(max(na, 1))
	st.Dev = st.Dev / float64(nd) // NaN when nd = 0
	return st
}

// dropoutDraw says why the observation obs is no draw of dropout ("" when it may be one): a
// draw is exchangeable with the masks', so its statistics lie within the range of the masks'
// (a real draw falls outside on either statistic with probability at most 2/(masks + 1) each).
// An engine with another fault that moves the top-1 ids or the top logits less or more than
// dropout does — a KV cache off by one, a skipped layer, a temperature — falls outside.
func dropoutDraw(obs maskStats, masks []maskStats) string {
	lo, hi := maskStats{math.Inf(1), math.Inf(1)}, maskStats{math.Inf(-1), math.Inf(-1)}
	for _, m := range masks {
		lo.Agree, hi.Agree = min(lo.Agree, m.Agree), max(hi.Agree, m.Agree)
		lo.Dev, hi.Dev = min(lo.Dev, m.Dev), max(hi.Dev, m.Dev)
	}
	if obs.Agree < lo.Agree || obs.Agree > hi.Agree {
		return fmt.Sprintf("the observed top-1 ids agree with the run as loaded at %.3f of the positions, dropout's %d masks at %.3f–%.3f: not a draw of dropout", obs.Agree, len(masks), lo.Agree, hi.Agree)
	}
	if !math.IsNaN(obs.Dev) && (obs.Dev < lo.Dev || obs.Dev > hi.Dev) {
		return fmt.Sprintf("the observed top logits lie %.3g (mean squared) from the run as loaded, dropout's %d masks %.3g–%.3g: not a draw of dropout", obs.Dev, len(masks), lo.Dev, hi.Dev)
	}
	return ""
}

// dropoutPIT says why the observed top logits are no draw of dropout position by position (""
// when they may be one): at each position a draw's top logit is exchangeable with the masks',
// so its rank among them (the probability integral transform, ties counted half) is uniform;
// a deterministic fault moves it the same way at every position. The ranks fail when their
// Kolmogorov–Smirnov distance to the uniform exceeds 1.95/√n (α ≈ 0.001 for independent
// positions; the masks' shared attention makes them less so).
func dropoutPIT(all [][]float64, wantTop []float64) string {
	var u []float64
	for t, x := range wantTop {
		if math.IsNaN(x) || len(all[t]) == 0 {
			continue
		}
		below := 0.0
		for _, m := range all[t] {
			switch {
			case m < x:
				below++
			case m == x:
				below += 0.5
			}
		}
		u = append(u, (below+0.5)/float64(len(all[t])+1))
	}
	if len(u) == 0 {
		return ""
	}
	slices.Sort(u)
	d := 0.0
	n := float64(len(u))
	for i, x := range u {
		d = max(d, math.Abs(float64(i+1)/n-x), math.Abs(x-float64(i)/n))
	}
	if limit := 1.95 / math.Sqrt(n); d > limit {
		return fmt.Sprintf("the observed top logits do not rank among dropout's masks as a draw does: the Kolmogorov–Smirnov distance of their ranks to the uniform is %.3f over %d positions, beyond %.3f", d, len(u), limit)
	}
	return ""
}

// dropoutConsensus says why the observed top-1 ids are no draw of dropout by how often the masks
// choose them ("" when they may be one): the share of the masks whose top-1 is the observed id,
// averaged over the observed positions, is exchangeable with the share of the other masks whose
// top-1 is a mask's own, so it lies within the range of the masks' — an engine that picks, where
// it departs from the run as loaded, ids that dropout rarely picks falls below it.
func dropoutConsensus(preds [][]int, want []int) string {
	M := len(preds)
	if M < 2 {
		return ""
	}
	share := func(ids []int, skip int) float64 { // mean over positions of the share of masks ≠ skip choosing ids[t]
		sum, n := 0.0, 0
		for t, id := range ids {
			if want[t] < 0 {
				continue
			}
			same := 0
			for m, p := range preds {
				if m != skip && p[t] == id {
					same++
				}
			}
			sum += float64(same) / float64(M-min(1, skip+1))
			n++
		}
		return sum / float64(max(n, 1))
	}
	obs := share(want, -1)
	lo, hi := math.Inf(1), math.Inf(-1)
	for m, p := range preds {
		x := share(p, m)
		lo, hi = min(lo, x), max(hi, x)
	}
	if obs < lo || obs > hi {
		return fmt.Sprintf("dropout's masks choose the observed top-1 ids at %.3f of the positions on average, a mask's own at %.3f–%.3f: not a draw of dropout", obs, lo, hi)
	}
	return ""
}
