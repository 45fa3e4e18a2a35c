package convert

import (
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The superd schema (SPEC §2) as far as convert emits it.
var (
	labelRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	timeRE    = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$`)
	rateRE    = regexp.MustCompile(`^[1-9][0-9]*/[sm]$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	umaskRE   = regexp.MustCompile(`^0[0-7]{3}$`)
	sizeRE    = regexp.MustCompile(`^[1-9][0-9]*(KiB|MiB|GiB)$`)
	secondsRE = regexp.MustCompile(`^[0-9]+s$`)
	serviceAt = []string{"protocol", "listen", "mode", "pass", "command", "argv0", "builtin", "user", "group",
		"groups", "workdir", "env", "pass_env", "umask", "nice", "stderr", "disabled"}
	blockAt = map[string][]string{
		"socket": {"backlog", "keepalive", "nodelay", "freebind", "mode", "owner", "group"},
		"access": {"allow", "deny", "times", "deny_message"},
		"limits": {"instances", "per_source", "source_prefix", "rate", "per_source_rate", "max_load",
			"timeout", "memory", "cpu", "files", "processes"},
	}
)

// checkHCL parses src as HCL and checks it against superd's schema:
// what `superd check` would verify short of users and programs existing.
func checkHCL(t testing.TB, src []byte) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "out.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("output does not parse: %v\n%s", diags, src)
	}
	labels := map[string]bool{}
	defaults := 0
	for _, blk := range f.Body.(*hclsyntax.Body).Blocks {
		switch blk.Type {
		case "defaults":
			defaults++
			if len(blk.Labels) != 0 {
				t.Errorf("defaults has labels %q", blk.Labels)
			}
			vals := checkBody(t, blk.Body, "defaults")
			for _, k := range []string{"protocol", "listen", "command", "builtin"} {
				if _, ok := vals[k]; ok {
					t.Errorf("defaults sets %s", k)
				}
			}
		case "service":
			if len(blk.Labels) != 1 || !labelRE.MatchString(blk.Labels[0]) {
				t.Errorf("service labels %q do not match %s", blk.Labels, labelRE)
				continue
			}
			name := blk.Labels[0]
			if labels[name] {
				t.Errorf("service %q appears twice", name)
			}
			labels[name] = true
			checkService(t, name, checkBody(t, blk.Body, "service "+name))
		default:
			t.Errorf("unexpected block %s", blk.Type)
		}
	}
	if defaults > 1 {
		t.Errorf("%d defaults blocks", defaults)
	}
}

// checkBody checks attribute and block names, evaluates every expression
// with no variables, and returns the values by name ("access.allow" for
// nested ones).
func checkBody(t testing.TB, b *hclsyntax.Body, where string) map[string]cty.Value {
	t.Helper()
	vals := map[string]cty.Value{}
	eval := func(prefix string, attrs hclsyntax.Attributes, allowed []string) {
		for name, a := range attrs {
			if !slices.Contains(allowed, name) {
				t.Errorf("%s: unknown attribute %s%s", where, prefix, name)
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Errorf("%s: %s%s: %v", where, prefix, name, diags)
				continue
			}
			vals[prefix+name] = v
		}
	}
	eval("", b.Attributes, serviceAt)
	seen := map[string]bool{}
	for _, sub := range b.Blocks {
		allowed, ok := blockAt[sub.Type]
		if !ok || len(sub.Labels) != 0 || seen[sub.Type] {
			t.Errorf("%s: unexpected block %s %q", where, sub.Type, sub.Labels)
			continue
		}
		seen[sub.Type] = true
		if len(sub.Body.Blocks) != 0 {
			t.Errorf("%s: nested block in %s", where, sub.Type)
		}
		eval(sub.Type+".", sub.Body.Attributes, allowed)
	}
	for name, v := range vals {
		checkValue(t, where, name, v)
	}
	return vals
}

