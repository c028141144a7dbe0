package corpus

import (
	"fmt"
	"path/filepath"
	"sync"
)

// ModelVocab maps between GPT-2 ids and a model's ids: through the compact vocabulary the
// model was trained on when it has one (Compact not nil), the identity when the model reads
// GPT-2 ids directly (the zero value). It is the one place the tools translate the ids a
// person or the note gives (GPT-2's) into a checkpoint's and back.
type ModelVocab struct {
	Compact *Vocab // nil: the model's ids are GPT-2 ids
}

// LoadModelVocab returns the mapping of the checkpoint in dir: the compact vocabulary named by
// vocabMap (its variant's vocab_map, relative to dir), or the identity when vocabMap is "".
// With vocabSize > 0 the compact vocabulary must have that many ids (the checkpoint's
// vocab_size).
func LoadModelVocab(dir, vocabMap string, vocabSize int) (ModelVocab, error) {
	if vocabMap == "" {
		return ModelVocab{}, nil
	}
	path := filepath.Join(dir, vocabMap)
	if dir == "" {
		return ModelVocab{}, fmt.Errorf("vocab map %q: no checkpoint directory to find it in", vocabMap)
	}
	v, err := LoadVocab(path)
	if err != nil {
		return ModelVocab{}, err
	}
	if vocabSize > 0 && v.Size() != vocabSize {
		return ModelVocab{}, fmt.Errorf("%s: %d ids, but the checkpoint's vocab_size is %d", path, v.Size(), vocabSize)
	}
	return ModelVocab{Compact: v}, nil
}

// ToModel returns the model id of a GPT-2 id: its compact id (Unk when the compact vocabulary
// does not list it), or the id itself. An id outside [0, GPT2VocabSize) is returned unchanged,
// so that the caller's range check against the model's vocab_size reports it.
func (m ModelVocab) ToModel(gpt2 int) int {
	if m.Compact == nil || gpt2 < 0 || gpt2 >= GPT2VocabSize {
		return gpt2
	}
	return int(m.Compact.ToCompact(uint32(gpt2)))
}

// ToModelIDs maps a sequence of GPT-2 ids with ToModel.
func (m ModelVocab) ToModelIDs(gpt2 []int) []int32 {
	out := make([]int32, len(gpt2))
	for i, id := range gpt2 {
		out[i] = int32(m.ToModel(id))
	}
	return out
}

// ToGPT2 returns the GPT-2 id of a model id: −1 for the compact vocabulary's Unk (and for an
// id outside it), the id itself without a compact vocabulary.
func (m ModelVocab) ToGPT2(model int) int {
	if m.Compact == nil {
		return model
	}
	if model < 0 {
		return -1
	}
	return m.Compact.ToGPT2(uint32(model))
}

// IsUnk reports whether model is the compact vocabulary's "any other token" id.
func (m ModelVocab) IsUnk(model int) bool { return m.Compact != nil && model == m.Compact.Unk }

// Text returns the text of a model id under GPT-2's BPE: UnkText for the compact Unk,
// "<|invalid:ID|>" for an id outside the vocabulary.
func (m ModelVocab) Text(model int) string {
	if model < 0 {
		return fmt.Sprintf("<|invalid:%d|>", model)
	}
	if m.Compact != nil {
		return m.Compact.Decode(uint32(model))
	}
	return gpt2Encoder().DecodeOne(uint32(model))
}

var gpt2Encoder = sync.OnceValue(func() *Encoder {
	e, err := NewEncoder()
	if err != nil {
		panic(err) // the tokenizer is compiled in; Get(R50kBase) does not fail
	}
	return e
})
