package checkpoint

import (
	"fmt"
	"strings"
)

// Error is the error of every failure of this package. Its text is one line naming the file,
// the tensor when one is to blame, and what was expected versus found, e.g.
//
//	checkpoint out/x/model.safetensors: tensor blocks.0.attn.wq.weight: shape mismatch: expected [128 128], found [64 128]
type Error struct {
	File     string // the file (or directory) at fault
	Tensor   string // the tensor to blame, "" when the failure is not about one tensor
	Msg      string // what is wrong
	Expected string // "" when there is nothing to compare
	Found    string
	Err      error // underlying cause, for errors.Is (e.g. fs.ErrNotExist); may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint ")
	b.WriteString(e.File)
	if e.Tensor != "" {
		b.WriteString(": tensor ")
		b.WriteString(e.Tensor)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Expected != "" || e.Found != "" {
		fmt.Fprintf(&b, ": expected %s, found %s", e.Expected, e.Found)
	}
	// Names and wrapped messages come from files; keep the promise of one line anyway.
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(b.String())
}

func (e *Error) Unwrap() error { return e.Err }
