package nbutil

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

const llamaFixture = "gomlxmodel/hf/testdata/hf/llama_trained_bf16"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RootFrom(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestOpenExplorerErrors(t *testing.T) {
	root := repoRoot(t)
	for _, c := range []struct{ dir, tok, want string }{
		{llamaFixture, "", `records no tokenizer (vocabulary of 260 ids): pass "gpt2" or "bytes"`},
		{llamaFixture, "sentencepiece", `tokenizer "sentencepiece" is not "gpt2" or "bytes"`},
		{"no/such/dir", TokBytes, "no/such/dir"},
	} {
		_, err := OpenExplorer(root, c.dir, c.tok)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenExplorer(%s, %q): error %v, want one containing %q", c.dir, c.tok, err, c.want)
		}
	}
}

// Bytes in, the same bytes back; top-k is the logits' order with softmax probabilities.
func TestExplorerBytesAndTop(t *testing.T) {
	root := repoRoot(t)
	e, err := OpenExplorer(root, filepath.Join(root, llamaFixture), TokBytes) // an absolute path
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.Encode("\treturn g(x")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 11 || ids[0] != '\t' || ids[10] != 'x' {
		t.Fatalf("bytes %v", ids)
	}
	if got := strings.Join(e.Tokens(ids[1:7]), ""); got != `"r""e""t""u""r""n"` {
		t.Fatalf("tokens %s", got)
	}
	top, err := e.Top(ids, 5)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Runner.Run([][]int32{ids}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := res["logits"]
	V := l.Shape[2]
	row := l.Data[(len(ids)-1)*V:]
	best, z := 0, 0.0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	for _, v := range row {
		z += math.Exp(float64(v - row[best]))
	}
	if top[0].ID != best || math.Abs(top[0].Prob-1/z) > 1e-6 {
		t.Fatalf("top %+v, argmax %d with p %g", top[0], best, 1/z)
	}
	for i := 1; i < len(top); i++ {
		if top[i].Logit > top[i-1].Logit {
			t.Fatalf("top-k out of order: %+v", top)
		}
	}
}
