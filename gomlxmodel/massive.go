package gomlxmodel

import (
	"fmt"
	"slices"
	"strings"

	"nanoscope/gomlxmodel/checkpoint"
)

// ScaleResidual returns the weights p of f with the residual stream scaled by c: the token
// embedding and every matrix that writes into the stream (those reading an attention's
// hook_z or an MLP's hook_post: o_proj, down_proj, wo, w_down) multiplied by c. Every norm
// of an untied RMSNorm family divides c out again, so the logits are those of p up to the
// norms' epsilon, while the stream's activations are c times larger: the "massive
// activations" under which a half-precision forward overflows (x² in a norm passes 65504 once
// |x| > 256). A tied head (it would scale the logits) or a LayerNorm family is an error.
func ScaleResidual(f Family, p Params, c float64) (Params, error) {
	spec := f.Spec()
	if spec.Tied || spec.Norm != NormRMS {
		return nil, fmt.Errorf("%s: scaling the residual stream keeps the logits only for an untied RMSNorm family (tied %v, norm %s)", f.Arch(), spec.Tied, spec.Norm)
	}
	scale := map[string]bool{spec.Embed: true}
	for name, w := range spec.Weights {
		if strings.HasSuffix(w.Reads, "."+HookZ) || strings.HasSuffix(w.Reads, "."+HookPost) {
			scale[name] = true
		}
	}
	out := Params{}
	for name, t := range p {
		d := slices.Clone(t.Data)
		if scale[name] {
			for i := range d {
				d[i] *= float32(c)
			}
		}
		out[name] = checkpoint.Tensor{Shape: slices.Clone(t.Shape), Data: d}
	}
	return out, nil
}
