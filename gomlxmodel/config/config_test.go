package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPresetsAndDerivedSizes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		c               Config
		ffn, hd, shapes int
	}{
		// d20: ffn_dim = ceil(256·2.6875/128)·128 = ceil(5.375)·128 = 768; 6 layers × 19 tensors + 2.
		{"d20", D20(), 768, 64, 6*19 + 2},
		{"tiny_cpu", TinyCPU(), 512, 64, 4*19 + 2},
		// cpu: ceil(64·2/128)·128 = 128.
		{"cpu", CPU(), 128, 16, 2*19 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); err != nil {
				t.Fatal(err)
			}
			if tc.c.FFNDim() != tc.ffn || tc.c.HeadDim() != tc.hd {
				t.Fatalf("ffn_dim %d head_dim %d, want %d %d", tc.c.FFNDim(), tc.c.HeadDim(), tc.ffn, tc.hd)
			}
			if n := len(tc.c.TensorShapes(DefaultVariant())); n != tc.shapes {
				t.Fatalf("%d tensors, want %d", n, tc.shapes)
			}
		})
	}
	d := D20()
	if d.VocabSize != 50257 || d.LR != 0.02 || d.MHCLR != 1e-4 || d.LionBetas != [2]float64{0.9, 0.99} || !d.WeightTied {
		t.Fatalf("d20 differs from the original: %+v", d)
	}
	untied := d
	untied.WeightTied = false
	noMHC := DefaultVariant()
	noMHC.MHC = false
	if _, ok := untied.TensorShapes(DefaultVariant())["lm_head.weight"]; !ok {
		t.Fatal("untied config lacks lm_head.weight")
	}
	if n := len(d.TensorShapes(noMHC)); n != 6*9+2 {
		t.Fatalf("no-mHC d20 has %d tensors, want %d", n, 6*9+2)
	}
}

func TestParseStrict(t *testing.T) {
	good, _ := json.Marshal(D20())
	if c, err := ParseStrict(good); err != nil || c != D20() {
		t.Fatalf("round trip: %v %+v", err, c)
	}
	for _, tc := range []struct{ name, edit, want string }{
		{"unknown field", `"dim":256,"softcap":30`, "softcap"},
		{"missing field", `"dim":256`, "n_layers"},
		{"invalid heads", `"dim":250`, "not a multiple"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(string(good), `"dim":256`, tc.edit, 1)
			if tc.name == "missing field" {
				raw = strings.Replace(string(good), `"n_layers":6,`, "", 1)
			}
			_, err := ParseStrict([]byte(raw))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
