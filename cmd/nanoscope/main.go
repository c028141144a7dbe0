// Command nanoscope is the headless face of the workbench: build a corpus, train the
// investigated model, print its logits, inspect a checkpoint and diagnose the copying symptom.
//
// Every command has --help (printed on stdout). Errors go to stderr as one line; a wrong flag
// or flag value exits with status 2 and a hint where the flags are described, any other
// failure with status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "nanoscope: reproduce and settle the \"model copies its input\" case.\n\nUsage: nanoscope COMMAND [flags]\n       nanoscope help COMMAND   (or nanoscope COMMAND --help: the command's flags)\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nBackend: GOMLX_BACKEND (default go:parallelism=-1; xla:<plugin> in binaries built with -tags xla).\n")
}

func main() {
	os.Exit(mainCode(os.Args[1:]))
}

// mainCode runs the command line args and returns the exit status.
func mainCode(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(os.Stdout)
		return 0
	case "help":
		if len(args) == 1 {
			usage(os.Stdout)
			return 0
		}
		if _, ok := commands[args[1]]; !ok || len(args) > 2 {
			fmt.Fprintf(os.Stderr, "nanoscope help: unknown command %q\nRun 'nanoscope --help' for the commands.\n", strings.Join(args[1:], " "))
			return 2
		}
		args = []string{args[1], "--help"}
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "nanoscope: unknown command %q\nRun 'nanoscope --help' for the commands.\n", name)
		return 2
	}
	err := run(cmd, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "nanoscope %s: %s\nRun 'nanoscope %s --help' for its flags.\n", name, tidy(name, err.Error()), name)
		return 2
	}
	fmt.Fprintf(os.Stderr, "nanoscope %s: %s\n", name, tidy(name, err.Error()))
	return 1
}

// tidy makes an error message read once: it drops a leading segment that repeats the command's
// name ("corpus: ..." under "nanoscope corpus:") and segments that repeat the one before
// ("--resume: --resume: ...").
func tidy(cmd, msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for _, p := range parts {
		if (len(out) == 0 && p == cmd) || (len(out) > 0 && out[len(out)-1] == p) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

// run calls the command, turning a panic from deep inside GoMLX into an ordinary error so
// that the user sees one line instead of a stack trace.
func run(cmd command, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return cmd.run(args)
}
