//go:build cgo && !noblas

package blasdot

/*
#cgo LDFLAGS: -lopenblas

// Declared here rather than through <cblas.h>, which Debian's alternatives may point at
// another BLAS's header; the enums of cblas_sgemm are passed as their int values.
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
	const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

enum { rowMajor = 101, noTrans = 111, trans = 112 };

// batched_sgemm runs C[i] = op(A + offA[i]) · op(B + offB[i]) for i in [0, batch), C[i] at
// c + i*cStride: one cgo call per DotGeneral.
static void batched_sgemm(int ta, int tb, int m, int n, int k, const float *a, int lda,
		const long *offA, const float *b, int ldb, const long *offB, float *c, int batch, long cStride) {
	for (int i = 0; i < batch; i++) {
		cblas_sgemm(rowMajor, ta ? trans : noTrans, tb ? trans : noTrans, m, n, k, 1.0f,
			a + offA[i], lda, b + offB[i], ldb, 0.0f, c + (long)i * cStride, n);
	}
}
*/
import "C"

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"nanoscope/gomlxmodel/internal/sgohook"
)

// enabledBuild says this build has OpenBLAS.
const enabledBuild = true

var (
	installOnce sync.Once
	installErr  error
	inEffect    string
	original    sgohook.Executor
	enabled     atomic.Bool

	// split: large products run as two halves on two goroutines (SplitEnv=2).
	split bool

	// The DotGeneral node data's type and field offsets, checked on first use.
	paramsMu   sync.Mutex
	paramsType atomic.Pointer[paramsLayout]
)

type paramsLayout struct {
	typ                                                    reflect.Type
	lhsContracting, lhsBatch, rhsContracting, rhsBatch, bs uintptr
}

// SplitEnv=2 splits each product of at least splitFLOPs in two halves run on two goroutines
// (each calling single-threaded OpenBLAS); measured in bench/RESULTS.md.
const SplitEnv = "NANOSCOPE_BLAS_SPLIT"

const splitFLOPs = 4 << 20

// Install puts the OpenBLAS DotGeneral in the Go backend's executor table, once per process; it
// affects every Go backend of the process. It returns an error (and leaves the Go backend's
// kernel in effect) when GoMLX's internals are not the ones this package was written for.
// With NANOSCOPE_MATMUL=simplego it does nothing.
func Install() error {
	installOnce.Do(func() {
		if disabledByEnv() {
			inEffect = "Go backend's own kernel (" + DisableEnv + "=simplego)"
			return
		}
		if installErr = sgohook.Check(); installErr != nil {
			inEffect = "Go backend's own kernel (OpenBLAS not in use: " + installErr.Error() + ")"
			return
		}
		split = os.Getenv(SplitEnv) == "2"
		if os.Getenv("OPENBLAS_NUM_THREADS") == "" && os.Getenv("OMP_NUM_THREADS") == "" {
			C.openblas_set_num_threads(1)
		}
		if original = sgohook.Replace(compute.OpTypeDotGeneral, execDotGeneral); original == nil {
			sgohook.Replace(compute.OpTypeDotGeneral, nil)
			installErr = fmt.Errorf("blasdot: the Go backend has no DotGeneral executor")
			inEffect = "Go backend's own kernel (OpenBLAS not in use: " + installErr.Error() + ")"
			return
		}
		enabled.Store(true)
		n := int(C.openblas_get_num_threads())
		threads := "1 thread"
		if n != 1 {
			threads = fmt.Sprintf("%d threads", n)
		}
		if split {
			threads += ", large products split over 2 goroutines"
		}
		inEffect = fmt.Sprintf("%s cblas_sgemm, %s kernel (%s)", openBLASVersion(),
			C.GoString(C.openblas_get_corename()), threads)
	})
	return installErr
}

// InEffect describes the matrix product float32 DotGenerals of the go backend use, e.g.
// "OpenBLAS 0.3.21 cblas_sgemm, Cooperlake kernel (1 thread)", or "Go backend's own kernel (...)" with the
// reason when OpenBLAS is not in use. It is "Go backend's own kernel (blasdot not installed)" before Install.
func InEffect() string {
	if inEffect == "" || (!enabled.Load() && strings.HasPrefix(inEffect, "OpenBLAS")) {
		if inEffect == "" {
			return "Go backend's own kernel (blasdot not installed)"
		}
		return "Go backend's own kernel (blasdot disabled)"
	}
	return inEffect
}

// setSplit turns the two-goroutine split on or off (tests).
func setSplit(on bool) { split = on }

// SetEnabled switches between OpenBLAS (true) and the Go backend's kernel (false) at run time, after
// Install; for tests and benchmarks that compare the two in one process.
func SetEnabled(on bool) { enabled.Store(on && original != nil) }

// openBLASVersion is "OpenBLAS 0.3.21" from openblas_get_config's "OpenBLAS 0.3.21 DYNAMIC_ARCH …".
func openBLASVersion() string {
	f := strings.Fields(C.GoString(C.openblas_get_config()))
	if len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return "OpenBLAS"
}

var (
	intsType = reflect.TypeFor[[]int]()
	intType  = reflect.TypeFor[int]()
)

// params reads the DotGeneral node data: the axes as listed and the batch size.
func params(data any) (lc, lb, rc, rb []int, batch int, ok bool) {
	t := reflect.TypeOf(data)
	pl := paramsType.Load()
	if pl == nil || pl.typ != t {
		if pl = checkParams(t); pl == nil {
			return nil, nil, nil, nil, 0, false
		}
	}
	p := reflect.ValueOf(data).UnsafePointer() // *dotGeneralNodeData
	lc = *(*[]int)(unsafe.Add(p, pl.lhsContracting))
	lb = *(*[]int)(unsafe.Add(p, pl.lhsBatch))
	rc = *(*[]int)(unsafe.Add(p, pl.rhsContracting))
	rb = *(*[]int)(unsafe.Add(p, pl.rhsBatch))
	batch = *(*int)(unsafe.Add(p, pl.bs))
	return lc, lb, rc, rb, batch, true
}

