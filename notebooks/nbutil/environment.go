package nbutil

// The environment check of notebook 00: the backend in effect and the versions linked, the
// matrix product in effect, and the corpus files against their statistics.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/blasdot"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/plots/nbdisplay"
)

// ModuleVersion returns the version of a module linked into the running program (the cell's),
// with its replacement when it is replaced.
func ModuleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build info)"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Version + " => " + d.Replace.Path
			}
			return d.Version
		}
	}
	return "(not linked)"
}

// BackendCheck creates the backend GOMLX_BACKEND selects (default go:parallelism=-1) and sums
// 1..10 on it. desc is the backend's name and description.
func BackendCheck() (desc string, sum float32, err error) {
	b, err := gomlxmodel.NewBackend()
	if err != nil {
		return "", 0, err
	}
	x := make([]float32, 10)
	for i := range x {
		x[i] = float32(i + 1)
	}
	t, err := graph.ExecOnce(b, graph.ReduceAllSum, x)
	if err != nil {
		return "", 0, err
	}
	return b.Name() + " — " + b.Description(), tensors.ToScalar[float32](t), nil
}

// ShowEnvironment runs BackendCheck and shows it in a table with the repository root, the
// backend configuration, the matrix product in effect and the versions of Go and of the
// modules the notebooks rely on. It returns the sum the backend computed (55 when it works).
func ShowEnvironment(root string) (sum float32, err error) {
	desc, sum, err := BackendCheck()
	if err != nil {
		return 0, err
	}
	env := os.Getenv("GOMLX_BACKEND")
	if env == "" {
		env = "(unset)"
	}
	nbdisplay.ShowTable([]string{"item", "value"}, [][]string{
		{"repository root", root},
		{"GOMLX_BACKEND", env},
		{"backend in effect (gomlxmodel.BackendConfig)", gomlxmodel.BackendConfig()},
		{"backend", desc},
		{"1 + 2 + … + 10 computed on it", fmt.Sprint(sum)},
		{"matrix product (float32 DotGeneral, gomlxmodel.MatMulInEffect)", gomlxmodel.MatMulInEffect()},
		{"Go", fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())},
		{"GoMLX", ModuleVersion("github.com/gomlx/gomlx")},
		{"GoNB kernel / gonbui", os.Getenv("GONB_VERSION") + " / " + ModuleVersion("github.com/janpfeifer/gonb")},
		{"gonum/plot", ModuleVersion("gonum.org/v1/plot")},
		{"tokenizer (tiktoken-go)", ModuleVersion("github.com/tiktoken-go/tokenizer")},
	})
	return sum, nil
}

// ShowProductCheck times the cpu preset's tied head, x·Eᵀ with x of 16·64 positions × 64 and E
// of 2048 × 64, on the go backend with the matrix product in effect and with the Go backend's
// own kernel (best of 5), and shows the two in a table with the speed-up and their difference.
func ShowProductCheck() (blasdot.Measurement, error) {
	b, err := gomlxmodel.NewBackend()
	if err != nil {
		return blasdot.Measurement{}, err
	}
	r, err := blasdot.MeasureProduct(b, 16*64, 64, 2048, 5)
	if err != nil {
		return r, err
	}
	nbdisplay.ShowTable([]string{"x·Eᵀ, " + fmt.Sprintf("%d×%d · (%d×%d)ᵀ", r.M, r.K, r.N, r.K), "best of 5, ms", "GFLOP/s"}, [][]string{
		{r.InEffect, fmt.Sprintf("%.3f", r.Ms), fmt.Sprintf("%.1f", r.GFLOPs)},
		{"the Go backend's own kernel (gomlx/compute v0.1.2)", fmt.Sprintf("%.3f", r.SimplegoMs), fmt.Sprintf("%.1f", r.SimplegoGFLOPs)},
	})
	fmt.Printf("speed-up %.1f×; max |difference| / max |Go backend's| = %.1e\n", r.SimplegoMs/r.Ms, r.MaxRelDiff)
	return r, nil
}

// CorpusFile is one file of the corpus with its size and the number of tokens its statistics
// imply (-1 for a file that holds no tokens).
type CorpusFile struct {
	Name       string
	Bytes      int64
	WantTokens int
}

