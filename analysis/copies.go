package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"nanoscope/gomlxmodel"
)

// A trained model never holds the same values twice. Every optimiser step moves each weight by
// its own gradient, so two rows of weights — two heads, two neurons, two layers' matrices — that
// are equal bit for bit were written so, by a converter that copied one slot into another (a
// layer's attention written from the layer before, one kv head's rows written over another's).
// Only matrices are compared: a vector can receive the gradient of another and stay equal to it
// (GPT-NeoX's two output biases of a parallel block, both zero at init, add to one sum). Not
// compared either: constant rows (an initialiser's zeros or ones, a pruned row) and rows of fewer
// than minCopyWidth values (a small vector an initialiser sets to one pattern everywhere); the rows of the
// embedding and the head, where tokens added after training can share one starting vector (the
// mean embedding) and stay there untrained; and repeats of one tensor's rows that every tensor of
// its layer repeating rows shares (kv heads expanded for an engine without GQA repeat k_proj's
// and v_proj's heads alike: the same function, not a slip). Models trained with weights shared
// across layers would show as copies; no architecture nanoscope reads has them.

// minCopyWidth is the shortest row copiesOf compares.
const minCopyWidth = 8

// Copy is a run of rows of one matrix equal, bit for bit, to a run of rows of another matrix or
// of itself.
type Copy struct {
	Tensor     string `json:"tensor"`
	Rows       [2]int `json:"rows"` // [from, to)
	Source     string `json:"source"`
	SourceRows [2]int `json:"source_rows"`
}

func (c Copy) String() string {
	return fmt.Sprintf("%s rows %d–%d = %s rows %d–%d", c.Tensor, c.Rows[0], c.Rows[1]-1, c.Source, c.SourceRows[0], c.SourceRows[1]-1)
}

// copiesOf returns the runs of rows of p that copy earlier rows (tensors in name order, rows in
// order), skipping the tensors of skip (the embedding and the head) and constant rows; a row
// repeat within a tensor is dropped where every other tensor of its layer with repeats repeats
// the same rows (layerName).
func copiesOf(p gomlxmodel.Params, skip []string) []Copy {
	type at struct {
		tensor string
		row    int
	}
	seen := map[uint64][]at{}
	var rows []Copy // one per copied row
	for _, n := range slices.Sorted(maps.Keys(p)) {
		t := p[n]
		if slices.Contains(skip, n) || len(t.Shape) != 2 {
			continue
		}
		width := t.Shape[1]
		for r := 0; r*width < len(t.Data); r++ {
			row := t.Data[r*width : (r+1)*width]
			if width < minCopyWidth || slices.Min(row) == slices.Max(row) {
				continue
			}
			h := rowHash(row)
			var src *at
			for _, a := range seen[h] {
				o := p[a.tensor]
				ow := o.Shape[1]
				if ow == width && sameBits(o.Data[a.row*ow:(a.row+1)*ow], row) {
					src = &a
					break
				}
			}
			if src == nil {
				seen[h] = append(seen[h], at{n, r})
				continue
			}
			rows = append(rows, Copy{Tensor: n, Rows: [2]int{r, r + 1}, Source: src.tensor, SourceRows: [2]int{src.row, src.row + 1}})
		}
	}
	// Runs: consecutive rows copying consecutive rows of one source.
	var runs []Copy
	for _, c := range rows {
		if k := len(runs) - 1; k >= 0 && runs[k].Tensor == c.Tensor && runs[k].Source == c.Source && runs[k].Rows[1] == c.Rows[0] && runs[k].SourceRows[1] == c.SourceRows[0] {
			runs[k].Rows[1], runs[k].SourceRows[1] = c.Rows[1], c.SourceRows[1]
			continue
		}
		runs = append(runs, c)
	}
	// Repeats within tensors that every tensor of the layer with repeats shares: an expansion.
	within := map[string]map[string][][2]int{} // layer → tensor → repeated row runs (self copies)
	for _, c := range runs {
		if c.Tensor == c.Source {
			if pre, l, _, ok := layerName(c.Tensor); ok {
				key := fmt.Sprintf("%s%d", pre, l)
				if within[key] == nil {
					within[key] = map[string][][2]int{}
				}
				within[key][c.Tensor] = append(within[key][c.Tensor], [2]int{c.Rows[0], c.SourceRows[0]})
			}
		}
	}
	return slices.DeleteFunc(runs, func(c Copy) bool {
		pre, l, _, ok := layerName(c.Tensor)
		if c.Tensor != c.Source || !ok {
			return false
		}
		layer := within[fmt.Sprintf("%s%d", pre, l)]
		if len(layer) < 2 {
			return false
		}
		for _, rs := range layer {
			if !slices.Equal(rs, layer[c.Tensor]) {
				return false
			}
		}
		return true
	})
}

