package gomlxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Sampling is how a generation draws each next id from the logits of its last position, in
// Hugging Face's order: the logits divided by Temperature, then the TopK most probable ids
// kept, then the smallest set of most probable ids whose probability reaches TopP kept, the
// rest renormalised. Temperature 0 is greedy decoding (the argmax; TopK and TopP are then
// irrelevant). Draws come from a PCG stream of Seed: the same seed, logits and options give
// the same ids.
type Sampling struct {
	Temperature float64 // > 0 samples; 0 greedy
	TopK        int     // 0: every id
	TopP        float64 // 0 or 1: every id
	Seed        uint64
}

// Validate checks the ranges: Temperature ≥ 0, TopK ≥ 0, TopP in [0, 1].
func (s Sampling) Validate() error {
	switch {
	case !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("temperature %v: want a finite number ≥ 0", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("top-k %d: want ≥ 0", s.TopK)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return fmt.Errorf("top-p %v: want a number in [0, 1]", s.TopP)
	}
	return nil
}

// Distribution is the probability of every id (len(logits)) under s: one-hot on the argmax
// (the lowest id among equal maxima) when greedy, else softmax(logits/T) restricted to the
// top-k and then to the top-p nucleus, renormalised; ids outside have probability 0.
func (s Sampling) Distribution(logits []float32) []float64 {
	p := make([]float64, len(logits))
	if s.Temperature == 0 {
		p[Argmax(logits)] = 1
		return p
	}
	order := make([]int, len(logits)) // ids by decreasing logit (stable: lower id first)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
	keep := len(order)
	if s.TopK > 0 && s.TopK < keep {
		keep = s.TopK
	}
	top := float64(logits[order[0]]) / s.Temperature
	sum := 0.0
	for _, id := range order[:keep] {
		p[id] = math.Exp(float64(logits[id])/s.Temperature - top)
		sum += p[id]
	}
	for _, id := range order[:keep] {
		p[id] /= sum
	}
	if s.TopP > 0 && s.TopP < 1 {
		cum, n := 0.0, 0
		for n < keep && (n == 0 || cum < s.TopP) {
			cum += p[order[n]]
			n++
		}
		for _, id := range order[n:keep] {
			p[id] = 0
		}
		for _, id := range order[:n] {
			p[id] /= cum
		}
	}
	return p
}

// Argmax is the index of the largest value (the lowest among equal maxima).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Sampler draws ids from Sampling.Distribution with its own random stream (of Sampling.Seed).
type Sampler struct {
	s   Sampling
	rng *rand.Rand
}

// NewSampler starts the stream of s.Seed.
func NewSampler(s Sampling) *Sampler {
	return &Sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, 0xda3e39cb94b95bdb))}
}

// Next draws one id from the logits row (V): the argmax when greedy.
func (sm *Sampler) Next(logits []float32) int {
	p := sm.s.Distribution(logits)
	if sm.s.Temperature == 0 {
		return Argmax(logits)
	}
	u, cum, last := sm.rng.Float64(), 0.0, 0
	for id, q := range p {
		if q == 0 {
			continue
		}
		cum += q
		last = id
		if u < cum {
			return id
		}
	}
	return last // rounding left u above the total
}

// GenerateOptions are a generation's settings.
type GenerateOptions struct {
	MaxNew   int   // most ids to generate (> 0)
	Sampling       // how each id is drawn
	Stop     []int // ids that end the generation (end-of-text), included in the output
	// TopK is how many of each step's most probable ids (by logit) to report, 0 none.
	TopK int
	// NoCache runs every step as a full forward of the whole sequence instead of the KV cache
	// (the reference the cache is checked against).
	NoCache bool
	// Fault switches an inference fault on (StepForward); FaultNoBOS drops BOS from the
	// start of the prompt.
	Fault InferenceFault
	BOS   int // the tokenizer's BOS id for FaultNoBOS; −1 none
	// KeepLogits keeps every step's logits row in Generation.Logits.
	KeepLogits bool
	// Progress, when set, is called after each generated id with (done, MaxNew).
	Progress func(done, total int)
}

