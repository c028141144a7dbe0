package notebooks_test

// TestRenderedHTML checks that the HTML which `make notebooks` / `make test` write for the
// executed notebooks shows their figures in a real browser. It runs only when NANOSCOPE_HTML
// lists the pages to check (the Makefile's render-check target sets it), since the pages exist
// only after the notebooks ran:
//
//	NANOSCOPE_HTML="out/00_setup.html out/02_training.html" go test ./notebooks -run TestRenderedHTML -v
//
// One headless Chromium serves every page, driven through the DevTools protocol on a pipe
// (--remote-debugging-pipe: no port, no network). For each page it
//   - counts the image/png outputs of the executed notebook beside it (out/NN_name.ipynb);
//   - loads a copy of the page, with a probe script appended, in a tab of its own, waits for
//     the load event and for MathJax to finish typesetting, and reads back, from the DOM, every
//     <img> whose source is a data:image/png;base64 URL: its decoded size and its
//     naturalWidth/naturalHeight as the browser decoded it (browsers also show a truncated
//     PNG, so each is decoded in full by Go's image/png too);
//   - requires one such image per PNG output, each decoded by the browser to at least
//     minWidth x minHeight pixels and carrying at least minPNGBytes of PNG data;
//   - takes a screenshot of the whole page, 1100 CSS pixels wide (out/render/NN_name.png), and
//     requires it to show more than a blank page.
// Pages are checked renderWorkers at a time, each in its own tab. At least one of the pages
// must carry a figure.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	minPNGBytes = 5 << 10 // a figure's PNG; an empty plot frame is smaller than this
	minWidth    = 300
	minHeight   = 150
	// renderWorkers pages are loaded at a time (tabs of the one browser).
	renderWorkers = 2
	// pageTimeout bounds the load, typesetting and screenshot of one page.
	pageTimeout = 2 * time.Minute
)

// probe runs after the load event and writes what the browser made of every image into a
// <pre id="nanoscope-render-probe"> element, which --dump-dom then prints.
const probe = `<script>
window.addEventListener("load", function () {
  var out = [];
  document.querySelectorAll("img").forEach(function (img) {
    var src = img.getAttribute("src") || "";
    out.push({png: src.indexOf("data:image/png;base64,") === 0, b64: src.length,
      complete: img.complete, w: img.naturalWidth, h: img.naturalHeight});
  });
  var pre = document.createElement("pre");
  pre.id = "nanoscope-render-probe";
  pre.textContent = JSON.stringify({height: document.documentElement.scrollHeight, images: out});
  document.body.appendChild(pre);
});
</script>
`

type probeResult struct {
	Height int          `json:"height"` // of the page, in CSS pixels
	Images []probeImage `json:"images"`
}

type probeImage struct {
	PNG      bool `json:"png"`
	B64      int  `json:"b64"`
	Complete bool `json:"complete"`
	W        int  `json:"w"`
	H        int  `json:"h"`
}

func TestRenderedHTML(t *testing.T) {
	list := strings.Fields(os.Getenv("NANOSCOPE_HTML"))
	if len(list) == 0 {
		t.Skip("NANOSCOPE_HTML is empty: run `make test` or `make render-check` after the notebooks")
	}
	browser := startBrowser(t, findChromium(t))
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	shots := filepath.Join(root, "out", "render")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	figures := 0
	sem := make(chan struct{}, renderWorkers)
	t.Run("pages", func(t *testing.T) {
		for _, page := range list {
			if !filepath.IsAbs(page) {
				page = filepath.Join(root, page)
			}
			name := strings.TrimSuffix(filepath.Base(page), ".html")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				start := time.Now()
				want := pngOutputs(t, strings.TrimSuffix(page, ".html")+".ipynb")
				got := checkPage(t, browser, page, filepath.Join(shots, name+".png"))
				if len(got) < want {
					t.Errorf("%s: the notebook has %d image/png outputs, the rendered page shows %d data:image/png images", page, want, len(got))
				}
				mu.Lock()
				figures += len(got)
				mu.Unlock()
				t.Logf("%s: %d figures checked; screenshot %s (%.1f s)", filepath.Base(page), len(got), filepath.Join("out", "render", name+".png"), time.Since(start).Seconds())
			})
		}
	})
	if figures == 0 {
		t.Errorf("none of %v shows a figure", list)
	}
}

