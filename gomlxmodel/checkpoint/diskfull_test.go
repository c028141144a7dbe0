package checkpoint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A save that runs out of disk space reports it and leaves the previous checkpoint intact.
// The full disk is a 96 KiB tmpfs, which needs root (CI runs as root); elsewhere the test is
// skipped and says why.
func TestDiskFullKeepsPreviousCheckpoint(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	dir := filepath.Join(mnt, "ckpt")
	meta := testMeta()
	small := randomTensors(meta.Config, meta.Variant, 1) // ~28 KB
	if err := Save(dir, small, meta); err != nil {
		t.Fatalf("first save: %v", err)
	}
	big := meta
	big.Config.VocabSize = 2000 // tok_embed alone is 128 KB: cannot fit
	err := Save(dir, randomTensors(big.Config, big.Variant, 2), big)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want a no-space error, got %v", err)
	}
	t.Log(err)
	ck, err := Load(dir)
	if err != nil {
		t.Fatalf("previous checkpoint damaged: %v", err)
	}
	for name, ts := range small {
		if TensorHash(ts) != TensorHash(ck.Tensors[name]) {
			t.Fatalf("tensor %s changed", name)
		}
	}
	// Nothing half-written is left beside it.
	entries, _ := os.ReadDir(mnt)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("left beside the checkpoint: %v", names)
	}
}
