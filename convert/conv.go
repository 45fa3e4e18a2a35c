package convert

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// conv collects one translation's output and warnings.
type conv struct {
	opts     Options
	warnings []Warning
	items    []item
}

// item is a top-level piece of output: comment lines, then a service
// (nil for a comment-only item).
type item struct {
	comments []string
	svc      *svc
}

// svc is a translated service waiting for its label.
type svc struct {
	base string // label wanted
	alt  string // suffix that tells apart services wanting the same base
	blk  *block
}

// warn records a warning; the translation is then incomplete.
func (c *conv) warn(file string, line int, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// lose records something left out: a "superd:" comment in b and a warning.
func (c *conv) lose(b *body, file string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.note("superd: %s", msg)
	c.warn(file, line, "%s", msg)
}

// skip records a whole section left out.
func (c *conv) skip(file string, line int, what, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.items = append(c.items, item{comments: []string{fmt.Sprintf("superd: %s (%s:%d) left out: %s", what, file, line, msg)}})
	c.warn(file, line, "%s left out: %s", what, msg)
}

func (c *conv) addService(s *svc) {
	c.items = append(c.items, item{svc: s})
}

// result labels the services and renders everything.
func (c *conv) result(header []string, defaults *body) Result {
	c.assignLabels()
	var w bytes.Buffer
	for _, h := range header {
		writeComment(&w, "", h)
	}
	if defaults != nil && (!defaults.empty() || len(defaults.comments) > 0) {
		w.WriteString("\n")
		(&block{typ: "defaults", body: *defaults}).write(&w, 0)
	}
	for _, it := range c.items {
		w.WriteString("\n")
		for _, cm := range it.comments {
			writeComment(&w, "", cm)
		}
		if it.svc != nil {
			it.svc.blk.write(&w, 0)
		}
	}
	// Warnings in input order: files as first warned about, then by line.
	order := map[string]int{}
	for _, wn := range c.warnings {
		if _, ok := order[wn.File]; !ok {
			order[wn.File] = len(order)
		}
	}
	slices.SortStableFunc(c.warnings, func(a, b Warning) int {
		if d := order[a.File] - order[b.File]; d != 0 {
			return d
		}
		return a.Line - b.Line
	})
	return Result{HCL: w.Bytes(), Warnings: c.warnings, Complete: len(c.warnings) == 0}
}

// assignLabels gives each service a unique label matching superd's
// [a-z0-9][a-z0-9_-]{0,63}: the sanitised base name, with "-alt" when
// several services want the same base, then "-2", "-3"... if still taken.
func (c *conv) assignLabels() {
	count := map[string]int{}
	for _, it := range c.items {
		if it.svc != nil {
			count[sanitizeLabel(it.svc.base)]++
		}
	}
	used := map[string]bool{}
	for _, it := range c.items {
		s := it.svc
		if s == nil {
			continue
		}
		base := sanitizeLabel(s.base)
		want := base
		if count[base] > 1 && s.alt != "" {
			want = joinLabel(base, sanitizeLabel(s.alt))
		}
		label := want
		for n := 2; used[label]; n++ {
			label = joinLabel(want, itoa(n))
		}
		used[label] = true
		s.blk.labels = []string{label}
	}
}

const maxLabel = 64

// joinLabel returns base-suffix, shortening base to fit 64 bytes.
func joinLabel(base, suffix string) string {
	if keep := maxLabel - len(suffix) - 1; len(base) > keep {
		base = base[:max(keep, 1)]
	}
	return base + "-" + suffix
}

// sanitizeLabel maps a name onto superd's label alphabet.
func sanitizeLabel(name string) string {
	b := []byte(strings.ToLower(name))
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "-_")
	if len(s) > maxLabel {
		s = s[:maxLabel]
	}
	if s == "" {
		return "service"
	}
	return s
}
