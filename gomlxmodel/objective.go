package gomlxmodel

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Objective is the training objective of a family on one batch: the forward pass, the loss
// the optimizer minimises, the plain cross-entropy and, when asked, the loss's gradient with
// respect to every parameter. The trainer's step (package train), TrainFamily, and the
// instruments that must see what training sees (analysis.GradientFlow,
// analysis.TrainInferenceParity) all build it here, so they differentiate the same graph.
//
// Targets are given (B, T): the target shift of a run is the batcher's (tokenfile.Window). The
// precision of the products is the family's (Model.Precision).
type Objective struct {
	Family Family
	// LabelSmoothed selects the original's objective, Loss's 0.9·CE + 0.1·(−mean_v log p_v);
	// false optimises the plain cross-entropy (transformers' recipe for GPT-2 and Llama).
	LabelSmoothed bool
}

// TrainingObjective is the objective f is trained with: label-smoothed for the ternary model
// (the original's recipe), plain cross-entropy for the other families (TrainFamily).
func TrainingObjective(f Family) Objective {
	return Objective{Family: f, LabelSmoothed: f.Arch() == "nanoscope"}
}

// ObjectiveTerms are the graph values of an Objective on one batch.
type ObjectiveTerms struct {
	Logits *Node // (B, T, V)
	Loss   *Node // scalar: the optimised objective
	CE     *Node // scalar: plain cross-entropy, averaged over positions
	// Names, Vars and Values list every parameter (Family.ParamSpecs order: sorted by name);
	// Grads holds ∂Loss/∂Values in the same order when built by WithGradients, else nil.
	Names  []string
	Vars   []*model.Variable
	Values []*Node
	Grads  []*Node
}

// Build adds the forward pass and the losses of ids and targets (B, T) int32 to their graph,
// filling hooks when not nil.
func (o Objective) Build(ctx *model.Scope, ids, targets *Node, hooks Hooks) ObjectiveTerms {
	logits := o.Family.Forward(ctx, ids, hooks) // (B, T, V)
	smoothed, ce := Loss(logits, targets)
	t := ObjectiveTerms{Logits: logits, Loss: ce, CE: ce}
	if o.LabelSmoothed {
		t.Loss = smoothed
	}
	t.Names, t.Vars, t.Values = FamilyParameters(o.Family, ctx, ids.Graph())
	return t
}

// WithGradients is Build plus the gradient of the loss with respect to every parameter.
func (o Objective) WithGradients(ctx *model.Scope, ids, targets *Node, hooks Hooks) ObjectiveTerms {
	t := o.Build(ctx, ids, targets, hooks)
	t.Grads = Gradient(t.Loss, t.Values...)
	return t
}