// findChromium returns the browser binary: $NANOSCOPE_CHROMIUM, else chromium on PATH.
func findChromium(t *testing.T) string {
	if b := os.Getenv("NANOSCOPE_CHROMIUM"); b != "" {
		return b
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH (install it with scripts/install-deps.sh, or set NANOSCOPE_CHROMIUM)")
	return ""
}

// pngOutputs counts the image/png outputs of an executed notebook.
func pngOutputs(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the executed notebook beside the page: %v", err)
	}
	var nb struct {
		Cells []struct {
			Outputs []struct {
				Data map[string]json.RawMessage `json:"data"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if _, ok := o.Data["image/png"]; ok {
				n++
			}
		}
	}
	return n
}

var imgSrcRE = regexp.MustCompile(`<img[^>]*\ssrc="data:image/png;base64,([A-Za-z0-9+/=\s]+)"`)

// checkPage loads the page with the probe appended in a new tab, checks every data:image/png
// image and saves a screenshot of the whole page to shot. It returns those images.
func checkPage(t *testing.T, b *browser, page, shot string) []probeImage {
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(html, []byte("</body>"))
	if i < 0 {
		t.Fatalf("%s: no </body>", page)
	}
	probed := append(append(append([]byte{}, html[:i]...), probe...), html[i:]...)
	copyPath := filepath.Join(t.TempDir(), filepath.Base(page))
	if err := os.WriteFile(copyPath, probed, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := b.open(1100, 800)
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	defer tab.close()
	t0 := time.Now()
	if err := tab.load("file://"+copyPath, pageTimeout); err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	t1 := time.Now()
	var probeJSON, dom string
	if err := tab.eval(probeScript, &probeJSON); err != nil {
		t.Fatalf("%s: the probe: %v", page, err)
	}
	t2 := time.Now()
	if probeJSON == "" {
		t.Fatalf("%s: the probe did not run (no #nanoscope-render-probe in the DOM)", page)
	}
	if err := tab.eval("document.documentElement.outerHTML", &dom); err != nil {
		t.Fatalf("%s: the DOM: %v", page, err)
	}
	var res probeResult
	if err := json.Unmarshal([]byte(probeJSON), &res); err != nil {
		t.Fatalf("%s: probe output %q: %v", page, probeJSON, err)
	}
	var pngs []probeImage
	for _, im := range res.Images {
		if !im.PNG {
			continue
		}
		pngs = append(pngs, im)
		if !im.Complete || im.W < minWidth || im.H < minHeight {
			t.Errorf("%s: Chromium decoded a data:image/png image to %dx%d (complete %v), want at least %dx%d",
				page, im.W, im.H, im.Complete, minWidth, minHeight)
		}
	}
	srcs := imgSrcRE.FindAllStringSubmatch(dom, -1)
	if len(srcs) != len(pngs) {
		t.Errorf("%s: %d data:image/png <img> in the DOM, the probe saw %d", page, len(srcs), len(pngs))
	}
	for k, s := range srcs {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s[1]), ""))
		if err != nil {
			t.Errorf("%s: image %d: base64: %v", page, k, err)
			continue
		}
		img, err := png.Decode(bytes.NewReader(raw)) // the whole image, not just its header
		switch {
		case err != nil:
			t.Errorf("%s: image %d (%d bytes): %v", page, k, len(raw), err)
		case len(raw) < minPNGBytes:
			t.Errorf("%s: image %d is %d bytes of PNG (%dx%d), want at least %d", page, k, len(raw), img.Bounds().Dx(), img.Bounds().Dy(), minPNGBytes)
		}
	}

	// The screenshot: the whole page (up to 20000 pixels high), for a person to look at.
	_ = os.Remove(shot)
	png64, err := tab.screenshot(1100, min(max(res.Height, 800), 20000))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", page, err)
	}
	raw, err := base64.StdEncoding.DecodeString(png64)
	if err != nil {
		t.Fatalf("%s: screenshot: %v", page, err)
	}
	if err := os.WriteFile(shot, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if n := inked(img); n < 0.01 {
		t.Errorf("screenshot %s is %.2f%% non-white: blank page?", shot, 100*n)
	}
	t.Logf("%s: load %.1f s, typesetting %.1f s, checks and screenshot %.1f s", filepath.Base(page),
		t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), time.Since(t2).Seconds())
	return pngs
}

// probeScript returns what the probe wrote, once MathJax (when the page loads it) has
// typeset the page.
const probeScript = `new Promise(function (done) {
  var read = function () {
    var pre = document.getElementById("nanoscope-render-probe");
    done(pre ? pre.textContent : "");
  };
  if (window.MathJax && MathJax.Hub && MathJax.Hub.Queue) { MathJax.Hub.Queue(read); } else { read(); }
})`

// inked returns the fraction of pixels that are not (nearly) white.
func inked(img image.Image) float64 {
	b := img.Bounds()
	var n, total int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xF000 || g < 0xF000 || bl < 0xF000 {
				n++
			}
			total++
		}
	}
	return float64(n) / float64(total)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// browser is one headless Chromium driven through the DevTools protocol over a pipe
// (--remote-debugging-pipe: the browser reads NUL-terminated JSON messages on its fd 3 and
// writes its replies and events on fd 4).
type browser struct {
	w      io.Writer
	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int
	calls  map[int]chan cdpMessage
	events map[string]chan cdpMessage // by session
	done   chan struct{}              // closed when the browser's pipe closes
	err    error                      // why, once done is closed
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser starts Chromium with the flags that keep it off the network and away from any
// earlier profile; the test's cleanup stops it.
func startBrowser(t *testing.T, path string) *browser {
	toBrowser, ourEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowser, theirEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, theirEnd} // fd 3, fd 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	toBrowser.Close()
	theirEnd.Close()
	b := &browser{w: ourEnd, calls: map[int]chan cdpMessage{}, events: map[string]chan cdpMessage{}, done: make(chan struct{})}
	go b.read(fromBrowser)
	t.Cleanup(func() {
		_, _ = b.call("", "Browser.close", nil, nil)
		ourEnd.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		fromBrowser.Close()
		if t.Failed() {
			t.Logf("chromium's stderr: %s", tail(stderr.String(), 2000))
		}
	})
	return b
}

// read dispatches the browser's messages: replies to their call, events to their session.
func (b *browser) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<20)
	var err error
	for {
		var msg []byte
		msg, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m cdpMessage
		if err = json.Unmarshal(msg[:len(msg)-1], &m); err != nil {
			break
		}
		b.mu.Lock()
		if m.ID != 0 {
			if c, ok := b.calls[m.ID]; ok {
				delete(b.calls, m.ID)
				c <- m
			}
		} else if c, ok := b.events[m.SessionID]; ok {
			select {
			case c <- m:
			default: // nobody waits for this many events: drop
			}
		}
		b.mu.Unlock()
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the browser closed its DevTools pipe")
	}
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	close(b.done)
}

// call sends method with params to session ("" for the browser) and decodes the result into
// result (when not nil).
func (b *browser) call(session, method string, params, result any) (json.RawMessage, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	if params == nil {
		p = []byte("{}")
	}
	c := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.calls[id] = c
	b.mu.Unlock()
	msg, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	if err != nil {
		return nil, err
	}
	b.wmu.Lock()
	_, err = b.w.Write(append(msg, 0))
	b.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-c:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return nil, fmt.Errorf("%s: %w", method, err)
			}
		}
		return m.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: %v", method, b.err)
	case <-time.After(pageTimeout):
		return nil, fmt.Errorf("%s: no reply in %s", method, pageTimeout)
	}
}

// tab is a page target of the browser, attached in a session of its own.
type tab struct {
	b               *browser
	target, session string
	events          chan cdpMessage
}

// open creates a tab with a viewport of width x height CSS pixels.
func (b *browser) open(width, height int) (*tab, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if _, err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if _, err := b.call("", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	tb := &tab{b: b, target: created.TargetID, session: attached.SessionID, events: make(chan cdpMessage, 256)}
	b.mu.Lock()
	b.events[tb.session] = tb.events
	b.mu.Unlock()
	if _, err := b.call(tb.session, "Page.enable", nil, nil); err != nil {
		return nil, err
	}
	return tb, tb.viewport(width, height)
}

func (tb *tab) viewport(width, height int) error {
	_, err := tb.b.call(tb.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	return err
}

// load navigates to url and waits for its load event.
func (tb *tab) load(url string, timeout time.Duration) error {
	for len(tb.events) > 0 {
		<-tb.events
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if _, err := tb.b.call(tb.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("loading %s: %s", url, nav.ErrorText)
	}
	deadline := time.After(timeout)
	for {
		select {
		case m := <-tb.events:
			if m.Method == "Page.loadEventFired" {
				return nil
			}
		case <-tb.b.done:
			return tb.b.err
		case <-deadline:
			return fmt.Errorf("loading %s: no load event in %s", url, timeout)
		}
	}
}

// eval evaluates a JavaScript expression (awaiting it when it is a promise) and decodes its
// value, a string, into out.
func (tb *tab) eval(expr string, out *string) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if _, err := tb.b.call(tb.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("%s", r.ExceptionDetails.Text)
	}
	return json.Unmarshal(r.Result.Value, out)
}

// screenshot sets the viewport to width x height and returns a PNG of it, base64-encoded.
func (tb *tab) screenshot(width, height int) (string, error) {
	if err := tb.viewport(width, height); err != nil {
		return "", err
	}
	var shot struct {
		Data string `json:"data"`
	}
	_, err := tb.b.call(tb.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	return shot.Data, err
}

// close closes the tab.
func (tb *tab) close() {
	tb.b.mu.Lock()
	delete(tb.b.events, tb.session)
	tb.b.mu.Unlock()
	_, _ = tb.b.call("", "Target.closeTarget", map[string]any{"targetId": tb.target}, nil)
}
