// Package nbdisplay shows nanoscope figures and tables in GoNB notebook
// cells.
//
// Figures are displayed as PNG (image/png, which the kernel sends base64
// encoded): Debian's nbconvert 6.5 drops image/svg+xml outputs when
// exporting a notebook to HTML, while PNG survives. [ShowSVG] additionally
// offers the vector version as an HTML output. Outside a notebook (no GoNB
// pipe, e.g. under go test or go run) every display function does nothing.
//
// Every display function returns only once GoNB has received its output
// (gonbui.Sync): GoNB (seen with v0.11.1; the wait stays with v0.11.4) drops
// display output still in the pipe when a cell's program exits, so a cell needs
// no flush of its own.
package nbdisplay

import (
	"bytes"
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"

	"nanoscope/plots"
)

// syncDisplay waits until GoNB has received the outputs sent so far (gonbui.Sync); tests that
// write to a fake pipe with no kernel reading it replace it.
var syncDisplay = gonbui.Sync

// DefaultDir is where SaveAndShow writes figures when dir is "".
const DefaultDir = "out/plots"

// Show displays the figure's PNG inline (with a text/plain fallback naming
// the figure).
func Show(f plots.Figure) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.SendData(pngData(f))
	syncDisplay()
}

// ShowSVG displays the figure's SVG inline as an HTML output, collapsed
// under a "vector version" summary. Use it in addition to Show when a
// zoomable version is wanted; HTML outputs survive nbconvert's HTML export.
func ShowSVG(f plots.Figure) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayHTML(svgHTML(f))
	syncDisplay()
}

// SaveAndShow writes dir/NAME.png and dir/NAME.svg (dir "" means
// DefaultDir, relative to the kernel's working directory, normally the
// notebook's directory) and displays the figure. The figure is shown even
// if saving fails; the save error is returned.
func SaveAndShow(f plots.Figure, dir string) error {
	if dir == "" {
		dir = DefaultDir
	}
	err := f.Save(dir)
	Show(f)
	return err
}

// Markdown displays s as Markdown (with $...$ LaTeX maths).
func Markdown(s string) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayMarkdown(s)
	syncDisplay()
}

// ShowTable displays an HTML table. Cells are HTML-escaped; short rows are
// padded with empty cells; numeric cells are right-aligned.
func ShowTable(headers []string, rows [][]string) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayHTML(TableHTML(headers, rows))
	syncDisplay()
}

// pngData builds the display message for a figure: image/png (raw bytes;
// the kernel JSON-encodes them as base64) plus a text/plain fallback.
func pngData(f plots.Figure) *protocol.DisplayData {
	if len(f.PNG) == 0 {
		return &protocol.DisplayData{Data: map[protocol.MIMEType]any{
			protocol.MIMETextPlain: fmt.Sprintf("figure %q has no PNG data", f.Name),
		}}
	}
	return &protocol.DisplayData{Data: map[protocol.MIMEType]any{
		protocol.MIMEImagePNG:  f.PNG,
		protocol.MIMETextPlain: fmt.Sprintf("<figure %s>", f.Name),
	}}
}

// svgHTML embeds the figure's SVG (without its XML prolog) in a collapsed
// <details> block.
func svgHTML(f plots.Figure) string {
	svg := f.SVG
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		svg = svg[i:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<details><summary>%s (vector version)</summary>\n<div style=\"max-width:100%%;overflow-x:auto\">\n",
		html.EscapeString(f.Name))
	b.Write(svg)
	b.WriteString("</div></details>\n")
	return b.String()
}

// TableHTML renders headers and rows as an HTML table (see ShowTable).
func TableHTML(headers []string, rows [][]string) string {
	ncol := len(headers)
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	var b strings.Builder
	b.WriteString(`<table style="border-collapse:collapse;font-family:sans-serif;font-size:13px">` + "\n")
	if len(headers) > 0 {
		b.WriteString("<thead><tr>")
		for i := range ncol {
			h := ""
			if i < len(headers) {
				h = headers[i]
			}
			fmt.Fprintf(&b, `<th style="border-bottom:2px solid #444;padding:3px 8px;text-align:left">%s</th>`, html.EscapeString(h))
		}
		b.WriteString("</tr></thead>\n")
	}
	b.WriteString("<tbody>\n")
	for _, r := range rows {
		b.WriteString("<tr>")
		for i := range ncol {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			align := "left"
			if isNumber(c) {
				align = "right"
			}
			fmt.Fprintf(&b, `<td style="border-bottom:1px solid #ddd;padding:3px 8px;text-align:%s">%s</td>`, align, html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
	return b.String()
}

// isNumber reports whether s looks like a number (optionally with a
// trailing %).
func isNumber(s string) bool {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
