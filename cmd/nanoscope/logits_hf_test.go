package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/hf"
)

// `logits --checkpoint HF_DIR` runs a Hugging Face checkpoint as it runs nanoscope's: its
// top-1 predictions are those of the loaded family, a Llama runs under another GQA mapping on
// request, and what cannot be done is one line.
func TestLogitsHuggingFace(t *testing.T) {
	dir := filepath.Join("..", "..", "gomlxmodel", "hf", "testdata", "hf", "llama_random_gqa")
	ck, err := hf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{5, 17, 200, 3, 42}
	for _, gqa := range []string{"", "tile"} {
		f := ck.Family
		args := []string{"logits", "--checkpoint", dir, "--tokens", "5,17,200,3,42", "--topk", "1", "--json"}
		if gqa != "" {
			f, _ = f.WithConvention(gomlxmodel.ConvGQAMapping, gqa)
			args = append(args, "--gqa-map", gqa)
		}
		r, err := gomlxmodel.NewFamilyRunner(f, ck.Params)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Logits([][]int32{ids})
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := nanoscope(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var out logitsJSON
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatal(err)
		}
		V := f.Dims().VocabSize
		for p, pos := range out.Positions {
			row := want[p*V : (p+1)*V]
			best := 0
			for i, v := range row {
				if v > row[best] {
					best = i
				}
			}
			if pos.Top[0].ID != best || math.Abs(pos.Top[0].Logit-float64(row[best])) > 1e-6 {
				t.Errorf("gqa %q position %d: top %+v, want id %d logit %v", gqa, p, pos.Top[0], best, row[best])
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--text", "fn main"}, "vocabulary has 301 ids, not GPT-2's 50257"},
		{[]string{"--tokens", "1,301"}, "id 301 at position 1 is outside the model's ids [0, 301)"},
		{[]string{"--tokens", "1", "--rope-layout", "interleaved", "--checkpoint", filepath.Join(filepath.Dir(dir), "gpt2_random")}, "no convention \"rope_pairing\""},
	} {
		args := append([]string{"logits", "--checkpoint", dir}, tc.args...)
		_, stderr, code := nanoscope(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "nanoscope logits: ") {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
