package load

// nanoGPT's ckpt.pt (karpathy/nanoGPT, train.py): torch.save of the dict
//
//	{'model': state_dict, 'optimizer': ..., 'model_args': {n_layer, n_head, n_embd, block_size,
//	 bias, vocab_size, dropout}, 'iter_num': int, 'best_val_loss': tensor, 'config': {...}}
//
// Its model is GPT-2 with nn.Linear weights ([out, in]), exact-erf GELU (nn.GELU()), LayerNorm
// eps 1e-5, optional biases (bias=False drops every Linear and LayerNorm bias), and a head
// tied to wte (the state dict holds both transformer.wte.weight and lm_head.weight, one
// storage). The tensor names are Hugging Face's GPT-2 names. What the reader meets besides, and
// says in Notes: keys prefixed "_orig_mod." (saved after torch.compile; train.py strips the
// prefix on resume), the causal-mask buffers transformer.h.{i}.attn.bias that nanoGPT registers
// when flash attention is not available (checked to be the lower-triangular mask and dropped),
// and a vocab_size padded past GPT-2's 50257 ids (50304 by default: its padded rows stay in the
// softmax, as in nanoGPT's own sampling).

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/ptfile"
)

// FormatNanoGPT is nanoGPT's ckpt.pt.
const FormatNanoGPT = "nanogpt"

// NanoGPTFile is the name nanoGPT's train.py gives its checkpoint.
const NanoGPTFile = "ckpt.pt"

// nanoGPTKeys are the keys of the checkpoint dict train.py writes; nanoGPTArgs those of
// model_args (GPTConfig's fields).
var (
	nanoGPTKeys = []string{"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
	nanoGPTArgs = []string{"n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"}
)

// gpt2Vocab is GPT-2's vocabulary: nanoGPT pads it to 50304.
const gpt2Vocab = 50257

func openNanoGPT(file string) (*Loaded, error) {
	f, err := ptfile.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...))
	}
	root, ok := f.Root.(*ptfile.Dict)
	if !ok {
		return nil, fail("the top-level value is %T, not nanoGPT's checkpoint dict {'model', 'model_args', ...}", f.Root)
	}
	for _, k := range root.Keys {
		if s, ok := k.(string); !ok || !slices.Contains(nanoGPTKeys, s) {
			return nil, fail("unknown key %v in the checkpoint dict (nanoGPT's train.py writes %s)", k, strings.Join(nanoGPTKeys, ", "))
		}
	}
	args, err := dictArg(root, "model_args")
	if err != nil {
		return nil, fail("%v", err)
	}
	sd, err := dictArg(root, "model")
	if err != nil {
		return nil, fail("%v", err)
	}
	for _, k := range args.Keys {
		if s, ok := k.(string); !ok || !slices.Contains(nanoGPTArgs, s) {
			return nil, fail("unknown model_args key %v (GPTConfig has %s)", k, strings.Join(nanoGPTArgs, ", "))
		}
	}
	n := map[string]int{}
	for _, k := range []string{"n_layer", "n_head", "n_embd", "block_size", "vocab_size"} {
		v, ok := args.Get(k)
		i, isInt := v.(int)
		if !ok || !isInt || i <= 0 {
			return nil, fail("model_args[%q] = %v, want a positive int", k, v)
		}
		n[k] = i
	}
	bias, ok := args.Get("bias")
	if b, isBool := bias.(bool); !ok || !isBool {
		return nil, fail("model_args['bias'] = %v, want True or False", bias)
	} else {
		bias = b
	}
	if n["n_embd"]%n["n_head"] != 0 {
		return nil, fail("model_args: n_embd %d is not a multiple of n_head %d", n["n_embd"], n["n_head"])
	}
	cfg := gomlxmodel.GPT2Config{
		VocabSize: n["vocab_size"], NPositions: n["block_size"], DModel: n["n_embd"], NLayers: n["n_layer"], NHeads: n["n_head"],
		DInner: 4 * n["n_embd"], LayerNormEps: 1e-5, Activation: "gelu", InitializerRange: 0.02,
		WeightLayout: gomlxmodel.GPT2Linear, TiedHead: true, Causal: true, NoBias: !bias.(bool),
	}
	l := &Loaded{Format: FormatNanoGPT, Dir: file, ConfigFile: file, Files: []string{file}, DTypes: map[string]string{}, Params: gomlxmodel.Params{}}
	tensors := map[string]*ptfile.Tensor{}
	stripped, masks := 0, 0
	for _, k := range sd.Keys {
		v, _ := sd.Get(k)
		name, ok := k.(string)
		t, isTensor := v.(*ptfile.Tensor)
		if !ok || !isTensor {
			return nil, fail("model[%v] is %T, want a tensor", k, v)
		}
		if s, ok := strings.CutPrefix(name, "_orig_mod."); ok {
			name, stripped = s, stripped+1
		}
		if isMaskBuffer(name) {
			if err := checkMask(t, cfg.NPositions); err != nil {
				return nil, fail("model[%q]: %v", k, err)
			}
			masks++
			continue
		}
		if _, dup := tensors[name]; dup {
			return nil, fail("model has %q twice (with and without the _orig_mod. prefix)", name)
		}
		tensors[name] = t
	}
	if stripped > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("stripped the prefix _orig_mod. from %d keys: the model was saved after torch.compile (nanoGPT's train.py strips it on resume)", stripped))
	}
	if masks > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("dropped %d causal-mask buffers transformer.h.{i}.attn.bias (registered when flash attention is unavailable; checked to be the lower-triangular mask)", masks))
	}
	if head, ok := tensors[gomlxmodel.ParamLMHead]; ok {
		wte := tensors[gomlxmodel.GPT2Wte]
		switch same, err := sameTensor(head, wte); {
		case err != nil:
			return nil, fail("%v", err)
		case same:
			delete(tensors, gomlxmodel.ParamLMHead)
			l.Notes = append(l.Notes, "lm_head.weight is wte's data: the head is tied")
		default:
			cfg.TiedHead = false
			l.Notes = append(l.Notes, "lm_head.weight differs from wte: an untied head")
		}
	}
	for name, t := range tensors {
		data, err := t.Float32()
		if err != nil {
			return nil, fail("model[%q]: %v", name, err)
		}
		l.Params[name] = checkpoint.Tensor{Shape: t.Shape, Data: data}
		l.DTypes[name] = t.DType
	}
	l.Family = gomlxmodel.GPT2{Config: cfg}
	if err := cfg.Validate(); err != nil {
		return nil, fail("model_args: %v", err)
	}
	if err := gomlxmodel.CheckFamilyParams(l.Family, l.Params); err != nil {
		return nil, fail("%v", err)
	}
	if cfg.VocabSize > gpt2Vocab && cfg.VocabSize < gpt2Vocab+128 {
		l.PaddedVocab = gpt2Vocab
		l.Notes = append(l.Notes, fmt.Sprintf("vocab_size %d: GPT-2's %d ids padded by %d rows, which stay in the softmax as in nanoGPT's sampling", cfg.VocabSize, gpt2Vocab, cfg.VocabSize-gpt2Vocab))
	}
	if it, ok := root.Get("iter_num"); ok {
		note := fmt.Sprintf("nanoGPT run: iter_num %v", it)
		if bv, ok := root.Get("best_val_loss"); ok {
			note += fmt.Sprintf(", best_val_loss %s", scalarText(bv))
		}
		l.Notes = append(l.Notes, note)
	}
	return l, nil
}

