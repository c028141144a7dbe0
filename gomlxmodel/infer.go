package gomlxmodel

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/config"
)

// Runner evaluates a model with fixed weights: the inference path.
type Runner struct {
	Model   Model
	Backend compute.Backend
	Scope   *model.Scope
}

// NewRunner builds the model of (c, v) with weights p on the backend of BackendConfig.
func NewRunner(c config.Config, v config.Variant, p Params) (*Runner, error) {
	InstallDotGeneralGradient()
	b, err := NewBackend()
	if err != nil {
		return nil, err
	}
	ctx, err := NewScope(c, v, p)
	if err != nil {
		return nil, err
	}
	return &Runner{Model: Model{Config: c, Variant: v}, Backend: b, Scope: ctx}, nil
}

// CheckIDs rejects token ids outside [0, vocab_size), naming the first bad position.
func CheckIDs(ids [][]int32, vocab int) error {
	for b, row := range ids {
		for t, id := range row {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("token id %d at position [%d][%d] is outside [0, vocab_size=%d)", id, b, t, vocab)
			}
		}
	}
	return nil
}

func idsTensor(ids [][]int32) (*tensors.Tensor, error) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, fmt.Errorf("no token ids")
	}
	t := len(ids[0])
	flat := make([]int32, 0, len(ids)*t)
	for i, row := range ids {
		if len(row) != t {
			return nil, fmt.Errorf("ragged batch: row %d has %d ids, row 0 has %d", i, len(row), t)
		}
		flat = append(flat, row...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(ids), t), nil
}

// Logits returns the logits (B, T, V) for ids (B, T), flattened row-major.
func (r *Runner) Logits(ids [][]int32) ([]float32, error) {
	out, err := r.Capture(ids, nil)
	if err != nil {
		return nil, err
	}
	return out["logits"], nil
}

// Capture runs the forward pass and returns the logits under "logits" and the named hooks
// (see Hooks), each flattened row-major, converted to float32 (FamilyRunner.Capture on the
// runner's weights).
func (r *Runner) Capture(ids [][]int32, hookNames []string) (map[string][]float32, error) {
	return (&FamilyRunner{Family: r.Model, Backend: r.Backend, Scope: r.Scope}).Capture(ids, hookNames)
}
