package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

// The arrangement search: a converter that writes the rows of a matrix in another order than
// the matrix that reads them expects — a rotary permutation applied to all of a fused qkv_proj
// instead of q and k, one head's dimensions reversed or rolled in one projection — leaves a model
// that loads and runs, with no convention to flip and no tensor in the wrong slot. The
// rearrangements of an axis are too many to re-run, so the search asks the loss which it wants:
// writing index j into slot i of a matrix W changes the loss, to first order, by
// C[i][j] − C[i][i], with C[i][j] = ⟨∂L/∂W_i, W_j⟩ (gomlxmodel.FamilyRunner.ArrangementCosts,
// one backward pass). Priced over every permutation of a head, that prediction is noise (measured
// on blind kit 4f's Phi-3 with v's rows interleaved: the cheapest permutation of each head, by an
// assignment, was none of the true ones); priced over the few permutations converters' index
// arithmetic produces (blockPermutations) and summed over the consecutive heads a slip covers, the
// true rearrangement stands out (there: 0.18 and 0.34 nats predicted for v's four heads of layers
// 0 and 1, against a few hundredths per head elsewhere). Only the head axes are priced (headAxis):
// rearranging the residual stream or an MLP's units scrambles a matrix's contribution, and a
// harmful one, negated, then gains as if restored. A trained model has nothing to gain from
// rearranging its own rows, so the prediction only ranks candidates: each is re-run by the search
// like the placement search's edits and must hold like them (permutingDeltaNats), and beat
// zeroing what it moves by half its gain (ablatedRun, ambiguousFinding).

// Permutation is a rearrangement of one axis of a saved matrix: index i of the axis (0: rows as
// stored, 1: columns) holds what index Perm[i] held; Bias, when not "", is the vector of the same
// linear that moves with it.
type Permutation struct {
	Tensor string `json:"tensor"`
	Bias   string `json:"bias,omitempty"`
	Axis   int    `json:"axis"`
	Perm   []int  `json:"perm"`
	// Zero writes zeros into the indices Perm moves instead of rearranging them: the ablation a
	// rearrangement must beat (ablatedRun).
	Zero bool `json:"zero,omitempty"`
}

// flag is the command-line flag that applies the permutation: --permute TENSOR:AXIS=p0,p1,….
func (p Permutation) flag() string {
	parts := make([]string, len(p.Perm))
	for i, j := range p.Perm {
		parts[i] = strconv.Itoa(j)
	}
	return fmt.Sprintf("--permute %s:%d=%s", p.Tensor, p.Axis, strings.Join(parts, ","))
}

// ParsePermutation parses the value of --permute: TENSOR:AXIS=p0,p1,… (AXIS 0 for rows as
// stored, 1 for columns; index i of the axis takes what index p_i held).
func ParsePermutation(v string) (Permutation, error) {
	lhs, list, ok := strings.Cut(v, "=")
	i := strings.LastIndex(lhs, ":")
	if !ok || i <= 0 || list == "" {
		return Permutation{}, fmt.Errorf("want TENSOR:AXIS=p0,p1,…, got %q", v)
	}
	p := Permutation{Tensor: lhs[:i]}
	var err error
	if p.Axis, err = strconv.Atoi(lhs[i+1:]); err != nil || (p.Axis != 0 && p.Axis != 1) {
		return Permutation{}, fmt.Errorf("axis %q of %s: want 0 (rows) or 1 (columns)", lhs[i+1:], p.Tensor)
	}
	for _, s := range strings.Split(list, ",") {
		j, err := strconv.Atoi(s)
		if err != nil {
			return Permutation{}, fmt.Errorf("permutation of %s: %q is not an index", p.Tensor, s)
		}
		p.Perm = append(p.Perm, j)
	}
	return p, nil
}

