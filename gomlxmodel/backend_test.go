package gomlxmodel

import (
	"os"
	"strings"
	"testing"
)

func TestWithXLADefaults(t *testing.T) {
	defs := []string{"--xla_gpu_enable_command_buffer=", "--xla_gpu_enable_triton_gemm=false"}
	for _, tc := range []struct{ name, flags, want string }{
		{"unset", "", "--xla_gpu_enable_command_buffer= --xla_gpu_enable_triton_gemm=false"},
		{"other flags kept first", "--xla_gpu_deterministic_ops=true", "--xla_gpu_deterministic_ops=true --xla_gpu_enable_command_buffer= --xla_gpu_enable_triton_gemm=false"},
		{"user's value wins", "--xla_gpu_enable_triton_gemm=true", "--xla_gpu_enable_triton_gemm=true --xla_gpu_enable_command_buffer="},
		{"both set", "--xla_gpu_enable_command_buffer=FUSION  --xla_gpu_enable_triton_gemm=true", "--xla_gpu_enable_command_buffer=FUSION --xla_gpu_enable_triton_gemm=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withXLADefaults(tc.flags, defs); got != tc.want {
				t.Fatalf("withXLADefaults(%q) = %q, want %q", tc.flags, got, tc.want)
			}
		})
	}
}

func TestSetXLAGPUDefaults(t *testing.T) {
	for _, tc := range []struct{ name, env, plugin, flags, want, err string }{
		{"cuda plugin", "", "/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so", "", strings.Join(XLAGPUDefaults, " "), ""},
		{"other plugin untouched", "", "cpu", "--a=1", "--a=1", ""},
		{"switched off", "off", "cuda", "--a=1", "--a=1", ""},
		{"bad switch", "no", "cuda", "", "", `NANOSCOPE_XLA_DEFAULTS="no"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(XLADefaultsEnv, tc.env)
			t.Setenv("XLA_FLAGS", tc.flags)
			err := setXLAGPUDefaults(tc.plugin)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(os.Getenv("XLA_FLAGS")); got != tc.want {
				t.Fatalf("XLA_FLAGS %q, want %q", got, tc.want)
			}
		})
	}
}
