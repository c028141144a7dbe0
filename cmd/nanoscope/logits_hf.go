package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/hf"
)

// runLogitsHF is `logits` for a Hugging Face-layout checkpoint (config.json, no meta.json):
// a GPT-2 or Llama model loaded by package hf. Ids are the model's own (--model-ids changes
// nothing); --text is tokenized with GPT-2 BPE only when the vocabulary is GPT-2's (50257 ids),
// since nanoscope has no other tokenizer. rope and gqa, when not "", run a Llama under another
// RoPE pairing or GQA mapping than Hugging Face's. The output has the same form as for
// nanoscope's checkpoints.
func runLogitsHF(dir, tokens, text string, topk int, asJSON bool, rope, gqa string) error {
	ck, err := hf.Load(dir)
	if err != nil {
		return err
	}
	var override []string
	for _, c := range [][2]string{{gomlxmodel.ConvRopePairing, rope}, {gomlxmodel.ConvGQAMapping, gqa}} {
		if c[1] == "" {
			continue
		}
		if ck.Family, err = ck.Family.WithConvention(c[0], c[1]); err != nil {
			return usagef("%s: %v", ck.Arch, err)
		}
		override = append(override, c[0]+" "+c[1])
	}
	d := ck.Family.Dims()
	V := d.VocabSize
	var enc *corpus.Encoder
	if V == corpus.GPT2VocabSize {
		if enc, err = corpus.NewEncoder(); err != nil {
			return err
		}
	}
	var ids []int
	switch {
	case text != "" && enc == nil:
		return fmt.Errorf("--text: the %s checkpoint's vocabulary has %d ids, not GPT-2's %d: nanoscope has no tokenizer for it; pass its ids with --tokens",
			ck.Arch, V, corpus.GPT2VocabSize)
	case text != "":
		for _, id := range enc.Encode(text) {
			ids = append(ids, int(id))
		}
		if len(ids) == 0 {
			return usagef("--text %q has no tokens", text)
		}
	default:
		if ids, err = parseIDs(tokens); err != nil {
			return err
		}
	}
	if topk > V {
		return usagef("--topk %d exceeds the checkpoint's vocab_size %d", topk, V)
	}
	model := make([]int32, len(ids))
	for i, id := range ids {
		if id < 0 || id >= V {
			return usagef("--tokens: id %d at position %d is outside the model's ids [0, %d)", id, i, V)
		}
		model[i] = int32(id)
	}
	if d.MaxSeq > 0 && len(model) > d.MaxSeq {
		return usagef("--tokens: %d tokens exceed the checkpoint's %d positions", len(model), d.MaxSeq)
	}
	r, err := gomlxmodel.NewFamilyRunner(ck.Family, ck.Params)
	if err != nil {
		return err
	}
	logits, err := r.Logits([][]int32{model})
	if err != nil {
		return err
	}
	decode := func(id int) *string {
		if enc == nil {
			return nil
		}
		s := enc.DecodeOne(uint32(id))
		return &s
	}
	k := topk
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
			pos.Top = append(pos.Top, topJSON{ID: id, Logit: float64(row[id]), Text: decode(id)})
		}
		out.Positions = append(out.Positions, pos)
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	fmt.Printf("checkpoint %s (Hugging Face %s, %d layers), vocab %d, backend %s\n", dir, ck.Arch, d.NLayers, V, gomlxmodel.BackendConfig())
	if len(ck.Notes) > 0 {
		fmt.Printf("loaded: %s\n", strings.Join(ck.Notes, "; "))
	}
	if len(override) > 0 {
		fmt.Printf("run under: %s (not Hugging Face's)\n", strings.Join(override, ", "))
	}
	for p, pos := range out.Positions {
		in := strconv.Itoa(ids[p])
		if s := decode(ids[p]); s != nil {
			in += " " + strconv.Quote(*s)
		}
		fmt.Printf("position %d  input %s\n", p, in)
		for rank, e := range pos.Top {
			label := strconv.Itoa(e.ID)
			if e.Text != nil {
				label += " " + strconv.Quote(*e.Text)
			}
			mark := ""
			if ids[p] == e.ID {
				mark = "   <- current token"
			} else if p+1 < len(ids) && ids[p+1] == e.ID {
				mark = "   <- next token"
			}
			fmt.Printf("  %d. %-28s logit %9.3f%s\n", rank+1, label, e.Logit, mark)
		}
	}
	return nil
}
