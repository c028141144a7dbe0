package nbutil

// One model held for exploration in the manner of TransformerLens's demo: text in, tokens,
// top-k, and the verbs of analysis (lens, DLA, patterns, patching) on the same runner.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
	"nanoscope/plots"
)

// Tokenizers an Explorer can use.
const (
	TokGPT2  = "gpt2"  // GPT-2 BPE (r50k_base), through the checkpoint's compact vocabulary if it has one
	TokBytes = "bytes" // one id per byte: vocabularies that start with the 256 bytes (the Hugging Face fixtures)
)

// Explorer is one checkpoint opened by load.Open (any family), a HookedRunner on it and the
// tokenizer its ids are in.
type Explorer struct {
	Loaded *load.Loaded
	Runner *gomlxmodel.HookedRunner
	Tok    string // TokGPT2 or TokBytes
	vocab  corpus.ModelVocab
	enc    *corpus.Encoder
}

// OpenExplorer opens the checkpoint at dir (absolute, or relative to root) with tokenizer tok:
// TokGPT2 or TokBytes, or "" for the checkpoint's own record (a nanoscope checkpoint's GPT-2
// tokenizer and compact vocabulary, or GPT-2's 50257 ids). Errors: a checkpoint that does not
// load, "" for a checkpoint that records no tokenizer (name one), TokBytes on a vocabulary of
// fewer than 256 ids.
func OpenExplorer(root, dir, tok string) (*Explorer, error) {
	l, err := load.Open(InRoot(root, dir))
	if err != nil {
		return nil, err
	}
	V := l.Family.Dims().VocabSize
	e := &Explorer{Loaded: l, Tok: tok}
	switch {
	case tok == "" && l.Meta != nil && l.Meta.Variant.Tokenizer == corpus.TokenizerName,
		tok == "" && (V == corpus.GPT2VocabSize || l.PaddedVocab == corpus.GPT2VocabSize):
		e.Tok = TokGPT2
	case tok == "":
		return nil, fmt.Errorf("nbutil: %s records no tokenizer (vocabulary of %d ids): pass %q or %q", dir, V, TokGPT2, TokBytes)
	case tok != TokGPT2 && tok != TokBytes:
		return nil, fmt.Errorf("nbutil: tokenizer %q is not %q or %q", tok, TokGPT2, TokBytes)
	case tok == TokBytes && V < 256:
		return nil, fmt.Errorf("nbutil: tokenizer %q needs 256 ids, %s has %d", TokBytes, dir, V)
	}
	if e.Tok == TokGPT2 {
		if l.Meta != nil {
			if e.vocab, err = corpus.LoadModelVocab(l.Dir, l.Meta.Variant.VocabMap, l.Meta.Config.VocabSize); err != nil {
				return nil, err
			}
		}
		if e.enc, err = corpus.NewEncoder(); err != nil {
			return nil, err
		}
	}
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		return nil, err
	}
	e.Runner = gomlxmodel.NewHookedRunner(r)
	return e, nil
}

// Encode tokenizes text into model ids. Errors: no tokens, or a token outside the model's
// compact vocabulary (the model would read <unk>), named with its text.
func (e *Explorer) Encode(text string) ([]int32, error) {
	var out []int32
	if e.Tok == TokBytes {
		for _, b := range []byte(text) {
			out = append(out, int32(b))
		}
	} else {
		for _, g := range e.enc.Encode(text) {
			m := e.vocab.ToModel(int(g))
			if e.vocab.IsUnk(m) {
				return nil, fmt.Errorf("nbutil: token %q of %q is not in the model's vocabulary", e.enc.DecodeOne(g), text)
			}
			out = append(out, int32(m))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nbutil: %q has no tokens", text)
	}
	return out, nil
}

// MustEncode is Encode, panicking on an error (a cell error).
func (e *Explorer) MustEncode(text string) []int32 { return Must(e.Encode(text)) }

// Token is the text of model id, quoted, with spaces shown as "·".
func (e *Explorer) Token(id int) string {
	var s string
	if e.Tok == TokBytes {
		if id < 256 {
			s = string([]byte{byte(id)})
		} else {
			s = fmt.Sprintf("<%d>", id)
		}
	} else {
		s = e.vocab.Text(id)
	}
	return strings.ReplaceAll(strconv.Quote(s), " ", "·")
}

// Tokens is the text of every id (Token).
func (e *Explorer) Tokens(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = e.Token(int(id))
	}
	return out
}

// NextGuess is one entry of a top-k list.
type NextGuess struct {
	ID    int
	Text  string
	Logit float64
	Prob  float64
}

