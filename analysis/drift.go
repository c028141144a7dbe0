package analysis

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"nanoscope/gomlxmodel"
)

// TensorDrift says how far one tensor is from the original's initialisation of it
// (gomlxmodel.InitOf) — an instrument about this model's own initialisers; the findings use
// initialiser-agnostic tests instead (TensorTrace): for a constant init (RMSNorm weights 1, mHC logits 0, biases 0.5) the
// largest deviation and whether it is exactly at init; for a normal init N(0, σ) the sample
// mean and std against σ and a Kolmogorov–Smirnov test against N(0, σ).
type TensorDrift struct {
	Name string  `json:"name"`
	Init string  `json:"init"` // "normal(0,σ)" or "const(c)"
	Size int     `json:"size"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	// Constant init: MaxAbsDev = max|x − c|, AtInit = (MaxAbsDev == 0).
	MaxAbsDev float64 `json:"max_abs_dev"`
	AtInit    bool    `json:"at_init"`
	// Normal init: StdRatio = std/σ; KS the Kolmogorov–Smirnov distance to N(0, σ) and
	// KSCrit its critical value at significance 1e-4 (KS < KSCrit: not distinguishable).
	StdRatio float64 `json:"std_ratio,omitempty"`
	KS       float64 `json:"ks,omitempty"`
	KSCrit   float64 `json:"ks_crit,omitempty"`
	// InitLike: statistically indistinguishable from the init (see Drift).
	InitLike bool `json:"init_like"`
}

// Drift is the drift from initialisation of every tensor of a checkpoint.
type Drift struct {
	Tensors []TensorDrift `json:"tensors"`
	Total   int           `json:"total"`
	// InitLikeCount counts init-like tensors; AtInitCount the constant-init tensors exactly at
	// their constant, out of ConstCount.
	InitLikeCount int `json:"init_like_count"`
	AtInitCount   int `json:"at_init_count"`
	ConstCount    int `json:"const_count"`
	// Moved lists the tensors that are not init-like.
	Moved []string `json:"moved"`
	// InitLike is the checkpoint verdict: every tensor is indistinguishable from its
	// initialisation — constants exactly at init, and normal tensors passing the KS test with
	// std within max(5%, 4 standard errors) of σ and mean within 4 standard errors of 0.
	InitLike bool `json:"init_like"`
}

// ksAlpha is the significance of the per-tensor KS test; ksSample caps the values tested.
const (
	ksAlpha  = 1e-4
	ksSample = 1 << 20
)

// DriftFromInit compares every tensor of p with its initial distribution in the ternary model.
func DriftFromInit(p gomlxmodel.Params) Drift { return driftFrom(p, gomlxmodel.InitOf) }

// drift is DriftFromInit against the subject's family's initialisers (InitOf for the ternary
// model, Hugging Face's for GPT-2 and Llama).
func (s *Subject) drift() Drift {
	inits := map[string]gomlxmodel.InitKind{}
	for _, sp := range s.Family.ParamSpecs() {
		inits[sp.Name] = sp.Init
	}
	return driftFrom(s.Params, func(n string) gomlxmodel.InitKind { return inits[n] })
}

func driftFrom(p gomlxmodel.Params, initOf func(string) gomlxmodel.InitKind) Drift {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	slices.Sort(names)
	d := Drift{Total: len(names), Moved: []string{}}
	tds := make([]TensorDrift, len(names))
	parallelDo(len(names), runtime.NumCPU(), func(i int) { tds[i] = tensorDrift(names[i], p[names[i]].Data, initOf(names[i])) })
	for i, n := range names {
		td := tds[i]
		if td.InitLike {
			d.InitLikeCount++
		} else {
			d.Moved = append(d.Moved, n)
		}
		if !initOf(n).Normal {
			d.ConstCount++
			if td.AtInit {
				d.AtInitCount++
			}
		}
		d.Tensors = append(d.Tensors, td)
	}
	d.InitLike = d.Total > 0 && d.InitLikeCount == d.Total
	return d
}

func tensorDrift(name string, data []float32, init gomlxmodel.InitKind) TensorDrift {
	n := len(data)
	td := TensorDrift{Name: name, Size: n}
	xs := make([]float64, n)
	for i, x := range data {
		xs[i] = float64(x)
	}
	td.Mean, td.Std = stat.PopMeanStdDev(xs, nil)
	if !init.Normal {
		td.Init = fmt.Sprintf("const(%g)", init.Value)
		for _, x := range data {
			td.MaxAbsDev = max(td.MaxAbsDev, math.Abs(float64(x)-float64(init.Value)))
		}
		td.AtInit = td.MaxAbsDev == 0
		td.InitLike = td.AtInit
		return td
	}
	sigma := init.Std
	td.Init = fmt.Sprintf("normal(0,%g)", sigma)
	td.StdRatio = td.Std / sigma
	td.KS, td.KSCrit = ksNormal(data, sigma)
	se := 1 / math.Sqrt(float64(n))
	stdOK := math.Abs(td.StdRatio-1) <= max(0.05, 4*se/math.Sqrt2)
	meanOK := math.Abs(td.Mean) <= 4*sigma*se
	td.InitLike = td.KS < td.KSCrit && stdOK && meanOK
	return td
}

// ksNormal returns the Kolmogorov–Smirnov distance between the values (a strided sample of
// at most ksSample of them) and N(0, sigma) (gonum's distuv.Normal CDF; gonum's
// stat.KolmogorovSmirnov compares two samples, not a sample with a distribution), and the
// asymptotic critical value at ksAlpha, sqrt(−ln(α/2)/2)/√n (Kolmogorov's limit distribution).
func ksNormal(data []float32, sigma float64) (dist, crit float64) {
	stride := max(1, (len(data)+ksSample-1)/ksSample)
	xs := make([]float64, 0, len(data)/stride+1)
	for i := 0; i < len(data); i += stride {
		xs = append(xs, float64(data[i]))
	}
	slices.Sort(xs)
	n := float64(len(xs))
	normal := distuv.Normal{Mu: 0, Sigma: sigma}
	for i, x := range xs {
		cdf := normal.CDF(x)
		dist = max(dist, math.Abs(cdf-float64(i)/n), math.Abs(float64(i+1)/n-cdf))
	}
	crit = math.Sqrt(-0.5*math.Log(ksAlpha/2)) / math.Sqrt(n)
	return dist, crit
}

// untouched returns the names of the tensors exactly at their constant initial value and of
// those statistically indistinguishable from their initial random draw, in Tensors order.
func (d Drift) untouched() (atInit, initLike []string) {
	for _, t := range d.Tensors {
		switch {
		case t.AtInit:
			atInit = append(atInit, t.Name)
		case t.InitLike:
			initLike = append(initLike, t.Name)
		}
	}
	return atInit, initLike
}
