package analysis

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"

	"nanoscope/gomlxmodel"
)

// Reference-free checks of an inference path: properties every correct path has whatever the
// weights, each measured as the largest logit difference between two runs that must agree, and
// held to the comparison's own rounding floor.
//
//   - kv_cache: the path decoding one id at a time with its KV cache (after a prefill of the
//     first half) against the path's full forward of the same ids, step by step;
//   - padding_right, padding_left: the sequence in a padded batch of two (attention mask over
//     the pads; left padding with position ids that start the real tokens at 0) against the
//     sequence alone;
//   - repeat: two forwards of the same ids (dropout left on makes them differ);
//   - bos: the path given the sequence after the tokenizer's BOS against nanoscope's reference
//     forward of the same ids (a path that drops the BOS differs); with the cross-entropy of
//     the sequence with and without the BOS, which says how much the model needs it;
//   - reference: the path's forward against nanoscope's reference forward in float32;
//   - fp16, bf16: the reference forward with every weight and activation in half precision
//     against float32: overflow (non-finite logits), max |Δ| and argmax agreement — a property
//     of the weights under reduced precision rather than of the path.
//
// The rounding floor of the float32 checks is the larger of the difference between the
// reference forward of the sequence alone and in a batch of two (the same function compiled for
// another shape: summation order only) and float32's epsilon times the largest |logit|; a
// check fails beyond inferenceLimit times its floor. The floor of a half-precision check is
// the format's epsilon times the largest |logit|, and it fails on a non-finite logit or beyond
// halfLimit times that floor.

// InferenceCheck is one comparison of the checks.
type InferenceCheck struct {
	Name     string `json:"name"`
	Compared string `json:"compared"`
	// MaxAbsDelta is the largest |Δlogit| over the compared positions; Floor the rounding floor
	// it is held to; Margin = MaxAbsDelta / Floor; Limit the largest margin that passes.
	MaxAbsDelta float64 `json:"max_abs_delta"`
	Floor       float64 `json:"floor"`
	Margin      float64 `json:"margin"`
	Limit       float64 `json:"limit"`
	// ArgmaxAgreement is the share of compared positions whose top-1 id agrees.
	ArgmaxAgreement float64 `json:"argmax_agreement"`
	Positions       int     `json:"positions"`
	// FirstDiverging is the first decoded step (0 = the first id after the prefill) whose
	// |Δ| exceeds the limit (kv_cache only; −1 none); PrefillMaxAbsDelta the prefill's |Δ|.
	FirstDiverging     *int     `json:"first_diverging_step,omitempty"`
	PrefillMaxAbsDelta *float64 `json:"prefill_max_abs_delta,omitempty"`
	// NonFinite counts non-finite logits of the run under test.
	NonFinite int `json:"non_finite"`
	// CEWithBOS and CEWithoutBOS are the reference's next-token cross-entropy (nats) of the
	// sequence after the BOS and without it (bos only).
	CEWithBOS    *float64 `json:"ce_with_bos,omitempty"`
	CEWithoutBOS *float64 `json:"ce_without_bos,omitempty"`
	Passed       bool     `json:"passed"`
	Skipped      string   `json:"skipped,omitempty"`
}

// InferencePath is the verdict of the checks on one inference path: nanoscope's own (Fault
// "") or nanoscope's with an inference fault switched on.
type InferencePath struct {
	Fault       string           `json:"fault,omitempty"`
	Positions   int              `json:"positions"`
	MaxAbsLogit float64          `json:"max_abs_logit"`
	Floor       float64          `json:"floor"`
	Checks      []InferenceCheck `json:"checks"`
	// Failed names the checks of the path that failed; Passed is true when none did.
	// HalfFailed names the half-precision checks that failed: the weights overflow or drift
	// beyond the format's floor in fp16 or bf16 — a reason to run them in float32, not a fault
	// of the path.
	Failed     []string `json:"failed,omitempty"`
	Passed     bool     `json:"passed"`
	HalfFailed []string `json:"half_failed,omitempty"`
}

// Thresholds of the checks: a float32 comparison fails beyond inferenceLimit times its floor,
// a half-precision one beyond halfLimit times its format's.
const (
	inferenceLimit = 100
	halfLimit      = 64
	// inferencePad is the number of pad ids of the padding checks.
	inferencePad = 3
	// inferenceMaxLen bounds the sequence the checks run on.
	inferenceMaxLen = 32
	// kvDecodeSteps is how many ids the cache check decodes one at a time after the prefill:
	// a cache's position off by one shows at the first; each step is one more graph (a
	// compilation on XLA, whose cache length is part of the shapes).
	kvDecodeSteps = 6
)

