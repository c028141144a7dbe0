package nbdisplay

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"

	"nanoscope/plots"
)

func testFigure(t *testing.T) plots.Figure {
	t.Helper()
	f, err := plots.GroupedBars("copy_vs_next", "Copy rate <vs> next-token accuracy", "fraction", []string{"a", "b"},
		[]plots.BarSeries{{Label: "copy", Values: []float64{0.9, 0.1}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDisplayThroughGonbPipe runs the display functions against a fake
// GoNB pipe (a regular file) and decodes what a GoNB kernel would receive.
func TestDisplayThroughGonbPipe(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "gonb_pipe")
	back := filepath.Join(dir, "gonb_pipe_back")
	for _, p := range []string{pipe, back} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(protocol.GONB_PIPE_ENV, pipe)
	t.Setenv(protocol.GONB_PIPE_BACK_ENV, back)
	wasNotebook := gonbui.IsNotebook
	gonbui.IsNotebook = true
	defer func() { gonbui.IsNotebook = wasNotebook }()
	// No kernel reads the fake pipe, so nothing would answer gonbui.Sync; count the waits.
	syncs := 0
	syncDisplay = func() { syncs++ }
	defer func() { syncDisplay = gonbui.Sync }()

	fig := testFigure(t)
	outDir := filepath.Join(dir, "out", "plots")
	Show(fig)
	ShowSVG(fig)
	Markdown("**copy rate** $p$")
	ShowTable([]string{"model", "copy"}, [][]string{{"ternary <64>", "0.91"}})
	if err := SaveAndShow(fig, outDir); err != nil {
		t.Fatalf("SaveAndShow: %v", err)
	}
	if err := gonbui.Error(); err != nil {
		t.Fatalf("gonbui pipe error: %v", err)
	}
	if syncs < 5 {
		t.Errorf("%d waits for GoNB after 5 displays, want one each", syncs)
	}
	for _, ext := range []string{".png", ".svg"} {
		if _, err := os.Stat(filepath.Join(outDir, fig.Name+ext)); err != nil {
			t.Errorf("SaveAndShow did not write %s: %v", fig.Name+ext, err)
		}
	}

	raw, err := os.ReadFile(pipe)
	if err != nil {
		t.Fatal(err)
	}
	dec := gob.NewDecoder(bytes.NewReader(raw))
	var msgs []protocol.DisplayData
	for {
		var m protocol.DisplayData
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding message %d: %v", len(msgs), err)
		}
		msgs = append(msgs, m)
	}
	wantTypes := [][]protocol.MIMEType{
		{protocol.MIMEImagePNG, protocol.MIMETextPlain},
		{protocol.MIMETextHTML},
		{protocol.MIMETextMarkdown},
		{protocol.MIMETextHTML},
		{protocol.MIMEImagePNG, protocol.MIMETextPlain},
	}
	if len(msgs) != len(wantTypes) {
		t.Fatalf("got %d display messages, want %d", len(msgs), len(wantTypes))
	}
	for i, m := range msgs {
		if len(m.Data) != len(wantTypes[i]) {
			t.Errorf("message %d has MIME types %v, want %v", i, keys(m.Data), wantTypes[i])
		}
		for _, mt := range wantTypes[i] {
			if _, ok := m.Data[mt]; !ok {
				t.Errorf("message %d lacks %s (has %v)", i, mt, keys(m.Data))
			}
		}
	}

	// PNG is primary and carries the figure bytes; the kernel JSON-encodes
	// them as base64, as Jupyter expects for image/png.
	if got, _ := msgs[0].Data[protocol.MIMEImagePNG].([]byte); !bytes.Equal(got, fig.PNG) {
		t.Errorf("image/png payload differs from the figure's PNG")
	}
	js, err := json.Marshal(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"image/png":"iVBORw0KGgo`) {
		t.Errorf("JSON image/png is not base64 PNG: %.80s", js)
	}
	if html, _ := msgs[1].Data[protocol.MIMETextHTML].(string); !strings.Contains(html, "<svg") || strings.Contains(html, "<?xml") {
		t.Errorf("ShowSVG HTML should embed <svg> without XML prolog: %.200s", html)
	}
	if md, _ := msgs[2].Data[protocol.MIMETextMarkdown].(string); md != "**copy rate** $p$" {
		t.Errorf("markdown = %q", md)
	}
	if html, _ := msgs[3].Data[protocol.MIMETextHTML].(string); !strings.Contains(html, "ternary &lt;64&gt;") {
		t.Errorf("table HTML not escaped: %s", html)
	}
}

func keys(m map[protocol.MIMEType]any) []protocol.MIMEType {
	var out []protocol.MIMEType
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestNotANotebook(t *testing.T) {
	if gonbui.IsNotebook {
		t.Skip("running inside GoNB")
	}
	// Must not panic or block.
	fig := testFigure(t)
	Show(fig)
	ShowSVG(fig)
	ShowTable([]string{"a"}, nil)
	Markdown("x")
}

func TestPNGDataEmptyFigure(t *testing.T) {
	d := pngData(plots.Figure{Name: "nothing"})
	if _, ok := d.Data[protocol.MIMEImagePNG]; ok {
		t.Error("empty figure should not send image/png")
	}
	if s, _ := d.Data[protocol.MIMETextPlain].(string); !strings.Contains(s, "nothing") {
		t.Errorf("text/plain = %q, want it to name the figure", s)
	}
}

func TestSVGHTMLIsWellFormed(t *testing.T) {
	fig := testFigure(t)
	h := svgHTML(fig)
	if err := wellFormed(h); err != nil {
		t.Fatalf("SVG HTML is not well-formed: %v", err)
	}
	if !strings.Contains(h, "Copy rate &lt;vs&gt; next-token accuracy") {
		t.Error("SVG HTML does not contain the escaped title")
	}
}

func wellFormed(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestTableHTML(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		rows    [][]string
		want    []string
		notWant []string
	}{
		{
			name:    "escaping and numeric alignment",
			headers: []string{"model", "copy rate"},
			rows:    [][]string{{"a<b>&c", "0.91"}, {"fp32", "12%"}},
			want:    []string{"a&lt;b&gt;&amp;c", `text-align:right">0.91<`, `text-align:right">12%<`, `text-align:left">fp32<`, "<th", "copy rate"},
			notWant: []string{"<b>"},
		},
		{
			name:    "ragged rows are padded",
			headers: []string{"a", "b", "c"},
			rows:    [][]string{{"1"}, {"x", "y", "z", "extra"}},
			want:    []string{"extra"},
		},
		{
			name:    "no headers",
			rows:    [][]string{{"only"}},
			want:    []string{"only"},
			notWant: []string{"<thead>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := TableHTML(tc.headers, tc.rows)
			if err := wellFormed(h); err != nil {
				t.Fatalf("table HTML is not well-formed: %v\n%s", err, h)
			}
			for _, w := range tc.want {
				if !strings.Contains(h, w) {
					t.Errorf("table HTML lacks %q:\n%s", w, h)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(h, w) {
					t.Errorf("table HTML contains %q:\n%s", w, h)
				}
			}
			// every row has the same number of cells
			rowsHTML := strings.Split(h, "<tr>")[1:]
			var counts []int
			for _, r := range rowsHTML {
				counts = append(counts, strings.Count(r, "<td")+strings.Count(r, "<th"))
			}
			for _, c := range counts {
				if c != counts[0] {
					t.Errorf("rows have different cell counts %v", counts)
					break
				}
			}
		})
	}
}
