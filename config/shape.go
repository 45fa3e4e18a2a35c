package config

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Limits on the shape of a configuration file, checked on its tokens
// before it is parsed. superd's configuration holds constants; HCL can
// say more, and some of it costs without bound: the parser recurses once
// per level of nesting or operator (a 200 KB file of parentheses overflows
// the stack and would kill a running superd on reload), for expressions
// multiply (three nested ones over 3000-element lists ask for 27 billion
// values), and a heredoc takes time quadratic in its lines.
const (
	maxNesting      = 32   // brackets, braces, parentheses, quotes, interpolations
	maxOperators    = 256  // arithmetic, logic and comparison operators in a file
	maxHeredocLines = 1024 // lines of one heredoc
)

// checkShape lexes src and reports, with positions, what a file of
// constants never needs and parsing could not afford: nesting deeper than
// maxNesting, more than maxOperators operators, heredocs longer than
// maxHeredocLines, for expressions and template directives. Lexing takes
// time linear in the file's size.
func checkShape(src []byte, filename string) hcl.Diagnostics {
	if plainShape(src) {
		return nil
	}
	return lexShape(src, filename)
}

// lexShape is checkShape on the tokens of src.
func lexShape(src []byte, filename string) hcl.Diagnostics {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	var diags hcl.Diagnostics
	errorf := func(rng hcl.Range, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf(format, args...), Subject: rng.Ptr()})
	}
	depth, operators, heredoc, heredocLines := 0, 0, 0, 0
	prevOpen := false // the last token that was not a newline opened a [ or {
	for i, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			if depth++; depth > maxNesting {
				errorf(t.Range, "nested more than %d deep", maxNesting)
				return diags
			}
			if t.Type == hclsyntax.TokenOHeredoc {
				heredoc, heredocLines = depth, 0
			}
			if t.Type == hclsyntax.TokenTemplateControl {
				errorf(t.Range, "template directives (%%{ ... }) are not allowed: a configuration holds constants (write %%%%{ for a literal %%{)")
				return diags
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if depth == heredoc {
				heredoc = 0
			}
			if depth > 0 {
				depth--
			}
		case hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			if operators++; operators > maxOperators {
				errorf(t.Range, "more than %d operators in one file: a configuration holds constants", maxOperators)
				return diags
			}
		case hclsyntax.TokenIdent:
			// [for x in ...] or {for k, v in ...}; not an attribute "for".
			if prevOpen && string(t.Bytes) == "for" && nextIs(toks[i+1:], hclsyntax.TokenIdent) {
				errorf(t.Range, "for expressions are not allowed: a configuration holds constants")
				return diags
			}
		}
		if heredoc > 0 && t.Type == hclsyntax.TokenStringLit {
			if heredocLines++; heredocLines > maxHeredocLines {
				errorf(t.Range, "heredoc longer than %d lines", maxHeredocLines)
				return diags
			}
		}
		if t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
			prevOpen = t.Type == hclsyntax.TokenOBrack || t.Type == hclsyntax.TokenOBrace
		}
	}
	return diags
}

// nextIs reports whether the first token of toks that is not a newline or
// a comment has type typ.
func nextIs(toks hclsyntax.Tokens, typ hclsyntax.TokenType) bool {
	for _, t := range toks {
		if t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
			return t.Type == typ
		}
	}
	return false
}

// plainShape reports whether src certainly keeps within the limits, from
// one pass over its bytes, so that checkShape need not lex it (lexing
// costs a fifth of a load). It is conservative: a file with an
// interpolation, a directive or a heredoc, the word "for" outside strings,
// or more operator characters or brackets than the limits allow is left to
// the lexer. Strings and comments are skipped as HCL reads them.
func plainShape(src []byte) bool {
	if bytes.Contains(src, []byte("${")) || bytes.Contains(src, []byte("%{")) || bytes.Contains(src, []byte("<<")) {
		return false
	}
	depth, operators := 0, 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			if depth+1 > maxNesting {
				return false
			}
			for i++; i < len(src) && src[i] != '"'; i++ { // newlines too, as the lexer
				if src[i] == '\\' {
					i++
				}
			}
		case '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case '/':
			switch {
			case i+1 < len(src) && src[i+1] == '/':
				for i < len(src) && src[i] != '\n' {
					i++
				}
			case i+1 < len(src) && src[i+1] == '*':
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					return false
				}
				i += 2 + end + 1
			default:
				operators++
			}
		case '(', '[', '{':
			if depth++; depth > maxNesting {
				return false
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		case '*', '+', '-', '%', '!', '<', '>', '?', '&', '|', '=':
			if c != '=' || (i+1 < len(src) && src[i+1] == '=') {
				operators++
			}
		case 'f':
			if bytes.HasPrefix(src[i:], []byte("for")) && (i == 0 || !identByte(src[i-1])) &&
				(i+3 == len(src) || !identByte(src[i+3])) {
				return false
			}
		}
		if operators > maxOperators {
			return false
		}
	}
	return true
}

func identByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
