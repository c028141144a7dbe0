package gomlxmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"nanoscope/gomlxmodel/checkpoint"
	"nanoscope/gomlxmodel/config"
)

// The fixtures under testdata/reference were written by an independent numpy implementation of
// REFERENCE.md §2 (testdata/reference/reference_model.py, which documents how to regenerate
// them): checkpoint directories in the original's format, plus the logits that implementation
// computes for two token sequences.

// refTol is the relative tolerance of a logit: |got-want| <= refTol·max(1, |want|).
const refTol = 1e-4

// referenceExpectation is expected_logits.json.
type referenceExpectation struct {
	Tokens [][]int32 `json:"tokens"`
	Argmax [][]int   `json:"argmax"`
	// NearBoundary marks the positions whose logits move when an 8-bit activation element
	// that lies within near_abs of a rounding boundary is rounded the other way; only there
	// may two correct float32 implementations differ by more than refTol.
	NearBoundary [][]bool `json:"near_boundary"`
	// NearBoundaryDev is, per position, the largest |Δlogit| those alternative roundings gave.
	NearBoundaryDev [][]float64 `json:"near_boundary_dev"`
	Logits          []float64   `json:"logits"` // B·T·V, row-major
}

func readReferenceExpectation(path string, vocab int) (*referenceExpectation, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e referenceExpectation
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := len(e.Tokens)
	if b == 0 || len(e.Argmax) != b || len(e.NearBoundary) != b || len(e.NearBoundaryDev) != b {
		return nil, fmt.Errorf("%s: tokens, argmax, near_boundary, near_boundary_dev disagree on the batch", path)
	}
	t := len(e.Tokens[0])
	for i := range b {
		if len(e.Tokens[i]) != t || len(e.Argmax[i]) != t || len(e.NearBoundary[i]) != t || len(e.NearBoundaryDev[i]) != t {
			return nil, fmt.Errorf("%s: sequence %d has inconsistent lengths", path, i)
		}
	}
	if len(e.Logits) != b*t*vocab {
		return nil, fmt.Errorf("%s: %d logits, want B·T·V = %d", path, len(e.Logits), b*t*vocab)
	}
	return &e, nil
}

// referenceReport is the outcome of comparing computed logits with an expectation.
type referenceReport struct {
	MaxDevClean    float64 // largest |got-want|/max(1,|want|) at positions not near a boundary
	MaxDevNear     float64 // the same at near-boundary positions
	OverTol        int     // positions with some logit beyond refTol
	OverTolNear    int     // ... of which near a boundary (allowed)
	NearPositions  int
	Failures       []string // what makes the comparison fail, one line each
	ArgmaxMismatch int
}

// compareReference checks got (B·T·V) against e: within refTol at every position not near a
// boundary; at near-boundary positions within refTol plus twice the deviation the reference saw
// from the alternative roundings; the argmax equal everywhere.
func compareReference(got []float32, e *referenceExpectation, vocab int) referenceReport {
	var r referenceReport
	fail := func(format string, args ...any) {
		if len(r.Failures) < 10 {
			r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
		}
	}
	if len(got) != len(e.Logits) {
		fail("got %d logits, want %d", len(got), len(e.Logits))
		return r
	}
	for b := range e.Tokens {
		for t := range e.Tokens[b] {
			near := e.NearBoundary[b][t]
			if near {
				r.NearPositions++
			}
			off := (b*len(e.Tokens[b]) + t) * vocab
			maxDev, over, best := 0.0, false, 0
			for v := range vocab {
				g, w := float64(got[off+v]), e.Logits[off+v]
				if math.IsNaN(g) || math.IsInf(g, 0) {
					fail("b=%d t=%d v=%d: logit %v", b, t, v, g)
				}
				d := math.Abs(g - w)
				if rel := d / math.Max(1, math.Abs(w)); rel > maxDev || math.IsNaN(rel) {
					maxDev = rel
				}
				if d > refTol*math.Max(1, math.Abs(w)) {
					over = true
					if !near || d > refTol*math.Max(1, math.Abs(w))+2*e.NearBoundaryDev[b][t] {
						fail("b=%d t=%d v=%d: logit %.7g, want %.7g (near boundary %v, allowed extra %.3g)",
							b, t, v, g, w, near, 2*e.NearBoundaryDev[b][t])
					}
				}
				if got[off+v] > got[off+best] {
					best = v
				}
			}
			if near {
				r.MaxDevNear = math.Max(r.MaxDevNear, maxDev)
			} else {
				r.MaxDevClean = math.Max(r.MaxDevClean, maxDev)
			}
			if over {
				r.OverTol++
				if near {
					r.OverTolNear++
				}
			}
			if best != e.Argmax[b][t] {
				r.ArgmaxMismatch++
				fail("b=%d t=%d: argmax %d, want %d", b, t, best, e.Argmax[b][t])
			}
		}
	}
	return r
}

