package gomlxmodel

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// EvalSums computes, for ids and targets (B, T), the summed plain cross-entropy, the number of
// positions whose argmax equals the target (next-token hits) and the number whose argmax
// equals the input token at the same position (copies). All are float32 scalars.
func (m Model) EvalSums(ctx *model.Scope, ids, targets *Node) (ceSum, nextHits, copyHits *Node) {
	logits := m.Forward(ctx, ids, nil)
	_, ce := Loss(logits, targets)
	n := float64(ids.Shape().Size())
	ceSum = MulScalar(ConvertDType(ce, dtypes.Float32), n)
	pred := ArgMax(logits, -1, dtypes.Int32) // (B, T)
	count := func(x *Node) *Node { return ReduceAllSum(ConvertDType(Equal(pred, x), dtypes.Float32)) }
	return ceSum, count(targets), count(ids)
}
