package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
	"nanoscope/gomlxmodel/load"
	"nanoscope/warm"
)

// A call is answered only from a loopback address with the session token, and the server
// listens on loopback addresses only.
func TestRefusesWrongTokenAndOtherAddresses(t *testing.T) {
	s, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	cases := []struct {
		name, remote, token string
		code                int
		says                string
	}{
		{"loopback with the token", "127.0.0.1:40000", s.Token, http.StatusOK, `"session":"t"`},
		{"loopback IPv6 with the token", "[::1]:40000", s.Token, http.StatusOK, `"session":"t"`},
		{"wrong token", "127.0.0.1:40000", strings.Repeat("0", len(s.Token)), http.StatusUnauthorized, "wrong or missing session token"},
		{"no token", "127.0.0.1:40000", "", http.StatusUnauthorized, "wrong or missing session token"},
		{"token prefix", "127.0.0.1:40000", s.Token[:10], http.StatusUnauthorized, "wrong or missing session token"},
		{"LAN peer with the token", "192.168.1.20:40000", s.Token, http.StatusForbidden, "192.168.1.20:40000 is not a loopback address"},
		{"public peer with the token", "203.0.113.9:40000", s.Token, http.StatusForbidden, "is not a loopback address"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/v1/health", strings.NewReader("{}"))
		r.RemoteAddr = c.remote
		if c.token != "" {
			r.Header.Set(warm.TokenHeader, c.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.says) {
			t.Errorf("%s: HTTP %d %q, want %d containing %q", c.name, w.Code, w.Body.String(), c.code, c.says)
		}
	}
	if s.requests != 2 {
		t.Errorf("%d calls reached the server, want the 2 allowed", s.requests)
	}
	for _, addr := range []string{"0.0.0.0:0", "192.168.1.20:0", "[::]:0", "example.com:0"} {
		if ln, err := Listen(addr); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q): %v, want a refusal", addr, err)
		}
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen(127.0.0.1:0): %v", err)
	}
	ln.Close()
}

// tinyConfig is a small ternary model with a vocabulary of 40.
func tinyConfig() (config.Config, config.Variant) {
	c := config.D20()
	c.Dim, c.NLayers, c.NHeads, c.NKVHeads, c.FFNMult = 32, 2, 4, 2, 1.5
	c.VocabSize, c.MaxSeqLen, c.GroupSize, c.BatchSize = 40, 16, 16, 4
	v := config.DefaultVariant()
	v.Tokenizer, v.VocabMap = "", ""
	return c, v
}

// saveTiny writes a tiny nanoscope checkpoint with weights of seed into dir.
func saveTiny(t *testing.T, dir string, seed int64) {
	t.Helper()
	c, v := tinyConfig()
	if err := checkpoint.Save(dir, gomlxmodel.InitParams(c, v, seed), checkpoint.Meta{Config: c, Variant: v, HasVariant: true, Step: int(seed)}); err != nil {
		t.Fatal(err)
	}
}

// inProcess is what a cell computes without the server: load, subject, the family's runner.
func inProcess(t *testing.T, dir string, ids []int32, k int) ([][]analysis.TokenPrediction, analysis.TokenLens) {
	t.Helper()
	l, err := load.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := analysis.FromLoaded(l)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Runner() // a fresh graph, not the server's
	if err != nil {
		t.Fatal(err)
	}
	logits, err := r.Logits([][]int32{ids})
	if err != nil {
		t.Fatal(err)
	}
	V := l.Family.Dims().VocabSize
	var top [][]analysis.TokenPrediction
	for p := range ids {
		row := logits[p*V : (p+1)*V]
		// the k largest by a full sort, ties by the smaller id
		idx := make([]int, V)
		for i := range idx {
			idx[i] = i
		}
		for i := 0; i < k; i++ {
			for j := i + 1; j < V; j++ {
				if row[idx[j]] > row[idx[i]] || row[idx[j]] == row[idx[i]] && idx[j] < idx[i] {
					idx[i], idx[j] = idx[j], idx[i]
				}
			}
		}
		var r []analysis.TokenPrediction
		for _, j := range idx[:k] {
			r = append(r, analysis.TokenPrediction{ID: j, Logit: float64(row[j])})
		}
		top = append(top, r)
	}
	s2, err := analysis.FromLoaded(l)
	if err != nil {
		t.Fatal(err)
	}
	lens, err := analysis.LogitLensTokens(s2, ids)
	if err != nil {
		t.Fatal(err)
	}
	return top, lens
}

// viaHTTP posts req to the server's handler from a loopback address and decodes the answer.
func viaHTTP(t *testing.T, s *Server, op string, req, out any) {
	t.Helper()
	body, _ := json.Marshal(req)
	r := httptest.NewRequest(http.MethodPost, "/v1/"+op, bytes.NewReader(body))
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set(warm.TokenHeader, s.Token)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", op, w.Code, w.Body.String())
	}
	if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
		t.Fatal(err)
	}
}