// Epsilons (the spacing of 1) of the formats.
var (
	eps32   = math.Pow(2, -23)
	epsHalf = map[dtypes.DType]float64{dtypes.Float16: math.Pow(2, -10), dtypes.BFloat16: math.Pow(2, -7)}
)

// CheckInference runs the checks of the inference path of f with weights p — nanoscope's own,
// or with fault switched on — on ids (model ids; the first inferenceMaxLen are used, fewer
// when the model has fewer positions). bos is the tokenizer's BOS id (−1: none known, the bos
// check is skipped).
func CheckInference(f gomlxmodel.Family, p gomlxmodel.Params, ids []int32, bos int, fault gomlxmodel.InferenceFault) (*InferencePath, error) {
	r, err := gomlxmodel.NewFamilyRunner(f, p)
	if err != nil {
		return nil, err
	}
	V := f.Dims().VocabSize
	n := min(len(ids), inferenceMaxLen)
	if m := f.Dims().MaxSeq; m > 0 {
		n = min(n, m-inferencePad)
	}
	if n < 4 {
		return nil, fmt.Errorf("inference checks: %d ids, need at least 4", n)
	}
	seq := slices.Clone(ids[:n])
	if err := gomlxmodel.CheckIDs([][]int32{seq}, V); err != nil {
		return nil, err
	}
	ref, err := r.Logits([][]int32{seq})
	if err != nil {
		return nil, err
	}
	out := &InferencePath{Fault: string(fault), Positions: n}
	for _, x := range ref {
		out.MaxAbsLogit = max(out.MaxAbsLogit, math.Abs(float64(x)))
	}
	twice, err := r.Logits([][]int32{seq, seq})
	if err != nil {
		return nil, err
	}
	out.Floor = max(diffLogits(twice[:n*V], ref, V).maxAbs, eps32*out.MaxAbsLogit)

	// The checks are independent: on XLA, where each is a compilation, they run concurrently
	// (searchWorkers); their results keep this order. Each forward draws its own dropout seed.
	path := func(seed uint64) pathFn {
		return func(batch [][]int32, cache *gomlxmodel.KVCache, o gomlxmodel.StepOptions) ([]float32, *gomlxmodel.KVCache, error) {
			seed += 1000
			o.Fault, o.Seed = fault, seed
			if fault == gomlxmodel.FaultNoBOS {
				o.Fault = ""
			}
			return gomlxmodel.StepForward(r, batch, cache, o)
		}
	}
	check := func(c InferenceCheck, d logitCmp) InferenceCheck {
		c.MaxAbsDelta, c.ArgmaxAgreement, c.Positions, c.NonFinite = d.maxAbs, d.agreement, d.positions, d.nonFinite
		if c.Floor == 0 {
			c.Floor, c.Limit = out.Floor, inferenceLimit
		}
		c.Margin = c.MaxAbsDelta / c.Floor
		c.Passed = c.NonFinite == 0 && c.Margin <= c.Limit
		return c
	}

	// The path's full forward against the reference: the logits the cache and padding checks
	// compare with.
	own, _, err := path(1)([][]int32{seq}, nil, gomlxmodel.StepOptions{})
	if err != nil {
		return nil, fmt.Errorf("inference check reference: %w", err)
	}
	other := slices.Clone(seq)
	slices.Reverse(other)
	checks := []func() (InferenceCheck, error){
		func() (InferenceCheck, error) {
			return check(InferenceCheck{Name: "reference", Compared: "the path's full forward vs nanoscope's reference forward (float32)"}, diffLogits(own, ref, V)), nil
		},
		// KV cache: prefill, then kvDecodeSteps ids one at a time, against the path's own full forward.
		func() (InferenceCheck, error) { return kvCacheCheck(path(2), seq, own, V, check) },
		// Padding, right and left.
		func() (InferenceCheck, error) { return paddingCheck(path(3), seq, other, own, V, false, check) },
		func() (InferenceCheck, error) { return paddingCheck(path(4), seq, other, own, V, true, check) },
		// Two forwards.
		func() (InferenceCheck, error) {
			again, _, err := path(5)([][]int32{seq}, nil, gomlxmodel.StepOptions{})
			return check(InferenceCheck{Name: "repeat", Compared: "two forwards of the same ids"}, diffLogits(again, own, V)), err
		},
		// BOS.
		func() (InferenceCheck, error) { return bosCheck(r, path(6), seq, bos, fault, V, check) },
	}
	// Half precision.
	for _, dt := range []dtypes.DType{dtypes.Float16, dtypes.BFloat16} {
		checks = append(checks, func() (InferenceCheck, error) {
			half, _, err := gomlxmodel.StepForward(r, [][]int32{seq}, nil, gomlxmodel.StepOptions{DType: dt})
			name := map[dtypes.DType]string{dtypes.Float16: "fp16", dtypes.BFloat16: "bf16"}[dt]
			c := InferenceCheck{Name: name, Compared: "the reference forward in " + name + " (weights and activations) vs float32",
				Floor: epsHalf[dt] * out.MaxAbsLogit, Limit: halfLimit}
			return check(c, diffLogits(half, ref, V)), err
		})
	}
	results := make([]InferenceCheck, len(checks))
	errs := make([]error, len(checks))
	parallelDo(len(checks), searchWorkers(), func(i int) { results[i], errs[i] = checks[i]() })
	for i, c := range results {
		if errs[i] != nil {
			return nil, fmt.Errorf("inference check %s: %w", c.Name, errs[i])
		}
		out.Checks = append(out.Checks, c)
	}
	for _, c := range out.Checks {
		switch {
		case c.Passed || c.Skipped != "":
		case c.Name == "fp16" || c.Name == "bf16":
			out.HalfFailed = append(out.HalfFailed, c.Name)
		default:
			out.Failed = append(out.Failed, c.Name)
		}
	}
	out.Passed = len(out.Failed) == 0
	return out, nil
}