// apply returns t with the permutation applied to axis; errors name the tensor.
func (p Permutation) apply(t checkpoint.Tensor, name string, axis int) (checkpoint.Tensor, error) {
	n := len(p.Perm)
	if axis >= len(t.Shape) || t.Shape[axis] != n {
		return t, fmt.Errorf("%s: the permutation has %d indices, axis %d of shape %v has %d", name, n, axis, t.Shape, t.Shape[min(axis, len(t.Shape)-1)])
	}
	seen := make([]bool, n)
	for _, j := range p.Perm {
		if j < 0 || j >= n || seen[j] {
			return t, fmt.Errorf("%s: %v is not a permutation of 0…%d", name, p.Perm, n-1)
		}
		seen[j] = true
	}
	inner := 1 // the contiguous run of one index: a row, or one element of a column
	for _, d := range t.Shape[axis+1:] {
		inner *= d
	}
	outer := len(t.Data) / (n * inner)
	out := checkpoint.Tensor{Shape: t.Shape, Data: make([]float32, len(t.Data))}
	for o := range outer {
		for i, j := range p.Perm {
			if p.Zero && i != j {
				continue
			}
			if p.Zero {
				j = i
			}
			copy(out.Data[(o*n+i)*inner:(o*n+i+1)*inner], t.Data[(o*n+j)*inner:(o*n+j+1)*inner])
		}
	}
	return out, nil
}

// applyTo returns params with the permutation applied to its tensor and bias (copies of both).
func (p Permutation) applyTo(params gomlxmodel.Params) error {
	for _, name := range []string{p.Tensor, p.Bias} {
		if name == "" {
			continue
		}
		t, ok := params[name]
		if !ok {
			return fmt.Errorf("no tensor %s", name)
		}
		axis := p.Axis
		if name == p.Bias {
			axis = 0
		}
		t, err := p.apply(t, name, axis)
		if err != nil {
			return err
		}
		params[name] = t
	}
	return nil
}

// arrangementRequests are the axes the arrangement search prices, within blocks of head_dim:
// the head axis (headAxis) of every weight matrix that has one. Bias is the linear's bias where it
// moves with the axis.
func arrangementRequests(s *Subject) []gomlxmodel.Arrangement {
	spec := s.spec()
	hd := spec.HeadDim
	if hd < 4 {
		return nil
	}
	var out []gomlxmodel.Arrangement
	for _, name := range slices.Sorted(maps.Keys(spec.Weights)) {
		t, ok := s.Params[name]
		axis, heads := headAxis(spec.Weights[name])
		if !ok || !heads || len(t.Shape) != 2 || t.Shape[axis]%hd != 0 {
			continue
		}
		out = append(out, gomlxmodel.Arrangement{Param: name, Bias: linearBias(spec, s.Params, name, axis), Axis: axis, Block: hd})
	}
	return out
}

// headAxis is the axis of a weight matrix whose indices are the heads' dimensions: the output of
// a matrix that reads the attention's input (q, k and v, fused or not) and the input of one that
// reads hook_z (the attention's output projection). ok is false for the others: the residual
// stream and an MLP's units have no blocks of head_dim, and a rearrangement of them scrambles a
// matrix's contribution (a harmful one, negated, then gains as if restored).
func headAxis(w gomlxmodel.WeightSpec) (axis int, ok bool) {
	out := map[bool]int{false: 0, true: 1}[w.InOut]
	switch {
	case strings.HasSuffix(w.Reads, "."+gomlxmodel.SubAttn+"."+gomlxmodel.HookIn):
		return out, true
	case strings.HasSuffix(w.Reads, "."+gomlxmodel.SubAttn+"."+gomlxmodel.HookZ):
		return 1 - out, true
	}
	return 0, false
}

