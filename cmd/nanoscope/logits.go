package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
)

func init() {
	register("logits", "print the top-k next-token predictions of a checkpoint at every position", runLogits)
}

// tokenizer translates between the ids a user types (GPT-2 ids when the checkpoint records
// a GPT-2 tokenizer) and the model's ids, and decodes them.
type tokenizer struct {
	vocab *corpus.Vocab   // compact vocabulary, when the checkpoint has one
	enc   *corpus.Encoder // GPT-2 BPE, when the ids are GPT-2's (possibly through vocab)
}

func loadTokenizer(ck *checkpoint.Checkpoint) (*tokenizer, error) {
	v, c := ck.Meta.Variant, ck.Meta.Config
	tk := &tokenizer{}
	if v.VocabMap != "" {
		voc, err := corpus.LoadVocab(filepath.Join(ck.Dir, v.VocabMap))
		if err != nil {
			return nil, err
		}
		if voc.Size() != c.VocabSize {
			return nil, fmt.Errorf("%s: %d ids, but the checkpoint's vocab_size is %d", filepath.Join(ck.Dir, v.VocabMap), voc.Size(), c.VocabSize)
		}
		tk.vocab = voc
	}
	if v.Tokenizer == corpus.TokenizerName && (tk.vocab != nil || c.VocabSize == corpus.GPT2VocabSize) {
		enc, err := corpus.NewEncoder()
		if err != nil {
			return nil, err
		}
		tk.enc = enc
	}
	return tk, nil
}

// toModel maps a user id (GPT-2 id when a compact vocabulary is in use) to a model id.
func (tk *tokenizer) toModel(id int) int {
	if tk.vocab != nil && id >= 0 && id < corpus.GPT2VocabSize {
		return int(tk.vocab.ToCompact(uint32(id)))
	}
	return id
}

// fromModel maps a model id to the id shown to the user (−1 for the compact <unk>).
func (tk *tokenizer) fromModel(id int) int {
	if tk.vocab != nil {
		return tk.vocab.ToGPT2(uint32(id))
	}
	return id
}

// text decodes a model id, or returns "" when no tokenizer is known.
func (tk *tokenizer) text(id int) string {
	switch {
	case tk.enc == nil:
		return ""
	case tk.vocab != nil:
		return tk.vocab.Decode(uint32(id))
	}
	return tk.enc.DecodeOne(uint32(id))
}

// Output of --json.
type logitsJSON struct {
	Tokens    []int          `json:"tokens"`
	Positions []positionJSON `json:"positions"`
}

type positionJSON struct {
	Top []topJSON `json:"top"`
}

type topJSON struct {
	ID      int     `json:"id"`
	ModelID *int    `json:"model_id,omitempty"` // the compact id, when it differs from id's space
	Text    *string `json:"text,omitempty"`
	Logit   float64 `json:"logit"`
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--tokens: %q is not an integer id", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--tokens is empty")
	}
	return ids, nil
}

func runLogits(args []string) error {
	fs := newFlags("logits", "logits --checkpoint DIR --tokens 22184,1388,3419,1391 [--topk K] [--json] [--model-ids]")
	dir := fs.String("checkpoint", "", "checkpoint directory (required)")
	tokens := fs.String("tokens", "", "comma-separated token ids (GPT-2 ids; translated through the checkpoint's vocab.json if it has one)")
	text := fs.String("text", "", "text to tokenize with GPT-2 BPE instead of --tokens")
	topk := fs.Int("topk", 5, "predictions shown per position")
	asJSON := fs.Bool("json", false, "print JSON: {\"tokens\":[...],\"positions\":[{\"top\":[{\"id\":..,\"logit\":..}]}]}")
	modelIDs := fs.Bool("model-ids", false, "--tokens are the model's own ids (no vocab.json translation)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || (*tokens == "") == (*text == "") {
		return fmt.Errorf("--checkpoint and exactly one of --tokens or --text are required")
	}
	ck, err := checkpoint.Load(*dir)
	if err != nil {
		return err
	}
	tk, err := loadTokenizer(ck)
	if err != nil {
		return err
	}
	var ids []int
	if *text != "" {
		if tk.enc == nil {
			return fmt.Errorf("--text: the checkpoint records no GPT-2 tokenizer; pass --tokens")
		}
		for _, id := range tk.enc.Encode(*text) {
			ids = append(ids, int(id))
		}
	} else if ids, err = parseIDs(*tokens); err != nil {
		return err
	}
	c := ck.Meta.Config
	model := make([]int32, len(ids))
	for i, id := range ids {
		m := id
		if !*modelIDs {
			m = tk.toModel(id)
		}
		if m < 0 || m >= c.VocabSize {
			return fmt.Errorf("token id %d at position %d is outside [0, vocab_size=%d)", id, i, c.VocabSize)
		}
		if tk.vocab != nil && !*modelIDs && m == tk.vocab.Unk {
			fmt.Fprintf(os.Stderr, "note: token %d at position %d is not in the compact vocabulary; the model sees <unk>\n", id, i)
		}
		model[i] = int32(m)
	}
	if len(model) > c.MaxSeqLen {
		return fmt.Errorf("%d tokens exceed max_seq_len %d", len(model), c.MaxSeqLen)
	}
	r, err := gomlxmodel.NewRunner(c, ck.Meta.Variant, ck.Tensors)
	if err != nil {
		return err
	}
	logits, err := r.Logits([][]int32{model})
	if err != nil {
		return err
	}
	V := c.VocabSize
	k := min(max(*topk, 1), V)
	out := logitsJSON{Tokens: ids}
	for p := range model {
		row := logits[p*V : (p+1)*V]
		order := make([]int, V)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		var pos positionJSON
		for _, id := range order[:k] {
			e := topJSON{ID: tk.fromModel(id), Logit: float64(row[id])}
			if tk.vocab != nil {
				mid := id
				e.ModelID = &mid
			}
			if s := tk.text(id); tk.enc != nil {
				e.Text = &s
			}
			pos.Top = append(pos.Top, e)
		}
		out.Positions = append(out.Positions, pos)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(out)
	}
	fmt.Printf("checkpoint %s (step %d, logged loss %.4f), vocab %d, backend %s\n", *dir, ck.Meta.Step, ck.Meta.Loss, V, gomlxmodel.BackendConfig())
	for p, pos := range out.Positions {
		in := strconv.Itoa(ids[p])
		if s := tk.text(int(model[p])); tk.enc != nil {
			in += " " + strconv.Quote(s)
		}
		fmt.Printf("position %d  input %s\n", p, in)
		for rank, e := range pos.Top {
			label := strconv.Itoa(e.ID)
			if e.Text != nil {
				label += " " + strconv.Quote(*e.Text)
			}
			mark := ""
			if int(model[p]) == derefOr(e.ModelID, e.ID) {
				mark = "   <- current token"
			} else if p+1 < len(model) && int(model[p+1]) == derefOr(e.ModelID, e.ID) {
				mark = "   <- next token"
			}
			fmt.Printf("  %d. %-28s logit %9.3f%s\n", rank+1, label, e.Logit, mark)
		}
	}
	return nil
}

func derefOr(p *int, v int) int {
	if p != nil {
		return *p
	}
	return v
}
