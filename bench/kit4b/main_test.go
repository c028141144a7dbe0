package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

// buildKit writes kit set ("b", "c", "d", "e", "f", "g" or "h") into a temporary directory (≈ 5 s) and returns it with
// its kit.json.
func buildKit(t *testing.T, set string) (string, map[string]entry) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kit")
	src := filepath.Join("..", "..", "gomlxmodel", "hf", "testdata", "hf")
	if err := run(set, src, out, filepath.Join("..", ".."), 40000, 1024, true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "kit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kit []entry
	if err := json.Unmarshal(b, &kit); err != nil {
		t.Fatal(err)
	}
	byName := map[string]entry{}
	for _, e := range kit {
		byName[e.Name] = e
	}
	return out, byName
}

// TestKitEdits: each edit of kits 4b, 4c, 4d, 4e, 4f, 4g and 4h is the fault it claims. Controls and re-saved
// copies compute the source's CE exactly, controls that rewrite tensors into the same function
// (kits 4d–4h: heads or units reordered, scales moved between tensors, q/k ×¼ under QK-norm up
// to rms_norm_eps, kv heads expanded to one per query head, the stream ×4 with rms_norm_eps ×16,
// a value bias folded into the output bias, outputs rescaled under Gemma 2's sandwich norms,
// writing weights or the unembedding centred, MLP units split, a query head grown with a zero
// output) to 1e-4 nats; an edit a convention undoes (rows permuted into another layout, norm weights
// saved as 1 + w) gives the source's CE again under that convention (within BF16's
// rounding of 1 + w), and costs loss as saved (a config edit may cost none: kit.json measures
// it); config.json differs from the source's in exactly one line for a config edit and none
// otherwise; tensors keep their dtype, and are all byte-identical to the source's unless the
// entry edits tensors.
func TestKitEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and measures 139 checkpoints")
	}
	for _, set := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		t.Run("kit4"+set, func(t *testing.T) { checkEdits(t, set) })
	}
}