// TestReferenceCheckpoints loads checkpoints written by the independent numpy implementation
// with the strict loader and checks that the Go model computes the same logits.
func TestReferenceCheckpoints(t *testing.T) {
	for _, name := range []string{"tied_mhc", "untied_mhc", "tied_mhc_d20like"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "reference", name)
			ck, err := checkpoint.Load(dir)
			if err != nil {
				t.Fatalf("strict load: %v", err)
			}
			if ck.Meta.HasVariant || ck.Meta.Variant != config.DefaultVariant() {
				t.Fatalf("fixture must be the original model (no nanoscope field), got %+v", ck.Meta.Variant)
			}
			c := ck.Meta.Config
			e, err := readReferenceExpectation(filepath.Join(dir, "expected_logits.json"), c.VocabSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Tokens[0]) != c.MaxSeqLen {
				t.Fatalf("fixture has %d tokens per sequence, config max_seq_len %d", len(e.Tokens[0]), c.MaxSeqLen)
			}
			r, err := NewRunner(c, ck.Meta.Variant, ck.Tensors)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Logits(e.Tokens)
			if err != nil {
				t.Fatal(err)
			}
			rep := compareReference(got, e, c.VocabSize)
			t.Logf("max rel deviation %.2e at %d clean positions, %.2e at %d near-boundary positions; "+
				"%d positions beyond %.0e (%d of them near a boundary); %d argmax mismatches",
				rep.MaxDevClean, len(e.Tokens)*c.MaxSeqLen-rep.NearPositions, rep.MaxDevNear, rep.NearPositions,
				rep.OverTol, refTol, rep.OverTolNear, rep.ArgmaxMismatch)
			for _, f := range rep.Failures {
				t.Error(f)
			}

			// The comparison must be able to fail: one logit moved by 10·refTol at a clean
			// position, and a reference with one argmax changed, are both rejected.
			pos := -1
			for i := range len(e.Tokens) * c.MaxSeqLen {
				if !e.NearBoundary[i/c.MaxSeqLen][i%c.MaxSeqLen] {
					pos = i
					break
				}
			}
			if pos < 0 {
				t.Fatal("fixture has no position away from a rounding boundary")
			}
			bad := *e
			bad.Logits = append([]float64(nil), e.Logits...)
			bad.Logits[pos*c.VocabSize+3] += 10 * refTol * math.Max(1, math.Abs(e.Logits[pos*c.VocabSize+3]))
			if rep := compareReference(got, &bad, c.VocabSize); len(rep.Failures) == 0 {
				t.Error("comparison accepted a logit perturbed by 10× the tolerance")
			}
			bad = *e
			bad.Argmax = append([][]int{append([]int(nil), e.Argmax[0]...)}, e.Argmax[1:]...)
			bad.Argmax[0][0] = (bad.Argmax[0][0] + 1) % c.VocabSize
			if rep := compareReference(got, &bad, c.VocabSize); rep.ArgmaxMismatch != 1 {
				t.Errorf("comparison found %d argmax mismatches after changing one, want 1", rep.ArgmaxMismatch)
			}
		})
	}
}
