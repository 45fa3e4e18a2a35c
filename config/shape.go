package config

import (
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