func checkEdits(t *testing.T, set string) {
	dir, kit := buildKit(t, set)
	want, err := kitEntries(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range want {
		t.Run(e.Name, func(t *testing.T) {
			got := kit[e.Name]
			if got.CESource == nil || got.CETrue == nil || got.CESaved == nil {
				t.Fatalf("kit.json has no CE for %s: %+v", e.Name, got)
			}
			switch {
			case e.Kind == "" && e.edit == nil && *got.CESaved != *got.CESource:
				t.Errorf("control: CE %.6f, source %.6f", *got.CESaved, *got.CESource)
			case e.Kind == "" && math.Abs(*got.CESaved-*got.CESource) > 1e-4: // the function rewritten: rounding only
				t.Errorf("control rewritten: CE %.6f, source %.6f", *got.CESaved, *got.CESource)
			case e.undo != nil && math.Abs(*got.CETrue-*got.CESource) > 1e-3:
				t.Errorf("under %s=%s: CE %.6f, source %.6f", e.undo.name, e.undo.value, *got.CETrue, *got.CESource)
			case e.edit != nil && e.undo != nil && *got.CEExcess < 0.05: // a layout edit costs loss as saved
				t.Errorf("as saved: CE %.6f only %.4f above the trained convention's", *got.CESaved, *got.CEExcess)
			}
			src := filepath.Join("..", "..", "gomlxmodel", "hf", "testdata", "hf", e.Source)
			a, _ := os.ReadFile(filepath.Join(src, "config.json"))
			b, _ := os.ReadFile(filepath.Join(dir, e.Name, "config.json"))
			if d := lineDiff(a, b); (d == 1) != (e.key != "") || d > 1 {
				t.Errorf("config.json differs in %d lines", d)
			}
			ra, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			rb, err := os.ReadFile(filepath.Join(dir, e.Name, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			ta, err := readTensors(ra)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := readTensors(rb)
			if err != nil {
				t.Fatal(err)
			}
			changed := 0
			for name, x := range ta {
				y := tb[name]
				if y == nil || y.dtype != x.dtype {
					t.Fatalf("%s: missing or dtype changed", name)
				}
				if !bytes.Equal(x.data, y.data) {
					changed++
				}
			}
			if len(ta) != len(tb) || (changed == 0) != (e.edit == nil) {
				t.Errorf("%d of %d tensors changed (%d written)", changed, len(ta), len(tb))
			}
		})
	}
}

func lineDiff(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	if len(la) != len(lb) {
		return max(len(la), len(lb))
	}
	n := 0
	for i := range la {
		if !bytes.Equal(la[i], lb[i]) {
			n++
		}
	}
	return n
}

// TestKit4bDiagnosed: the kit 4b checkpoints nanoscope answered right in
// bench/results/blind-kit4b-20261207.md, diagnosed again with the library. The cases were chosen
// AFTER seeing the blind results (a regression guard, not a blind score): the blind claim is the
// results file. The false "healthy" answers of that file are not here.
func TestKit4bDiagnosed(t *testing.T) {
	if testing.Short() {
		t.Skip("diagnoses 21 checkpoints")
	}
	dir, _ := buildKit(t, "b")
	ids, err := tokenfile.Read(filepath.Join(dir, "eval.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, kind, convention string }{
		{"k4b_qwen2_trained_swa_healthy", "", ""}, {"k4b_qwen3_trained_tied_healthy", "", ""},
		{"k4b_mistral_trained_swa_healthy", "", ""}, {"k4b_gemma_trained_healthy", "", ""},
		{"k4b_gemma2_trained_healthy", "", ""}, {"k4b_phi3_trained_healthy", "", ""},
		{"k4b_gpt_neox_trained_healthy", "", ""}, {"k4b_phi3_resaved", "", ""}, {"k4b_gpt_neox_resaved", "", ""},
		{"k4b_gemma2_qpas8_saved256", analysis.KindConventionMismatch, "query_pre_attn_scalar"},
		{"k4b_gpt_neox_qkv_blocks", analysis.KindConventionMismatch, "qkv_split"},
		{"k4b_gemma_norm_saved_as_multiplier", analysis.KindConventionMismatch, "norm_weight"},
		{"k4b_phi3_qkv_kqv", analysis.KindConventionMismatch, "qkv_order"},
		{"k4b_mistral_layer1_mlp_fresh", analysis.KindTensorsUntrained, ""},
		{"k4b_phi3_eps_saved1", analysis.KindConventionMismatch, "norm_eps"},
		{"k4b_gpt_neox_embed_shifted", analysis.KindUnexplained, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := load.Open(filepath.Join(dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			s, err := analysis.FromLoaded(l)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := analysis.DiagnoseSubject(s, ids, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				if analysis.Informational(f.Kind) {
					continue
				}
				conv, _ := f.Evidence["convention"].(string)
				got = append(got, f.Kind+" "+conv)
			}
			switch {
			case c.kind == "" && (!rep.Healthy || len(got) > 0):
				t.Errorf("healthy control: got %v", got)
			case c.kind != "" && (len(got) != 1 || got[0] != c.kind+" "+c.convention):
				t.Errorf("want only %s %s, got %v", c.kind, c.convention, got)
			}
		})
	}
}

// bf16Tensor is a rows×cols BF16 tensor holding 0, 1, 2, … (exact in BF16 up to 256).
func bf16Tensor(rows, cols int) *tensor {
	t := &tensor{dtype: safetensors.BF16, shape: []uint64{uint64(rows), uint64(cols)}, data: make([]byte, 2*rows*cols)}
	for i := range rows * cols {
		binary.LittleEndian.PutUint16(t.data[2*i:], toBF16(float32(i)))
	}
	return t
}

func bf16Values(t *tensor) []float32 {
	out := make([]float32, len(t.data)/2)
	for i := range out {
		out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.data[2*i:])) << 16)
	}
	return out
}

// TestKit4cEditHelpers: kit 4c's edit helpers on a 4×4 tensor of 0..15, against values written
// out by hand, and each permutation followed by its inverse gives the bytes back.
func TestKit4cEditHelpers(t *testing.T) {
	inverse := func(p func(i, n int) int) func(i, n int) int {
		return func(i, n int) int {
			for j := range n {
				if p(j, n) == i {
					return j
				}
			}
			panic("not a permutation")
		}
	}
	for _, c := range []struct {
		name string
		edit func(c *ckpt) error
		undo func(c *ckpt) error
		want []float32
	}{
		{"rows halves", func(c *ckpt) error { return c.permuteRows(halves, "w") }, func(c *ckpt) error { return c.permuteRows(halves, "w") },
			[]float32{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}},
		{"rows heads 1,0 of 2", func(c *ckpt) error { return c.permuteRows(heads(2, 1, 0), "w") }, func(c *ckpt) error { return c.permuteRows(heads(2, 1, 0), "w") },
			[]float32{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}},
		{"cols heads 0,2,1,3 of 1", func(c *ckpt) error { return c.permuteCols(heads(1, 0, 2, 1, 3), "w") },
			func(c *ckpt) error { return c.permuteCols(inverse(heads(1, 0, 2, 1, 3)), "w") },
			[]float32{0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15}},
		{"cols cyclic shift", func(c *ckpt) error { return c.permuteCols(func(j, n int) int { return (j + 1) % n }, "w") },
			func(c *ckpt) error { return c.permuteCols(inverse(func(j, n int) int { return (j + 1) % n }), "w") },
			[]float32{1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12}},
		{"scale -2", func(c *ckpt) error { return c.scaleAll(-2, "w") }, func(c *ckpt) error { return c.scaleAll(-0.5, "w") },
			[]float32{0, -2, -4, -6, -8, -10, -12, -14, -16, -18, -20, -22, -24, -26, -28, -30}},
		{"fill 1", func(c *ckpt) error { return c.fillAll(1, "w") }, nil,
			[]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck := &ckpt{tensors: map[string]*tensor{"w": bf16Tensor(4, 4)}}
			orig := bytes.Clone(ck.tensors["w"].data)
			if err := c.edit(ck); err != nil {
				t.Fatal(err)
			}
			if got := bf16Values(ck.tensors["w"]); !slices.Equal(got, c.want) {
				t.Fatalf("edited: %v, want %v", got, c.want)
			}
			if c.undo == nil {
				return
			}
			if err := c.undo(ck); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ck.tensors["w"].data, orig) {
				t.Errorf("edit then inverse: %v, want the original 0..15", bf16Values(ck.tensors["w"]))
			}
		})
	}
	ck := &ckpt{tensors: map[string]*tensor{"b": {dtype: safetensors.BF16, shape: []uint64{4}, data: make([]byte, 8)}}}
	if err := ck.permuteCols(halves, "b"); err == nil {
		t.Error("permuteCols of a 1-D tensor: no error")
	}
}

