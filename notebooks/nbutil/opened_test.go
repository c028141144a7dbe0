package nbutil

import "testing"

// OpenModel on fixtures: each format loads with its byte ids; a directory without a
// checkpoint fails.
func TestOpenModel(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	y, err := OpenModel(root, "gomlxmodel/hf/testdata/hf/gpt2_random", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(y.Tokens) < 10000 || y.Checkpoint.Arch() != "gpt2" {
		t.Fatalf("%s: %d ids", y.Checkpoint.Arch(), len(y.Tokens))
	}
	for path, arch := range map[string]string{"gomlxmodel/load/testdata/formats/nanogpt_trained.pt": "gpt2", "gomlxmodel/load/testdata/nanochat/trained": "nanochat"} {
		if y, err := OpenModel(root, path, ""); err != nil || y.Checkpoint.Arch() != arch {
			t.Errorf("%s: %v, want the %s family", path, err, arch)
		}
	}
	if _, err := OpenModel(root, "gomlxmodel/hf/testdata", ""); err == nil {
		t.Error("a directory without a checkpoint loaded")
	}
}
