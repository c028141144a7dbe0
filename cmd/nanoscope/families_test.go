package main

import (
	le "encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/plots"
	"nanoscope/report"
)

// Every family of issue 24 through the command line, on the checkpoints transformers 5.17 wrote
// and trained (gomlxmodel/hf/testdata/hf, bench/hf24_fixtures.py; ids 0…63, bytes folded by
// min(b, 127) >> 1): `inspect` names the family and its keys, `logits` gives transformers'
// top-1 on the fixture's own ids, `generate` decodes with and without the KV cache alike, and
// `diagnose` (search and inference checks included) calls the trained model healthy and draws
// notebook 12's figures into its md report.
func TestEveryFamilyThroughTheCLI(t *testing.T) {
	fix := filepath.Join("..", "..", "gomlxmodel", "hf", "testdata", "hf")
	files, _ := filepath.Glob("*.go")
	var ids []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			ids = le.LittleEndian.AppendUint32(ids, uint32(min(c, 127)>>1))
		}
	}
	data := filepath.Join(t.TempDir(), "folded.bin")
	if err := os.WriteFile(data, ids[:min(len(ids), 4*20000)], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, arch string }{
		{"qwen2_trained_swa", "qwen2"}, {"qwen3_trained_tied", "qwen3"}, {"mistral_trained_swa", "mistral"},
		{"gemma_trained", "gemma"}, {"gemma2_trained", "gemma2"}, {"phi3_trained", "phi3"}, {"gpt_neox_trained", "gpt_neox"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(fix, c.name)
			stdout, stderr, code := nanoscope(t, "inspect", "--checkpoint", dir)
			if code != 0 || !strings.Contains(stdout, c.arch) || !strings.Contains(stdout, "files read") {
				t.Errorf("inspect: exit %d, stderr %q, stdout %.300q", code, stderr, stdout)
			}
			// transformers' logits on the fixture's first row: the top-1 of its last position.
			ref, err := checkpoint.ReadSafetensors(dir + ".reference.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			T, V := ref["ids"].Shape[1], ref["logits"].Shape[2]
			var tok []string
			for _, v := range ref["ids"].Data[:T] {
				tok = append(tok, strconv.Itoa(int(v)))
			}
			last := ref["logits"].Data[(T-1)*V : T*V]
			want := 0
			for i, v := range last {
				if v > last[want] {
					want = i
				}
			}
			stdout, stderr, code = nanoscope(t, "logits", "--checkpoint", dir, "--tokens", strings.Join(tok, ","), "--json")
			var lg logitsJSON
			if code != 0 || json.Unmarshal([]byte(stdout), &lg) != nil || len(lg.Positions) != T || lg.Positions[T-1].Top[0].ID != want {
				t.Errorf("logits: exit %d, stderr %q, want top-1 %d at the last position (stdout %.300q)", code, stderr, want, stdout)
			}
			var gens [2]generateJSON
			for i, extra := range [][]string{nil, {"--no-cache"}} {
				stdout, stderr, code = nanoscope(t, append([]string{"generate", "--checkpoint", dir, "--tokens", strings.Join(tok[:8], ","), "--max-new", "6", "--no-stop", "--json"}, extra...)...)
				if code != 0 || json.Unmarshal([]byte(stdout), &gens[i]) != nil || len(gens[i].Generated) != 6 {
					t.Fatalf("generate %v: exit %d, stderr %q, stdout %.200q", extra, code, stderr, stdout)
				}
			}
			if !slices.Equal(gens[0].Generated, gens[1].Generated) {
				t.Errorf("generate: KV cache %v, full forwards %v", gens[0].Generated, gens[1].Generated)
			}
			stdout, stderr, code = nanoscope(t, "diagnose", "--checkpoint", dir, "--data", data, "--positions", "512", "--json")
			var rep analysis.Report
			if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || !rep.Healthy || rep.Details.Inference == nil ||
				len(rep.Details.Catalog.Search) == 0 {
				t.Errorf("diagnose: exit %d, stderr %q, healthy %v, findings %+v", code, stderr, rep.Healthy, rep.Findings)
			}
			// Notebook 12's figures, from the report: the md document draws the lens and the
			// offsets; the activation norms and gradient flow are drawn from the JSON.
			md := filepath.Join(t.TempDir(), "report.md")
			_, stderr, code = nanoscope(t, "diagnose", "--checkpoint", dir, "--data", data, "--positions", "512", "--format", "md", "--report", md)
			if b, err := os.ReadFile(md); code != 0 || err != nil || strings.Count(string(b), "data:image/png;base64,") != 2 {
				t.Errorf("diagnose --format md: exit %d, stderr %q, %d figures (%v)", code, stderr, strings.Count(string(b), "data:image/png;base64,"), err)
			}
			for what, draw := range map[string]func(string, *analysis.Report) (plots.Figure, error){
				"activation norms": report.ActNormsFigure, "gradient flow": report.GradFlowFigure} {
				if fig, err := draw("x", &rep); err != nil || len(fig.PNG) == 0 {
					t.Errorf("%s figure: %v", what, err)
				}
			}
		})
	}
}