// CorpusCheck is the corpus with its files checked against stats.json.
type CorpusCheck struct {
	Stats    corpus.Stats
	Built    bool         // built now, because it was missing
	Files    []CorpusFile // those present
	Problems []string     // empty when every check holds
}

// CheckCorpus loads (building when missing, with its progress to progress) the corpus in
// root/CorpusDir and compares each token file's size with the token counts in stats.json (4
// bytes per u32 token), the tokenizer with GPT-2's and the compact vocabulary with CorpusVocab.
func CheckCorpus(root string, progress io.Writer) CorpusCheck {
	st, built, err := EnsureCorpus(root, progress)
	if err != nil {
		return CorpusCheck{Problems: []string{err.Error()}}
	}
	c := CorpusCheck{Stats: st, Built: built}
	dir := filepath.Join(root, CorpusDir)
	for _, f := range []CorpusFile{
		{corpus.TrainFile, 0, st.TrainTokens}, {corpus.ValFile, 0, st.ValTokens},
		{corpus.TrainCompactFile, 0, st.TrainTokens}, {corpus.ValCompactFile, 0, st.ValTokens},
		{corpus.VocabFile, 0, -1}, {corpus.StatsFile, 0, -1},
	} {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			c.Problems = append(c.Problems, err.Error())
			continue
		}
		f.Bytes = fi.Size()
		if f.WantTokens >= 0 && f.Bytes != 4*int64(f.WantTokens) {
			c.Problems = append(c.Problems, fmt.Sprintf("%s is %d bytes, stats.json implies %d", f.Name, f.Bytes, 4*f.WantTokens))
		}
		c.Files = append(c.Files, f)
	}
	if st.Tokenizer != corpus.TokenizerName {
		c.Problems = append(c.Problems, fmt.Sprintf("tokenizer %q, want %q", st.Tokenizer, corpus.TokenizerName))
	}
	if st.Compact.VocabSize != CorpusVocab {
		c.Problems = append(c.Problems, fmt.Sprintf("compact vocabulary %d, want %d", st.Compact.VocabSize, CorpusVocab))
	}
	return c
}

// ShowCorpusCheck shows the corpus files with their sizes and token counts, the statistics of
// both vocabularies and a line on the source and the split.
func ShowCorpusCheck(c CorpusCheck) {
	if c.Built {
		fmt.Println("built the corpus now")
	}
	rows := [][]string{}
	for _, f := range c.Files {
		tokens := ""
		if f.WantTokens >= 0 {
			tokens = fmt.Sprint(f.Bytes / 4)
		}
		rows = append(rows, []string{filepath.Join(CorpusDir, f.Name), fmt.Sprint(f.Bytes), tokens})
	}
	nbdisplay.ShowTable([]string{"file", "bytes", "tokens"}, rows)
	st := c.Stats
	nbdisplay.ShowTable([]string{"statistic", "GPT-2 ids", "compact ids"}, [][]string{
		{"vocabulary size", fmt.Sprint(st.GPT2.VocabSize), fmt.Sprint(st.Compact.VocabSize)},
		{"distinct ids in train", fmt.Sprint(st.GPT2.DistinctTrain), fmt.Sprint(st.Compact.DistinctTrain)},
		{"coverage of validation (not <unk>)", fmt.Sprintf("%.4f", st.GPT2.CoverageVal), fmt.Sprintf("%.4f", st.Compact.CoverageVal)},
		{"unigram entropy, train (nats/token)", fmt.Sprintf("%.4f", st.GPT2.UnigramEntropyTrain), fmt.Sprintf("%.4f", st.Compact.UnigramEntropyTrain)},
		{"unigram cross-entropy on validation (nats/token)", fmt.Sprintf("%.4f", st.GPT2.UnigramXentVal), fmt.Sprintf("%.4f", st.Compact.UnigramXentVal)},
	})
	fmt.Printf("source %s (%s): %d files, %d bytes; train %d tokens in %d files, validation %d tokens in %d files\n",
		st.Src, st.Lang, st.Files, st.Bytes, st.TrainTokens, st.TrainFiles, st.ValTokens, st.ValFiles)
}