// TestKit4cCopyTensor: copyTensor makes dst byte-equal to src (an independent copy) and refuses
// tensors of another shape.
func TestKit4cCopyTensor(t *testing.T) {
	ck := &ckpt{tensors: map[string]*tensor{"a": bf16Tensor(2, 3), "b": bf16Tensor(2, 3), "c": bf16Tensor(3, 2)}}
	if err := ck.scaleAll(-1, "b"); err != nil {
		t.Fatal(err)
	}
	if err := ck.copyTensor("a", "b"); err != nil {
		t.Fatal(err)
	}
	if got := bf16Values(ck.tensors["b"]); !slices.Equal(got, []float32{0, 1, 2, 3, 4, 5}) {
		t.Errorf("copied: %v, want 0..5", got)
	}
	ck.tensors["a"].data[2] = 0xff
	if ck.tensors["b"].data[2] == 0xff {
		t.Error("copy shares its bytes with the source")
	}
	if err := ck.copyTensor("a", "c"); err == nil {
		t.Error("copy of a 2×3 tensor into a 3×2 one: no error")
	}
}

// TestKit4fEditHelpers: kit 4f's edit helpers against values written out by hand: quantize on
// 0..15 (absmax 15, 3 bits: step 5), foldCols by 1 + (0, 1, 2, 3), gatherBlocks repeating and
// tiling blocks of 2 rows (and of a 1-D bias), quarterTurn on one head of 4 rows (four turns give
// the bytes back) and on the second head only of a [lo, hi) range.
func TestKit4fEditHelpers(t *testing.T) {
	vec := &tensor{dtype: safetensors.BF16, shape: []uint64{4}, data: make([]byte, 8)}
	for j := range 4 {
		binary.LittleEndian.PutUint16(vec.data[2*j:], toBF16(float32(j)))
	}
	for _, c := range []struct {
		name  string
		edit  func(c *ckpt) error
		shape []uint64
		want  []float32
	}{
		{"quantize 3 bits", func(c *ckpt) error { return c.quantize(3, "w") }, []uint64{4, 4},
			[]float32{0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10, 10, 10, 15, 15, 15}},
		{"foldCols 1 + g", func(c *ckpt) error { return c.foldCols("g", 1, "w") }, []uint64{4, 4},
			[]float32{0, 2, 6, 12, 4, 10, 18, 28, 8, 18, 30, 44, 12, 26, 42, 60}},
		{"gatherBlocks 0,0,1,1", func(c *ckpt) error { return c.gatherBlocks(2, []int{0, 0, 1, 1}, "w") }, []uint64{8, 4},
			[]float32{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15}},
		{"gatherBlocks 1,0", func(c *ckpt) error { return c.gatherBlocks(2, []int{1, 0}, "w") }, []uint64{4, 4},
			[]float32{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}},
		{"gatherBlocks 1-D 0,1,0,1", func(c *ckpt) error { return c.gatherBlocks(2, []int{0, 1, 0, 1}, "g") }, []uint64{8},
			[]float32{0, 1, 2, 3, 0, 1, 2, 3}},
		{"quarterTurn head of 4", func(c *ckpt) error { return c.quarterTurn(4, 0, 4, "w") }, []uint64{4, 4},
			[]float32{-8, -9, -10, -11, -12, -13, -14, -15, 0, 1, 2, 3, 4, 5, 6, 7}},
		{"quarterTurn rows 2-3 as a head of 2", func(c *ckpt) error { return c.quarterTurn(2, 2, 4, "w") }, []uint64{4, 4},
			[]float32{0, 1, 2, 3, 4, 5, 6, 7, -12, -13, -14, -15, 8, 9, 10, 11}},
		{"quarterTurn four times", func(c *ckpt) error {
			for range 4 {
				if err := c.quarterTurn(4, 0, 4, "w"); err != nil {
					return err
				}
			}
			return nil
		}, []uint64{4, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &tensor{dtype: vec.dtype, shape: slices.Clone(vec.shape), data: bytes.Clone(vec.data)}
			ck := &ckpt{tensors: map[string]*tensor{"w": bf16Tensor(4, 4), "g": g}}
			if err := c.edit(ck); err != nil {
				t.Fatal(err)
			}
			name := "w"
			if len(c.shape) == 1 {
				name = "g"
			}
			got := ck.tensors[name]
			if !slices.Equal(got.shape, c.shape) || !slices.Equal(bf16Values(got), c.want) {
				t.Fatalf("edited: %v %v, want %v %v", got.shape, bf16Values(got), c.shape, c.want)
			}
		})
	}
	ck := &ckpt{tensors: map[string]*tensor{"w": bf16Tensor(4, 4), "g": bf16Tensor(1, 3)}}
	if err := ck.foldCols("g", 1, "w"); err == nil {
		t.Error("foldCols with a 2-D vector: no error")
	}
	if err := ck.gatherBlocks(2, []int{2}, "w"); err == nil {
		t.Error("gatherBlocks past the rows: no error")
	}
	if err := ck.quarterTurn(4, 0, 3, "w"); err == nil {
		t.Error("quarterTurn of 3 rows as heads of 4: no error")
	}
}

