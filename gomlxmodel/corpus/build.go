package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"nanoscope/gomlxmodel/tokenfile"
)

// Names of the files Build writes into Options.Out.
const (
	TrainFile        = "train.bin"         // GPT-2 ids, train split
	ValFile          = "val.bin"           // GPT-2 ids, validation split
	TrainCompactFile = "train.compact.bin" // compact ids, train split
	ValCompactFile   = "val.compact.bin"   // compact ids, validation split
	VocabFile        = "vocab.json"        // the compact Vocab
	StatsFile        = "stats.json"        // Stats; written last
)

// Options configure Build. Zero values take the defaults noted.
type Options struct {
	Src  string // root of the source tree
	Out  string // output directory, created if needed
	Lang string // LangRust (default) or LangGo: picks the default Ext
	// Ext are the file name endings to take; default DefaultExt(Lang).
	Ext []string
	// ValFrac is the fraction of files (not tokens) put in the validation split; default 0.05.
	ValFrac float64
	// MaxBytes caps the bytes of source read: files are taken in sorted path order while the
	// total stays within the cap (at least one file). 0 takes every file.
	MaxBytes int64
	// Vocab is the size of the compact vocabulary, <unk> included; default 4096.
	Vocab int
	// Workers tokenize files in parallel; default runtime.GOMAXPROCS(0). The output does not
	// depend on it.
	Workers int
}

// IDStats describes one id space (GPT-2's or the compact one) of a built corpus. The entropies
// are in nats per token and count the EOT separators as tokens, as a model trained on the
// files must predict them too.
type IDStats struct {
	VocabSize     int     `json:"vocab_size"`
	DistinctTrain int     `json:"distinct_train"`
	DistinctVal   int     `json:"distinct_val"`
	CoverageTrain float64 `json:"coverage_train"` // tokens that are not <unk>; 1 for GPT-2 ids
	CoverageVal   float64 `json:"coverage_val"`
	// UnigramEntropyTrain is the plain (maximum-likelihood) unigram entropy of the train split.
	UnigramEntropyTrain float64 `json:"unigram_entropy_train"`
	// UnigramXentVal is the cross-entropy on the val tokens of the train unigram distribution
	// with add-one (Laplace) smoothing over VocabSize (UnigramCrossEntropy): the loss a
	// context-free model would reach on validation, which a trained model must beat.
	UnigramXentVal float64 `json:"unigram_xent_val"`
}

// Stats describe a built corpus; Build writes them as stats.json.
type Stats struct {
	Tokenizer   string   `json:"tokenizer"`
	Separator   string   `json:"separator"`
	SeparatorID int      `json:"separator_id"`
	Src         string   `json:"src"`
	Lang        string   `json:"lang"`
	Ext         []string `json:"ext"`
	ValFrac     float64  `json:"val_frac"`
	MaxBytes    int64    `json:"max_bytes"`

	FilesInTree int   `json:"files_in_tree"` // matching files under Src
	BytesInTree int64 `json:"bytes_in_tree"`
	Files       int   `json:"files"` // files in the corpus
	Bytes       int64 `json:"bytes"`
	// Files read but left out: empty, or not valid UTF-8 (the tokenizer would not
	// reproduce their bytes).
	SkippedEmpty   int `json:"skipped_empty"`
	SkippedBadUTF8 int `json:"skipped_bad_utf8"`

	TrainFiles  int      `json:"train_files"`
	ValFiles    int      `json:"val_files"`
	TrainBytes  int64    `json:"train_bytes"`
	ValBytes    int64    `json:"val_bytes"`
	TrainTokens int      `json:"train_tokens"`
	ValTokens   int      `json:"val_tokens"`
	ValPaths    []string `json:"val_paths"` // relative to Src, sorted

	GPT2    IDStats `json:"gpt2"`
	Compact IDStats `json:"compact"`

	Elapsed time.Duration `json:"-"` // wall time of Build; kept out of stats.json so it is reproducible
}

