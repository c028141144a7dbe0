package warm_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nanoscope/warm"
	"nanoscope/warm/server"
)

// The test binary doubles as the server: Connect starts os.Args[0] with "serve --state ...",
// and TestMain runs the server when that is what it was started as.
func TestMain(m *testing.M) {
	if os.Getenv("NANOSCOPE_WARM_TEST_SERVER") == "1" {
		i := 1
		for i < len(os.Args) && os.Args[i] != "serve" {
			i++
		}
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		state := fs.String("state", "", "")
		session := fs.String("session", "", "")
		parent := fs.Int("parent", 0, "")
		idle := fs.Duration("idle", 0, "")
		if i == len(os.Args) || fs.Parse(os.Args[i+1:]) != nil {
			os.Exit(2)
		}
		if err := server.Run(server.Options{StateFile: *state, Session: *session, Parent: *parent, Idle: *idle}, make(chan os.Signal)); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testOptions(t *testing.T, msgs *bytes.Buffer) warm.Options {
	t.Setenv("NANOSCOPE_WARM_TEST_SERVER", "1")
	return warm.Options{Dir: filepath.Join(t.TempDir(), "warm"), Session: "test", Parent: os.Getpid(), Command: []string{os.Args[0]},
		Messages: msgs, HealthTimeout: 500 * time.Millisecond, StartTimeout: 30 * time.Second}
}

// A server that was killed, or that stopped answering, is replaced by the next Connect with a
// message, without waiting longer than the health timeout; the new server answers questions.
func TestDeadOrStuckServerIsRestarted(t *testing.T) {
	var msgs bytes.Buffer
	o := testOptions(t, &msgs)
	open := o
	open.Dir = t.TempDir() // 0755
	if err := os.Chmod(open.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Connect(open); err == nil || !strings.Contains(err.Error(), "group or others may enter it") {
		t.Fatalf("a state directory others may enter: %v", err)
	}
	c, err := warm.Connect(o)
	if err != nil {
		t.Fatal(err)
	}
	first := c.State()
	if !strings.Contains(msgs.String(), "starting the nanoscope server of session test") {
		t.Fatalf("first start said %q", msgs.String())
	}
	fi, err := os.Stat(filepath.Join(o.Dir, "test.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	// The same session again: the running server, no message.
	msgs.Reset()
	c2, err := warm.Connect(o)
	if err != nil || c2.State().PID != first.PID || msgs.Len() != 0 {
		t.Fatalf("second Connect: %v, pid %d (first %d), said %q", err, c2.State().PID, first.PID, msgs.String())
	}

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		old := c2.State()
		if err := syscall.Kill(old.PID, sig); err != nil {
			t.Fatal(err)
		}
		waitState(t, old.PID, map[syscall.Signal]string{syscall.SIGKILL: "Z", syscall.SIGSTOP: "T"}[sig])
		msgs.Reset()
		t0 := time.Now()
		c3, err := warm.Connect(o)
		if err != nil {
			t.Fatalf("after %v: %v", sig, err)
		}
		if c3.State().PID == old.PID || !strings.Contains(msgs.String(), "does not answer") || !strings.Contains(msgs.String(), "starting a new one") {
			t.Fatalf("after %v: pid %d (old %d), said %q", sig, c3.State().PID, old.PID, msgs.String())
		}
		if d := time.Since(t0); d > 15*time.Second {
			t.Fatalf("after %v: the restart took %v", sig, d)
		}
		if sig == syscall.SIGSTOP { // the stuck server was ended, not left behind
			time.Sleep(100 * time.Millisecond)
			if data, err := os.ReadFile(filepathProc(old.PID)); err == nil && !strings.Contains(string(data), "Z") {
				t.Errorf("the stuck server %d is still there: %s", old.PID, data)
			}
		}
		h, err := c3.Health()
		if err != nil || h.Session != "test" {
			t.Fatalf("the new server's health: %+v, %v", h, err)
		}
		c2 = c3
	}
	// The token matters: a client with the wrong one is refused.
	st := c2.State()
	bad := st
	bad.Token = strings.Repeat("f", len(st.Token))
	if _, err := warm.NewClient(o, bad).Health(); err == nil || !strings.Contains(err.Error(), "wrong or missing session token") {
		t.Fatalf("a wrong token: %v", err)
	}
	_ = syscall.Kill(st.PID, syscall.SIGTERM)
}

// filepathProc is the state line of a process (/proc/PID/stat: "Z" marks a zombie).
func filepathProc(pid int) string { return filepath.Join("/proc", strconv.Itoa(pid), "stat") }

// waitState waits (at most 10 s) until process pid is gone or in state (the third field of
// /proc/PID/stat: Z once a SIGKILL is delivered, T once a SIGSTOP is): the kernel delivers a
// signal asynchronously, and the server may answer once more in between.
func waitState(t *testing.T, pid int, state string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(filepathProc(pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(data)); len(f) > 2 && f[2] == state {
			return
		}
	}
	t.Fatalf("process %d did not reach state %s", pid, state)
}
