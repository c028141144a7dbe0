package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/corpus"
)

func init() {
	register("corpus", "tokenize a source tree (GPT-2 BPE) into train/validation token files", runCorpus)
}

// languages maps a --lang name to the file endings taken from the tree.
var languages = map[string][]string{
	corpus.LangRust: {".rs"},
	corpus.LangGo:   {".go"},
	"python":        {".py"},
	"c":             {".c", ".h"},
	"cpp":           {".cc", ".cpp", ".cxx", ".hpp", ".hh"},
	"java":          {".java"},
	"javascript":    {".js", ".mjs"},
	"typescript":    {".ts"},
	"zig":           {".zig"},
	"haskell":       {".hs"},
}

func languageNames() string {
	names := make([]string, 0, len(languages))
	for n := range languages {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// detectLanguage returns the language with the most files under root (hidden directories and
// testdata skipped, as the corpus builder does), and its file count.
func detectLanguage(root string) (string, int, error) {
	byExt := map[string]string{}
	for lang, exts := range languages {
		for _, e := range exts {
			byExt[e] = lang
		}
	}
	counts := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if lang, ok := byExt[filepath.Ext(d.Name())]; ok && d.Type().IsRegular() {
			counts[lang]++
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	best, n := "", 0
	for lang, c := range counts {
		if c > n || (c == n && lang < best) {
			best, n = lang, c
		}
	}
	return best, n, nil
}

func runCorpus(args []string) error {
	fs := newFlags("corpus", "corpus [--src DIR] [--lang LANG] --out DIR [--vocab N] [--max-bytes N] [--val-frac F]")
	src := fs.String("src", "", "source `DIR` to tokenize (default: Debian rust-src's Rust standard library, else $GOROOT/src)")
	out := fs.String("out", "", "output `DIR` (required)")
	lang := fs.String("lang", "", "`LANG` of the files taken from --src: "+languageNames()+" (default: the language with the most files in the tree)")
	vocab := fs.Int("vocab", 2048, "size `N` of the compact vocabulary (most frequent ids + <unk>) for small models, in [2, 50258]")
	maxBytes := fs.Int64("max-bytes", 0, "cap `N` on source bytes read (0: the whole tree)")
	valFrac := fs.Float64("val-frac", 0.05, "fraction `F` of files in the validation split, in (0, 1)")
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("out")
	fs.intIn("vocab", *vocab, 2, corpus.GPT2VocabSize+1)
	fs.intAtLeast("max-bytes", int(*maxBytes), 0)
	fs.fraction("val-frac", *valFrac)
	if *lang != "" {
		if _, ok := languages[*lang]; !ok {
			fs.fail("--lang must be one of %s (got %q)", languageNames(), *lang)
		}
	}
	if err := fs.check(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*out, checkpoint.MetaFile)); err == nil {
		return fmt.Errorf("--out %s holds a checkpoint, whose vocab.json a corpus would replace: choose another directory", *out)
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
	} else {
		st, err := os.Stat(*src)
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			return fmt.Errorf("--src %s does not exist", *src)
		case err != nil:
			return fmt.Errorf("--src: %w", err)
		case !st.IsDir():
			return fmt.Errorf("--src %s is not a directory", *src)
		}
	}
	if *lang == "" {
		l, n, err := detectLanguage(*src)
		if err != nil {
			return fmt.Errorf("--src: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("--src %s has no source files of a known language (%s); pass --lang", *src, languageNames())
		}
		*lang = l
		fmt.Fprintf(os.Stderr, "--src %s: %d %s files, the most of any language (--lang selects another)\n", *src, n, l)
	}
	start := time.Now()
	st, err := corpus.Build(corpus.Options{Src: *src, Out: *out, Lang: *lang, Ext: languages[*lang], Vocab: *vocab, MaxBytes: *maxBytes, ValFrac: *valFrac})
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
