package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/safetensors"
)

// Tensor is a dense row-major F32 tensor.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Transposed returns a copy of the matrix t (shape [m, n]) transposed, shape [n, m]; it panics
// when t is not 2-D.
func (t Tensor) Transposed() Tensor {
	if len(t.Shape) != 2 {
		panic(fmt.Sprintf("checkpoint: transposing a tensor of shape %v", t.Shape))
	}
	m, n := t.Shape[0], t.Shape[1]
	data := make([]float32, len(t.Data))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			data[j*m+i] = t.Data[i*n+j]
		}
	}
	return Tensor{Shape: []int{n, m}, Data: data}
}

// maxHeaderBytes bounds the JSON header, as the safetensors library and the Rust crate do.
const maxHeaderBytes = 100_000_000

// metadataKey is the reserved header key for free-form string metadata.
const metadataKey = "__metadata__"

// ReadSafetensors reads a safetensors file holding only F32 tensors. It validates the header
// itself before the library sees it (sizes, offsets, dtypes, shapes, duplicate names), so a
// corrupt or hostile file yields an *Error and never a panic or an allocation beyond the file's
// size. It does not check the values (NaN/Inf) nor any model spec: Load does.
func ReadSafetensors(path string) (map[string]Tensor, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read", Err: err}
	}
	return decodeSafetensors(path, buf)
}

// headerEntry is one validated tensor of a header; offsets are relative to the data section.
type headerEntry struct {
	name       string
	shape      []int
	begin, end int
}

func decodeSafetensors(path string, buf []byte) (_ map[string]Tensor, err error) {
	entries, err := parseHeader(path, buf)
	if err != nil {
		return nil, err
	}
	// The header is sound, so the library should not fail; if it does (or panics), say so.
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: path, Msg: fmt.Sprintf("safetensors library panicked: %v", r)}
		}
	}()
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, &Error{File: path, Msg: "invalid safetensors file", Err: err}
	}
	byName := make(map[string]headerEntry, len(entries))
	for _, e := range entries {
		byName[e.name] = e
	}
	if st.Len() != len(entries) {
		return nil, &Error{File: path, Msg: "safetensors library disagrees with header validation on the tensor count",
			Expected: fmt.Sprint(len(entries)), Found: fmt.Sprint(st.Len())}
	}
	out := make(map[string]Tensor, len(entries))
	for _, nv := range st.Tensors() {
		e, ok := byName[nv.Name]
		tv := nv.TensorView
		if !ok || tv.DType() != safetensors.F32 || !sameShape(tv.Shape(), e.shape) || tv.DataLen() != uint64(e.end-e.begin) {
			return nil, &Error{File: path, Tensor: nv.Name, Msg: "safetensors library disagrees with header validation"}
		}
		out[nv.Name] = Tensor{Shape: e.shape, Data: decodeF32(tv.Data())}
	}
	return out, nil
}

