package warm

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// What a notebook cell calls: the session's client (started on demand), the questions as
// package functions, and the displays.

var defaultClient = sync.OnceValues(func() (*Client, error) { return Connect(Options{}) })

// Default returns the client of this cell's session (Connect with the default Options, once per
// process).
func Default() (*Client, error) { return defaultClient() }

// TopKOf asks the session's server for the k largest logits at every position of p.
func TopKOf(p Prompt, k int) (TopK, error) {
	c, err := Default()
	if err != nil {
		return TopK{}, err
	}
	return c.TopK(p, k)
}

// LensOf asks the session's server for the logit lens of p.
func LensOf(p Prompt) (Lens, error) {
	c, err := Default()
	if err != nil {
		return Lens{}, err
	}
	return c.Lens(p)
}

// LensPlotOf asks the session's server for the heatmap of p's logit lens.
func LensPlotOf(p Prompt, name, title string) (Figure, error) {
	c, err := Default()
	if err != nil {
		return Figure{}, err
	}
	return c.LensPlot(p, name, title)
}

// Must returns v, or panics with err (which a notebook shows as the cell's error).
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ShowTopK shows one row per position: the input token and the top predictions with their
// logits, marking a prediction that is the input (copy) or the next input.
func ShowTopK(t TopK) {
	head := []string{"pos", "input"}
	if len(t.Top) > 0 {
		for i := range t.Top[0] {
			head = append(head, fmt.Sprintf("top %d", i+1))
		}
	}
	var rows [][]string
	for p, in := range t.Tokens {
		row := []string{strconv.Itoa(p), label(in)}
		for _, pr := range t.Top[p] {
			mark := ""
			switch {
			case pr.ModelID == in.ModelID:
				mark = " ← input"
			case p+1 < len(t.Tokens) && pr.ModelID == t.Tokens[p+1].ModelID:
				mark = " ← next"
			}
			row = append(row, fmt.Sprintf("%s (%.2f)%s", label(pr.Token), pr.Logit, mark))
		}
		rows = append(rows, row)
	}
	showTable(head, rows)
}

// label is "id text" (the model's id when nanoscope has no tokenizer for it).
func label(t Token) string {
	if t.Text == "" {
		return strconv.Itoa(t.ModelID)
	}
	return strconv.Itoa(t.ID) + " " + strings.ReplaceAll(strconv.Quote(t.Text), " ", "·")
}

// showTable displays an HTML table in a notebook, or prints tab-separated rows elsewhere.
func showTable(head []string, rows [][]string) {
	if !gonbui.IsNotebook {
		fmt.Println(strings.Join(head, "\t"))
		for _, r := range rows {
			fmt.Println(strings.Join(r, "\t"))
		}
		return
	}
	var b strings.Builder
	b.WriteString("<table><thead><tr>")
	for _, h := range head {
		b.WriteString("<th>" + html.EscapeString(h) + "</th>")
	}
	b.WriteString("</tr></thead><tbody>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			b.WriteString("<td style=\"text-align:left\">" + html.EscapeString(c) + "</td>")
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	gonbui.DisplayHTML(b.String())
	gonbui.Sync() // GoNB drops output still in the pipe when the cell's program exits
}

// FigureDir is where Save writes figures, under the checkout's root (Root), as nbutil.Save.
const FigureDir = "out/plots"

// Save writes f as <checkout>/out/plots/NAME.png and .svg and displays the PNG; the figure is
// shown even when writing fails (or no checkout is found), and the error is returned.
func Save(f Figure) error {
	root, err := Root()
	if err == nil {
		err = f.Save(filepath.Join(root, FigureDir))
	}
	Show(f)
	return err
}

// Save writes dir/NAME.png and dir/NAME.svg.
func (f Figure) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for ext, data := range map[string][]byte{".png": f.PNG, ".svg": f.SVG} {
		path := filepath.Join(dir, f.Name+ext)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// Show displays f's PNG in a notebook (nothing elsewhere).
func Show(f Figure) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.SendData(&protocol.DisplayData{Data: map[protocol.MIMEType]any{
		protocol.MIMEImagePNG:  f.PNG,
		protocol.MIMETextPlain: fmt.Sprintf("<figure %s>", f.Name),
	}})
	gonbui.Sync()
}
