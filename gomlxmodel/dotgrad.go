package gomlxmodel

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// GoMLX v0.26.0's gradient of DotGeneral multiplied the incoming gradient with a broadcast
// copy of the other operand and then reduced it: for a [B·T, D] × [D, V] product that
// materialises a [B·T, D, V] tensor. On the pure-Go backend this made a training step several
// times slower (REFERENCE.md §4). The gradient of a contraction is itself a contraction, so
// dotGeneralGrad computes each operand's gradient with one DotGeneral and one transpose.
//
// GoMLX v0.28.2's own gradient is a DotGeneral too when the other operand has free axes, but it
// returns a gradient of the wrong shape (and the graph fails to build) when the rhs lists its
// contracting axes out of ascending order (dotgrad_test.go has the case), so this one stays.
//
// The axes of a DotGeneral node live in an unexported struct of package graph; they are read
// with reflection (read-only, which Go permits for unexported fields). A test compares this
// gradient with GoMLX's own on every axis layout the model uses.

var (
	originalDotGeneralVJP graph.VJP
	installDotGradOnce    sync.Once
)

// InstallDotGeneralGradient replaces GoMLX's DotGeneral gradient by dotGeneralGrad for every
// graph built afterwards in this process. It is idempotent.
func InstallDotGeneralGradient() {
	installDotGradOnce.Do(func() {
		originalDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = dotGeneralGrad
	})
}

// OriginalDotGeneralVJP is GoMLX's own gradient, kept for the equivalence test.
func OriginalDotGeneralVJP() graph.VJP {
	InstallDotGeneralGradient()
	return originalDotGeneralVJP
}

// dotAxes are the contracting and batch axes of one DotGeneral node.
type dotAxes struct {
	lhsContract, lhsBatch, rhsContract, rhsBatch []int
}

func readDotAxes(node *graph.Node) dotAxes {
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() {
		panic(errors.New("gomlxmodel: graph.Node has no field inputs: GoMLX version changed, update dotgrad.go"))
	}
	s := in.Elem().Elem() // interface -> *nodeInputsDotGeneral -> struct
	ints := func(field string) []int {
		f := s.FieldByName(field)
		if !f.IsValid() {
			panic(fmt.Errorf("gomlxmodel: DotGeneral inputs have no field %s: GoMLX version changed, update dotgrad.go", field))
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	return dotAxes{ints("lhsContractingAxes"), ints("lhsBatchAxes"), ints("rhsContractingAxes"), ints("rhsBatchAxes")}
}

// freeAxes lists the axes of a rank-r operand that are neither contracted nor batch, in order.
func freeAxes(rank int, contract, batch []int) []int {
	used := make([]bool, rank)
	for _, a := range contract {
		used[a] = true
	}
	for _, a := range batch {
		used[a] = true
	}
	var out []int
	for a := 0; a < rank; a++ {
		if !used[a] {
			out = append(out, a)
		}
	}
	return out
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

// dotGeneralGrad: with out = [batch…, lhsFree…, rhsFree…] and incoming gradient v of that shape,
//
//	∂lhs = v ·(contract rhsFree)· rhs  → [batch…, lhsFree…, rhsContract…], then transposed to lhs's layout;
//	∂rhs = v ·(contract lhsFree)· lhs  → [batch…, rhsFree…, lhsContract…], then transposed to rhs's layout.
//
// The i-th contracting axis of lhs pairs with the i-th of rhs. The trailing axes of ∂lhs are
// the axes rhs has left after its free and batch axes are contracted away, in rhs's axis
// order; each is the partner of one lhs contracting axis (pairedInOrderOf), and likewise for ∂rhs.
func dotGeneralGrad(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	v := vjpOutputs[0]
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	ax := readDotAxes(node)
	nb := len(ax.lhsBatch)
	lhsFree := freeAxes(lhs.Rank(), ax.lhsContract, ax.lhsBatch)
	rhsFree := freeAxes(rhs.Rank(), ax.rhsContract, ax.rhsBatch)
	vBatch := iota(0, nb)
	vLhsFree := iota(nb, len(lhsFree))
	vRhsFree := iota(nb+len(lhsFree), len(rhsFree))

	// ∂lhs: contract v's rhs-free axes with rhs's free axes, batch over batch axes.
	gl := graph.DotGeneral(v, vRhsFree, vBatch, rhs, rhsFree, ax.rhsBatch) // [batch, lhsFree, rhsContract]
	gl = graph.TransposeAllAxes(gl, inversePerm(lhs.Rank(), ax.lhsBatch, lhsFree, pairedInOrderOf(ax.rhsContract, ax.lhsContract))...)

	// ∂rhs: contract v's lhs-free axes with lhs's free axes.
	gr := graph.DotGeneral(v, vLhsFree, vBatch, lhs, lhsFree, ax.lhsBatch) // [batch, rhsFree, lhsContract]
	gr = graph.TransposeAllAxes(gr, inversePerm(rhs.Rank(), ax.rhsBatch, rhsFree, pairedInOrderOf(ax.lhsContract, ax.rhsContract))...)
	return []*graph.Node{gl, gr}
}

// pairedInOrderOf returns the partners of the axes in order, listed in ascending order of order:
// partner[i] pairs with order[i].
func pairedInOrderOf(order, partner []int) []int {
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return order[a] - order[b] })
	out := make([]int, len(idx))
	for i, j := range idx {
		out[i] = partner[j]
	}
	return out
}

// inversePerm returns the permutation p such that TransposeAllAxes(x, p...) moves the axes of
// x, laid out as [groups[0]…, groups[1]…, …], back to their original positions: output axis a
// takes x's axis at the position where a appears in the concatenated groups.
func inversePerm(rank int, groups ...[]int) []int {
	perm := make([]int, rank)
	pos := 0
	for _, g := range groups {
		for _, a := range g {
			perm[a] = pos
			pos++
		}
	}
	return perm
}