// ablatedRun re-runs the best run of the search when it rearranges (an edit of the arrangement
// search) with the rearranged indices zeroed instead, on the windows its conditions were
// confirmed on, with its gain over the model as loaded (nil when the best run rearranges
// nothing). A rearrangement that restores what training wrote beats removing those weights by
// far; one that only scrambles a harmful part (a negated projection) does no better than
// removing it (see ambiguousFinding).
func ablatedRun(s *Subject, cat *Catalog) (*OffsetCE, error) {
	best, _, _ := bestCondition(cat)
	if best == nil {
		return nil, nil
	}
	flips := slices.Clone(best.Flips)
	found := false
	for i, f := range flips {
		if f.Edit == nil || len(f.Edit.Permute) == 0 {
			continue
		}
		e := *f.Edit
		e.Permute = slices.Clone(e.Permute)
		for k := range e.Permute {
			e.Permute[k].Zero = true
		}
		e.What = "zeroed where " + e.What
		flips[i].Edit, flips[i].Value, found = &e, "zeroed", true
	}
	if !found {
		return nil, nil
	}
	o, err := runFlips(s, flips, cat.confirm)
	if err != nil {
		return nil, err
	}
	o.Flips, o.Condition = flips, ConditionName(flips)
	o.Gain, o.SE = gainOver(cat.heldOut, o)
	return &o, nil
}

// linearBias is the bias that moves with axis of the weight matrix name: the linear's bias
// ("….bias" beside "….weight"), as long as the axis, when the axis is its output (rows of
// nn.Linear, columns of Conv1D: FamilySpec.Weights); else "".
func linearBias(spec gomlxmodel.FamilySpec, p gomlxmodel.Params, name string, axis int) string {
	w, ok := spec.Weights[name]
	b, isWeight := strings.CutSuffix(name, ".weight")
	if !ok || !isWeight || axis != map[bool]int{false: 0, true: 1}[w.InOut] {
		return ""
	}
	if t, ok := p[b+".bias"]; ok && len(t.Shape) == 1 && t.Shape[0] == p[name].Shape[axis] {
		return b + ".bias"
	}
	return ""
}

// WithBias returns pm with the bias of its linear (linearBias) moving with its axis: what
// --permute applies.
func WithBias(f gomlxmodel.Family, p gomlxmodel.Params, pm Permutation) Permutation {
	if _, ok := p[pm.Tensor]; ok {
		pm.Bias = linearBias(f.Spec(), p, pm.Tensor, pm.Axis)
	}
	return pm
}

// blockPermutations are the rearrangements of a block of b indices that converters' index
// arithmetic produces, by name: the two rotary pairings read as each other (interleaved pairs
// 2j, 2j+1 written as halves j, j + b/2, and the reverse), the block reversed, each pair's two
// members exchanged, and the block rolled by 1, 2, b/4, b/2 (its halves exchanged) and their
// complements (a sub-block moved from the front to the back): eleven for b ≥ 16. perm[i] is the index written into
// slot i.
func blockPermutations(b int) map[string][]int {
	out := map[string][]int{}
	add := func(name string, f func(i int) int) {
		p := make([]int, b)
		for i := range p {
			p[i] = f(i)
		}
		out[name] = p
	}
	add("interleaved_as_halves", func(i int) int { return (i%(b/2))*2 + i/(b/2) })
	add("halves_as_interleaved", func(i int) int { return (i%2)*(b/2) + i/2 })
	add("reversed", func(i int) int { return b - 1 - i })
	add("pairs_exchanged", func(i int) int { return i ^ 1 })
	for _, k := range []int{1, 2, b / 4, b / 2, b - b/4, b - 2, b - 1} {
		if k > 0 && k < b {
			add(fmt.Sprintf("rolled_by_%d", k), func(i int) int { return (i + k) % b })
		}
	}
	return out
}

// arrangementWindows are the windows the arrangement search prices on: about arrangePriceFactor
// times the diagnosis's windows w drawn from the token stream, without those the search confirms
// on (so a candidate is not judged on the positions that chose it); the search's screen alone
// when the stream holds no more.
func arrangementWindows(w *Windows) *Windows {
	screen, confirm := splitScreen(w)
	if more := w.wider(arrangePriceFactor, confirm); more != nil && len(more.Inputs) > len(screen.Inputs) {
		return more
	}
	return screen
}

