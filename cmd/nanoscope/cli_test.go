package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"nanoscope/gomlxmodel/config"
)

// The command line as a user meets it. Each row is a command, its exit status and the one
// line expected: on stderr's first line for a failure, anywhere on stdout for a success.
// Failures must be one line (usage errors: one line plus the --help hint), read once (no
// repeated prefix) and name flags, not Go fields.

// cliFixture is what the table's commands run on: two corpora with different compact
// vocabularies (a Rust and a Go tree), a finished tiny run on the Rust one and one on the Go
// one (whose vocabulary lacks the investigation note's tokens).
type cliFixture struct {
	root, rustSrc, goSrc, emptySrc, data, godata, run, gorun string
	// Corpora of the two trees with compact vocabularies of the same size (16), and a run on
	// the Rust one: the ids of either are in range for the other's model.
	data16, godata16, run16 string
	// gpt2run reads GPT-2 ids (no compact vocabulary).
	gpt2run string
}

var (
	fixtureOnce sync.Once
	fixture     cliFixture
	fixtureErr  error
)

func writeTree(dir, ext string, body func(i int) string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < 12; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d%s", i, ext)), []byte(strings.Repeat(body(i), 20)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func getFixture(t *testing.T) cliFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		f := cliFixture{root: filepath.Join(filepath.Dir(binary), "fixture")}
		f.rustSrc, f.goSrc, f.emptySrc = filepath.Join(f.root, "rs"), filepath.Join(f.root, "go"), filepath.Join(f.root, "empty")
		f.data, f.godata = filepath.Join(f.root, "data"), filepath.Join(f.root, "godata")
		f.run, f.gorun = filepath.Join(f.root, "run"), filepath.Join(f.root, "gorun")
		f.data16, f.godata16, f.run16 = filepath.Join(f.root, "data16"), filepath.Join(f.root, "godata16"), filepath.Join(f.root, "run16")
		f.gpt2run = filepath.Join(f.root, "gpt2run")
		fixtureErr = writeTree(f.rustSrc, ".rs", func(i int) string {
			return fmt.Sprintf("fn main() {\n    let x%d = %d;\n    println!(\"{}\", x%d + 1);\n}\n", i, i, i)
		})
		if fixtureErr == nil {
			fixtureErr = writeTree(f.goSrc, ".go", func(i int) string {
				return fmt.Sprintf("package p\n\nfunc f%d() int {\n\treturn %d * 7\n}\n", i, i)
			})
		}
		if fixtureErr == nil {
			fixtureErr = writeTree(f.emptySrc, ".txt", func(i int) string { return "notes\n" })
		}
		for _, a := range [][]string{
			{"corpus", "--src", f.rustSrc, "--out", f.data, "--vocab", "64", "--val-frac", "0.2"},
			{"corpus", "--src", f.goSrc, "--out", f.godata, "--vocab", "64", "--val-frac", "0.2"},
			append([]string{"train", "--data", f.data, "--out", f.run, "--steps", "3"}, tinyTrain...),
			append([]string{"train", "--data", f.godata, "--out", f.gorun, "--steps", "2"}, tinyTrain...),
			{"corpus", "--src", f.rustSrc, "--out", f.data16, "--vocab", "16", "--val-frac", "0.2"},
			{"corpus", "--src", f.goSrc, "--out", f.godata16, "--vocab", "16", "--val-frac", "0.2"},
			append([]string{"train", "--data", f.data16, "--out", f.run16, "--steps", "2"}, tinyTrain...),
			append([]string{"train", "--data", f.data, "--out", f.gpt2run, "--steps", "1", "--ids", "gpt2"}, tinyTrain...),
		} {
			if fixtureErr != nil {
				break
			}
			if _, stderr, code := nanoscope(t, a...); code != 0 {
				fixtureErr = fmt.Errorf("%s: exit %d\n%s", strings.Join(a, " "), code, stderr)
			}
		}
		fixture = f
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

var (
	camelCase = regexp.MustCompile(`^[A-Z][a-z]+[A-Z][a-z]+[A-Za-z]*$`)
)

// repeatedPrefix reports whether a message repeats a segment: "nanoscope corpus: corpus: ..."
// or "a: a: ...".
func repeatedPrefix(msg string) bool {
	parts := strings.Split(strings.TrimPrefix(msg, "nanoscope "), ": ")
	for i := 1; i < len(parts); i++ {
		if parts[i] == parts[i-1] {
			return true
		}
	}
	return false
}

func TestCLITable(t *testing.T) {
	f := getFixture(t)
	tmp := t.TempDir()
	j := filepath.Join
	train := func(args ...string) []string {
		return append(append([]string{"train", "--data", f.data, "--out", j(tmp, "new")}, tinyTrain...), args...)
	}
	logits := func(args ...string) []string {
		return append([]string{"logits", "--checkpoint", f.run}, args...)
	}
	// other is the run's corpus with another train split (the same vocab.json).
	other := j(tmp, "other")
	if err := os.CopyFS(other, os.DirFS(f.data)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(j(other, "train.compact.bin")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(j(other, "train.compact.bin"), b[:len(b)/8*4], 0o644); err != nil {
		t.Fatal(err)
	}
	diagnose := func(args ...string) []string {
		return append([]string{"diagnose", "--checkpoint", f.run, "--positions", "16"}, args...)
	}
	// Hugging Face checkpoints with a file beside the weights: each is read, judged inert or
	// refused naming it (hf.CheckpointFiles).
	hfDir := func(name string, extra ...string) string {
		dir := j(tmp, name)
		if err := os.CopyFS(dir, os.DirFS(j("..", "..", "gomlxmodel", "hf", "testdata", "hf", "gpt2_random"))); err != nil {
			t.Fatal(err)
		}
		for _, e := range extra {
			if err := os.MkdirAll(filepath.Dir(j(dir, e)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(j(dir, e), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	hfInert := hfDir("hf_inert", "tokenizer.json", "checkpoint-500/optimizer.pt")
	hfBin, hfCode, hfOther := hfDir("hf_bin", "pytorch_model.bin"), hfDir("hf_code", "modeling_foo.py"), hfDir("hf_other", "foo.json")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		// Top level and help: help on stdout, status 0; a wrong command, status 2.
		{nil, 2, "Usage: nanoscope COMMAND"},
		{[]string{"--help"}, 0, "Usage: nanoscope COMMAND"},
		{[]string{"help"}, 0, "Usage: nanoscope COMMAND"},
		{[]string{"help", "train"}, 0, "Usage: nanoscope train --preset cpu|tiny_cpu|d20|d40|d60 --data DIR --out DIR"},
		{[]string{"help", "diagnose"}, 0, "--format FORMAT"},
		{[]string{"train", "--help"}, 0, "  --data DIR"},
		{[]string{"corpus", "-h"}, 0, "  --src DIR"},
		{[]string{"help", "frobnicate"}, 2, `nanoscope help: unknown command "frobnicate"`},
		{[]string{"frobnicate"}, 2, `nanoscope: unknown command "frobnicate"`},
		{[]string{"version"}, 0, "gomlx:   v"},
		{train("--devices", "2"), 2, "nanoscope train: --devices 2: the backend (go:parallelism=-1) has 1 device(s)"},
		{[]string{"completion", "bash"}, 0, "train) opts=\"--batch --cpuprofile --data"},
		{[]string{"completion"}, 2, "nanoscope completion: which shell? nanoscope completion bash"},
		{[]string{"completion", "zsh"}, 2, `shell "zsh" is not supported (bash is)`},

		// Wrong flags and arguments: one line, status 2.
		{[]string{"corpus", "--bogus"}, 2, "nanoscope corpus: unknown flag --bogus"},
		{[]string{"train", "--bogus", "1"}, 2, "nanoscope train: unknown flag --bogus"},
		{[]string{"logits", "-x"}, 2, "nanoscope logits: unknown flag --x"},
		{[]string{"inspect", "--checkpoint", f.run, "extra"}, 2, `nanoscope inspect: unexpected argument "extra"`},
		{[]string{"diagnose", "--checkpoint"}, 2, "nanoscope diagnose: flag needs an argument: --checkpoint"},
		{[]string{"version", "--json"}, 2, "nanoscope version: unknown flag --json"},
		{train("--steps", "abc"), 2, `invalid value "abc" for flag --steps`},
		{train("--no-ternary=maybe"), 2, `invalid boolean value "maybe" for --no-ternary`},
		{[]string{"inspect"}, 2, "--checkpoint is required"},
		{[]string{"serve"}, 2, "--state is required"},
		{[]string{"serve", "--state", j(tmp, "warm", "s.json"), "--addr", "0.0.0.0:0"}, 1, `address "0.0.0.0:0" is not a loopback address`},
		{[]string{"train", "--out", j(tmp, "x")}, 2, "--data is required"},

		// Every count, size and rate is range-checked, naming the flag.
		{train("--steps", "0"), 2, "--steps must be at least 1 (got 0)"},
		{train("--steps", "-1"), 2, "--steps must be at least 1 (got -1)"},
		{train("--batch", "0"), 2, "--batch must be at least 1"},
		{train("--dim", "-8"), 2, "--dim must be at least 1"},
		{train("--dim", "30"), 2, "--dim 30 is not a multiple of n_heads 4"},
		{train("--dim", "12"), 2, "--dim 12 gives head_dim 3"},
		{train("--layers", "0"), 2, "--layers must be at least 1"},
		{train("--seq", "1"), 2, "--seq must be at least 2"},
		{train("--kv-heads", "3"), 2, "--kv-heads 3 does not divide n_heads 4"},
		{train("--kv-heads", "0"), 2, "--kv-heads must be at least 1"},
		{train("--lr", "-0.1"), 2, "--lr must be a positive finite number"},
		{train("--lr", "NaN"), 2, "--lr must be a positive finite number (got NaN)"},
		{train("--mhc-lr", "0"), 2, "--mhc-lr must be a positive finite number"},
		{train("--target-shift", "4"), 2, "--target-shift must be in [0, 3] (got 4)"},
		{train("--eval-every", "0"), 2, "--eval-every must be at least 1"},
		{train("--eval-windows", "-2"), 2, "--eval-windows must be at least 1"},
		{train("--log-every", "0"), 2, "--log-every must be at least 1"},
		{train("--metrics-every", "0"), 2, "--metrics-every must be at least 1"},
		{train("--save-every", "0"), 2, "--save-every must be at least 1"},
		{train("--preset", "huge"), 2, "--preset must be cpu or tiny_cpu or d20"},
		{train("--optimizer", "sgd"), 2, "--optimizer must be muon-lion or adamw"},
		{train("--ids", "bytes"), 2, "--ids must be compact or gpt2"},
		{train("--rope-layout", "spiral"), 2, "--rope-layout must be halves or interleaved"},
		{train("--gqa-map", "random"), 2, "--gqa-map must be tile or interleave"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--val-frac", "1.5"}, 2, "--val-frac must be in (0, 1) (got 1.5)"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--val-frac", "0"}, 2, "--val-frac must be in (0, 1) (got 0)"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--vocab", "1"}, 2, "--vocab must be in [2, 50258] (got 1)"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--vocab", "60000"}, 2, "--vocab must be in [2, 50258]"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--max-bytes", "-5"}, 2, "--max-bytes must be at least 0"},
		{[]string{"corpus", "--out", j(tmp, "c"), "--lang", "cobol"}, 2, "--lang must be one of"},
		{logits("--tokens", "1", "--topk", "0"), 2, "--topk must be at least 1 (got 0)"},
		{logits("--tokens", "1", "--topk", "5000"), 2, "--topk 5000 exceeds the checkpoint's vocab_size"},
		{logits("--tokens", "1", "--rope-layout", "spiral"), 2, "--rope-layout must be halves or interleaved (got \"spiral\"; the nanoscope convention rope_pairing)"},
		{logits("--tokens", "1", "--convention", "causal=no"), 2, "--convention causal must be true or false (got \"no\")"},
		{logits("--tokens", "1", "--convention", "attn_temperature=abc"), 2, "--convention attn_temperature=abc: value \"abc\" is not a positive number"},
		{logits("--tokens", "1", "--convention", "attn=1"), 2, "--convention: nanoscope has no convention \"attn\" (its conventions: rope_pairing, rope_theta, gqa_mapping, causal, tied_head, attn_scale"},
		{logits("--tokens", "1", "--convention", "=1"), 2, "invalid value \"=1\" for flag --convention: \"=1\" is not name=value"},
		{logits("--tokens", "1,2", "--convention", "causal=false"), 0, "run with causal false instead of its true (--convention)"},
		{diagnose("--positions", "0"), 2, "--positions must be at least 1 (got 0)"},
		{diagnose("--seeds", "1,,2"), 2, `--seeds "1,,2": entry 2 is empty`},
		{diagnose("--seeds", "x"), 2, `--seeds: "x" is not an integer id`},
		{diagnose("--format", "pdf"), 2, "--format must be text or json or md or html"},
		{diagnose("--json", "--format", "md"), 2, "--json and --format md exclude each other"},
		{diagnose("--gqa-map", "x"), 2, "--gqa-map must be tile or interleave"},
		{diagnose("--convention", "tied_head=false"), 1, "--convention: checkpoint " + f.run + " under tied_head=false: nanoscope: missing parameter lm_head.weight"},
		{diagnose("--convention", "causal=false"), 0, "run with causal false instead of its true (--convention)"},

		// logits: strict ids.
		{logits("--tokens", "1,,2"), 2, `--tokens "1,,2": entry 2 is empty`},
		{logits("--tokens", "1,2,"), 2, `--tokens "1,2,": entry 3 is empty`},
		{logits("--tokens", ","), 2, `entry 1 is empty`},
		{logits("--tokens", "-3"), 2, "--tokens: id -3 is negative"},
		{logits("--tokens", "one"), 2, `--tokens: "one" is not an integer id`},
		{logits("--tokens", "99999"), 2, "id 99999 at position 0 is not a GPT-2 id"},
		{logits("--model-ids", "--tokens", "0,500"), 2, "id 500 at position 1 is outside the model's ids"},
		{logits("--tokens", "1", "--text", "fn"), 2, "exactly one of --tokens and --text is required"},
		{logits(), 2, "exactly one of --tokens and --text is required"},
		{logits("--text", " "), 0, "position 0  input 220"},

		// Paths: a file inside a checkpoint names the directory to pass; a missing path is said so.
		{[]string{"logits", "--checkpoint", j(f.run, "model.safetensors"), "--tokens", "1"}, 1, "is a file: pass the directory " + f.run},
		{[]string{"inspect", "--checkpoint", j(f.run, "meta.json")}, 1, "is a file: pass the directory " + f.run},
		{[]string{"diagnose", "--checkpoint", j(f.run, "meta.json")}, 1, "is a file: pass the directory " + f.run},
		{[]string{"inspect", "--checkpoint", j(tmp, "nothing")}, 1, "--checkpoint " + j(tmp, "nothing") + " does not exist"},
		{[]string{"logits", "--checkpoint", f.root, "--tokens", "1"}, 1, "meta.json"},
		{train("--seq", "100000"), 1, "tokens, fewer than one window of max_seq_len 100000 needs (100001)"},
		{train("--data", j(tmp, "nothing")), 1, "--data " + j(tmp, "nothing") + " does not exist"},
		{train("--data", j(f.rustSrc, "f00.rs")), 1, "is a file outside a corpus directory"},
		{diagnose("--data", j(tmp, "nothing")), 1, "--data " + j(tmp, "nothing") + " does not exist"},
		{[]string{"corpus", "--src", j(tmp, "nothing"), "--out", j(tmp, "c")}, 1, "--src " + j(tmp, "nothing") + " does not exist"},
		{[]string{"corpus", "--src", j(f.rustSrc, "f00.rs"), "--out", j(tmp, "c")}, 1, "is not a directory"},
		{[]string{"corpus", "--src", f.emptySrc, "--out", j(tmp, "c")}, 1, "has no source files of a known language"},
		{[]string{"corpus", "--src", f.goSrc, "--lang", "rust", "--out", j(tmp, "c")}, 1, "has 0 usable [.rs] files"},
		{[]string{"corpus", "--src", f.goSrc, "--out", j(tmp, "c2"), "--vocab", "16"}, 0, "(go): 12 files"},

		// The files beside Hugging Face weights are a closed list.
		{[]string{"inspect", "--checkpoint", hfInert}, 0, "files read: config.json, model.safetensors\n"},
		{[]string{"inspect", "--checkpoint", hfInert}, 0, "files judged inert (cannot change the logits): checkpoint-500 (a subdirectory: "},
		{[]string{"inspect", "--checkpoint", hfInert, "--json"}, 0, `"name": "tokenizer.json"`},
		{[]string{"inspect", "--checkpoint", hfBin}, 1, "checkpoint " + j(hfBin, "pytorch_model.bin") + ": torch weights as a pickle"},
		{[]string{"logits", "--checkpoint", hfCode, "--tokens", "1"}, 1, "checkpoint " + j(hfCode, "modeling_foo.py") + ": custom model code"},
		{[]string{"diagnose", "--checkpoint", hfOther, "--tokens", "1,2,3"}, 1, "checkpoint " + j(hfOther, "foo.json") + ": not on nanoscope's list of Hugging Face checkpoint files"},

		// Token data in another vocabulary is refused, never diagnosed.
		{diagnose("--data", j(f.godata, "val.compact.bin")), 1, "differs from the model's"},
		{[]string{"diagnose", "--checkpoint", f.run16, "--data", j(f.godata16, "val.compact.bin")}, 1, "(16 ids) differs from the model's " + j(f.run16, "vocab.json") + " (16 ids; "},
		{[]string{"train", "--data", f.godata16, "--out", f.run16, "--resume", "--steps", "4"}, 1, "differs from the model's"},
		{diagnose("--data", f.godata), 1, "differs from the model's"},
		{diagnose("--data", j(f.data, "val.bin")), 1, "holds GPT-2 ids, the checkpoint reads compact ids: pass " + j(f.data, "val.compact.bin")},
		{diagnose("--data", j(f.data, "train.bin")), 1, "holds GPT-2 ids"},
		{[]string{"diagnose", "--checkpoint", f.gpt2run, "--data", j(f.data, "val.compact.bin")}, 1, "holds compact ids, the checkpoint reads GPT-2 ids: pass " + j(f.data, "val.bin")},
		{[]string{"diagnose", "--checkpoint", f.gpt2run, "--data", f.data, "--positions", "16"}, 0, "data " + j(f.data, "val.bin") + ": 16 positions"},
		{[]string{"logits", "--checkpoint", f.gpt2run, "--tokens", "50256,50257"}, 2, "id 50257 at position 1 is outside the model's ids [0, 50257)"},
		{[]string{"diagnose", "--checkpoint", f.gorun, "--data", f.data, "--positions", "16"}, 1, "differs from the model's"},
		// ... and an observation the vocabulary cannot represent.
		{[]string{"diagnose", "--checkpoint", f.gorun, "--positions", "16", "--observed", "note"}, 1, `--observed note: GPT-2 ids 1388 " main", 22184 "fn" are not in the checkpoint's vocabulary`},
		{diagnose("--observed", j(tmp, "nothing.json")), 1, "--observed"},
		{diagnose("--report", j(f.run, "model.safetensors")), 1, "--report " + j(f.run, "model.safetensors") + " is part of a checkpoint or corpus"},
		{diagnose("--format", "json", "--report", j(f.run, "meta.json")), 1, "is part of a checkpoint or corpus"},
		{diagnose("--report", f.run), 1, "--report " + f.run + " is a directory"},
		{train("--cpuprofile", j(f.data, "train.bin")), 1, "--cpuprofile " + j(f.data, "train.bin") + " is part of a checkpoint or corpus"},
		{diagnose("--metrics", j(tmp, "nothing.jsonl")), 1, "--metrics: stat " + j(tmp, "nothing.jsonl")},

		// A run is never overwritten nor mixed with another corpus.
		{[]string{"train", "--data", f.data, "--out", f.run, "--steps", "2"}, 1, "--out " + f.run + " holds a checkpoint at step 3 of 3: pass --resume to continue it or --force to replace it"},
		{[]string{"train", "--data", f.godata, "--out", f.run}, 1, "holds a checkpoint"},
		{[]string{"train", "--data", f.data, "--out", f.run, "--resume"}, 1, "is complete (step 3 of 3): pass --steps N"},
		{[]string{"train", "--data", f.godata, "--out", f.run, "--resume", "--steps", "9"}, 1, "differs from the model's"},
		{[]string{"train", "--data", other, "--out", f.run, "--resume", "--steps", "9"}, 1, "--data " + other + " is not the corpus this run was trained on: its train.compact.bin differs"},
		{[]string{"train", "--data", f.data, "--out", f.run, "--resume", "--steps", "2"}, 2, "--steps 2 is the run's total and must exceed its step 3"},
		{[]string{"train", "--data", f.data, "--out", f.run, "--resume", "--dim", "64"}, 2, "--dim cannot change a resumed run"},
		{[]string{"train", "--data", f.data, "--out", f.run, "--resume", "--untied", "--seed", "3"}, 2, "--seed, --untied cannot change a resumed run"},
		{[]string{"train", "--data", f.data, "--out", f.run, "--resume", "--force"}, 2, "--resume and --force exclude each other"},
		{[]string{"train", "--data", f.data, "--out", j(tmp, "fresh"), "--resume"}, 1, "--resume"},
		{[]string{"train", "--data", f.data, "--out", j(f.data, "stats.json")}, 1, "is a file, not a directory"},
		{[]string{"train", "--data", f.data, "--out", f.godata}, 1, "--out " + f.godata + " is a corpus directory"},
		{[]string{"corpus", "--src", f.rustSrc, "--out", f.run}, 1, "--out " + f.run + " holds a checkpoint, whose vocab.json a corpus would replace"},
	} {
		name := strings.Join(tc.args, " ")
		name = strings.ReplaceAll(name, f.root, "F")
		name = strings.ReplaceAll(name, tmp, "T")
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := nanoscope(t, tc.args...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			first := lines[0]
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			switch {
			case code == 0 && !strings.Contains(stdout, tc.want):
				t.Fatalf("stdout lacks %q:\n%s", tc.want, stdout)
			case code == 0:
				return
			case tc.args == nil && !strings.Contains(stderr, tc.want):
				t.Fatalf("stderr lacks %q:\n%s", tc.want, stderr)
			case tc.args == nil:
				return
			case !strings.Contains(first, tc.want):
				t.Fatalf("first line of stderr lacks %q:\n%s", tc.want, stderr)
			case code == 1 && len(lines) != 1:
				t.Fatalf("want one line, got:\n%s", stderr)
			case code == 2 && (len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 'nanoscope ")):
				t.Fatalf("want one line and the --help hint, got:\n%s", stderr)
			case repeatedPrefix(first):
				t.Fatalf("repeated prefix: %s", first)
			case strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic"):
				t.Fatalf("panic: %s", stderr)
			}
			for _, w := range strings.Fields(first) {
				if w = strings.Trim(w, `"(),;:.`); camelCase.MatchString(w) && !strings.Contains(w, "/") {
					t.Fatalf("Go identifier %q in the message: %s", w, first)
				}
			}
		})
	}
}

// Every preset the help offers exists, and every flag description is one with a real
// placeholder (no back-quoted prose turned into one).
func TestHelpTellsTheTruth(t *testing.T) {
	for _, p := range presetNames {
		if _, err := config.Preset(p); err != nil {
			t.Errorf("preset %q: %v", p, err)
		}
	}
	for _, p := range []string{"d20", "tiny_cpu", "cpu"} {
		found := false
		for _, q := range presetNames {
			found = found || q == p
		}
		if !found {
			t.Errorf("preset %q missing from the help", p)
		}
	}
	flagLine := regexp.MustCompile(`^  --[a-z][a-z0-9-]*( [A-Z][A-Z0-9_]*)?$`)
	for name := range commands {
		stdout, _, code := nanoscope(t, name, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", name, code)
		}
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "  -") && !flagLine.MatchString(l) {
				t.Errorf("%s --help: flag line %q: want \"  --name PLACEHOLDER\"", name, l)
			}
		}
	}
}

func TestTidy(t *testing.T) {
	for _, tc := range []struct{ cmd, in, want string }{
		{"corpus", "corpus: corpus: x", "x"},
		{"train", "--resume: --resume: checkpoint a: cannot read", "--resume: checkpoint a: cannot read"},
		{"logits", "a: b", "a: b"},
	} {
		if got := tidy(tc.cmd, tc.in); got != tc.want {
			t.Errorf("tidy(%q, %q) = %q, want %q", tc.cmd, tc.in, got, tc.want)
		}
	}
}

// What the successful commands say: a resumed run extended by --steps and its closing line,
// the progress references, --data as a file, --force, logits on <unk>, the diagnosis formats
// and inspect's remarks.
func TestCLIOutputs(t *testing.T) {
	f := getFixture(t)
	tmp := t.TempDir()
	run := filepath.Join(tmp, "run")
	if err := os.CopyFS(run, os.DirFS(f.run)); err != nil {
		t.Fatal(err)
	}
	mustRun := func(args ...string) (string, string) {
		t.Helper()
		stdout, stderr, code := nanoscope(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout, stderr
	}
	contains := func(what, text string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, text)
			}
		}
	}

	// --resume --steps N extends the run to N steps; the closing line counts the steps run.
	stdout, stderr := mustRun("train", "--data", f.data, "--out", run, "--resume", "--steps", "5", "--log-every", "1")
	contains("resume stdout", stdout, "trained 2 steps (steps 4-5 of 5)")
	contains("resume stderr", stderr, "resuming the run in "+run+" at step 3 of 5", "ln V = ", "label-smoothed")
	if ck, err := checkpointStep(run); err != nil || ck != 5 {
		t.Errorf("resumed run at step %d (%v), want 5", ck, err)
	}

	// A fresh run: --data as a file of the corpus; the first progress line has no speed.
	fresh := filepath.Join(tmp, "fresh")
	stdout, stderr = mustRun(append([]string{"train", "--data", filepath.Join(f.data, "train.compact.bin"), "--out", fresh, "--steps", "2", "--log-every", "1"}, tinyTrain...)...)
	contains("fresh stdout", stdout, "trained 2 steps in ", "references: ln V = ")
	contains("fresh stderr", stderr, "unigram ", "(first step ", "s: graph built in ", "then compiled and run)")
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "step     1/") && strings.Contains(l, "tok/s") {
			t.Errorf("step 1 shows a speed: %s", l)
		}
		if strings.Contains(l, "target acc") {
			t.Errorf("progress says target acc: %s", l)
		}
	}
	// --force replaces it.
	stdout, _ = mustRun(append([]string{"train", "--data", f.data, "--out", fresh, "--steps", "1", "--force"}, tinyTrain...)...)
	contains("forced stdout", stdout, "trained 1 step in ")

	// logits: inputs shown as text, <unk> flagged and never marked as copying, a legend.
	stdout, stderr = mustRun("logits", "--checkpoint", f.gorun, "--text", "fn main() {", "--topk", "3")
	if stderr != "" {
		t.Errorf("logits wrote to stderr (backend chatter?): %q", stderr)
	}
	contains("logits", stdout, `input 22184 "fn" (not in the compact vocabulary: the model sees <unk>)`, `markers: "<- current token"`)
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, `"<unk>"`) && strings.Contains(l, "<-") {
			t.Errorf("<unk> marked: %s", l)
		}
	}

	// diagnose: findings first in every format; a report file.
	stdout, _ = mustRun("diagnose", "--checkpoint", f.run, "--positions", "16")
	if !strings.HasPrefix(stdout, "healthy: ") {
		t.Errorf("diagnose does not lead with the verdict:\n%s", stdout)
	}
	contains("diagnose", stdout, "\nhypotheses:\n", "\nsummary: ")
	stdout, _ = mustRun("diagnose", "--checkpoint", f.run, "--positions", "16", "--json")
	contains("diagnose --json", stdout, `"healthy":`, `"findings":`, `"hypotheses":`)
	for _, format := range []string{"md", "html"} {
		path := filepath.Join(tmp, "report."+format)
		_, stderr := mustRun("diagnose", "--checkpoint", f.run, "--positions", "16", "--format", format, "--report", path,
			"--rope-layout", "interleaved")
		contains("diagnose --report", stderr, "report written to "+path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		contains(path, s, "Healthy: ", "Findings", "Hypotheses", "data:image/png;base64,", "run with rope_pairing interleaved instead of its halves (--convention)")
		if strings.Index(s, "Findings") > strings.Index(s, "Hypotheses") {
			t.Errorf("%s: findings do not come first", path)
		}
	}

	// inspect: what is remarkable.
	stdout, _ = mustRun("inspect", "--checkpoint", f.run)
	contains("inspect", stdout, "\nremarkable:\n", "at_init: ")
}

func checkpointStep(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return 0, err
	}
	var m struct {
		Step int `json:"step"`
	}
	err = json.Unmarshal(b, &m)
	return m.Step, err
}
