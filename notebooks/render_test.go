package notebooks_test

// TestRenderedHTML checks that the HTML which `make notebooks` / `make test` write for the
// executed notebooks shows their figures in a real browser. It runs only when NANOSCOPE_HTML
// lists the pages to check (the Makefile's render-check target sets it), since the pages exist
// only after the notebooks ran:
//
//	NANOSCOPE_HTML="out/00_setup.html out/02_training.html" go test ./notebooks -run TestRenderedHTML -v
//
// For each page it
//   - counts the image/png outputs of the executed notebook beside it (out/NN_name.ipynb);
//   - loads a copy of the page, with a probe script appended, in headless Chromium
//     (--dump-dom) and reads back, from the DOM after the load event, every <img> whose source
//     is a data:image/png;base64 URL: its decoded size and its naturalWidth/naturalHeight as
//     the browser decoded it (browsers also show a truncated PNG, so each is decoded in full
//     by Go's image/png too);
//   - requires one such image per PNG output, each decoded by the browser to at least
//     minWidth x minHeight pixels and carrying at least minPNGBytes of PNG data;
//   - takes a screenshot of the whole page (out/render/NN_name.png) and requires it to show
//     more than a blank page.
// At least one of the pages must carry a figure.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	minPNGBytes = 5 << 10 // a figure's PNG; an empty plot frame is smaller than this
	minWidth    = 300
	minHeight   = 150
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
	browser := findChromium(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	shots := filepath.Join(root, "out", "render")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	figures := 0
	for _, page := range list {
		if !filepath.IsAbs(page) {
			page = filepath.Join(root, page)
		}
		name := strings.TrimSuffix(filepath.Base(page), ".html")
		t.Run(name, func(t *testing.T) {
			want := pngOutputs(t, strings.TrimSuffix(page, ".html")+".ipynb")
			got, height := checkDOM(t, browser, page)
			if len(got) < want {
				t.Errorf("%s: the notebook has %d image/png outputs, the rendered page shows %d data:image/png images", page, want, len(got))
			}
			figures += len(got)
			checkScreenshot(t, browser, page, filepath.Join(shots, name+".png"), height)
			t.Logf("%s: %d figures checked; screenshot %s", filepath.Base(page), len(got), filepath.Join("out", "render", name+".png"))
		})
	}
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

// chromium runs the headless browser with the flags that keep it off the network and away
// from any earlier profile, and returns its stdout.
func chromium(t *testing.T, browser string, args ...string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", browser, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes()
}

var (
	probeRE  = regexp.MustCompile(`(?s)<pre id="nanoscope-render-probe">(.*?)</pre>`)
	imgSrcRE = regexp.MustCompile(`<img[^>]*\ssrc="data:image/png;base64,([A-Za-z0-9+/=\s]+)"`)
)

// checkDOM loads the page with the probe appended and checks every data:image/png image. It
// returns those images and the height of the page.
func checkDOM(t *testing.T, browser, page string) ([]probeImage, int) {
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
	dom := chromium(t, browser, "--virtual-time-budget=15000", "--dump-dom", "file://"+copyPath)

	m := probeRE.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("%s: the probe did not run (no #nanoscope-render-probe in the DOM of %d bytes)", page, len(dom))
	}
	var res probeResult
	if err := json.Unmarshal(unescapeHTML(m[1]), &res); err != nil {
		t.Fatalf("%s: probe output %q: %v", page, m[1], err)
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
	srcs := imgSrcRE.FindAllSubmatch(dom, -1)
	if len(srcs) != len(pngs) {
		t.Errorf("%s: %d data:image/png <img> in the DOM, the probe saw %d", page, len(srcs), len(pngs))
	}
	for k, s := range srcs {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(s[1])), ""))
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
	return pngs, res.Height
}

// unescapeHTML undoes the entity escaping of a text node in Chromium's serialisation.
func unescapeHTML(b []byte) []byte {
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&amp;", "&")
	return []byte(r.Replace(string(b)))
}

// checkScreenshot renders the whole page (up to 20000 pixels high) to shot, for a person to
// look at, and requires more than a blank page.
func checkScreenshot(t *testing.T, browser, page, shot string, height int) {
	_ = os.Remove(shot)
	h := min(max(height, 800), 20000)
	chromium(t, browser, "--virtual-time-budget=15000", fmt.Sprintf("--window-size=1100,%d", h), "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if n := inked(img); n < 0.01 {
		t.Errorf("screenshot %s is %.2f%% non-white: blank page?", shot, 100*n)
	}
}

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
