// Command faultedit copies a checkpoint with some tensors replaced by a fresh draw of the
// original's initialiser (a partial load), for bench/diagnose.sh.
//
//	go run ./bench/faultedit --src out/cpu --dst /tmp/x --fresh tok_embed.weight[,NAME...]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nanoscope/faults"
	"nanoscope/gomlxmodel"
	"nanoscope/gomlxmodel/checkpoint"
)

func main() {
	src := flag.String("src", "", "checkpoint directory to copy")
	dst := flag.String("dst", "", "directory to write")
	fresh := flag.String("fresh", "", "comma-separated tensors to replace by a fresh draw (seed 9)")
	flag.Parse()
	if err := run(*src, *dst, strings.Split(*fresh, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "faultedit:", err)
		os.Exit(1)
	}
}

func run(src, dst string, names []string) error {
	var missing error
	err := faults.Edit(src, dst, func(p gomlxmodel.Params, m *checkpoint.Meta) {
		init := gomlxmodel.InitParams(m.Config, m.Variant, 9)
		for _, n := range names {
			if _, ok := p[n]; !ok {
				missing = fmt.Errorf("%s: no tensor %q", src, n)
				return
			}
			p[n] = init[n]
		}
	})
	if err != nil {
		return err
	}
	if missing != nil {
		return missing
	}
	// The compact vocabulary travels with the checkpoint.
	if b, err := os.ReadFile(filepath.Join(src, "vocab.json")); err == nil {
		return os.WriteFile(filepath.Join(dst, "vocab.json"), b, 0o644)
	}
	return nil
}