// TestKit4gEditHelpers: kit 4g's edit helpers against values written out by hand.
func TestKit4gEditHelpers(t *testing.T) {
	set := func(ck *ckpt, name string, rows, cols int, v ...float32) {
		ck.tensors[name] = bf16Tensor(rows, cols)
		if err := ck.setFloats(name, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		edit  func(c *ckpt) error
		shape []uint64
		want  []float32
	}{
		{"prune24", func(c *ckpt) error { return c.prune24("w") }, []uint64{2, 4},
			[]float32{0, -5, 0, 3, 0, 0, 4, -8}},
		{"int8ScaleAxis", func(c *ckpt) error { return c.int8ScaleAxis("s") }, []uint64{2, 2},
			[]float32{127, 1, 127, 1}},
		{"gptqZeroOffByOne", func(c *ckpt) error { return c.gptqZeroOffByOne(4, "w") }, []uint64{2, 4},
			[]float32{-4, 1, 6, 11, 0, 0, 0, 0}},
		{"renormRows", func(c *ckpt) error { return c.renormRows(1, "r") }, []uint64{2, 2},
			[]float32{bf(0.6), bf(0.8), bf(0.3), bf(0.4)}},
		{"copyRows", func(c *ckpt) error { return c.copyRows("s", "u", 1, 2) }, []uint64{2, 2},
			[]float32{9, 9, 1, 1}},
		{"catWrongDim", func(c *ckpt) error { return c.catWrongDim(2, "i") }, []uint64{4, 4},
			[]float32{0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15}},
		{"averagePermuted rows", func(c *ckpt) error { return c.averagePermuted(func(i, n int) int { return n - 1 - i }, false, "s") }, []uint64{2, 2},
			[]float32{64, 64, 64, 64}},
		{"averagePermuted cols", func(c *ckpt) error { return c.averagePermuted(func(j, n int) int { return n - 1 - j }, true, "i") }, []uint64{4, 4},
			[]float32{1.5, 1.5, 1.5, 1.5, 5.5, 5.5, 5.5, 5.5, 9.5, 9.5, 9.5, 9.5, 13.5, 13.5, 13.5, 13.5}},
		{"pruneUnits", func(c *ckpt) error { return c.pruneUnits(1, "s", "u", "i2") }, []uint64{2, 2},
			[]float32{9, 9, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck := &ckpt{tensors: map[string]*tensor{}}
			set(ck, "w", 2, 4, 1, -5, 2, 3, 0.5, -0.25, 4, -8)
			if c.name == "gptqZeroOffByOne" {
				set(ck, "w", 2, 4, -5, 0, 5, 10, 0, 0, 0, 0) // the zero group keeps its zeros: s = 0
			}
			set(ck, "s", 2, 2, 127, 127, 1, 1)
			set(ck, "u", 2, 2, 9, 9, 3, 3)
			set(ck, "r", 2, 2, 3, 4, 0.3, 0.4)
			set(ck, "i2", 2, 2, 1, 1, 1, 1)
			ck.tensors["i"] = bf16Tensor(4, 4)
			if err := c.edit(ck); err != nil {
				t.Fatal(err)
			}
			name := map[string]string{"int8ScaleAxis": "s", "renormRows": "r", "copyRows": "u", "catWrongDim": "i",
				"averagePermuted rows": "s", "averagePermuted cols": "i", "pruneUnits": "u"}[c.name]
			if name == "" {
				name = "w"
			}
			got := ck.tensors[name]
			if !slices.Equal(got.shape, c.shape) || !slices.Equal(bf16Values(got), c.want) {
				t.Fatalf("edited %s: %v %v, want %v %v", name, got.shape, bf16Values(got), c.shape, c.want)
			}
		})
	}
	// megatronGroupedSplit: q of 4 rows, k and v of 2, in 2 groups.
	ck := &ckpt{tensors: map[string]*tensor{}}
	set(ck, "q", 4, 1, 0, 1, 2, 3)
	set(ck, "k", 2, 1, 10, 11)
	set(ck, "v", 2, 1, 20, 21)
	if err := ck.megatronGroupedSplit(2, "q", "k", "v"); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string][]float32{"q": {0, 1, 10, 20}, "k": {2, 3}, "v": {11, 21}} {
		if got := bf16Values(ck.tensors[n]); !slices.Equal(got, want) {
			t.Errorf("megatronGroupedSplit %s: %v, want %v", n, got, want)
		}
	}
	// setFloats with a new shape, and refusing a count that does not fit it.
	if err := ck.setFloats("q", []float32{1, 2}, 2, 1); err != nil || !slices.Equal(ck.tensors["q"].shape, []uint64{2, 1}) {
		t.Errorf("setFloats reshaped: %v %v", err, ck.tensors["q"].shape)
	}
	if err := ck.setFloats("q", []float32{1, 2, 3}); err == nil {
		t.Error("setFloats of 3 values into 2: no error")
	}
}

