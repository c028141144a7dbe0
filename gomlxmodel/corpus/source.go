package corpus

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Languages of a source tree and the file extensions Build takes from it by default.
const (
	LangRust = "rust"
	LangGo   = "go"
)

// DefaultExt returns the extensions of a language's source files: [".rs"] for rust, [".go"]
// for go.
func DefaultExt(lang string) ([]string, error) {
	switch lang {
	case LangRust, "":
		return []string{".rs"}, nil
	case LangGo:
		return []string{".go"}, nil
	}
	return nil, fmt.Errorf("corpus: unknown language %q (want %s or %s)", lang, LangRust, LangGo)
}

// rustSrcCandidates are where Debian's rust-src package puts the standard library:
// /usr/lib/rustlib/src/rust is a link to /usr/src/rustc-VERSION, whose library/ holds
// alloc, core, std, stdarch, ...
var rustSrcCandidates = []string{"/usr/lib/rustlib/src/rust/library", "/usr/src/rustc-*/library"}

// DefaultSource returns the corpus the project trains on: the Rust standard library's source as
// installed by Debian's rust-src package (`apt-get install rust-src`;
// /usr/lib/rustlib/src/rust/library), with lang "rust". Without rust-src it falls back to the
// Go standard library, $(go env GOROOT)/src, with lang "go". It fails if neither exists. The
// returned dir has its symbolic links resolved.
func DefaultSource() (dir, lang string, err error) {
	for _, pat := range rustSrcCandidates {
		matches, _ := filepath.Glob(pat)
		sort.Sort(sort.Reverse(sort.StringSlice(matches))) // newest rustc-VERSION first
		for _, m := range matches {
			if d, ok := resolveDir(filepath.Join(m, "std")); ok {
				return filepath.Dir(d), LangRust, nil
			}
		}
	}
	if root := goroot(); root != "" {
		if d, ok := resolveDir(filepath.Join(root, "src", "runtime")); ok {
			return filepath.Dir(d), LangGo, nil
		}
	}
	return "", "", errors.New("corpus: no default source: install Debian's rust-src (/usr/lib/rustlib/src/rust/library) or Go (GOROOT/src)")
}

// resolveDir returns p with symbolic links resolved, if it is a directory.
func resolveDir(p string) (string, bool) {
	d, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false
	}
	st, err := os.Stat(d)
	return d, err == nil && st.IsDir()
}

func goroot() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	return os.Getenv("GOROOT")
}

// sourceFile is one file of the tree, by its slash-separated path relative to the root.
type sourceFile struct {
	rel  string
	size int64
}

// listSources returns the regular files under root whose names end in one of exts, sorted by
// relative path. Hidden directories (".git", ...) and Go's "testdata" directories are skipped;
// symbolic links inside the tree are not followed.
func listSources(root string, exts []string) ([]sourceFile, error) {
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var files []sourceFile
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !hasExt(d.Name(), exts) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{rel: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, err
}

func hasExt(name string, exts []string) bool {
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// FoldedGoSource returns the first n ids of the stream bench/hf24_fixtures.py trains its tiny
// Hugging Face models on: the Go sources under root (outside dot and testdata directories, in
// lexical walk order), each byte b folded to the id min(b, 127) >> 1 (0…63). Fewer than n ids
// is an error.
func FoldedGoSource(root string, n int) ([]uint32, error) {
	var ids []uint32
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || len(ids) >= n {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		for _, c := range b {
			ids = append(ids, uint32(min(c, 127)>>1))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(ids) < n {
		return nil, fmt.Errorf("corpus: %d Go-source ids under %s, want %d", len(ids), root, n)
	}
	return ids[:n], nil
}