type pathFn func(batch [][]int32, cache *gomlxmodel.KVCache, o gomlxmodel.StepOptions) ([]float32, *gomlxmodel.KVCache, error)

type checkFn func(InferenceCheck, logitCmp) InferenceCheck

// kvCacheCheck prefills all of seq but its last kvDecodeSteps ids, then feeds those one at a time through
// the cache, and compares every step's logits with full (the path's full forward of seq).
func kvCacheCheck(path pathFn, seq []int32, full []float32, V int, check checkFn) (InferenceCheck, error) {
	c := InferenceCheck{Name: "kv_cache", Compared: "decoding one id at a time with the KV cache vs the full forward, step by step"}
	n := len(seq)
	pre := max(1, n-kvDecodeSteps)
	logits, cache, err := path([][]int32{seq[:pre]}, nil, gomlxmodel.StepOptions{})
	if err != nil {
		return c, err
	}
	pd := diffLogits(logits, full[:pre*V], V).maxAbs
	got := slices.Clone(logits)
	for t := pre; t < n; t++ {
		if logits, cache, err = path([][]int32{seq[t : t+1]}, cache, gomlxmodel.StepOptions{}); err != nil {
			return c, err
		}
		got = append(got, logits...)
	}
	c = check(c, diffLogits(got[pre*V:], full[pre*V:], V))
	c.PrefillMaxAbsDelta = &pd
	first := -1
	for t := pre; t < n; t++ {
		if d := diffLogits(got[t*V:(t+1)*V], full[t*V:(t+1)*V], V); d.maxAbs > c.Limit*c.Floor || d.nonFinite > 0 {
			first = t - pre
			break
		}
	}
	c.FirstDiverging = &first
	return c, nil
}

