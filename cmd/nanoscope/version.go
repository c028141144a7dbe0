package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

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
	// The backend is opened, so that a configuration every other command would refuse (an xla
	// backend in a binary built without XLA, an unknown kernel switch) is refused here too.
	if _, err := gomlxmodel.NewBackend(); err != nil {
		return err
	}
	source := "GOMLX_BACKEND"
	if strings.TrimSpace(os.Getenv("GOMLX_BACKEND")) == "" {
		source = "default; GOMLX_BACKEND unset"
	}
	fmt.Printf("go:      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("gomlx:   %s\n", gomlx)
	fmt.Printf("backend: %s (%s)\n", gomlxmodel.BackendConfig(), source)
	fmt.Printf("matmul:  %s\n", gomlxmodel.MatMulInEffect())
	return nil
}