// rowHash is an FNV-1a hash of a row's float32 bits.
func rowHash(row []float32) uint64 {
	h := uint64(14695981039346656037)
	for _, x := range row {
		h ^= uint64(math.Float32bits(x))
		h *= 1099511628211
	}
	return h
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// copiesSummary describes the copies for a finding: the first few runs and the count.
func copiesSummary(cs []Copy) string {
	return listSummary(slices.SortedFunc(slices.Values(cs), func(a, b Copy) int {
		return cmp.Or(cmp.Compare(b.Rows[1]-b.Rows[0], a.Rows[1]-a.Rows[0]), strings.Compare(a.Tensor, b.Tensor))
	}))
}

// listSummary describes xs for a finding: the first three and the count of the rest.
func listSummary[T fmt.Stringer](xs []T) string {
	var parts []string
	for _, x := range xs[:min(3, len(xs))] {
		parts = append(parts, x.String())
	}
	if len(xs) > 3 {
		parts = append(parts, fmt.Sprintf("and %d more", len(xs)-3))
	}
	return strings.Join(parts, "; ")
}

// copiedRows is the number of rows the copies hold.
func copiedRows(cs []Copy) int {
	n := 0
	for _, c := range cs {
		n += c.Rows[1] - c.Rows[0]
	}
	return n
}

// Nor does training leave a block of a matrix at exactly zero while the rest of it moved: every
// row and column of a trained matrix receives gradient. Two or more adjacent rows or columns
// that are exactly zero in a matrix with other values were written so — a head pruned by
// masking its weights, or a slice of a fused or sharded tensor the converter did not load. A
// single zero row is left alone (a unit pruned on purpose), and so are the embedding and the
// head (padded or unused vocabulary rows) and matrices zero throughout (the untrained tests'
// business).

// ZeroRun is a run of adjacent rows ([out, in] as stored) or columns of a matrix that are all
// exactly zero.
type ZeroRun struct {
	Tensor string `json:"tensor"`
	Axis   string `json:"axis"` // "rows" or "columns"
	From   int    `json:"from"`
	To     int    `json:"to"` // exclusive
}

func (z ZeroRun) String() string {
	return fmt.Sprintf("%s %s %d–%d", z.Tensor, z.Axis, z.From, z.To-1)
}

// zeroRuns returns the runs of at least two adjacent all-zero rows or columns of the matrices of
// p with some non-zero value, skipping the tensors of skip, matrices narrower than minCopyWidth
// and the unit axes of unitInputs, in name order.
func zeroRuns(p gomlxmodel.Params, skip []string, unitInputs map[string]string) []ZeroRun {
	var out []ZeroRun
	for _, n := range slices.Sorted(maps.Keys(p)) {
		t := p[n]
		if slices.Contains(skip, n) || len(t.Shape) != 2 || !slices.ContainsFunc(t.Data, func(x float32) bool { return x != 0 }) {
			continue
		}
		rows, cols := t.Shape[0], t.Shape[1]
		for _, ax := range []struct {
			name     string
			n, width int
			at       func(i, j int) float32
		}{
			{"rows", rows, cols, func(i, j int) float32 { return t.Data[i*cols+j] }},
			{"columns", cols, rows, func(i, j int) float32 { return t.Data[j*cols+i] }},
		} {
			if ax.width < minCopyWidth || unitInputs[n] == ax.name {
				continue
			}
			zero := func(i int) bool {
				for j := range ax.width {
					if ax.at(i, j) != 0 {
						return false
					}
				}
				return true
			}
			for i := 0; i < ax.n; {
				j := i
				for j < ax.n && zero(j) {
					j++
				}
				if j-i >= 2 {
					out = append(out, ZeroRun{Tensor: n, Axis: ax.name, From: i, To: j})
				}
				i = max(j, i+1)
			}
		}
	}
	return out
}

// Nor does training leave a matrix's values on a coarse grid. Each weight moves by its own
// gradient, so a trained matrix stored in bf16, fp16 or fp32 holds almost as many distinct values
// as it has entries: in 32 consecutive entries two are equal about once in fifty (bf16's 8
// mantissa bits; less in the wider formats). A quantizer's round trip (int3, int4, nf4, per
// tensor, per row or per group; fp8) rounds every entry to one of at most a few dozen levels per
// group, so most non-zero entries of a group repeat another — the model then runs with weights
// it was not trained with. Zeros are not counted (a pruned or sparse matrix repeats zero only),
// nor are matrices with fewer than minGridValues non-zero entries.

// Grid is a matrix whose non-zero values repeat within groups of gridGroup consecutive entries
// (row-major, as stored) far more often than trained weights do: Repeat is the share of
// non-zero entries equal to an earlier entry of their group, Levels the number of distinct
// values in the whole matrix. Columns are not scanned: rows repeated on purpose (kv heads
// expanded for an engine without GQA) repeat every column's values (0.50 on kit 4f's).
type Grid struct {
	Tensor string  `json:"tensor"`
	Repeat float64 `json:"repeat"`
	Levels int     `json:"levels"`
}

func (g Grid) String() string {
	return fmt.Sprintf("%s (%d levels, %.0f%% of values repeat within groups of %d)", g.Tensor, g.Levels, 100*g.Repeat, gridGroup)
}

// gridRepeat returns the share of the non-zero entries of x that equal an earlier entry of
// their group of gridGroup consecutive entries, over at most maxGridGroups groups spread evenly
// through x, and the number of non-zero entries those groups hold.
func gridRepeat(x []float32) (repeat float64, nonZero int) {
	groups := (len(x) + gridGroup - 1) / gridGroup
	stride := max(1, groups/maxGridGroups)
	var repeats int
	var g [gridGroup]float32
	for k := 0; k < groups; k += stride {
		n := 0
		for _, v := range x[k*gridGroup : min((k+1)*gridGroup, len(x))] {
			if v != 0 {
				g[n], n = v, n+1
			}
		}
		nonZero += n
		for i := 1; i < n; i++ {
			if slices.Contains(g[:i], g[i]) {
				repeats++
			}
		}
	}
	if nonZero == 0 {
		return 0, 0
	}
	return float64(repeats) / float64(nonZero), nonZero
}

// levels is the number of distinct values of x.
func levels(x []float32) int {
	s := slices.Sorted(slices.Values(x))
	return len(slices.Compact(s))
}

// coarseGrids returns the matrices of p (not those of skip) with at least minGridValues non-zero
// entries in the groups gridRepeat reads whose repeat share is at least gridRepeatShare, in name
// order.
func coarseGrids(p gomlxmodel.Params, skip []string) []Grid {
	var out []Grid
	for _, n := range slices.Sorted(maps.Keys(p)) {
		t := p[n]
		if slices.Contains(skip, n) || len(t.Shape) != 2 {
			continue
		}
		if r, nz := gridRepeat(t.Data); nz >= minGridValues && r >= gridRepeatShare {
			out = append(out, Grid{Tensor: n, Repeat: r, Levels: levels(t.Data)})
		}
	}
	return out
}

// unitInputs are, for each matrix that reads a per-unit activation (the attention's hook_z, the
// MLP's hook_post: FamilySpec.Weights), the stored axis its input's units lie on ("columns" of
// nn.Linear, "rows" of Conv1D). A block of zeros there removes those heads' or units' outputs
// whole: a smaller model, the same function as one that never had them — pruned (and perhaps
// healed after), or grown for more training — which zeroRuns leaves alone (blind kit 4h's control
// with a head added whose o_proj columns are zero). Zeros that change what a unit computes (a
// head's q rows) stay flagged.
func unitInputs(spec gomlxmodel.FamilySpec) map[string]string {
	out := map[string]string{}
	for n, w := range spec.Weights {
		if strings.HasSuffix(w.Reads, "."+gomlxmodel.HookZ) || strings.HasSuffix(w.Reads, "."+gomlxmodel.HookPost) {
			out[n] = map[bool]string{false: "columns", true: "rows"}[w.InOut]
		}
	}
	return out
}

// Nor does training leave exact zeros scattered through a matrix: a trained weight is exactly
// zero about never (none of the kits' and the gallery's healthy matrices holds one). A share of
// them is what pruning writes (2:4 sparsity, magnitude pruning without healing) or a coarse
// quantizer rounds small weights to. The embedding and the head are left alone (unused
// vocabulary rows), and so are matrices zero throughout.

// Sparse is a matrix with a share of exactly zero entries.
type Sparse struct {
	Tensor string  `json:"tensor"`
	Share  float64 `json:"share"`
}

func (s Sparse) String() string {
	return fmt.Sprintf("%s (%.1f%% of entries exactly zero)", s.Tensor, 100*s.Share)
}

// sparseMatrices returns the matrices of p (not those of skip) with at least minGridValues
// entries of which at least sparseShare are exactly zero outside rows and columns zero
// throughout (a head or unit removed whole is zeroRuns' business; a matrix zero throughout the
// untrained tests'), in name order.
func sparseMatrices(p gomlxmodel.Params, skip []string) []Sparse {
	var out []Sparse
	for _, n := range slices.Sorted(maps.Keys(p)) {
		t := p[n]
		if slices.Contains(skip, n) || len(t.Shape) != 2 || len(t.Data) < minGridValues {
			continue
		}
		rows, cols := t.Shape[0], t.Shape[1]
		rowNZ, colNZ := make([]bool, rows), make([]bool, cols) // rows and columns with a non-zero entry
		for i, x := range t.Data {
			if x != 0 {
				rowNZ[i/cols], colNZ[i%cols] = true, true
			}
		}
		zeros := 0 // those not in a row or column zero throughout (the business of zeroRuns)
		for i, x := range t.Data {
			if x == 0 && rowNZ[i/cols] && colNZ[i%cols] {
				zeros++
			}
		}
		if share := float64(zeros) / float64(len(t.Data)); share >= sparseShare {
			out = append(out, Sparse{Tensor: n, Share: share})
		}
	}
	return out
}

// untrainableFinding is why weights contradict a model trained as it is saved: repeats of other
// weights, blocks of exact zeros, values on a coarse grid, scattered exact zeros (copies.go) —
// none of which training leaves, and none of which a convention of the run or a rearrangement
// undoes. Each adds its evidence to ev; why is "" when there is none.
func untrainableFinding(cat *Catalog, ev map[string]any) (why []string) {
	if len(cat.Copies) > 0 {
		ev["copied_rows"] = copiedRows(cat.Copies)
	}
	for _, c := range []struct{ key, list, why string }{
		{"copies", copiesSummary(cat.Copies), "weights repeat others bit for bit, which training never leaves (%s): a converter wrote one slot's values into another"},
		{"zeros", listSummary(cat.Zeros), "weights hold adjacent rows or columns that are exactly zero in matrices that otherwise moved, which training never leaves (%s): a head pruned by masking, or a slice the converter did not load"},
		{"grids", listSummary(cat.Grids), "weights sit on a coarse grid, their values repeating within groups where trained weights almost never do (%s): a quantizer's round trip, which runs the model with weights it was not trained with"},
		{"sparse", listSummary(cat.Sparse), "matrices hold exact zeros scattered among their weights, which training never leaves (%s): pruning, or a quantizer rounding small weights to zero"},
	} {
		if c.list != "" {
			ev[c.key] = c.list
			why = append(why, fmt.Sprintf(c.why, c.list))
		}
	}
	return why
}
