package nbutil

// The notebooks' questions on a checkpoint through the session's warm server (package warm):
// the checkpoint is read, its graphs compiled and the answers kept there, so the next cell pays
// none of it. A cell that needs only these questions is faster importing nanoscope/warm alone
// (it links without GoMLX); these keep nbutil's types for notebooks that already use them.

import (
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/warm"
)

// WarmTopK is TopK on the checkpoint at dir (any format load.Open reads) through the warm
// server: ids are GPT-2 ids, translated through the checkpoint's compact vocab.json when it has
// one (its model's own ids when it has no GPT-2 tokenizer).
func WarmTopK(dir string, ids []int, k int) ([][]Prediction, error) {
	t, err := warm.TopKOf(warm.Prompt{Checkpoint: dir, IDs: ids}, k)
	if err != nil {
		return nil, err
	}
	out := make([][]Prediction, len(t.Top))
	for p, row := range t.Top {
		for _, e := range row {
			out[p] = append(out[p], Prediction{ID: e.ID, Text: warmText(e.Token), Logit: e.Logit})
		}
	}
	return out, nil
}

// warmText shows a token as GPT2Text does: quoted, spaces as "·", "<unk>" for −1.
func warmText(t warm.Token) string {
	if t.ID < 0 {
		return "<unk>"
	}
	return strings.ReplaceAll(strconv.Quote(t.Text), " ", "·")
}

// WarmLens is analysis.LogitLensTokens on the checkpoint at dir through the warm server (ids as
// for WarmTopK); Argmax holds the model's ids.
func WarmLens(dir string, ids []int) (analysis.TokenLens, error) {
	l, err := warm.LensOf(warm.Prompt{Checkpoint: dir, IDs: ids})
	if err != nil {
		return analysis.TokenLens{}, err
	}
	out := analysis.TokenLens{Depths: l.Depths, Margin: l.Margin, OnTop: l.OnTop, Cells: l.Cells, MinMargin: l.MinMargin, StreamAsymmetry: l.StreamAsymmetry}
	for _, row := range l.Argmax {
		ids := make([]int, len(row))
		for i, t := range row {
			ids[i] = t.ModelID
		}
		out.Argmax = append(out.Argmax, ids)
	}
	return out, nil
}