// dictArg is the dict under key.
func dictArg(d *ptfile.Dict, key string) (*ptfile.Dict, error) {
	v, ok := d.Get(key)
	if !ok {
		return nil, fmt.Errorf("no %q in the checkpoint dict", key)
	}
	out, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("%q is %T, want a dict", key, v)
	}
	return out, nil
}

// isMaskBuffer reports nanoGPT's causal-mask buffer transformer.h.{i}.attn.bias (a Linear's
// bias is attn.c_attn.bias or attn.c_proj.bias).
func isMaskBuffer(name string) bool {
	n, err := gomlxmodel.ParseName(name)
	return err == nil && n.Root == gomlxmodel.RootGPT2 && n.Sub+"."+n.Leaf == "attn.bias"
}

// checkMask checks a causal-mask buffer: (1, 1, block_size, block_size), ones on and below
// the diagonal, zeros above.
func checkMask(t *ptfile.Tensor, block int) error {
	if !slices.Equal(t.Shape, []int{1, 1, block, block}) {
		return fmt.Errorf("a causal-mask buffer of shape %v, want [1 1 %d %d]", t.Shape, block, block)
	}
	m, err := t.Float32()
	if err != nil {
		return err
	}
	for i := range block {
		for j := range block {
			if want := float32(boolInt(j <= i)); m[i*block+j] != want {
				return fmt.Errorf("the causal-mask buffer is %v at [%d, %d], want %v: not the lower-triangular mask", m[i*block+j], i, j, want)
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sameTensor reports whether a and b hold the same values (the same storage and offset, or
// equal data).
func sameTensor(a, b *ptfile.Tensor) (bool, error) {
	if b == nil || !slices.Equal(a.Shape, b.Shape) {
		return false, nil
	}
	if a.Storage() == b.Storage() && a.Offset == b.Offset && slices.Equal(a.Stride, b.Stride) {
		return true, nil
	}
	x, err := a.Float32()
	if err != nil {
		return false, err
	}
	y, err := b.Float32()
	if err != nil {
		return false, err
	}
	return slices.Equal(x, y), nil
}

// scalarText prints a pickled scalar: a number, or a one-element tensor's value.
func scalarText(v any) string {
	switch x := v.(type) {
	case *ptfile.Tensor:
		if d, err := x.Float32(); err == nil && len(d) == 1 {
			return fmt.Sprintf("%.4f", d[0])
		}
	case float64:
		return fmt.Sprintf("%.4f", x)
	case *big.Int:
		return x.String()
	}
	return fmt.Sprint(v)
}
