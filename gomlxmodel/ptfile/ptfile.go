// Package ptfile reads PyTorch's zip-format files (what torch.save writes since PyTorch 1.6:
// nanoGPT's ckpt.pt, nanochat's model_*.pt) without running any of their code.
//
// The pickle is read with github.com/nlpodyssey/gopickle's unpickler, which builds Python
// values as Go values and never executes anything; the classes it may build are a closed
// list: dict, OrderedDict, list, tuple and the scalars, torch._utils._rebuild_tensor_v2 and
// the storage classes of float32, bfloat16, float16, float64, int64, int32, int16, int8, uint8
// and bool. Any other class (a custom class, a numpy array, an nn.Module saved whole) is a
// one-line error naming the file and the class.
//
// What is read by hand, and why: gopickle's own pytorch.Load allocates each storage at the
// size the pickle declares before reading it and reads every storage of the file (an
// optimizer's state included). Here a storage is only a reference into the zip — its record,
// dtype and element count, checked against the record's size when the pickle names it — and
// Float32 reads the bytes of one tensor when asked. So a damaged or hostile file (a declared
// size larger than its record, a truncated record, a tensor reaching past its storage) is
// refused before any allocation, and the optimizer's tensors are never read. gopickle also
// allocates every string, bytes and frame at the length the pickle declares before reading it
// (a damaged length of 3 GB is a 3 GB allocation): checkPickleLengths walks the opcodes first and
// refuses a length the pickle does not hold.
//
// Not read: the legacy formats (torch.save before 1.6 with _use_new_zipfile_serialization,
// tar archives) and TorchScript archives; each is refused in one line.
package ptfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// File is an open zip-format PyTorch file: Root is its unpickled top-level value, with dicts
// and OrderedDicts as *Dict, tensors as *Tensor, lists and tuples as []any, and Python's
// scalars as gopickle gives them (int, float64, string, bool, nil, *big.Int).
type File struct {
	Path string
	Root any
	zr   *zip.ReadCloser
}

// Tensor is a tensor of the file: its dtype ("F32", "BF16", "F16", "F64", "I64", "I32",
// "I16", "I8", "U8", "BOOL"), shape and strides (in elements), and where its data lies.
type Tensor struct {
	DType  string
	Shape  []int
	Stride []int
	Offset int // in elements, into the storage
	st     *storage
}

// storage is a reference to one storage record of the zip: it is never read whole.
type storage struct {
	dtype string
	size  int // elements
	rec   *zip.File
	key   string
}

func (*storage) SetFromFile(io.Reader) error              { return nil }
func (*storage) SetFromFileWithSize(io.Reader, int) error { return nil }
func (c storageClass) New(size int, _ string) pytorch.StorageInterface {
	return &storage{dtype: c.dtype, size: size}
}

// storageClass is one of torch's typed storage classes.
type storageClass struct{ dtype string }

// dtypes maps torch's storage classes to dtype names and element sizes.
var dtypes = map[string]struct {
	name  string
	bytes int
}{
	"FloatStorage": {"F32", 4}, "BFloat16Storage": {"BF16", 2}, "HalfStorage": {"F16", 2}, "DoubleStorage": {"F64", 8},
	"LongStorage": {"I64", 8}, "IntStorage": {"I32", 4}, "ShortStorage": {"I16", 2}, "CharStorage": {"I8", 1},
	"ByteStorage": {"U8", 1}, "BoolStorage": {"BOOL", 1},
}

// elemBytes is the size of one element of dtype.
func elemBytes(dtype string) int {
	for _, d := range dtypes {
		if d.name == dtype {
			return d.bytes
		}
	}
	return 0
}

// Open reads the file's pickle (not its tensors' data). Errors name the file.
func Open(filename string) (*File, error) {
	zr, err := zip.OpenReader(filename)
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip-format PyTorch file (torch.save since 1.6): %v", filename, err)
	}
	f := &File{Path: filename, zr: zr}
	if err := f.read(); err != nil {
		zr.Close()
		return nil, err
	}
	return f, nil
}

// Close closes the file; its tensors cannot be read after.
func (f *File) Close() error { return f.zr.Close() }