// Build tokenizes the source tree opts.Src into a corpus in opts.Out:
//
//   - The files under Src ending in one of Ext are taken in sorted relative-path order (up to
//     MaxBytes) and each is tokenized on its own with r50k_base.
//   - Files go to validation when the FNV-1a hash of their relative path, scaled to [0, 1), is
//     below ValFrac, otherwise to train; if either split ends up empty, the file with the
//     smallest (for val) or largest (for train) hash is moved into it.
//   - Each split is its files' tokens in path order, joined by GPT-2's <|endoftext|> (50256)
//     between consecutive files: a separator that cannot occur inside source text (the
//     tokenizer never produces it from text), that marks where a file's context ends, and that
//     GPT-2 itself uses between documents. The separator is not added after the last file.
//   - train.bin and val.bin hold the GPT-2 ids; train.compact.bin, val.compact.bin and
//     vocab.json the compact ids and their Vocab; stats.json the Stats.
//
// Every file is written atomically, stats.json last, so its presence marks a complete corpus.
// The output is the same for any Workers.
func Build(opts Options) (Stats, error) {
	start := time.Now()
	var err error
	if opts.Src == "" || opts.Out == "" {
		return Stats{}, errors.New("corpus: Options.Src and Options.Out are required")
	}
	if opts.Lang == "" {
		opts.Lang = LangRust
	}
	if len(opts.Ext) == 0 {
		if opts.Ext, err = DefaultExt(opts.Lang); err != nil {
			return Stats{}, err
		}
	}
	if opts.ValFrac == 0 {
		opts.ValFrac = 0.05
	}
	if opts.ValFrac < 0 || opts.ValFrac >= 1 {
		return Stats{}, fmt.Errorf("corpus: ValFrac %g outside (0, 1)", opts.ValFrac)
	}
	if opts.Vocab == 0 {
		opts.Vocab = 4096
	}
	if opts.Vocab < 2 || opts.Vocab > GPT2VocabSize+1 {
		return Stats{}, fmt.Errorf("corpus: Vocab %d outside [2, %d]", opts.Vocab, GPT2VocabSize+1)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxBytes < 0 {
		return Stats{}, fmt.Errorf("corpus: MaxBytes %d is negative", opts.MaxBytes)
	}
	root, err := filepath.EvalSymlinks(opts.Src)
	if err != nil {
		return Stats{}, fmt.Errorf("corpus: source: %w", err)
	}

	st := Stats{
		Tokenizer: TokenizerName, Separator: EOTText, SeparatorID: EOT,
		Src: root, Lang: opts.Lang, Ext: opts.Ext, ValFrac: opts.ValFrac, MaxBytes: opts.MaxBytes,
		ValPaths: []string{},
	}

	all, err := listSources(root, opts.Ext)
	if err != nil {
		return Stats{}, fmt.Errorf("corpus: listing %s: %w", root, err)
	}
	st.FilesInTree = len(all)
	for _, f := range all {
		st.BytesInTree += f.size
	}
	files := all
	if opts.MaxBytes > 0 {
		var total int64
		n := 0
		for n < len(all) && (n == 0 || total+all[n].size <= opts.MaxBytes) {
			total += all[n].size
			n++
		}
		files = all[:n]
	}

	docs, err := tokenizeFiles(root, files, opts.Workers)
	if err != nil {
		return Stats{}, err
	}

	// Split by file.
	var kept []int // indices into files of documents in the corpus
	for i, d := range docs {
		switch {
		case d.empty:
			st.SkippedEmpty++
		case d.badUTF8:
			st.SkippedBadUTF8++
		default:
			kept = append(kept, i)
		}
	}
	if len(kept) < 2 {
		return Stats{}, fmt.Errorf("corpus: %s has %d usable %v files, need at least 2 (one per split)", root, len(kept), opts.Ext)
	}
	isVal := splitFiles(files, kept, opts.ValFrac)

	var train, val []uint32
	for _, i := range kept {
		d := docs[i]
		st.Files++
		st.Bytes += files[i].size
		if isVal[i] {
			if len(val) > 0 {
				val = append(val, EOT)
			}
			val = append(val, d.ids...)
			st.ValFiles++
			st.ValBytes += files[i].size
			st.ValPaths = append(st.ValPaths, files[i].rel)
		} else {
			if len(train) > 0 {
				train = append(train, EOT)
			}
			train = append(train, d.ids...)
			st.TrainFiles++
			st.TrainBytes += files[i].size
		}
	}
	st.TrainTokens, st.ValTokens = len(train), len(val)

	// GPT-2 ids.
	trainCounts, valCounts := countIDs(train, GPT2VocabSize), countIDs(val, GPT2VocabSize)
	st.GPT2 = idStats(trainCounts, valCounts, -1)

	// Compact ids.
	vocab, err := newVocab(rankIDs(trainCounts, opts.Vocab-1))
	if err != nil {
		return Stats{}, fmt.Errorf("corpus: compact vocabulary: %w", err)
	}
	ctrain, cval := vocab.Compact(train), vocab.Compact(val)
	st.Compact = idStats(countIDs(ctrain, vocab.Size()), countIDs(cval, vocab.Size()), vocab.Unk)
	vocab.CoverageTrain, vocab.CoverageVal = st.Compact.CoverageTrain, st.Compact.CoverageVal

	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return Stats{}, fmt.Errorf("corpus: %w", err)
	}
	for _, f := range []struct {
		name string
		ids  []uint32
	}{{TrainFile, train}, {ValFile, val}, {TrainCompactFile, ctrain}, {ValCompactFile, cval}} {
		if err := tokenfile.Write(filepath.Join(opts.Out, f.name), f.ids); err != nil {
			return Stats{}, fmt.Errorf("corpus: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(opts.Out, VocabFile), vocab, false); err != nil {
		return Stats{}, err
	}
	if err := writeJSON(filepath.Join(opts.Out, StatsFile), st, true); err != nil {
		return Stats{}, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// LoadStats reads a stats.json written by Build.
func LoadStats(path string) (Stats, error) {
	var st Stats
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

type doc struct {
	ids     []uint32
	empty   bool
	badUTF8 bool
}

// tokenizeFiles reads and tokenizes files in parallel; docs[i] belongs to files[i]. On errors
// it returns the one of the first file in path order.
func tokenizeFiles(root string, files []sourceFile, workers int) ([]doc, error) {
	enc, err := NewEncoder()
	if err != nil {
		return nil, err
	}
	docs := make([]doc, len(files))
	errs := make([]error, len(files))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(files), 1)) {
		wg.Go(func() {
			for i := range jobs {
				b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(files[i].rel)))
				switch {
				case err != nil:
					errs[i] = err
				case len(b) == 0:
					docs[i].empty = true
				case !utf8.Valid(b):
					docs[i].badUTF8 = true
				default:
					docs[i].ids = enc.Encode(string(b))
				}
			}
		})
	}
	// Largest files first, so that one big file does not start last and run alone.
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sortBySizeDesc(order, files)
	for _, i := range order {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", files[i].rel, err)
		}
	}
	return docs, nil
}

