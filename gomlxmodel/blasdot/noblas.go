//go:build !cgo || noblas

package blasdot

// enabledBuild says this build has OpenBLAS.
const enabledBuild = false

// Install does nothing in this build (tag noblas, or cgo disabled): the Go backend's own kernel
// computes every DotGeneral.
func Install() error { return nil }

// InEffect describes the matrix product in effect: the Go backend's own kernel in this build.
func InEffect() string { return "Go backend's own kernel (noblas build)" }

// SetEnabled does nothing in this build.
func SetEnabled(bool) {}

func setSplit(bool) {}
