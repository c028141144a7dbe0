package nbutil

// The checks of notebook 01 on the corpus files: the one-token shift of the training windows
// and batches, and the compact token files against the GPT-2 ones.

import (
	"fmt"
	"path/filepath"

	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots/nbdisplay"
)

// ShiftChecks are the one-token-shift checks on the train split: windows of T tokens with
// the trainer's shift 1 and, as a control, shift 0 (ShiftCheck, 5000 windows each), and
// Batches batches of B × T drawn by the trainer's batcher from the compact file (BatchCheck).
type ShiftChecks struct {
	Tokens, T, B, Batches   int
	Shifted, Control        ShiftResult
	BatchOK, BatchPositions int
}

// CheckShifts runs the checks of ShiftChecks on the corpus in root.
func CheckShifts(root string, T, B, batches int) (ShiftChecks, error) {
	ids, err := CorpusTokens(root, corpus.TrainFile)
	if err != nil {
		return ShiftChecks{}, err
	}
	c := ShiftChecks{Tokens: len(ids), T: T, B: B, Batches: batches,
		Shifted: ShiftCheck(ids, T, 5000, 1), Control: ShiftCheck(ids, T, 5000, 0)}
	compact, err := CorpusTokens(root, corpus.TrainCompactFile)
	if err != nil {
		return c, err
	}
	c.BatchOK, c.BatchPositions, err = BatchCheck(compact, T, B, batches)
	return c, err
}

// OK reports whether every target is the next input, in windows and batches, and the control
// (unshifted targets) fails.
func (c ShiftChecks) OK() bool {
	return c.Shifted.NextMatches == c.Shifted.Positions && c.BatchOK == c.BatchPositions && c.Control.NextMatches != c.Control.Positions
}

// ShowShiftChecks shows the checks in a table, after a line on the train split.
func ShowShiftChecks(c ShiftChecks) {
	fmt.Printf("%s: %d tokens, %d windows of %d tokens\n", corpus.TrainFile, c.Tokens, tokenfile.NumWindows(c.Tokens, c.T), c.T)
	row := func(name string, windows, pos, ok int) []string {
		return []string{name, fmt.Sprint(windows), fmt.Sprint(pos), fmt.Sprint(ok), fmt.Sprint(pos - ok)}
	}
	nbdisplay.ShowTable([]string{"check", "windows", "positions", "target == next input", "mismatches"}, [][]string{
		row("train.bin, shift 1 (training windows)", c.Shifted.Windows, c.Shifted.Positions, c.Shifted.NextMatches),
		row("train.bin, shift 0 (control)", c.Control.Windows, c.Control.Positions, c.Control.NextMatches),
		row(fmt.Sprintf("train.compact.bin, %d trainer batches of %d x %d", c.Batches, c.B, c.T), c.Batches*c.B, c.BatchPositions, c.BatchOK),
	})
}

// ShowCompactCheck compares, for the train and validation splits, the compact token file with
// the GPT-2 one mapped through the corpus's compact vocabulary, shows the result in a table
// and returns the number of splits that disagree.
func ShowCompactCheck(root string) (bad int, err error) {
	vocab, err := corpus.LoadVocab(filepath.Join(root, CorpusDir, corpus.VocabFile))
	if err != nil {
		return 0, err
	}
	rows := [][]string{}
	for _, split := range [][2]string{{corpus.TrainFile, corpus.TrainCompactFile}, {corpus.ValFile, corpus.ValCompactFile}} {
		gpt2, err := CorpusTokens(root, split[0])
		if err != nil {
			return 0, err
		}
		compact, err := CorpusTokens(root, split[1])
		if err != nil {
			return 0, err
		}
		diff := CompactMismatches(vocab, gpt2, compact)
		if diff != 0 {
			bad++
		}
		rows = append(rows, []string{split[1], fmt.Sprint(len(compact)), fmt.Sprint(len(gpt2)), fmt.Sprint(diff)})
	}
	nbdisplay.ShowTable([]string{"compact file", "tokens", "GPT-2 tokens", "positions where compact != vocab(GPT-2)"}, rows)
	fmt.Printf("compact vocabulary: %d ids\n", vocab.Size())
	return bad, nil
}