// arranged is a candidate of the arrangement search: a block permutation applied to blocks
// [from, to) of one axis of a matrix, with the loss gain it predicts (nats, first order) and that
// gain's significance against the axis's noise (arrangementsOf).
type arranged struct {
	perm     Permutation
	name     string
	from, to int
	gain, z  float64
	segment  *arranged // the role segment around the run, when it is not one
}

// arrangementEdits returns the rearrangements the search re-runs, most significant first (at
// most maxArrangements): the candidates of every request of arrangementRequests
// (arrangementsOf, priced by ArrangementCosts on the windows w), and, for a role whose axes lead
// with one block permutation in several layers, that permutation in all of them. PriorZ holds the
// predicted gain (nats, first order).
func arrangementEdits(s *Subject, w *Windows) ([]Edit, error) {
	reqs := arrangementRequests(s)
	if len(reqs) == 0 || len(w.Inputs) == 0 {
		return nil, nil
	}
	r, err := s.Runner()
	if err != nil {
		return nil, err
	}
	T, V := len(w.Inputs[0]), s.dims().VocabSize
	bs := max(1, min(len(w.Inputs), trainPassElems/(T*V)))
	tg := w.Targets(s.targetShift())
	costs := make([][]float64, len(reqs))
	for start := 0; start < len(w.Inputs); start += bs {
		end := min(start+bs, len(w.Inputs))
		cs, err := r.ArrangementCosts(w.Inputs[start:end], tg[start:end], reqs)
		if err != nil {
			return nil, err
		}
		for i, c := range cs {
			if costs[i] == nil {
				costs[i] = make([]float64, len(c))
			}
			for j, x := range c {
				costs[i][j] += float64(x) * float64(end-start) / float64(len(w.Inputs))
			}
		}
	}
	type scored struct {
		e Edit
		z float64
	}
	var edits []scored
	roles := map[string][]arranged{} // each axis's best by role (the name without its layer), axis and permutation
	for i, q := range reqs {
		n := s.Params[q.Param].Shape[q.Axis]
		for k, c := range arrangementsOf(costs[i], q, n, roleSegments(s.spec(), n/q.Block)) {
			edits = append(edits, scored{Edit{Permute: []Permutation{c.perm}, PriorZ: c.gain,
				What: fmt.Sprintf("%s's %s in blocks %d–%d %s", c.perm.Tensor, axisName(c.perm.Axis), c.from, c.to-1, c.name)}, c.z})
			if prefix, _, rest, ok := layerName(c.perm.Tensor); ok && k == 0 {
				role := fmt.Sprintf("%sN.%s's %s %s", prefix, rest, axisName(c.perm.Axis), c.name)
				roles[role] = append(roles[role], c)
				if c.segment != nil {
					c = *c.segment
				}
				roles[role+" (whole roles)"] = append(roles[role+" (whole roles)"], c)
			}
		}
	}
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		if cs := roles[role]; len(cs) > 1 && (!strings.HasSuffix(role, " (whole roles)") || !slices.EqualFunc(cs, roles[strings.TrimSuffix(role, " (whole roles)")], func(a, b arranged) bool { return a.from == b.from && a.to == b.to })) {
			var blocks []string
			var e Edit
			z := 0.0
			for _, c := range cs {
				e.Permute, e.PriorZ, z = append(e.Permute, c.perm), e.PriorZ+c.gain, z+c.z
				blocks = append(blocks, fmt.Sprintf("%d–%d", c.from, c.to-1))
			}
			e.What = fmt.Sprintf("%s in %d layers (blocks %s)", role, len(cs), strings.Join(blocks, ", "))
			edits = append(edits, scored{e, z / math.Sqrt(float64(len(cs)))})
		}
	}
	slices.SortStableFunc(edits, func(a, b scored) int { return cmp.Compare(b.z, a.z) })
	out := make([]Edit, 0, maxArrangements)
	for _, sc := range edits[:min(len(edits), maxArrangements)] {
		out = append(out, sc.e)
	}
	return out, nil
}