func (f *File) read() error {
	var prefix string
	records := map[string]*zip.File{}
	for _, r := range f.zr.File {
		records[r.Name] = r
		dir, base := path.Split(r.Name)
		switch base {
		case "data.pkl":
			if strings.Count(r.Name, "/") == 1 {
				prefix = dir
			}
		case "constants.pkl":
			return fmt.Errorf("%s: a TorchScript archive (torch.jit.save), not a torch.save checkpoint", f.Path)
		}
	}
	pkl, ok := records[prefix+"data.pkl"]
	if prefix == "" || !ok {
		return fmt.Errorf("%s: no ARCHIVE/data.pkl record: not a torch.save checkpoint", f.Path)
	}
	if bo, ok := records[prefix+"byteorder"]; ok {
		b, err := readRecord(bo, 0, int64(min(bo.UncompressedSize64, 16)))
		if err != nil || string(b) != "little" {
			return fmt.Errorf("%s: byteorder record %q: only little-endian files are read", f.Path, b)
		}
	}
	if pkl.UncompressedSize64 > maxPickleBytes {
		return fmt.Errorf("%s: %s declares %d bytes, more than the %d a checkpoint's pickle holds", f.Path, pkl.Name, pkl.UncompressedSize64, maxPickleBytes)
	}
	b, err := readRecord(pkl, 0, int64(pkl.UncompressedSize64))
	if err != nil {
		return fmt.Errorf("%s: %v", f.Path, err)
	}
	if err := checkPickleLengths(b); err != nil {
		return fmt.Errorf("%s: %s: %v", f.Path, pkl.Name, err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(b))
	u.FindClass = func(module, name string) (any, error) {
		if module == "torch._utils" && name == "_rebuild_tensor_v2" {
			return &pytorch.RebuildTensorV2{}, nil
		}
		if d, ok := dtypes[name]; ok && module == "torch" {
			return storageClass{d.name}, nil
		}
		return nil, fmt.Errorf("pickle class %s.%s is not read (nanoscope builds tensors, dicts, lists and scalars only)", module, name)
	}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() != 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("persistent id %v is not a storage reference", id)
		}
		class, ok1 := t.Get(1).(storageClass)
		key, ok2 := t.Get(2).(string)
		size, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || size < 0 {
			return nil, fmt.Errorf("storage reference %v: expected (storage, class, key, location, size)", id)
		}
		rec, ok := records[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %s: no record %sdata/%s", key, prefix, key)
		}
		if want := uint64(size) * uint64(elemBytes(class.dtype)); rec.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %s: %d %s elements declared (%d bytes), record holds %d bytes", key, size, class.dtype, want, rec.UncompressedSize64)
		}
		return &storage{dtype: class.dtype, size: size, rec: rec, key: key}, nil
	}
	root, err := u.Load()
	if err != nil {
		return fmt.Errorf("%s: %v", f.Path, err)
	}
	f.Root, err = convert(root)
	if err != nil {
		return fmt.Errorf("%s: %v", f.Path, err)
	}
	return nil
}

