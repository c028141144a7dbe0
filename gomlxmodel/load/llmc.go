package load

// llm.c's model file (karpathy/llm.c, gpt2_124M.bin and what train_gpt2.cu writes): a header
// of 256 little-endian int32 — magic 20240326, version (3: float32 parameters, 5: bfloat16),
// max_seq_len, vocab_size, num_layers, num_heads, channels, padded_vocab_size — then every
// parameter, grouped by kind across the layers (not layer by layer):
//
//	wte (Vp, C) · wpe (maxT, C) · ln1w (L, C) · ln1b (L, C) · qkvw (L, 3C, C) · qkvb (L, 3C) ·
//	attprojw (L, C, C) · attprojb (L, C) · ln2w (L, C) · ln2b (L, C) · fcw (L, 4C, C) ·
//	fcb (L, 4C) · fcprojw (L, C, 4C) · fcprojb (L, C) · lnfw (C) · lnfb (C)
//
// The matrices are nn.Linear's [out, in]; the head is tied to wte; GELU is the tanh form;
// LayerNorm eps 1e-5. wte's rows past vocab_size are padding llm.c keeps at zero and never
// scores: the reader checks that they are zero and drops them (a Note says so), so the family
// has vocab_size ids. Nothing may follow the parameters.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// FormatLLMC is llm.c's model file.
const FormatLLMC = "llm.c"

// llm.c's header.
const (
	llmcMagic      = 20240326
	llmcHeaderInts = 256
	llmcFloat32    = 3
	llmcBFloat16   = 5
)

// isLLMC reports whether file starts with llm.c's magic number.
func isLLMC(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic int32
	return binary.Read(f, binary.LittleEndian, &magic) == nil && magic == llmcMagic
}

func openLLMC(file string) (*Loaded, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...))
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var h [llmcHeaderInts]int32
	if err := binary.Read(f, binary.LittleEndian, &h); err != nil {
		return nil, fail("the %d-byte header is cut short: %v", 4*llmcHeaderInts, err)
	}
	if h[0] != llmcMagic {
		return nil, fail("magic number %d, want llm.c's %d", h[0], llmcMagic)
	}
	dtype, elem := "F32", int64(4)
	switch h[1] {
	case llmcFloat32:
	case llmcBFloat16:
		dtype, elem = "BF16", 2
	default:
		return nil, fail("version %d, want %d (float32) or %d (bfloat16)", h[1], llmcFloat32, llmcBFloat16)
	}
	maxT, V, L, NH, C, Vp := int(h[2]), int(h[3]), int(h[4]), int(h[5]), int(h[6]), int(h[7])
	for i, x := range []int{maxT, V, L, NH, C, Vp} {
		if x <= 0 || x > 1<<24 {
			return nil, fail("header[%d] = %d, want a positive size", i+2, x)
		}
	}
	if Vp < V || C%NH != 0 {
		return nil, fail("padded_vocab_size %d < vocab_size %d, or channels %d not a multiple of num_heads %d", Vp, V, C, NH)
	}
	kinds := []struct {
		name  string // the GPT-2 name, "{i}" for the layer
		shape []int  // of one layer's tensor
		layer bool
	}{
		{gomlxmodel.GPT2Wte, []int{Vp, C}, false},
		{gomlxmodel.GPT2Wpe, []int{maxT, C}, false},
		{"ln_1.weight", []int{C}, true}, {"ln_1.bias", []int{C}, true},
		{"attn.c_attn.weight", []int{3 * C, C}, true}, {"attn.c_attn.bias", []int{3 * C}, true},
		{"attn.c_proj.weight", []int{C, C}, true}, {"attn.c_proj.bias", []int{C}, true},
		{"ln_2.weight", []int{C}, true}, {"ln_2.bias", []int{C}, true},
		{"mlp.c_fc.weight", []int{4 * C, C}, true}, {"mlp.c_fc.bias", []int{4 * C}, true},
		{"mlp.c_proj.weight", []int{C, 4 * C}, true}, {"mlp.c_proj.bias", []int{C}, true},
		{gomlxmodel.GPT2LnF + ".weight", []int{C}, false}, {gomlxmodel.GPT2LnF + ".bias", []int{C}, false},
	}
	var total int64
	for _, k := range kinds {
		n := int64(numel(k.shape))
		if k.layer {
			n *= int64(L)
		}
		total += n
	}
	if want := 4*llmcHeaderInts + total*elem; st.Size() != want {
		return nil, fail("%d bytes, want %d (the header and %d %s parameters of the header's sizes)", st.Size(), want, total, dtype)
	}
	l := &Loaded{Format: FormatLLMC, Dir: file, ConfigFile: file, Files: []string{file}, DTypes: map[string]string{}, Params: gomlxmodel.Params{}}
	read := func(n int) ([]float32, error) {
		out := make([]float32, n)
		if dtype == "F32" {
			return out, binary.Read(f, binary.LittleEndian, out)
		}
		raw := make([]uint16, n)
		if err := binary.Read(f, binary.LittleEndian, raw); err != nil {
			return nil, err
		}
		for i, u := range raw {
			out[i] = math.Float32frombits(uint32(u) << 16)
		}
		return out, nil
	}
	for _, k := range kinds {
		names := []string{k.name}
		if k.layer {
			names = make([]string, L)
			for i := range names {
				names[i] = gomlxmodel.GPT2Param(i, k.name)
			}
		}
		for _, name := range names {
			data, err := read(numel(k.shape))
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return nil, fail("cut short in %s", name)
			} else if err != nil {
				return nil, fail("%s: %v", name, err)
			}
			l.Params[name] = checkpoint.Tensor{Shape: k.shape, Data: data}
			l.DTypes[name] = dtype
		}
	}
	if Vp > V {
		wte := l.Params[gomlxmodel.GPT2Wte]
		for i, x := range wte.Data[V*C:] {
			if x != 0 {
				return nil, fail("wte row %d (a padded row past vocab_size %d) holds %v: llm.c keeps the padded rows at zero", V+i/C, V, x)
			}
		}
		l.Params[gomlxmodel.GPT2Wte] = checkpoint.Tensor{Shape: []int{V, C}, Data: wte.Data[:V*C]}
		l.Notes = append(l.Notes, fmt.Sprintf("wte's %d padded rows (ids %d..%d, padded_vocab_size %d) are zero and dropped: llm.c never scores them", Vp-V, V, Vp-1, Vp))
	}
	cfg := gomlxmodel.GPT2Config{
		VocabSize: V, NPositions: maxT, DModel: C, NLayers: L, NHeads: NH, DInner: 4 * C, LayerNormEps: 1e-5,
		Activation: "gelu_new", InitializerRange: 0.02, WeightLayout: gomlxmodel.GPT2Linear, TiedHead: true, Causal: true,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fail("header: %v", err)
	}
	l.Family = gomlxmodel.GPT2{Config: cfg}
	if err := gomlxmodel.CheckFamilyParams(l.Family, l.Params); err != nil {
		return nil, fail("%v", err)
	}
	return l, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