// checkParams checks that t is a pointer to the Go backend's DotGeneral node data with the fields
// params reads, and records their offsets; nil when it is not.
func checkParams(t reflect.Type) *paramsLayout {
	paramsMu.Lock()
	defer paramsMu.Unlock()
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
		t.Elem().Name() != "NodeData" || t.Elem().PkgPath() != sgohook.PkgPath()+"/dot" {
		return nil
	}
	s := t.Elem()
	pl := &paramsLayout{typ: t}
	var err error
	for _, f := range []struct {
		off  *uintptr
		name string
		want reflect.Type
	}{
		{&pl.lhsContracting, "LHSContractingAxes", intsType},
		{&pl.lhsBatch, "LHSBatchAxes", intsType},
		{&pl.rhsContracting, "RHSContractingAxes", intsType},
		{&pl.rhsBatch, "RHSBatchAxes", intsType},
		{&pl.bs, "BatchSize", intType},
	} {
		if *f.off, err = sgohook.FieldOffset(s, f.name, f.want); err != nil {
			return nil
		}
	}
	paramsType.Store(pl)
	return pl
}

// execDotGeneral is the DotGeneral executor installed in the Go backend's table.
func execDotGeneral(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer, owned []bool) (*sgohook.Buffer, error) {
	if out := blasDot(backend, node, inputs); out != nil {
		Stats.BLAS.Add(1)
		return out, nil
	}
	Stats.Simplego.Add(1)
	return original(backend, node, inputs, owned)
}

// blasDot computes the DotGeneral with sgemm, or returns nil when it cannot.
func blasDot(backend *sgohook.Backend, node *sgohook.Node, inputs []*sgohook.Buffer) *sgohook.Buffer {
	if !enabled.Load() || len(inputs) != 2 {
		return nil
	}
	ls, rs := sgohook.BufferShape(inputs[0]), sgohook.BufferShape(inputs[1])
	if ls.DType != dtypes.Float32 || rs.DType != dtypes.Float32 {
		return nil
	}
	lc, lb, rc, rb, batch, ok := params(sgohook.NodeData(node))
	if !ok {
		return nil
	}
	p, ok := makePlan(ls.Dimensions, lc, lb, rs.Dimensions, rc, rb)
	outShape := sgohook.NodeShape(node)
	if !ok || p.batch != batch || outShape.DType != dtypes.Float32 || outShape.Size() != p.batch*p.m*p.n {
		return nil
	}
	a, _ := sgohook.BufferFlat(inputs[0]).([]float32)
	b, _ := sgohook.BufferFlat(inputs[1]).([]float32)
	if len(a) != ls.Size() || len(b) != rs.Size() || len(a) == 0 || len(b) == 0 {
		return nil
	}
	out := sgohook.NewBuffer(backend, outShape)
	if out == nil {
		return nil
	}
	c := sgohook.BufferFlat(out).([]float32)
	sgemm(p, a, b, c)
	return out
}

// sgemm runs the plan: C[i] = op(A[i]) · op(B[i]) for every batch element. Products of at
// least splitFLOPs are split in two halves (of the batch, else of the rows of C) run on two
// goroutines when split is on; the halves are fixed by the shapes, so results are the same on
// every run.
func sgemm(p plan, a, b, c []float32) {
	offA, offB := make([]C.long, p.batch), make([]C.long, p.batch)
	for i := range p.batch {
		offA[i], offB[i] = C.long(p.offA[i]), C.long(p.offB[i])
	}
	flops := 2 * p.batch * p.m * p.n * p.k
	if !split || flops < splitFLOPs || (p.batch == 1 && p.m < 16) {
		batched(p, a, b, c, offA, offB, 0, p.m)
		return
	}
	var wg sync.WaitGroup
	if p.batch > 1 {
		h := p.batch / 2
		wg.Go(func() { batched(p, a, b, c, offA[:h], offB[:h], 0, p.m) })
		batched(p, a, b, c[h*p.m*p.n:], offA[h:], offB[h:], 0, p.m)
	} else {
		h := p.m / 2
		wg.Go(func() { batched(p, a, b, c, offA, offB, 0, h) })
		batched(p, a, b, c, offA, offB, h, p.m)
	}
	wg.Wait()
}

// batched runs rows [r0, r1) of C for the batch elements of offA/offB, C starting at c.
func batched(p plan, a, b, c []float32, offA, offB []C.long, r0, r1 int) {
	// Row r of op(A) starts at r·lda when A is stored M×K, at column r when stored K×M.
	aOff := r0 * p.a.ld
	if p.a.trans {
		aOff = r0
	}
	C.batched_sgemm(cBool(p.a.trans), cBool(p.b.trans), C.int(r1-r0), C.int(p.n), C.int(p.k),
		(*C.float)(unsafe.Pointer(&a[aOff])), C.int(p.a.ld), &offA[0],
		(*C.float)(unsafe.Pointer(&b[0])), C.int(p.b.ld), &offB[0],
		(*C.float)(unsafe.Pointer(&c[r0*p.n])), C.int(len(offA)), C.long(p.m*p.n))
}

func cBool(v bool) C.int {
	if v {
		return 1
	}
	return 0
}
