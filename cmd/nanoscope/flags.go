package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
)

// flagSink, when set, receives a command's flags instead of parsing them (the command then
// stops with flag.ErrHelp): completion uses it to list every command's flags.
var flagSink func(f *flags)

// usageError is a wrong flag, flag value or argument: the command exits with status 2 and
// points at its --help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flags is a command's FlagSet plus the checks of its values.
type flags struct {
	*flag.FlagSet
	synopsis string
	set      map[string]bool // flags given on the command line
	errs     []error
}

// newFlags returns the flags of a command whose usage line is "nanoscope SYNOPSIS". In flag
// descriptions a back-quoted word is the placeholder of the value (`DIR`); nothing else may be
// back-quoted.
func newFlags(name, synopsis string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is printed by parse
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis, set: map[string]bool{}}
}

// printHelp writes the usage line and every flag with its placeholder, description and default.
func (f *flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: nanoscope %s\n", f.synopsis)
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
	}
	f.VisitAll(func(fl *flag.Flag) {
		name, desc := flag.UnquoteUsage(fl)
		if _, isBool := fl.Value.(interface{ IsBoolFlag() bool }); isBool {
			name = ""
		} else if name == "value" || name == "string" || name == "int" || name == "float" || name == "uint" || name == "duration" {
			name = map[string]string{"string": "S", "int": "N", "float": "X", "uint": "N", "duration": "D", "value": "V"}[name]
		}
		line := "  --" + fl.Name
		if name != "" {
			line += " " + name
		}
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" {
			desc += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, desc)
	})
}

var flagNameRE = regexp.MustCompile(`(^|\s)-([a-zA-Z][\w-]*)`)

// parse parses args, prints the help on stdout for --help (returning flag.ErrHelp), and rejects
// unknown flags, malformed values and stray positional arguments as usage errors.
func (f *flags) parse(args []string) error {
	if flagSink != nil {
		flagSink(f)
		return flag.ErrHelp
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp(os.Stdout)
			return err
		}
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + rest
		}
		// The flag package writes -name; the documentation writes --name.
		msg = flagNameRE.ReplaceAllString(msg, "$1--$2")
		return usageError{msg}
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q (flags are --name value)", f.Arg(0))
	}
	f.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return nil
}

// given reports whether the flag was on the command line.
func (f *flags) given(name string) bool { return f.set[name] }

// The range checks below apply to flags given on the command line (an unset flag keeps its
// default, which may be a sentinel such as 0 for "the preset's"); the first failure is
// returned by check, naming the flag.

func (f *flags) fail(format string, args ...any) { f.errs = append(f.errs, usagef(format, args...)) }

// intAtLeast checks v >= lo.
func (f *flags) intAtLeast(name string, v, lo int) {
	if f.given(name) && v < lo {
		f.fail("--%s must be at least %d (got %d)", name, lo, v)
	}
}

// intIn checks lo <= v <= hi.
func (f *flags) intIn(name string, v, lo, hi int) {
	if f.given(name) && (v < lo || v > hi) {
		f.fail("--%s must be in [%d, %d] (got %d)", name, lo, hi, v)
	}
}

// positive checks 0 < v < +Inf.
func (f *flags) positive(name string, v float64) {
	if f.given(name) && !(v > 0 && !math.IsInf(v, 1)) {
		f.fail("--%s must be a positive finite number (got %g)", name, v)
	}
}

// fraction checks 0 < v < 1.
func (f *flags) fraction(name string, v float64) {
	if f.given(name) && !(v > 0 && v < 1) {
		f.fail("--%s must be in (0, 1) (got %g)", name, v)
	}
}

// oneOf checks that v is one of the choices.
func (f *flags) oneOf(name, v string, choices ...string) {
	for _, c := range choices {
		if v == c {
			return
		}
	}
	f.fail("--%s must be %s (got %q)", name, strings.Join(choices, " or "), v)
}

// exclusive checks that at most one of the flags is given.
func (f *flags) exclusive(a, b string) {
	if f.given(a) && f.given(b) {
		f.fail("--%s and --%s exclude each other", a, b)
	}
}

// require checks that every named flag is given and non-empty.
func (f *flags) require(names ...string) {
	for _, n := range names {
		if fl := f.Lookup(n); fl == nil || fl.Value.String() == "" {
			f.fail("--%s is required", n)
		}
	}
}

// check returns the first failed check.
func (f *flags) check() error {
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	return nil
}
