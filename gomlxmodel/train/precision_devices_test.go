package train

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// On the go backend tf32 and bf16 are refused with an error naming the flag, never ignored,
// and more devices than the backend has are refused naming --devices.
func TestPrecisionAndDevicesRefusedOnGoBackend(t *testing.T) {
	if gomlxmodel.BackendName() != "go" {
		t.Skip("the go backend's refusals; GOMLX_BACKEND is", gomlxmodel.BackendConfig())
	}
	c := smallConfig()
	c.TotalSteps = 2
	base := Options{Config: c, Variant: config.DefaultVariant(), Train: patterned(4000, c.VocabSize, 1), Val: patterned(500, c.VocabSize, 2)}
	for _, p := range []gomlxmodel.Precision{gomlxmodel.TF32, gomlxmodel.BF16} {
		o := base
		o.Out, o.Precision = filepath.Join(t.TempDir(), "ck"), p
		_, err := Run(o)
		if err == nil || !strings.Contains(err.Error(), "--precision "+string(p)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("precision %s on the go backend: got %v, want a one-line error naming --precision", p, err)
		}
	}
	o := base
	o.Out, o.Devices = filepath.Join(t.TempDir(), "ck"), 2
	if _, err := Run(o); err == nil || !strings.Contains(err.Error(), "--devices 2") {
		t.Errorf("--devices 2 on the go backend: got %v", err)
	}
	if _, err := gomlxmodel.ParsePrecision("fp16"); err == nil {
		t.Error("ParsePrecision(fp16) accepted")
	}
}

// The default run records fp32 and one device in meta.json; --devices all on a one-device
// backend is one device.
func TestMetaRecordsPrecisionAndDevices(t *testing.T) {
	if gomlxmodel.BackendName() != "go" {
		t.Skip("go backend test")
	}
	c := smallConfig()
	c.TotalSteps = 2
	out := filepath.Join(t.TempDir(), "ck")
	if _, err := Run(Options{Config: c, Variant: config.DefaultVariant(), Train: patterned(4000, c.VocabSize, 1), Val: patterned(500, c.VocabSize, 2), Out: out, Devices: -1}); err != nil {
		t.Fatal(err)
	}
	m, err := checkpoint.ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	var p string
	var n int
	_ = json.Unmarshal(m.Extra["precision"], &p)
	_ = json.Unmarshal(m.Extra["devices"], &n)
	if p != "fp32" || n != 1 {
		t.Errorf("meta.json precision %q devices %d, want fp32 and 1", p, n)
	}
}
