package warm

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// State is what a running server writes (0600) to its state file, <Dir>/<session>.json: how to
// reach it and prove the caller is its user.
type State struct {
	PID     int    `json:"pid"`
	Port    int    `json:"port"`
	Token   string `json:"token"`
	Session string `json:"session"`
	Parent  int    `json:"parent"` // the process whose end stops the server (0: none)
}

// Options say which server a client talks to and how to start one.
type Options struct {
	// Dir holds the state, token and log files (created 0700; refused when another user owns
	// it or group or others may enter it). Default: $NANOSCOPE_WARM_DIR, else
	// $XDG_RUNTIME_DIR/nanoscope-warm, else the user's cache directory + nanoscope/warm.
	Dir string
	// Session names the server: one per GoNB kernel by default ("gonb-<kernel pid>": a cell's
	// parent process is its kernel), $NANOSCOPE_WARM_SESSION when set, else "default".
	Session string
	// Parent is the process whose end stops the server: the GoNB kernel by default (0 outside
	// GoNB: only the idle timeout stops it).
	Parent int
	// Idle stops the server after this long without a call (default 1 h).
	Idle time.Duration
	// Command starts a server: argv, to which "serve --state FILE --parent PID --idle D" is
	// appended. Default: $NANOSCOPE_BIN if set, else the checkout's cmd/nanoscope built with
	// `go build` into Dir (a no-op when nothing changed; found from $NANOSCOPE_ROOT or by
	// walking up from $GONB_DIR or the working directory to the go.mod of module nanoscope).
	Command []string
	// Messages receives the one-line notes of starting and restarting (default os.Stderr).
	Messages io.Writer
	// HealthTimeout bounds the health call that decides whether a server is alive (default
	// 2 s); StartTimeout bounds the wait for a new server's state file (default 60 s); a call
	// that takes longer than CallTimeout (default 10 min) fails.
	HealthTimeout, StartTimeout, CallTimeout time.Duration
}

// Client talks to one server. Its methods return the server's error as an error.
type Client struct {
	opts  Options
	state State
	http  *http.Client
}

