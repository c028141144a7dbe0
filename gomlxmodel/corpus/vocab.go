package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
)

// UnkText is how the compact vocabulary's "any other token" id decodes.
const UnkText = "<unk>"

// Vocab is a compact vocabulary for small models: compact id c < Unk stands for GPT-2 id
// GPT2IDs[c], and the last id, Unk, for every GPT-2 id not listed. Build takes the Size()-1
// most frequent GPT-2 ids of the train split, most frequent first (ties broken by smaller id).
// It is stored as vocab.json with the field names below.
type Vocab struct {
	Tokenizer     string  `json:"tokenizer"`      // always r50k_base
	GPT2IDs       []int   `json:"gpt2_ids"`       // compact id -> GPT-2 id; -1 at Unk
	Unk           int     `json:"unk"`            // Size()-1
	CoverageTrain float64 `json:"coverage_train"` // fraction of train tokens that are not Unk
	CoverageVal   float64 `json:"coverage_val"`   // fraction of val tokens that are not Unk

	toCompact []uint32 // GPT-2 id -> compact id

	encOnce sync.Once
	enc     *Encoder
	encErr  error
}

// newVocab returns the Vocab listing gpt2IDs (without the trailing unk), checking that they
// are distinct GPT-2 ids.
func newVocab(gpt2IDs []int) (*Vocab, error) {
	v := &Vocab{Tokenizer: TokenizerName, Unk: len(gpt2IDs)}
	v.GPT2IDs = append(append(make([]int, 0, len(gpt2IDs)+1), gpt2IDs...), -1)
	v.toCompact = make([]uint32, GPT2VocabSize)
	for i := range v.toCompact {
		v.toCompact[i] = uint32(v.Unk)
	}
	for c, g := range gpt2IDs {
		if g < 0 || g >= GPT2VocabSize {
			return nil, fmt.Errorf("compact id %d maps to GPT-2 id %d, outside [0, %d)", c, g, GPT2VocabSize)
		}
		if v.toCompact[g] != uint32(v.Unk) {
			return nil, fmt.Errorf("GPT-2 id %d listed twice (compact ids %d and %d)", g, v.toCompact[g], c)
		}
		v.toCompact[g] = uint32(c)
	}
	return v, nil
}

// LoadVocab reads a vocab.json written by Build and checks it: tokenizer r50k_base, unk the
// last id and mapped to -1, every other entry a distinct GPT-2 id.
func LoadVocab(path string) (*Vocab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f Vocab
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Tokenizer != TokenizerName {
		return nil, fmt.Errorf("%s: tokenizer %q, want %q", path, f.Tokenizer, TokenizerName)
	}
	k := len(f.GPT2IDs)
	if k < 1 || f.Unk != k-1 || f.GPT2IDs[k-1] != -1 {
		return nil, fmt.Errorf("%s: unk %d must be the last of %d ids and map to -1", path, f.Unk, k)
	}
	v, err := newVocab(f.GPT2IDs[:k-1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v.CoverageTrain, v.CoverageVal = f.CoverageTrain, f.CoverageVal
	return v, nil
}

// Size returns the number of compact ids, unk included.
func (v *Vocab) Size() int { return len(v.GPT2IDs) }

// ToCompact returns the compact id of a GPT-2 id, Unk if it is not in the vocabulary.
func (v *Vocab) ToCompact(gpt2 uint32) uint32 {
	if int64(gpt2) >= int64(len(v.toCompact)) {
		return uint32(v.Unk)
	}
	return v.toCompact[gpt2]
}

// Compact maps a sequence of GPT-2 ids to compact ids.
func (v *Vocab) Compact(gpt2 []uint32) []uint32 {
	out := make([]uint32, len(gpt2))
	for i, g := range gpt2 {
		out[i] = v.ToCompact(g)
	}
	return out
}

// ToGPT2 returns the GPT-2 id of a compact id, or -1 for Unk (and for ids outside the
// vocabulary).
func (v *Vocab) ToGPT2(c uint32) int {
	if int64(c) >= int64(len(v.GPT2IDs)) {
		return -1
	}
	return v.GPT2IDs[c]
}

// Decode returns the text of a compact id: its GPT-2 token's text (see Encoder.Decode), or
// "<unk>" for Unk, or "<|invalid:ID|>" for an id outside the vocabulary.
func (v *Vocab) Decode(c uint32) string {
	if int64(c) >= int64(len(v.GPT2IDs)) {
		return fmt.Sprintf("<|invalid:%d|>", c)
	}
	g := v.GPT2IDs[c]
	if g < 0 {
		return UnkText
	}
	v.encOnce.Do(func() { v.enc, v.encErr = NewEncoder() })
	if v.encErr != nil {
		panic(v.encErr) // the tokenizer is compiled in; Get(R50kBase) does not fail
	}
	return v.enc.DecodeOne(uint32(g))
}

// rankIDs returns the ids with a positive count, most frequent first, ties broken by smaller
// id, at most limit of them.
func rankIDs(counts []float64, limit int) []int {
	var ids []int
	for id, c := range counts {
		if c > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		ci, cj := counts[ids[i]], counts[ids[j]]
		if ci != cj {
			return ci > cj
		}
		return ids[i] < ids[j]
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}
