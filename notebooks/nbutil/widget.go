package nbutil

// A GoNB widget for trying prompts without recompiling: one long-running cell holds the model
// and redraws top-5 and an attention pattern when a select or a slider changes.

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/dom"
	"github.com/janpfeifer/gonb/gonbui/widgets"

	"nanoscope/plots/nbdisplay"
)

// frontEndAnswers reports whether a browser runs this cell's output: it asks the front-end's
// gonb_comm to echo a value and waits up to wait. Headless execution (nbconvert) has none.
func frontEndAnswers(wait time.Duration) bool {
	addr := "nanoscope/probe/" + gonbui.UniqueId()
	ch := comms.Listen[int](addr).WithBuffer(1)
	defer ch.Close()
	comms.Start()
	dom.TransientJavascript(fmt.Sprintf(`globalThis?.gonb_comm?.send(%q, 1);`, addr))
	select {
	case <-ch.C:
		return true
	case <-time.After(wait):
		return false
	}
}

// exploreHTML is the prompt's tokens, its top-5 next tokens and the attention pattern of
// (layer, head), as HTML.
func exploreHTML(e *Explorer, prompt string, layer, head int) string {
	ids, err := e.Encode(prompt)
	if err != nil {
		return "<pre>" + html.EscapeString(err.Error()) + "</pre>"
	}
	top, err := e.Top(ids, 5)
	if err != nil {
		return "<pre>" + html.EscapeString(err.Error()) + "</pre>"
	}
	fig, err := PatternFigure("13_widget_pattern", e, ids, layer, head)
	if err != nil {
		return "<pre>" + html.EscapeString(err.Error()) + "</pre>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<p>tokens: <code>%s</code></p>", html.EscapeString(strings.Join(e.Tokens(ids), " ")))
	b.WriteString(nbdisplay.TableHTML([]string{"rank", "next token", "logit", "p"}, GuessRows(top)))
	fmt.Fprintf(&b, `<img style="max-width:100%%" src="data:image/png;base64,%s"/>`, base64.StdEncoding.EncodeToString(fig.PNG))
	return b.String()
}

// WidgetIdleEnv names the environment variable that overrides PromptWidget's idle time (a Go
// duration, e.g. "15s"): for a browser test that runs every cell and must see this one end.
const WidgetIdleEnv = "NANOSCOPE_WIDGET_IDLE"

// PromptWidget shows a select of prompts and sliders for the block and the head; each change
// redraws the top-5 next tokens and the attention pattern, with the model held in this cell's
// process (no recompilation). It returns after idle without a change ($NANOSCOPE_WIDGET_IDLE
// when set). Run headless (no browser answers within 3 s, as under nbconvert), it shows the
// first prompt once and says so. A malformed $NANOSCOPE_WIDGET_IDLE panics (a cell error).
func PromptWidget(e *Explorer, prompts []string, idle time.Duration) {
	if !gonbui.IsNotebook {
		return
	}
	if v := os.Getenv(WidgetIdleEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			panic(fmt.Sprintf("nbutil: $%s=%q is not a positive duration such as 15s", WidgetIdleEnv, v))
		}
		idle = d
	}
	d := e.Loaded.Family.Dims()
	if !frontEndAnswers(3 * time.Second) {
		nbdisplay.Markdown(fmt.Sprintf("*No browser answered (headless run): the widget shows prompt %q, block 0, head 0 once. Open the notebook in Jupyter to change them.*", prompts[0]))
		gonbui.DisplayHTML(exploreHTML(e, prompts[0], 0, 0))
		Flush()
		return
	}
	root := dom.CreateTransientDiv()
	sel := widgets.Select(prompts).AppendTo(root).Done()
	dom.Append(root, "<span> block </span>")
	layer := widgets.Slider(0, d.NLayers-1, 0).AppendTo(root).Done()
	dom.Append(root, "<span> head </span>")
	head := widgets.Slider(0, d.NHeads-1, 0).AppendTo(root).Done()
	out := "nanoscope_explore_" + gonbui.UniqueId()
	dom.Append(root, fmt.Sprintf(`<div id="%s"></div>`, out))
	selC, layerC, headC := sel.Listen().LatestOnly(), layer.Listen().LatestOnly(), head.Listen().LatestOnly()
	defer selC.Close()
	defer layerC.Close()
	defer headC.Close()
	p, l, h := 0, 0, 0
	for {
		dom.SetInnerHtml(out, exploreHTML(e, prompts[p], l, h))
		select {
		case p = <-selC.C:
		case l = <-layerC.C:
		case h = <-headC.C:
		case <-time.After(idle):
			dom.SetInnerHtml(out, fmt.Sprintf("<p><i>widget closed after %s without a change: run the cell again</i></p>", idle))
			return
		}
	}
}
