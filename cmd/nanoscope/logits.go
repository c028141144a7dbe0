package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
)

func init() {
	register("logits", "print the top-k next-token predictions of a checkpoint at every position", runLogits)
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

// parseIDs parses --tokens (see parseIDList).
func parseIDs(s string) ([]int, error) { return parseIDList("tokens", s) }

// parseIDList parses a comma-separated list of non-negative integer ids given to flag
// flagName; an empty entry ("1,,2", a trailing comma) is an error.
func parseIDList(flagName, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usagef("--%s is empty", flagName)
	}
	var ids []int
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, usagef("--%s %q: entry %d is empty", flagName, s, i+1)
		}
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, usagef("--%s: %q is not an integer id", flagName, f)
		}
		if id < 0 {
			return nil, usagef("--%s: id %d is negative", flagName, id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func runLogits(args []string) error {
	fs := newFlags("logits", "logits --checkpoint DIR (--tokens 22184,1388,3419,1391 | --text 'fn main() {') [--topk K] [--json] [--model-ids]")
	dir := fs.String("checkpoint", "", "checkpoint `PATH` (required): a directory (nanoscope's, or a Hugging Face GPT-2, GPT-NeoX, Llama, Qwen2, Qwen3, Mistral, Gemma, Gemma 2 or Phi-3: config.json + model.safetensors), a nanoGPT ckpt.pt, a nanochat checkpoint directory or model_<step>.pt, or an llm.c .bin")
	tokens := fs.String("tokens", "", "comma-separated token `IDS` (GPT-2 ids; translated through the checkpoint's vocab.json if it has one)")
	text := fs.String("text", "", "`TEXT` to tokenize with GPT-2 BPE instead of --tokens")
	topk := fs.Int("topk", 5, "predictions `K` shown per position, in [1, vocab_size]")
	asJSON := fs.Bool("json", false, "print JSON: {\"tokens\":[...],\"positions\":[{\"top\":[{\"id\":..,\"logit\":..}]}]}")
	modelIDs := fs.Bool("model-ids", false, "--tokens are the model's own ids (no vocab.json translation)")
	conventions := conventionFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("checkpoint")
	if (*tokens == "") == (*text == "") {
		fs.fail("exactly one of --tokens and --text is required")
	}
	fs.intAtLeast("topk", *topk, 1)
	fs.exclusive("text", "model-ids")
	if err := fs.check(); err != nil {
		return err
	}
	l, err := openCheckpoint("checkpoint", *dir, *conventions)
	if err != nil {
		return err
	}
	tk, err := l.Tokenizer()
	if err != nil {
		return err
	}
	var ids []int
	if *text != "" {
		if tk.Enc == nil {
			return fmt.Errorf("--text: %s; pass its ids with --tokens", tk.None)
		}
		for _, id := range tk.Enc.Encode(*text) {
			ids = append(ids, int(id))
		}
		if len(ids) == 0 {
			return usagef("--text %q has no tokens", *text)
		}
	} else if ids, err = parseIDs(*tokens); err != nil {
		return err
	}
	V := l.Family.Dims().VocabSize
	if *topk > V {
		return usagef("--topk %d exceeds the checkpoint's vocab_size %d", *topk, V)
	}
	if n := contextLen(l); n > 0 && len(ids) > n {
		return usagef("--tokens: %d tokens exceed the checkpoint's context of %d positions", len(ids), n)
	}
	isUnk := func(m int) bool { return tk.Vocab != nil && m == tk.Vocab.Unk }
	model := make([]int32, len(ids))
	inputs := make([]string, len(ids)) // how each input is shown
	for i, id := range ids {
		m := id
		if !*modelIDs {
			m = tk.ToModel(id)
			if tk.Vocab != nil && id >= corpus.GPT2VocabSize {
				return usagef("--tokens: id %d at position %d is not a GPT-2 id (they are < %d; --model-ids takes the model's own ids)", id, i, corpus.GPT2VocabSize)
			}
		}
		if m < 0 || m >= V {
			return usagef("--tokens: id %d at position %d is outside the model's ids [0, %d)", id, i, V)
		}
		inputs[i] = strconv.Itoa(id)
		switch {
		case !*modelIDs && tk.Enc != nil:
			inputs[i] += " " + strconv.Quote(tk.Enc.DecodeOne(uint32(id)))
		case tk.Enc != nil:
			inputs[i] += " " + strconv.Quote(tk.Text(m))
		}
		if isUnk(m) && !*modelIDs {
			inputs[i] += " (not in the compact vocabulary: the model sees <unk>)"
		}
		model[i] = int32(m)
	}
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		return err
	}
	logits, err := r.Logits([][]int32{model})
	if err != nil {
		return err
	}
	k := *topk
	out := logitsJSON{Tokens: ids}
	for p := range model {
		row := logits[p*V : (p+1)*V]
		var pos positionJSON
		for _, id := range analysis.TopIndices(row, k) {
			e := topJSON{ID: tk.FromModel(id), Logit: float64(row[id])}
			if tk.Vocab != nil {
				mid := id
				e.ModelID = &mid
			}
			if s := tk.Text(id); tk.Enc != nil {
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
	fmt.Printf("checkpoint %s (%s), vocab %d, backend %s\n", *dir, origin(l), V, gomlxmodel.BackendConfig())
	if len(l.Notes) > 0 {
		fmt.Printf("loaded: %s\n", strings.Join(l.Notes, "; "))
	}
	if o := overrideLine(l); o != "" {
		fmt.Println(o)
	}
	fmt.Printf("markers: \"<- current token\" the prediction is this position's input (copying); \"<- next token\" it is the following input (the right next-token prediction); <unk> is never marked\n")
	for p, pos := range out.Positions {
		fmt.Printf("position %d  input %s\n", p, inputs[p])
		for rank, e := range pos.Top {
			label := strconv.Itoa(e.ID)
			if e.Text != nil {
				label += " " + strconv.Quote(*e.Text)
			}
			mark, pred := "", derefOr(e.ModelID, e.ID)
			switch {
			case isUnk(pred):
			case int(model[p]) == pred:
				mark = "   <- current token"
			case p+1 < len(model) && int(model[p+1]) == pred:
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
