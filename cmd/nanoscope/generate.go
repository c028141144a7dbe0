package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/corpus"
	"nanoscope/gomlxmodel/load"
)

func init() {
	register("generate", "continue a prompt with a checkpoint (KV cache; greedy, temperature, top-k, top-p)", runGenerate)
}

// Output of generate --json: ids as the user gives them (GPT-2 ids through vocab.json, or the
// model's own), text where a GPT-2 tokenizer is known.
type generateJSON struct {
	Prompt    []int          `json:"prompt"`
	Generated []int          `json:"generated"`
	Text      *string        `json:"text,omitempty"`
	Stopped   string         `json:"stopped"`
	Steps     []genStepJSON  `json:"steps"`
	Sampling  map[string]any `json:"sampling"`
}

type genStepJSON struct {
	ID   int       `json:"id"`
	Text *string   `json:"text,omitempty"`
	Top  []topProb `json:"top"`
}

type topProb struct {
	ID    int     `json:"id"`
	Text  *string `json:"text,omitempty"`
	Logit float64 `json:"logit"`
	Prob  float64 `json:"prob"`
}

func runGenerate(args []string) error {
	fs := newFlags("generate", "generate --checkpoint DIR (--text 'fn main() {' | --tokens 22184,1388) [--max-new N] [--temperature T --top-k K --top-p P --seed S] [--json]")
	dir := fs.String("checkpoint", "", "checkpoint `PATH` (required): any checkpoint logits reads")
	tokens := fs.String("tokens", "", "comma-separated prompt token `IDS` (GPT-2 ids, translated through the checkpoint's vocab.json if it has one; else the model's ids)")
	text := fs.String("text", "", "prompt `TEXT`, tokenized with GPT-2 BPE (GPT-2-vocabulary checkpoints)")
	modelIDs := fs.Bool("model-ids", false, "--tokens are the model's own ids (no vocab.json translation)")
	maxNew := fs.Int("max-new", 32, "most ids `N` to generate, ≥ 1")
	temperature := fs.Float64("temperature", 0, "sampling temperature `T` ≥ 0 (0: greedy, the argmax)")
	topK := fs.Int("top-k", 0, "sample among the `K` most probable ids (0: all)")
	topP := fs.Float64("top-p", 0, "sample among the most probable ids whose probability reaches `P` in (0, 1] (0: all)")
	seed := fs.Uint64("seed", 1, "random `SEED` of the sampling")
	stop := fs.String("stop", "", "comma-separated stop `IDS` besides end-of-text (GPT-2's <|endoftext|> 50256, config.json's eos_token_id)")
	noStop := fs.Bool("no-stop", false, "do not stop at end-of-text")
	report := fs.Int("show-topk", 5, "each step's most probable ids `K` reported by --json, ≥ 1")
	asJSON := fs.Bool("json", false, "print JSON: prompt, generated, text, stopped, and each step's id and top-k (id, logit, prob)")
	noCache := fs.Bool("no-cache", false, "run every step as a full forward of the whole sequence (no KV cache)")
	fault := fs.String("fault", "", "run with an inference `FAULT` built on purpose: "+faultNames())
	conventions := conventionFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("checkpoint")
	if (*tokens == "") == (*text == "") {
		fs.fail("exactly one of --tokens and --text is required")
	}
	fs.intAtLeast("max-new", *maxNew, 1)
	fs.intAtLeast("top-k", *topK, 0)
	fs.intAtLeast("show-topk", *report, 1)
	fs.exclusive("text", "model-ids")
	if fs.given("temperature") && !(*temperature >= 0) {
		fs.fail("--temperature must be ≥ 0 (got %g)", *temperature)
	}
	if fs.given("top-p") && !(*topP > 0 && *topP <= 1) {
		fs.fail("--top-p must be in (0, 1] (got %g)", *topP)
	}
	f, err := gomlxmodel.ParseInferenceFault(*fault)
	if err != nil {
		fs.fail("--fault: %v", err)
	}
	if err := fs.check(); err != nil {
		return err
	}
	l, err := openCheckpoint("checkpoint", *dir, *conventions)
	if err != nil {
		return err
	}
	tk, err := l.Tokenizer()
	if err != nil {
		return err
	}
	V := l.Family.Dims().VocabSize
	var ids []int
	if *text != "" {
		if tk.Enc == nil {
			return fmt.Errorf("--text: %s; pass its ids with --tokens", tk.None)
		}
		for _, id := range tk.Enc.Encode(*text) {
			ids = append(ids, int(id))
		}
		if len(ids) == 0 {
			return usagef("--text %q has no tokens", *text)
		}
	} else if ids, err = parseIDs(*tokens); err != nil {
		return err
	}
	user := !*modelIDs && tk.Vocab != nil // ids are GPT-2's, translated through vocab.json
	prompt := make([]int32, len(ids))
	for i, id := range ids {
		m := id
		if user {
			if id >= corpus.GPT2VocabSize {
				return usagef("--tokens: id %d at position %d is not a GPT-2 id (they are < %d; --model-ids takes the model's own ids)", id, i, corpus.GPT2VocabSize)
			}
			m = tk.ToModel(id)
		}
		if m < 0 || m >= V {
			return usagef("--tokens: id %d at position %d is outside the model's ids [0, %d)", id, i, V)
		}
		prompt[i] = int32(m)
	}
	if n := contextLen(l); n > 0 && len(prompt) >= n {
		return usagef("--tokens: %d tokens leave no room in the checkpoint's context of %d positions", len(prompt), n)
	}
	var stops []int
	if !*noStop {
		if stops, err = endOfText(l, tk); err != nil {
			return err
		}
	}
	if *stop != "" {
		extra, err := parseIDList("stop", *stop)
		if err != nil {
			return err
		}
		for _, id := range extra {
			if user {
				id = tk.ToModel(id)
			}
			stops = append(stops, id)
		}
	}
	r, err := gomlxmodel.NewFamilyRunner(l.Family, l.Params)
	if err != nil {
		return err
	}
	o := gomlxmodel.GenerateOptions{
		MaxNew:   *maxNew,
		Sampling: gomlxmodel.Sampling{Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed},
		Stop:     stops, TopK: *report, NoCache: *noCache, Fault: f, BOS: l.BOS,
	}
	if w := terminal(os.Stderr); w != nil && *maxNew >= 16 {
		o.Progress = func(done, total int) {
			fmt.Fprintf(w, "\rgenerate: %d/%d ids", done, total)
			if done == total {
				fmt.Fprint(w, "\r\033[K")
			}
		}
	}
	gen, err := gomlxmodel.Generate(r, prompt, o)
	if o.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	show := func(m int) int { // the id as the user gives it
		if user {
			return tk.FromModel(m)
		}
		return m
	}
	textOf := func(m int) *string {
		if tk.Enc == nil {
			return nil
		}
		s := tk.Text(m)
		return &s
	}
	out := generateJSON{Stopped: gen.Stopped, Sampling: map[string]any{"temperature": *temperature, "top_k": *topK, "top_p": *topP, "seed": *seed}}
	for _, m := range gen.Prompt {
		out.Prompt = append(out.Prompt, show(m))
	}
	var sb strings.Builder
	for _, st := range gen.Steps {
		js := genStepJSON{ID: show(st.ID), Text: textOf(st.ID)}
		for _, t := range st.Top {
			js.Top = append(js.Top, topProb{ID: show(t.ID), Text: textOf(t.ID), Logit: t.Logit, Prob: t.Prob})
		}
		out.Steps = append(out.Steps, js)
		out.Generated = append(out.Generated, show(st.ID))
		if s := textOf(st.ID); s != nil {
			sb.WriteString(*s)
		}
	}
	if tk.Enc != nil {
		s := sb.String()
		out.Text = &s
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	fmt.Printf("checkpoint %s (%s), vocab %d, backend %s, %s\n", *dir, origin(l), V, gomlxmodel.BackendConfig(), samplingLine(o))
	if len(l.Notes) > 0 {
		fmt.Printf("loaded: %s\n", strings.Join(l.Notes, "; "))
	}
	if line := overrideLine(l); line != "" {
		fmt.Println(line)
	}
	if f != "" {
		fmt.Printf("inference fault switched on: %s\n", f)
	}
	if out.Text != nil {
		var prompt strings.Builder
		for _, m := range gen.Prompt {
			prompt.WriteString(tk.Text(m))
		}
		fmt.Printf("prompt: %q\n--- generated ---\n%s\n---\n", prompt.String(), *out.Text)
	} else {
		fmt.Printf("prompt:    %v\ngenerated: %v\n", out.Prompt, out.Generated)
	}
	fmt.Printf("(%d ids, stopped: %s)\n", len(gen.Generated), gen.Stopped)
	return nil
}

// samplingLine says how ids were drawn.
func samplingLine(o gomlxmodel.GenerateOptions) string {
	s := o.Sampling
	cache := "KV cache"
	if o.NoCache {
		cache = "no cache"
	}
	if s.Temperature == 0 {
		return "greedy, " + cache
	}
	return fmt.Sprintf("temperature %g, top-k %d, top-p %g, seed %d, %s", s.Temperature, s.TopK, s.TopP, s.Seed, cache)
}

// endOfText are the model ids that end a generation: GPT-2's <|endoftext|> for a GPT-2
// vocabulary (through vocab.json), and config.json's eos_token_id (a number or a list).
func endOfText(l *load.Loaded, tk *load.Tokenizer) ([]int, error) {
	var out []int
	V := l.Family.Dims().VocabSize
	if tk.Enc != nil {
		if m := tk.ToModel(corpus.EOT); m >= 0 && m < V && (tk.Vocab == nil || m != tk.Vocab.Unk) {
			out = append(out, m)
		}
	}
	if filepath.Base(l.ConfigFile) == "config.json" {
		b, err := os.ReadFile(l.ConfigFile)
		if err != nil {
			return nil, err
		}
		var c struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", l.ConfigFile, err)
		}
		if len(c.EOS) > 0 && string(c.EOS) != "null" {
			var one int
			var many []int
			if json.Unmarshal(c.EOS, &one) == nil {
				many = []int{one}
			} else if err := json.Unmarshal(c.EOS, &many); err != nil {
				return nil, fmt.Errorf("%s: eos_token_id %s: expected an id or a list of ids", l.ConfigFile, c.EOS)
			}
			for _, id := range many {
				if id >= 0 && id < V && !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	return out, nil
}

func faultNames() string {
	var s []string
	for _, f := range gomlxmodel.InferenceFaults {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}