// parseHeader checks everything the format promises before any bytes reach the library:
// header length within the file, a JSON object without duplicate or empty names, F32 entries
// with sane shapes whose byte ranges tile the data section exactly.
func parseHeader(path string, buf []byte) ([]headerEntry, error) {
	fail := func(tensor, msg, expected, found string) error {
		return &Error{File: path, Tensor: tensor, Msg: msg, Expected: expected, Found: found}
	}
	if len(buf) < 8 {
		return nil, fail("", "file too short for a safetensors header", "at least 8 bytes", fmt.Sprintf("%d bytes", len(buf)))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > maxHeaderBytes {
		return nil, fail("", "absurd header length (corrupt file?)", fmt.Sprintf("at most %d bytes", maxHeaderBytes), fmt.Sprintf("%d", n))
	}
	if n > uint64(len(buf)-8) {
		return nil, fail("", "header length exceeds the file (truncated file?)",
			fmt.Sprintf("at most %d bytes", len(buf)-8), fmt.Sprintf("%d", n))
	}
	header, data := buf[8:8+n], buf[8+n:]
	names, raws, bad, err := objectMembers(header)
	if err != nil {
		return nil, &Error{File: path, Tensor: bad, Msg: "invalid header", Err: err}
	}
	entries := make([]headerEntry, 0, len(names))
	for _, name := range names {
		raw := raws[name]
		if name == metadataKey {
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, &Error{File: path, Msg: "invalid __metadata__ (want an object of strings)", Err: err}
			}
			continue
		}
		var info headerInfo
		if err := decodeExact(raw, &info); err != nil {
			return nil, &Error{File: path, Tensor: name, Msg: "invalid header entry", Err: err}
		}
		if info.DType == nil || info.Shape == nil || info.Offsets == nil {
			return nil, fail(name, "null in header entry", "dtype, shape and data_offsets", string(raw))
		}
		if *info.DType != "F32" {
			return nil, fail(name, "unsupported dtype", "F32", *info.DType)
		}
		shape, elems, msg := checkShape(*info.Shape)
		if msg != "" {
			return nil, fail(name, msg, "non-negative dimensions with a product that fits the file", fmt.Sprint(*info.Shape))
		}
		off := *info.Offsets
		if len(off) == 2 && 0 <= off[0] && off[0] <= off[1] && off[1] > int64(len(data)) {
			return nil, fail(name, fmt.Sprintf("data ends past the end of the file (truncated file? %d bytes missing)", off[1]-int64(len(data))),
				fmt.Sprintf("data_offsets end <= %d", len(data)), fmt.Sprint(off))
		}
		if len(off) != 2 || off[0] < 0 || off[0] > off[1] {
			return nil, fail(name, "data_offsets out of range",
				fmt.Sprintf("[begin end] with 0 <= begin <= end <= %d", len(data)), fmt.Sprint(off))
		}
		if off[1]-off[0] != 4*int64(elems) {
			return nil, fail(name, fmt.Sprintf("byte length does not match shape %v", shape),
				fmt.Sprintf("%d bytes", 4*elems), fmt.Sprintf("%d bytes", off[1]-off[0]))
		}
		entries = append(entries, headerEntry{name: name, shape: shape, begin: int(off[0]), end: int(off[1])})
	}
	// The byte ranges must tile the data section: no overlap (two tensors sharing bytes), no
	// gap and no unclaimed tail (both signs of a writer that disagrees with us).
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		return a.begin < b.begin || (a.begin == b.begin && a.end < b.end)
	})
	pos, prev := 0, ""
	for _, e := range entries {
		switch {
		case e.begin < pos:
			return nil, fail(e.name, "data_offsets overlap tensor "+prev,
				fmt.Sprintf("begin %d", pos), fmt.Sprintf("begin %d", e.begin))
		case e.begin > pos:
			return nil, fail(e.name, "gap in the data section before this tensor",
				fmt.Sprintf("begin %d", pos), fmt.Sprintf("begin %d", e.begin))
		}
		pos, prev = e.end, e.name
	}
	if pos != len(data) {
		return nil, fail("", "tensors do not cover the data section exactly",
			fmt.Sprintf("%d data bytes", pos), fmt.Sprintf("%d", len(data)))
	}
	return entries, nil
}

// headerInfo is one tensor entry of a safetensors header. Pointers tell null from absent
// values apart from zero ones.
type headerInfo struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// decodeExact decodes a JSON object into the struct *v, rejecting what encoding/json lets
// through: duplicate keys, keys that match a field only case-insensitively, unknown keys, and
// missing fields (every field not tagged omitempty is required).
func decodeExact(raw []byte, v any) error {
	_, fields, _, err := objectMembers(raw)
	if err != nil {
		return err
	}
	t := reflect.TypeOf(v).Elem()
	known := map[string]bool{}
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
		if _, ok := fields[name]; !ok && !strings.Contains(opts, "omitempty") {
			return fmt.Errorf("field %q is missing", name)
		}
	}
	for _, k := range sortedKeys(fields) {
		if !known[k] {
			return fmt.Errorf("unknown field %q", k)
		}
	}
	return json.Unmarshal(raw, v)
}

// checkShape converts a header shape, rejecting negative dimensions and shapes whose size
// overflows (even when a zero dimension makes the product 0). msg is "" when the shape is fine.
func checkShape(dims []int64) (shape []int, elems int, msg string) {
	shape = make([]int, len(dims))
	nonzero, total := uint64(1), uint64(1)
	for i, d := range dims {
		if d < 0 {
			return nil, 0, "negative dimension"
		}
		shape[i] = int(d)
		hi, lo := bits.Mul64(nonzero, max(uint64(d), 1))
		if hi != 0 || lo > math.MaxInt64/4 { // so that the byte count 4·elems fits an int64

			return nil, 0, "absurd shape (size overflows)"
		}
		nonzero, total = lo, total*uint64(d)
	}
	return shape, int(total), ""
}