func strs(v cty.Value) []string {
	var out []string
	if !v.Type().IsTupleType() && !v.Type().IsListType() {
		return nil
	}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// checkValue checks one attribute's type and format.
func checkValue(t testing.TB, where, name string, v cty.Value) {
	t.Helper()
	bad := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s = %#v: "+format, append([]any{where, name, v}, args...)...)
	}
	isString := v.Type() == cty.String
	switch name {
	case "protocol":
		if !isString || !slices.Contains([]string{"tcp", "udp", "unix"}, v.AsString()) {
			bad("not tcp, udp or unix")
		}
	case "mode":
		if !isString || (v.AsString() != "wait" && v.AsString() != "nowait") {
			bad("not wait or nowait")
		}
	case "builtin":
		if !isString || !slices.Contains([]string{"echo", "discard", "daytime", "time", "chargen"}, v.AsString()) {
			bad("not a builtin")
		}
	case "user", "group", "argv0", "access.deny_message":
		if !isString || v.AsString() == "" {
			bad("not a non-empty string")
		}
		if name == "access.deny_message" && len(v.AsString()) > 512 {
			bad("longer than 512 bytes")
		}
	case "umask":
		if !isString || !umaskRE.MatchString(v.AsString()) {
			bad("not an octal umask")
		}
	case "nice":
		if v.Type() != cty.Number {
			bad("not a number")
		} else if n, _ := v.AsBigFloat().Int64(); n < -20 || n > 19 {
			bad("out of -20..19")
		}
	case "groups", "disabled", "socket.keepalive", "socket.nodelay":
		if v.Type() != cty.Bool {
			bad("not a bool")
		}
	case "listen", "command", "pass_env", "access.allow", "access.deny", "access.times":
		if !v.Type().IsTupleType() {
			bad("not a list")
		}
		l := strs(v)
		if len(l) != v.LengthInt() {
			bad("holds a non-string")
		}
		for _, s := range l {
			switch name {
			case "listen":
				if !strings.HasPrefix(s, "/") {
					i := strings.LastIndexByte(s, ':')
					if i < 0 {
						bad("%q has no port", s)
					} else if h := s[:i]; h != "" {
						if strings.HasPrefix(h, "[") != strings.HasSuffix(h, "]") {
							bad("%q has unbalanced brackets", s)
						} else if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil {
							bad("%q: %v", s, err)
						}
					}
				}
			case "command":
				if len(l) > 0 && !path.IsAbs(l[0]) {
					bad("command[0] is not absolute")
				}
			case "pass_env":
				if !envNameRE.MatchString(s) {
					bad("%q is not a variable name", s)
				}
			case "access.allow", "access.deny":
				p, err := netip.ParsePrefix(s)
				if err != nil || p.Addr().Is4In6() || p != p.Masked() || p.Addr().Zone() != "" {
					bad("%q is not a masked, unmapped prefix (%v)", s, err)
				}
			case "access.times":
				if !timeRE.MatchString(s) || s[:5] == s[6:] {
					bad("%q is not HH:MM-HH:MM", s)
				}
			}
		}
	case "env":
		if !v.Type().IsObjectType() {
			bad("not an object")
			break
		}
		for k, e := range v.AsValueMap() {
			if !envNameRE.MatchString(k) || e.Type() != cty.String {
				bad("bad entry %q", k)
			}
		}
	case "limits.rate", "limits.per_source_rate":
		if !isString || !rateRE.MatchString(v.AsString()) {
			bad("not N/s or N/m")
		}
	case "limits.memory":
		if !isString || !sizeRE.MatchString(v.AsString()) {
			bad("not a size")
		}
	case "limits.cpu":
		if !isString || !secondsRE.MatchString(v.AsString()) {
			bad("not a duration")
		}
	case "limits.instances", "limits.per_source", "limits.files", "limits.max_load":
		if v.Type() != cty.Number || v.AsBigFloat().Sign() < 0 {
			bad("not a non-negative number")
		}
	default:
		bad("not checked by the test")
	}
}

// checkService checks the rules between a service's attributes.
func checkService(t testing.TB, name string, vals map[string]cty.Value) {
	t.Helper()
	for _, k := range []string{"protocol", "listen"} {
		if _, ok := vals[k]; !ok {
			t.Errorf("service %s: no %s", name, k)
		}
	}
	_, hasCmd := vals["command"]
	_, hasBuiltin := vals["builtin"]
	if hasCmd == hasBuiltin {
		t.Errorf("service %s: needs exactly one of command and builtin", name)
	}
	if hasBuiltin {
		for _, k := range []string{"command", "user", "group", "pass", "stderr", "workdir", "env", "pass_env",
			"umask", "nice", "limits.memory", "limits.cpu", "limits.files", "limits.processes"} {
			if _, ok := vals[k]; ok {
				t.Errorf("service %s: builtin with %s", name, k)
			}
		}
		if m, ok := vals["mode"]; ok && m.AsString() != "nowait" {
			t.Errorf("service %s: builtin in mode %s", name, m.AsString())
		}
	}
	if m, ok := vals["mode"]; ok && m.AsString() == "wait" && vals["protocol"].AsString() != "udp" {
		for _, k := range []string{"access.allow", "access.deny", "access.times", "access.deny_message",
			"limits.instances", "limits.per_source", "limits.rate", "limits.per_source_rate"} {
			if _, ok := vals[k]; ok {
				t.Errorf("service %s: wait-mode %s with %s", name, vals["protocol"].AsString(), k)
			}
		}
	}
}