// paddingCheck runs seq padded with inferencePad pad ids (id 0) on the right or the left,
// beside other unpadded, as one batch with the attention mask (and, on the left, position ids
// starting its real tokens at 0), and compares seq's positions with alone.
func paddingCheck(path pathFn, seq, other []int32, alone []float32, V int, left bool, check checkFn) (InferenceCheck, error) {
	n, k := len(seq), inferencePad
	row := make([]int32, n+k)
	pad := [][]bool{make([]bool, n+k), make([]bool, n+k)}
	o := gomlxmodel.StepOptions{Pad: pad}
	c := InferenceCheck{Name: "padding_right", Compared: fmt.Sprintf("the sequence beside another in a batch, %d pads on the right (attention mask) vs alone", k)}
	if left {
		c.Name, c.Compared = "padding_left", fmt.Sprintf("the sequence beside another in a batch, %d pads on the left (attention mask, position ids from 0) vs alone", k)
		copy(row[k:], seq)
		for i := range k {
			pad[0][i] = true
		}
		o.RowShift = []int{-k, 0}
	} else {
		copy(row, seq)
		for i := n; i < n+k; i++ {
			pad[0][i] = true
		}
	}
	otherRow := make([]int32, n+k)
	for i := range otherRow {
		otherRow[i] = other[i%n]
	}
	logits, _, err := path([][]int32{row, otherRow}, nil, o)
	if err != nil {
		return c, err
	}
	first := 0
	if left {
		first = k
	}
	return check(c, diffLogits(logits[first*V:(first+n)*V], alone, V)), nil
}

// bosCheck compares the path on the sequence after the BOS with the reference forward of the
// same ids, and measures the reference's CE of the sequence with and without the BOS.
func bosCheck(r *gomlxmodel.FamilyRunner, path pathFn, seq []int32, bos int, fault gomlxmodel.InferenceFault, V int, check checkFn) (InferenceCheck, error) {
	c := InferenceCheck{Name: "bos", Compared: "the path given BOS + the sequence vs the reference forward of the same ids (positions after the BOS)"}
	if bos < 0 || bos >= V {
		c.Skipped, c.Passed = "no BOS known for this checkpoint's tokenizer", true
		return c, nil
	}
	n := len(seq)
	withBOS := slices.Concat([]int32{int32(bos)}, seq[:n-1])
	ref, err := r.Logits([][]int32{withBOS})
	if err != nil {
		return c, err
	}
	var got []float32
	if fault == gomlxmodel.FaultNoBOS { // the engine drops the BOS: its logits are those of the rest
		if got, _, err = path([][]int32{withBOS[1:]}, nil, gomlxmodel.StepOptions{}); err != nil {
			return c, err
		}
	} else {
		if got, _, err = path([][]int32{withBOS}, nil, gomlxmodel.StepOptions{}); err != nil {
			return c, err
		}
		got = got[V:]
	}
	c = check(c, diffLogits(got, ref[V:], V))
	alone, err := r.Logits([][]int32{seq[:n-1]})
	if err != nil {
		return c, err
	}
	// CE of the targets seq[1 … n−1] from positions 0 … n−2 of the sequence (after the BOS or
	// not).
	with, without := ceOf(ref[V:], seq[1:], V), ceOf(alone, seq[1:], V)
	c.CEWithBOS, c.CEWithoutBOS = &with, &without
	return c, nil
}

// ceOf is the mean next-token cross-entropy of logits (len(targets) × V) against targets.
func ceOf(logits []float32, targets []int32, V int) float64 {
	ce := 0.0
	for t, y := range targets {
		row := logits[t*V : (t+1)*V]
		m := math.Inf(-1)
		for _, x := range row {
			m = max(m, float64(x))
		}
		z := 0.0
		for _, x := range row {
			z += math.Exp(float64(x) - m)
		}
		ce += m + math.Log(z) - float64(row[y])
	}
	return ce / float64(len(targets))
}

// logitCmp compares the logits of a run under test with a reference run.
type logitCmp struct {
	maxAbs    float64
	agreement float64
	positions int
	nonFinite int
}

// diffLogits compares got with want, both (positions × V): max |Δ| over the finite pairs,
// argmax agreement, and the non-finite values of got (which count as disagreement).
func diffLogits(got, want []float32, V int) logitCmp {
	d := logitCmp{positions: len(want) / V}
	agree := 0
	for p := 0; p < d.positions; p++ {
		g, w := got[p*V:(p+1)*V], want[p*V:(p+1)*V]
		ig, iw := 0, 0
		finite := true
		for j := range g {
			x := float64(g[j])
			if math.IsNaN(x) || math.IsInf(x, 0) {
				d.nonFinite++
				finite = false
				continue
			}
			d.maxAbs = max(d.maxAbs, math.Abs(x-float64(w[j])))
			if g[j] > g[ig] {
				ig = j
			}
			if w[j] > w[iw] {
				iw = j
			}
		}
		if finite && ig == iw {
			agree++
		}
	}
	if d.positions > 0 {
		d.agreement = float64(agree) / float64(d.positions)
	}
	return d
}
