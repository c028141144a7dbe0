// Package gomlxmodel holds, in GoMLX, the model families nanoscope diagnoses behind one Family
// interface (family.go): the investigated ternary transformer of REFERENCE.md §2 (nanoscope.go:
// BitLinear layers with straight-through ternary weights and 8-bit activations, RMSNorm, RoPE,
// GQA attention, SwiGLU, mHC-lite with two streams, a tied or untied head), GPT-2 (gpt2.go),
// Llama (llama.go) and nanochat (nanochat.go). Each family file opens with its tensor table.
//
// Parameters live in a GoMLX model.Store (v0.28.2; a context.Context before) under scopes that
// spell the candle tensor names: "blocks.3.attn.wq.weight" is variable "weight" in scope
// "/blocks/3/attn/wq", path "/blocks/3/attn/wq/weight"; graph code receives the store's root
// model.Scope and reads variables by that absolute path. Activations are
// captured under TransformerLens-style hook names derived from the same vocabulary (names.go).
package gomlxmodel

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"nanoscope/gomlxmodel/checkpoint"
)

// Params are a model's tensors by candle name, in host memory.
type Params = map[string]checkpoint.Tensor

// Rearranged returns p with the square matrices of transpose transposed and the pairs of
// exchange exchanged, in that order, each step on what the steps before it left (p itself is not
// changed; only the tensors touched are new): a converter's slip made, or undone — both are
// their own inverses. A tensor p lacks, a transposed one that is not a square matrix, or a pair
// of two shapes is an error naming them.
func Rearranged(p Params, transpose []string, exchange [][2]string) (Params, error) {
	out := maps.Clone(p)
	for _, n := range transpose {
		t, ok := out[n]
		if !ok {
			return nil, fmt.Errorf("the model has no tensor %s", n)
		}
		if len(t.Shape) != 2 || t.Shape[0] != t.Shape[1] {
			return nil, fmt.Errorf("%s is not a square matrix (shape %v)", n, t.Shape)
		}
		out[n] = t.Transposed()
	}
	for _, pr := range exchange {
		a, okA := out[pr[0]]
		b, okB := out[pr[1]]
		switch {
		case !okA:
			return nil, fmt.Errorf("the model has no tensor %s", pr[0])
		case !okB:
			return nil, fmt.Errorf("the model has no tensor %s", pr[1])
		case !slices.Equal(a.Shape, b.Shape):
			return nil, fmt.Errorf("%s %v and %s %v are not of one shape", pr[0], a.Shape, pr[1], b.Shape)
		}
		out[pr[0]], out[pr[1]] = b, a
	}
	return out, nil
}

// Hooks maps activation names to graph nodes, filled by Forward when capture is on. The names
// and their shapes are listed in names.go. Forward continues from what set returns: the
// activation, or its replacement by the graph's hook edits (WithHookEdits, hooks.go).
type Hooks map[string]*Node

func (h Hooks) set(name string, x *Node) *Node {
	x = editHook(name, x)
	if h != nil {
		h[name] = x
	}
	return x
}

func (h Hooks) setStreams(name string, s0, s1 *Node) (*Node, *Node) {
	s0 = h.set(WithStream(name, 0), s0)
	if s1 != nil {
		s1 = h.set(WithStream(name, 1), s1)
	}
	return s0, s1
}

// param returns the graph node of the parameter with the given candle name.
func param(ctx *model.Scope, g *Graph, name string) *Node {
	scope, vname := ScopeAndName(name)
	v := ctx.Store().GetVariable(model.JoinPath(scope, vname))
	if v == nil {
		panic(fmt.Errorf("gomlxmodel: parameter %s (scope %s) not in the store", name, scope))
	}
	return v.NodeValue(g)
}

// ScopeAndName maps a candle tensor name to a GoMLX scope and variable name:
// "blocks.3.attn.wq.weight" → ("/blocks/3/attn/wq", "weight").
func ScopeAndName(tensor string) (scope, name string) {
	i := strings.LastIndexByte(tensor, '.')
	if i < 0 {
		return "/", tensor
	}
	return "/" + strings.ReplaceAll(tensor[:i], ".", "/"), tensor[i+1:]
}

// TensorName is the inverse of ScopeAndName.
func TensorName(scope, name string) string {
	s := strings.Trim(scope, "/")
	if s == "" {
		return name
	}
	return strings.ReplaceAll(s, "/", ".") + "." + name
}