// convert replaces gopickle's tensors by *Tensor, checking that each lies within its storage.
func convert(v any) (any, error) {
	switch x := v.(type) {
	case *pytorch.Tensor:
		st, ok := x.Source.(*storage)
		if !ok || st.rec == nil {
			return nil, fmt.Errorf("a tensor without a storage record")
		}
		if len(x.Size) != len(x.Stride) {
			return nil, fmt.Errorf("storage %s: a tensor of shape %v with strides %v", st.key, x.Size, x.Stride)
		}
		last := x.StorageOffset // the furthest element the tensor reads
		for i, n := range x.Size {
			if n < 0 || x.Stride[i] < 0 {
				return nil, fmt.Errorf("storage %s: shape %v, strides %v", st.key, x.Size, x.Stride)
			}
			if n == 0 {
				last = -1
				break
			}
			last += (n - 1) * x.Stride[i]
		}
		if x.StorageOffset < 0 || last >= st.size {
			return nil, fmt.Errorf("storage %s: a tensor of shape %v at offset %d reaches past its %d elements", st.key, x.Size, x.StorageOffset, st.size)
		}
		return &Tensor{DType: st.dtype, Shape: x.Size, Stride: x.Stride, Offset: x.StorageOffset, st: st}, nil
	case *types.Dict:
		d := &Dict{m: map[any]any{}}
		for _, e := range *x {
			if err := d.add(e.Key, e.Value); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *types.OrderedDict:
		d := &Dict{m: map[any]any{}}
		for e := x.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := d.add(entry.Key, entry.Value); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *types.List:
		return convertSlice(*x)
	case *types.Tuple:
		return convertSlice(*x)
	}
	return v, nil
}

func convertSlice(xs []any) ([]any, error) {
	out := make([]any, len(xs))
	for i, x := range xs {
		c, err := convert(x)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = c
	}
	return out, nil
}

// Dict is a Python dict or OrderedDict of the file, its keys in the file's order.
type Dict struct {
	Keys []any // string, int, float64, bool or nil
	m    map[any]any
}

// Get returns the value under key.
func (d *Dict) Get(key any) (any, bool) {
	v, ok := d.m[key]
	return v, ok
}

func (d *Dict) add(k, v any) error {
	switch k.(type) {
	case string, int, float64, bool, nil:
	default:
		return fmt.Errorf("a dict key of type %T", k)
	}
	c, err := convert(v)
	if err != nil {
		return fmt.Errorf("%v: %w", k, err)
	}
	if _, dup := d.m[k]; dup {
		return fmt.Errorf("key %v twice in one dict", k)
	}
	d.Keys = append(d.Keys, k)
	d.m[k] = c
	return nil
}

// Storage names the storage a tensor views ("key" of the zip record): two tensors with the
// same Storage and Offset share their data (a tied head).
func (t *Tensor) Storage() string { return t.st.key }

// Contiguous reports whether the tensor is laid out row-major without gaps.
func (t *Tensor) Contiguous() bool {
	want := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.Stride[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 reads the tensor's data (F32, BF16 or F16; contiguous) as float32.
func (t *Tensor) Float32() ([]float32, error) {
	eb := elemBytes(t.DType)
	if t.DType != "F32" && t.DType != "BF16" && t.DType != "F16" {
		return nil, fmt.Errorf("storage %s: dtype %s, want F32, BF16 or F16", t.st.key, t.DType)
	}
	if !t.Contiguous() {
		return nil, fmt.Errorf("storage %s: a non-contiguous tensor (shape %v, strides %v)", t.st.key, t.Shape, t.Stride)
	}
	n := t.Len()
	b, err := readRecord(t.st.rec, int64(t.Offset*eb), int64(n*eb))
	if err != nil {
		return nil, fmt.Errorf("storage %s: %v", t.st.key, err)
	}
	out := make([]float32, n)
	for i := range out {
		switch t.DType {
		case "F32":
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case "BF16":
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		case "F16":
			out[i] = math.Float32frombits(pytorch.FloatBits16to32(binary.LittleEndian.Uint16(b[2*i:])))
		}
	}
	return out, nil
}

// readRecord reads n bytes from offset off of a zip record (at most n: fewer is an error).
func readRecord(rec *zip.File, off, n int64) ([]byte, error) {
	r, err := rec.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return nil, fmt.Errorf("record %s ends before byte %d: %v", rec.Name, off, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return b, fmt.Errorf("record %s: %d bytes wanted at %d: %v", rec.Name, n, off, err)
	}
	return b, nil
}

// maxPickleBytes bounds a data.pkl record: the pickle of a checkpoint holds names, shapes and
// scalars, its tensors live in records of their own.
const maxPickleBytes = 1 << 28

// pickleArgs are the opcodes of pickle protocols 0–5 (Python's pickletools) with an argument:
// n > 0 a fixed n bytes, n < 0 a little-endian length of −n bytes followed by that many bytes,
// lines the newline-terminated lines; pickleNoArg are those without one.
var pickleArgs = map[byte]struct{ n, lines int }{
	'J': {n: 4}, 'K': {n: 1}, 'M': {n: 2}, 'G': {n: 8}, 'h': {n: 1}, 'j': {n: 4}, 'q': {n: 1}, 'r': {n: 4},
	0x80: {n: 1}, 0x82: {n: 1}, 0x83: {n: 2}, 0x84: {n: 4}, 0x95: {n: 8},
	'T': {n: -4}, 'U': {n: -1}, 'X': {n: -4}, 'B': {n: -4}, 'C': {n: -1}, 0x8a: {n: -1}, 0x8b: {n: -4},
	0x8c: {n: -1}, 0x8d: {n: -8}, 0x8e: {n: -8}, 0x96: {n: -8},
	'I': {lines: 1}, 'L': {lines: 1}, 'F': {lines: 1}, 'S': {lines: 1}, 'V': {lines: 1}, 'P': {lines: 1},
	'g': {lines: 1}, 'p': {lines: 1}, 'c': {lines: 2}, 'i': {lines: 2},
}

// pickleNoArg are the opcodes of pickle protocols 0–5 that take no argument.
const pickleNoArg = "(.012NRabd}el]ost)uQ\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98"

// checkPickleLengths walks the opcodes of the pickle b up to its STOP and returns an error for a
// string, bytes, integer or frame whose declared length runs past the end of b (a frame's body
// is walked as opcodes). An opcode it does not know ends the walk: the unpickler refuses it.
func checkPickleLengths(b []byte) error {
	for i := 0; i < len(b); {
		op, at := b[i], i
		i++
		a, ok := pickleArgs[op]
		switch {
		case op == '.' || !ok && strings.IndexByte(pickleNoArg, op) < 0:
			return nil
		case !ok:
		case a.lines > 0:
			for range a.lines {
				j := bytes.IndexByte(b[i:], '\n')
				if j < 0 {
					return fmt.Errorf("opcode %#x at byte %d: its line has no end", op, at)
				}
				i += j + 1
			}
		case a.n > 0:
			if len(b)-i < a.n {
				return fmt.Errorf("opcode %#x at byte %d: %d argument bytes wanted, %d left", op, at, a.n, len(b)-i)
			}
			if op == 0x95 { // FRAME: the length of the opcodes that follow
				if n := binary.LittleEndian.Uint64(b[i:]); n > uint64(len(b)-i-8) {
					return fmt.Errorf("frame at byte %d declares %d bytes, %d left", at, n, len(b)-i-8)
				}
			}
			i += a.n
		case a.n < 0:
			w := -a.n
			if len(b)-i < w {
				return fmt.Errorf("opcode %#x at byte %d: a %d-byte length wanted, %d bytes left", op, at, w, len(b)-i)
			}
			var n uint64
			for k := w - 1; k >= 0; k-- {
				n = n<<8 | uint64(b[i+k])
			}
			i += w
			if n > uint64(len(b)-i) {
				return fmt.Errorf("opcode %#x at byte %d declares %d bytes, %d left", op, at, n, len(b)-i)
			}
			i += int(n)
		}
	}
	return nil
}
