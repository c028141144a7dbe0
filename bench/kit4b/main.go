// Command kit4b builds "kit 4b", a blind kit made from checkpoints that transformers 5.17 itself
// trained and wrote (gomlxmodel/hf/testdata/hf/*_trained*, bench/hf24_fixtures.py): each is copied
// and given one edit of its FILES, the kind a faulty converter or a mismatched config makes — a
// config.json key saying another convention than training used, or saved tensors permuted,
// exchanged, transposed or replaced — the methodology of bench/blind_kit.py's kits 1–3, without
// PyTorch. The kit's kit.json is bench/score_kit.py's format:
//
//	go run ./bench/kit4b --out /tmp/kit4b            # kit 4b
//	go run ./bench/kit4b --set c --out /tmp/kit4c    # kit 4c (kit4c.go)
//	go run ./bench/kit4b --set d --out /tmp/kit4d    # kit 4d (kit4d.go)
//	go run ./bench/kit4b --set e --out /tmp/kit4e    # kit 4e (kit4e.go)
//	go run ./bench/kit4b --set f --out /tmp/kit4f    # kit 4f (kit4f.go)
//	go run ./bench/kit4b --set g --out /tmp/kit4g    # kit 4g (kit4g.go)
//	go run ./bench/kit4b --set h --out /tmp/kit4h    # kit 4h (kit4h.go)
//	python3 bench/score_kit.py --kit /tmp/kit4b --bin bin/nanoscope --positions 1024
//
// Tensors are read and written with github.com/nlpodyssey/safetensors as raw bytes, so every
// tensor keeps its dtype (BF16) and every tensor an edit does not touch is byte-identical; the
// project's checkpoint.WriteSafetensors writes F32 only. Config edits replace one value in the
// JSON text and check that the decoded config differs from the original in that key only.
//
// Per checkpoint kit.json records ce_source (nanoscope's shifted CE of the unedited checkpoint),
// ce_true (the edited files under the convention training used: for an edit a convention of
// nanoscope's space undoes exactly, the edited checkpoint re-run with that convention flipped;
// otherwise ce_source), ce_saved (the edited files as their config.json says) and ce_excess =
// ce_saved − ce_true, all on the same windows of eval.bin (folded Go-source ids). nanoscope's
// forward is transformers' to ~5e-7 relative on every one of these families (the hf parity
// fixtures), so these are the numbers transformers would give, measured here without it.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"

	"github.com/nlpodyssey/safetensors"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
)

// tensor is one saved tensor as raw little-endian bytes of its dtype.
type tensor struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

func (t *tensor) rows() int { return int(t.shape[0]) }
func (t *tensor) rowBytes() int {
	return len(t.data) / t.rows()
}

// ckpt is a checkpoint directory being edited: config.json's text and the tensors, and the
// directory it was copied from.
type ckpt struct {
	config  []byte
	tensors map[string]*tensor
	src     string
}

// flip is a convention of nanoscope's space and the value that undoes an edit exactly.
type flip struct{ name, value string }

// entry is one kit checkpoint: its source, its edit and its truth (score_kit.py's fields).
type entry struct {
	Name       string   `json:"name"`
	Source     string   `json:"source"`
	Kind       string   `json:"kind"`
	Convention string   `json:"convention,omitempty"`
	Also       []string `json:"also,omitempty"`
	Note       string   `json:"note"`
	CESource   *float64 `json:"ce_source"`
	CETrue     *float64 `json:"ce_true"`
	CESaved    *float64 `json:"ce_saved"`
	CEExcess   *float64 `json:"ce_excess"`
	CESE       *float64 `json:"ce_saved_se"`
	undo       *flip
	edit       func(c *ckpt) error // a tensor edit
	key, value string              // a config edit: config.json's key set to the JSON literal value
	resave     bool                // re-serialize model.safetensors even without an edit
}

