package corpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestModelVocab(t *testing.T) {
	compact, err := newVocab([]int{1388, 22184}) // compact 0 = " main", 1 = "fn", 2 = <unk>
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		m     ModelVocab
		gpt2  []int
		model []int32 // ToModelIDs(gpt2)
		back  []int   // ToGPT2 of model
		unk   []bool  // IsUnk of model
		text  []string
	}{
		{"identity", ModelVocab{}, []int{22184, 1388, 7, GPT2VocabSize},
			[]int32{22184, 1388, 7, GPT2VocabSize}, []int{22184, 1388, 7, GPT2VocabSize}, []bool{false, false, false, false},
			[]string{"fn", " main", "(", "<|invalid:50257|>"}},
		{"compact", ModelVocab{Compact: compact}, []int{22184, 1388, 7, GPT2VocabSize, -1},
			// 7 is not listed: <unk>; ids outside GPT-2's range pass through for the caller's range check
			[]int32{1, 0, 2, GPT2VocabSize, -1}, []int{22184, 1388, -1, -1, -1}, []bool{false, false, true, false, false},
			[]string{"fn", " main", UnkText, "<|invalid:50257|>", "<|invalid:-1|>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.ToModelIDs(tc.gpt2)
			if !slices.Equal(got, tc.model) {
				t.Fatalf("ToModelIDs(%v) = %v, want %v", tc.gpt2, got, tc.model)
			}
			for i, id := range got {
				if b := tc.m.ToGPT2(int(id)); b != tc.back[i] {
					t.Errorf("ToGPT2(%d) = %d, want %d", id, b, tc.back[i])
				}
				if u := tc.m.IsUnk(int(id)); u != tc.unk[i] {
					t.Errorf("IsUnk(%d) = %v", id, u)
				}
				if s := tc.m.Text(int(id)); s != tc.text[i] {
					t.Errorf("Text(%d) = %q, want %q", id, s, tc.text[i])
				}
			}
		})
	}
}

func TestLoadModelVocab(t *testing.T) {
	dir := t.TempDir()
	v, err := newVocab([]int{1388, 22184})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, vocabMap string
		size                int
		wantCompact         bool
		wantErr             string
	}{
		{"no vocab map: GPT-2 ids", dir, "", 50257, false, ""},
		{"compact", dir, "vocab.json", 3, true, ""},
		{"compact, size unchecked", dir, "vocab.json", 0, true, ""},
		{"size mismatch", dir, "vocab.json", 4, false, "vocab.json: 3 ids, but the checkpoint's vocab_size is 4"},
		{"missing file", dir, "none.json", 3, false, "none.json"},
		{"no directory", "", "vocab.json", 3, false, "no checkpoint directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadModelVocab(tc.dir, tc.vocabMap, tc.size)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || (m.Compact != nil) != tc.wantCompact {
				t.Fatalf("LoadModelVocab = %+v, %v", m, err)
			}
			if tc.wantCompact && m.ToModel(22184) != 1 {
				t.Fatalf("ToModel(22184) = %d, want 1", m.ToModel(22184))
			}
		})
	}
}
