package gomlxmodel

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// Params are a model's tensors by candle name, in host memory.
type Params = map[string]checkpoint.Tensor

// InitKind says how the original initialises a tensor (REFERENCE.md §2).
type InitKind struct {
	Normal bool    // N(0, Std) when true, else the constant Value
	Std    float64 // standard deviation of the normal
	Value  float32 // the constant
}

// InitOf returns the original's initialisation of a tensor: tok_embed N(0, 1) (candle's
// embedding default), linear weights and lm_head N(0, 0.02), RMSNorm weights 1, alpha_logit
// and the mHC logits 0, the mHC biases 0.5.
func InitOf(name string) InitKind {
	switch {
	case name == ParamTokEmbed:
		return InitKind{Normal: true, Std: 1}
	case hasSuffix(name, MHCAlphaLogit, MHCPreLogits, MHCPostLogits):
		return InitKind{Value: 0}
	case hasSuffix(name, MHCPreBias, MHCPostBias):
		return InitKind{Value: 0.5}
	case hasSuffix(name, "norm_attn.weight", "norm_ffn.weight") || name == ParamNormFinal:
		return InitKind{Value: 1}
	}
	return InitKind{Normal: true, Std: 0.02} // attention, FFN and lm_head weights
}

func hasSuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if len(s) >= len(x) && s[len(s)-len(x):] == x {
			return true
		}
	}
	return false
}

// InitParams draws a freshly initialised model. Each tensor has its own random stream derived
// from (seed, name), so a tensor's initial value does not depend on which others exist.
func InitParams(c config.Config, v config.Variant, seed int64) Params {
	shapes := c.TensorShapes(v)
	out := make(Params, len(shapes))
	for _, name := range config.SortedNames(shapes) {
		shape := shapes[name]
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		init := InitOf(name)
		if init.Normal {
			h := fnv.New64a()
			h.Write([]byte(name))
			rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
			for i := range data {
				data[i] = float32(rng.NormFloat64() * init.Std)
			}
		} else {
			for i := range data {
				data[i] = init.Value
			}
		}
		out[name] = checkpoint.Tensor{Shape: slices.Clone(shape), Data: data}
	}
	return out
}

// CheckParams verifies that params hold exactly the tensors of the configuration, with the
// right shapes: the model is never built from a partial set.
func CheckParams(c config.Config, v config.Variant, p Params) error {
	want := c.TensorShapes(v)
	var missing, extra []string
	for name := range want {
		if _, ok := p[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range p {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		return fmt.Errorf("parameters do not match the config: missing %v, unexpected %v", missing, extra)
	}
	for name, shape := range want {
		t := p[name]
		if !slices.Equal(t.Shape, shape) {
			return fmt.Errorf("parameter %s: shape mismatch: expected %v, found %v", name, shape, t.Shape)
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if len(t.Data) != n {
			return fmt.Errorf("parameter %s: %d values for shape %v", name, len(t.Data), shape)
		}
	}
	return nil
}

// NewScope creates a GoMLX model.Store whose variables are exactly params (checked first) and
// returns its root scope.
func NewScope(c config.Config, v config.Variant, p Params) (*model.Scope, error) {
	if err := CheckParams(c, v, p); err != nil {
		return nil, err
	}
	ctx := model.NewStore().RootScope()
	for _, name := range config.SortedNames(c.TensorShapes(v)) {
		t := p[name]
		scope, vname := ScopeAndName(name)
		ctx.Store().VariableWithValue(model.JoinPath(scope, vname), tensors.FromFlatDataAndDimensions(slices.Clone(t.Data), t.Shape...))
	}
	return ctx, nil
}

// ScopeParams copies the model's variables out of ctx's store (other scopes, such as
// optimizer state, are ignored).
func ScopeParams(ctx *model.Scope, c config.Config, v config.Variant) (Params, error) {
	shapes := c.TensorShapes(v)
	out := make(Params, len(shapes))
	for name, shape := range shapes {
		scope, vname := ScopeAndName(name)
		vr := ctx.Store().GetVariable(model.JoinPath(scope, vname))
		if vr == nil {
			return nil, fmt.Errorf("store has no variable for %s", name)
		}
		val, err := vr.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		out[name] = checkpoint.Tensor{Shape: slices.Clone(shape), Data: data}
	}
	return out, nil
}
