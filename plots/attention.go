package plots

import (
	"fmt"
	"math"
)

// AttentionPattern draws one head's attention pattern: pattern[q][k] is the weight query
// position q gives key position k (rows sum to 1; 0 above the diagonal under a causal mask),
// tokens[i] labels position i on both axes (queries as rows, top to bottom). Errors: a pattern
// that is not square in len(tokens), or a value outside [0, 1].
func AttentionPattern(name, title string, tokens []string, pattern [][]float64) (Figure, error) {
	const fn = "AttentionPattern"
	if len(pattern) != len(tokens) {
		return Figure{}, fmt.Errorf("plots: %s: %d tokens but %d query rows", fn, len(tokens), len(pattern))
	}
	for q, row := range pattern {
		if len(row) != len(tokens) {
			return Figure{}, fmt.Errorf("plots: %s: query row %d has %d keys for %d tokens", fn, q, len(row), len(tokens))
		}
		for k, v := range row {
			if math.IsNaN(v) || v < 0 || v > 1+1e-6 {
				return Figure{}, fmt.Errorf("plots: %s: pattern[%d][%d] = %g is not an attention weight in [0, 1]", fn, q, k, v)
			}
		}
	}
	labels := make([]string, len(tokens))
	for i, t := range tokens {
		labels[i] = fmt.Sprintf("%d %s", i, t)
	}
	return Heatmap(name, title, "key (attended to)", "query", labels, labels, pattern)
}
