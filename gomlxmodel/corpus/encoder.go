// Package corpus builds the training corpus: it tokenizes a tree of source files with GPT-2's
// BPE (r50k_base, REFERENCE.md §2 "Tokenizer"), splits it by file into train and validation
// token files in the original's format (package tokenfile), derives a compact vocabulary for
// small CPU models, and measures the unigram entropies a trained model must beat.
package corpus

import (
	"fmt"
	"strings"

	"github.com/tiktoken-go/tokenizer"
)

const (
	// GPT2VocabSize is the number of r50k_base ids: 50256 byte-level BPE tokens and <|endoftext|>.
	GPT2VocabSize = 50257
	// EOT is GPT-2's <|endoftext|> id, the separator between files in the corpus.
	EOT = 50256
	// EOTText is how EOT decodes.
	EOTText = "<|endoftext|>"
	// TokenizerName names the encoding in vocab.json.
	TokenizerName = "r50k_base"
)

// Encoder is GPT-2's byte-level BPE, r50k_base, as implemented by
// github.com/tiktoken-go/tokenizer (the vocabulary is compiled in). "fn main() {" encodes to
// 22184 1388 3419 1391. Text is encoded as ordinary text: "<|endoftext|>" in the input is not
// turned into EOT. An Encoder is safe for concurrent use.
type Encoder struct {
	codec tokenizer.Codec
}

// NewEncoder returns an r50k_base Encoder.
func NewEncoder() (*Encoder, error) {
	c, err := tokenizer.Get(tokenizer.R50kBase)
	if err != nil {
		return nil, fmt.Errorf("corpus: r50k_base tokenizer: %w", err)
	}
	return &Encoder{codec: c}, nil
}

// Encode returns the GPT-2 ids of s. Invalid UTF-8 in s is not preserved byte for byte (the
// regular expression that splits words reads runes); Build skips such files.
func (e *Encoder) Encode(s string) []uint32 {
	ids, _, err := e.codec.Encode(s)
	if err != nil {
		// The codec fails only when its regular expression engine does, which without a
		// match timeout (none is set) does not happen.
		panic(fmt.Sprintf("corpus: r50k_base encode: %v", err))
	}
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = uint32(id)
	}
	return out
}

// Decode returns the text of ids: the concatenated bytes of their tokens, which may be invalid
// UTF-8 where a multi-byte character is cut. EOT decodes to "<|endoftext|>", and an id outside
// the vocabulary to "<|invalid:ID|>".
func (e *Encoder) Decode(ids []uint32) string {
	var sb strings.Builder
	run := make([]uint, 0, len(ids))
	flush := func() {
		if len(run) > 0 {
			s, err := e.codec.Decode(run)
			if err != nil { // cannot happen: every id in run is below EOT
				panic(fmt.Sprintf("corpus: r50k_base decode: %v", err))
			}
			sb.WriteString(s)
			run = run[:0]
		}
	}
	for _, id := range ids {
		switch {
		case id < EOT:
			run = append(run, uint(id))
		case id == EOT:
			flush()
			sb.WriteString(EOTText)
		default:
			flush()
			fmt.Fprintf(&sb, "<|invalid:%d|>", id)
		}
	}
	flush()
	return sb.String()
}

// DecodeOne returns the text of one id, as Decode does; it may be part of a UTF-8 character.
func (e *Encoder) DecodeOne(id uint32) string {
	return e.Decode([]uint32{id})
}
