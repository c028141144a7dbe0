// Package server is the long-lived side of package warm: an HTTP server on 127.0.0.1 that holds
// loaded checkpoints (keyed by absolute path, read again when their files' size or modification
// time change), their compiled graphs (analysis.Prompt: one per question and prompt length) and
// the answers already given (top-k, logit lens, per checkpoint and prompt), for notebook cells
// that run as short processes. `nanoscope serve` runs it; package warm starts it on demand.
//
// Every call must come from a loopback address and carry the session token (warm.TokenHeader);
// anything else is refused (403, 401) before it is read.
package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
	"nanoscope/plots"
	"nanoscope/warm"
)

// Server holds the models of one session.
type Server struct {
	// Token is the session token every call must carry.
	Token   string
	Session string
	// MaxModels bounds the checkpoints held at once; the least recently used goes first
	// (default 4).
	MaxModels int
	// Log receives one line per load and per failed call (default: discarded).
	Log *log.Logger

	work   sync.Mutex // guards models and the questions that use them
	models map[string]*entry

	mu       sync.Mutex // guards what Health reads, so that it answers while a question runs
	started  time.Time
	lastCall time.Time
	requests int
	held     []warm.Model // the models held after the last question
}

// entry is one held checkpoint.
type entry struct {
	dir      string
	stamp    string // the files' names, sizes and modification times when read
	loaded   *load.Loaded
	tok      *load.Tokenizer
	prompt   *analysis.Prompt
	memo     map[string]any
	loads    int
	lastUsed time.Time
}

// New returns a server with a fresh random token.
func New(session string) (*Server, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	now := time.Now()
	return &Server{Token: hex.EncodeToString(b), Session: session, MaxModels: 4, Log: log.New(io.Discard, "", 0),
		models: map[string]*entry{}, started: now, lastCall: now}, nil
}

// Listen opens a TCP listener on addr, which must be a loopback address ("127.0.0.1:0" for
// any free port); anything else (0.0.0.0, a LAN address, a host name other than localhost) is
// refused.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("serve: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("serve: address %q is not a loopback address (127.0.0.1, ::1): the server only listens to this machine", addr)
	}
	return net.Listen("tcp", addr)
}

// Handler serves /v1/health, /v1/topk, /v1/lens and /v1/lensplot (POST, JSON).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health", s.op(func(r *http.Request) (any, error) { return s.health(), nil }))
	mux.HandleFunc("/v1/topk", s.op(func(r *http.Request) (any, error) {
		var req warm.TopKRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.TopK(req)
	}))
	mux.HandleFunc("/v1/lens", s.op(func(r *http.Request) (any, error) {
		var req warm.Prompt
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.Lens(req)
	}))
	mux.HandleFunc("/v1/lensplot", s.op(func(r *http.Request) (any, error) {
		var req warm.PlotRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.LensPlot(req)
	}))
	return mux
}

// op wraps one call: loopback peer and token first, then the answer as JSON (errors as
// {"error": "..."} with 400).
func (s *Server) op(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !loopbackPeer(r.RemoteAddr) {
			reply(w, http.StatusForbidden, errorBody("warm: refused: %s is not a loopback address", r.RemoteAddr))
			return
		}
		if !warm.TokenOK(r.Header.Get(warm.TokenHeader), s.Token) {
			reply(w, http.StatusUnauthorized, errorBody("warm: refused: wrong or missing session token"))
			return
		}
		if r.Method != http.MethodPost {
			reply(w, http.StatusMethodNotAllowed, errorBody("warm: %s wants POST", r.URL.Path))
			return
		}
		s.mu.Lock()
		s.requests++
		s.lastCall = time.Now()
		s.mu.Unlock()
		out, err := fn(r)
		if err != nil {
			s.Log.Printf("%s: %v", r.URL.Path, err)
			reply(w, http.StatusBadRequest, errorBody("%v", err))
			return
		}
		reply(w, http.StatusOK, out)
	}
}

func errorBody(format string, args ...any) map[string]string {
	return map[string]string{"error": fmt.Sprintf(format, args...)}
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("warm: %s: bad request body: %w", r.URL.Path, err)
	}
	return nil
}

// loopbackPeer reports whether a RemoteAddr is a loopback address.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) health() warm.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return warm.Health{PID: os.Getpid(), Session: s.Session, UptimeS: time.Since(s.started).Seconds(), Requests: s.requests,
		Models: append([]warm.Model(nil), s.held...)}
}

// lock takes the work lock; the returned function records the models held for Health and
// releases it.
func (s *Server) lock() func() {
	s.work.Lock()
	return func() {
		var held []warm.Model
		for _, e := range s.models {
			held = append(held, e.model())
		}
		sort.Slice(held, func(i, j int) bool { return held[i].Checkpoint < held[j].Checkpoint })
		s.mu.Lock()
		s.held = held
		s.mu.Unlock()
		s.work.Unlock()
	}
}

// IdleFor is the time since the last call.
func (s *Server) IdleFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.lastCall)
}

