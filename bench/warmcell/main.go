// Command warmcell asks the warm server what the d20 prompt-change cell of
// bench/interactive.py asks (top-5, logit lens, its heatmap) and prints the wall time of each
// call, to split a cell's cost between the cell's own build and the server's work.
//
//	go run ./bench/warmcell --checkpoint DIR [--prompt TEXT] [--title TITLE]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"nanoscope/warm"
)

func main() {
	dir := flag.String("checkpoint", "", "checkpoint `DIR`")
	prompt := flag.String("prompt", "fn main() { let x = 1; }", "`TEXT`")
	title := flag.String("title", "d20 logit lens", "plot `TITLE`")
	flag.Parse()
	t0 := time.Now()
	c, err := warm.Default()
	check(err)
	lap := func(what string) {
		fmt.Printf("%-8s %6.3f s\n", what, time.Since(t0).Seconds())
		t0 = time.Now()
	}
	lap("connect")
	p := warm.Prompt{Checkpoint: *dir, Text: *prompt}
	top, err := c.TopK(p, 5)
	check(err)
	lap("top-5")
	l, err := c.Lens(p)
	check(err)
	lap("lens")
	f, err := c.LensPlot(p, "warmcell_lens", *title)
	check(err)
	lap("plot")
	fmt.Printf("%d positions, lens %d of %d on top, figure %d KB PNG + %d KB SVG; model: %+v\n", len(top.Tokens), l.OnTop, l.Cells, len(f.PNG)>>10, len(f.SVG)>>10, l.Model)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