func main() {
	src := flag.String("src", filepath.Join("gomlxmodel", "hf", "testdata", "hf"), "directory of the transformers-written checkpoints")
	out := flag.String("out", "", "kit directory to write (must not exist)")
	repo := flag.String("repo", ".", "repository whose Go sources make eval.bin")
	n := flag.Int("ids", 40000, "ids in eval.bin")
	positions := flag.Int("positions", 1024, "positions of the CE measurements")
	measure := flag.Bool("measure", true, "measure ce_source/ce_true/ce_saved with nanoscope")
	set := flag.String("set", "b", `which kit to write: "b" (kit 4b), "c" (kit 4c), "d" (kit 4d), "e" (kit 4e), "f" (kit 4f), "g" (kit 4g) or "h" (kit 4h)`)
	flag.Parse()
	if err := run(*set, *src, *out, *repo, *n, *positions, *measure); err != nil {
		fmt.Fprintln(os.Stderr, "kit4b:", err)
		os.Exit(1)
	}
}

// kitEntries is the entries of kit set "b" (kit 4b), "c" (kit 4c), "d" (kit 4d), "e" (kit 4e), "f"
// (kit 4f), "g" (kit 4g) or "h" (kit 4h).
func kitEntries(set string) ([]entry, error) {
	switch set {
	case "b":
		return entries(), nil
	case "c":
		return entries4c(), nil
	case "d":
		return entries4d(), nil
	case "e":
		return entries4e(), nil
	case "f":
		return entries4f(), nil
	case "g":
		return entries4g(), nil
	case "h":
		return entries4h(), nil
	}
	return nil, fmt.Errorf("--set %q: want b, c, d, e, f, g or h", set)
}

func run(set, src, out, repo string, n, positions int, measure bool) error {
	if out == "" {
		return fmt.Errorf("--out is required")
	}
	kit, err := kitEntries(set)
	if err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("--out %s exists", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ids, err := corpus.FoldedGoSource(repo, n)
	if err != nil {
		return err
	}
	if err := tokenfile.Write(filepath.Join(out, "eval.bin"), ids); err != nil {
		return err
	}
	ceSource := map[string]float64{}
	for i := range kit {
		e := &kit[i]
		dir := filepath.Join(out, e.Name)
		if err := build(filepath.Join(src, e.Source), dir, e); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if !measure {
			continue
		}
		if _, ok := ceSource[e.Source]; !ok {
			ce, _, err := shiftedCE(filepath.Join(src, e.Source), ids, positions, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Source, err)
			}
			ceSource[e.Source] = ce
		}
		saved, se, err := shiftedCE(dir, ids, positions, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		tru := ceSource[e.Source]
		if e.undo != nil {
			if tru, _, err = shiftedCE(dir, ids, positions, e.undo); err != nil {
				return fmt.Errorf("%s under %s=%s: %w", e.Name, e.undo.name, e.undo.value, err)
			}
		}
		cs, ex := ceSource[e.Source], saved-tru
		e.CESource, e.CETrue, e.CESaved, e.CEExcess, e.CESE = &cs, &tru, &saved, &ex, &se
		fmt.Fprintf(os.Stderr, "%-40s source %.4f true %.4f saved %.4f ± %.4f excess %+.4f\n", e.Name, cs, tru, saved, se, ex)
	}
	b, err := json.MarshalIndent(kit, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "kit.json"), append(b, '\n'), 0o644)
}

// shiftedCE is nanoscope's mean next-token CE (nats) and its standard error on the windows of
// ids the diagnosis samples (SampleWindows at the model's max_position_embeddings), with one
// convention flipped when f is not nil.
func shiftedCE(dir string, ids []uint32, positions int, f *flip) (float64, float64, error) {
	l, err := load.Open(dir)
	if err != nil {
		return 0, 0, err
	}
	s, err := analysis.FromLoaded(l)
	if err != nil {
		return 0, 0, err
	}
	if f != nil {
		if s, err = s.WithConvention(f.name, f.value); err != nil {
			return 0, 0, err
		}
	}
	w, err := analysis.SampleWindows(ids, s.SeqLen, positions)
	if err != nil {
		return 0, 0, err
	}
	ls, err := analysis.ShiftedLoss(s, w)
	if err != nil {
		return 0, 0, err
	}
	return ls.Shifted.CE, ls.Shifted.CESE, nil
}

// build copies src to dst (config.json, generation_config.json, model.safetensors; nothing
// else) and applies e's edit.
func build(src, dst string, e *entry) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	if gen, err := os.ReadFile(filepath.Join(src, "generation_config.json")); err == nil {
		if err := os.WriteFile(filepath.Join(dst, "generation_config.json"), gen, 0o644); err != nil {
			return err
		}
	}
	raw, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		return err
	}
	c := &ckpt{config: cfg, src: src}
	if e.edit != nil || e.resave {
		if c.tensors, err = readTensors(raw); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	if e.edit != nil {
		if err := e.edit(c); err != nil {
			return err
		}
	}
	if e.key != "" {
		if err := c.setConfig(e.key, e.value); err != nil {
			return err
		}
	}
	if c.tensors != nil {
		if raw, err = writeTensors(c.tensors); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "config.json"), c.config, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "model.safetensors"), raw, 0o644)
}