// model describes e.
func (e *entry) model() warm.Model {
	d := e.loaded.Family.Dims()
	return warm.Model{Checkpoint: e.dir, Arch: e.loaded.Arch(), VocabSize: d.VocabSize, Layers: d.NLayers,
		Loads: e.loads, Compiles: e.prompt.Compiles(), Memoized: len(e.memo)}
}

// stamp lists the files of a loaded checkpoint with their sizes and modification times; it
// changes when any of them is rewritten.
func stamp(l *load.Loaded) (string, error) {
	files := append([]string{l.ConfigFile}, l.Files...)
	if l.Meta != nil && l.Meta.Variant.VocabMap != "" {
		files = append(files, filepath.Join(l.Dir, l.Meta.Variant.VocabMap))
	}
	var b strings.Builder
	for _, f := range files {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s %d %d\n", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// model returns the held checkpoint at dir (absolute), reading it when it is not held or its
// files changed since it was read. Call with the work lock held.
func (s *Server) model(dir string) (*entry, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("warm: checkpoint %q is not an absolute path", dir)
	}
	e := s.models[dir]
	if e != nil {
		if st, err := stamp(e.loaded); err == nil && st == e.stamp {
			e.lastUsed = time.Now()
			return e, nil
		}
		s.Log.Printf("%s changed on disk: reading it again", dir)
	}
	loads := 0
	if e != nil {
		loads = e.loads
		e.prompt.Close()
		delete(s.models, dir)
	}
	t0 := time.Now()
	l, err := load.Open(dir)
	if err != nil {
		return nil, err
	}
	st, err := stamp(l)
	if err != nil {
		return nil, err
	}
	tok, err := l.Tokenizer()
	if err != nil {
		return nil, err
	}
	sub, err := analysis.FromLoaded(l)
	if err != nil {
		return nil, err
	}
	e = &entry{dir: dir, stamp: st, loaded: l, tok: tok, prompt: analysis.NewPrompt(sub), memo: map[string]any{}, loads: loads + 1, lastUsed: time.Now()}
	s.evict()
	s.models[dir] = e
	s.Log.Printf("read %s (%s, %d layers) in %.2f s", dir, l.Arch(), l.Family.Dims().NLayers, time.Since(t0).Seconds())
	return e, nil
}

// evict drops the least recently used checkpoints until there is room for one more.
func (s *Server) evict() {
	max := s.MaxModels
	if max <= 0 {
		max = 4
	}
	for len(s.models) >= max {
		var old *entry
		for _, e := range s.models {
			if old == nil || e.lastUsed.Before(old.lastUsed) {
				old = e
			}
		}
		old.prompt.Close()
		delete(s.models, old.dir)
	}
}

// ids translates the prompt into model ids and describes each input token.
func (e *entry) ids(p warm.Prompt) ([]int32, []warm.Token, error) {
	tk := e.tok
	var user []int
	switch {
	case p.Text != "" && len(p.IDs) > 0:
		return nil, nil, fmt.Errorf("warm: the prompt has both text and ids; give one")
	case p.Text != "":
		if tk.Enc == nil {
			return nil, nil, fmt.Errorf("warm: text prompt for %s: %s; give its ids", e.dir, tk.None)
		}
		for _, id := range tk.Enc.Encode(p.Text) {
			user = append(user, int(id))
		}
	default:
		user = p.IDs
	}
	if len(user) == 0 {
		return nil, nil, fmt.Errorf("warm: the prompt has no tokens")
	}
	V := e.loaded.Family.Dims().VocabSize
	model := make([]int32, len(user))
	toks := make([]warm.Token, len(user))
	for i, id := range user {
		m := id
		if !p.ModelIDs {
			m = tk.ToModel(id)
		}
		if m < 0 || m >= V {
			return nil, nil, fmt.Errorf("warm: token %d at position %d is outside the model's ids [0, %d)", id, i, V)
		}
		model[i] = int32(m)
		toks[i] = e.token(m)
	}
	return model, toks, nil
}

// token describes model id m.
func (e *entry) token(m int) warm.Token {
	return warm.Token{ID: e.tok.FromModel(m), ModelID: m, Text: e.tok.Text(m)}
}

// memoKey identifies an answer: the question, its parameters and the model ids.
func memoKey(op string, ids []int32, extra ...int) string {
	var b strings.Builder
	b.WriteString(op)
	for _, x := range extra {
		b.WriteString(" " + strconv.Itoa(x))
	}
	b.WriteString(":")
	for _, id := range ids {
		b.WriteString(" " + strconv.Itoa(int(id)))
	}
	return b.String()
}

// TopK answers the top-k question (memoized per checkpoint, k and model ids).
func (s *Server) TopK(req warm.TopKRequest) (warm.TopK, error) {
	defer s.lock()()
	e, err := s.model(req.Checkpoint)
	if err != nil {
		return warm.TopK{}, err
	}
	ids, toks, err := e.ids(req.Prompt)
	if err != nil {
		return warm.TopK{}, err
	}
	key := memoKey("topk", ids, req.K)
	if v, ok := e.memo[key]; ok {
		out := v.(warm.TopK)
		out.Model, out.Cached = e.model(), true
		return out, nil
	}
	top, err := e.prompt.TopK(ids, req.K)
	if err != nil {
		return warm.TopK{}, err
	}
	out := warm.TopK{Tokens: toks, Top: make([][]warm.Prediction, len(top))}
	for t, row := range top {
		for _, p := range row {
			out.Top[t] = append(out.Top[t], warm.Prediction{Token: e.token(p.ID), Logit: p.Logit})
		}
	}
	e.memo[key] = out
	out.Model = e.model()
	return out, nil
}

// Lens answers the logit-lens question (memoized per checkpoint and model ids).
func (s *Server) Lens(p warm.Prompt) (warm.Lens, error) {
	defer s.lock()()
	return s.lens(p)
}

func (s *Server) lens(p warm.Prompt) (warm.Lens, error) {
	e, err := s.model(p.Checkpoint)
	if err != nil {
		return warm.Lens{}, err
	}
	ids, toks, err := e.ids(p)
	if err != nil {
		return warm.Lens{}, err
	}
	key := memoKey("lens", ids)
	if v, ok := e.memo[key]; ok {
		out := v.(warm.Lens)
		out.Model, out.Cached = e.model(), true
		return out, nil
	}
	tl, err := e.prompt.Lens(ids)
	if err != nil {
		return warm.Lens{}, err
	}
	out := warm.Lens{Tokens: toks, Depths: tl.Depths, Margin: tl.Margin, OnTop: tl.OnTop, Cells: tl.Cells,
		MinMargin: tl.MinMargin, StreamAsymmetry: tl.StreamAsymmetry}
	for _, row := range tl.Argmax {
		r := make([]warm.Token, len(row))
		for t, m := range row {
			r[t] = e.token(m)
		}
		out.Argmax = append(out.Argmax, r)
	}
	e.memo[key] = out
	out.Model = e.model()
	return out, nil
}

// LensPlot renders the heatmap of the prompt's logit lens (from the memo when the lens was
// asked for before): margins, rows the depths, columns the input tokens.
func (s *Server) LensPlot(req warm.PlotRequest) (warm.Figure, error) {
	defer s.lock()()
	l, err := s.lens(req.Prompt)
	if err != nil {
		return warm.Figure{}, err
	}
	cols := make([]string, len(l.Tokens))
	for i, t := range l.Tokens {
		cols[i] = strconv.Quote(t.Text)
		if t.Text == "" {
			cols[i] = strconv.Itoa(t.ModelID)
		}
	}
	f, err := plots.Heatmap(req.Name, req.Title, "input position (token)", "decoded residual stream", l.Depths, cols, l.Margin)
	if err != nil {
		return warm.Figure{}, err
	}
	return warm.Figure{Name: f.Name, PNG: f.PNG, SVG: f.SVG}, nil
}

// Options say where a running server announces itself and when it stops.
type Options struct {
	StateFile string        // written 0600 once listening: pid, port, token (warm.State)
	Session   string        // the session's name, for Health
	Parent    int           // stop when this process is gone (0: never)
	Idle      time.Duration // stop after this long without a call (0: never)
	Addr      string        // default "127.0.0.1:0"
	Log       *log.Logger
}

// Run serves until the parent is gone, the server has been idle for o.Idle, or SIGTERM or
// SIGINT; it removes its state file on the way out.
func Run(o Options, stop <-chan os.Signal) error {
	if o.StateFile == "" {
		return errors.New("serve: --state is required")
	}
	if err := warm.PrivateDir(filepath.Dir(o.StateFile)); err != nil {
		return err
	}
	s, err := New(o.Session)
	if err != nil {
		return err
	}
	if o.Log != nil {
		s.Log = o.Log
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	st := warm.State{PID: os.Getpid(), Port: ln.Addr().(*net.TCPAddr).Port, Token: s.Token, Session: o.Session, Parent: o.Parent}
	if err := writeState(o.StateFile, st); err != nil {
		ln.Close()
		return err
	}
	defer removeState(o.StateFile, st.PID)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.Log.Printf("session %s: pid %d listening on 127.0.0.1:%d (parent %d, idle %v)", o.Session, st.PID, st.Port, o.Parent, o.Idle)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case sig := <-stop:
			s.Log.Printf("stopping: %v", sig)
			return srv.Close()
		case <-tick.C:
			if o.Parent > 0 && !alive(o.Parent) {
				s.Log.Printf("stopping: parent %d is gone", o.Parent)
				return srv.Close()
			}
			if o.Idle > 0 && s.IdleFor() > o.Idle {
				s.Log.Printf("stopping: idle for %v", o.Idle)
				return srv.Close()
			}
		}
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// writeState writes the state file atomically with mode 0600.
func writeState(path string, st warm.State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeState removes the state file if it is still this server's.
func removeState(path string, pid int) {
	if st, err := warm.ReadState(path); err == nil && st.PID == pid {
		_ = os.Remove(path)
	}
}
