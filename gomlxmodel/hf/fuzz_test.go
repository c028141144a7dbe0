package hf

import (
	"os"
	"path/filepath"
	"testing"
)

// parseConfigFile reads path as Load reads config.json, and adapter_config.json beside it
// as applyAdapter reads it, without weights.
func parseConfigFile(path string) error {
	arch, f, err := readConfig(path)
	if err != nil {
		return err
	}
	switch arch {
	case "gpt2":
		c, err := gpt2Config(f)
		if err == nil {
			err = c.Validate()
		}
		return err
	case "gpt_neox":
		c, err := neoxConfig(f)
		if err == nil {
			err = c.Validate()
		}
		return err
	}
	c, err := llamaConfig(f, arch)
	if err == nil {
		err = c.Validate()
	}
	return err
}

// FuzzConfigJSON feeds arbitrary bytes to the config.json and adapter_config.json readers (seeded
// with every fixture's): each returns a configuration that validates or an error, never panics
// nor hangs.
func FuzzConfigJSON(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(fixtureRoot, "*", "*config.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model_type": "qwen2", "num_hidden_layers": -3, "use_sliding_window": true}`))
	f.Add([]byte(`{"model_type": "gemma2", "num_hidden_layers": 2147483648}`))
	f.Add([]byte(`{"peft_type": "LORA", "r": 4, "target_modules": "(("}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, ConfigFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = parseConfigFile(path)
		af := &fields{path: path}
		if err := jsonObject(data, af); err == nil {
			_, _ = loraConfig(af)
		}
	})
}