func sortBySizeDesc(order []int, files []sourceFile) {
	// Stable order for equal sizes keeps the schedule reproducible (the output does not
	// depend on it anyway).
	sort.SliceStable(order, func(a, b int) bool { return files[order[a]].size > files[order[b]].size })
}

// splitHash maps a relative path to [0, 1) by its FNV-1a hash.
func splitHash(rel string) float64 {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// splitFiles returns which of files (those listed in kept) go to validation.
func splitFiles(files []sourceFile, kept []int, valFrac float64) []bool {
	isVal := make([]bool, len(files))
	nVal := 0
	lo, hi := -1, -1 // kept files with the smallest and largest hash
	for _, i := range kept {
		u := splitHash(files[i].rel)
		if u < valFrac {
			isVal[i] = true
			nVal++
		}
		if lo < 0 || u < splitHash(files[lo].rel) {
			lo = i
		}
		if hi < 0 || u > splitHash(files[hi].rel) {
			hi = i
		}
	}
	if nVal == 0 {
		isVal[lo] = true
	}
	if nVal == len(kept) {
		isVal[hi] = false
	}
	return isVal
}

func countIDs(ids []uint32, vocabSize int) []float64 {
	c := make([]float64, vocabSize)
	for _, id := range ids {
		c[id]++
	}
	return c
}

// idStats computes IDStats from train and val counts; unk is the index of <unk>, or -1.
func idStats(train, val []float64, unk int) IDStats {
	s := IDStats{
		VocabSize:           len(train),
		UnigramEntropyTrain: UnigramEntropy(train),
		UnigramXentVal:      UnigramCrossEntropy(train, val),
		CoverageTrain:       1,
		CoverageVal:         1,
	}
	var nt, nv float64
	for i := range train {
		if train[i] > 0 {
			s.DistinctTrain++
		}
		if val[i] > 0 {
			s.DistinctVal++
		}
		nt += train[i]
		nv += val[i]
	}
	if unk >= 0 {
		if nt > 0 {
			s.CoverageTrain = 1 - train[unk]/nt
		}
		if nv > 0 {
			s.CoverageVal = 1 - val[unk]/nv
		}
	}
	return s
}

// writeJSON writes v as JSON to path atomically, indented if indent. "<" and ">" are written
// as such (the separator "<|endoftext|>" stays readable).
func writeJSON(path string, v any, indent bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("corpus: %s: %w", path, err)
	}
	if err := tokenfile.WriteAtomic(path, func(w *bufio.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}
