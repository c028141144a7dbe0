package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFormatUnchanged re-encodes lines the trainer wrote (cpu preset, steps 1, 2 and the final
// evaluation) and wants the same bytes: the format of existing runs is kept.
func TestFormatUnchanged(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "cpu_steps.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Decode(bytes.NewReader(raw), "cpu_steps.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), raw) {
		t.Fatalf("re-encoded records differ from the file:\n%s\nwant\n%s", buf.Bytes(), raw)
	}
	run := Split(rs)
	if len(run.Train) != 2 || len(run.Eval) != 1 || run.Train[1].Step != 2 || run.Eval[0].ValCE == nil {
		t.Fatalf("Split = %d train, %d eval records", len(run.Train), len(run.Eval))
	}
}

func TestWriteReadTruncate(t *testing.T) {
	ce := 2.5
	recs := []Record{
		{Kind: KindTrain, Step: 1, Loss: 3, CE: 2.9, LR: 1e-3, GradNorm: 1, GradNorms: map[string]float64{"a": 0.5, "b": 0}, ElapsedS: 0.1},
		{Kind: KindTrain, Step: 2, Loss: 2.8, CE: 2.7, ElapsedS: 0.2, Alphas: map[string]float64{"blocks.0.mhc_attn.alpha_logit": 0.5}},
		{Kind: KindEval, Step: 2, ElapsedS: 0.3, ValCE: &ce},
		{Kind: KindTrain, Step: 3, Loss: 2.6, ElapsedS: 0.4},
	}
	path := filepath.Join(t.TempDir(), File)
	w, err := Append(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, recs)
	}
	// A torn line (a kill mid-write) and the steps after 2 go; the rest stays.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"kind":"train","step":4,"lo`)
	f.Close()
	if err := Truncate(path, 2); err != nil {
		t.Fatal(err)
	}
	if got, err = Read(path); err != nil || !reflect.DeepEqual(got, recs[:3]) {
		t.Fatalf("after Truncate(2): %+v, %v; want the first 3 records", got, err)
	}
	if err := Truncate(filepath.Join(t.TempDir(), "missing.jsonl"), 1); err != nil {
		t.Fatalf("Truncate of a missing file: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"bad JSON on line 2", "{\"kind\":\"train\",\"step\":1}\n{\"kind\":\n", ":2: "},
		{"wrong type on line 3 after a blank line", "{\"step\":1}\n\n{\"step\":\"x\"}\n", ":3: "},
		{"torn last line", "{\"step\":1}\n{\"step\":2,\"lo", ":2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), File)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+tc.want) {
				t.Fatalf("Read = %v, want an error starting %s%s", err, path, tc.want)
			}
		})
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none.jsonl")); err == nil {
		t.Fatal("Read of a missing file: want an error")
	}
}
