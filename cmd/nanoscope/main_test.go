package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"nanoscope/gomlxmodel/checkpoint"
)

// The CLI is tested as a user runs it: a built binary, its exit status, stdout and stderr.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nanoscope-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "nanoscope")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func nanoscope(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestHelpOnEveryCommand(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := nanoscope(t, name, "--help")
			if code != 0 || !strings.Contains(stdout, "Usage: nanoscope "+name) || stderr != "" {
				t.Fatalf("%s --help: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
			}
		})
	}
}

// A small Rust tree → corpus → a few training steps → strict load → logits as JSON; then the
// same checkpoint damaged in several ways must be refused with one line and exit status 1.
// smallCorpus writes a small Rust tree and builds its corpus.
func smallCorpus(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for i := 0; i < 12; i++ {
		body := fmt.Sprintf("fn main() {\n    let x%d = %d;\n    println!(\"{}\", x%d + 1);\n}\n", i, i, i)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d.rs", i)), []byte(strings.Repeat(body, 20)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	if out, stderr, code := nanoscope(t, "corpus", "--src", src, "--out", data, "--vocab", "64", "--val-frac", "0.2"); code != 0 {
		t.Fatalf("corpus: exit %d\n%s\n%s", code, out, stderr)
	}
	return data
}

var tinyTrain = []string{"--preset", "cpu", "--dim", "32", "--seq", "16", "--batch", "2", "--eval-windows", "2"}

func TestCorpusTrainLogitsAndStrictErrors(t *testing.T) {
	data := smallCorpus(t)
	ck := filepath.Join(t.TempDir(), "ck")
	out, stderr, code := nanoscope(t, append([]string{"train", "--data", data, "--out", ck, "--steps", "3"}, tinyTrain...)...)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "ETA") {
		t.Errorf("train printed no progress line with ETA:\n%s", stderr)
	}
	for _, f := range []string{"model.safetensors", "meta.json", "vocab.json", "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Errorf("checkpoint lacks %s: %v", f, err)
		}
	}
	out, stderr, code = nanoscope(t, "logits", "--checkpoint", ck, "--tokens", "22184,1388,3419,1391", "--topk", "3", "--json")
	if code != 0 {
		t.Fatalf("logits: exit %d\n%s", code, stderr)
	}
	var res logitsJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("logits --json is not JSON: %v\n%s", err, out)
	}
	if len(res.Tokens) != 4 || len(res.Positions) != 4 || len(res.Positions[0].Top) != 3 {
		t.Fatalf("logits --json: %d tokens, %d positions, %d top: %s", len(res.Tokens), len(res.Positions), len(res.Positions[0].Top), out)
	}
	for _, p := range res.Positions {
		if p.Top[0].Logit < p.Top[1].Logit || p.Top[1].Logit < p.Top[2].Logit {
			t.Fatalf("top-k not sorted: %+v", p.Top)
		}
	}

	// Damaged copies of the checkpoint.
	for _, tc := range []struct {
		name, want string
		damage     func(dir string) error
	}{
		{"truncated safetensors", "model.safetensors", func(d string) error {
			p := filepath.Join(d, "model.safetensors")
			st, _ := os.Stat(p)
			return os.Truncate(p, st.Size()-100)
		}},
		{"bad meta.json", "meta.json", func(d string) error {
			return os.WriteFile(filepath.Join(d, "meta.json"), []byte(`{"config": {"dim": 32}, "step": 3, "loss": 1}`), 0o644)
		}},
		{"missing model", "model.safetensors", func(d string) error { return os.Remove(filepath.Join(d, "model.safetensors")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := os.CopyFS(dir, os.DirFS(ck)); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := nanoscope(t, "logits", "--checkpoint", dir, "--tokens", "1,2")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.Contains(last, tc.want) || strings.Contains(stderr, "goroutine") {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
		})
	}
	// Out-of-range ids are rejected with their position.
	_, stderr, code = nanoscope(t, "logits", "--checkpoint", ck, "--model-ids", "--tokens", "1,99999")
	if code != 2 || !strings.Contains(stderr, "position 1") {
		t.Fatalf("out-of-range id: exit %d, stderr %q", code, stderr)
	}
}

// A training process killed with SIGKILL (at an arbitrary moment, possibly mid-save) or
// stopped with SIGINT leaves a checkpoint that loads strictly, and --resume ends with exactly
// the weights of an uninterrupted run.
func TestKilledAndInterruptedRunsResumeExactly(t *testing.T) {
	data := smallCorpus(t)
	const steps = "40"
	args := func(out string) []string {
		return append([]string{"train", "--data", data, "--out", out, "--steps", steps, "--save-every", "3"}, tinyTrain...)
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if _, stderr, code := nanoscope(t, args(whole)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	want, err := checkpoint.Load(whole)
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []os.Signal{syscall.SIGKILL, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cmd := exec.Command(binary, args(out)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until a few steps are logged, then signal.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
				if strings.Count(string(b), "\"kind\":\"train\"") >= 8 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			ee, _ := err.(*exec.ExitError)
			if sig == os.Interrupt && (ee == nil || ee.ExitCode() != 130) {
				t.Fatalf("SIGINT: want exit status 130, got %v", err)
			}
			ck, err := checkpoint.Load(out)
			if err != nil {
				t.Fatalf("after %s the checkpoint does not load: %v", sig, err)
			}
			t.Logf("%s: last good checkpoint at step %d", sig, ck.Meta.Step)
			if _, stderr, code := nanoscope(t, "train", "--data", data, "--out", out, "--resume"); code != 0 {
				t.Fatalf("resume: exit %d\n%s", code, stderr)
			}
			got, err := checkpoint.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Meta.Step != want.Meta.Step {
				t.Fatalf("resumed run ended at step %d, want %d", got.Meta.Step, want.Meta.Step)
			}
			for name := range want.Tensors {
				if checkpoint.TensorHash(want.Tensors[name]) != checkpoint.TensorHash(got.Tensors[name]) {
					t.Fatalf("tensor %s differs from the uninterrupted run", name)
				}
			}
		})
	}
}

// Every damaged checkpoint of the corrupt corpus is refused by the CLI with one line naming
// the problem, exit status 1, no panic or stack trace, and no large allocation.
func TestCorruptCheckpointsFailCleanly(t *testing.T) {
	root := filepath.Join("..", "..", "gomlxmodel", "checkpoint", "testdata", "corrupt")
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) == 0 {
		t.Fatalf("corrupt corpus missing: %v", err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(root, e.Name())
			want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, "logits", "--checkpoint", dir, "--tokens", "1,2")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err = cmd.Run()
			ee, ok := err.(*exec.ExitError)
			msg := strings.TrimSpace(stderr.String())
			switch {
			case !ok || ee.ExitCode() != 1:
				t.Fatalf("want exit status 1, got %v; stderr %q", err, msg)
			case strings.Count(msg, "\n") > 0:
				t.Fatalf("want one line, got:\n%s", msg)
			case strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine"):
				t.Fatalf("panic: %s", msg)
			case !strings.Contains(msg, strings.TrimSpace(string(want))):
				t.Fatalf("error %q does not mention %q", msg, strings.TrimSpace(string(want)))
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 300*1024 {
				t.Fatalf("peak memory %d MiB", ru.Maxrss/1024)
			}
		})
	}
}
