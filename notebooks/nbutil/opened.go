package nbutil

// A checkpoint of any format (load.Open: Hugging Face, nanoGPT, llm.c, nanochat) loaded with
// evaluation ids, described, and diagnosed; its report written and read back between cells.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
	"nanoscope/gomlxmodel/tokenfile"
	"nanoscope/plots/nbdisplay"
	"nanoscope/report"
)

// Opened is a checkpoint of another format than nanoscope's, loaded with its evaluation ids.
type Opened struct {
	Checkpoint *load.Loaded
	Subject    *analysis.Subject
	Tokens     []uint32
	Data       string // where the ids came from
}

// OpenModel loads the checkpoint dir (relative to root unless absolute) and
// its evaluation ids: the token file data (the model's own ids) when given; otherwise, for a
// vocabulary of at least 256 ids, the bytes of this repository's Go sources (the text the
// trained fixtures of bench/hf_fixtures.py learned, one id per byte); otherwise an error
// asking for a token file.
func OpenModel(root, dir, data string) (*Opened, error) {
	dir = InRoot(root, dir)
	ck, err := load.Open(dir)
	if err != nil {
		return nil, err
	}
	if ck.Format == load.FormatNanoscope {
		return nil, fmt.Errorf("%s is a nanoscope checkpoint: notebooks 03–10 investigate those", dir)
	}
	s, err := analysis.FromFamily(ck.Family, ck.Params, dir)
	if err != nil {
		return nil, err
	}
	s.PaddedVocab, s.BOS = ck.PaddedVocab, ck.BOS
	y := &Opened{Checkpoint: ck, Subject: s}
	V := ck.Family.Dims().VocabSize
	switch {
	case data != "":
		if y.Tokens, err = tokenfile.Read(data); err != nil {
			return nil, err
		}
		y.Data = data
	case V >= 256:
		if y.Tokens, err = GoSourceBytes(root, 200_000); err != nil {
			return nil, err
		}
		y.Data = "bytes of the repository's Go sources"
	default:
		return nil, fmt.Errorf("the vocabulary has %d ids (< 256): set the data variable to a token file of the model's ids", V)
	}
	return y, tokenfile.CheckRange(y.Data, y.Tokens, V)
}

// GoSourceBytes returns up to n bytes of the repository's Go sources (gomlxmodel, analysis,
// cmd, in file order) as ids 0–255.
func GoSourceBytes(root string, n int) ([]uint32, error) {
	var out []uint32
	for _, dir := range []string{"gomlxmodel", "analysis", "cmd/nanoscope"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for _, c := range b {
				out = append(out, uint32(c))
			}
			if len(out) >= n {
				return out[:n], nil
			}
		}
	}
	return out, nil
}

// ShowOpened tabulates what was loaded: the family, sizes, conventions, the loader's notes
// and what inspect finds remarkable.
func ShowOpened(y *Opened) analysis.FamilyInspection {
	in := analysis.InspectFamily(y.Subject)
	d := in.Dims
	var conv []string
	for _, c := range in.Conventions {
		conv = append(conv, c.Name+" = "+c.Value)
	}
	rows := [][]string{
		{"format and family", y.Checkpoint.Format + ", " + y.Checkpoint.Arch()},
		{"sizes", fmt.Sprintf("vocab %d, width %d, %d layers, %d heads, %d parameters", d.VocabSize, d.DModel, d.NLayers, d.NHeads, in.Params)},
		{"conventions", strings.Join(conv, ", ")},
		{"loader notes", strings.Join(y.Checkpoint.Notes, "; ")},
		{"evaluation ids", fmt.Sprintf("%s (%d ids)", y.Data, len(y.Tokens))},
	}
	for _, r := range in.Remarks {
		rows = append(rows, []string{"remarkable: " + r.Kind, r.Detail})
	}
	if len(in.Remarks) == 0 {
		rows = append(rows, []string{"remarkable", "nothing (no tensor at its initial value or distribution, constant or duplicated)"})
	}
	nbdisplay.ShowTable([]string{"", ""}, rows)
	return in
}

// DiagnoseOpened runs analysis.DiagnoseSubject on the model (1024 positions) and writes the
// report to OpenedReport.
func DiagnoseOpened(root string, y *Opened) (*analysis.Report, error) {
	rep, err := analysis.DiagnoseSubject(y.Subject, y.Tokens, nil, &analysis.Options{Positions: 1024})
	if err != nil {
		return nil, err
	}
	return rep, WriteJSONFile(filepath.Join(root, OpenedReport), rep)
}

// ShowFindings says whether the report is healthy and tabulates its findings (report.Findings).
func ShowFindings(r *analysis.Report) {
	if len(r.Findings) == 0 {
		nbdisplay.Markdown("**healthy: yes** — no finding.")
		return
	}
	nbdisplay.Markdown(fmt.Sprintf("**healthy: %v**", map[bool]string{true: "yes", false: "no"}[r.Healthy]))
	ShowReportTable(report.Findings(r))
}

// ShowReportTable shows one of a report's tables.
func ShowReportTable(t report.Table) { nbdisplay.ShowTable(t.Head, t.Rows) }

// OpenedReport is where DiagnoseOpened writes its report, relative to the repository root.
const OpenedReport = "out/diagnose/12_your_model.json"

// ReadOpenedReport reads the report DiagnoseOpened wrote.
func ReadOpenedReport(root string) (*analysis.Report, error) {
	b, err := os.ReadFile(filepath.Join(root, OpenedReport))
	if err != nil {
		return nil, fmt.Errorf("%w (run the diagnosis cell first)", err)
	}
	var r analysis.Report
	return &r, json.Unmarshal(b, &r)
}
