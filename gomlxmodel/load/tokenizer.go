package load

import (
	"fmt"

	"nanoscope/gomlxmodel/corpus"
)

// Tokenizer translates between the ids a user gives (GPT-2 ids when the checkpoint records a
// GPT-2 tokenizer, translated through its compact vocabulary when it has one) and the model's
// ids, and decodes them. Enc is nil when nanoscope has no tokenizer for the checkpoint; None
// then says why.
type Tokenizer struct {
	Vocab *corpus.Vocab   // the compact vocabulary, when the checkpoint has one
	Enc   *corpus.Encoder // GPT-2 BPE, when the ids are GPT-2's (possibly through Vocab)
	None  string          // why there is no tokenizer, when Enc is nil
}

// Tokenizer returns the translation between the ids a user gives and the model's: the tokenizer
// and compact vocabulary meta.json records, or GPT-2 BPE for a model with GPT-2's vocabulary
// (or nanoGPT's padding of it). A vocab.json that cannot be read is an error naming it.
func (l *Loaded) Tokenizer() (*Tokenizer, error) {
	tk := &Tokenizer{}
	V := l.Family.Dims().VocabSize
	gpt2 := V == corpus.GPT2VocabSize || l.PaddedVocab == corpus.GPT2VocabSize
	if m := l.Meta; m != nil {
		v := m.Variant
		mv, err := corpus.LoadModelVocab(l.Dir, v.VocabMap, m.Config.VocabSize)
		if err != nil {
			return nil, err
		}
		tk.Vocab = mv.Compact
		gpt2 = v.Tokenizer == corpus.TokenizerName && (tk.Vocab != nil || gpt2)
		tk.None = "the checkpoint records no GPT-2 tokenizer"
	} else {
		tk.None = fmt.Sprintf("the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: nanoscope has no tokenizer for it", l.Arch(), V, corpus.GPT2VocabSize)
	}
	if gpt2 {
		enc, err := corpus.NewEncoder()
		if err != nil {
			return nil, err
		}
		tk.Enc, tk.None = enc, ""
	}
	return tk, nil
}

// IDs is the GPT-2 ↔ model id mapping (corpus.ModelVocab).
func (tk *Tokenizer) IDs() corpus.ModelVocab { return corpus.ModelVocab{Compact: tk.Vocab} }

// ToModel maps a user id (a GPT-2 id when a compact vocabulary is in use) to a model id.
func (tk *Tokenizer) ToModel(id int) int { return tk.IDs().ToModel(id) }

// FromModel maps a model id to the id shown to the user (−1 for the compact <unk>).
func (tk *Tokenizer) FromModel(id int) int { return tk.IDs().ToGPT2(id) }

// Text decodes a model id, or returns "" when no tokenizer is known.
func (tk *Tokenizer) Text(id int) string {
	if tk.Enc == nil {
		return ""
	}
	return tk.IDs().Text(id)
}