// Top returns the k most likely next tokens after the last position of ids.
func (e *Explorer) Top(ids []int32, k int) ([]NextGuess, error) {
	res, err := e.Runner.Run([][]int32{ids}, nil)
	if err != nil {
		return nil, err
	}
	l := res["logits"]
	V := l.Shape[2]
	row := l.Data[(len(ids)-1)*V : len(ids)*V]
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	z := 0.0
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	idx := make([]int, V)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	var out []NextGuess
	for _, i := range idx[:min(k, V)] {
		out = append(out, NextGuess{ID: i, Text: e.Token(i), Logit: float64(row[i]), Prob: math.Exp(float64(row[i])-mx) / z})
	}
	return out, nil
}

// GuessRows formats guesses as table rows: rank, token, logit, probability.
func GuessRows(gs []NextGuess) [][]string {
	var rows [][]string
	for i, g := range gs {
		rows = append(rows, []string{strconv.Itoa(i + 1), g.Text, fmt.Sprintf("%.2f", g.Logit), Pct(g.Prob)})
	}
	return rows
}

// PatchingFigure draws a patching sweep as a heatmap: blocks as rows, the corrupted prompt's
// tokens as columns, the share of the logit difference restored in the cells.
func PatchingFigure(name string, e *Explorer, corrupted []int32, p analysis.Patching) (plots.Figure, error) {
	var rows []string
	for i := range p.Restored {
		rows = append(rows, fmt.Sprintf("block %d", i))
	}
	cols := make([]string, len(corrupted))
	for i, t := range e.Tokens(corrupted) {
		cols[i] = fmt.Sprintf("%d %s", i, t)
	}
	title := fmt.Sprintf("Patching %s from the clean run: share of logit(%s) − logit(%s) restored", p.Hook, e.Token(p.A), e.Token(p.B))
	return plots.Heatmap(name, title, "position (corrupted prompt)", "", rows, cols, p.Restored)
}

// DLAFigure draws a direct logit attribution as bars, one per component.
func DLAFigure(name string, e *Explorer, d analysis.DLA) (plots.Figure, error) {
	title := fmt.Sprintf("Direct logit attribution of logit(%s) − logit(%s) = %.2f", e.Token(d.A), e.Token(d.B), d.LogitDiff)
	return plots.GroupedBars(name, title, "logit difference", d.Labels, []plots.BarSeries{{Label: "direct effect", Values: d.Values}})
}

// LensFigure draws the logit lens's logit(a) − logit(b) at every depth and position.
func LensFigure(name string, e *Explorer, ids []int32, l analysis.LensLogits, a, b int) (plots.Figure, error) {
	diff, err := l.LogitDiff(a, b)
	if err != nil {
		return plots.Figure{}, err
	}
	cols := make([]string, len(ids))
	for i, t := range e.Tokens(ids) {
		cols[i] = fmt.Sprintf("%d %s", i, t)
	}
	title := fmt.Sprintf("Logit lens: logit(%s) − logit(%s) at every depth", e.Token(a), e.Token(b))
	return plots.Heatmap(name, title, "position", "", l.Depths, cols, diff)
}

// PatternFigure draws head h of block layer on ids.
func PatternFigure(name string, e *Explorer, ids []int32, layer, head int) (plots.Figure, error) {
	p, err := analysis.Pattern(e.Runner, ids, layer, head)
	if err != nil {
		return plots.Figure{}, err
	}
	return plots.AttentionPattern(name, fmt.Sprintf("Attention pattern of block %d, head %d", layer, head), e.Tokens(ids), p)
}

// TopHead returns the head of a per-head attribution with the largest direct effect (by its
// signed value: the head that pushes most toward the answer), as block and head.
func TopHead(d analysis.DLA) (layer, head int, value float64, err error) {
	found := false
	for i, lab := range d.Labels {
		var l, h int
		if n, _ := fmt.Sscanf(lab, "L%dH%d", &l, &h); n == 2 && (!found || d.Values[i] > value) {
			layer, head, value, found = l, h, d.Values[i], true
		}
	}
	if !found {
		return 0, 0, 0, fmt.Errorf("nbutil: the attribution has no per-head components (labels %v)", d.Labels)
	}
	return layer, head, value, nil
}

// PatchingPeak returns the position of block's row of p that restores the most, and how much.
func PatchingPeak(p analysis.Patching, block int) (pos int, restored float64) {
	row := p.Restored[block]
	for i, v := range row {
		if v > row[pos] {
			pos = i
		}
	}
	return pos, row[pos]
}
