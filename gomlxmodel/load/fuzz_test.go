package load

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenFile feeds arbitrary bytes to Open as a checkpoint file (seeded with the nanoGPT and
// llm.c fixtures): it must return a checkpoint or an error, never panic nor hang.
func FuzzOpenFile(f *testing.F) {
	for _, name := range []string{"nanogpt_random.pt", "llmc_bf16.bin"} {
		b, err := os.ReadFile(filepath.Join(formatFixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("PK\x03\x04"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "ckpt.pt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if l, err := Open(path); err == nil && l.Family == nil {
			t.Fatal("a checkpoint without a family")
		}
	})
}
