// Package tty tells the course tools whether they write to a person.
package tty

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Interactive reports whether w is a terminal that wants progress lines and
// colours: a terminal, with TERM not "dumb" and NO_COLOR unset.
func Interactive(w io.Writer) bool {
	file, ok := w.(*os.File)
	return ok && term.IsTerminal(int(file.Fd())) && os.Getenv("TERM") != "dumb" && os.Getenv("NO_COLOR") == ""
}
