package nbutil

// Top-k predictions on a handful of tokens (the note's input), as the notebooks tabulate them.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/plots/nbdisplay"
)

// Prediction is one entry of a top-k list: a GPT-2 id (−1 for <unk>), its text and its logit.
type Prediction struct {
	ID    int     `json:"id"`
	Text  string  `json:"text"`
	Logit float64 `json:"logit"`
}

var encoder *corpus.Encoder

// GPT2Text decodes a GPT-2 id, quoted, with spaces shown as "·" ("<unk>" for −1).
func GPT2Text(id int) string {
	if id < 0 {
		return "<unk>"
	}
	if encoder == nil {
		encoder = Must(corpus.NewEncoder())
	}
	return strings.ReplaceAll(strconv.Quote(encoder.DecodeOne(uint32(id))), " ", "·")
}

// GPT2Texts returns the text of every GPT-2 id in ids (GPT2Text).
func GPT2Texts(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = GPT2Text(id)
	}
	return out
}

// TopK runs the GPT-2 ids through s as one sequence (translated to its compact ids when vocab
// is not nil) and returns the top k predictions at every position, as GPT-2 ids.
func TopK(s *analysis.Subject, vocab *corpus.Vocab, ids []int, k int) ([][]Prediction, error) {
	mv := corpus.ModelVocab{Compact: vocab}
	ps, err := analysis.TopPredictions(s, mv.ToModelIDs(ids), k)
	if err != nil {
		return nil, err
	}
	out := make([][]Prediction, len(ids))
	for t, row := range ps {
		for _, q := range row {
			g := mv.ToGPT2(q.ID)
			out[t] = append(out[t], Prediction{ID: g, Text: GPT2Text(g), Logit: q.Logit})
		}
	}
	return out, nil
}

// ShowTopTable shows one row per position: the input token, the top predictions and whether
// the argmax is the input (a copy) or the next token of ids.
func ShowTopTable(ids []int, preds [][]Prediction) {
	head := []string{"pos", "input"}
	for i := 1; i <= len(preds[0]); i++ {
		head = append(head, fmt.Sprintf("top %d: id text (logit)", i))
	}
	head = append(head, "argmax is")
	var rows [][]string
	for t, id := range ids {
		row := []string{strconv.Itoa(t), fmt.Sprintf("%d %s", id, GPT2Text(id))}
		for _, p := range preds[t] {
			row = append(row, fmt.Sprintf("%d %s (%.1f)", p.ID, p.Text, p.Logit))
		}
		what := "other"
		switch {
		case preds[t][0].ID == id:
			what = "the input (copy)"
		case t+1 < len(ids) && preds[t][0].ID == ids[t+1]:
			what = "the next input"
		}
		rows = append(rows, append(row, what))
	}
	nbdisplay.ShowTable(head, rows)
}

// Copying summarises top-k predictions on a sequence: how many argmaxes are the input (Copies)
// or the next input token (Next, of Positions−1), the range of the top logits and the largest
// runner-up logit (when k ≥ 2).
type Copying struct {
	Positions, Copies, Next int
	Lo, Hi, RunnerUp        float64
}

// CopyingOf summarises preds on ids.
func CopyingOf(ids []int, preds [][]Prediction) Copying {
	c := Copying{Positions: len(ids), Lo: math.Inf(1), Hi: math.Inf(-1), RunnerUp: math.Inf(-1)}
	for t, id := range ids {
		top := preds[t][0]
		if top.ID == id {
			c.Copies++
		}
		if t+1 < len(ids) && top.ID == ids[t+1] {
			c.Next++
		}
		c.Lo, c.Hi = min(c.Lo, top.Logit), max(c.Hi, top.Logit)
		if len(preds[t]) > 1 {
			c.RunnerUp = max(c.RunnerUp, preds[t][1].Logit)
		}
	}
	return c
}

// D20Logits reads the top-5 predictions of the d20 checkpoint trained on an H100 on the note's
// tokens (D20RunDir/d20_logits.json, `nanoscope logits --topk 5 --json`).
func D20Logits(root string) ([][]Prediction, error) {
	return readNoteLogits(filepath.Join(root, D20RunDir, "d20_logits.json"))
}

// readNoteLogits reads `nanoscope logits --topk K --json` output at path, which must hold the
// note's tokens: the top K per position, texts from the GPT-2 vocabulary.
func readNoteLogits(path string) ([][]Prediction, error) {
	var d struct {
		Tokens    []int `json:"tokens"`
		Positions []struct {
			Top []Prediction `json:"top"`
		} `json:"positions"`
	}
	if err := ReadJSONFile(path, &d); err != nil {
		return nil, err
	}
	if !slices.Equal(d.Tokens, NoteTokens()) {
		return nil, fmt.Errorf("%s holds tokens %v, not the note's", path, d.Tokens)
	}
	out := make([][]Prediction, len(d.Positions))
	for t, p := range d.Positions {
		for _, e := range p.Top {
			out[t] = append(out[t], Prediction{ID: e.ID, Text: GPT2Text(e.ID), Logit: e.Logit})
		}
	}
	return out, nil
}

// Int32s converts ids to the int32 ids the model runners take.
func Int32s(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// SelfLogitFit compares the top logit at each position with the current token's self logit
// sqrt(D)·‖e‖ and with the note's formula ‖e‖²: the largest difference from each.
func SelfLogitFit(ids []int, preds [][]Prediction, sl analysis.SelfLogits) (worstSelf, worstSq float64) {
	for t, id := range ids {
		top, n := preds[t][0].Logit, sl.Norms[id]
		worstSelf, worstSq = max(worstSelf, math.Abs(top-sl.Self[id])), max(worstSq, math.Abs(top-n*n))
	}
	return worstSelf, worstSq
}

// ShowSelfLogits shows, per position, the top logit against sqrt(D)·‖e‖ and ‖e‖² of the
// current token, and returns SelfLogitFit.
func ShowSelfLogits(ids []int, preds [][]Prediction, sl analysis.SelfLogits) (worstSelf, worstSq float64) {
	var rows [][]string
	for t, id := range ids {
		n, top, self := sl.Norms[id], preds[t][0].Logit, sl.Self[id]
		rows = append(rows, []string{strconv.Itoa(t), fmt.Sprintf("%d %s", id, GPT2Text(id)), fmt.Sprintf("%.3f", n),
			fmt.Sprintf("%.2f", top), fmt.Sprintf("%.2f", self), fmt.Sprintf("%+.2f", top-self), fmt.Sprintf("%.2f", n*n), fmt.Sprintf("%+.2f", top-n*n)})
	}
	nbdisplay.ShowTable([]string{"pos", "input", "‖e‖", "top logit", "√D·‖e‖", "top − √D·‖e‖", "‖e‖²", "top − ‖e‖²"}, rows)
	return SelfLogitFit(ids, preds, sl)
}

// LensRates arranges two logit lenses (fresh and trained) for a heat map: one row per depth
// (the embedding and the mean of the streams after each block), columns fresh copy rate,
// fresh next-token accuracy, trained copy rate, trained next-token accuracy.
func LensRates(fresh, trained analysis.Lens) (rows []string, values [][]float64) {
	for i, p := range fresh.Points {
		if p.Stream != "embed" && p.Stream != "mean" {
			continue
		}
		name := "embedding"
		if p.Layer >= 0 {
			name = fmt.Sprintf("after block %d", p.Layer)
		}
		q := trained.Points[i]
		rows = append(rows, name)
		values = append(values, []float64{p.CopyRate, p.NextTokenAccuracy, q.CopyRate, q.NextTokenAccuracy})
	}
	return rows, values
}