// defaults fills the zero fields of o.
func (o Options) defaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = os.Getenv("NANOSCOPE_WARM_DIR")
	}
	if o.Dir == "" {
		if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
			o.Dir = filepath.Join(rt, "nanoscope-warm")
		} else {
			c, err := os.UserCacheDir()
			if err != nil {
				return o, fmt.Errorf("warm: no directory for the server's state: %w (set NANOSCOPE_WARM_DIR)", err)
			}
			o.Dir = filepath.Join(c, "nanoscope", "warm")
		}
	}
	inGoNB := os.Getenv("GONB_TMP_DIR") != ""
	if o.Session == "" {
		o.Session = os.Getenv("NANOSCOPE_WARM_SESSION")
	}
	if o.Session == "" {
		o.Session = "default"
		if inGoNB {
			o.Session = "gonb-" + strconv.Itoa(os.Getppid())
		}
	}
	if strings.ContainsAny(o.Session, `/\`) || strings.HasPrefix(o.Session, ".") {
		return o, fmt.Errorf("warm: session %q is not a file name", o.Session)
	}
	if o.Parent == 0 && inGoNB {
		o.Parent = os.Getppid()
	}
	if o.Idle == 0 {
		o.Idle = time.Hour
	}
	if o.Messages == nil {
		o.Messages = os.Stderr
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 2 * time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Minute
	}
	return o, nil
}

// StateFile is the path of the session's state file.
func (o Options) StateFile() string { return filepath.Join(o.Dir, o.Session+".json") }

// LogFile is the path of the session's server log.
func (o Options) LogFile() string { return filepath.Join(o.Dir, o.Session+".log") }

// PrivateDir creates dir (0700) or checks that it is this user's and closed to others.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("warm: %s belongs to uid %d, not to this user (%d)", dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("warm: %s has mode %v: group or others may enter it (want 0700)", dir, fi.Mode().Perm())
	}
	return nil
}

// ReadState reads a state file; it must be this user's and readable by no one else.
func ReadState(path string) (State, error) {
	var s State
	fi, err := os.Stat(path)
	if err != nil {
		return s, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return s, fmt.Errorf("warm: %s has mode %v (want 0600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("warm: %s: %w", path, err)
	}
	if s.Port <= 0 || s.Token == "" {
		return s, fmt.Errorf("warm: %s holds no port and token", path)
	}
	return s, nil
}

// Connect returns a client of the session's server, starting one when there is none, and
// restarting one that does not answer a health call within HealthTimeout (with a message on
// Messages saying so).
func Connect(o Options) (*Client, error) {
	o, err := o.defaults()
	if err != nil {
		return nil, err
	}
	if err := PrivateDir(o.Dir); err != nil {
		return nil, err
	}
	c := NewClient(o, State{})
	st, err := ReadState(o.StateFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(o.Messages, "warm: starting the nanoscope server of session %s (it keeps checkpoints, compiled graphs and answers between cells)\n", o.Session)
	case err != nil:
		fmt.Fprintf(o.Messages, "warm: %v; starting a new server\n", err)
	default:
		c.state = st
		if _, herr := c.Health(); herr == nil {
			return c, nil
		} else {
			fmt.Fprintf(o.Messages, "warm: the server of session %s (pid %d, port %d) does not answer (%v); starting a new one\n", o.Session, st.PID, st.Port, herr)
			stopStale(st)
		}
	}
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

// NewClient returns a client of the server described by st, without checking or starting
// anything (Connect does both).
func NewClient(o Options, st State) *Client {
	o, _ = o.defaults()
	return &Client{opts: o, state: st, http: &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}}
}

// stopStale ends a server that no longer answers, when its pid is still a nanoscope server
// (a pid the system gave to another program since is left alone).
func stopStale(st State) {
	if st.PID <= 0 {
		return
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID))
	if err != nil || !bytes.Contains(cmd, []byte("serve\x00")) || !bytes.Contains(cmd, []byte("--state\x00")) {
		return
	}
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
}

// start launches a server detached from the caller (its own session, its output in LogFile,
// so that a cell's pipes close when the cell ends) and waits for its state file.
func (c *Client) start() error {
	o := c.opts
	argv := o.Command
	if len(argv) == 0 {
		bin, err := serverBinary(o)
		if err != nil {
			return err
		}
		argv = []string{bin}
	}
	stateFile := o.StateFile()
	_ = os.Remove(stateFile)
	logf, err := os.OpenFile(o.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	defer logf.Close()
	args := append(append([]string{}, argv[1:]...), "serve", "--state", stateFile, "--session", o.Session,
		"--parent", strconv.Itoa(o.Parent), "--idle", o.Idle.String())
	cmd := exec.Command(argv[0], args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("warm: starting %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(o.StartTimeout)
	for {
		if st, err := ReadState(stateFile); err == nil && st.PID == cmd.Process.Pid {
			c.state = st
			if _, err := c.Health(); err == nil {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("warm: the server exited before answering (%v); its log %s ends: %s", err, o.LogFile(), tail(o.LogFile()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("warm: no server answered within %v (log %s: %s)", o.StartTimeout, o.LogFile(), tail(o.LogFile()))
		}
	}
}

// tail is the last line of a log, for an error message.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

// serverBinary returns $NANOSCOPE_BIN, or builds the checkout's cmd/nanoscope into o.Dir.
func serverBinary(o Options) (string, error) {
	if b := os.Getenv("NANOSCOPE_BIN"); b != "" {
		return b, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(o.Dir, "nanoscope-"+strconv.FormatUint(uint64(hashString(root)), 16))
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nanoscope")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("warm: go build ./cmd/nanoscope in %s: %v: %s", root, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// Root finds the nanoscope checkout: $NANOSCOPE_ROOT, else the first directory holding the
// go.mod of module nanoscope above $GONB_DIR (a GoNB cell's notebook directory) or the working
// directory.
func Root() (string, error) {
	if r := os.Getenv("NANOSCOPE_ROOT"); r != "" {
		return filepath.Abs(r)
	}
	var starts []string
	if d := os.Getenv("GONB_DIR"); d != "" {
		starts = append(starts, d)
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isNanoscopeMod(data) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("warm: no go.mod of module nanoscope above %s (set NANOSCOPE_ROOT)", strings.Join(starts, " or "))
}

func isNanoscopeMod(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == "nanoscope" {
			return true
		}
	}
	return false
}

// State is the server's state file as the client read it.
func (c *Client) State() State { return c.state }

// Health asks the server who it is and what it holds, within HealthTimeout.
func (c *Client) Health() (Health, error) {
	var h Health
	err := c.call("health", nil, &h, c.opts.HealthTimeout)
	if err == nil && h.PID != c.state.PID {
		err = fmt.Errorf("warm: port %d answers as pid %d, not the server's %d", c.state.Port, h.PID, c.state.PID)
	}
	return h, err
}

// TopK returns the k largest logits at every position of p.
func (c *Client) TopK(p Prompt, k int) (TopK, error) {
	var out TopK
	p, err := absPrompt(p)
	if err != nil {
		return out, err
	}
	return out, c.call("topk", TopKRequest{Prompt: p, K: k}, &out, c.opts.CallTimeout)
}

// Lens returns the logit lens of p.
func (c *Client) Lens(p Prompt) (Lens, error) {
	var out Lens
	p, err := absPrompt(p)
	if err != nil {
		return out, err
	}
	return out, c.call("lens", p, &out, c.opts.CallTimeout)
}

// LensPlot returns the heatmap of p's logit lens (margins, rows the depths, columns the
// tokens) rendered under name and title.
func (c *Client) LensPlot(p Prompt, name, title string) (Figure, error) {
	var out Figure
	p, err := absPrompt(p)
	if err != nil {
		return out, err
	}
	return out, c.call("lensplot", PlotRequest{Prompt: p, Name: name, Title: title}, &out, c.opts.CallTimeout)
}

// absPrompt makes the checkpoint path absolute (relative to the working directory).
func absPrompt(p Prompt) (Prompt, error) {
	if p.Checkpoint == "" {
		return p, fmt.Errorf("warm: the prompt names no checkpoint")
	}
	abs, err := filepath.Abs(p.Checkpoint)
	if err != nil {
		return p, fmt.Errorf("warm: checkpoint %s: %w", p.Checkpoint, err)
	}
	p.Checkpoint = abs
	return p, nil
}

// TokenHeader carries the session token on every call.
const TokenHeader = "X-Nanoscope-Token"

// call posts req (JSON) to /v1/op and decodes the reply into out.
func (c *Client) call(op string, req, out any, timeout time.Duration) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.state.Port)) + "/v1/" + op
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set(TokenHeader, c.state.Token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(r)
	if err != nil {
		return fmt.Errorf("warm: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("warm: %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("warm: %s: HTTP %s", op, resp.Status)
	}
	return json.Unmarshal(data, out)
}

// TokenOK reports whether got is the session token (in constant time).
func TokenOK(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
