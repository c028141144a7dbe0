package sgohook

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute/shapes"
)

// Check passes on the pinned github.com/gomlx/compute; a field that is not there, or not of the
// type the accessors read, is an error naming it (the callers then keep the backend's kernels).
func TestCheck(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatalf("Check on the pinned compute: %v", err)
	}
	if PkgPath() != gobackendPkg {
		t.Errorf("PkgPath %q, want %q", PkgPath(), gobackendPkg)
	}
	type node struct {
		Shape shapes.Shape
		Data  int
	}
	if _, err := FieldOffset(reflect.TypeFor[node](), "Data", reflect.TypeFor[any]()); err == nil || !strings.Contains(err.Error(), "Data") {
		t.Errorf("FieldOffset of a field of another type: error %v", err)
	}
	if _, err := FieldOffset(reflect.TypeFor[node](), "Flat", reflect.TypeFor[any]()); err == nil {
		t.Errorf("FieldOffset of a missing field: no error")
	}
}
