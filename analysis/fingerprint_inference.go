package analysis

import (
	"fmt"
	"math"

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
//     loaded).
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
	// Dropout: coverage of the observed ids by the top-1s of several masks.
	run := faultRun{name: fmt.Sprintf("dropout left on (p = %g on the embedding; %d masks: the observed id is one of their top-1s)", gomlxmodel.FaultDropoutP, fingerprintDropoutMasks), fault: gomlxmodel.FaultDropout}
	seen := make([][]float64, T) // per position, the top logits of the masks whose top-1 is the observed id
	all := make([][]float64, T)  // and of every mask
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
	// A draw of dropout's top logit lies as far from the top logit as loaded as the masks' do:
	// r = mean over positions of (x − L)² / mean over masks of (m − L)² is about 1 for the top
	// logits x of a dropout run, ≪ 1 for an engine without dropout (near L) or with a milder
	// fault. The candidate stands only when r is within 4 standard errors of 1 (√(2/n) for n
	// positions, as for a χ² with one degree of freedom).
	_, loadedTop := tops(plain)
	ratio, n := 0.0, 0
	for t := range T {
		if math.IsNaN(wantTop[t]) {
			continue
		}
		spread := 0.0
		for _, m := range all[t] {
			spread += (m - loadedTop[t]) * (m - loadedTop[t])
		}
		if spread /= float64(len(all[t])); spread > 0 {
			ratio += (wantTop[t] - loadedTop[t]) * (wantTop[t] - loadedTop[t]) / spread
			n++
		}
	}
	if n > 0 {
		ratio /= float64(n)
		if band := 4 * math.Sqrt(2/float64(n)); math.Abs(ratio-1) > band {
			run.skipped = fmt.Sprintf("the observed top logits do not scatter as dropout's: their mean squared distance from the run as loaded is %.3g times the masks', a dropout run gives 1 ± %.2f", ratio, band)
			return append(out, run), nil
		}
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