func axisName(axis int) string { return map[int]string{0: "rows", 1: "columns"}[axis] }

// arrangementsOf returns the candidates of one request (costs: its ArrangementCosts blocks; n the
// axis's length; segments the runs of blocks that are one role, roleSegments): for each block
// permutation, the run of consecutive blocks whose first-order gain is most significant — the
// largest z = Σ g / (σ √len), σ the axis's noise, the median magnitude of all its block gains —
// and the role segment around that run when it is not one, ranked with its run (a converter's slip
// covers a role, and the run's edge blocks may gain too little to stand out); the best keepPerAxis
// by z.
func arrangementsOf(costs []float64, q gomlxmodel.Arrangement, n int, segments [][2]int) []arranged {
	b := q.Block
	perms := blockPermutations(b)
	names := slices.Sorted(maps.Keys(perms))
	gains := map[string][]float64{} // block gains of each permutation
	var all []float64
	for _, name := range names {
		g := make([]float64, n/b)
		for k := range g {
			for i, j := range perms[name] {
				g[k] += costs[(k*b+i)*b+i] - costs[(k*b+i)*b+j]
			}
			all = append(all, math.Abs(g[k]))
		}
		gains[name] = g
	}
	sigma := median(all)
	if !(sigma > 0) {
		return nil
	}
	var out []arranged
	add := func(name string, from, to int, z float64) {
		sum := 0.0
		for _, x := range gains[name][from:to] {
			sum += x
		}
		if !(sum > 0) {
			return
		}
		perm := identity(n)
		for k := from; k < to; k++ {
			for i, j := range perms[name] {
				perm[k*b+i] = k*b + j
			}
		}
		if z == 0 {
			z = sum / (sigma * math.Sqrt(float64(to-from)))
		}
		out = append(out, arranged{Permutation{Tensor: q.Param, Bias: q.Bias, Axis: q.Axis, Perm: perm}, strings.ReplaceAll(name, "_", " "), from, to, sum, z, nil})
	}
	for _, name := range names {
		from, to := mostSignificantRun(gains[name])
		if to == from {
			continue
		}
		add(name, from, to, 0)
		for _, sg := range segments {
			if sg[0] <= from && to <= sg[1] {
				if core := len(out) - 1; sg != [2]int{from, to} {
					add(name, sg[0], sg[1], out[core].z) // as significant as its core: a slip covers a role
					seg := out[len(out)-1]
					out[core].segment = &seg
				}
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b arranged) int { return cmp.Compare(b.z, a.z) })
	return out[:min(len(out), keepPerAxis)]
}

// mostSignificantRun returns the run [from, to) of consecutive g with the largest positive
// Σ g / √len (to = from when no g is positive).
func mostSignificantRun(g []float64) (from, to int) {
	best := 0.0
	for i := range g {
		sum := 0.0
		for j := i; j < len(g); j++ {
			sum += g[j]
			if z := sum / math.Sqrt(float64(j-i+1)); z > best {
				best, from, to = z, i, j+1
			}
		}
	}
	return from, to
}

// roleSegments are the runs of an axis's nb blocks of head_dim that are one role: the whole axis
// and, for a fused projection written as q|k|v blocks (nb = heads + 2 kv heads), each of the three.
func roleSegments(spec gomlxmodel.FamilySpec, nb int) [][2]int {
	out := [][2]int{}
	if h, kv := spec.NHeads, spec.NKVHeads; h > 0 && kv > 0 && nb == h+2*kv {
		out = append(out, [2]int{0, h}, [2]int{h, h + kv}, [2]int{h + kv, nb})
	}
	return append(out, [2]int{0, nb})
}

// identity is the permutation of n indices that moves none.
func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
