package blasdot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Measurement is one float32 product x·wᵀ (x M×K, w N×K, the layout of the model's linears and
// tied head) timed with the matrix product in effect and with the Go backend's own kernel (its fields
// keep v0.26.0's name for that backend, simplego).
type Measurement struct {
	M, K, N         int
	InEffect        string  // InEffect() at the time
	Ms, SimplegoMs  float64 // best time of one product, milliseconds
	GFLOPs          float64 // 2·M·N·K / Ms
	SimplegoGFLOPs  float64
	MaxRelDiff      float64 // max |in effect − own kernel| / max |own kernel|
	OpenBLASApplied bool    // the product went to OpenBLAS
}

// MeasureProduct times reps runs of x·wᵀ on backend (the go backend) with the matrix
// product in effect and with the Go backend's own kernel, and compares their results.
func MeasureProduct(backend compute.Backend, m, k, n, reps int) (Measurement, error) {
	r := Measurement{M: m, K: k, N: n, InEffect: InEffect()}
	rng := rand.New(rand.NewPCG(1, 1))
	rnd := func(rows, cols int) *tensors.Tensor {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, rows, cols)
	}
	x, w := rnd(m, k), rnd(n, k)
	exec, err := NewExec(backend, func(x, w *Node) *Node { return DotGeneral(x, []int{1}, nil, w, []int{1}, nil) })
	if err != nil {
		return r, err
	}
	defer exec.Finalize()
	run := func(blas bool) ([]float32, float64, error) {
		SetEnabled(blas)
		defer SetEnabled(true)
		var flat []float32
		best := math.Inf(1)
		for range max(reps, 1) + 1 { // the first run compiles
			before := Stats.BLAS.Load()
			t0 := time.Now()
			out, err := exec.Exec(x, w)
			if err != nil {
				return nil, 0, err
			}
			ms := float64(time.Since(t0).Microseconds()) / 1e3
			if blas {
				r.OpenBLASApplied = Stats.BLAS.Load() > before
			}
			if flat == nil {
				flat = tensors.MustCopyFlatData[float32](out[0])
			} else {
				best = min(best, ms)
			}
			out[0].FinalizeAll()
		}
		return flat, best, nil
	}
	got, ms, err := run(true)
	if err != nil {
		return r, err
	}
	want, sms, err := run(false)
	if err != nil {
		return r, err
	}
	var maxDiff, maxAbs float64
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		maxAbs = max(maxAbs, math.Abs(float64(want[i])))
	}
	flops := 2 * float64(m) * float64(n) * float64(k)
	r.Ms, r.SimplegoMs = ms, sms
	r.GFLOPs, r.SimplegoGFLOPs = flops/ms/1e6, flops/sms/1e6
	r.MaxRelDiff = maxDiff / maxAbs
	return r, nil
}

// String is one line: "1024×64 · (2048×64)ᵀ: 0.31 ms (86 GFLOP/s) … ".
func (r Measurement) String() string {
	return fmt.Sprintf("%d×%d · (%d×%d)ᵀ: %.3g ms (%.0f GFLOP/s) with %s; the Go backend's own kernel %.3g ms (%.1f GFLOP/s); max rel. difference %.1e",
		r.M, r.K, r.N, r.K, r.Ms, r.GFLOPs, r.InEffect, r.SimplegoMs, r.SimplegoGFLOPs, r.MaxRelDiff)
}
