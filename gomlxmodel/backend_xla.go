//go:build xla

package gomlxmodel

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
)

// newXLA opens the XLA backend with the PJRT plugin named in opts (a plugin name or the path
// of a .so, as GOMLX_BACKEND=xla:<plugin> says). Set GOMLX_NO_AUTO_INSTALL=1 so that GoMLX
// never tries to download a plugin. For a CUDA plugin it first adds XLAGPUDefaults to XLA_FLAGS.
func newXLA(opts string) (compute.Backend, error) {
	if err := setXLAGPUDefaults(opts); err != nil {
		return nil, err
	}
	b, err := xla.New(opts)
	if err != nil {
		return nil, fmt.Errorf("GOMLX_BACKEND=xla:%s: %w", opts, err)
	}
	return b, nil
}
