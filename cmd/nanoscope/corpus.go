package main

import (
	"fmt"
	"time"

	"nanoscope/gomlxmodel/corpus"
)

func init() {
	register("corpus", "tokenize a source tree (GPT-2 BPE) into train/validation token files", runCorpus)
}

func runCorpus(args []string) error {
	fs := newFlags("corpus", "corpus [--src DIR] --out DIR [--vocab N] [--max-bytes N] [--val-frac F]")
	src := fs.String("src", "", "source tree (default: Debian rust-src's Rust standard library, else $GOROOT/src)")
	out := fs.String("out", "", "output directory (required)")
	lang := fs.String("lang", "", "language of --src: rust or go (default: guessed for the default tree, rust for --src)")
	vocab := fs.Int("vocab", 2048, "size of the compact vocabulary (most frequent ids + <unk>) for small models")
	maxBytes := fs.Int64("max-bytes", 0, "cap on source bytes read (0: the whole tree)")
	valFrac := fs.Float64("val-frac", 0.05, "fraction of files in the validation split")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	if *src == "" {
		dir, l, err := corpus.DefaultSource()
		if err != nil {
			return err
		}
		*src = dir
		if *lang == "" {
			*lang = l
		}
	}
	start := time.Now()
	st, err := corpus.Build(corpus.Options{Src: *src, Out: *out, Lang: *lang, Vocab: *vocab, MaxBytes: *maxBytes, ValFrac: *valFrac})
	if err != nil {
		return err
	}
	fmt.Printf("corpus %s (%s): %d files, %d bytes -> %s in %s\n", st.Src, st.Lang, st.Files, st.Bytes, *out, time.Since(start).Round(time.Millisecond))
	fmt.Printf("tokens: train %d, validation %d (%d / %d files)\n", st.TrainTokens, st.ValTokens, st.TrainFiles, st.ValFiles)
	fmt.Printf("GPT-2 ids:   %d distinct; unigram entropy %.4f nats (train), unigram cross-entropy on validation %.4f nats\n",
		st.GPT2.DistinctTrain, st.GPT2.UnigramEntropyTrain, st.GPT2.UnigramXentVal)
	fmt.Printf("compact ids: vocab %d, coverage %.4f (train) %.4f (validation); unigram entropy %.4f nats, on validation %.4f nats\n",
		st.Compact.VocabSize, st.Compact.CoverageTrain, st.Compact.CoverageVal, st.Compact.UnigramEntropyTrain, st.Compact.UnigramXentVal)
	return nil
}
