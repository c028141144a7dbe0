package hf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/nlpodyssey/safetensors"

	"nanoscope/gomlxmodel/checkpoint"
)

// File names of a Hugging Face checkpoint directory.
const (
	ConfigFile = "config.json"
	ModelFile  = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// tensor is one tensor read from a file: its values upcast to float32, its dtype in the file and
// the file it came from.
type tensor struct {
	checkpoint.Tensor
	dtype string
	file  string
}

// readTensors reads the weights of dir: model.safetensors, or the shards listed by
// model.safetensors.index.json. Every shard must hold exactly the tensors the index assigns
// to it.
func readTensors(dir string) (map[string]tensor, []string, error) {
	single, index := filepath.Join(dir, ModelFile), filepath.Join(dir, IndexFile)
	_, errSingle := os.Stat(single)
	_, errIndex := os.Stat(index)
	switch {
	case errSingle == nil && errIndex == nil:
		return nil, nil, &checkpoint.Error{File: dir, Msg: "both " + ModelFile + " and " + IndexFile + " present: which one holds the weights is ambiguous"}
	case errSingle == nil:
		ts, err := readFile(single)
		return ts, []string{single}, err
	case errIndex == nil:
		return readSharded(dir, index)
	}
	return nil, nil, &checkpoint.Error{File: dir, Msg: "no " + ModelFile + " nor " + IndexFile, Err: fs.ErrNotExist}
}

func readSharded(dir, index string) (map[string]tensor, []string, error) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return nil, nil, &checkpoint.Error{File: index, Msg: "cannot read", Err: err}
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, nil, &checkpoint.Error{File: index, Msg: "invalid index", Err: err}
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, &checkpoint.Error{File: index, Msg: "empty weight_map"}
	}
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		if shard == "" || filepath.Base(shard) != shard {
			return nil, nil, &checkpoint.Error{File: index, Tensor: name, Msg: "shard is not a file name in the directory", Found: fmt.Sprintf("%q", shard)}
		}
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	out := map[string]tensor{}
	var files []string
	for _, s := range shards {
		path := filepath.Join(dir, s)
		ts, err := readFile(path)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, path)
		listed := byShard[s]
		sort.Strings(listed)
		for _, name := range listed {
			if _, ok := ts[name]; !ok {
				return nil, nil, &checkpoint.Error{File: path, Tensor: name, Msg: "missing tensor that " + IndexFile + " assigns to this shard"}
			}
		}
		for _, name := range sortedNames(ts) {
			if idx.WeightMap[name] != s {
				return nil, nil, &checkpoint.Error{File: path, Tensor: name, Msg: "tensor not assigned to this shard by " + IndexFile,
					Expected: fmt.Sprintf("in %q", idx.WeightMap[name]), Found: "here"}
			}
			out[name] = ts[name]
		}
	}
	return out, files, nil
}

// readFile reads one safetensors file through the safetensors library (which checks the
// header, the offsets and that the tensors fill the file exactly: a truncated file fails) and
// upcasts F16 and BF16 tensors to F32 (exactly: every f16 and bf16 value is an f32 value).
// F64 is rounded to F32. Non-finite values are errors.
func readFile(path string) (_ map[string]tensor, err error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, &checkpoint.Error{File: path, Msg: "cannot read", Err: err}
	}
	defer func() {
		if r := recover(); r != nil {
			err = &checkpoint.Error{File: path, Msg: fmt.Sprintf("safetensors library panicked: %v", r)}
		}
	}()
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, &checkpoint.Error{File: path, Msg: "invalid safetensors file (truncated or corrupt?)", Err: err}
	}
	out := map[string]tensor{}
	for _, nv := range st.Tensors() {
		tv := nv.TensorView
		shape := make([]int, len(tv.Shape()))
		n := 1
		for i, d := range tv.Shape() {
			if d > math.MaxInt32 {
				return nil, &checkpoint.Error{File: path, Tensor: nv.Name, Msg: "absurd shape", Found: fmt.Sprint(tv.Shape())}
			}
			shape[i] = int(d)
			n *= int(d)
		}
		data, err := toF32(tv.DType(), tv.Data(), n)
		if err != nil {
			return nil, &checkpoint.Error{File: path, Tensor: nv.Name, Msg: err.Error(), Expected: "F32, F16, BF16 or F64", Found: tv.DType().String()}
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, &checkpoint.Error{File: path, Tensor: nv.Name, Msg: "non-finite value", Expected: "finite values",
					Found: fmt.Sprintf("%v at index %d", v, i)}
			}
		}
		out[nv.Name] = tensor{Tensor: checkpoint.Tensor{Shape: shape, Data: data}, dtype: tv.DType().String(), file: path}
	}
	return out, nil
}

// toF32 converts n little-endian values of dtype to float32.
func toF32(dt safetensors.DType, b []byte, n int) ([]float32, error) {
	if uint64(len(b)) != uint64(n)*dt.Size() {
		return nil, fmt.Errorf("byte length %d does not match %d values", len(b), n)
	}
	out := make([]float32, n)
	switch dt {
	case safetensors.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case safetensors.BF16: // the upper 16 bits of an f32
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case safetensors.F16:
		for i := range out {
			out[i] = f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case safetensors.F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return nil, errors.New("unsupported dtype")
	}
	return out, nil
}

// f16ToF32 converts IEEE-754 half precision to single precision exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp == 0 && mant == 0: // ±0
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant·2^−24
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
