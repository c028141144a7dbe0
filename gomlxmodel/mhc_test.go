package gomlxmodel

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// A two-stream example computed by hand (with a calculator, from REFERENCE.md §2):
// s0 = (1, 2), s1 = (3, −1), y = (0.5, 1), pre_logits = (0.2, −0.4), post_logits = (0.3, −0.1),
// biases 0.5, alpha_logit = 1.
//
//	h_pre  = sigmoid(0.7, 0.1)   = (0.668188, 0.524979);  u = h_pre·(s0, s1) = (2.243125, 0.811396)
//	h_post = 2·sigmoid(0.8, 0.4) = (1.379949, 1.197375);  r0 = (1.689974, 3.379949), r1 = (3.598688, 0.197375)
//	alpha  = sigmoid(1) = 0.731059; s0' = (2.203307, 2.524023), s1' = (3.085356, 1.053301)
func TestMHCHandComputed(t *testing.T) {
	b, err := NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	v3 := func(x ...float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, 1, 1, len(x)) }
	vec := func(x ...float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, len(x)) }
	e, err := graph.NewExec(b, func(in []*graph.Node) []*graph.Node {
		u := MHCPrepare(in[0], in[1], in[3], in[4])
		n0, n1 := MHCApply(in[0], in[1], in[2], in[5], in[4], in[6])
		return []*graph.Node{u, n0, n1}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Exec(v3(1, 2), v3(3, -1), v3(0.5, 1), vec(0.2, -0.4), vec(0.5, 0.5), vec(0.3, -0.1), vec(1))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]float64{{2.2431253346, 0.8113963569}, {2.2033065165, 2.5240230834}, {3.0853556248, 1.0533011991}} {
		assertClose(t, []string{"u", "s0'", "s1'"}[i], tensors.MustCopyFlatData[float64](res[i]), want, 1e-9)
	}
}