// TopID is one of a step's most probable ids: its logit and its probability under the
// sampling's temperature (before top-k/top-p).
type TopID struct {
	ID    int     `json:"id"`
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
}

// GenStep is one generated id and the top ids of the logits it was drawn from.
type GenStep struct {
	ID  int     `json:"id"`
	Top []TopID `json:"top,omitempty"`
}

// Generation is a generation's result: the prompt the model read, the generated ids, each
// step, why it stopped ("stop_id", "max_new", "max_positions"), and, with KeepLogits, each
// step's logits (V).
type Generation struct {
	Prompt    []int       `json:"prompt"`
	Generated []int       `json:"generated"`
	Steps     []GenStep   `json:"steps"`
	Stopped   string      `json:"stopped"`
	Logits    [][]float32 `json:"-"`
}

// Generate continues prompt (model ids) with r's model: a prefill of the prompt, then one
// forward per id with the KV cache (StepForward), each id drawn by o.Sampling from the logits
// of the last position. It stops after o.MaxNew ids, at an id of o.Stop, or when the model's
// positions (Dims.MaxSeq) are full.
func Generate(r *FamilyRunner, prompt []int32, o GenerateOptions) (*Generation, error) {
	if err := o.Sampling.Validate(); err != nil {
		return nil, err
	}
	if o.MaxNew <= 0 {
		return nil, fmt.Errorf("max new ids %d: want > 0", o.MaxNew)
	}
	if o.Fault == FaultNoBOS && o.BOS >= 0 && len(prompt) > 1 && prompt[0] == int32(o.BOS) {
		prompt = prompt[1:]
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	V := r.Family.Dims().VocabSize
	maxSeq := r.Family.Dims().MaxSeq
	if maxSeq > 0 && len(prompt) >= maxSeq {
		return nil, fmt.Errorf("prompt of %d ids fills the model's %d positions", len(prompt), maxSeq)
	}
	so := StepOptions{Fault: o.Fault}
	if o.Fault == FaultNoBOS {
		so.Fault = ""
	}
	gen := &Generation{Stopped: "max_new"}
	for _, id := range prompt {
		gen.Prompt = append(gen.Prompt, int(id))
	}
	seq := slices.Clone(prompt)
	var cache *KVCache
	input := prompt
	sm := NewSampler(o.Sampling)
	for step := 0; step < o.MaxNew; step++ {
		var (
			logits []float32
			err    error
		)
		so.Seed = o.Sampling.Seed + uint64(step)
		if o.NoCache {
			logits, _, err = StepForward(r, [][]int32{seq}, nil, so)
		} else {
			logits, cache, err = StepForward(r, [][]int32{input}, cache, so)
		}
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		row := logits[len(logits)-V:]
		id := sm.Next(row)
		gen.Steps = append(gen.Steps, GenStep{ID: id, Top: topIDs(row, o.TopK, o.Sampling.Temperature)})
		if o.KeepLogits {
			gen.Logits = append(gen.Logits, slices.Clone(row))
		}
		gen.Generated = append(gen.Generated, id)
		seq = append(seq, int32(id))
		input = []int32{int32(id)}
		if o.Progress != nil {
			o.Progress(step+1, o.MaxNew)
		}
		if slices.Contains(o.Stop, id) {
			gen.Stopped = "stop_id"
			break
		}
		if maxSeq > 0 && len(seq) >= maxSeq && step+1 < o.MaxNew {
			gen.Stopped = "max_positions"
			break
		}
	}
	return gen, nil
}

// topIDs are the k ids of largest logit, with their probabilities at temperature t (1 when
// greedy).
func topIDs(row []float32, k int, t float64) []TopID {
	if k <= 0 {
		return nil
	}
	if t == 0 {
		t = 1
	}
	order := make([]int, len(row))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
	top := float64(row[order[0]]) / t
	z := 0.0
	for _, x := range row {
		z += math.Exp(float64(x)/t - top)
	}
	out := make([]TopID, 0, k)
	for _, id := range order[:min(k, len(order))] {
		out = append(out, TopID{ID: id, Logit: float64(row[id]), Prob: math.Exp(float64(row[id])/t-top) / z})
	}
	return out
}
