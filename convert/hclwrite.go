package convert

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// body is an HCL block body under construction: comments first, then
// attributes in the order set, then nested blocks.
type body struct {
	comments []string
	attrs    []attr
	blocks   []*block
}

type attr struct {
	key  string
	expr string // HCL expression source
}

type block struct {
	typ    string
	labels []string
	before []string // comment lines written above the block
	body   body
}

// set sets key to the HCL expression expr, replacing an earlier value.
func (b *body) set(key, expr string) {
	for i := range b.attrs {
		if b.attrs[i].key == key {
			b.attrs[i].expr = expr
			return
		}
	}
	b.attrs = append(b.attrs, attr{key, expr})
}

func (b *body) get(key string) (string, bool) {
	for _, a := range b.attrs {
		if a.key == key {
			return a.expr, true
		}
	}
	return "", false
}

// sub returns the nested block typ, creating it.
func (b *body) sub(typ string) *body {
	for _, blk := range b.blocks {
		if blk.typ == typ {
			return &blk.body
		}
	}
	blk := &block{typ: typ}
	b.blocks = append(b.blocks, blk)
	return &blk.body
}

// note adds a comment line.
func (b *body) note(format string, args ...any) {
	b.comments = append(b.comments, fmt.Sprintf(format, args...))
}

func (b *body) empty() bool {
	if len(b.attrs) > 0 {
		return false
	}
	for _, blk := range b.blocks {
		if !blk.body.empty() {
			return false
		}
	}
	return true
}

// write appends the body at the given indentation depth.
func (b *body) write(w *bytes.Buffer, depth int) {
	ind := strings.Repeat("  ", depth)
	for _, c := range b.comments {
		writeComment(w, ind, c)
	}
	width := 0
	for _, a := range b.attrs {
		width = max(width, len(a.key))
	}
	for _, a := range b.attrs {
		fmt.Fprintf(w, "%s%-*s = %s\n", ind, width, a.key, a.expr)
	}
	for _, blk := range b.blocks {
		if blk.body.empty() && len(blk.body.comments) == 0 {
			continue
		}
		blk.write(w, depth)
	}
}

func (blk *block) write(w *bytes.Buffer, depth int) {
	ind := strings.Repeat("  ", depth)
	for _, c := range blk.before {
		writeComment(w, ind, c)
	}
	w.WriteString(ind + blk.typ)
	for _, l := range blk.labels {
		w.WriteString(" " + quote(l))
	}
	w.WriteString(" {\n")
	blk.body.write(w, depth+1)
	w.WriteString(ind + "}\n")
}

// writeComment writes one "# text" line; control characters become "?"
// so the comment cannot end early or hide anything.
func writeComment(w *bytes.Buffer, ind, text string) {
	w.WriteString(strings.TrimRight(ind+"# "+printable(text), " ") + "\n")
}

// printable makes text safe for one line of a comment or a terminal:
// invalid UTF-8 becomes U+FFFD, control characters and line separators
// "?" (input text cannot end a comment or send terminal escapes).
func printable(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, text)
}

// quote returns s as an HCL quoted string literal. Invalid UTF-8 becomes
// U+FFFD (callers that care check utf8.ValidString first); "${" and "%{"
// are escaped as "$${" and "%%{" so nothing is interpolated.
func quote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		next := byte(0)
		if i+n < len(s) {
			next = s[i+n]
		}
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && next == '{':
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}

// list returns an HCL list of quoted strings.
func list(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func itoa(n int) string { return strconv.Itoa(n) }

// setHandler writes a service's protocol, listen address and what runs:
// a builtin, or the mode, command and argv0 of a program.
func (b *body) setHandler(protocol, listen, builtin string, wait bool, command []string, argv0 string) {
	b.set("protocol", quote(protocol))
	b.set("listen", list([]string{listen}))
	if builtin != "" {
		b.set("builtin", quote(builtin))
		return
	}
	b.set("mode", quote(modeName(wait)))
	b.set("command", list(command))
	if argv0 != "" {
		b.set("argv0", quote(argv0))
	}
}
