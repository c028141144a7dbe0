package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"nanoscope/gomlxmodel"
)

func init() {
	register("version", "Go and GoMLX versions, the backend and the matrix product in effect", runVersion)
}

func runVersion(args []string) error {
	fs := newFlags("version", "version")
	if err := fs.parse(args); err != nil {
		return err
	}
	gomlx := "unknown (no build information)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		gomlx = "not linked"
		for _, d := range bi.Deps {
			if d.Path == "github.com/gomlx/gomlx" {
				gomlx = d.Version
				if d.Replace != nil {
					gomlx += " (replaced by " + d.Replace.Path + " " + d.Replace.Version + ")"
				}
			}
		}
	}
	fmt.Printf("go:      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("gomlx:   %s\n", gomlx)
	fmt.Printf("backend: %s (GOMLX_BACKEND)\n", gomlxmodel.BackendConfig())
	fmt.Printf("matmul:  %s\n", gomlxmodel.MatMulInEffect())
	return nil
}
