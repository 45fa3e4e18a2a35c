package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// maxMessage bounds a formatted message, in bytes.
const maxMessage = 1024

// FormatDiagnostic renders d as "FILE:LINE:COL: message", or as
// "PATH: message" when it has no position (the message then starts with
// the path). Warnings get "warning: " before the message; a message over
// maxMessage bytes is cut.
func FormatDiagnostic(d *hcl.Diagnostic) string {
	msg := d.Summary
	if d.Detail != "" {
		msg += ": " + strings.TrimSuffix(d.Detail, ".")
	}
	if d.Severity == hcl.DiagWarning {
		msg = "warning: " + msg
	}
	if len(msg) > maxMessage {
		// A value quoted whole (a 3 MB service name) says no more.
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + fmt.Sprintf("… (%d bytes more)", len(msg)-cut)
	}
	if d.Subject == nil {
		return msg
	}
	return posString(*d.Subject) + ": " + msg
}

// posString renders the start of r as "FILE:LINE:COL".
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// pathKey is the Extra of a diagnostic without a position: the path it is
// about, to sort it among the others.
type pathKey string

// diagList collects every problem Load finds.
type diagList struct {
	diags hcl.Diagnostics
	seen  map[string]bool // messages of positionless diagnostics, reported once
}

// add appends diagnostics from the HCL parser or evaluator.
func (l *diagList) add(ds hcl.Diagnostics) {
	l.diags = append(l.diags, ds...)
}

// errorf reports a problem at rng.
func (l *diagList) errorf(rng hcl.Range, format string, args ...any) {
	r := rng
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// pathError reports a problem without a position, once; msg starts with
// path.
func (l *diagList) pathError(path, msg string) {
	if l.seen == nil {
		l.seen = make(map[string]bool)
	}
	if l.seen[msg] {
		return
	}
	l.seen[msg] = true
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  msg,
		Extra:    pathKey(path),
	})
}

// pathErr reports err, which has no position, as "PATH: message": an
// *os.PathError on path itself becomes "PATH: op: reason", one on another
// path (a symlink's target, a directory on the way) keeps that path after
// PATH.
func (l *diagList) pathErr(path string, err error) {
	var pe *os.PathError
	msg := err.Error()
	if errors.As(err, &pe) && pe.Path == path {
		msg = pe.Op + ": " + pe.Err.Error()
	}
	if !strings.HasPrefix(msg, path+":") && !strings.HasPrefix(msg, path+" ") {
		msg = path + ": " + msg
	}
	l.pathError(path, msg)
}

func (l *diagList) hasErrors() bool { return l.diags.HasErrors() }

// sorted returns the diagnostics ordered by file, then position.
func (l *diagList) sorted() hcl.Diagnostics {
	out := append(hcl.Diagnostics(nil), l.diags...)
	sort.SliceStable(out, func(i, j int) bool {
		fi, li, ci := diagKey(out[i])
		fj, lj, cj := diagKey(out[j])
		if fi != fj {
			return fi < fj
		}
		if li != lj {
			return li < lj
		}
		return ci < cj
	})
	return out
}

func diagKey(d *hcl.Diagnostic) (string, int, int) {
	if d.Subject != nil {
		return d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
	}
	if p, ok := d.Extra.(pathKey); ok {
		return string(p), 0, 0
	}
	return "", 0, 0
}

// warning is a Config.Warnings entry with its position, for sorting.
type warning struct {
	rng hcl.Range
	msg string
}

func sortedWarnings(ws []warning) []string {
	sort.SliceStable(ws, func(i, j int) bool {
		a, b := ws[i].rng, ws[j].rng
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
	var out []string
	for _, w := range ws {
		if w.rng.Filename == "" {
			out = append(out, w.msg)
			continue
		}
		out = append(out, posString(w.rng)+": "+w.msg)
	}
	return out
}
