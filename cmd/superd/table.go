package main

import (
	"strconv"
	"strings"
	"unicode"
)

// cell makes s safe for one cell of a table on a terminal: characters
// that are not printable (control characters, escapes) are written as Go
// escapes, so a name or argument cannot break a row or drive the terminal.
func cell(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// argvCell renders an argv for a table cell: words as they are, a word
// that is empty or holds spaces, quotes or unprintable characters quoted.
func argvCell(argv []string) string {
	words := make([]string, len(argv))
	for i, w := range argv {
		if w == "" || strings.IndexFunc(w, func(r rune) bool {
			return unicode.IsSpace(r) || r == '"' || r == '\'' || r == '\\' || !unicode.IsPrint(r)
		}) >= 0 {
			w = strconv.QuoteToGraphic(w)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}