// objectMembers decodes a JSON object into its members in file order, rejecting what
// encoding/json would silently accept: duplicate keys (the last would win), empty keys and
// trailing data. bad names the offending key when there is one.
func objectMembers(raw []byte) (keys []string, members map[string]json.RawMessage, bad string, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, "", fmt.Errorf("not a JSON object")
	}
	members = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, "", err
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		switch _, dup := members[key]; {
		case key == "":
			return nil, nil, "", fmt.Errorf("empty name")
		case dup:
			return nil, nil, key, fmt.Errorf("duplicate name %q", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, key, err
		}
		keys, members[key] = append(keys, key), v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, "", fmt.Errorf("trailing data after the JSON object")
	}
	return keys, members, "", nil
}

// WriteSafetensors writes F32 tensors atomically (temp file, fsync, rename, fsync directory),
// in sorted name order with little-endian data. It refuses empty or reserved names, shapes
// that disagree with len(Data), and NaN/Inf values, so it never writes a file Load rejects
// for its values.
func WriteSafetensors(path string, tensors map[string]Tensor) (err error) {
	views := make(map[string]f32View, len(tensors))
	for _, name := range sortedKeys(tensors) {
		t := tensors[name]
		if err := checkWritable(path, name, t); err != nil {
			return err
		}
		views[name] = newF32View(t)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: path, Msg: fmt.Sprintf("safetensors library panicked: %v", r)}
		}
	}()
	return writeFileAtomic(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, nil, w)
	})
}

func checkWritable(path, name string, t Tensor) error {
	fail := func(msg, expected, found string) error {
		return &Error{File: path, Tensor: name, Msg: msg, Expected: expected, Found: found}
	}
	if name == "" || name == metadataKey || !utf8.ValidString(name) {
		return fail("invalid tensor name", "a non-empty UTF-8 name other than "+metadataKey, fmt.Sprintf("%q", name))
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	_, elems, msg := checkShape(dims)
	if msg != "" {
		return fail(msg, "non-negative dimensions", fmt.Sprint(t.Shape))
	}
	if elems != len(t.Data) {
		return fail("shape disagrees with data length", fmt.Sprintf("%d values for shape %v", elems, t.Shape),
			fmt.Sprintf("%d values", len(t.Data)))
	}
	return checkFinite(path, name, t)
}

// checkFinite reports the first NaN or Inf of a tensor, with its flat index.
func checkFinite(path, name string, t Tensor) error {
	first, count := -1, 0
	for i, v := range t.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if first < 0 {
		return nil
	}
	return &Error{File: path, Tensor: name, Msg: "non-finite value", Expected: "finite values",
		Found: fmt.Sprintf("%v at index %d (%d non-finite of %d)", t.Data[first], first, count, len(t.Data))}
}

// f32View adapts a Tensor to the library's View. The library's own NewTensorView counts 0
// elements for a scalar (shape []), so we do not use it.
type f32View struct {
	shape []uint64
	data  []byte
}

func newF32View(t Tensor) f32View {
	shape := make([]uint64, len(t.Shape)) // non-nil: a nil shape would be written as null
	for i, d := range t.Shape {
		shape[i] = uint64(d)
	}
	data := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return f32View{shape: shape, data: data}
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) Data() []byte             { return v.data }
func (v f32View) DataLen() uint64          { return uint64(len(v.data)) }

func decodeF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func sameShape(a []uint64, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != uint64(b[i]) {
			return false
		}
	}
	return true
}

// TensorHash is the SHA-256 (hex) of a tensor's shape and exact bits, to compare the weights
// in effect with those in a file. Hashed bytes: the rank as uint64 LE, each dimension as
// uint64 LE, then each value's IEEE-754 bits as uint32 LE (so -0 ≠ +0 and NaN payloads count).
func TensorHash(t Tensor) string {
	h := sha256.New()
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(t.Shape)))
	for _, d := range t.Shape {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(d))
	}
	for _, v := range t.Data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) >= 1<<16 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
