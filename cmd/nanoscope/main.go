// Command nanoscope is the headless face of the workbench: build a corpus, train the
// investigated model, print its logits, inspect a checkpoint and diagnose the copying symptom.
//
// Every command has --help. Errors go to stderr as one line, with a non-zero exit status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func usage() {
	fmt.Fprintf(os.Stderr, "nanoscope: reproduce and settle the \"model copies its input\" case.\n\nUsage: nanoscope COMMAND [flags]   (nanoscope COMMAND --help for its flags)\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nBackend: GOMLX_BACKEND (default go:parallelism=-1; xla:<plugin> in binaries built with -tags xla).\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "nanoscope: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := run(cmd, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "nanoscope %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
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

// newFlags returns a FlagSet whose --help prints the command's usage and its flags.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nanoscope %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (see --help)", fs.Args())
	}
	return nil
}
