package convert

import (
	"fmt"
	"io/fs"
)

// Source is one configuration file: its name (used in warnings and to
// skip a file already read through an includedir) and its content.
type Source struct {
	Name string
	Data []byte
}

// Warning is something the translation left out or could not read.
type Warning struct {
	File string
	Line int // 0 when there is no line
	Msg  string
}

// String formats the warning as FILE:LINE: message, one line of
// printable text (control characters from the input become "?").
func (w Warning) String() string {
	if w.Line <= 0 {
		return printable(fmt.Sprintf("%s: %s", w.File, w.Msg))
	}
	return printable(fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg))
}

// Result is a translation.
type Result struct {
	HCL      []byte    // superd service file(s), always syntactically valid HCL
	Warnings []Warning // in input order
	Complete bool      // true when nothing was left out (Warnings is empty)
}

// Lookup finds the port of a named service, as getservbyname(3) does.
type Lookup interface {
	LookupPort(name, proto string) (port int, ok bool)
}

// Options are the translation's view of the system.
type Options struct {
	// Services resolves port names ("finger", "echo"). Nil: only numeric
	// ports, and services without one are left out.
	Services Lookup
	// FS reads includedir directories, include files and banner_fail
	// files; absolute paths lose their leading "/". Nil: none are read,
	// each left out with a warning.
	FS fs.FS
}
