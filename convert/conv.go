package convert

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
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
	file string // where it was defined
	line int
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

// parseLoss records input left out before any service is made of it (a
// line that does not parse, a section not closed, an include that cannot
// be read): a "superd:" comment at the top of the output and a warning.
func (c *conv) parseLoss(file string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.items = append(c.items, item{comments: []string{fmt.Sprintf("superd: %s:%d: %s", file, line, msg)}})
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
	c.dropClashes()
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

// dropClashes leaves out each enabled service that listens where an
// earlier one does (a second inetd line for a port, a file given twice):
// superd refuses such a configuration, and inetd or xinetd could not bind
// the second socket either.
func (c *conv) dropClashes() {
	type at struct {
		proto, listen, where string
	}
	var kept []at
	for i, it := range c.items {
		s := it.svc
		if s == nil {
			continue
		}
		if v, _ := s.blk.body.get("disabled"); v == "true" {
			continue
		}
		pe, _ := s.blk.body.get("protocol")
		le, _ := s.blk.body.get("listen")
		proto, _ := strconv.Unquote(pe)
		listen, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(le, "["), "]"))
		where := fmt.Sprintf("%s:%d", s.file, s.line)
		clash := -1
		for k := range kept {
			if listenClash(kept[k].proto, kept[k].listen, proto, listen) {
				clash = k
				break
			}
		}
		if clash < 0 {
			kept = append(kept, at{proto, listen, where})
			continue
		}
		msg := fmt.Sprintf("service %s left out: it listens on %s %s, where the service at %s does", s.base, proto, listen, kept[clash].where)
		c.items[i] = item{comments: []string{fmt.Sprintf("superd: %s: %s", where, msg)}}
		c.warn(s.file, s.line, "%s", msg)
	}
}

// listenClash reports whether two listen addresses of the output overlap
// as superd sees it: the same unix path, or the same port where the hosts
// are equal, one is ":PORT" (every address), or one is the wildcard of
// the other's family.
func listenClash(p1, l1, p2, l2 string) bool {
	if p1 != p2 {
		return false
	}
	if p1 == "unix" {
		return l1 == l2
	}
	h1, port1, err1 := net.SplitHostPort(l1)
	h2, port2, err2 := net.SplitHostPort(l2)
	if err1 != nil || err2 != nil {
		return l1 == l2
	}
	if port1 != port2 {
		return false
	}
	if h1 == h2 || h1 == "" || h2 == "" {
		return true
	}
	is4 := func(h string) bool { return !strings.Contains(h, ":") }
	return (h1 == "0.0.0.0" || h1 == "::") && is4(h1) == is4(h2) ||
		(h2 == "0.0.0.0" || h2 == "::") && is4(h1) == is4(h2)
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
