package main

import (
	le "encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/analysis"
)

// byteTokens writes the bytes of this package's Go sources (the kind of text the trained
// Hugging Face fixtures learned, one id per byte) as a u32 token file.
func byteTokens(t *testing.T, n int) string {
	files, _ := filepath.Glob("*.go")
	var b []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, data...)
	}
	b = b[:min(n, len(b))]
	out := make([]byte, 4*len(b))
	for i, c := range b {
		le.LittleEndian.PutUint32(out[4*i:], uint32(c))
	}
	path := filepath.Join(t.TempDir(), "bytes.bin")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `diagnose` and `inspect --checkpoint HF_DIR` work as for nanoscope's checkpoints: a trained
// fixture is healthy, a random one is weights_untrained; ids come from --data or --tokens, and
// what cannot be done is one line.
func TestDiagnoseInspectHuggingFace(t *testing.T) {
	fix := filepath.Join("..", "..", "gomlxmodel", "hf", "testdata", "hf")
	data := byteTokens(t, 20000)
	for name, healthy := range map[string]bool{"llama_trained_tied_sharded": true, "gpt2_random": false} {
		stdout, stderr, code := nanoscope(t, "diagnose", "--checkpoint", filepath.Join(fix, name), "--data", data, "--positions", "256", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		var rep analysis.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Healthy != healthy || (!healthy && (len(rep.Findings) == 0 || rep.Findings[0].Kind != analysis.KindWeightsUntrained)) {
			t.Errorf("%s: healthy %v, findings %+v", name, rep.Healthy, rep.Findings)
		}
		if rep.Hypotheses[2].Verdict != analysis.NotApplicable || rep.Hypotheses[6].Verdict != analysis.NotApplicable {
			t.Errorf("%s: H3 %s, H7 %s, want not applicable", name, rep.Hypotheses[2].Verdict, rep.Hypotheses[6].Verdict)
		}
	}
	stdout, stderr, code := nanoscope(t, "diagnose", "--checkpoint", filepath.Join(fix, "llama_trained_bf16"),
		"--tokens", "112,97,99,107,97,103,101,32,109,97,105,110,10,10,105,109,112,111,114,116")
	if code != 0 || !strings.HasPrefix(stdout, "healthy: ") || !strings.Contains(stdout, "H3 not applicable") {
		t.Errorf("diagnose --tokens: exit %d, stderr %q, stdout %.300q", code, stderr, stdout)
	}
	stdout, stderr, code = nanoscope(t, "inspect", "--checkpoint", filepath.Join(fix, "gpt2_random"))
	if code != 0 || !strings.Contains(stdout, "init_like") || !strings.Contains(stdout, "Conv1D") {
		t.Errorf("inspect: exit %d, stderr %q, stdout %.400q", code, stderr, stdout)
	}
	// code: the exit status when it matters (2: a flag's value, as in logits), else any non-zero.
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--text", "fn main"}, "vocabulary has 301 ids, not GPT-2's 50257", 0},
		{[]string{}, "needs evaluation ids: --data TOKENFILE, --tokens IDS or --text TEXT", 2},
		{[]string{"--tokens", "1,2,3"}, "3 ids are too few", 2},
		{[]string{"--tokens", "1,2,301,4,5,6,7"}, "token id 301 at position 2 >= vocab_size 301", 2},
		{[]string{"--tokens", "1,2,3", "--observed", "note"}, "--observed: the observation check is for nanoscope's checkpoints", 0},
		{[]string{"--data", "."}, "is a corpus directory", 0},
		{[]string{"--tokens", "1,2,3,4,5,6", "--format", "html"}, "use text or json for a Hugging Face checkpoint", 2},
	} {
		args := append([]string{"diagnose", "--checkpoint", filepath.Join(fix, "gpt2_random")}, tc.args...)
		_, stderr, code := nanoscope(t, args...)
		if code == 0 || tc.code != 0 && code != tc.code || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "nanoscope diagnose: ") {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
