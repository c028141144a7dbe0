package warm

// The plain structs that cross the wire (JSON) between a notebook cell and the server.

// Prompt is one question's input: a checkpoint (any path load.Open reads — a directory, a
// ckpt.pt, a .bin; relative paths are taken from the caller's working directory and sent
// absolute) and a sequence, as Text (GPT-2 BPE; only for a checkpoint with a GPT-2 tokenizer)
// or as IDs: GPT-2 ids, translated through the checkpoint's compact vocab.json when it has
// one, or the model's own ids when ModelIDs is set.
type Prompt struct {
	Checkpoint string `json:"checkpoint"`
	Text       string `json:"text,omitempty"`
	IDs        []int  `json:"ids,omitempty"`
	ModelIDs   bool   `json:"model_ids,omitempty"`
}

// Token is one input or predicted token: the id as the user sees it (a GPT-2 id when the
// checkpoint has a GPT-2 tokenizer, −1 for a compact vocabulary's <unk>; otherwise the model's
// id), the model's id, and its text ("" when nanoscope has no tokenizer for the checkpoint).
type Token struct {
	ID      int    `json:"id"`
	ModelID int    `json:"model_id"`
	Text    string `json:"text"`
}

// Prediction is one entry of a top-k list: the token and its logit.
type Prediction struct {
	Token
	Logit float64 `json:"logit"`
}

// Model describes a checkpoint the server holds.
type Model struct {
	Checkpoint string `json:"checkpoint"` // absolute path
	Arch       string `json:"arch"`       // "nanoscope", "gpt2", "llama", "nanochat"
	VocabSize  int    `json:"vocab_size"`
	Layers     int    `json:"layers"`
	// Loads counts the times the server read the checkpoint (1, plus one per change of its
	// files); Compiles the graphs it built for it (one per question and prompt length);
	// Memoized the answers it keeps.
	Loads    int `json:"loads"`
	Compiles int `json:"compiles"`
	Memoized int `json:"memoized"`
}

// TopK is the top-k next tokens at every position of a prompt.
type TopK struct {
	Model  Model          `json:"model"`
	Tokens []Token        `json:"tokens"` // the input, position by position
	Top    [][]Prediction `json:"top"`    // [position][rank], largest logit first
	Cached bool           `json:"cached"` // answered from the server's memo
}

// Lens is the logit lens of a prompt (analysis.TokenLens): per depth (the embedding, then the
// residual stream leaving each block) and position, the argmax decoded through the final norm
// and head and the margin of the current token's logit over the best other token's.
type Lens struct {
	Model  Model       `json:"model"`
	Tokens []Token     `json:"tokens"`
	Depths []string    `json:"depths"`
	Margin [][]float64 `json:"margin"` // [depth][position]
	Argmax [][]Token   `json:"argmax"` // [depth][position]
	// OnTop counts the cells whose argmax is the current token, of Cells; MinMargin is the
	// smallest margin; StreamAsymmetry is max |s0 − s1| over the blocks (mHC; 0 otherwise).
	OnTop           int     `json:"on_top"`
	Cells           int     `json:"cells"`
	MinMargin       float64 `json:"min_margin"`
	StreamAsymmetry float64 `json:"stream_asymmetry"`
	Cached          bool    `json:"cached"`
}

// PlotRequest asks for the heatmap of a prompt's logit lens under a figure name (a file stem:
// letters, digits, '.', '_', '-') and title.
type PlotRequest struct {
	Prompt
	Name  string `json:"name"`
	Title string `json:"title"`
}

// Figure is a rendered figure: PNG (for notebooks and HTML) and SVG, as plots.Figure.
type Figure struct {
	Name string `json:"name"`
	PNG  []byte `json:"png"`
	SVG  []byte `json:"svg"`
}

// TopKRequest asks for the K largest logits at every position of a prompt.
type TopKRequest struct {
	Prompt
	K int `json:"k"`
}

// Health is the server's answer to a health call.
type Health struct {
	PID      int     `json:"pid"`
	Session  string  `json:"session"`
	UptimeS  float64 `json:"uptime_s"`
	Requests int     `json:"requests"`
	Models   []Model `json:"models"`
}

// errorReply is the body of a failed call.
type errorReply struct {
	Error string `json:"error"`
}
