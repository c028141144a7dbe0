// Package warm keeps a model warm between notebook cells. GoNB compiles, links and runs every
// cell as a new process, so a cell that loads a checkpoint pays for reading it, building its
// runner and compiling its graphs every time (d20: 0.6 + 0.5 s for a 0.07 s forward; on a GPU,
// seconds of XLA compilation per graph). Here a long-lived process — `nanoscope serve`, package
// warm/server — holds the loaded checkpoints (keyed by absolute path and read again when their
// files' size or modification time change), their compiled graphs (one per question and prompt
// length, analysis.Prompt) and the answers already given (top-k and logit lens per checkpoint
// and prompt); cells are thin clients that get the plain structs of types.go back. This is the
// design of Anthropic's Garçon: a server holds the model, notebooks are its clients.
//
// A cell's first call starts the server (Connect): one per GoNB kernel (the session
// "gonb-<kernel pid>"; a cell's parent process is its kernel), detached from the cell, its log
// in Dir/<session>.log. It stops when the kernel is gone or after an hour without a call. It
// listens on 127.0.0.1 only and refuses calls from any other address and calls without the
// session's token: 32 random bytes, in the 0600 state file Dir/<session>.json (with the pid
// and port) inside a 0700 directory of this user. A server whose health call does not answer
// within two seconds (killed, stopped, replaced by another program on its port) is ended and
// replaced, with a one-line message on stderr; a call never waits on a dead server (the
// connection is refused at once). Calls are JSON over HTTP from the standard library (net/http,
// encoding/json): curl-able, and no code generation.
//
// Why a server rather than GoNB's own tools. GoNB's cache package (github.com/janpfeifer/gonb/
// cache, v0.11.4) stores a value with encoding/gob in a directory and reads it back in the next
// cell: it suits cheap, serialisable results that never go stale (a table read from a file; the
// issue's trial got a title-only change to 1.6–1.8 s with it). It does not suit the expensive
// parts here: it cannot hold a compiled graph or a backend's buffers, so every cell would still
// rebuild the runner and recompile; a cached checkpoint is a gob of the weights that every
// cell decodes again (d20's embedding alone is 51 MB); and a key never notices that the
// checkpoint was retrained — it must be reset by hand, where the server compares the files'
// size and modification time on every call. A GoNB widget in a long-running cell keeps a
// model in memory too, but only for that one cell's controls, not for the next cell a user
// writes. So the model, its graphs and its answers live in the server; a cell keeps nothing.
//
// The cell side is this package alone (the standard library and GoNB's gonbui), so that a cell
// importing it builds in about half the time of one importing nbutil, analysis and GoMLX (a
// one-line main: 1.4–1.6 s and 7 MB against 3.0–3.9 s and 29 MB, on two loaded cores): the
// figures are rendered by the server (plots), and Save writes and shows them as nbutil.Save
// does.
//
//	p := warm.Prompt{Checkpoint: "../out/d20", Text: "fn main() {"}
//	warm.ShowTopK(warm.Must(warm.TopKOf(p, 5)))
//	warm.Save(warm.Must(warm.LensPlotOf(p, "lens_d20", "d20: logit lens")))
package warm
