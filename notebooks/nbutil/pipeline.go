package nbutil

// The data pipeline (notebook 01): the one-token shift of training windows, the compact ids,
// and the baselines of a model without context.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots"
	"nanoscope/plots/nbdisplay"
)

// CorpusTokens reads the token file name of the corpus in root.
func CorpusTokens(root, name string) ([]uint32, error) {
	return tokenfile.Read(filepath.Join(root, CorpusDir, name))
}

// ShiftResult counts the positions ShiftCheck looked at and those whose target was the next
// input token.
type ShiftResult struct {
	Windows, Positions, NextMatches int
}

// ShiftCheck draws n windows of length T, evenly spread over ids, with tokenfile.Window and
// the given target shift, and counts the positions where target[i] == input[i+1] (the token
// after the window for the last position).
func ShiftCheck(ids []uint32, T, n, shift int) ShiftResult {
	nw := tokenfile.NumWindows(len(ids), T)
	n = min(n, nw)
	var r ShiftResult
	for j := 0; j < n; j++ {
		k := int(int64(j) * int64(nw) / int64(n))
		in, tg := tokenfile.Window(ids, k, T, shift)
		for i := 0; i < T; i++ {
			next := ids[k*T+T] // the token after the window
			if i+1 < T {
				next = in[i+1]
			}
			r.Positions++
			if tg[i] == next {
				r.NextMatches++
			}
		}
		r.Windows++
	}
	return r
}

// BatchCheck draws n batches from a tokenfile.Batcher over ids (seed 1, the CLI's default) and
// counts the positions whose input is file[kT+i] and target file[kT+i+1], of all positions.
func BatchCheck(ids []uint32, T, B, n int) (ok, positions int, err error) {
	batcher, err := tokenfile.NewBatcher(ids, T, B, 1, 1)
	if err != nil {
		return 0, 0, err
	}
	for range n {
		in, tg, win := batcher.Next()
		for r, k := range win {
			for i := 0; i < T; i++ {
				positions++
				if in[r*T+i] == int32(ids[k*T+i]) && tg[r*T+i] == int32(ids[k*T+i+1]) {
					ok++
				}
			}
		}
	}
	return ok, positions, nil
}

// CompactMismatches maps every GPT-2 id of the token file gpt2 through vocab and counts the
// positions where the result differs from the compact token file (−1 when the lengths differ).
func CompactMismatches(vocab *corpus.Vocab, gpt2, compact []uint32) int {
	mapped := vocab.Compact(gpt2)
	if len(mapped) != len(compact) {
		return -1
	}
	diff := 0
	for i := range mapped {
		if mapped[i] != compact[i] {
			diff++
		}
	}
	return diff
}

// Counts returns how often each id < size occurs in ids.
func Counts(ids []uint32, size int) []float64 {
	c := make([]float64, size)
	for _, id := range ids {
		c[id]++
	}
	return c
}

// ShowBaselines recomputes the unigram entropy (train) and cross-entropy (validation) of both
// id spaces of the corpus and the validation repeat rate, tabulates them next to stats.json's,
// and returns the largest difference from stats.json.
func ShowBaselines(root string, st corpus.Stats) (worst float64, err error) {
	var rows [][]string
	for _, s := range []struct {
		name, train, val string
		size             int
		stats            corpus.IDStats
	}{
		{"GPT-2 ids", corpus.TrainFile, corpus.ValFile, corpus.GPT2VocabSize, st.GPT2},
		{"compact ids", corpus.TrainCompactFile, corpus.ValCompactFile, st.Compact.VocabSize, st.Compact},
	} {
		tr, err := CorpusTokens(root, s.train)
		if err != nil {
			return 0, err
		}
		va, err := CorpusTokens(root, s.val)
		if err != nil {
			return 0, err
		}
		ct, cv := Counts(tr, s.size), Counts(va, s.size)
		h, x := corpus.UnigramEntropy(ct), corpus.UnigramCrossEntropy(ct, cv)
		worst = max(worst, math.Abs(h-s.stats.UnigramEntropyTrain), math.Abs(x-s.stats.UnigramXentVal))
		rows = append(rows, []string{s.name, fmt.Sprintf("%.4f", h), fmt.Sprintf("%.4f", s.stats.UnigramEntropyTrain),
			fmt.Sprintf("%.4f", x), fmt.Sprintf("%.4f", s.stats.UnigramXentVal), fmt.Sprintf("%.4f", analysis.RepeatRate(va))})
	}
	nbdisplay.ShowTable([]string{"ids", "unigram entropy, train (recomputed)", "(stats.json)",
		"unigram cross-entropy, validation (recomputed)", "(stats.json)", "repeat rate, validation"}, rows)
	return worst, nil
}

// TopTokensFigure plots the share of the top most frequent GPT-2 tokens of ids (spaces shown
// as "·").
func TopTokensFigure(name string, ids []uint32, top int) (plots.Figure, error) {
	enc, err := corpus.NewEncoder()
	if err != nil {
		return plots.Figure{}, err
	}
	ct := Counts(ids, corpus.GPT2VocabSize)
	order := make([]int, len(ct))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ct[order[a]] > ct[order[b]] })
	labels, shares, covered := make([]string, top), make([]float64, top), 0.0
	for i, id := range order[:top] {
		labels[i] = strings.ReplaceAll(strconv.Quote(enc.DecodeOne(uint32(id))), " ", "·") // a visible space
		shares[i] = 100 * ct[id] / float64(len(ids))
		covered += shares[i]
	}
	return plots.GroupedBars(name, fmt.Sprintf("Top %d train tokens (%.1f%% of all)", top, covered),
		"share of train tokens (%)", labels, []plots.BarSeries{{Label: "share of train tokens", Values: shares}})
}

// ShowTokenizerCheck encodes text with GPT-2's r50k_base, tabulates each token next to the
// ids want, prints the round trip, and returns the ids and whether they and the decoded text
// match.
func ShowTokenizerCheck(text string, want []uint32) ([]uint32, bool, error) {
	enc, err := corpus.NewEncoder()
	if err != nil {
		return nil, false, err
	}
	ids := enc.Encode(text)
	var rows [][]string
	for i := range max(len(ids), len(want)) {
		got, w, tok := "", "", ""
		if i < len(ids) {
			got, tok = fmt.Sprint(ids[i]), strconv.Quote(enc.DecodeOne(ids[i]))
		}
		if i < len(want) {
			w = fmt.Sprint(want[i])
		}
		rows = append(rows, []string{fmt.Sprint(i), tok, got, w, fmt.Sprint(got == w)})
	}
	nbdisplay.ShowTable([]string{"position", "token text", "id (computed)", "id (note)", "equal"}, rows)
	back := enc.Decode(ids)
	fmt.Printf("encode(%q) = %v; decode back = %q\n", text, ids, back)
	return ids, slices.Equal(ids, want) && back == text, nil
}
