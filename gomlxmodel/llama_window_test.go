package gomlxmodel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// tinyQwen3 is tinyLlama with Qwen3's q/k norms, attention biases and a sliding window on
// layer 1 (Qwen2's max_window_layers = 1).
func tinyQwen3() Llama {
	m := tinyLlama()
	m.Config.Arch, m.Config.QKNorm, m.Config.QKVBias, m.Config.OBias = "qwen3", true, true, true
	m.Config.SlidingWindow, m.Config.LayerTypes = 3, []string{LayerFull, LayerSliding}
	return m
}

// TestSlidingWindowKeys: under sliding_window W, query i attends to exactly keys i−W+1 … i
// (transformers' masking_utils: kv_idx > q_idx − sliding_window), and only on the layers
// layer_types calls sliding.
func TestSlidingWindowKeys(t *testing.T) {
	const T = 7
	m := tinyQwen3()
	p := InitFamilyParams(m, 1)
	perturb(p, 2, 0.05)
	r, err := NewFamilyRunner(m, p)
	if err != nil {
		t.Fatal(err)
	}
	ids := randomIDs(rand.New(rand.NewPCG(3, 4)), 1, T, m.Config.VocabSize)
	hooks := []string{SubHook(0, SubAttn, HookPattern), SubHook(1, SubAttn, HookPattern)}
	out, err := r.Capture(ids, hooks)
	if err != nil {
		t.Fatal(err)
	}
	for layer, h := range hooks {
		pat := out[h] // (1, H, T, T)
		for head := 0; head < m.Config.NHeads; head++ {
			for i := 0; i < T; i++ {
				for j := 0; j < T; j++ {
					visible := j <= i && (layer == 0 || i-j < m.Config.SlidingWindow)
					if w := pat[(head*T+i)*T+j]; (w > 0) != visible {
						t.Fatalf("layer %d head %d: query %d key %d weight %v, visible %v", layer, head, i, j, w, visible)
					}
				}
			}
		}
	}
}

// TestQwen3Conventions: the sliding window is a convention the diagnosis can flip (0: off), and
// it changes the logits once the window is shorter than the ids.
func TestQwen3Conventions(t *testing.T) {
	m := tinyQwen3()
	found := false
	for _, c := range m.Conventions() {
		found = found || c.Name == ConvSlidingWindow && c.Value == "3"
	}
	if !found {
		t.Fatalf("no sliding_window convention in %+v", m.Conventions())
	}
	off, err := m.WithConvention(ConvSlidingWindow, "0")
	if err != nil {
		t.Fatal(err)
	}
	p := InitFamilyParams(m, 1)
	perturb(p, 2, 0.05)
	ids := randomIDs(rand.New(rand.NewPCG(3, 4)), 1, 8, m.Config.VocabSize)
	logits := func(f Family) []float32 { return familyLogits(t, f, p, ids) }
	a, b := logits(m), logits(off)
	if fmt.Sprint(a) == fmt.Sprint(b) {
		t.Error("switching the window off left the logits unchanged")
	}
	// A model whose config declares no window runs under one (the diagnosis tries a ladder):
	// a window of 4 leaves the first 4 positions' logits as they were and changes the rest.
	full, err := off.WithConvention(ConvSlidingWindow, "0")
	if err != nil {
		t.Fatal(err)
	}
	w4, err := full.WithConvention(ConvSlidingWindow, "4")
	if err != nil {
		t.Fatal(err)
	}
	a, b = logits(full), logits(w4)
	V := m.Config.VocabSize
	if fmt.Sprint(a[:4*V]) != fmt.Sprint(b[:4*V]) || fmt.Sprint(a[4*V:]) == fmt.Sprint(b[4*V:]) {
		t.Error("sliding_window=4 on a model without a window: want the first 4 positions unchanged and the rest changed")
	}
	for _, bad := range []string{"1", "-2", "x"} {
		if _, err := m.WithConvention(ConvSlidingWindow, bad); err == nil {
			t.Errorf("sliding_window %q accepted", bad)
		}
	}
}
