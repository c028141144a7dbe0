package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"nanoscope/warm/server"
)

func init() {
	register("serve", "keep checkpoints, compiled graphs and answers warm for notebook cells (started on demand by package warm)", runServe)
}

// runServe runs the warm server (package warm/server) until its parent is gone, it has been
// idle for --idle, or SIGTERM/SIGINT. Notebook cells start it through package warm; it is not
// meant to be started by hand, but can be (then give --state and read the token from it).
func runServe(args []string) error {
	fs := newFlags("serve", "serve --state FILE [--session NAME] [--parent PID] [--idle 1h] [--addr 127.0.0.1:0]")
	state := fs.String("state", "", "`FILE` (required) to write the pid, port and session token to (mode 0600; its directory must be this user's, mode 0700)")
	session := fs.String("session", "default", "session `NAME`, reported by the health call")
	parent := fs.Int("parent", 0, "stop when process `PID` is gone (the GoNB kernel; 0: never)")
	idle := fs.Duration("idle", time.Hour, "stop after `DURATION` without a call (0: never)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback `ADDRESS` to listen on (any other is refused)")
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.require("state")
	fs.intAtLeast("parent", *parent, 0)
	if *idle < 0 {
		fs.fail("--idle must not be negative (got %v)", *idle)
	}
	if err := fs.check(); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	return server.Run(server.Options{StateFile: *state, Session: *session, Parent: *parent, Idle: *idle, Addr: *addr,
		Log: log.New(os.Stderr, "nanoscope serve: ", log.LstdFlags)}, stop)
}
