//go:build !xla

package gomlxmodel

import (
	"errors"

	"github.com/gomlx/compute"
)

// newXLA fails: this binary was built without the xla tag, which needs cgo and a PJRT plugin.
func newXLA(opts string) (compute.Backend, error) {
	return nil, errors.New("GOMLX_BACKEND=xla:" + opts + ": this binary was built without XLA; rebuild with CGO_ENABLED=1 go build -tags xla")
}