// checkSame compares the server's answers (through JSON) with the in-process ones exactly.
func checkSame(t *testing.T, name string, got warm.TopK, gotLens warm.Lens, want [][]analysis.TokenPrediction, wantLens analysis.TokenLens) {
	t.Helper()
	for p := range want {
		for r := range want[p] {
			g, w := got.Top[p][r], want[p][r]
			if g.ModelID != w.ID || g.Logit != w.Logit {
				t.Fatalf("%s: position %d rank %d: server id %d logit %v, in process id %d logit %v", name, p, r, g.ModelID, g.Logit, w.ID, w.Logit)
			}
		}
	}
	for d := range wantLens.Margin {
		for p := range wantLens.Margin[d] {
			if gotLens.Margin[d][p] != wantLens.Margin[d][p] || gotLens.Argmax[d][p].ModelID != wantLens.Argmax[d][p] {
				t.Fatalf("%s: lens %s position %d: server margin %v argmax %d, in process %v %d", name, wantLens.Depths[d], p,
					gotLens.Margin[d][p], gotLens.Argmax[d][p].ModelID, wantLens.Margin[d][p], wantLens.Argmax[d][p])
			}
		}
	}
	if gotLens.OnTop != wantLens.OnTop || gotLens.Cells != wantLens.Cells || len(gotLens.Depths) != len(wantLens.Depths) {
		t.Fatalf("%s: lens %d of %d cells on top over %d depths, in process %d of %d over %d", name, gotLens.OnTop, gotLens.Cells, len(gotLens.Depths), wantLens.OnTop, wantLens.Cells, len(wantLens.Depths))
	}
}

// The server's top-k and lens equal the in-process ones exactly (ids and float32 logits), for
// every family; a second question of a length already seen compiles nothing and the same
// question again is answered from the memo.
func TestSameAnswersAsInProcess(t *testing.T) {
	tiny := t.TempDir()
	saveTiny(t, tiny, 1)
	cases := []struct {
		name, dir string
		ids, ids2 []int32
	}{
		{"nanoscope", tiny, []int32{3, 17, 5, 39, 0}, []int32{1, 2, 3, 4, 5}},
		{"gpt2", "../../gomlxmodel/hf/testdata/hf/gpt2_trained_sharded", []int32{102, 110, 32, 109}, []int32{101, 32, 102, 103}},
		{"llama", "../../gomlxmodel/hf/testdata/hf/llama_trained_bf16", []int32{102, 110, 32, 109, 97}, []int32{104, 105, 32, 106, 97}},
		{"nanochat", "../../gomlxmodel/load/testdata/nanochat/trained", []int32{102, 110, 32, 109}, []int32{1, 2, 3, 4}},
	}
	s, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	const k = 5
	for _, c := range cases {
		dir, err := filepath.Abs(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		wantTop, wantLens := inProcess(t, dir, c.ids, k)
		p := warm.Prompt{Checkpoint: dir, IDs: ints(c.ids), ModelIDs: true}
		var top warm.TopK
		var lens warm.Lens
		viaHTTP(t, s, "topk", warm.TopKRequest{Prompt: p, K: k}, &top)
		viaHTTP(t, s, "lens", p, &lens)
		checkSame(t, c.name, top, lens, wantTop, wantLens)
		if top.Cached || lens.Cached || top.Model.Arch != c.name {
			t.Fatalf("%s: first answers cached %v %v, arch %q", c.name, top.Cached, lens.Cached, top.Model.Arch)
		}
		compiles := lens.Model.Compiles
		if compiles != 2 {
			t.Fatalf("%s: %d graphs compiled for top-k and lens, want 2", c.name, compiles)
		}
		// Another prompt of the same length: no new graph, and the in-process answer again.
		wantTop2, wantLens2 := inProcess(t, dir, c.ids2, k)
		p2 := warm.Prompt{Checkpoint: dir, IDs: ints(c.ids2), ModelIDs: true}
		viaHTTP(t, s, "topk", warm.TopKRequest{Prompt: p2, K: k}, &top)
		viaHTTP(t, s, "lens", p2, &lens)
		checkSame(t, c.name+" (second prompt)", top, lens, wantTop2, wantLens2)
		if lens.Model.Compiles != compiles {
			t.Fatalf("%s: a prompt of a length already seen compiled %d more graphs", c.name, lens.Model.Compiles-compiles)
		}
		viaHTTP(t, s, "topk", warm.TopKRequest{Prompt: p, K: k}, &top)
		if !top.Cached || top.Model.Loads != 1 {
			t.Fatalf("%s: the same question again: cached %v, loads %d", c.name, top.Cached, top.Model.Loads)
		}
		checkSame(t, c.name+" (memo)", top, lens, wantTop, wantLens2)
	}
}

func ints(x []int32) []int {
	out := make([]int, len(x))
	for i, v := range x {
		out[i] = int(v)
	}
	return out
}

// A checkpoint rewritten on disk is read again, and the answers are the new weights'.
func TestReloadWhenCheckpointChanges(t *testing.T) {
	dir := t.TempDir()
	saveTiny(t, dir, 1)
	s, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{3, 17, 5, 39, 0}
	p := warm.Prompt{Checkpoint: dir, IDs: ints(ids), ModelIDs: true}
	var before, after warm.TopK
	viaHTTP(t, s, "topk", warm.TopKRequest{Prompt: p, K: 3}, &before)
	want1, _ := inProcess(t, dir, ids, 3)
	saveTiny(t, dir, 2) // other weights, same size: the modification time tells
	past := time.Now().Add(time.Minute)
	for _, f := range []string{"model.safetensors", "meta.json"} {
		if err := os.Chtimes(filepath.Join(dir, f), past, past); err != nil {
			t.Fatal(err)
		}
	}
	viaHTTP(t, s, "topk", warm.TopKRequest{Prompt: p, K: 3}, &after)
	want2, wantLens2 := inProcess(t, dir, ids, 3)
	if after.Cached || after.Model.Loads != 2 {
		t.Fatalf("after the rewrite: cached %v, loads %d, want a fresh answer from a second load", after.Cached, after.Model.Loads)
	}
	var lens warm.Lens
	viaHTTP(t, s, "lens", p, &lens)
	checkSame(t, "seed 1", before, lens, want1, wantLens2)
	checkSame(t, "seed 2", after, lens, want2, wantLens2)
	if before.Top[0][0].Logit == after.Top[0][0].Logit {
		t.Fatalf("the top logit %v did not change with the weights", after.Top[0][0].Logit)
	}
}
