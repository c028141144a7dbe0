package nbutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInRoot(t *testing.T) {
	for _, c := range []struct{ root, path, want string }{
		{"/r", "out/cpu", "/r/out/cpu"},
		{"/r", "/abs/out/cpu", "/abs/out/cpu"},
		{"/r", "/abs/x/../cpu/", "/abs/cpu"},
		{"/r", "../elsewhere", "/elsewhere"},
	} {
		if got := InRoot(c.root, c.path); got != c.want {
			t.Errorf("InRoot(%q, %q) = %q, want %q", c.root, c.path, got, c.want)
		}
	}
}

// The root is $NANOSCOPE_ROOT when set (and an error naming it when it is no checkout), else
// the checkout above the notebook, else an error that says to set $NANOSCOPE_ROOT.
func TestFindRoot(t *testing.T) {
	tmp := t.TempDir()
	checkout := filepath.Join(tmp, "checkout")
	nbDir := filepath.Join(checkout, "scratch", "deep")
	outside := filepath.Join(tmp, "elsewhere")
	for _, d := range []string{nbDir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(checkout, "go.mod"), []byte("module nanoscope\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, env, start, want, err string
	}{
		{"walk up from a notebook anywhere in the checkout", "", nbDir, checkout, ""},
		{"outside the checkout, the variable", checkout, outside, checkout, ""},
		{"the variable wins over the walk", checkout, nbDir, checkout, ""},
		{"a variable that is no checkout", outside, nbDir, "", "$NANOSCOPE_ROOT=" + outside + " holds no go.mod"},
		{"a variable below a checkout is not one", nbDir, outside, "", "holds no go.mod"},
		{"outside, without the variable", "", outside, "", "set $NANOSCOPE_ROOT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(RootEnv, c.env)
			got, err := findRoot(c.start)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("findRoot(%s) = %q, %v; want an error containing %q", c.start, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("findRoot(%s) = %q, %v; want %q", c.start, got, err, c.want)
			}
		})
	}
}

// LoadModel takes the checkpoint's directory relative to the checkout or absolute.
func TestLoadModelPaths(t *testing.T) {
	root, err := RootFrom(".")
	if err != nil {
		t.Fatal(err)
	}
	rel := "gomlxmodel/testdata/reference/tied_mhc_d20like"
	for _, dir := range []string{rel, filepath.Join(root, rel)} {
		ck, err := LoadModel(root, dir)
		if err != nil {
			t.Fatalf("LoadModel(%s): %v", dir, err)
		}
		if ck.Dir != filepath.Join(root, rel) {
			t.Fatalf("LoadModel(%s) read %s", dir, ck.Dir)
		}
	}
}
