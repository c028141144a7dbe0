package gomlxmodel

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Precision is the arithmetic of a training run's matrix products (train --precision).
//
//   - fp32 (the default): every tensor and every product in float32, as the original.
//   - tf32: the same graph; the XLA backend is opened with its "tf32" option, which marks
//     every float32 DotGeneral for TensorFloat-32 (inputs rounded to a 10-bit mantissa, float32
//     accumulation and output). Only the XLA backend on an NVIDIA GPU has it.
//   - bf16: the usual autocast recipe. The products of the blocks — the seven BitLinear
//     products per block and the two attention products (QKᵀ and P·V) — read bfloat16 copies of
//     their operands (after the ternary/int8 quantisers, which run in float32) and their
//     bfloat16 result is widened back to float32 at once; the backward pass differentiates
//     through the conversions, so the gradients of those products are bfloat16 products too.
//     float32 is kept for everything else, on purpose:
//     the master weights and the optimizer state (a bfloat16 weight would swallow every update
//     below 2⁻⁸ of its size: Lion's 1e-4 steps on the embedding would vanish); the quantisers'
//     scales (mean|w| per group, max|x| per token); RMSNorm, RoPE, softmax, mHC mixing and the
//     residual streams; the head's product and the logits (the tied N(0,1) embedding gives
//     fresh logits of ~250 in magnitude, where bfloat16's spacing is 1–2 nats, so the
//     softmax and the loss would be noise); the loss, the gradient norms and clipping; Muon's
//     Newton–Schulz iterations. With bf16 the XLA backend is also opened with "tf32", so the
//     products left in float32 (the head, Newton–Schulz) run as TF32 — the peer of PyTorch's
//     bf16 autocast with TF32 matmuls enabled.
//
// The go backend computes in float32 only: tf32 and bf16 are refused there (CheckPrecision).
type Precision string

// The precisions of train --precision.
const (
	FP32 Precision = "fp32"
	TF32 Precision = "tf32"
	BF16 Precision = "bf16"
)

// Precisions lists the valid values, in the order the help lists them.
var Precisions = []string{string(FP32), string(TF32), string(BF16)}

// ParsePrecision maps "" to fp32 and checks the name.
func ParsePrecision(s string) (Precision, error) {
	switch Precision(s) {
	case "", FP32:
		return FP32, nil
	case TF32, BF16:
		return Precision(s), nil
	}
	return "", fmt.Errorf("--precision %q: want fp32, tf32 or bf16", s)
}

// BackendOptions are the XLA plugin options the precision needs ("tf32" for tf32 and bf16).
func (p Precision) BackendOptions() []string {
	if p == TF32 || p == BF16 {
		return []string{"tf32"}
	}
	return nil
}

// CheckPrecision refuses a precision the backend in effect cannot compute: tf32 and bf16
// need the XLA backend (GOMLX_BACKEND=xla:...). The error is one line naming the flag.
func CheckPrecision(p Precision) error {
	if p == FP32 || p == "" {
		return nil
	}
	if BackendName() != "xla" {
		return fmt.Errorf("--precision %s needs the xla backend (GOMLX_BACKEND=xla:<PJRT plugin>, a binary built with -tags xla, an NVIDIA GPU); the go backend (%s) computes in float32 only", p, BackendConfig())
	}
	return nil
}

// BackendName is the backend part of BackendConfig: "go" or "xla".
func BackendName() string {
	name, _, _ := strings.Cut(BackendConfig(), ":")
	return name
}

// matMulDType is the dtype of the blocks' products: bfloat16 under bf16, else the operands'.
func (m Model) matMulDType() dtypes.DType {
	if m.Precision == BF16 {
		return dtypes.BFloat16
	}
	return dtypes.InvalidDType
}

// dot is DotGeneral for the blocks' products: under bf16 its operands are rounded to bfloat16
// and its result widened back to float32; otherwise it is DotGeneral itself.
func (m Model) dot(lhs *Node, lhsContract, lhsBatch []int, rhs *Node, rhsContract, rhsBatch []int) *Node {
	dt := m.matMulDType()
	if dt == dtypes.InvalidDType || lhs.DType() == dt {
		return DotGeneral(lhs, lhsContract, lhsBatch, rhs, rhsContract, rhsBatch)
	}
	out := lhs.DType()
	return ConvertDType(DotGeneral(ConvertDType(lhs, dt), lhsContract, lhsBatch, ConvertDType(rhs, dt), rhsContract, rhsBatch), out)
}

// bitLinear is BitLinear with the model's precision: the quantisers in float32, the product
// through dot. Under fp32/tf32 it is BitLinear exactly.
func (m Model) bitLinear(x, w *Node) *Node {
	if m.matMulDType() == dtypes.InvalidDType {
		return BitLinear(x, w, m.Config.GroupSize, m.Variant.Ternary)
	}
	if m.Variant.Ternary {
		x = straightThrough(x, Int8Activations(x))
		w = straightThrough(w, TernaryWeights(w, m.Config.GroupSize))
	}
	return m.dot(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
}
