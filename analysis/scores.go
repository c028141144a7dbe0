package analysis

import (
	"slices"
	"sort"
)

// Scores of the diagnosis over a gallery of checkpoints whose fault is known, in the form of
// the classification literature: per kind, recall TP/(TP+FN) and precision TP/(TP+FP); over the
// faulty checkpoints, the share called healthy and the share given a wrong kind (a fault kind
// other than the true one, or the right kind naming another convention: "unexplained" is not a
// wrong kind); over the healthy ones, the share flagged.

// Case is one checkpoint (or inference path) of a gallery: its name, the true kind ("" for
// healthy) and, for a convention fault, the convention; and the diagnosis: the report of
// Diagnose, or — for a diagnosis that is not a Report, such as an inference path's checks and
// engine fingerprint — Named, the kinds it named (Report nil; none: healthy).
type Case struct {
	Name       string
	Want       string
	Convention string
	Report     *Report
	Named      []string
}

// diagnosed returns the fault kinds the case's diagnosis named (informational kinds only when
// one is the true kind: a build of an informational kind is caught by its finding, a healthy
// build's informational findings flag nothing) and whether it named the true kind (with the
// case's convention).
func (c Case) diagnosed() (got []string, right bool) {
	if c.Report == nil {
		return c.Named, c.Want != "" && slices.Contains(c.Named, c.Want)
	}
	got = faultKinds(c.Report)
	right = c.Want != "" && namesConvention(c.Report, c.Want, c.Convention)
	if right && Informational(c.Want) {
		got = append(got, c.Want)
	}
	return got, right
}

// KindScore is one kind's counts, recall and precision (NaN-free: 0 when undefined, with the
// counts saying so).
type KindScore struct {
	Kind      string  `json:"kind"`
	TP        int     `json:"tp"`
	FN        int     `json:"fn"`
	FP        int     `json:"fp"`
	Recall    float64 `json:"recall"`
	Precision float64 `json:"precision"`
}

// Scores summarise a gallery.
type Scores struct {
	Kinds          []KindScore `json:"kinds"`
	Faulty         int         `json:"faulty"`
	Healthy        int         `json:"healthy"`
	FalseHealthy   []string    `json:"false_healthy"`   // faulty cases called healthy
	WrongKind      []string    `json:"wrong_kind"`      // faulty cases given a wrong kind
	Unexplained    []string    `json:"unexplained"`     // faulty cases called unexplained and nothing else
	HealthyFlagged []string    `json:"healthy_flagged"` // healthy cases with a fault finding
}

// FalseHealthyRate is len(FalseHealthy)/Faulty; WrongKindRate len(WrongKind)/Faulty.
func (s Scores) FalseHealthyRate() float64 { return shareOf(len(s.FalseHealthy), s.Faulty) }

// WrongKindRate is the share of faulty cases given a wrong kind.
func (s Scores) WrongKindRate() float64 { return shareOf(len(s.WrongKind), s.Faulty) }

// HealthyFlaggedRate is the share of healthy cases flagged.
func (s Scores) HealthyFlaggedRate() float64 { return shareOf(len(s.HealthyFlagged), s.Healthy) }

func shareOf(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// faultKinds are the report's non-informational kinds.
func faultKinds(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		if !Informational(f.Kind) && !slices.Contains(out, f.Kind) {
			out = append(out, f.Kind)
		}
	}
	return out
}

// namesConvention reports whether r has a finding of kind naming the convention (any, when
// convention is "").
func namesConvention(r *Report, kind, convention string) bool {
	for _, f := range r.Findings {
		if f.Kind == kind && (convention == "" || f.Evidence["convention"] == convention) {
			return true
		}
	}
	return false
}

// Score computes the scores of the cases.
func Score(cases []Case) Scores {
	var s Scores
	counts := map[string]*KindScore{}
	get := func(k string) *KindScore {
		if counts[k] == nil {
			counts[k] = &KindScore{Kind: k}
		}
		return counts[k]
	}
	for _, c := range cases {
		got, right := c.diagnosed()
		if c.Want == "" {
			s.Healthy++
			if len(got) > 0 {
				s.HealthyFlagged = append(s.HealthyFlagged, c.Name)
			}
			for _, k := range got {
				get(k).FP++
			}
			continue
		}
		s.Faulty++
		if right {
			get(c.Want).TP++
		} else {
			get(c.Want).FN++
		}
		wrong := false
		for _, k := range got {
			if k == KindUnexplained || (k == c.Want && right) {
				continue
			}
			get(k).FP++
			wrong = true
		}
		switch {
		case len(got) == 0:
			s.FalseHealthy = append(s.FalseHealthy, c.Name)
		case wrong:
			s.WrongKind = append(s.WrongKind, c.Name)
		case !right:
			s.Unexplained = append(s.Unexplained, c.Name)
		}
	}
	for _, k := range counts {
		k.Recall, k.Precision = shareOf(k.TP, k.TP+k.FN), shareOf(k.TP, k.TP+k.FP)
		s.Kinds = append(s.Kinds, *k)
	}
	sort.Slice(s.Kinds, func(i, j int) bool { return s.Kinds[i].Kind < s.Kinds[j].Kind })
	return s
}
