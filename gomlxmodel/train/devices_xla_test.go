//go:build xla

package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/config"
)

// On a machine with several GPUs (GOMLX_BACKEND=xla:<CUDA plugin>, a -tags xla test binary):
// the same global batch gives the same loss curve on 1 and 2 devices within float tolerance,
// and bf16 stays close to fp32. Skipped elsewhere (CI has no GPU and no xla tag).
func TestDataParallelMatchesOneDevice(t *testing.T) {
	if gomlxmodel.BackendName() != "xla" {
		t.Skip("needs GOMLX_BACKEND=xla:<plugin> and 2 devices")
	}
	b, err := gomlxmodel.NewBackend()
	if err != nil {
		t.Skip(err)
	}
	if b.NumDevices() < 2 {
		t.Skipf("backend has %d device(s)", b.NumDevices())
	}
	c := smallConfig()
	c.TotalSteps = 20
	run := func(devices int, p gomlxmodel.Precision) []float64 {
		out := filepath.Join(t.TempDir(), "ck")
		if _, err := Run(Options{Config: c, Variant: config.DefaultVariant(), Train: patterned(20000, c.VocabSize, 1), Val: patterned(2000, c.VocabSize, 2),
			Out: out, Devices: devices, Precision: p}); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var m StepMetrics
			if json.Unmarshal([]byte(line), &m) == nil && m.Kind == "train" {
				losses = append(losses, m.Loss)
			}
		}
		return losses
	}
	one, two, bf := run(1, gomlxmodel.FP32), run(2, gomlxmodel.FP32), run(1, gomlxmodel.BF16)
	// The two devices sum the halves' gradients in another order, and the difference grows with
	// the steps (the loss falls chaotically around step 15): measured on two H200s (2026-11-29),
	// at most 1e-4 through step 13 and 7.4e-4 by step 20, with or without deterministic kernels.
	for i := range one {
		tol := 1e-4
		if i >= 10 {
			tol = 2e-3
		}
		if d := math.Abs(one[i]-two[i]) / one[i]; d > tol {
			t.Errorf("step %d: loss %v on 1 device, %v on 2 (relative %.2e)", i+1, one[i], two[i], d)
		}
		if d := math.Abs(one[i]-bf[i]) / one[i]; d > 2e-2 {
			t.Errorf("step %d: loss %v fp32, %v bf16 (relative %.2e)", i+1, one[i], bf[i], d)
		}
	}
}
