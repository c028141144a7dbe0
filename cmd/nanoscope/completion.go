package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func init() {
	register("completion", "print a bash completion script: source <(nanoscope completion bash)", runCompletion)
}

// commandFlags returns every command's flag names (with their leading --), by command.
func commandFlags() map[string][]string {
	out := map[string][]string{}
	for name, cmd := range commands {
		var names []string
		flagSink = func(f *flags) {
			f.VisitAll(func(fl *flag.Flag) { names = append(names, "--"+fl.Name) })
		}
		_ = run(cmd, nil)
		flagSink = nil
		sort.Strings(names)
		out[name] = append(names, "--help")
	}
	return out
}

func runCompletion(args []string) error {
	fs := newFlags("completion", "completion bash")
	shell := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		shell, args = args[0], args[1:]
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if shell == "" {
		return usagef("which shell? nanoscope completion bash")
	}
	script, err := completionScript(shell)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(script)
	return err
}

// completionScript returns the completion script for shell (bash only): commands, then each
// command's flags, and file names for flag values.
func completionScript(shell string) (string, error) {
	if shell != "bash" {
		return "", usagef("shell %q is not supported (bash is)", shell)
	}
	byCmd := commandFlags()
	names := make([]string, 0, len(byCmd))
	for n := range byCmd {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# bash completion for nanoscope: source <(nanoscope completion bash)\n_nanoscope() {\n")
	b.WriteString("  local cur=\"${COMP_WORDS[COMP_CWORD]}\" opts\n")
	fmt.Fprintf(&b, "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W \"help %s\" -- \"$cur\")); return; fi\n", strings.Join(names, " "))
	b.WriteString("  case \"${COMP_WORDS[1]}\" in\n")
	fmt.Fprintf(&b, "    help) opts=\"%s\" ;;\n", strings.Join(names, " "))
	byCmd["completion"] = append([]string{"bash"}, byCmd["completion"]...)
	for _, n := range names {
		fmt.Fprintf(&b, "    %s) opts=\"%s\" ;;\n", n, strings.Join(byCmd[n], " "))
	}
	b.WriteString("  esac\n")
	b.WriteString("  if [[ \"$cur\" == -* || \"${COMP_WORDS[1]}\" == help || \"${COMP_WORDS[1]}\" == completion ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n")
	b.WriteString("}\ncomplete -o filenames -F _nanoscope nanoscope\n")
	return b.String(), nil
}
