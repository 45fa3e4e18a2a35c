package config

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestShapeLimits feeds files that HCL could parse only at a cost without
// bound (or not at all: the deep ones overflowed the stack and killed the
// process) and checks each is refused with a position, quickly.
func TestShapeLimits(t *testing.T) {
	deep := func(open, close string, n int) string {
		return svc("  nice = " + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + "\n")
	}
	ones := "[" + strings.Repeat("1,", 3000) + "1]"
	tests := []struct {
		name, src, want string
	}{
		{"parentheses", deep("(", ")", 100000), "a.hcl:4:41: nested more than 32 deep"},
		{"brackets", deep("[", "]", 100000), "nested more than 32 deep"},
		{"unclosed", svc("  nice = " + strings.Repeat("(", 100000) + "\n"), "nested more than 32 deep"},
		{"blocks", strings.Repeat("x {\n", 100000), "nested more than 32 deep"},
		{"interpolations", svc("  argv0 = " + strings.Repeat(`"${`, 1000) + "1" + strings.Repeat(`}"`, 1000) + "\n"), "nested more than 32 deep"},
		{"unary", svc("  nice = " + strings.Repeat("-", 100000) + "1\n"), "more than 256 operators"},
		{"binary", svc("  nice = 1" + strings.Repeat("+1", 100000) + "\n"), "more than 256 operators"},
		{"for bomb", svc("  argv0 = [for a in " + ones + ": [for b in " + ones + ": [for c in " + ones + ": c]]]\n"), "a.hcl:4:12: for expressions are not allowed"},
		{"object for", svc("  env = {for k in [\"A\"]: k => \"v\"}\n"), "for expressions are not allowed"},
		{"template directive", svc("  argv0 = \"%{ for x in [1] }x%{ endfor }\"\n"), "template directives"},
		{"heredoc", svc("  argv0 = <<EOT\n" + strings.Repeat("x\n", 200000) + "EOT\n"), "heredoc longer than 1024 lines"},
		{"unterminated heredoc", svc("  argv0 = <<EOT\n" + strings.Repeat("x\n", 200000)), "heredoc longer than 1024 lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := loadOne(t, tc.src, userOpts())
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				if len(got) > 3 {
					got = got[:3]
				}
				t.Errorf("diagnostics %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// TestShapeAllowsConstants checks the limits leave ordinary files alone:
// a negative number, nesting a file needs, a short heredoc, an attribute
// named for (an unknown attribute, not a for expression), "%%{" in a string.
func TestShapeAllowsConstants(t *testing.T) {
	mustLoad(t, svc("  nice = -5\n  env = { A = \"100%%{x}\" }\n  access {\n    deny_message = <<EOT\ngo away\nEOT\n  }\n  limits {\n    source_prefix = [24, 48]\n  }\n"), userOpts())
	_, got := loadOne(t, svc("  for = 1\n"), userOpts())
	if len(got) != 1 || !strings.Contains(got[0], `unknown attribute "for"`) {
		t.Errorf("diagnostics %q, want the unknown attribute", got)
	}
}

// TestLongMessageCut checks that a huge value quoted in an error does not
// make a huge message.
func TestLongMessageCut(t *testing.T) {
	_, got := loadOne(t, "service \""+strings.Repeat("X", 1<<20)+"\" {\n}\n", userOpts())
	if len(got) == 0 {
		t.Fatal("no error for an invalid service name")
	}
	for _, g := range got {
		if len(g) > 2*maxMessage || !strings.Contains(g, "bytes more)") {
			t.Errorf("message of %d bytes: %.200q", len(g), g)
		}
	}
}

// TestPlainShapeConservative checks the byte scan never passes what the
// lexer refuses, on random files built from the characters that matter.
func TestPlainShapeConservative(t *testing.T) {
	parts := []string{"(", ")", "[", "]", "{", "}", "\"", "\\", "#", "//", "/*", "*/", "\n", " ", "-", "+", "/", "*",
		"!", "==", "=", "<", ">", "&&", "||", "?", ":", "for", "x", "a = ", "1", "in", ",", "%", "$", "<<", "EOT"}
	r := rand.New(rand.NewPCG(3, 4))
	passed := 0
	for range 20000 {
		var b strings.Builder
		n := 1 + r.IntN(400)
		for range n {
			p := parts[r.IntN(len(parts))]
			if p == "(" || p == "[" || p == "{" {
				for range r.IntN(20) {
					b.WriteString(p) // deep runs
				}
			}
			b.WriteString(p)
		}
		src := []byte(b.String())
		if plainShape(src) {
			passed++
			if ds := lexShape(src, "x.hcl"); ds.HasErrors() {
				t.Fatalf("plainShape passed what the lexer refuses (%s):\n%q", ds[0].Summary, src)
			}
		}
	}
	if passed < 100 {
		t.Errorf("plainShape passed %d of 20000 random files: the test says little", passed)
	}
	t.Logf("plainShape passed %d of 20000 random files", passed)
}
