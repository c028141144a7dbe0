package train

import "math"

// MinLRFrac is the floor of the WSD schedule's cosine decay, as a fraction of the peak rate.
// The original's floor is not recorded in REFERENCE.md; 0.1 is the common choice.
const MinLRFrac = 0.1

// WSD is the warmup–stable–decay schedule: linear warmup over warmup steps, constant until
// decayStartFrac·total, then cosine decay to MinLRFrac·peak at the last step.
// It returns the multiplier of the peak learning rate for 0-based step.
func WSD(step, warmup, total int, decayStartFrac float64) float64 {
	if warmup > 0 && step < warmup {
		return float64(step+1) / float64(warmup)
	}
	decayStart := int(decayStartFrac * float64(total))
	if step < decayStart || total <= decayStart {
		return 1
	}
	progress := float64(step-decayStart) / float64(max(1, total-1-decayStart))
	progress = min(progress, 1)
	return MinLRFrac + (1-MinLRFrac)*0.5*(1+math.Cos(math.Pi*progress))
}
