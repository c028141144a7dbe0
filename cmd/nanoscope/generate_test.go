package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"nanoscope/gomlxmodel/load"
)

// generate as a user runs it, on a Llama drawn by transformers (config.json's eos_token_id 2):
// greedy ids are the same with and without the KV cache, every step reports its top-k with
// probabilities in decreasing order, a --stop id ends the run (included), and config.json's
// eos_token_id is an end-of-text id.
func TestGenerateCLI(t *testing.T) {
	dir := "../../gomlxmodel/hf/testdata/hf/llama_random_gqa"
	run := func(args ...string) generateJSON {
		t.Helper()
		stdout, stderr, code := nanoscope(t, append([]string{"generate", "--checkpoint", dir, "--tokens", "5,6,7,8", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var out generateJSON
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cached := run("--max-new", "10", "--show-topk", "3", "--no-stop")
	full := run("--max-new", "10", "--no-cache", "--no-stop")
	if len(cached.Generated) != 10 || !slices.Equal(cached.Generated, full.Generated) {
		t.Fatalf("cached %v, no cache %v", cached.Generated, full.Generated)
	}
	for i, s := range cached.Steps {
		if len(s.Top) != 3 || s.Top[0].ID != s.ID || !(s.Top[0].Prob >= s.Top[1].Prob && s.Top[1].Prob >= s.Top[2].Prob) {
			t.Fatalf("step %d: id %d, top %+v", i, s.ID, s.Top)
		}
	}
	stop := cached.Generated[3]
	first := slices.Index(cached.Generated, stop)
	stopped := run("--max-new", "10", "--no-stop", "--stop", strconv.Itoa(stop))
	if stopped.Stopped != "stop_id" || !slices.Equal(stopped.Generated, cached.Generated[:first+1]) {
		t.Fatalf("--stop %d: %v (%s)", stop, stopped.Generated, stopped.Stopped)
	}
	l, err := load.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := l.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	eos, err := endOfText(l, tk)
	if err != nil || !slices.Equal(eos, []int{2}) {
		t.Fatalf("end-of-text ids %v (%v), want config.json's [2]", eos, err)
	}
	if _, stderr, code := nanoscope(t, "generate", "--checkpoint", dir, "--tokens", "5", "--fault", "nope"); code != 2 {
		t.Fatalf("--fault nope: exit %d, %s", code, stderr)
	}
}
