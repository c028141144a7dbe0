package nbutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// RootEnv names the environment variable that points a notebook outside the checkout at it.
const RootEnv = "NANOSCOPE_ROOT"

// InRoot resolves a path argument: an absolute path is itself, a relative one is relative to
// the repository root. Every nbutil function that takes a directory or file resolves it so.
func InRoot(root, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(root, path)
}

// findRoot returns the repository root: $NANOSCOPE_ROOT when set (it must hold nanoscope's
// go.mod), else the first directory at or above start whose go.mod declares module nanoscope,
// else the directory the running program's nanoscope module was replaced with (GoNB's
// scratch module after gonb_setup.sh: a notebook anywhere on disk), else an error saying to
// set $NANOSCOPE_ROOT.
func findRoot(start string) (string, error) {
	if env := os.Getenv(RootEnv); env != "" {
		root, err := RootFrom(env)
		if err != nil || root != filepath.Clean(absOr(env)) {
			return "", fmt.Errorf("nbutil: $%s=%s holds no go.mod declaring module nanoscope", RootEnv, env)
		}
		return root, nil
	}
	if root, err := RootFrom(start); err == nil {
		return root, nil
	}
	if dir := replacedModuleDir("nanoscope"); dir != "" {
		if root, err := RootFrom(dir); err == nil {
			return root, nil
		}
	}
	return "", fmt.Errorf("nbutil: no go.mod declaring module nanoscope at or above %s: set $%s to your nanoscope checkout", start, RootEnv)
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// replacedModuleDir is the local directory module path was replaced with in the running
// program's build, or "".
func replacedModuleDir(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == path && d.Replace != nil && filepath.IsAbs(d.Replace.Path) {
			return d.Replace.Path
		}
	}
	return ""
}
