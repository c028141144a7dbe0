package nbutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
)

func TestRootFrom(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "clone")
	deep := filepath.Join(repo, "notebooks", "sub")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A go.mod of another module on the way up must not stop the search.
	if err := os.WriteFile(filepath.Join(repo, "notebooks", "go.mod"), []byte("module nanoscopeish\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RootFrom(deep); err == nil {
		t.Fatalf("RootFrom(%s) without a nanoscope go.mod: want an error", deep)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module nanoscope\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := RootFrom(deep)
	if err != nil || got != repo {
		t.Fatalf("RootFrom(%s) = %q, %v; want %q", deep, got, err, repo)
	}
}

func TestRootOfThisRepository(t *testing.T) {
	t.Setenv("GONB_DIR", "")
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "notebooks", "nbutil", "nbutil.go")); err != nil {
		t.Fatalf("Root() = %s, which does not hold this package: %v", root, err)
	}
}

// TestMakefileAgrees guards the duplication between the Makefile's corpus/train-cpu targets
// and this package's constants.
func TestMakefileAgrees(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{"DATA": CorpusDir, "VOCAB": strconv.Itoa(CorpusVocab), "CPU_OUT": CPUModelDir, "BIN": BinPath} {
		m := regexp.MustCompile(`(?m)^` + v + `\s*:?=\s*(\S+)\s*$`).FindSubmatch(mk)
		if m == nil {
			t.Errorf("Makefile: no %s := ... line", v)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("Makefile %s = %s, nbutil has %s", v, m[1], want)
		}
	}
}

func TestReadMetricsAndMetaFloat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	data := `{"kind":"train","step":1,"loss":5.5,"ce":5.25,"elapsed_s":0.1}
{"kind":"eval","step":1,"elapsed_s":0.2,"val_ce":5.0,"val_acc":0.25,"val_copy":0.5}

`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Kind != "train" || ms[0].CE != 5.25 || ms[1].ValCE == nil || *ms[1].ValCE != 5.0 {
		t.Fatalf("ReadMetrics = %+v", ms)
	}
	if err := os.WriteFile(path, []byte(data+"{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMetrics(path); err == nil {
		t.Fatal("ReadMetrics of a corrupt line: want an error")
	}

	meta := checkpoint.Meta{Extra: map[string]json.RawMessage{"val_ce": json.RawMessage("3.25")}}
	if v, err := MetaFloat(meta, "val_ce"); err != nil || v != 3.25 {
		t.Fatalf("MetaFloat = %v, %v", v, err)
	}
	if _, err := MetaFloat(meta, "missing"); err == nil {
		t.Fatal("MetaFloat of a missing key: want an error")
	}
}