// bf is x rounded to BF16.
func bf(x float32) float32 { return math.Float32frombits(uint32(toBF16(x)) << 16) }

// TestKit4hEditHelpers: kit 4h's edit helpers against values written out by hand.
func TestKit4hEditHelpers(t *testing.T) {
	set := func(ck *ckpt, name string, shape []uint64, v ...float32) {
		ck.tensors[name] = &tensor{dtype: safetensors.BF16, shape: shape, data: make([]byte, 2*len(v))}
		if err := ck.setFloats(name, v); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(i)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		edit  func(c *ckpt) error
		want  []float32
		shape []uint64
	}{
		{"center rows", func(c *ckpt) error { return c.center(false, "w") },
			[]float32{0.75, -5.25, 1.75, 2.75, 1.4375, 0.6875, 4.9375, -7.0625}, []uint64{2, 4}},
		{"center 1-D", func(c *ckpt) error { return c.center(false, "b") }, []float32{-1.5, -0.5, 0.5, 1.5}, []uint64{4}},
		{"center cols", func(c *ckpt) error { return c.center(true, "s") }, []float32{-1, -1, 1, 1}, []uint64{2, 2}},
		{"f16BitsAsBF16", func(c *ckpt) error { return c.f16BitsAsBF16("b") }, // binary16 0x0000, 0x3c00, 0x4000, 0x4200 read as BF16
			[]float32{0, 0x1p-7, 2, 32}, []uint64{4}},
		{"flaxReshaped", func(c *ckpt) error { return c.flaxReshaped("r") }, []float32{0, 3, 1, 4, 2, 5}, []uint64{2, 3}},
		{"headDimMajor", func(c *ckpt) error { return c.permuteRows(headDimMajor(2, 3), "c") }, []float32{0, 3, 1, 4, 2, 5}, []uint64{6, 1}},
		{"tiled", func(c *ckpt) error { return c.tiled(2, "i") },
			[]float32{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}, []uint64{4, 4}},
		{"awqOrder", func(c *ckpt) error { return c.permuteRows(awqOrder, "p") },
			[]float32{0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15}, []uint64{16, 1}},
		{"flatShift", func(c *ckpt) error { return c.flatShift(2, "s", "c") }, []float32{0, 0, 0, 1}, []uint64{2, 2}},
		{"lowRank of a rank-1 matrix", func(c *ckpt) error { return c.lowRank(1, "k") }, []float32{1, 1, 2, 2, 2, 4}, []uint64{2, 3}},
		{"lowRank of diag(1, 3)", func(c *ckpt) error { return c.lowRank(1, "d") }, []float32{0, 0, 0, 3}, []uint64{2, 2}},
		{"actOrderCols", func(c *ckpt) error { return c.actOrderCols("a") }, []float32{3, 1, 0, 4, 1, 0}, []uint64{2, 3}},
		{"emaFromInit weight", func(c *ckpt) error { return c.emaFromInit(0.5, 0, 1) }, []float32{0, 0.5, 1, 1.5}, []uint64{2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck := &ckpt{tensors: map[string]*tensor{}}
			set(ck, "w", []uint64{2, 4}, 1, -5, 2, 3, 0.5, -0.25, 4, -8)
			set(ck, "b", []uint64{4}, 0, 1, 2, 3)
			set(ck, "s", []uint64{2, 2}, 0, 1, 2, 3)
			set(ck, "r", []uint64{2, 3}, seq(6)...)
			set(ck, "c", []uint64{6, 1}, seq(6)...)
			set(ck, "i", []uint64{4, 4}, seq(16)...)
			set(ck, "p", []uint64{16, 1}, seq(16)...)
			set(ck, "k", []uint64{2, 3}, 1, 1, 2, 2, 2, 4)
			set(ck, "d", []uint64{2, 2}, 1, 0, 0, 3)
			set(ck, "a", []uint64{2, 3}, 1, 0, 3, 1, 0, 4)
			if c.name == "emaFromInit weight" { // only a weight, a bias and a norm weight
				ck.tensors = map[string]*tensor{}
				set(ck, "s", []uint64{2, 2}, 0, 1, 2, 3)
				set(ck, "x.bias", []uint64{4}, 0, 1, 2, 3)
				set(ck, "ln.weight", []uint64{4}, 0, 1, 2, 3)
			}
			if err := c.edit(ck); err != nil {
				t.Fatal(err)
			}
			name := map[string]string{"center 1-D": "b", "center cols": "s", "f16BitsAsBF16": "b", "flaxReshaped": "r", "headDimMajor": "c",
				"tiled": "i", "awqOrder": "p", "flatShift": "s", "lowRank of a rank-1 matrix": "k", "lowRank of diag(1, 3)": "d",
				"actOrderCols": "a", "emaFromInit weight": "s"}[c.name]
			if name == "" {
				name = "w"
			}
			got := ck.tensors[name]
			if !slices.Equal(got.shape, c.shape) || !slices.Equal(bf16Values(got), c.want) {
				t.Fatalf("edited %s: %v %v, want %v %v", name, got.shape, bf16Values(got), c.shape, c.want)
			}
			switch c.name {
			case "flatShift": // the second tensor takes the first one's last 2 and loses its own last 2
				if v := bf16Values(ck.tensors["c"]); !slices.Equal(v, []float32{2, 3, 0, 1, 2, 3}) {
					t.Errorf("flatShift second tensor: %v", v)
				}
			case "emaFromInit weight":
				if v := bf16Values(ck.tensors["x.bias"]); !slices.Equal(v, []float32{0, 0.5, 1, 1.5}) {
					t.Errorf("emaFromInit bias: %v", v)
				}
				if v := bf16Values(ck.tensors["ln.weight"]); !slices.Equal(v, []float32{0.5, 1, 1.5, 2}) {
					t.Errorf("emaFromInit norm weight: %v", v)
				}
			}
		})
	}
	// toF16 against binary16 bit patterns (round to nearest even, subnormals, overflow).
	for _, c := range []struct {
		x    float32
		want uint16
	}{{1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7c00}, {0x1p-14, 0x0400}, {0x1p-24, 0x0001},
		{0x1p-25, 0}, {0x3p-25, 0x0002}, {1 + 0x1p-11, 0x3c00}, {1 + 0x3p-11, 0x3c02}, {-0x1p-30, 0x8000}} {
		if got := toF16(c.x); got != c.want {
			t.Errorf("toF16(%g) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
	// errors: columns of a 1-D tensor, tiles that do not fit, a rank above the columns.
	ck := &ckpt{tensors: map[string]*tensor{}}
	set(ck, "b", []uint64{4}, 0, 1, 2, 3)
	set(ck, "r", []uint64{2, 3}, seq(6)...)
	if ck.center(true, "b") == nil || ck.tiled(2, "r") == nil || ck.lowRank(4, "r") == nil {
		t.Error("center by columns of a 1-D tensor, tiles of 2 in 2×3 or rank 4 of 3 columns: no error")
	}
	// loraMerged adds a rank-r product: rank 1 into zeros gives rows proportional to one another.
	set(ck, "z", []uint64{2, 4}, make([]float32, 8)...)
	if err := ck.loraMerged(1, 1, 3, "z"); err != nil {
		t.Fatal(err)
	}
	z := bf16Values(ck.tensors["z"])
	for j := 1; j < 4; j++ {
		if a, b := float64(z[j]*z[4]), float64(z[4+j]*z[0]); z[0] == 0 || math.Abs(a-b) > 0.02*math.Abs(a)+1e-6 {
			t.Errorf("loraMerged rank 1: %v not of rank 1", z)
		}
	}
}