func readTensors(raw []byte) (map[string]*tensor, error) {
	st, err := safetensors.Deserialize(raw)
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor{}
	for _, nt := range st.Tensors() {
		v := nt.TensorView
		out[nt.Name] = &tensor{dtype: v.DType(), shape: slices.Clone(v.Shape()), data: bytes.Clone(v.Data())}
	}
	return out, nil
}

func writeTensors(ts map[string]*tensor) ([]byte, error) {
	views := map[string]safetensors.TensorView{}
	for name, t := range ts {
		v, err := safetensors.NewTensorView(t.dtype, t.shape, t.data)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		views[name] = v
	}
	return safetensors.Serialize(views, map[string]string{"format": "pt"})
}

func (c *ckpt) get(name string) (*tensor, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	return t, nil
}

// permuteRows sets row i of each named tensor to its old row perm(i, rows).
func (c *ckpt) permuteRows(perm func(i, rows int) int, names ...string) error {
	for _, name := range names {
		t, err := c.get(name)
		if err != nil {
			return err
		}
		rb, old := t.rowBytes(), bytes.Clone(t.data)
		for i := range t.rows() {
			j := perm(i, t.rows())
			copy(t.data[i*rb:(i+1)*rb], old[j*rb:(j+1)*rb])
		}
	}
	return nil
}

// exchange swaps the contents of tensors a and b (same dtype and shape).
func (c *ckpt) exchange(a, b string) error {
	ta, tb, err := c.twins(a, b, "exchange %s %v %v and %s %v %v")
	if err != nil {
		return err
	}
	ta.data, tb.data = tb.data, ta.data
	return nil
}

// twins returns tensors a and b, which must share dtype and shape: else an error from format,
// given each one's name, dtype and shape.
func (c *ckpt) twins(a, b, format string) (*tensor, *tensor, error) {
	ta, err := c.get(a)
	if err != nil {
		return nil, nil, err
	}
	tb, err := c.get(b)
	if err != nil {
		return nil, nil, err
	}
	if ta.dtype != tb.dtype || !slices.Equal(ta.shape, tb.shape) {
		return nil, nil, fmt.Errorf("cannot "+format, a, ta.dtype, ta.shape, b, tb.dtype, tb.shape)
	}
	return ta, tb, nil
}

// permuteCols sets column j of each named 2-D tensor to its old column perm(j, cols).
func (c *ckpt) permuteCols(perm func(j, cols int) int, names ...string) error {
	for _, name := range names {
		t, err := c.get(name)
		if err != nil {
			return err
		}
		if len(t.shape) != 2 {
			return fmt.Errorf("tensor %s: shape %v is not 2-D", name, t.shape)
		}
		cols, es, old := int(t.shape[1]), int(t.dtype.Size()), bytes.Clone(t.data)
		for i := range t.rows() {
			for j := range cols {
				k := perm(j, cols)
				copy(t.data[(i*cols+j)*es:(i*cols+j+1)*es], old[(i*cols+k)*es:(i*cols+k+1)*es])
			}
		}
	}
	return nil
}

// transpose transposes a square 2-D tensor.
func (c *ckpt) transpose(name string) error {
	t, err := c.get(name)
	if err != nil {
		return err
	}
	if len(t.shape) != 2 || t.shape[0] != t.shape[1] {
		return fmt.Errorf("tensor %s: shape %v is not square", name, t.shape)
	}
	n, es, old := int(t.shape[0]), int(t.dtype.Size()), bytes.Clone(t.data)
	for i := range n {
		for j := range n {
			copy(t.data[(i*n+j)*es:(i*n+j+1)*es], old[(j*n+i)*es:(j*n+i+1)*es])
		}
	}
	return nil
}

// mapBF16 applies f to every element of a BF16 tensor (rounded back to nearest even).
func (c *ckpt) mapBF16(name string, f func(i int, x float32) float32) error {
	t, err := c.get(name)
	if err != nil {
		return err
	}
	if t.dtype != safetensors.BF16 {
		return fmt.Errorf("tensor %s: dtype %v, want BF16", name, t.dtype)
	}
	for i := range len(t.data) / 2 {
		x := math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.data[2*i:])) << 16)
		binary.LittleEndian.PutUint16(t.data[2*i:], toBF16(f(i, x)))
	}
	return nil
}

func toBF16(x float32) uint16 {
	b := math.Float32bits(x)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// fresh replaces the named tensors by a draw of N(0, std²) (transformers' initialiser for
// linear weights, initializer_range), seeded.
func (c *ckpt) fresh(std float64, seed uint64, names ...string) error {
	r := rand.New(rand.NewPCG(seed, 0))
	for _, name := range names {
		if err := c.mapBF16(name, func(int, float32) float32 { return float32(r.NormFloat64() * std) }); err != nil {
			return err
		}
	}
	return nil
}

// setConfig replaces the JSON value of key (its first occurrence, top level or nested) by lit,
// and checks that the decoded config now differs from the old one at that key only.
func (c *ckpt) setConfig(key, lit string) error {
	re := regexp.MustCompile(`("` + regexp.QuoteMeta(key) + `":\s*)([^,\n{}\[\]]+)`)
	loc := re.FindSubmatchIndex(c.config)
	if loc == nil {
		return fmt.Errorf("config.json: no scalar key %q", key)
	}
	next := slices.Concat(c.config[:loc[4]], []byte(lit), c.config[loc[5]:])
	var a, b map[string]any
	if err := json.Unmarshal(c.config, &a); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	if err := json.Unmarshal(next, &b); err != nil {
		return fmt.Errorf("config.json with %s = %s: %w", key, lit, err)
	}
	var want any
	if err := json.Unmarshal([]byte(lit), &want); err != nil {
		return fmt.Errorf("%s = %s: %w", key, lit, err)
	}
	if !setKey(a, key, want) || !reflect.DeepEqual(a, b) {
		return fmt.Errorf("config.json: replacing %s by %s changed more than that key", key, lit)
	}
	c.config = next
	return nil
}

func setKey(m map[string]any, key string, v any) bool {
	if _, ok := m[key]; ok {
		m[key] = v
		return true
	}
	for _, x := range m {
		if sub, ok := x.(map[string]any); ok && setKey(sub, key, v) {
			return true
		}
	}
	return false
}

// interleaved is the row permutation from transformers' rotate_half layout of q/k rows to the
// interleaved one (pairs 2j, 2j+1), per head of headDim rows: bench/blind_kit.py's
// interleave_rows, i.e. new row (h, j, p) = old row (h, p, j).
func interleaved(headDim int) func(i, rows int) int {
	return func(i, _ int) int {
		h, r := i/headDim, i%headDim
		return h*headDim + (r%2)*(headDim/2) + r/2
	}
}

// qkvBlocks is GPT-NeoX's fused query_key_value rows (per head q|k|v) rewritten as q|k|v
// blocks of all heads: new row (s, h, d) = old row (h, s, d).
func qkvBlocks(heads, headDim int) func(i, rows int) int {
	return func(i, _ int) int {
		s, h, d := i/(heads*headDim), (i/headDim)%heads, i%headDim
		return (h*3+s)*headDim + d
	}
}

// heads reorders blocks of size rows (a head's rows of q_proj, or its columns of o_proj): new
// block b is old block order[b]; order must be a permutation of 0..len(order)-1 and the
// dimension len(order)·size.
func heads(size int, order ...int) func(i, n int) int {
	return func(i, _ int) int { return order[i/size]*size + i%size }
}

// halves exchanges the first and second half of a dimension (a fused gate|up saved up|gate).
func halves(i, n int) int { return (i + n/2) % n }

func layers(n int, f string) []string {
	var out []string
	for l := range n {
		out = append(out, fmt.Sprintf(f, l))
	}
	return out
}

// entries is the kit: fixed before any diagnosis was run.
func entries() []entry {
	const (
		qwen2, qwen3, mistral = "qwen2_trained_swa", "qwen3_trained_tied", "mistral_trained_swa"
		gemma, gemma2, phi3   = "gemma_trained", "gemma2_trained", "phi3_trained"
		neox                  = "gpt_neox_trained"
	)
	var kit []entry
	for _, s := range []string{qwen2, qwen3, mistral, gemma, gemma2, phi3, neox} {
		kit = append(kit, entry{Name: "k4b_" + s + "_healthy", Source: s, Note: "transformers' files, unchanged"})
	}
	kit = append(kit,
		entry{Name: "k4b_phi3_resaved", Source: phi3, resave: true, Note: "re-serialized by nlpodyssey/safetensors (header order and offsets of that writer), tensors byte-identical"},
		entry{Name: "k4b_gpt_neox_resaved", Source: neox, resave: true, Note: "re-serialized by nlpodyssey/safetensors, tensors byte-identical"},

		// config.json says another convention than training used; the convention is in the space.
		entry{Name: "k4b_qwen2_theta1e4_saved1e6", Source: qwen2, Kind: "convention_mismatch", Convention: "rope_theta",
			undo: &flip{"rope_theta", "10000"}, key: "rope_theta", value: "1000000.0", Note: "trained with rope_theta 1e4, config.json says 1e6"},
		entry{Name: "k4b_qwen3_theta1e4_saved5e5", Source: qwen3, Kind: "convention_mismatch", Convention: "rope_theta",
			undo: &flip{"rope_theta", "10000"}, key: "rope_theta", value: "500000.0", Note: "trained with rope_theta 1e4, config.json says 5e5"},
		entry{Name: "k4b_gpt_neox_rotary0.25_saved1", Source: neox, Kind: "convention_mismatch", Convention: "rotary_pct",
			undo: &flip{"rotary_pct", "0.25"}, key: "partial_rotary_factor", value: "1.0", Note: "trained rotating a quarter of each head, config.json says partial_rotary_factor 1"},
		entry{Name: "k4b_gemma2_qpas8_saved256", Source: gemma2, Kind: "convention_mismatch", Convention: "query_pre_attn_scalar", Also: []string{"convention_mismatch:attn_scale"},
			undo: &flip{"query_pre_attn_scalar", "8"}, key: "query_pre_attn_scalar", value: "256", Note: "trained with query_pre_attn_scalar 8 (= head_dim), config.json says 256"},
		entry{Name: "k4b_gemma2_final_softcap_dropped", Source: gemma2, Kind: "convention_mismatch", Convention: "logit_softcap",
			undo: &flip{"logit_softcap", "30"}, key: "final_logit_softcapping", value: "null", Note: "trained with final_logit_softcapping 30, config.json says null"},
		entry{Name: "k4b_gemma_act_saved_silu", Source: gemma, Kind: "convention_mismatch", Convention: "activation",
			undo: &flip{"activation", "gelu_pytorch_tanh"}, key: "hidden_act", value: `"silu"`, Note: "trained with gelu_pytorch_tanh, config.json says silu"},
		entry{Name: "k4b_mistral_win5_saved_full", Source: mistral, Kind: "convention_mismatch", Convention: "sliding_window",
			key: "sliding_window", value: "null", Note: "trained with sliding_window 5, config.json says null (full attention): the loaded model has no window to search"},
		entry{Name: "k4b_qwen2_win8_saved_32", Source: qwen2, Kind: "convention_mismatch", Convention: "sliding_window",
			key: "sliding_window", value: "32", Note: "trained with sliding_window 8 on layer 1, config.json says 32 (the space holds 32 and 0, not 8)"},
		entry{Name: "k4b_phi3_eps_saved1", Source: phi3, Kind: "convention_mismatch", Convention: "rms_norm_eps", Also: []string{"convention_mismatch:norm_eps"},
			undo: &flip{"norm_eps", "1e-05"}, key: "rms_norm_eps", value: "1.0", Note: "trained with rms_norm_eps 1e-5, config.json says 1.0"},

		// tensor edits a convention of the space undoes exactly.
		entry{Name: "k4b_gemma_qk_interleaved", Source: gemma, Kind: "rope_layout", Convention: "rope_pairing", Also: []string{"convention_mismatch:rope_pairing"},
			undo: &flip{"rope_pairing", "interleaved"}, Note: "q_proj/k_proj rows in the interleaved rotary layout, config says rotate_half",
			edit: func(c *ckpt) error {
				return c.permuteRows(interleaved(8), slices.Concat(layers(2, "model.layers.%d.self_attn.q_proj.weight"), layers(2, "model.layers.%d.self_attn.k_proj.weight"))...)
			}},
		entry{Name: "k4b_gpt_neox_qkv_blocks", Source: neox, Kind: "convention_mismatch", Convention: "qkv_split",
			undo: &flip{"qkv_split", "blocks"}, Note: "query_key_value weight and bias saved as q|k|v blocks instead of per head",
			edit: func(c *ckpt) error {
				return c.permuteRows(qkvBlocks(4, 8), slices.Concat(layers(2, "gpt_neox.layers.%d.attention.query_key_value.weight"), layers(2, "gpt_neox.layers.%d.attention.query_key_value.bias"))...)
			}},
		entry{Name: "k4b_gemma_norm_saved_as_multiplier", Source: gemma, Kind: "convention_mismatch", Convention: "norm_weight",
			undo: &flip{"norm_weight", "w"}, Note: "norm weights saved as the multiplier 1 + w where Gemma applies 1 + w (rounded to BF16)",
			edit: func(c *ckpt) error {
				for _, n := range slices.Concat(layers(2, "model.layers.%d.input_layernorm.weight"), layers(2, "model.layers.%d.post_attention_layernorm.weight"), []string{"model.norm.weight"}) {
					if err := c.mapBF16(n, func(_ int, x float32) float32 { return 1 + x }); err != nil {
						return err
					}
				}
				return nil
			}},

		// a catalog kind.
		entry{Name: "k4b_mistral_layer1_mlp_fresh", Source: mistral, Kind: "tensors_untrained", Note: "layer 1's gate/up/down_proj replaced by a fresh N(0, 0.02²) draw (initializer_range)",
			edit: func(c *ckpt) error {
				return c.fresh(0.02, 7, "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight")
			}},

		// conversion mistakes no convention of the space names.
		entry{Name: "k4b_phi3_qkv_kqv", Source: phi3, Kind: "unexplained", Also: []string{"convention_mismatch:qkv_order"}, Note: "fused qkv_proj rows saved k|q|v",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, _ int) int {
					switch {
					case i < 32:
						return i + 32
					case i < 64:
						return i - 32
					}
					return i
				}, layers(2, "model.layers.%d.self_attn.qkv_proj.weight")...)
			}},
		entry{Name: "k4b_qwen3_qk_norms_swapped", Source: qwen3, Kind: "unexplained", Note: "q_norm and k_norm exchanged in every layer",
			edit: func(c *ckpt) error {
				for l := range 2 {
					if err := c.exchange(fmt.Sprintf("model.layers.%d.self_attn.q_norm.weight", l), fmt.Sprintf("model.layers.%d.self_attn.k_norm.weight", l)); err != nil {
						return err
					}
				}
				return nil
			}},
		entry{Name: "k4b_gemma2_post_norms_swapped", Source: gemma2, Kind: "unexplained", Note: "post_attention_layernorm and post_feedforward_layernorm exchanged in every layer",
			edit: func(c *ckpt) error {
				for l := range 3 {
					if err := c.exchange(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", l), fmt.Sprintf("model.layers.%d.post_feedforward_layernorm.weight", l)); err != nil {
						return err
					}
				}
				return nil
			}},
		entry{Name: "k4b_gpt_neox_embed_shifted", Source: neox, Kind: "unexplained", Note: "embed_in rows shifted by one id (id i's vector at row i+1, cyclic); embed_out unchanged",
			edit: func(c *ckpt) error {
				return c.permuteRows(func(i, rows int) int { return (i + rows - 1) % rows }, "gpt_neox.embed_in.weight")
			}},
		entry{Name: "k4b_mistral_mlps_swapped", Source: mistral, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_mapping"}, Note: "layer 0's and layer 1's MLPs exchanged",
			edit: func(c *ckpt) error {
				for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
					if err := c.exchange("model.layers.0.mlp."+p+".weight", "model.layers.1.mlp."+p+".weight"); err != nil {
						return err
					}
				}
				return nil
			}},
		entry{Name: "k4b_qwen2_o_proj_transposed", Source: qwen2, Kind: "unexplained", Also: []string{"tensors_misplaced:tensor_layout"}, Note: "layer 0's o_proj saved transposed (32×32: the shape holds)",
			edit: func(c *ckpt) error { return c.transpose("model.layers.0.self_attn.o_proj.weight") }},
	)
	return kit
}
